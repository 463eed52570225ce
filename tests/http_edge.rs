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
