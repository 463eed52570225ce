use super::*;

fn parsed(raw: &str) -> Parsed {
    parse(&mut BytesMut::from(raw.as_bytes()))
}

fn head(raw: &str) -> Head {
    head_and_rest(raw).0
}

fn head_and_rest(raw: &str) -> (Head, BytesMut) {
    let mut buf = BytesMut::from(raw.as_bytes());
    match parse(&mut buf) {
        Parsed::Request(p, ()) => (p, buf),
        Parsed::Answered(()) => unreachable!("parse answers nothing early"),
        Parsed::Partial => panic!("partial: {raw:?}"),
        Parsed::Bad(s) => panic!("bad ({s}): {raw:?}"),
    }
}

fn bad(raw: &str) -> StatusCode {
    match parsed(raw) {
        Parsed::Bad(s) => s,
        Parsed::Request(p, ()) => p.refuse.unwrap_or_else(|| panic!("accepted: {raw:?}")),
        Parsed::Answered(()) => unreachable!("parse answers nothing early"),
        Parsed::Partial => panic!("partial: {raw:?}"),
    }
}

#[test]
fn a_get_is_parsed_and_its_length_excludes_what_follows() {
    let raw = "GET /a%20b?x=1 HTTP/1.1\r\nHost: h\r\nX-Y: 1\r\n\r\nGET / HTTP/1.1\r\n";
    let (p, rest) = head_and_rest(raw);
    assert_eq!(&rest[..], b"GET / HTTP/1.1\r\n");
    assert_eq!(p.req.method(), Method::GET);
    assert_eq!(p.req.uri().path(), "/a%20b");
    assert_eq!(p.req.uri().query(), Some("x=1"));
    assert_eq!(p.req.headers()["host"], "h");
    assert_eq!(p.req.headers()["x-y"], "1");
    assert!(p.keep_alive);
    assert_eq!(p.framing, Framing::None);
    assert_eq!(p.refuse, None);
}

