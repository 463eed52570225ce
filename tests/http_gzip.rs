use std::io::Read;
use std::time::Duration;

use crate::support::{Server, free_port, http};

/// A server with on-the-fly compression of JavaScript, brotli and zstd
/// offered too, plus `extra` settings.
fn serve(extra: &str) -> (Server, u16) {
    let port = free_port();
    let mut s = Server::new();
    s.config(&format!(
        "worker_processes = 1\n[[server]]\nlisten = [\"127.0.0.1:{port}\"]\n\
         gzip = true\ngzip_types = [\"application/javascript\"]\n\
         compress_extra = [\"br\", \"zstd\"]\n{extra}\n"
    ));
    std::fs::write(s.path("html/app.js"), js(0)).expect("app.js");
    s.start(port);
    (s, port)
}

/// Text that compresses like real JavaScript; `seed` changes every line
/// but not the length.
fn js(seed: u32) -> Vec<u8> {
    (0..2000u32)
        .flat_map(|i| {
            format!(
                "function f{i:04}(a) {{ return a * {:04} + b.v; }}\n",
                (i * 7 + seed) % 9973
            )
            .into_bytes()
        })
        .collect()
}

fn get(port: u16, path: &str, headers: &[(&str, &str)]) -> http::Response {
    http::request_with(port, "GET", path, headers).expect("request")
}

/// The body decoded as its Content-Encoding says.
fn decoded(r: &http::Response) -> Vec<u8> {
    let mut out = Vec::new();
    match r.header("content-encoding") {
        None => out.clone_from(&r.body),
        Some("gzip") => {
            flate2::read::GzDecoder::new(&r.body[..])
                .read_to_end(&mut out)
                .expect("gunzip");
        }
        Some("br") => brotli::BrotliDecompress(&mut &r.body[..], &mut out).expect("unbrotli"),
        Some("zstd") => out = zstd::stream::decode_all(&r.body[..]).expect("unzstd"),
        Some(other) => panic!("unexpected coding {other}"),
    }
    out
}

#[test]
fn each_coding_is_chosen_by_accept_encoding_and_decodes_to_the_file() {
    let (s, port) = serve("");
    let file = js(0);
    let cases: &[(&str, Option<&str>)] = &[
        ("gzip", Some("gzip")),
        ("br", Some("br")),
        ("zstd", Some("zstd")),
        ("gzip, deflate, br, zstd", Some("br")),
        ("gzip;q=1, br;q=0.5, zstd;q=0.2", Some("gzip")),
        ("zstd, gzip;q=0.9", Some("zstd")),
        ("x-gzip", Some("gzip")),
        ("*", Some("br")),
        ("br;q=0, *;q=0.5", Some("zstd")),
        ("gzip;q=0.5, identity", None),
        ("identity;q=0, deflate", None),
        ("*;q=0", None),
        ("gzip;q=0", None),
        ("deflate", None),
        ("", None),
    ];
    let mut tags = std::collections::HashMap::new();
    for (accept, want) in cases {
        let r = get(port, "/app.js", &[("Accept-Encoding", accept)]);
        assert_eq!(r.status, 200, "{accept}");
        assert_eq!(r.header("content-encoding"), *want, "{accept}");
        assert_eq!(r.header("vary"), Some("Accept-Encoding"), "{accept}");
        assert_eq!(r.header("content-type"), Some("application/javascript"));
        assert_eq!(
            r.header("content-length"),
            Some(r.body.len().to_string().as_str())
        );
        assert_eq!(decoded(&r), file, "{accept}");
        if want.is_some() {
            assert!(r.body.len() < file.len() / 3, "{accept}: compressed");
            assert_eq!(r.header("accept-ranges"), None, "{accept}");
        } else {
            assert_eq!(r.header("accept-ranges"), Some("bytes"));
        }
        let tag = r.header("etag").expect("etag").to_string();
        if let Some(old) = tags.insert(want.unwrap_or("identity"), tag.clone()) {
            assert_eq!(old, tag, "one entity tag per coding");
        }
    }
    // No header at all: the file as it is.
    let r = get(port, "/app.js", &[]);
    assert_eq!(
        (r.header("content-encoding"), r.body.len()),
        (None, file.len())
    );
    // Distinct strong tags: the file's, with the coding inside the quotes.
    let plain = tags["identity"].trim_end_matches('"').to_string();
    assert!(!plain.starts_with("W/"));
    for coding in ["gzip", "br", "zstd"] {
        assert_eq!(tags[coding], format!("{plain}-{coding}\""));
    }
    drop(s);
}

