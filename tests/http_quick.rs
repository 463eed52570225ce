use std::io::{BufReader, Write};
use std::time::Duration;

use crate::support::{Server, free_port, http, wait_for};

const SMALL: &str = "small file\n";

/// One worker with a kept head for /small.txt (answered once in full,
/// then from the head), an access log, and `extra` top-level settings.
fn serve(extra: &str) -> (Server, u16) {
    let port = free_port();
    let mut s = Server::new();
    s.config(&format!(
        r#"worker_processes = 1
access_log_buffer = 0
{extra}

[[server]]
listen = ["127.0.0.1:{port}"]
server_name = ["a.test"]
root = "html"
access_log = "logs/access.log"

[[server.location]]
exact = "/metrics"
status = "prometheus"
"#
    ));
    std::fs::write(s.path("html/small.txt"), SMALL.repeat(20)).expect("small");
    s.start(port);
    // Settled (its body kept, so its head is replayed) after a second.
    std::thread::sleep(Duration::from_millis(2200));
    // Heads are kept per keep-alive: one closing, one staying open.
    let first = http::request_with(port, "GET", "/small.txt", &[("Host", "a.test")]);
    assert_eq!(first.expect("first").status, 200);
    let open = http::raw(port, b"GET /small.txt HTTP/1.1\r\nHost: a.test\r\n\r\n");
    assert_eq!(open.expect("open").status, 200);
    (s, port)
}

fn replays(port: u16) -> u64 {
    let r = http::get(port, "/metrics").expect("scrape");
    http::metric(&r.text(), "moltd_head_replays_total")
}

/// Heads the early look leaves alone get what the full way gives, even
/// with a head kept for the file they name.
#[test]
fn heads_the_early_look_leaves_get_the_full_answer() {
    let (_s, port) = serve("");
    let body = SMALL.repeat(20);
    let before = replays(port);
    let plain = http::raw(port, b"GET /small.txt HTTP/1.1\r\nHost: a.test\r\n\r\n").expect("plain");
    assert_eq!((plain.status, plain.text()), (200, body.clone()));
    assert_eq!(replays(port), before + 1, "the plain GET is replayed");
    for (raw, status) in [
        (
            "GET /small.txt HTTP/1.1\r\nHost: a.test\r\nHost: a.test\r\n\r\n",
            400,
        ),
        ("GET /small.txt HTTP/1.1\r\n\r\n", 400),
        (
            "GET /small.txt HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n",
            400,
        ),
        (
            "GET /small.txt HTTP/1.1\r\nHost: a.test\r\nExpect: the-moon\r\n\r\n",
            417,
        ),
        (
            "GET /small.txt HTTP/1.1\r\nHost: a.test\r\nX: \u{7f}\r\n\r\n",
            400,
        ),
        (
            "GET /small.txt HTTP/1.1\r\nHost: a.test\r\nIf-None-Match: *\r\n\r\n",
            304,
        ),
    ] {
        let r = http::raw(port, raw.as_bytes()).expect("answer");
        assert_eq!(r.status, status, "{raw:?}");
    }
    for raw in [
        "GET /small.txt HTTP/1.0\r\n\r\n",
        "GET http://a.test/small.txt HTTP/1.1\r\nHost: other\r\n\r\n",
        "GET /small.txt HTTP/1.1\r\nHost: a.test\r\nContent-Length: 0\r\n\r\n",
        "GET /small.txt?q=%22x%22 HTTP/1.1\r\nHost: a.test\r\n\r\n",
        "GET /./small.txt HTTP/1.1\r\nHost: a.test\r\n\r\n",
        "GET /%73mall.txt HTTP/1.1\r\nHost: a.test\r\n\r\n",
    ] {
        let r = http::raw(port, raw.as_bytes()).expect("answer");
        assert_eq!((r.status, r.text()), (200, body.clone()), "{raw:?}");
    }
    let long = format!(
        "GET /small.txt HTTP/1.1\r\nHost: a.test\r\nX: {}\r\n\r\n",
        "v".repeat(9000)
    );
    let r = http::raw(port, long.as_bytes()).expect("answer");
    assert_eq!(r.status, 431, "a line over large_client_header_buffers");
}

/// The last request `keepalive_requests` allows is told to close, whether
/// answered from a kept head or not.
#[test]
fn the_last_request_allowed_closes_when_replayed() {
    let (_s, port) = serve("keepalive_requests = 3");
    let before = replays(port);
    let mut conn = BufReader::new(http::connect(port).expect("connect"));
    for i in 1..=3 {
        let req = b"GET /small.txt HTTP/1.1\r\nHost: a.test\r\n\r\n";
        conn.get_mut().write_all(req).expect("send");
        let r = http::read_response(&mut conn, "GET").expect("answer");
        assert_eq!(r.status, 200);
        assert_eq!(r.closes(), i == 3, "request {i}");
    }
    assert_eq!(replays(port), before + 3);
    let mut rest = Vec::new();
    let n = std::io::Read::read_to_end(&mut conn, &mut rest).expect("closed");
    assert_eq!(n, 0, "closed after the third");
}