#[test]
fn framing_is_decided_from_the_head() {
    let p = head("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 12\r\n\r\n");
    assert_eq!(
        (p.req.method(), p.framing),
        (&Method::POST, Framing::Length(12))
    );
    let p = head("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(p.framing, Framing::None);
    let p = head("GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n");
    assert_eq!(p.framing, Framing::Chunked);
    let p = head("GET / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n");
    assert!(p.expect_continue);
    // Upgrade is ignored: the request is served as HTTP/1.1.
    let p = head("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: h2c\r\n\r\n");
    assert_eq!(p.refuse, None);
}

#[test]
fn untrustworthy_framing_is_refused_before_any_body() {
    for raw in [
        "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 3\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: +3\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999\r\n\r\n",
        "GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
    ] {
        assert_eq!(bad(raw), StatusCode::BAD_REQUEST, "{raw:?}");
    }
    for raw in [
        "GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity\r\n\r\n",
    ] {
        assert_eq!(bad(raw), StatusCode::NOT_IMPLEMENTED, "{raw:?}");
    }
    assert_eq!(
        bad("POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 9\r\n\r\n"),
        StatusCode::METHOD_NOT_ALLOWED
    );
    assert_eq!(
        bad("GET / HTTP/1.1\r\nHost: h\r\nExpect: the-moon\r\n\r\n"),
        StatusCode::EXPECTATION_FAILED
    );
}

#[test]
fn what_is_not_a_request_gets_a_status() {
    for raw in [
        "GET / HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n",
        "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        "\x16\x03\x01\x02\x00\x01\x00\x01\x03\x03",
        "GET / HTTP/1.1\r\nBad Name: h\r\n\r\n",
    ] {
        assert_eq!(bad(raw), StatusCode::BAD_REQUEST, "{raw:?}");
    }
    assert_eq!(
        bad("GET / HTTP/2.0\r\n\r\n"),
        StatusCode::HTTP_VERSION_NOT_SUPPORTED
    );
}

#[test]
fn a_head_of_many_short_lines_is_a_request() {
    // Only a head's size is limited (by the connection), as with nginx.
    for n in [MAX_HEADERS + 1, MOST_HEADERS - 1] {
        let many: String = (0..n).map(|i| format!("X-{i}: {i}\r\n")).collect();
        let raw = format!("GET / HTTP/1.1\r\nHost: h\r\n{many}\r\n");
        let (h, rest) = head_and_rest(&format!("{raw}GET /next"));
        assert_eq!(h.req.headers().len(), n + 1);
        assert_eq!(h.req.headers()["x-77"], "77");
        assert_eq!(&rest[..], b"GET /next");
        let cut = &raw[..raw.len() - 3];
        assert!(matches!(parsed(cut), Parsed::Partial), "{n} lines, cut");
    }
}

#[test]
fn a_head_sent_a_byte_at_a_time_is_scanned_once() {
    let raw = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n";
    let mut scanned = 0;
    let mut seen = 0;
    for n in 1..=raw.len() {
        if head_may_be_complete(&raw[..n], &mut scanned) {
            seen += 1;
        }
        assert_eq!(scanned, n);
    }
    assert_eq!(seen, 1, "only the last byte completes it");
    assert!(head_may_be_complete(b"GET / HTTP/1.0\n\n", &mut 0));
}

#[test]
fn a_higher_http1_minor_version_is_served_as_1_1() {
    let p = head("\r\nGET / HTTP/1.3\r\nHost: h\r\n\r\n");
    assert_eq!(p.req.version(), Version::HTTP_11);
    let p = head("GET / HTTP/1.2\r\nHost: h\r\n\r\n");
    assert_eq!(p.req.version(), Version::HTTP_11);
    let p = head("GET / HTTP/1.9\nHost: h\n\n");
    assert_eq!(p.req.version(), Version::HTTP_11);
}

#[test]
fn an_unfinished_head_waits_for_more() {
    assert!(matches!(
        parsed("GET / HTTP/1.1\r\nHost: h\r\n"),
        Parsed::Partial
    ));
    assert!(matches!(parsed("GE"), Parsed::Partial));
}

#[test]
fn keep_alive_follows_version_and_connection() {
    assert!(!head("GET / HTTP/1.1\r\nConnection: close\r\n\r\n").keep_alive);
    assert!(!head("GET / HTTP/1.1\r\nConnection: keep-alive, close\r\n\r\n").keep_alive);
    assert!(!head("GET / HTTP/1.0\r\n\r\n").keep_alive);
    let p = head("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
    assert!(p.keep_alive);
    assert_eq!(p.req.version(), Version::HTTP_10);
}

#[test]
fn a_target_with_bytes_http_refuses_is_taken_encoded() {
    for (raw, want) in [
        ("/a.txt?q=\"x\"", "/a.txt?q=%22x%22"),
        ("/a<b>.txt", "/a%3Cb%3E.txt"),
        ("/a`b{c}.txt?d`", "/a%60b%7Bc%7D.txt?d%60"),
    ] {
        let (h, _) = head_and_rest(&format!("GET {raw} HTTP/1.1\r\nHost: h\r\n\r\n"));
        let uri = h.req.uri();
        let got = format!(
            "{}{}",
            uri.path(),
            uri.query().map(|q| format!("?{q}")).unwrap_or_default()
        );
        assert!(got == want || got == raw, "{raw}: {got}");
    }
}

#[test]
fn more_header_lines_than_most_is_a_431_not_a_panic() {
    for n in [MOST_HEADERS, 40_000] {
        let many: String = (0..n).map(|_| "a:\n").collect();
        let raw = format!("GET / HTTP/1.1\r\nHost: h\r\n{many}\r\n");
        assert_eq!(
            bad(&raw),
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "{n}"
        );
    }
}
