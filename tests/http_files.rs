use std::io::Read;

use crate::support::{Server, free_port, http};

fn serve(extra_server: &str, top: &str) -> (Server, u16) {
    let port = free_port();
    let mut s = Server::new();
    s.config(&format!(
        "{top}\nworker_processes = 1\n[[server]]\nlisten = [\"127.0.0.1:{port}\"]\n{extra_server}\n"
    ));
    let body: Vec<u8> = (0..1000u32).map(|i| b'a' + (i % 26) as u8).collect();
    std::fs::write(s.path("html/file.txt"), &body).expect("file.txt");
    s.start(port);
    (s, port)
}

/// nginx's `"mtime-size"` entity tag for the file at `path`, in hex.
fn nginx_etag(path: &std::path::Path) -> String {
    let meta = std::fs::metadata(path).expect("meta");
    let mtime = meta
        .modified()
        .expect("mtime")
        .duration_since(std::time::UNIX_EPOCH)
        .expect("epoch")
        .as_secs();
    format!("\"{mtime:x}-{:x}\"", meta.len())
}

fn get(port: u16, path: &str, headers: &[(&str, &str)]) -> http::Response {
    http::request_with(port, "GET", path, headers).expect("request")
}

#[test]
fn validators_and_conditional_requests() {
    let (s, port) = serve("", "");
    let r = get(port, "/file.txt", &[]);
    assert_eq!(r.status, 200);
    let etag = nginx_etag(&s.path("html/file.txt"));
    assert!(etag.ends_with("-3e8\""), "{etag}");
    assert_eq!(
        r.header("etag"),
        Some(etag.as_str()),
        "nginx's mtime-size hex form"
    );
    let lm = r
        .header("last-modified")
        .expect("last-modified")
        .to_string();
    assert_eq!(r.header("accept-ranges"), Some("bytes"));
    assert_eq!(r.header("content-type"), Some("text/plain"));

    let r = get(port, "/file.txt", &[("If-None-Match", &etag)]);
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());
    assert_eq!(r.header("etag"), Some(etag.as_str()));
    let weak = format!("\"zzz\", W/{etag}");
    assert_eq!(
        get(port, "/file.txt", &[("If-None-Match", &weak)]).status,
        304
    );
    assert_eq!(
        get(port, "/file.txt", &[("If-None-Match", "*")]).status,
        304
    );
    assert_eq!(
        get(port, "/file.txt", &[("If-None-Match", "\"other\"")]).status,
        200
    );
    assert_eq!(
        get(port, "/file.txt", &[("If-Modified-Since", &lm)]).status,
        304
    );
    assert_eq!(
        get(
            port,
            "/file.txt",
            &[("If-Modified-Since", "Thu, 01 Jan 1970 00:00:00 GMT")]
        )
        .status,
        200
    );
    // If-None-Match wins over If-Modified-Since.
    assert_eq!(
        get(
            port,
            "/file.txt",
            &[("If-None-Match", "\"other\""), ("If-Modified-Since", &lm)]
        )
        .status,
        200
    );
    assert_eq!(
        get(port, "/file.txt", &[("If-Match", "\"other\"")]).status,
        412
    );
    assert_eq!(get(port, "/file.txt", &[("If-Match", &etag)]).status, 200);
    assert_eq!(
        get(
            port,
            "/file.txt",
            &[("If-Unmodified-Since", "Thu, 01 Jan 1970 00:00:00 GMT")]
        )
        .status,
        412
    );
    let head =
        http::request_with(port, "HEAD", "/file.txt", &[("If-None-Match", &etag)]).expect("HEAD");
    assert_eq!(head.status, 304);
}

