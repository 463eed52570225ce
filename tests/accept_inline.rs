//! Connections answered where they are accepted: listeners defer the
//! accept until a client's first bytes, and a request already there is
//! read, answered and closed before the connection ever waits. These
//! check that nothing is lost either way: a client that speaks late, a
//! response too big to write at once, and keep-alive after the first
//! answer.

use std::io::{BufReader, Read, Write};
use std::time::Duration;

use crate::support::{Server, free_port, http, wait_for};

fn serve(big: usize) -> (Server, u16) {
    let port = free_port();
    let mut s = Server::new();
    s.config(&format!(
        "worker_processes = 1\n[[server]]\nlisten = [\"127.0.0.1:{port}\"]\naccess_log = \"logs/access.log\"\n"
    ));
    std::fs::write(s.path("html/small.txt"), b"small\n").expect("small.txt");
    let bytes: Vec<u8> = (0..big).map(|i| (i % 251) as u8).collect();
    std::fs::write(s.path("html/big.bin"), bytes).expect("big.bin");
    s.start(port);
    (s, port)
}

#[test]
fn a_client_that_speaks_late_is_accepted_and_served() {
    let (_s, port) = serve(1);
    let mut c = http::connect(port).expect("connect");
    // Longer than the deferral: the kernel hands the silent connection
    // over on its own, and the worker then waits for the head.
    std::thread::sleep(Duration::from_millis(1500));
    c.write_all(b"GET /small.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("send");
    let mut all = Vec::new();
    c.read_to_end(&mut all).expect("answer, then close");
    let text = String::from_utf8_lossy(&all);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.ends_with("\r\n\r\nsmall\n"), "{text}");
}

#[test]
fn short_connections_are_answered_whole_and_closed() {
    let (s, port) = serve(1);
    for i in 0..200 {
        let mut c = http::connect(port).expect("connect");
        c.write_all(b"GET /small.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .expect("send");
        let mut all = Vec::new();
        c.read_to_end(&mut all).expect("answer, then close");
        let text = String::from_utf8_lossy(&all);
        assert!(
            text.starts_with("HTTP/1.1 200 OK\r\n"),
            "connection {i}: {text}"
        );
        assert!(
            text.contains("\r\nConnection: close\r\n"),
            "connection {i}: {text}"
        );
        assert!(text.ends_with("\r\n\r\nsmall\n"), "connection {i}: {text}");
    }
    // Each one is logged once, as any other request.
    let lines = wait_for("200 access-log lines", || {
        let log = std::fs::read_to_string(s.path("logs/access.log")).unwrap_or_default();
        let n = log.lines().filter(|l| l.contains("GET /small.txt")).count();
        (n >= 200).then_some(n)
    });
    assert_eq!(lines, 200);
}

#[test]
fn a_response_too_big_to_write_at_once_still_arrives_whole() {
    let size = 8 * 1024 * 1024 + 3;
    let (_s, port) = serve(size);
    // The request is there at accept; the body fills the socket's buffer
    // while the client is slow to read, so the answer has to wait.
    let mut c = http::connect_small_window(port).expect("connect");
    c.write_all(b"GET /big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("send");
    std::thread::sleep(Duration::from_millis(300));
    let mut r = BufReader::new(c);
    let resp = http::read_response(&mut r, "GET").expect("response");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body.len(), size);
    assert!(
        resp.body
            .iter()
            .enumerate()
            .all(|(i, &b)| b == (i % 251) as u8)
    );
}

#[test]
fn keep_alive_goes_on_after_the_first_answer() {
    let (_s, port) = serve(1);
    let mut c = http::connect(port).expect("connect");
    // Two requests with the connection: both answered at once.
    c.write_all(
        b"GET /small.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /nothing HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .expect("send");
    let mut r = BufReader::new(c.try_clone().expect("clone"));
    let first = http::read_response(&mut r, "GET").expect("first");
    assert_eq!((first.status, first.text().as_str()), (200, "small\n"));
    let second = http::read_response(&mut r, "GET").expect("second");
    assert_eq!(second.status, 404);
    assert!(!second.closes());
    // The next one only after a pause: by then the connection waits like
    // any other.
    std::thread::sleep(Duration::from_millis(200));
    c.write_all(b"GET /small.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("send third");
    let third = http::read_response(&mut r, "GET").expect("third");
    assert_eq!((third.status, third.text().as_str()), (200, "small\n"));
    assert!(third.closes());
    let mut rest = Vec::new();
    r.read_to_end(&mut rest).expect("closed");
    assert!(rest.is_empty());
}

/// A client that connects and says nothing, then another that asks at
/// once, with one `worker_connections` slot: whether the second is
/// answered while the first stays silent.
fn second_served_beside_a_silent_first(deferred: &str, wait: Duration) -> bool {
    let port = free_port();
    let mut s = Server::new();
    s.config(&format!(
        "worker_processes = 1\nworker_connections = 1\n{deferred}\n[[server]]\nlisten = [\"127.0.0.1:{port}\"]\n"
    ));
    std::fs::write(s.path("html/small.txt"), b"small\n").expect("small.txt");
    s.start(port);
    let silent = http::connect(port).expect("silent");
    std::thread::sleep(Duration::from_millis(100));
    let mut asking = http::connect(port).expect("asking");
    asking
        .write_all(b"GET /small.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("send");
    asking.set_read_timeout(Some(wait)).expect("timeout");
    let mut one = [0u8; 1];
    let served = matches!(asking.read(&mut one), Ok(1));
    drop(silent);
    served
}

#[test]
fn a_silent_client_holds_no_slot_with_deferred_accept_and_one_without() {
    // Default: the silent client is not handed over yet (and once it is,
    // a second later, the asking one already holds the slot).
    assert!(second_served_beside_a_silent_first(
        "",
        Duration::from_secs(10)
    ));
    // `deferred_accept = false`: accepted at once, it takes the only slot.
    let off = "deferred_accept = false";
    assert!(!second_served_beside_a_silent_first(
        off,
        Duration::from_millis(700)
    ));
}
