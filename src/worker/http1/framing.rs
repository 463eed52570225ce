//! Whether a request head can be trusted to frame what follows it: the
//! body's framing as the head declares it (one length, or chunked alone),
//! and the checks that refuse a request before any body byte is read
//! (ambiguous framing, missing or repeated Host, sizes over the limits).

use hyper::header::{CONTENT_LENGTH, EXPECT, HOST, HeaderName, TRANSFER_ENCODING};
use hyper::{Request, StatusCode, Version};

use super::request_body::Framing;
use crate::config::Limits;

/// What the head says about a body and expectations.
#[derive(Default)]
pub struct FrameHeaders {
    lengths: Vec<Option<u64>>,
    codings: Vec<Vec<u8>>,
    /// `Expect: 100-continue` was sent.
    pub expect_continue: bool,
    expect_other: bool,
}

impl FrameHeaders {
    /// Takes note of one header field of the head.
    pub fn note(&mut self, name: &HeaderName, value: &[u8]) {
        if name == CONTENT_LENGTH {
            let digits = !value.is_empty() && value.iter().all(u8::is_ascii_digit);
            let n = std::str::from_utf8(value).ok().and_then(|v| v.parse().ok());
            self.lengths.push(n.filter(|_| digits));
        } else if name == TRANSFER_ENCODING {
            for t in value.split(|&b| b == b',') {
                self.codings.push(t.trim_ascii().to_ascii_lowercase());
            }
        } else if name == EXPECT {
            if value.trim_ascii().eq_ignore_ascii_case(b"100-continue") {
                self.expect_continue = true;
            } else {
                self.expect_other = true;
            }
        }
    }

    /// The framing, and a refusal if the head cannot be trusted: both
    /// Content-Length and Transfer-Encoding (400, as nginx: a GET or HEAD
    /// to a static server has no reason to send both, and refusing leaves
    /// nothing for a proxy in front to disagree about), two lengths even if
    /// equal, a bad length, chunked on HTTP/1.0 (400), a coding other than
    /// `chunked` alone (501), an expectation other than 100-continue (417).
    pub fn decide(&self, version: Version) -> (Framing, Option<StatusCode>) {
        let bad = Some(StatusCode::BAD_REQUEST);
        if !self.codings.is_empty() {
            if !self.lengths.is_empty() || version == Version::HTTP_10 {
                return (Framing::None, bad);
            }
            if self.codings.len() != 1 || self.codings[0] != b"chunked" {
                // RFC 9112 §6.1 (and nginx): a coding we cannot decode.
                return (Framing::None, Some(StatusCode::NOT_IMPLEMENTED));
            }
            return (Framing::Chunked, self.expectation());
        }
        match self.lengths.as_slice() {
            [] => (Framing::None, self.expectation()),
            [Some(0)] => (Framing::None, self.expectation()),
            [Some(n)] => (Framing::Length(*n), self.expectation()),
            _ => (Framing::None, bad),
        }
    }

    fn expectation(&self) -> Option<StatusCode> {
        self.expect_other.then_some(StatusCode::EXPECTATION_FAILED)
    }
}

/// What is wrong with a request's framing or size, if anything: both
/// Content-Length and Transfer-Encoding, several Host headers or none on
/// HTTP/1.1 (400, as they can desynchronise a proxy in front of us); a request line or header
/// line over `large_client_header_buffers` (414 / 431); a declared body over
/// `client_max_body_size` (413).
pub fn framing_problem<B>(req: &Request<B>, limits: &Limits) -> Option<StatusCode> {
    let h = req.headers();
    if h.contains_key(TRANSFER_ENCODING) && h.contains_key(CONTENT_LENGTH) {
        return Some(StatusCode::BAD_REQUEST);
    }
    if h.get_all(HOST).iter().count() > 1 {
        return Some(StatusCode::BAD_REQUEST);
    }
    // HTTP/1.1 without Host (RFC 9112 §3.2, even with an absolute-form
    // target): refused at once, before any body it declares.
    if req.version() == Version::HTTP_11 && !h.contains_key(HOST) {
        return Some(StatusCode::BAD_REQUEST);
    }
    // Without rendering the target: this runs on every request.
    let uri = req.uri();
    let target = uri.path_and_query().map_or(1, |p| p.as_str().len())
        + uri.authority().map_or(0, |a| a.as_str().len() + 8);
    let line = req.method().as_str().len() + target + 11;
    if line > limits.large_header_size {
        return Some(StatusCode::URI_TOO_LONG);
    }
    if h.iter()
        .any(|(k, v)| k.as_str().len() + v.len() + 4 > limits.large_header_size)
    {
        return Some(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    }
    let declared = h
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| limits.body_too_large(n)) {
        return Some(StatusCode::PAYLOAD_TOO_LARGE);
    }
    None
}
