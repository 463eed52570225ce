//! The plain path's own response writer: file bodies sent with sendfile,
//! HTTP/1.0 and keep-alive forms, pipelining across the hand-over to
//! hyper, heads that arrive in pieces, and a file that shrinks mid-send.

use std::io::{BufRead, BufReader, Read, Write};
use std::time::Duration;

use crate::support::{Server, free_port, http, procs, wait_for};

/// A file larger than one sendfile call (2 MiB) with bytes that never
/// repeat in a short period, so a misplaced chunk shows.
fn pattern(len: usize) -> Vec<u8> {
    let mut x: u32 = 2_463_534_242;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

fn serve() -> (Server, u16) {
    let port = free_port();
    let mut s = Server::new();
    s.config(&format!(
        "worker_processes = 1\n[[server]]\nlisten = [\"127.0.0.1:{port}\"]\naccess_log = \"logs/access.log\"\n"
    ));
    std::fs::write(s.path("html/big.bin"), pattern(3 * 1024 * 1024 + 17)).expect("big.bin");
    std::fs::write(s.path("html/small.txt"), b"small\n").expect("small.txt");
    s.start(port);
    (s, port)
}

fn send(stream: &mut std::net::TcpStream, raw: &str) {
    stream.write_all(raw.as_bytes()).expect("write");
}

#[test]
fn large_files_are_byte_exact_whole_in_ranges_and_on_one_connection() {
    let (_s, port) = serve();
    let want = pattern(3 * 1024 * 1024 + 17);
    let mut c = http::KeepAlive::new(port);
    for _ in 0..3 {
        let r = c.get("/big.bin").expect("get");
        assert_eq!(r.status, 200);
        assert_eq!(r.body.len(), want.len());
        assert!(r.body == want, "body differs from the file");
        let r = c.get("/small.txt").expect("get small");
        assert_eq!(r.text(), "small\n");
    }
    assert_eq!(c.connections, 1, "kept alive across large bodies");

    let r = http::request_with(port, "GET", "/big.bin", &[("Range", "bytes=1000-2500000")])
        .expect("range");
    assert_eq!(r.status, 206);
    assert_eq!(r.body, want[1000..=2_500_000]);

    let r = http::request_with(
        port,
        "GET",
        "/big.bin",
        &[("Range", "bytes=0-9,3000000-3000009")],
    )
    .expect("multipart");
    assert_eq!(r.status, 206);
    let body = r.body.as_slice();
    for part in [&want[0..10], &want[3_000_000..3_000_010]] {
        assert!(
            body.windows(part.len()).any(|w| w == part),
            "a part is missing from the multipart body"
        );
    }

    let r = http::request(port, "HEAD", "/big.bin").expect("head");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("3145745"));
    assert!(r.body.is_empty());
}