#[test]
fn byte_ranges() {
    let (_s, port) = serve("", "");
    let r = get(port, "/file.txt", &[("Range", "bytes=0-9")]);
    assert_eq!(r.status, 206);
    assert_eq!(r.header("content-range"), Some("bytes 0-9/1000"));
    assert_eq!(r.text(), "abcdefghij");
    let r = get(port, "/file.txt", &[("Range", "bytes=990-")]);
    assert_eq!((r.status, r.body.len()), (206, 10));
    assert_eq!(r.header("content-range"), Some("bytes 990-999/1000"));
    let r = get(port, "/file.txt", &[("Range", "bytes=-3")]);
    assert_eq!(r.header("content-range"), Some("bytes 997-999/1000"));
    assert_eq!(r.text(), "jkl");

    let r = get(port, "/file.txt", &[("Range", "bytes=5000-")]);
    assert_eq!(r.status, 416);
    assert_eq!(r.header("content-range"), Some("bytes */1000"));

    // An empty file has no byte to select: the whole (empty) file, as
    // nginx answers a media player's `bytes=0-`.
    std::fs::write(_s.path("html/empty.txt"), "").expect("empty");
    for range in ["bytes=0-", "bytes=0-0", "bytes=-1"] {
        let r = get(port, "/empty.txt", &[("Range", range)]);
        assert_eq!((r.status, r.body.len()), (200, 0), "{range}");
        assert_eq!(r.header("content-range"), None, "{range}");
        assert_eq!(r.header("content-length"), Some("0"), "{range}");
    }

    let r = get(port, "/file.txt", &[("Range", "bytes=0-1,26-27")]);
    assert_eq!(r.status, 206);
    let ctype = r.header("content-type").expect("type").to_string();
    let boundary = ctype
        .strip_prefix("multipart/byteranges; boundary=")
        .expect("multipart")
        .to_string();
    let text = r.text();
    assert_eq!(
        r.body.len().to_string(),
        r.header("content-length").expect("length")
    );
    let parts: Vec<&str> = text.split(&format!("--{boundary}")).collect();
    assert_eq!(parts.len(), 4, "{text}");
    assert!(
        parts[1].contains("Content-Range: bytes 0-1/1000\r\n\r\nab\r\n"),
        "{text}"
    );
    assert!(
        parts[2]
            .contains("Content-Type: text/plain\r\nContent-Range: bytes 26-27/1000\r\n\r\nab\r\n"),
        "{text}"
    );
    assert_eq!(parts[3], "--\r\n");

    // Overlapping ranges that add up to more than the file: the whole file.
    let r = get(port, "/file.txt", &[("Range", "bytes=0-999,0-999,0-999")]);
    assert_eq!((r.status, r.body.len()), (200, 1000));
    // Malformed: ignored.
    assert_eq!(
        get(port, "/file.txt", &[("Range", "bytes=x-y")]).status,
        200
    );
    // HEAD ignores Range (RFC 9110 §14.2).
    let h = http::request_with(port, "HEAD", "/file.txt", &[("Range", "bytes=0-1")]).expect("HEAD");
    assert_eq!(h.status, 200);

    // If-Range: a matching ETag applies the range, a stale one sends it all.
    let etag = get(port, "/file.txt", &[])
        .header("etag")
        .expect("etag")
        .to_string();
    let r = get(
        port,
        "/file.txt",
        &[("Range", "bytes=0-1"), ("If-Range", &etag)],
    );
    assert_eq!(r.status, 206);
    let r = get(
        port,
        "/file.txt",
        &[("Range", "bytes=0-1"), ("If-Range", "\"stale\"")],
    );
    assert_eq!((r.status, r.body.len()), (200, 1000));
    let lm = get(port, "/file.txt", &[])
        .header("last-modified")
        .expect("lm")
        .to_string();
    assert_eq!(
        get(
            port,
            "/file.txt",
            &[("Range", "bytes=0-1"), ("If-Range", &lm)]
        )
        .status,
        206
    );
}

#[test]
fn max_ranges_caps_parts() {
    let (_s, port) = serve("max_ranges = 2", "");
    assert_eq!(
        get(port, "/file.txt", &[("Range", "bytes=0-0,2-2")]).status,
        206
    );
    assert_eq!(
        get(port, "/file.txt", &[("Range", "bytes=0-0,2-2,4-4")]).status,
        200
    );
}

