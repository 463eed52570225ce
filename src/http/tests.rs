//! The request pipeline called in process: a built request, a temporary
//! docroot, no sockets, no worker. Each test reads what `handle` answers,
//! headers and body bytes.

use std::net::SocketAddr;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hyper::{Method, Request, StatusCode};

use super::body::Part;
use super::{Lifecycle, Outcome, Site, handle};
use crate::config::{self, Source};

/// The client of the in-process requests.
const LOCAL: std::net::IpAddr = std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

const LISTEN: &str = "127.0.0.1:8080";

/// A docroot under the temp directory, removed when dropped.
struct Docroot {
    prefix: PathBuf,
}

impl Docroot {
    fn new(name: &str) -> Self {
        let prefix =
            std::env::temp_dir().join(format!("moltd-inproc-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&prefix);
        std::fs::create_dir_all(prefix.join("html/dir")).expect("docroot");
        std::fs::create_dir_all(prefix.join("other")).expect("second root");
        std::fs::write(prefix.join("html/hello.txt"), "hello, world\n").expect("file");
        std::fs::write(prefix.join("html/dir/index.html"), "<p>index</p>\n").expect("index");
        std::fs::write(prefix.join("other/hello.txt"), "other host\n").expect("file");
        Docroot { prefix }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.prefix.join(rel)
    }

    /// A site serving `html` for any host and `other` for `other.test`.
    fn site(&self) -> Site {
        let text = format!(
            "[[server]]\nlisten = [\"{LISTEN}\"]\n\n\
             [[server]]\nlisten = [\"{LISTEN}\"]\nserver_name = [\"other.test\"]\nroot = \"other\"\n"
        );
        let cfg =
            config::parse(&text, Source::File(self.path("t.toml")), &self.prefix).expect("config");
        Site::new(Arc::new(cfg))
    }
}

impl Drop for Docroot {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.prefix);
    }
}

fn get(site: &Site, uri: &str, headers: &[(&str, &str)]) -> Outcome {
    request(site, Method::GET, uri, headers)
}

fn request(site: &Site, method: Method, uri: &str, headers: &[(&str, &str)]) -> Outcome {
    let mut b = Request::builder()
        .method(method)
        .uri(uri)
        .header("host", "localhost");
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let req = b.body(()).expect("request");
    let listen: SocketAddr = LISTEN.parse().expect("listen");
    handle(site, listen, LOCAL, &req, Lifecycle::SERVING)
}

/// The body's bytes, file parts read from their file.
fn body_bytes(out: &mut Outcome) -> Vec<u8> {
    let mut bytes = Vec::new();
    while let Some(part) = out.response.body_mut().take_part() {
        match part {
            Part::Bytes(b) => bytes.extend_from_slice(&b),
            Part::File {
                file,
                offset,
                remaining,
            } => {
                let mut buf = vec![0; remaining as usize];
                file.read_exact_at(&mut buf, offset).expect("read part");
                bytes.extend_from_slice(&buf);
            }
        }
    }
    bytes
}

fn header<'a>(out: &'a Outcome, name: &str) -> Option<&'a str> {
    out.response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
}

#[test]
fn get_answers_200_with_the_bytes_and_their_type() {
    let d = Docroot::new("get");
    let site = d.site();
    let mut out = get(&site, "/hello.txt", &[]);
    assert_eq!(out.response.status(), StatusCode::OK);
    assert_eq!(header(&out, "content-type"), Some("text/plain"));
    assert_eq!(header(&out, "content-length"), Some("13"));
    assert!(header(&out, "etag").is_some_and(|e| e.starts_with('"')));
    assert_eq!(body_bytes(&mut out), b"hello, world\n");
    assert_eq!(out.server.index(), 0);
}

#[test]
fn head_has_the_headers_of_get_and_no_body() {
    let d = Docroot::new("head");
    let site = d.site();
    let mut out = request(&site, Method::HEAD, "/hello.txt", &[]);
    assert_eq!(out.response.status(), StatusCode::OK);
    assert_eq!(header(&out, "content-length"), Some("13"));
    assert!(body_bytes(&mut out).is_empty());
}

