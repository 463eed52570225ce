//! Error responses: nginx-style default HTML pages, or the operator's page
//! from `error_page` (a file under the root, sent with the error status,
//! as nginx does without `=`).

use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use hyper::{Response, StatusCode};

use super::resolve::Target;
use super::{Body, location, mime, path};
use crate::config::Settings;
use crate::config::server::Server;

/// Largest custom error page read into memory; a bigger file is not an
/// error page anyone meant, and the default page is sent instead.
const MAX_ERROR_PAGE: u64 = 1024 * 1024;

/// nginx's status-line wording where it differs from the standard phrase,
/// checked at compile time.
fn nginx_reason_phrase(status: StatusCode) -> Option<hyper::ext::ReasonPhrase> {
    use hyper::ext::ReasonPhrase;
    const NOT_ALLOWED: ReasonPhrase = ReasonPhrase::from_static(b"Not Allowed");
    const TOO_LARGE: ReasonPhrase = ReasonPhrase::from_static(b"Request Entity Too Large");
    const URI_TOO_LARGE: ReasonPhrase = ReasonPhrase::from_static(b"Request-URI Too Large");
    const RANGE: ReasonPhrase = ReasonPhrase::from_static(b"Requested Range Not Satisfiable");
    match status.as_u16() {
        405 => Some(NOT_ALLOWED),
        413 => Some(TOO_LARGE),
        414 => Some(URI_TOO_LARGE),
        416 => Some(RANGE),
        _ => None,
    }
}

/// nginx's wording where it differs from the standard reason phrase.
pub fn reason(status: StatusCode) -> &'static str {
    match status.as_u16() {
        405 => "Not Allowed",
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Large",
        416 => "Requested Range Not Satisfiable",
        494 => "Request Header Too Large",
        _ => status.canonical_reason().unwrap_or(""),
    }
}

/// The default page for `status`; `server` is the footer (`moltd` or
/// `moltd/VERSION`).
pub fn default_page(status: StatusCode, server: &str) -> Response<Body> {
    let title = format!("{} {}", status.as_u16(), reason(status));
    let html = format!(
        "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n<hr><center>{server}</center>\r\n</body>\r\n</html>\r\n"
    );
    let mut r = Response::new(Body::empty());
    *r.status_mut() = status;
    if let Some(phrase) = nginx_reason_phrase(status) {
        r.extensions_mut().insert(phrase);
    }
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("text/html"));
    h.insert(CONTENT_LENGTH, HeaderValue::from(html.len()));
    *r.body_mut() = Body::from(html);
    r
}

/// The response for `status`: the `error_page` file configured for it in
/// `settings`, if it can be read, else the default page.
pub fn response(
    status: StatusCode,
    server: &Server,
    settings: &Settings,
    footer: &str,
) -> Response<Body> {
    if let Some(uri) = settings.error_page.get(&status.as_u16())
        && let Some(r) = custom(status, server, uri)
    {
        return r;
    }
    default_page(status, footer)
}

fn custom(status: StatusCode, server: &Server, uri: &str) -> Option<Response<Body>> {
    let rel = path::normalize(uri).ok()?;
    let page_settings = location::settings_for(server, &rel.uri_bytes());
    let target = Target::new(
        &page_settings.root,
        &rel.relative,
        page_settings.disable_symlinks,
    );
    // Metadata from the descriptor that is read, never from a second
    // lookup of the path.
    let mut f = target.open().ok()?;
    let meta = f.metadata().ok()?;
    if !meta.is_file() || meta.len() > MAX_ERROR_PAGE {
        return None;
    }
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut f, &mut bytes).ok()?;
    let mut r = Response::new(Body::empty());
    *r.status_mut() = status;
    if let Some(phrase) = nginx_reason_phrase(status) {
        r.extensions_mut().insert(phrase);
    }
    let h = r.headers_mut();
    let ctype = mime::content_type(target.path(), page_settings);
    h.insert(CONTENT_TYPE, HeaderValue::from_str(&ctype).ok()?);
    h.insert(CONTENT_LENGTH, HeaderValue::from(bytes.len()));
    *r.body_mut() = Body::bytes(bytes);
    Some(r)
}
