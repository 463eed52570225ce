//! Request -> response for static files. Never touches signals or
//! processes; every failure becomes a status code, never a panic.
//!
//! The pipeline, in order:
//! 1. method: GET and HEAD only (405 with `Allow` otherwise);
//! 2. path: decode and normalise once (`path.rs`), 400 if it is malformed;
//! 3. lookup under `root`: a directory without its slash is redirected, a
//!    directory is answered by its index (`index.rs`), a file by
//!    `static_file.rs`;
//! 4. errors: nginx-style HTML pages (`error_page.rs`).

pub mod body;
pub mod error_page;
pub mod index;
pub mod mime;
pub mod path;
pub mod static_file;

use hyper::header::{ALLOW, CONNECTION, HeaderValue, LOCATION, SERVER};
use hyper::{Method, Request, Response, StatusCode};

use crate::config::Server;
pub use body::Body;

/// The `Server` header value.
pub const SERVER_NAME: &str = "moltd";

/// Answers one request for `server`. `closing` says the connection will be
/// closed after this response (the worker is draining), so the response
/// carries `Connection: close`.
pub fn handle<B>(server: &Server, req: &Request<B>, closing: bool) -> Response<Body> {
    let mut resp = respond(server, req);
    let head = req.method() == Method::HEAD;
    if head {
        resp = resp.map(|_| Body::empty());
    }
    let h = resp.headers_mut();
    h.insert(SERVER, HeaderValue::from_static(SERVER_NAME));
    if closing {
        h.insert(CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}

fn respond<B>(server: &Server, req: &Request<B>) -> Response<Body> {
    let method = req.method();
    if method != Method::GET && method != Method::HEAD {
        let mut r = error_page::response(StatusCode::METHOD_NOT_ALLOWED);
        r.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let uri_path = req.uri().path();
    let rel = match path::normalize(uri_path) {
        Ok(p) => p,
        Err(status) => return error_page::response(status),
    };
    let full = server.root.join(&rel.relative);
    let meta = match std::fs::metadata(&full) {
        Ok(m) => m,
        Err(e) => return error_page::response(static_file::status_for(&e)),
    };
    if meta.is_dir() {
        if !uri_path.ends_with('/') {
            let mut location = format!("{uri_path}/");
            if let Some(q) = req.uri().query() {
                location.push('?');
                location.push_str(q);
            }
            let mut r = error_page::response(StatusCode::MOVED_PERMANENTLY);
            if let Ok(v) = HeaderValue::from_str(&location) {
                r.headers_mut().insert(LOCATION, v);
            }
            return r;
        }
        return match index::find(&full, &server.index) {
            Some((file, meta)) => static_file::respond(&file, &meta),
            None => error_page::response(StatusCode::FORBIDDEN),
        };
    }
    if rel.trailing_slash {
        return error_page::response(StatusCode::NOT_FOUND);
    }
    static_file::respond(&full, &meta)
}