#[test]
fn precompressed_siblings() {
    let (s, port) = serve("gzip_static = true\nbrotli_static = true", "");
    std::fs::write(s.path("html/app.js"), "plain js").expect("js");
    std::fs::write(s.path("html/app.js.gz"), "GZ").expect("gz");
    std::fs::write(s.path("html/app.js.br"), "BROTLI").expect("br");
    std::fs::write(s.path("html/only.css"), "css").expect("css");
    std::fs::write(s.path("html/only.css.gz"), "GZCSS").expect("css.gz");

    let r = get(port, "/app.js", &[("Accept-Encoding", "gzip, br")]);
    assert_eq!(r.header("content-encoding"), Some("br"));
    assert_eq!(r.text(), "BROTLI");
    assert_eq!(r.header("content-length"), Some("6"));
    assert_eq!(r.header("vary"), Some("Accept-Encoding"));
    assert_eq!(r.header("content-type"), Some("application/javascript"));
    let br_tag = r.header("etag").expect("etag").to_string();

    let r = get(port, "/app.js", &[("Accept-Encoding", "gzip")]);
    assert_eq!(
        (r.header("content-encoding"), r.text().as_str()),
        (Some("gzip"), "GZ")
    );
    assert_ne!(
        r.header("etag"),
        Some(br_tag.as_str()),
        "each variant has its own ETag"
    );
    let r = get(
        port,
        "/app.js",
        &[("Accept-Encoding", "gzip;q=1, br;q=0.5")],
    );
    assert_eq!(
        r.header("content-encoding"),
        Some("gzip"),
        "q-values honoured"
    );
    let r = get(port, "/app.js", &[("Accept-Encoding", "gzip;q=0, br;q=0")]);
    assert_eq!(
        (r.header("content-encoding"), r.text().as_str()),
        (None, "plain js")
    );
    assert_eq!(
        r.header("vary"),
        Some("Accept-Encoding"),
        "Vary even when the original is sent"
    );
    let r = get(port, "/app.js", &[]);
    assert_eq!(r.text(), "plain js");

    let r = get(
        port,
        "/only.css",
        &[("Accept-Encoding", "br, gzip"), ("Range", "bytes=0-1")],
    );
    assert_eq!(r.status, 206);
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert_eq!(
        r.header("content-range"),
        Some("bytes 0-1/5"),
        "ranges apply to the variant"
    );
    assert_eq!(r.text(), "GZ");

    // A file without siblings has no Vary.
    assert_eq!(
        get(port, "/file.txt", &[("Accept-Encoding", "gzip")]).header("vary"),
        None
    );

    // Only the compressed file on disk: sent to a client that takes its
    // encoding (nginx's gzip_static), a 404 to one that does not.
    std::fs::write(s.path("html/packed.html.gz"), "PACKED").expect("packed");
    let r = get(port, "/packed.html", &[("Accept-Encoding", "gzip")]);
    assert_eq!((r.status, r.text().as_str()), (200, "PACKED"));
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert_eq!(r.header("content-type"), Some("text/html"));
    assert_eq!(r.header("vary"), Some("Accept-Encoding"));
    let r = get(port, "/packed.html", &[]);
    assert_eq!(r.status, 404);
    assert_eq!(
        r.header("vary"),
        Some("Accept-Encoding"),
        "a cache keeps them apart"
    );
    assert_eq!(
        get(port, "/packed.html", &[("Accept-Encoding", "br")]).status,
        404
    );
}

#[test]
fn a_sibling_asked_for_by_name_keeps_its_own_type() {
    // The same `.gz` file answers two requests: as the encoding of
    // `page.html`, and by its own name. Whichever comes first, neither
    // takes the other's headers.
    let (s, port) = serve("gzip_static = true\nbrotli_static = true", "");
    for name in ["a", "b"] {
        std::fs::write(s.path(&format!("html/{name}.html")), "page").expect("page");
        for ext in ["gz", "br"] {
            std::fs::write(s.path(&format!("html/{name}.html.{ext}")), ext).expect("sibling");
        }
    }
    // Settled (2 s old), so the cache keeps what it makes of them.
    std::thread::sleep(std::time::Duration::from_millis(2200));
    for (first_direct, name) in [(true, "a"), (false, "b")] {
        for round in 0..2 {
            let types = [
                ("gz", "gzip", "application/gzip"),
                ("br", "br", "application/octet-stream"),
            ];
            for (ext, coding, own_type) in types {
                let direct = || get(port, &format!("/{name}.html.{ext}"), &[]);
                let page = || {
                    get(
                        port,
                        &format!("/{name}.html"),
                        &[("Accept-Encoding", coding)],
                    )
                };
                let (d, p) = if first_direct {
                    let d = direct();
                    (d, page())
                } else {
                    let p = page();
                    (direct(), p)
                };
                let what = format!("{name}.html.{ext}, round {round}");
                assert_eq!(p.header("content-type"), Some("text/html"), "{what}");
                assert_eq!(p.header("content-encoding"), Some(coding), "{what}");
                assert_eq!(d.header("content-type"), Some(own_type), "{what}");
                assert_eq!(d.header("content-encoding"), None, "{what}");
                assert_eq!(d.text(), ext, "{what}");
            }
        }
    }
}