#[test]
fn types_lengths_and_the_switch() {
    let (s, port) = serve("gzip_min_length = 100");
    std::fs::write(s.path("html/tiny.js"), "var a = 1;".repeat(5)).expect("tiny");
    std::fs::write(s.path("html/page.html"), "<p>hello</p>\n".repeat(50)).expect("html");
    std::fs::write(s.path("html/notes.txt"), "plain text\n".repeat(50)).expect("txt");
    let big: Vec<u8> = js(1).repeat(13);
    std::fs::write(s.path("html/big.js"), &big).expect("big");
    let gz = [("Accept-Encoding", "gzip")];
    // Under gzip_min_length: as it is, but the type still varies.
    let r = get(port, "/tiny.js", &gz);
    assert_eq!(r.header("content-encoding"), None);
    assert_eq!(r.header("vary"), Some("Accept-Encoding"));
    // text/html is always compressed, as in nginx.
    let r = get(port, "/page.html", &gz);
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert_eq!(decoded(&r), "<p>hello</p>\n".repeat(50).as_bytes());
    // A type not listed: untouched, and no Vary.
    let r = get(port, "/notes.txt", &gz);
    assert_eq!(
        (r.header("content-encoding"), r.header("vary")),
        (None, None)
    );
    // Over the on-the-fly limit (1 MiB): streamed as it is.
    let r = get(port, "/big.js", &gz);
    assert_eq!(r.header("content-encoding"), None);
    assert_eq!(r.header("vary"), Some("Accept-Encoding"));
    assert_eq!(r.body, big);

    // Off (the default): nothing compressed, nothing varies.
    let port2 = free_port();
    let mut off = Server::new();
    off.config(&format!(
        "worker_processes = 1\n[[server]]\nlisten = [\"127.0.0.1:{port2}\"]\n"
    ));
    std::fs::write(off.path("html/page.html"), "<p>hello</p>\n".repeat(50)).expect("html");
    off.start(port2);
    let r = get(port2, "/page.html", &gz);
    assert_eq!(
        (r.header("content-encoding"), r.header("vary")),
        (None, None)
    );
}

