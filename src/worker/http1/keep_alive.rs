//! Whether a connection stays open after a response: the client's wish
//! (HTTP/1.1 unless it says `close`, HTTP/1.0 only with `keep-alive`) and
//! the response's (`Connection: close` from the pipeline while draining,
//! or after an error that leaves the stream untrustworthy).

use hyper::Version;
use hyper::header::{CONNECTION, HeaderMap, HeaderValue};

/// How the connection goes on after a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    /// Read the next request.
    KeepAlive,
    /// Close once this response is out.
    Close,
}

/// Whether the client wants the connection kept open: HTTP/1.1 unless it
/// says `close`, HTTP/1.0 only if it says `keep-alive` (and not `close`).
pub fn keep_alive(version: Version, headers: &HeaderMap) -> bool {
    keep_alive_given(
        version,
        headers
            .get_all(CONNECTION)
            .iter()
            .map(HeaderValue::as_bytes),
    )
}

/// [`keep_alive`] from the values of the request's `Connection` headers.
pub fn keep_alive_given<'v>(version: Version, connection: impl Iterator<Item = &'v [u8]>) -> bool {
    let mut close = false;
    let mut keep = false;
    for v in connection {
        close |= lists(v, "close");
        keep |= lists(v, "keep-alive");
    }
    !close && (version == Version::HTTP_11 || keep)
}

/// True when response headers `h` already say `Connection: close`.
pub fn says_close(h: &HeaderMap) -> bool {
    h.get_all(CONNECTION).iter().any(|v| has_token(v, "close"))
}

/// What follows a response: the next request only if the client wants it
/// and the response does not say close.
pub fn after(client_keeps_alive: bool, response_says_close: bool) -> After {
    if client_keeps_alive && !response_says_close {
        After::KeepAlive
    } else {
        After::Close
    }
}

/// True if the comma-separated header value `v` lists `token`.
pub fn has_token(v: &HeaderValue, token: &str) -> bool {
    lists(v.as_bytes(), token)
}

fn lists(v: &[u8], token: &str) -> bool {
    v.split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_matched_whole_and_without_case() {
        assert!(has_token(
            &HeaderValue::from_static("Keep-Alive, Close"),
            "close"
        ));
        assert!(!has_token(&HeaderValue::from_static("closed"), "close"));
    }

    #[test]
    fn a_response_saying_close_wins_over_the_client() {
        assert_eq!(after(true, false), After::KeepAlive);
        assert_eq!(after(true, true), After::Close);
        assert_eq!(after(false, false), After::Close);
    }
}