#[test]
fn expires_add_header_charset_types_and_tokens() {
    let (s, port) = serve(
        "charset = \"utf-8\"\ntypes = { md = \"text/x-markdown\" }\ndefault_type = \"text/plain\"\n\
         [[server.location]]\nprefix = \"/assets/\"\nexpires = \"7d\"\nadd_header = { X-Frame-Options = \"DENY\" }\n",
        "server_tokens = true",
    );
    std::fs::create_dir_all(s.path("html/assets")).expect("assets");
    std::fs::write(s.path("html/assets/a.css"), "x").expect("css");
    std::fs::write(s.path("html/readme.md"), "# hi").expect("md");
    std::fs::write(s.path("html/noext"), "?").expect("noext");

    let r = get(port, "/assets/a.css", &[]);
    assert_eq!(r.header("cache-control"), Some("max-age=604800"));
    let expires = httpdate::parse_http_date(r.header("expires").expect("expires")).expect("date");
    let ahead = expires
        .duration_since(std::time::SystemTime::now())
        .expect("in the future");
    assert!(ahead.as_secs() > 6 * 86400);
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
    assert_eq!(
        r.header("server"),
        Some(format!("moltd/{}", env!("CARGO_PKG_VERSION")).as_str())
    );
    // add_header and expires skip error responses.
    let r = get(port, "/assets/missing.css", &[]);
    assert_eq!(r.status, 404);
    assert_eq!(r.header("x-frame-options"), None);
    assert!(
        r.text()
            .contains(&format!("moltd/{}", env!("CARGO_PKG_VERSION")))
    );

    assert_eq!(
        get(port, "/index.html", &[]).header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(
        get(port, "/readme.md", &[]).header("content-type"),
        Some("text/x-markdown")
    );
    assert_eq!(
        get(port, "/noext", &[]).header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(get(port, "/file.txt", &[]).header("cache-control"), None);
}

#[test]
fn error_pages_keep_the_status() {
    let (s, port) = serve(
        "error_page = { \"404\" = \"/errors/404.html\", \"403\" = \"/missing-page.html\" }",
        "",
    );
    std::fs::create_dir_all(s.path("html/errors")).expect("errors");
    std::fs::write(s.path("html/errors/404.html"), "<h1>custom not found</h1>").expect("page");
    std::fs::create_dir_all(s.path("html/noindex")).expect("dir");
    let r = get(port, "/nope", &[]);
    assert_eq!(r.status, 404);
    assert_eq!(r.text(), "<h1>custom not found</h1>");
    assert_eq!(r.header("content-type"), Some("text/html"));
    // A configured page that does not exist falls back to the default.
    let r = get(port, "/noindex/", &[]);
    assert_eq!(r.status, 403);
    assert!(r.text().contains("403 Forbidden"));
}

#[test]
fn nothing_outside_the_root_is_ever_served() {
    let (s, port) = serve("", "");
    std::fs::write(s.path("secret.txt"), "TOP SECRET").expect("secret");
    let corpus = [
        "/../secret.txt",
        "/..%2fsecret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E%2Fsecret.txt",
        "/other/../../secret.txt",
        "/other/%2e%2e/%2e%2e/secret.txt",
        "/..\\secret.txt",
        "/%5c..%5csecret.txt",
        "/%c0%ae%c0%ae/secret.txt",
        "/%c0%af..%c0%afsecret.txt",
        "//../secret.txt",
        "/./../secret.txt",
        "/index.html%00.txt",
        "/%00",
        "/%",
        "/%2",
        "/..",
        "/../",
        "/../../../../../../../../etc/passwd",
    ];
    for path in corpus {
        let r = http::raw(
            port,
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .expect(path);
        assert!(
            !r.text().contains("TOP SECRET") && !r.text().contains("root:"),
            "{path}: {}",
            r.status
        );
        assert!(r.status == 400 || r.status == 404, "{path}: {}", r.status);
    }
    let long = format!("/{}", "a/".repeat(3000));
    let r = http::get(port, &long).expect("long path");
    assert!(r.status >= 400, "{}", r.status);
}

#[test]
fn symlinks_follow_by_default_and_are_refused_when_they_leave_the_root() {
    for disable in [false, true] {
        let (s, port) = serve(&format!("disable_symlinks = {disable}"), "");
        std::fs::write(s.path("outside.txt"), "OUTSIDE").expect("outside");
        std::os::unix::fs::symlink(s.path("outside.txt"), s.path("html/escape.txt"))
            .expect("link out");
        std::os::unix::fs::symlink(s.path("html/file.txt"), s.path("html/inside.txt"))
            .expect("link in");
        std::os::unix::fs::symlink(s.prefix.clone(), s.path("html/up")).expect("dir link out");
        let r = get(port, "/escape.txt", &[]);
        if disable {
            assert_eq!(r.status, 403);
            assert!(!r.text().contains("OUTSIDE"));
            assert_eq!(get(port, "/up/outside.txt", &[]).status, 403);
        } else {
            assert_eq!((r.status, r.text().as_str()), (200, "OUTSIDE"));
        }
        assert_eq!(
            get(port, "/inside.txt", &[]).status,
            200,
            "links inside the root always work"
        );
    }
}

#[test]
fn large_file_streams_intact() {
    let (s, port) = serve("", "");
    let big: Vec<u8> = (0..5_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    std::fs::write(s.path("html/big.bin"), &big).expect("big");
    let mut c = http::connect(port).expect("connect");
    use std::io::Write;
    c.write_all(b"GET /big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("send");
    let mut all = Vec::new();
    c.read_to_end(&mut all).expect("read");
    let split = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("header end")
        + 4;
    assert!(all[..split].starts_with(b"HTTP/1.1 200"));
    assert!(
        String::from_utf8_lossy(&all[..split]).contains("Content-Type: application/octet-stream")
    );
    assert!(all[split..] == big[..], "body intact");
}

#[test]
fn the_open_file_cache_never_serves_stale_bytes() {
    let (s, port) = serve("", "");
    let p = s.path("html/change.txt");
    for (i, text) in ["first", "other", "a longer third version", "4"]
        .iter()
        .enumerate()
    {
        if i == 2 {
            // Replaced by rename, as deploy tools do.
            std::fs::write(s.path("html/new.tmp"), text).expect("write");
            std::fs::rename(s.path("html/new.tmp"), &p).expect("rename");
        } else {
            std::fs::write(&p, text).expect("write in place");
        }
        let r = get(port, "/change.txt", &[]);
        assert_eq!(r.text(), *text, "version {i} seen at once");
        assert_eq!(
            r.header("content-length"),
            Some(text.len().to_string().as_str())
        );
        assert_eq!(r.header("etag"), Some(nginx_etag(&p).as_str()));
    }
    std::fs::remove_file(&p).expect("remove");
    assert_eq!(get(port, "/change.txt", &[]).status, 404);
}

#[test]
fn with_a_long_cache_validity_bodies_still_match_their_headers() {
    let (s, port) = serve("", "open_file_cache_valid = \"60s\"");
    let p = s.path("html/v.txt");
    std::fs::write(&p, "version one").expect("write");
    assert_eq!(get(port, "/v.txt", &[]).text(), "version one");
    std::fs::write(&p, "v2").expect("rewrite");
    // Within the validity the old version may be served, but whole: its
    // length and its body agree.
    let r = get(port, "/v.txt", &[]);
    assert!(
        r.text() == "version one" || r.text() == "v2",
        "{}",
        r.text()
    );
    assert_eq!(
        r.header("content-length"),
        Some(r.body.len().to_string().as_str())
    );
}

#[test]
fn odd_files_and_paths_behave_like_nginx() {
    let (s, port) = serve("disable_symlinks = true\ngzip_static = true", "");
    // A file dated before 1970 is served, not a dropped connection.
    std::fs::write(s.path("html/old.txt"), "old").expect("old");
    let old = std::fs::File::options()
        .write(true)
        .open(s.path("html/old.txt"))
        .expect("open");
    old.set_modified(std::time::UNIX_EPOCH - std::time::Duration::from_secs(86400 * 365 * 10))
        .expect("set mtime");
    let r = get(port, "/old.txt", &[]);
    assert_eq!((r.status, r.text().as_str()), (200, "old"));
    // A precompressed sibling that is a symlink out of the root is ignored.
    std::fs::write(s.path("secret.gz"), "SECRET").expect("secret");
    std::fs::write(s.path("html/app.js"), "js").expect("js");
    std::os::unix::fs::symlink(s.path("secret.gz"), s.path("html/app.js.gz")).expect("link");
    let r = get(port, "/app.js", &[("Accept-Encoding", "gzip")]);
    assert_eq!((r.status, r.text().as_str()), (200, "js"));
    // A symlink loop is 403, not 500.
    std::os::unix::fs::symlink("loop2", s.path("html/loop1")).expect("loop");
    std::os::unix::fs::symlink("loop1", s.path("html/loop2")).expect("loop");
    assert_eq!(get(port, "/loop1", &[]).status, 403);
    // Dot segments: resolved first, then the slash rule applies.
    assert_eq!(get(port, "/file.txt/.", &[]).status, 404);
    assert_eq!(
        get(port, "/other/.", &[]).status,
        403,
        "a directory, slash implied"
    );
    let r = get(port, "/x/../other", &[]);
    assert_eq!(r.status, 301);
    assert_eq!(
        r.header("location"),
        Some(format!("http://localhost:{port}/other/").as_str())
    );
    let r = get(port, "//other", &[]);
    assert_eq!(
        r.header("location"),
        Some(format!("http://localhost:{port}/other/").as_str())
    );
    std::fs::create_dir_all(s.path("html/é dir")).expect("dir");
    let r = get(port, "/%C3%A9%20dir", &[]);
    assert_eq!(
        r.header("location"),
        Some(format!("http://localhost:{port}/%C3%A9%20dir/").as_str())
    );
    // 412 carries an error page like other errors.
    let r = get(port, "/file.txt", &[("If-Match", "\"nope\"")]);
    assert_eq!(r.status, 412);
    assert!(r.text().contains("412 Precondition Failed"), "{}", r.text());
    // Range units are case-insensitive.
    assert_eq!(
        get(port, "/file.txt", &[("Range", "Bytes=0-0")]).status,
        206
    );
}

#[test]
fn the_access_log_counts_bytes_actually_sent() {
    let (s, port) = serve("", "access_log_buffer = 0");
    let size = http::unbufferable_size();
    std::fs::write(s.path("html/big.bin"), vec![3u8; size]).expect("big");
    {
        let mut c = http::connect_small_window(port).expect("connect");
        use std::io::Write;
        c.write_all(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
            .expect("send");
        let mut some = [0u8; 4096];
        c.read_exact(&mut some).expect("a little");
    }
    let line = crate::support::wait_for("the aborted download's log line", || {
        std::fs::read_to_string(s.path("logs/access.log"))
            .ok()?
            .lines()
            .find(|l| l.contains("GET /big.bin"))
            .map(str::to_string)
    });
    let bytes: u64 = line
        .split('"')
        .nth(2)
        .and_then(|f| f.split_whitespace().nth(1))
        .and_then(|b| b.parse().ok())
        .expect("bytes field");
    assert!(
        (bytes as usize) < size,
        "logged {bytes} for an aborted download: {line}"
    );
}
