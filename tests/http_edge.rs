//! HTTP/1.1 edge cases found by third-party suites: huge range positions,
//! hosts after an IP literal, non-UTF-8 paths, what the access log says
//! for rejected and refererless requests.

use crate::support::{Server, free_port, http};

fn serve(server: &str, top: &str) -> (Server, u16) {
    let port = free_port();
    let mut s = Server::new();
    s.config(&format!(
        "{top}\nworker_processes = 1\naccess_log_buffer = \"0\"\n[[server]]\nlisten = [\"127.0.0.1:{port}\"]\n{server}\n"
    ));
    std::fs::write(s.path("html/f.bin"), vec![7u8; 1000]).expect("f.bin");
    s.start(port);
    (s, port)
}

#[test]
fn a_last_range_position_past_the_end_however_large_is_a_206_of_the_rest() {
    let (_s, port) = serve("", "");
    for range in [
        "bytes=0-99999999999999999999",
        "bytes=10-18446744073709551616",
    ] {
        let r = http::request_with(port, "GET", "/f.bin", &[("Range", range)]).expect("GET");
        assert_eq!(r.status, 206, "{range}");
        let start = if range.starts_with("bytes=10") { 10 } else { 0 };
        assert_eq!(
            r.header("content-range"),
            Some(format!("bytes {start}-999/1000").as_str())
        );
        assert_eq!(r.body.len(), 1000 - start);
    }
    let r = http::request_with(
        port,
        "GET",
        "/f.bin",
        &[("Range", "bytes=99999999999999999999-")],
    )
    .expect("GET");
    assert_eq!(r.status, 416);
}

#[test]
fn only_a_port_may_follow_an_ip_literal_host() {
    let (_s, port) = serve("", "");
    for host in ["[a]zzz/../..", "[::1]x", "[::1]:80x", "[zz]"] {
        let r = http::request_with(port, "GET", "/", &[("Host", host)]).expect("GET");
        assert_eq!(r.status, 400, "{host}");
    }
    let r = http::request_with(port, "GET", "/", &[("Host", "[::1]:80")]).expect("GET");
    assert_eq!(r.status, 200);
}

#[test]
fn a_non_utf8_directory_name_redirects_to_itself() {
    let (s, port) = serve("", "");
    use std::os::unix::ffi::OsStrExt;
    let name = std::ffi::OsStr::from_bytes(b"d\xff");
    std::fs::create_dir_all(s.path("html").join(name)).expect("dir");
    std::fs::write(s.path("html").join(name).join("index.html"), "ff").expect("index");
    let r = http::get(port, "/d%FF").expect("GET");
    assert_eq!(r.status, 301);
    let location = r.header("location").expect("location").to_string();
    assert!(location.ends_with("/d%FF/"), "{location}");
    let r = http::get(port, "/d%FF/").expect("GET");
    assert_eq!((r.status, r.text().as_str()), (200, "ff"));
}

#[test]
fn a_non_utf8_path_matches_its_location_byte_for_byte() {
    use std::os::unix::ffi::OsStrExt;
    let port = free_port();
    let mut s = Server::new();
    let name = std::ffi::OsStr::from_bytes(b"x\xfe");
    std::fs::create_dir_all(s.path("alt").join(name)).expect("dir");
    std::fs::write(s.path("alt").join(name).join("a.txt"), "alt").expect("file");
    s.config(&format!(
        "worker_processes = 1\n[[server]]\nlisten = [\"127.0.0.1:{port}\"]\n[[server.location]]\nprefix = \"/x\\u00fe/\"\nroot = \"html\"\n[[server.location]]\nprefix = \"/x\"\nroot = \"alt\"\n"
    ));
    s.start(port);
    // `\u{fe}` in the config is UTF-8 (C3 BE); the request's raw byte FE
    // is not, and must not match it as U+FFFD would.
    let r = http::get(port, "/x%FE/a.txt").expect("GET");
    assert_eq!((r.status, r.text().as_str()), (200, "alt"));
}

