use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::support::{Server, free_port, http};

/// One worker (so one cache and one set of counters), two servers on the
/// same root with different headers, a large file sent by descriptor.
fn serve() -> (Server, u16) {
    serve_with("0")
}

/// As [`serve`], with stats trusted for `valid`.
fn serve_with(valid: &str) -> (Server, u16) {
    let port = free_port();
    let mut s = Server::new();
    s.config(&format!(
        r#"worker_processes = 1
open_file_cache_max_file = 1024
open_file_cache_valid = "{valid}"

[[server]]
listen = ["127.0.0.1:{port}"]
server_name = ["a.test"]
root = "html"
expires = "max"
charset = "utf-8"
gzip = true
gzip_min_length = 1
gzip_types = ["text/plain"]
[server.add_header]
X-Site = "a"

[[server.location]]
exact = "/metrics"
status = "prometheus"

[[server]]
listen = ["127.0.0.1:{port}"]
server_name = ["b.test"]
root = "html"
expires = "epoch"
[server.add_header]
X-Site = "b"
"#
    ));
    std::fs::write(s.path("html/small.txt"), "small file\n".repeat(20)).expect("small");
    std::fs::write(s.path("html/large.bin"), vec![7u8; 5000]).expect("large");
    s.start(port);
    settle();
    (s, port)
}

/// Waits until files written now count as settled (their bodies and
/// descriptors are kept only then).
fn settle() {
    std::thread::sleep(Duration::from_millis(2200));
}

fn replays(port: u16) -> u64 {
    let r = http::get(port, "/metrics").expect("scrape");
    http::metric(&r.text(), "moltd_head_replays_total")
}

/// Reads one whole response as raw bytes, its `Date` value blanked.
fn read_raw(r: &mut impl BufRead, head_only: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut len = 0;
    loop {
        let mut line = String::new();
        assert!(r.read_line(&mut line).expect("read") > 0, "cut short");
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length: ") {
            len = v.trim().parse().expect("length");
        }
        if lower.starts_with("date: ") {
            line = "Date: -\r\n".into();
        }
        out.extend_from_slice(line.as_bytes());
        if line == "\r\n" {
            break;
        }
    }
    if !head_only {
        let mut body = vec![0; len];
        r.read_exact(&mut body).expect("body");
        out.extend_from_slice(&body);
    }
    out
}

/// Sends `req` three times (on one connection while it stays open) and
/// returns the raw responses.
fn thrice(port: u16, req: &str, head_only: bool, keep: bool) -> Vec<Vec<u8>> {
    let mut conn: Option<BufReader<TcpStream>> = None;
    (0..3)
        .map(|_| {
            let c = conn.get_or_insert_with(|| BufReader::new(http::connect(port).expect("conn")));
            c.get_mut().write_all(req.as_bytes()).expect("send");
            let raw = read_raw(c, head_only);
            if !keep {
                conn = None;
            }
            raw
        })
        .collect()
}

fn text(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw).into_owned()
}

#[test]
fn replayed_heads_are_the_full_answers_bytes() {
    let (_s, port) = serve();
    same_bytes_replayed(port);
}

/// With the stat trusted, the plan's one look at the entry gives both the
/// version and its head; a miss is answered from that lookup.
#[test]
fn with_stats_trusted_replayed_heads_are_the_full_answers_bytes() {
    let (_s, port) = serve_with("60s");
    same_bytes_replayed(port);
}

/// Every kind of plain request: answered in full, then twice replayed with
/// the same bytes but `Date`.
fn same_bytes_replayed(port: u16) {
    let cases = [
        ("GET", "HTTP/1.1", "", true),
        ("HEAD", "HTTP/1.1", "", true),
        ("GET", "HTTP/1.1", "Connection: close\r\n", false),
        ("HEAD", "HTTP/1.1", "Connection: close\r\n", false),
        ("GET", "HTTP/1.0", "", false),
        ("GET", "HTTP/1.0", "Connection: keep-alive\r\n", true),
        ("HEAD", "HTTP/1.0", "Connection: keep-alive\r\n", true),
    ];
    for path in ["/small.txt", "/large.bin"] {
        for (method, version, extra, keep) in cases {
            let req = format!("{method} {path} {version}\r\nHost: a.test\r\n{extra}\r\n");
            let before = replays(port);
            let r = thrice(port, &req, method == "HEAD", keep);
            // The first is answered in full and its head kept; the others
            // replay it, byte for byte.
            assert_eq!(replays(port) - before, 2, "{req}");
            assert_eq!(text(&r[1]), text(&r[0]), "{req}");
            assert_eq!(text(&r[2]), text(&r[0]), "{req}");
            let t = text(&r[0]);
            // HTTP/1.1, the version we speak, to 1.0 peers too (as nginx).
            assert!(t.starts_with("HTTP/1.1 200 OK\r\n"), "{t}");
            assert!(t.contains("\r\nX-Site: a\r\n"), "{t}");
            assert!(
                t.contains("\r\nCache-Control: max-age=315360000\r\n"),
                "{t}"
            );
            assert_eq!(t.contains("Connection: close"), !keep);
            assert_eq!(
                t.contains("Connection: keep-alive"),
                keep && version == "HTTP/1.0"
            );
        }
    }
    // The same file through the other server: its own headers.
    let req = "GET /small.txt HTTP/1.1\r\nHost: b.test\r\n\r\n";
    let r = thrice(port, req, false, true);
    assert_eq!(text(&r[2]), text(&r[0]));
    let t = text(&r[2]);
    assert!(
        t.contains("\r\nX-Site: b\r\n") && !t.contains("X-Site: a"),
        "{t}"
    );
    assert!(t.contains("\r\nCache-Control: no-cache\r\n"), "{t}");
    assert!(t.contains("Content-Type: text/plain\r\n"), "{t}");
    assert!(t.ends_with("\nsmall file\n"), "{t}");
}

