use std::io::{BufReader, Read, Write};

use nix::sys::signal::Signal;

use crate::support::{Server, conf, free_port, http};

fn started() -> (Server, u16) {
    let port = free_port();
    let mut s = Server::new();
    s.config(&conf(&[port], 1, ""));
    s.start(port);
    (s, port)
}

#[test]
fn files_index_and_errors() {
    let (_s, port) = started();
    let r = http::get(port, "/").expect("GET /");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/html"));
    assert_eq!(r.header("content-length"), Some("17"));
    assert_eq!(r.header("server"), Some("moltd"));
    assert!(
        r.header("etag").is_some()
            && r.header("last-modified").is_some()
            && r.header("date").is_some()
    );

    let r = http::request(port, "HEAD", "/index.html").expect("HEAD");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("17"));
    assert!(r.body.is_empty());

    let r = http::get(port, "/other/page.txt?x=1").expect("GET page");
    assert_eq!((r.status, r.text().as_str()), (200, "page\n"));
    assert_eq!(r.header("content-type"), Some("text/plain"));

    let r = http::get(port, "/missing").expect("404");
    assert_eq!(r.status, 404);
    assert!(
        r.text().contains("<title>404 Not Found</title>"),
        "{}",
        r.text()
    );

    let r = http::get(port, "/other?q=1").expect("301");
    assert_eq!(r.status, 301);
    let want = format!("http://localhost:{port}/other/?q=1");
    assert_eq!(r.header("location"), Some(want.as_str()));

    assert_eq!(http::get(port, "/other/").expect("403").status, 403);
    assert_eq!(http::get(port, "/index.html/").expect("file/").status, 404);

    let r = http::request(port, "POST", "/").expect("POST");
    assert_eq!(r.status, 405);
    assert!(
        r.text().contains("<title>405 Not Allowed</title>"),
        "{}",
        r.text()
    );
    let mut c = http::connect(port).expect("connect");
    std::io::Write::write_all(
        &mut c,
        b"DELETE / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .expect("send");
    let mut status_line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(c), &mut status_line).expect("read");
    assert_eq!(
        status_line, "HTTP/1.1 405 Not Allowed\r\n",
        "nginx's reason phrase"
    );
    assert_eq!(r.header("allow"), Some("GET, HEAD"));

    for evil in [
        "/../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/..%2f..%2fetc/passwd",
        "/a%00b",
        "/%zz",
    ] {
        let r = http::get(port, evil).expect("traversal attempt");
        assert_eq!(r.status, 400, "{evil}");
        assert!(!r.text().contains("root:"), "{evil}");
    }
}

#[test]
fn keepalive_serves_many_requests_on_one_connection() {
    let (_s, port) = started();
    let mut c = http::KeepAlive::new(port);
    for _ in 0..50 {
        let r = c.get("/").expect("GET");
        assert_eq!(r.status, 200);
        assert!(!r.closes());
    }
    assert_eq!(c.connections, 1);
}

#[test]
fn drain_answers_a_request_on_a_kept_alive_connection_with_close() {
    let (s, port) = started();
    let master = s.pid();
    let mut conn = BufReader::new(http::connect(port).expect("connect"));
    conn.get_mut()
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("send");
    let r = http::read_response(&mut conn, "GET").expect("first");
    assert!(!r.closes());

    s.signal(master, Signal::SIGQUIT);
    s.wait_log_count("gracefully shutting down", 2);
    // The connection was idle when the drain started; a request sent now
    // (within the grace) is served, with `Connection: close`.
    conn.get_mut()
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("send after QUIT");
    let r = http::read_response(&mut conn, "GET").expect("answered during drain");
    assert_eq!(r.status, 200);
    assert!(r.closes(), "{:?}", r.headers);
    let mut rest = Vec::new();
    let n = conn.read_to_end(&mut rest).expect("server closes");
    assert_eq!(n, 0);
    s.wait_gone(master);
}

#[test]
fn drain_closes_idle_keepalive_connections() {
    let (s, port) = started();
    let master = s.pid();
    let mut conn = BufReader::new(http::connect(port).expect("connect"));
    conn.get_mut()
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("send");
    http::read_response(&mut conn, "GET").expect("first");
    s.signal(master, Signal::SIGQUIT);
    // Without another request, the worker closes the idle connection after
    // its grace and exits; the client sees EOF, not a reset.
    let mut rest = Vec::new();
    assert_eq!(conn.read_to_end(&mut rest).expect("clean EOF"), 0);
    s.wait_gone(master);
}

#[test]
fn worker_shutdown_timeout_cuts_a_stalled_download() {
    let port = free_port();
    let mut s = Server::new();
    s.config(&conf(&[port], 1, "worker_shutdown_timeout = \"500ms\""));
    std::fs::write(s.path("html/big.bin"), vec![7u8; http::unbufferable_size()]).expect("big");
    let master = s.start(port);
    let mut conn = http::connect_small_window(port).expect("connect");
    conn.write_all(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("send");
    let mut first = [0u8; 1024];
    conn.read_exact(&mut first).expect("start of the response");
    // The client stops reading; QUIT must still end within the timeout.
    s.signal(master, Signal::SIGQUIT);
    s.wait_log("worker_shutdown_timeout expired");
    s.wait_gone(master);
}