#[test]
fn conditionals_head_and_ranges_per_form() {
    let (_s, port) = serve("");
    let file = js(0);
    let r = get(port, "/app.js", &[("Accept-Encoding", "gzip")]);
    let gz_tag = r.header("etag").expect("etag").to_string();
    let plain = get(port, "/app.js", &[]);
    let plain_tag = plain.header("etag").expect("etag").to_string();

    // 304 for the form the tag names, with its Vary and tag.
    let r = get(
        port,
        "/app.js",
        &[("Accept-Encoding", "gzip"), ("If-None-Match", &gz_tag)],
    );
    assert_eq!(r.status, 304);
    assert_eq!(r.header("etag"), Some(gz_tag.as_str()));
    assert_eq!(r.header("vary"), Some("Accept-Encoding"));
    assert!(r.body.is_empty());
    // Another form is another representation: 200.
    let r = get(
        port,
        "/app.js",
        &[("Accept-Encoding", "br"), ("If-None-Match", &gz_tag)],
    );
    assert_eq!((r.status, r.header("content-encoding")), (200, Some("br")));
    let r = get(
        port,
        "/app.js",
        &[("Accept-Encoding", "gzip"), ("If-None-Match", &plain_tag)],
    );
    assert_eq!(r.status, 200);
    let r = get(port, "/app.js", &[("If-None-Match", &plain_tag)]);
    assert_eq!(r.status, 304);

    // HEAD: the headers of the GET, without the body.
    for accept in ["gzip", "br", "zstd", "identity"] {
        let ae = [("Accept-Encoding", accept)];
        let g = get(port, "/app.js", &ae);
        let h = http::request_with(port, "HEAD", "/app.js", &ae).expect("head");
        assert_eq!(h.status, 200);
        assert!(h.body.is_empty());
        for name in [
            "content-length",
            "content-encoding",
            "etag",
            "vary",
            "content-type",
        ] {
            assert_eq!(h.header(name), g.header(name), "{accept}: {name}");
        }
    }

    // A range is served from the file as it is.
    let ae_range = [("Accept-Encoding", "gzip, br"), ("Range", "bytes=0-9")];
    let r = get(port, "/app.js", &ae_range);
    assert_eq!(r.status, 206);
    assert_eq!(r.header("content-encoding"), None);
    assert_eq!(r.header("vary"), Some("Accept-Encoding"));
    assert_eq!(r.header("etag"), Some(plain_tag.as_str()));
    assert_eq!(r.body, &file[..10]);
}

#[test]
fn a_file_rewritten_on_disk_is_compressed_again() {
    let (s, port) = serve("");
    let gz = [("Accept-Encoding", "gzip")];
    // Just written (not settled): compressed per request, and right.
    assert_eq!(decoded(&get(port, "/app.js", &gz)), js(0));
    // Settled: compressed once and kept.
    std::thread::sleep(Duration::from_millis(2200));
    let first = get(port, "/app.js", &gz);
    assert_eq!(decoded(&first), js(0));
    assert_eq!(decoded(&get(port, "/app.js", &gz)), js(0));
    // Same size, new bytes, written in place: never the old form.
    let path = s.path("html/app.js");
    std::fs::write(&path, js(1)).expect("rewrite");
    assert_eq!(js(0).len(), js(1).len());
    let r = get(port, "/app.js", &gz);
    assert_eq!(decoded(&r), js(1));
    assert_ne!(r.body, first.body);
    // Replaced by rename, once settled: the new one again.
    let tmp = s.path("html/app.js.tmp");
    std::fs::write(&tmp, js(2)).expect("write");
    std::fs::rename(&tmp, &path).expect("rename");
    assert_eq!(decoded(&get(port, "/app.js", &gz)), js(2));
    std::thread::sleep(Duration::from_millis(2200));
    for accept in ["gzip", "br", "zstd"] {
        let r = get(port, "/app.js", &[("Accept-Encoding", accept)]);
        assert_eq!(r.header("content-encoding"), Some(accept));
        assert_eq!(decoded(&r), js(2), "{accept}");
    }
    std::fs::write(&path, js(3)).expect("rewrite");
    assert_eq!(
        decoded(&get(port, "/app.js", &[("Accept-Encoding", "br")])),
        js(3)
    );
}

#[test]
fn a_precompressed_sibling_wins() {
    let (s, port) = serve("gzip_static = true");
    std::fs::write(s.path("html/app.js.gz"), "GZ").expect("gz");
    let r = get(port, "/app.js", &[("Accept-Encoding", "gzip")]);
    assert_eq!(
        (r.header("content-encoding"), r.text().as_str()),
        (Some("gzip"), "GZ")
    );
    assert_eq!(r.header("vary"), Some("Accept-Encoding"));
    // A coding the siblings do not have is still made on the fly.
    let r = get(port, "/app.js", &[("Accept-Encoding", "br")]);
    assert_eq!(r.header("content-encoding"), Some("br"));
    assert_eq!(decoded(&r), js(0));
}