#[test]
fn headers_are_spelled_as_registered_and_server_and_date_lead() {
    let (_s, port) = serve();
    let mut c = http::connect(port).expect("connect");
    send(
        &mut c,
        "GET /small.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    let mut raw = String::new();
    c.read_to_string(&mut raw).expect("read");
    assert!(
        raw.starts_with("HTTP/1.1 200 OK\r\nServer: moltd\r\nDate: "),
        "{raw}"
    );
    assert!(raw.contains("\r\nETag: \""), "{raw}");
    assert!(raw.contains("\r\nContent-Length: 6\r\n"), "{raw}");
    assert!(raw.contains("\r\nConnection: close\r\n"), "{raw}");
    assert!(raw.ends_with("\r\n\r\nsmall\n"), "{raw}");
}

#[test]
fn http10_closes_unless_it_asks_for_keep_alive() {
    let (_s, port) = serve();
    let mut c = http::connect(port).expect("connect");
    send(&mut c, "GET /small.txt HTTP/1.0\r\n\r\n");
    let mut raw = String::new();
    c.read_to_string(&mut raw)
        .expect("read until the server closes");
    // The version we speak, as nginx (RFC 9110 §2.5).
    assert!(raw.starts_with("HTTP/1.1 200 OK\r\n"), "{raw}");
    assert!(raw.ends_with("small\n"), "{raw}");

    let c = http::connect(port).expect("connect");
    let mut r = BufReader::new(c);
    for _ in 0..2 {
        send(
            r.get_mut(),
            "GET /small.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        );
        let resp = http::read_response(&mut r, "GET").expect("response");
        assert_eq!(resp.status, 200);
        assert_eq!(resp.header("connection"), Some("keep-alive"));
        assert_eq!(resp.text(), "small\n");
    }
}

#[test]
fn pipelined_requests_are_answered_in_order_across_the_hand_over_to_hyper() {
    let (s, port) = serve();
    let c = http::connect(port).expect("connect");
    let mut r = BufReader::new(c);
    send(
        r.get_mut(),
        "GET /small.txt HTTP/1.1\r\nHost: x\r\n\r\n\
         HEAD /big.bin HTTP/1.1\r\nHost: x\r\n\r\n\
         POST /small.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc\
         GET /small.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n\
         GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    let statuses: Vec<u16> = ["GET", "HEAD", "POST", "GET", "GET"]
        .iter()
        .map(|m| http::read_response(&mut r, m).expect("response").status)
        .collect();
    assert_eq!(statuses, [200, 200, 405, 200, 404]);
    let mut rest = Vec::new();
    r.read_to_end(&mut rest).expect("closed after the last");
    assert!(rest.is_empty(), "nothing after the last response: {rest:?}");
    let log = wait_for("the last request in the access log", || {
        let log = std::fs::read_to_string(s.path("logs/access.log")).ok()?;
        log.contains("/nope").then_some(log)
    });
    // Without the harness's start-up probe (`GET /`).
    let lines: Vec<&str> = log.lines().filter(|l| !l.contains("\"GET / ")).collect();
    assert_eq!(lines.len(), 5, "{log}");
    assert!(
        lines[0].contains("\"GET /small.txt HTTP/1.1\" 200 6 "),
        "{log}"
    );
    assert!(
        lines[1].contains("\"HEAD /big.bin HTTP/1.1\" 200 0 "),
        "{log}"
    );
    assert!(
        lines[2].contains("\"POST /small.txt HTTP/1.1\" 405 "),
        "{log}"
    );
    assert!(lines[4].contains("\"GET /nope HTTP/1.1\" 404 "), "{log}");
}

#[test]
fn a_head_that_arrives_in_pieces_after_a_response_is_served() {
    let (_s, port) = serve();
    let c = http::connect(port).expect("connect");
    let mut r = BufReader::new(c);
    send(r.get_mut(), "GET /small.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(
        http::read_response(&mut r, "GET").expect("first").status,
        200
    );
    // Each piece is its own read on the server: the first drains the
    // socket, and the rest must still wake it.
    for piece in ["GET /sma", "ll.txt HTTP/1.1\r\nHo", "st: x\r\n", "\r\n"] {
        std::thread::sleep(Duration::from_millis(30));
        send(r.get_mut(), piece);
    }
    let resp = http::read_response(&mut r, "GET").expect("second");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text(), "small\n");
}

#[test]
fn a_file_that_shrinks_mid_send_ends_the_connection_not_the_worker() {
    let port = free_port();
    let mut s = Server::new();
    s.config(&crate::support::conf(&[port], 1, ""));
    let len = http::unbufferable_size();
    std::fs::write(s.path("html/huge.bin"), vec![7u8; len]).expect("huge.bin");
    let master = s.start(port);
    let worker = s.wait_workers(master, 1)[0];

    let c = http::connect_small_window(port).expect("connect");
    let mut r = BufReader::new(c);
    send(r.get_mut(), "GET /huge.bin HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut line = String::new();
    r.read_line(&mut line).expect("status line");
    assert!(line.starts_with("HTTP/1.1 200"), "{line}");
    // The server is now blocked on a full socket; cut the file short.
    std::fs::File::options()
        .write(true)
        .open(s.path("html/huge.bin"))
        .and_then(|f| f.set_len(1024))
        .expect("truncate");
    let mut got = Vec::new();
    r.read_to_end(&mut got).expect("the server closes");
    assert!(
        got.len() < len,
        "fewer bytes than announced arrive, then EOF"
    );

    assert!(procs::alive(worker), "the worker survives");
    assert_eq!(
        http::get(port, "/huge.bin").expect("after").body.len(),
        1024
    );
}

#[test]
fn a_large_file_changed_on_disk_is_served_new_at_once() {
    let (s, port) = serve();
    let path = s.path("html/big.bin");
    assert_eq!(
        http::get(port, "/big.bin").expect("get").body,
        pattern(3 * 1024 * 1024 + 17)
    );
    // Replaced by rename (a deploy): a new inode.
    let tmp = s.path("html/big.tmp");
    std::fs::write(&tmp, vec![b'n'; 200_000]).expect("new");
    std::fs::rename(&tmp, &path).expect("rename");
    assert_eq!(
        http::get(port, "/big.bin").expect("get").body,
        vec![b'n'; 200_000]
    );
    // Rewritten in place, same length: the same inode, a new ctime.
    std::fs::write(&path, vec![b'm'; 200_000]).expect("rewrite");
    let r = http::get(port, "/big.bin").expect("get");
    assert!(
        r.body == vec![b'm'; 200_000],
        "in-place rewrite served new bytes"
    );
}

/// Bytes the client sent after a request that asked to close are still
/// unread at the close: the server lingers rather than let the close become
/// a reset, whether they came with the request's own read or its head filled
/// the read buffer (the socket is looked at again only then).
#[test]
fn bytes_after_a_closing_request_do_not_turn_the_close_into_a_reset() {
    let (_s, port) = serve();
    let close = "GET /small.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n";
    // A head of exactly the worker's first read (4096 bytes), the rest
    // left in the socket.
    let pad = 4096 - close.len() - "X-Pad: \r\n\r\n".len();
    let long = format!("{close}X-Pad: {}\r\n\r\n", "p".repeat(pad));
    assert_eq!(long.len(), 4096);
    let cases = [
        format!("{close}\r\nGET /small.txt HTTP/1.1\r\nHost: x\r\n\r\n"),
        format!("{long}{}", "junk after the head ".repeat(400)),
    ];
    for req in cases {
        let mut c = http::connect(port).expect("connect");
        c.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        send(&mut c, &req);
        let mut raw = Vec::new();
        c.read_to_end(&mut raw)
            .expect("the response and the close, not a reset");
        let raw = String::from_utf8_lossy(&raw);
        assert!(raw.starts_with("HTTP/1.1 200 "), "{raw}");
        assert!(raw.ends_with("\r\n\r\nsmall\n"), "one response: {raw:?}");
    }
}

/// A response after which the server closes is queued to go out with the
/// FIN (`MSG_MORE`): it must still arrive whole, followed by the close,
/// whichever way the connection ends (an immediate close, or a shutdown and
/// linger when the request left bytes unread), and after keep-alive
/// responses on the same connection too.
#[test]
fn a_response_the_server_closes_after_arrives_whole_with_the_close() {
    let (_s, port) = serve();
    let cases: [(&str, &str); 5] = [
        (
            "GET /small.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            "small\n",
        ),
        (
            "HEAD /small.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            "Content-Length: 6\r\nConnection: close\r\n\r\n",
        ),
        (
            "GET /missing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            "</html>\r\n",
        ),
        // A body to discard: the close goes through shutdown and linger.
        (
            "GET /small.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello",
            "small\n",
        ),
        (
            "GET /small.txt HTTP/1.1\r\nHost: x\r\n\r\n\
             GET /small.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            "\r\n\r\nsmall\n",
        ),
    ];
    for (req, tail) in cases {
        let mut c = http::connect(port).expect("connect");
        c.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        send(&mut c, req);
        let mut raw = Vec::new();
        c.read_to_end(&mut raw)
            .expect("the response and the close, not a reset or a wait");
        let raw = String::from_utf8_lossy(&raw);
        assert!(raw.ends_with(tail), "{req:?} got {raw:?}");
        assert!(raw.contains("\r\nConnection: close\r\n"), "{raw}");
    }
}
