//! A regular file: headers from its metadata, the body streamed from disk.

use std::fs::Metadata;
use std::io::ErrorKind;
use std::path::Path;
use std::time::UNIX_EPOCH;

use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, ETAG, HeaderValue, LAST_MODIFIED};
use hyper::{Response, StatusCode};

use super::{Body, error_page};

/// Maps a file-system error to the status an operator expects.
pub fn status_for(e: &std::io::Error) -> StatusCode {
    match e.kind() {
        ErrorKind::NotFound | ErrorKind::NotADirectory | ErrorKind::InvalidFilename => {
            StatusCode::NOT_FOUND
        }
        ErrorKind::PermissionDenied => StatusCode::FORBIDDEN,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// 200 with the file at `path`, or the error page for why it cannot be read.
pub fn respond(path: &Path, meta: &Metadata) -> Response<Body> {
    if !meta.is_file() {
        return error_page::response(StatusCode::NOT_FOUND);
    }
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => return error_page::response(status_for(&e)),
    };
    let len = meta.len();
    let mut r = Response::new(Body::file(file, len));
    let h = r.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static(super::mime::for_path(path)),
    );
    h.insert(CONTENT_LENGTH, HeaderValue::from(len));
    if let Ok(modified) = meta.modified() {
        if let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(modified)) {
            h.insert(LAST_MODIFIED, v);
        }
        let secs = modified
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        if let Ok(v) = HeaderValue::from_str(&format!("\"{secs:x}-{len:x}\"")) {
            h.insert(ETAG, v);
        }
    }
    r
}
