//! The status line and headers of a response, rendered once into one
//! buffer in the wire form clients expect (nginx's order and spelling),
//! so the head and a small body leave in one `writev`.

use std::ops::Range;

use hyper::header::{CONTENT_LENGTH, DATE, HeaderMap, SERVER};
use hyper::{Response, StatusCode, Version};

use super::keep_alive::{self, After};
use crate::http::Body;
use crate::log::time::PerSecond;

/// Renders the status line and headers of `resp` for a request of
/// `version`, in the wire form nginx gives them (the status line says
/// HTTP/1.1, the version we speak, to HTTP/1.0 peers too, as RFC 9110
/// §2.5 asks; `Connection` says what `after` decided; a `Date` is added),
/// with header names in their usual capitalisation (`ETag`).
/// Returns what the connection does after this response.
pub fn render_head(
    resp: &Response<Body>,
    version: Version,
    keep_alive: bool,
    dst: &mut Vec<u8>,
) -> After {
    render_dated(resp, version, keep_alive, dst).0
}

/// [`render_head`], also saying where in `dst` the `Date` line went (if
/// one was added): the rest of the head is the same every second, and may
/// be kept for replay.
pub fn render_dated(
    resp: &Response<Body>,
    version: Version,
    keep_alive: bool,
    dst: &mut Vec<u8>,
) -> (After, Option<Range<usize>>) {
    let h = resp.headers();
    let says_close = keep_alive::says_close(h);
    let after = keep_alive::after(keep_alive, says_close);
    let status = resp.status();
    dst.extend_from_slice(b"HTTP/1.1 ");
    dst.extend_from_slice(status.as_str().as_bytes());
    dst.push(b' ');
    match resp.extensions().get::<hyper::ext::ReasonPhrase>() {
        Some(reason) => dst.extend_from_slice(reason.as_bytes()),
        None => dst.extend_from_slice(status.canonical_reason().unwrap_or("<none>").as_bytes()),
    }
    dst.extend_from_slice(b"\r\n");
    // nginx's order: Server and Date first.
    if let Some(server) = h.get(SERVER) {
        dst.extend_from_slice(b"Server: ");
        dst.extend_from_slice(server.as_bytes());
        dst.extend_from_slice(b"\r\n");
    }
    let mut date = None;
    if !h.contains_key(DATE) {
        let at = dst.len();
        date_line(dst);
        date = Some(at..dst.len());
    }
    write_headers(h, dst);
    if !h.contains_key(CONTENT_LENGTH) && may_have_body(status) {
        dst.extend_from_slice(b"Content-Length: ");
        dst.extend_from_slice(resp.body().len().to_string().as_bytes());
        dst.extend_from_slice(b"\r\n");
    }
    match (after, version) {
        (After::KeepAlive, Version::HTTP_10) => {
            dst.extend_from_slice(b"Connection: keep-alive\r\n");
        }
        // Said to HTTP/1.0 peers too: the status line says 1.1.
        (After::Close, _) if !says_close => {
            dst.extend_from_slice(b"Connection: close\r\n");
        }
        _ => {}
    }
    dst.extend_from_slice(b"\r\n");
    (after, date)
}

/// Writes `head`, a head kept without its `Date` line, with the current
/// one put back at `date_at`.
pub fn splice_date(head: &[u8], date_at: usize, dst: &mut Vec<u8>) {
    let (before, after) = head.split_at(date_at.min(head.len()));
    dst.extend_from_slice(before);
    date_line(dst);
    dst.extend_from_slice(after);
}

fn date_line(dst: &mut Vec<u8>) {
    dst.extend_from_slice(b"Date: ");
    with_date(|d| dst.extend_from_slice(d));
    dst.extend_from_slice(b"\r\n");
}

fn may_have_body(status: StatusCode) -> bool {
    !(status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED)
}

fn write_headers(h: &HeaderMap, dst: &mut Vec<u8>) {
    for (name, value) in h {
        if name == SERVER {
            continue;
        }
        write_name(name.as_str(), dst);
        dst.extend_from_slice(b": ");
        dst.extend_from_slice(value.as_bytes());
        dst.extend_from_slice(b"\r\n");
    }
}

/// Writes a (lower-case) header name the way nginx and most servers spell
/// it: `ETag` and `WWW-Authenticate` as registered, others title-cased.
fn write_name(name: &str, dst: &mut Vec<u8>) {
    match name {
        "etag" => dst.extend_from_slice(b"ETag"),
        "www-authenticate" => dst.extend_from_slice(b"WWW-Authenticate"),
        _ => {
            let mut upper = true;
            for &b in name.as_bytes() {
                dst.push(if upper { b.to_ascii_uppercase() } else { b });
                upper = b == b'-';
            }
        }
    }
}

