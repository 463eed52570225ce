use hyper::header::HeaderName;
use hyper::{Method, Version};

use super::*;

/// What `read` makes of `head`: `None` when the look leaves it alone.
fn read_head(head: &str) -> Option<(bool, bool, Option<String>, String)> {
    read_with(head, &Limits::default())
}

fn read_with(head: &str, limits: &Limits) -> Option<(bool, bool, Option<String>, String)> {
    let mut slots = [httparse::EMPTY_HEADER; 32];
    let mut req = httparse::Request::new(&mut slots);
    let len = match req.parse(head.as_bytes()) {
        Ok(httparse::Status::Complete(len)) => len,
        other => panic!("not a whole head ({other:?}): {head:?}"),
    };
    let method = Method::from_bytes(req.method.expect("method").as_bytes()).expect("method");
    let raw = Raw {
        method: &method,
        target: req.path.expect("target"),
        version: if req.version == Some(1) {
            Version::HTTP_11
        } else {
            Version::HTTP_10
        },
        headers: req.headers,
        len,
    };
    let (lines, path) = read(&raw, limits)?;
    let host = lines.host.map(|h| String::from_utf8_lossy(h).into_owned());
    Some((lines.conditional, lines.encoded, host, path.to_string()))
}

#[test]
fn a_plain_get_is_taken_with_its_path_and_host() {
    let r = read_head("GET /a/b.html?x=1&y=%20 HTTP/1.1\r\nHost: a.test\r\nUser-Agent: u\r\n\r\n");
    assert_eq!(
        r,
        Some((false, false, Some("a.test".into()), "/a/b.html".into()))
    );
    let r = read_head("HEAD / HTTP/1.0\r\nhOsT: h\r\nACCEPT-ENCODING: gzip\r\n\r\n");
    assert_eq!(r, Some((false, true, Some("h".into()), "/".into())));
}

#[test]
fn the_first_referer_and_user_agent_are_the_ones_logged() {
    let head = "GET / HTTP/1.1\r\nHost: h\r\nReferer: r1\r\nuser-agent: u1\r\n\
                REFERER: r2\r\nUser-Agent: u2\r\n\r\n";
    let mut slots = [httparse::EMPTY_HEADER; 8];
    let mut req = httparse::Request::new(&mut slots);
    let Ok(httparse::Status::Complete(len)) = req.parse(head.as_bytes()) else {
        panic!("not a whole head");
    };
    let raw = Raw {
        method: &Method::GET,
        target: "/",
        version: Version::HTTP_11,
        headers: req.headers,
        len,
    };
    let (lines, _) = read(&raw, &Limits::default()).expect("taken");
    assert_eq!(lines.referer, Some(&b"r1"[..]));
    assert_eq!(lines.user_agent, Some(&b"u1"[..]));
}

#[test]
fn preconditions_and_ranges_are_noted_in_any_case() {
    for h in [
        "If-Match: *",
        "if-none-match: \"x\"",
        "If-Modified-Since: x",
        "IF-UNMODIFIED-SINCE: x",
        "If-Range: x",
        "range: bytes=0-1",
    ] {
        let r = read_head(&format!("GET / HTTP/1.1\r\nHost: h\r\n{h}\r\n\r\n"));
        assert_eq!(r.map(|r| r.0), Some(true), "{h}");
    }
}

#[test]
fn heads_the_full_way_might_answer_otherwise_are_left_alone() {
    for head in [
        // Framing and expectations: the full way checks and reads them.
        "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\ntransfer-encoding: chunked\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n",
        // Host missing or repeated: 400 (or no Host on HTTP/1.0).
        "GET / HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.0\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",
        // Not origin form, or a byte `http` and we may read differently.
        "GET http://h/ HTTP/1.1\r\nHost: h\r\n\r\n",
        "GET * HTTP/1.1\r\nHost: h\r\n\r\n",
        "GET ?x HTTP/1.1\r\nHost: h\r\n\r\n",
        "GET /a#b HTTP/1.1\r\nHost: h\r\n\r\n",
        "GET /a\"b HTTP/1.1\r\nHost: h\r\n\r\n",
        "GET /{x} HTTP/1.1\r\nHost: h\r\n\r\n",
        "GET /a\\b HTTP/1.1\r\nHost: h\r\n\r\n",
    ] {
        assert_eq!(read_head(head), None, "{head:?}");
    }
}

#[test]
fn a_head_over_the_line_limit_is_left_to_the_full_way() {
    let limits = Limits {
        large_header_size: 64,
        ..Limits::default()
    };
    let head = format!("GET / HTTP/1.1\r\nHost: h\r\nX: {}\r\n\r\n", "v".repeat(40));
    assert!(read_with(&head, &Limits::default()).is_some());
    assert_eq!(read_with(&head, &limits), None);
}

/// With large_client_header_buffers up to 1m, a head may hold a target
/// longer than `http::Uri` takes (65534) or a header name longer than
/// `HeaderName` does (65535): the full way refuses those with 400.
#[test]
fn a_target_or_name_too_long_for_http_is_left_to_the_full_way() {
    let limits = Limits {
        large_header_size: 1 << 20,
        ..Limits::default()
    };
    let target = format!("/a?{}", "q".repeat(65535));
    assert!(target.parse::<Uri>().is_err());
    let head = format!("GET {target} HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(read_with(&head, &limits), None);
    let name = "x".repeat(65536);
    assert!(HeaderName::from_bytes(name.as_bytes()).is_err());
    let head = format!("GET / HTTP/1.1\r\nHost: h\r\n{name}: v\r\n\r\n");
    assert_eq!(read_with(&head, &limits), None);
    // Just short enough for both: taken.
    let head = format!("GET /a?{} HTTP/1.1\r\nHost: h\r\n\r\n", "q".repeat(60000));
    assert!(read_with(&head, &limits).is_some());
}

/// What the look takes, `http` takes too: a target byte it passes is one
/// `Uri` accepts in a path and in a query, a header-name byte one
/// `HeaderName` accepts.
#[test]
fn the_bytes_the_look_passes_are_ones_http_accepts() {
    for b in 0..=255u8 {
        if plain_target_byte(b) && b != b'?' && b != b'%' {
            let t = format!("/a{}b?q{}", b as char, b as char);
            let uri: Uri = t.parse().unwrap_or_else(|e| panic!("{b:#x}: {e}"));
            assert_eq!(uri.path(), format!("/a{}b", b as char), "{b:#x}");
        }
        if name_byte(b) {
            assert!(HeaderName::from_bytes(&[b'x', b]).is_ok(), "{b:#x}");
        }
    }
}
