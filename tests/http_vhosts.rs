use crate::support::{Server, free_port, http};

fn dirs(s: &Server, names: &[&str]) {
    for n in names {
        std::fs::create_dir_all(s.path(n)).expect("dir");
        std::fs::write(s.path(&format!("{n}/index.html")), format!("{n}\n")).expect("index");
    }
}

fn host(port: u16, h: &str) -> String {
    http::request_with(port, "GET", "/", &[("Host", h)])
        .expect("GET")
        .text()
}

#[test]
fn server_names_pick_the_server_and_default_is_first_or_flagged() {
    let a = free_port();
    let b = free_port();
    let mut s = Server::new();
    dirs(&s, &["first", "exact", "lead", "trail", "dflt", "other"]);
    s.config(&format!(
        r#"worker_processes = 1
[[server]]
listen = ["127.0.0.1:{a}"]
root = "first"
[[server]]
listen = ["127.0.0.1:{a}"]
server_name = ["example.com", "www.example.com"]
root = "exact"
[[server]]
listen = ["127.0.0.1:{a}"]
server_name = ["*.example.com"]
root = "lead"
[[server]]
listen = ["127.0.0.1:{a}"]
server_name = ["example.*"]
root = "trail"
[[server]]
listen = ["127.0.0.1:{b}"]
server_name = ["b.test"]
root = "other"
[[server]]
listen = ["127.0.0.1:{b}"]
default_server = true
root = "dflt"
"#
    ));
    s.start(a);
    assert_eq!(host(a, "example.com"), "exact\n");
    assert_eq!(
        host(a, "WWW.Example.COM:1234"),
        "exact\n",
        "case and port ignored"
    );
    assert_eq!(host(a, "example.com."), "exact\n", "trailing dot ignored");
    assert_eq!(host(a, "api.example.com"), "lead\n");
    assert_eq!(host(a, "example.org"), "trail\n");
    assert_eq!(
        host(a, "unknown.test"),
        "first\n",
        "first server is the default"
    );
    assert_eq!(host(b, "b.test"), "other\n");
    assert_eq!(
        host(b, "unknown.test"),
        "dflt\n",
        "default_server = true wins"
    );
    // Absolute-form target: its authority chooses the server.
    let r = http::raw(
        a,
        b"GET http://example.com/ HTTP/1.1\r\nHost: other.test\r\nConnection: close\r\n\r\n",
    )
    .expect("absolute form");
    assert_eq!(r.text(), "exact\n");
}

#[test]
fn host_is_required_for_http_1_1_and_must_be_valid() {
    let port = free_port();
    let mut s = Server::new();
    s.config(&crate::support::conf(&[port], 1, ""));
    s.start(port);
    let r = http::raw(port, b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n").expect("no host");
    assert_eq!(r.status, 400);
    let r = http::raw(port, b"GET / HTTP/1.0\r\n\r\n").expect("1.0 without host");
    assert_eq!(r.status, 200);
    let r = http::raw(
        port,
        b"GET / HTTP/1.1\r\nHost: a/b\r\nConnection: close\r\n\r\n",
    )
    .expect("bad host");
    assert_eq!(r.status, 400);
}

#[test]
fn locations_exact_beats_prefix_and_longest_prefix_wins() {
    let port = free_port();
    let mut s = Server::new();
    dirs(&s, &["html/a", "html/a/b", "alt/a/b"]);
    std::fs::write(s.path("html/a/b/page.txt"), "main").expect("page");
    std::fs::write(s.path("alt/a/b/page.txt"), "alt").expect("page");
    std::fs::write(s.path("html/exact.txt"), "main exact").expect("exact");
    std::fs::create_dir_all(s.path("exactroot")).expect("dir");
    std::fs::write(s.path("exactroot/exact.txt"), "from exact location").expect("exact");
    s.config(&format!(
        r#"worker_processes = 1
[[server]]
listen = ["127.0.0.1:{port}"]
[[server.location]]
prefix = "/a/"
add_header = {{ X-Loc = "a" }}
[[server.location]]
prefix = "/a/b/"
root = "alt"
add_header = {{ X-Loc = "ab" }}
[[server.location]]
exact = "/exact.txt"
root = "exactroot"
[[server.location]]
prefix = "/exact"
add_header = {{ X-Loc = "prefix-exact" }}
"#
    ));
    s.start(port);
    let r = http::get(port, "/a/b/page.txt").expect("GET");
    assert_eq!((r.text().as_str(), r.header("x-loc")), ("alt", Some("ab")));
    let r = http::get(port, "/a/").expect("GET");
    assert_eq!(r.header("x-loc"), Some("a"));
    let r = http::get(port, "/exact.txt").expect("GET");
    assert_eq!(r.text(), "from exact location");
    assert_eq!(r.header("x-loc"), None);
    // Matching uses the normalised path.
    let r = http::get(port, "/x/../a/b/page.txt").expect("GET");
    assert_eq!(r.text(), "alt");
}

#[test]
fn bad_vhost_configs_fail_with_line_and_key() {
    let s = Server::new();
    for (cfg, key, line) in [
        (
            "[[server]]\nlisten = [\"127.0.0.1:1\"]\nserver_name = [\"a*b\"]\n",
            "server_name",
            3,
        ),
        (
            "[[server]]\nlisten = [\"127.0.0.1:1\"]\n[[server.location]]\nroot = \"html\"\n",
            "location",
            3,
        ),
        (
            "[[server]]\nlisten = [\"127.0.0.1:1\"]\n[[server.location]]\nprefix = \"nosl\"\n",
            "prefix",
            4,
        ),
        (
            "[[server]]\nlisten = [\"127.0.0.1:1\"]\nexpires = \"soon\"\n",
            "expires",
            3,
        ),
        (
            "[[server]]\nlisten = [\"127.0.0.1:1\"]\nadd_header = { \"bad name\" = \"x\" }\n",
            "add_header",
            3,
        ),
        (
            "[[server]]\nlisten = [\"127.0.0.1:1\"]\nerror_page = { \"99\" = \"/x\" }\n",
            "error_page",
            3,
        ),
        (
            "[[server]]\nlisten = [\"127.0.0.1:1\"]\nautoindex_format = \"xml\"\n",
            "autoindex_format",
            3,
        ),
        (
            "[[server]]\nlisten = [\"127.0.0.1:1\"]\n[[server.location]]\nprefix = \"/a\"\nbogus = 1\n",
            "bogus",
            5,
        ),
    ] {
        s.config(cfg);
        let o = s.run(&["-t"]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{cfg}: {err}");
        assert!(
            err.contains(key) && err.contains(&format!("moltd.toml:{line}")),
            "{cfg}: {err}"
        );
    }
}