thread_local! {
    /// The `Date` value of the current second.
    static DATE_VALUE: PerSecond = const { PerSecond::new() };
}

fn with_date(f: impl FnOnce(&[u8])) {
    DATE_VALUE.with(|date| {
        let now = crate::clock::wall_at(crate::clock::recent());
        date.with(now, crate::http::date::http_date, |d| f(d.as_bytes()))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(resp: Response<Body>, version: Version, keep_alive: bool) -> (String, After) {
        let mut dst = Vec::new();
        let after = render_head(&resp, version, keep_alive, &mut dst);
        (String::from_utf8(dst).expect("ascii"), after)
    }

    #[test]
    fn names_are_capitalised_as_registered() {
        let resp = Response::builder()
            .header("etag", "\"1\"")
            .header("content-type", "text/plain")
            .header("x-a-b", "1")
            .header("content-length", "0")
            .body(Body::empty())
            .expect("response");
        let (h, after) = head(resp, Version::HTTP_11, true);
        assert!(h.starts_with("HTTP/1.1 200 OK\r\nDate: "), "{h}");
        assert!(h.ends_with(" GMT\r\nETag: \"1\"\r\nContent-Type: text/plain\r\nX-A-B: 1\r\nContent-Length: 0\r\n\r\n"), "{h}");
        assert_eq!(after, After::KeepAlive);
    }

    #[test]
    fn keep_alive_follows_the_version_and_the_response() {
        let ok = || {
            Response::builder()
                .header("content-length", "0")
                .body(Body::empty())
                .expect("response")
        };
        let (h, after) = head(ok(), Version::HTTP_10, true);
        assert!(h.starts_with("HTTP/1.1 200 OK\r\n") && h.contains("Connection: keep-alive\r\n"));
        assert_eq!(after, After::KeepAlive);
        let (h, after) = head(ok(), Version::HTTP_10, false);
        assert!(h.contains("Connection: close\r\n"), "{h}");
        assert_eq!(after, After::Close);
        let (h, after) = head(ok(), Version::HTTP_11, false);
        assert!(h.contains("Connection: close\r\n"), "{h}");
        assert_eq!(after, After::Close);
        let mut closing = ok();
        closing.headers_mut().insert(
            hyper::header::CONNECTION,
            hyper::header::HeaderValue::from_static("close"),
        );
        let (h, after) = head(closing, Version::HTTP_11, true);
        assert_eq!(h.matches("Connection: close").count(), 1, "{h}");
        assert_eq!(after, After::Close);
    }

    #[test]
    fn length_is_added_when_missing_but_not_to_304() {
        let resp = Response::builder()
            .body(Body::bytes("hello"))
            .expect("response");
        assert!(
            head(resp, Version::HTTP_11, true)
                .0
                .contains("Content-Length: 5\r\n")
        );
        let resp = Response::builder()
            .status(304)
            .body(Body::empty())
            .expect("response");
        assert!(
            !head(resp, Version::HTTP_11, true)
                .0
                .contains("Content-Length")
        );
    }

    #[test]
    fn a_head_kept_without_its_date_is_spliced_back_to_the_same_bytes() {
        let resp = Response::builder()
            .header("server", "moltd")
            .header("etag", "\"1\"")
            .header("content-length", "5")
            .body(Body::bytes("hello"))
            .expect("response");
        let mut full = Vec::new();
        let (after, date) = render_dated(&resp, Version::HTTP_10, true, &mut full);
        assert_eq!(after, After::KeepAlive);
        let date = date.expect("a date line");
        assert!(full[date.clone()].starts_with(b"Date: ") && full[..date.end].ends_with(b"\r\n"));
        let mut kept = full[..date.start].to_vec();
        kept.extend_from_slice(&full[date.end..]);
        let mut again = Vec::new();
        splice_date(&kept, date.start, &mut again);
        assert_eq!(again.len(), full.len());
        assert!(again[date.clone()].starts_with(b"Date: "));
        assert_eq!(again[..date.start], full[..date.start]);
        assert_eq!(again[date.end..], full[date.end..]);
    }

    #[test]
    fn reason_phrase_extension_wins() {
        let mut resp = Response::builder()
            .status(405)
            .body(Body::empty())
            .expect("response");
        resp.extensions_mut()
            .insert(hyper::ext::ReasonPhrase::from_static(b"Not Allowed"));
        assert!(
            head(resp, Version::HTTP_11, true)
                .0
                .starts_with("HTTP/1.1 405 Not Allowed\r\n")
        );
    }
}