#[test]
fn requests_that_depend_on_more_than_the_file_are_answered_in_full() {
    let (_s, port) = serve();
    let get = |headers: &[(&str, &str)]| {
        let mut h = vec![("Host", "a.test")];
        h.extend_from_slice(headers);
        http::request_with(port, "GET", "/small.txt", &h).expect("request")
    };
    let full = get(&[]);
    let etag = full.header("etag").expect("etag").to_string();
    let last_modified = full.header("last-modified").expect("lm").to_string();
    assert_eq!(full.header("vary"), Some("Accept-Encoding"));
    let before = replays(port);
    assert_eq!(get(&[("If-None-Match", &etag)]).status, 304);
    assert_eq!(get(&[("If-Modified-Since", &last_modified)]).status, 304);
    assert_eq!(get(&[("If-Match", "\"other\"")]).status, 412);
    let part = get(&[("Range", "bytes=0-4")]);
    assert_eq!((part.status, part.body.as_slice()), (206, &b"small"[..]));
    let gz = get(&[("Accept-Encoding", "gzip")]);
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    assert_eq!(replays(port), before, "none of these replays a head");
    // Without them, the kept head answers.
    assert_eq!(get(&[]).body, full.body);
    assert_eq!(replays(port), before + 1);
    // A response that does not vary by Accept-Encoding answers any.
    let bin = |ae: &str| {
        http::request_with(
            port,
            "GET",
            "/large.bin",
            &[("Host", "a.test"), ("Accept-Encoding", ae)],
        )
        .expect("request")
    };
    assert_eq!(bin("gzip").header("vary"), None);
    let before = replays(port);
    assert_eq!(bin("br").body, vec![7u8; 5000]);
    assert_eq!(replays(port), before + 1);
}

#[test]
fn a_changed_file_gets_a_new_head() {
    let (s, port) = serve();
    let path = s.path("html/small.txt");
    let get = || http::request_with(port, "GET", "/small.txt", &[("Host", "a.test")]).expect("get");
    let first = get();
    assert_eq!(first.body, "small file\n".repeat(20).as_bytes());
    let before = replays(port);
    assert_eq!(get().body, first.body);
    assert_eq!(replays(port), before + 1);
    // Same size, written in place, its mtime put back: the same head
    // (which depends on size and mtime only), but never the old body.
    let mtime = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .expect("mtime");
    std::fs::write(&path, "SMALL FILE\n".repeat(20)).expect("rewrite");
    let f = std::fs::File::options()
        .write(true)
        .open(&path)
        .expect("open");
    f.set_modified(mtime).expect("set mtime");
    drop(f);
    let r = get();
    assert_eq!(r.body, "SMALL FILE\n".repeat(20).as_bytes());
    assert_eq!(r.header("etag"), first.header("etag"));
    // A new size and mtime: new validators and length at once.
    std::fs::write(&path, "a longer small file\n".repeat(20)).expect("rewrite");
    let earlier = mtime - Duration::from_secs(3600);
    let f = std::fs::File::options()
        .write(true)
        .open(&path)
        .expect("open");
    f.set_modified(earlier).expect("set mtime");
    drop(f);
    let check = |r: &http::Response| {
        assert_eq!(r.body, "a longer small file\n".repeat(20).as_bytes());
        assert_eq!(r.header("content-length"), Some("400"));
        assert_ne!(r.header("etag"), first.header("etag"));
        assert_ne!(r.header("last-modified"), first.header("last-modified"));
    };
    check(&get());
    // HEAD needs no body, so it replays at once; once settled, GET too.
    let head =
        || http::request_with(port, "HEAD", "/small.txt", &[("Host", "a.test")]).expect("head");
    let h = head();
    assert_eq!(h.header("content-length"), Some("400"));
    assert_eq!(head().header("etag"), h.header("etag"));
    settle();
    let before = replays(port);
    check(&get());
    check(&get());
    assert!(replays(port) > before, "replayed once settled");
}

/// A head is replayed only with the bytes or descriptor it was kept with:
/// those prove the file could be read. A file that never settled keeps
/// neither, so once it is removed (within `open_file_cache_valid`, which
/// trusts the old stat) a HEAD answers as a GET does, not from the head.
#[test]
fn a_head_without_the_file_behind_it_is_not_replayed() {
    let port = free_port();
    let mut s = Server::new();
    s.config(&format!(
        r#"worker_processes = 1
open_file_cache_valid = "60s"

[[server]]
listen = ["127.0.0.1:{port}"]
root = "html"

[[server.location]]
exact = "/metrics"
status = "prometheus"
"#
    ));
    s.start(port);
    // Written now: not settled, so no body or descriptor is kept.
    std::fs::write(s.path("html/fresh.txt"), "fresh\n").expect("fresh");
    for _ in 0..3 {
        let r = http::request(port, "HEAD", "/fresh.txt").expect("HEAD");
        assert_eq!(r.status, 200);
    }
    assert_eq!(replays(port), 0, "replayed a head with nothing kept");
    std::fs::remove_file(s.path("html/fresh.txt")).expect("remove");
    let get = http::get(port, "/fresh.txt").expect("GET").status;
    let head = http::request(port, "HEAD", "/fresh.txt")
        .expect("HEAD")
        .status;
    assert_eq!(head, get, "HEAD and GET of a removed file disagree");
}