#[test]
fn rejected_input_is_logged_by_the_default_server_and_referers_as_nginx_does() {
    let port = free_port();
    let mut s = Server::new();
    std::fs::create_dir_all(s.path("html2")).expect("dir");
    s.config(&format!(
        "worker_processes = 1\naccess_log_buffer = \"0\"\n\
         [[server]]\nlisten = [\"127.0.0.1:{port}\"]\nserver_name = \"first\"\naccess_log = \"logs/first.log\"\n\
         [[server]]\nlisten = [\"127.0.0.1:{port}\"]\nserver_name = \"second\"\ndefault_server = true\nroot = \"html2\"\naccess_log = \"logs/default.log\"\n"
    ));
    std::fs::write(s.path("html2/index.html"), "default").expect("index");
    s.spawn(&[]);
    s.wait_master();
    crate::support::wait_for("the server to answer", || {
        http::get(port, "/").ok().filter(|r| r.status == 200)
    });
    // An HTTP/2 preface on this HTTP/1 port: never a request.
    let _ = http::raw(port, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    let lines = |f: &str| std::fs::read_to_string(s.path(f)).unwrap_or_default();
    crate::support::wait_for("the 400 in the default server's log", || {
        lines("logs/default.log")
            .contains("\"-\" 400")
            .then_some(())
    });
    assert!(
        !lines("logs/first.log").contains(" 400 "),
        "{}",
        lines("logs/first.log")
    );
    // Referer present but empty: ""; absent: "-".
    http::request_with(port, "GET", "/", &[("Host", "first"), ("Referer", "")]).expect("GET");
    http::request_with(port, "GET", "/?none", &[("Host", "first")]).expect("GET");
    crate::support::wait_for("both lines", || {
        let t = lines("logs/first.log");
        (t.contains("\"GET / HTTP/1.1\" 200 17 \"\" \"-\"")
            && t.contains("\"GET /?none HTTP/1.1\" 200 17 \"-\" \"-\""))
        .then_some(())
    });
}

/// Sends `raw` and returns everything the server sends until it closes.
fn raw_exchange(port: u16, raw: &[u8]) -> String {
    use std::io::{Read, Write};
    let mut c = http::connect(port).expect("connect");
    c.write_all(raw).expect("send");
    let mut all = Vec::new();
    c.read_to_end(&mut all).expect("read");
    String::from_utf8_lossy(&all).into_owned()
}

#[test]
fn a_target_with_unencoded_quotes_and_brackets_is_served() {
    // As nginx: curl sends `?q="x"` as typed, and a file may be named
    // with `<` and `>`.
    let (s, port) = serve("", "");
    std::fs::write(s.path("html/a<b>.txt"), "brackets\n").expect("file");
    for (target, body) in [
        ("/f.bin?q=\"x\"&r=<y>", None),
        ("/a<b>.txt", Some("brackets\n")),
        ("/a%3Cb%3E.txt?`x`", Some("brackets\n")),
    ] {
        let raw = format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let got = raw_exchange(port, raw.as_bytes());
        assert!(got.starts_with("HTTP/1.1 200 OK\r\n"), "{target}: {got}");
        if let Some(body) = body {
            assert!(got.ends_with(body), "{target}: {got}");
        }
    }
}

/// A request with a body first, so the connection has carried a body
/// before `then` (what used to hand it to another HTTP/1 implementation).
const WITH_BODY: &str = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello";

#[test]
fn a_request_line_over_the_limit_is_414_however_long() {
    let (_s, port) = serve("", "");
    for len in [9_000, 20_000, 40_000, 100_000] {
        let target = format!("/{}", "a".repeat(len));
        for prefix in ["", WITH_BODY] {
            let raw = format!("{prefix}GET {target} HTTP/1.1\r\nHost: x\r\n\r\n");
            let rs = http::exchange(port, raw.as_bytes());
            let last = rs.last().expect("an answer");
            assert_eq!(last.status, 414, "{len} after {prefix:?}");
            assert!(last.closes());
        }
    }
    // A head whose lines are each short but too many in sum: 431.
    let many: String = (0..40)
        .map(|i| format!("X-{i}: {}\r\n", "v".repeat(1000)))
        .collect();
    let rs = http::exchange(
        port,
        format!("GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n").as_bytes(),
    );
    assert_eq!(rs.last().expect("an answer").status, 431);
}

#[test]
fn every_response_has_one_style_whatever_came_before() {
    let (_s, port) = serve("", "");
    for prefix in ["", WITH_BODY] {
        let raw = format!("{prefix}GET /f.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let all = raw_exchange(port, raw.as_bytes());
        let at = all.rfind("HTTP/1.1 200 OK").expect("a 200");
        let head = &all[at..];
        assert!(head.contains("\r\nETag: "), "{prefix:?}: {head}");
        assert!(
            head.starts_with("HTTP/1.1 200 OK\r\nServer: moltd\r\nDate: "),
            "{head}"
        );
        // Malformed input: the same error page as every other error.
        let raw = format!("{prefix}GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n");
        let r = http::exchange(port, raw.as_bytes())
            .pop()
            .expect("an answer");
        assert_eq!(r.status, 400);
        assert_eq!(r.header("server"), Some("moltd"));
        assert!(r.header("date").is_some());
        assert!(
            r.text()
                .contains("<center><h1>400 Bad Request</h1></center>"),
            "{}",
            r.text()
        );
        assert!(r.closes());
    }
}

#[test]
fn higher_http1_minor_versions_are_served_and_http2_is_refused() {
    let (_s, port) = serve("", "");
    for prefix in ["", WITH_BODY] {
        let raw = format!("{prefix}GET /f.bin HTTP/1.2\r\nHost: x\r\nConnection: close\r\n\r\n");
        let r = http::exchange(port, raw.as_bytes())
            .pop()
            .expect("an answer");
        assert_eq!(r.status, 200, "{prefix:?}");
        assert_eq!(r.body.len(), 1000);
    }
    let r = http::exchange(port, b"GET / HTTP/2.0\r\nHost: x\r\n\r\n")
        .pop()
        .expect("an answer");
    assert_eq!(r.status, 505);
    let r = http::exchange(port, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .pop()
        .expect("an answer");
    assert_eq!(r.status, 400);
}

#[test]
fn requests_known_to_be_wrong_are_answered_before_their_body_and_closed() {
    let (_s, port) = serve("", "");
    for head in [
        // Both framings: refused, as nginx does.
        "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\nTransfer-Encoding: chunked\r\n\r\n",
        // Two lengths, even equal.
        "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\nContent-Length: 100000\r\n\r\n",
        // No Host on HTTP/1.1.
        "POST / HTTP/1.1\r\nContent-Length: 100000\r\n\r\n",
    ] {
        for prefix in ["", WITH_BODY] {
            // Only the head is sent: the answer must not wait for the body.
            let rs = http::exchange(port, format!("{prefix}{head}").as_bytes());
            let r = rs.last().expect("answered before the body");
            assert_eq!(r.status, 400, "{head:?} after {prefix:?}");
            assert!(r.closes());
        }
    }
    // A body over client_max_body_size: 413 at once, too.
    let r = http::exchange(
        port,
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n",
    )
    .pop()
    .expect("answered");
    assert_eq!(r.status, 413);
}

#[test]
fn bodies_are_consumed_exactly_and_pipelining_goes_on() {
    let (_s, port) = serve("", "");
    let raw = "GET /f.bin HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc\
               POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n\
               HEAD /f.bin HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi\
               GET /f.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let text = raw_exchange(port, raw.as_bytes());
    let statuses: Vec<&str> = text
        .match_indices("HTTP/1.1 ")
        .map(|(i, _)| &text[i + 9..i + 12])
        .collect();
    assert_eq!(statuses, ["200", "405", "200", "200"], "{statuses:?}");
}

#[test]
fn framing_answers_follow_rfc_9112_and_nginx() {
    let (_s, port) = serve("", "");
    let status = |raw: &str| http::exchange(port, raw.as_bytes()).pop().map(|r| r.status);
    // A coding we cannot decode: 501, as nginx.
    assert_eq!(
        status("GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n"),
        Some(501)
    );
    // Absolute form does not excuse a missing Host on HTTP/1.1.
    assert_eq!(status("GET http://x/ HTTP/1.1\r\n\r\n"), Some(400));
    assert_eq!(status("GET http://x/ HTTP/1.0\r\n\r\n"), Some(200));
    // A method refused anyway is not invited to upload: 405 at once.
    let r = http::exchange(
        port,
        b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 100000\r\n\r\n",
    )
    .pop()
    .expect("405 before the body");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, HEAD"));
    // Bare LF in a chunk line: refused.
    assert_eq!(
        status(
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n"
        ),
        Some(400)
    );
}

#[test]
fn a_stalled_body_is_cut_after_client_header_timeout() {
    let (_s, port) = serve(
        "",
        "client_header_timeout = \"1s\"\nkeepalive_timeout = \"60s\"",
    );
    use std::io::{Read, Write};
    let mut c = http::connect(port).expect("connect");
    c.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
        .expect("send");
    let t = std::time::Instant::now();
    let mut buf = [0u8; 64];
    let n = c.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "closed without an answer");
    assert!(
        t.elapsed() < std::time::Duration::from_secs(15),
        "{:?}",
        t.elapsed()
    );
}

#[test]
fn client_max_body_size_zero_means_no_limit() {
    let (_s, port) = serve("", "client_max_body_size = \"0\"");
    let body = "x".repeat(3 << 20);
    let raw = format!(
        "GET /f.bin HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}GET /f.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let text = raw_exchange(port, raw.as_bytes());
    assert_eq!(
        text.matches("HTTP/1.1 200 OK").count(),
        2,
        "{}",
        &text[..200.min(text.len())]
    );
}