/// A replayed answer's access-log line is the full answer's: the target
/// with its query, the version, Referer and User-Agent.
#[test]
fn a_replayed_answer_is_logged_as_the_full_one() {
    let (s, port) = serve("");
    let req = b"GET /small.txt?x=1 HTTP/1.1\r\nHost: a.test\r\nReferer: http://r.test/p\r\nUser-Agent: agent/1 (x)\r\n\r\n";
    let before = replays(port);
    assert_eq!(http::raw(port, req).expect("replayed").status, 200);
    assert_eq!(replays(port), before + 1);
    // The same request answered in full (Content-Length: 0 keeps the
    // early look out, and changes nothing in the answer).
    let full = b"GET /small.txt?x=1 HTTP/1.1\r\nHost: a.test\r\nContent-Length: 0\r\nReferer: http://r.test/p\r\nUser-Agent: agent/1 (x)\r\n\r\n";
    assert_eq!(http::raw(port, full).expect("full").status, 200);
    // Two warm-up lines first, then these two.
    let lines = logged(&s, 4);
    let want = "\"GET /small.txt?x=1 HTTP/1.1\" 200 220 \"http://r.test/p\" \"agent/1 (x)\"";
    assert_eq!(lines[2..], [want, want]);
}

/// The access-log lines for `/small.txt`, without their time, once there
/// are `n` of them.
fn logged(s: &Server, n: usize) -> Vec<String> {
    wait_for("the access-log lines", || {
        let log = std::fs::read_to_string(s.path("logs/access.log")).ok()?;
        let lines: Vec<String> = log
            .lines()
            .filter(|l| l.contains("/small.txt"))
            .filter_map(|l| l.split_once("] ").map(|(_, rest)| rest.to_string()))
            .collect();
        (lines.len() >= n).then_some(lines)
    })
}

/// Two Referer or User-Agent lines: the log shows the first of each, as
/// the full way's `HeaderMap::get` does, also when the head is replayed.
#[test]
fn the_first_referer_and_user_agent_are_logged_when_replayed() {
    let (s, port) = serve("");
    let before = logged(&s, 2).len();
    let lines =
        "Referer: http://one/\r\nUser-Agent: one\r\nReferer: http://two/\r\nUser-Agent: two\r\n";
    let early = format!("GET /small.txt HTTP/1.1\r\nHost: a.test\r\n{lines}\r\n");
    let full =
        format!("GET /small.txt HTTP/1.1\r\nHost: a.test\r\nContent-Length: 0\r\n{lines}\r\n");
    let replayed = replays(port);
    assert_eq!(
        http::raw(port, early.as_bytes()).expect("early").status,
        200
    );
    assert_eq!(replays(port), replayed + 1, "answered from the kept head");
    assert_eq!(http::raw(port, full.as_bytes()).expect("full").status, 200);
    let log = logged(&s, before + 2);
    let want = "\"GET /small.txt HTTP/1.1\" 200 220 \"http://one/\" \"one\"";
    assert_eq!(log[before..], [want, want]);
}

/// With large_client_header_buffers raised to 1m, a target longer than
/// `http::Uri` takes, or a header name longer than `HeaderName` takes, is
/// refused by the full way (400, closed): a kept head must not answer it.
#[test]
fn heads_too_long_for_http_are_refused_even_with_a_kept_head() {
    let (_s, port) = serve("large_client_header_buffers = \"2 1m\"");
    let before = replays(port);
    let long_target = format!(
        "GET /small.txt?{} HTTP/1.1\r\nHost: a.test\r\n\r\n",
        "q".repeat(70_000)
    );
    let long_name = format!(
        "GET /small.txt HTTP/1.1\r\nHost: a.test\r\n{}: v\r\n\r\n",
        "x".repeat(65_536)
    );
    for head in [long_target, long_name] {
        let r = http::raw(port, head.as_bytes()).expect("answer");
        assert_eq!((r.status, r.closes()), (400, true), "{}", &head[..40]);
    }
    assert_eq!(replays(port), before, "nothing replayed");
    let plain = http::raw(port, b"GET /small.txt HTTP/1.1\r\nHost: a.test\r\n\r\n");
    assert_eq!(plain.expect("plain").status, 200);
    assert_eq!(replays(port), before + 1, "a plain GET still is");
}
