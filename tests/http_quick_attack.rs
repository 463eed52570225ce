//! Inputs where the early look once answered otherwise than the full way:
//! each request is sent once as the look takes it and once with
//! `Content-Length: 0` (which keeps the look out and changes nothing in
//! the answer), and both must get the same answer and log line.

use std::time::Duration;

use crate::support::{Server, free_port, http, wait_for};

/// One worker with a kept head for /small.txt, an access log, and
/// `extra` top-level settings.
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
    std::fs::write(s.path("html/small.txt"), "small file\n".repeat(20)).expect("small");
    s.start(port);
    // Settled (its body kept, so its head is replayed) after a second.
    std::thread::sleep(Duration::from_millis(2200));
    for _ in 0..2 {
        let r = http::raw(port, b"GET /small.txt HTTP/1.1\r\nHost: a.test\r\n\r\n");
        assert_eq!(r.expect("warm").status, 200);
    }
    (s, port)
}

fn replays(port: u16) -> u64 {
    let r = http::get(port, "/metrics").expect("scrape");
    http::metric(&r.text(), "moltd_head_replays_total")
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
