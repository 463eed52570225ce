//! An error status that still carries headers for its error page (416's
//! `Content-Range`): what every step of the pipeline returns to refuse.

use hyper::StatusCode;
use hyper::header::HeaderMap;

/// An error status, with headers the error page must carry (416's
/// `Content-Range`).
#[derive(Debug)]
pub struct Refusal {
    /// The status.
    pub status: StatusCode,
    /// Headers to add to the error page.
    pub headers: HeaderMap,
}

impl From<StatusCode> for Refusal {
    fn from(status: StatusCode) -> Self {
        Refusal {
            status,
            headers: HeaderMap::new(),
        }
    }
}