#[test]
fn a_matching_if_none_match_is_304_without_a_body() {
    let d = Docroot::new("inm");
    let site = d.site();
    let first = get(&site, "/hello.txt", &[]);
    let tag = header(&first, "etag").expect("etag").to_string();
    let mut out = get(&site, "/hello.txt", &[("if-none-match", &tag)]);
    assert_eq!(out.response.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(header(&out, "etag"), Some(tag.as_str()));
    assert!(body_bytes(&mut out).is_empty());
}

#[test]
fn a_range_is_206_with_its_bytes() {
    let d = Docroot::new("range");
    let site = d.site();
    let mut out = get(&site, "/hello.txt", &[("range", "bytes=7-11")]);
    assert_eq!(out.response.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(header(&out, "content-range"), Some("bytes 7-11/13"));
    assert_eq!(header(&out, "content-length"), Some("5"));
    assert_eq!(body_bytes(&mut out), b"world");
}

#[test]
fn a_range_past_the_end_is_416_with_the_length() {
    let d = Docroot::new("416");
    let site = d.site();
    let out = get(&site, "/hello.txt", &[("range", "bytes=100-")]);
    assert_eq!(out.response.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(header(&out, "content-range"), Some("bytes */13"));
}

#[test]
fn a_missing_file_is_404() {
    let d = Docroot::new("404");
    let site = d.site();
    let out = get(&site, "/nope.txt", &[]);
    assert_eq!(out.response.status(), StatusCode::NOT_FOUND);
}

#[test]
fn a_directory_without_its_slash_is_redirected() {
    let d = Docroot::new("301");
    let site = d.site();
    let out = get(&site, "/dir?x=1", &[]);
    assert_eq!(out.response.status(), StatusCode::MOVED_PERMANENTLY);
    assert_eq!(
        header(&out, "location"),
        Some("http://localhost:8080/dir/?x=1")
    );
}

#[test]
fn a_directory_is_answered_by_its_index_file() {
    let d = Docroot::new("index");
    let site = d.site();
    let mut out = get(&site, "/dir/", &[]);
    assert_eq!(out.response.status(), StatusCode::OK);
    assert_eq!(header(&out, "content-type"), Some("text/html"));
    assert_eq!(body_bytes(&mut out), b"<p>index</p>\n");
}

#[test]
fn the_host_chooses_the_server() {
    let d = Docroot::new("vhost");
    let site = d.site();
    let req = Request::builder()
        .uri("/hello.txt")
        .header("host", "Other.Test:8080")
        .body(())
        .expect("request");
    let listen: SocketAddr = LISTEN.parse().expect("listen");
    let mut out = handle(&site, listen, LOCAL, &req, Lifecycle::SERVING);
    assert_eq!(out.server.index(), 1);
    assert_eq!(body_bytes(&mut out), b"other host\n");
    // Unknown names go to the default (first) server.
    let mut out = get(&site, "/hello.txt", &[]);
    assert_eq!(out.server.index(), 0);
    assert_eq!(body_bytes(&mut out), b"hello, world\n");
}

#[test]
fn routing_names_the_server_and_the_settings_that_apply() {
    let d = Docroot::new("route");
    let site = d.site();
    let req = Request::builder()
        .uri("/a/../hello.txt")
        .header("host", "other.test")
        .body(())
        .expect("request");
    let listen: SocketAddr = LISTEN.parse().expect("listen");
    let routed = super::route::route(&site, listen, &req).expect("routed");
    assert_eq!(routed.server.index(), 1);
    assert_eq!(routed.settings.root, d.path("other"));
    assert_eq!(
        routed.path.as_ref().map(|p| p.relative.clone()).ok(),
        Some(Path::new("hello.txt").to_path_buf())
    );
}
