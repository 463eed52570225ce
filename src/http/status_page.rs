//! A `status = "stub"` or `"prometheus"` location's answer: the counters
//! of the whole server (every worker, across reloads and upgrades).

use hyper::header::{CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use hyper::{Response, StatusCode};

use super::Body;
use crate::config::StatusPage;
use crate::metrics;

/// The page, never cached by anyone.
pub fn answer(page: StatusPage, generation: u64) -> Response<Body> {
    let snap = metrics::snapshot();
    let (text, ctype) = match page {
        StatusPage::Stub => (metrics::stub_status(&snap), "text/plain"),
        StatusPage::Prometheus => (
            metrics::prometheus(&snap, crate::VERSION, generation),
            "text/plain; version=0.0.4; charset=utf-8",
        ),
    };
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::OK;
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(ctype));
    h.insert(CONTENT_LENGTH, HeaderValue::from(text.len()));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    *r.body_mut() = Body::from(text);
    r
}
