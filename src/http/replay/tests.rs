//! Planning in process: a miss is answered in full from the plan's own
//! lookup, its head kept only for the version that lookup found, and a
//! hit replays it with the kept bytes.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use hyper::{Method, Request, Version};

use super::{Conn, Plan, plan};
use crate::config::{self, Source};
use crate::http::{Body, Lifecycle, Site};
use crate::scratch::Scratch;

const LOCAL: std::net::IpAddr = std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
const LISTEN: &str = "127.0.0.1:8080";

/// A site over `html` under `dir`, stats trusted for a minute and bodies
/// kept at once.
fn site(dir: &Scratch) -> Site {
    let text = format!(
        "open_file_cache_valid = \"60s\"\n[[server]]\nlisten = [\"{LISTEN}\"]\nroot = \"html\"\n"
    );
    let cfg = config::parse(&text, Source::File(dir.join("t.toml")), dir).expect("config");
    let mut site = Site::new(Arc::new(cfg));
    site.cache.settle_at_once();
    site
}

fn file(dir: &Scratch, name: &str) -> PathBuf {
    dir.join("html").join(name)
}

fn plan_get(site: &Site, uri: &str) -> Plan {
    let req = Request::builder()
        .method(Method::GET)
        .uri(uri)
        .header("host", "localhost")
        .body(())
        .expect("request");
    let conn = Conn {
        version: Version::HTTP_11,
        keep_alive: true,
    };
    let listen: SocketAddr = LISTEN.parse().expect("listen");
    plan(site, listen, LOCAL, &req, conn, Lifecycle::SERVING)
}

fn bytes(body: &mut Body) -> Vec<u8> {
    body.read_all().expect("read parts")
}

#[test]
fn a_miss_is_answered_in_full_and_its_head_then_replayed_with_the_same_bytes() {
    let dir = Scratch::new("replay-miss-hit", &["html"]);
    let site = site(&dir);
    std::fs::write(file(&dir, "a.txt"), "one\n").expect("write");
    let Plan::Fill(mut out, slot) = plan_get(&site, "/a.txt") else {
        panic!("a first request is answered in full");
    };
    assert_eq!(out.response.status(), 200);
    assert_eq!(bytes(out.response.body_mut()), b"one\n");
    slot.keep(&site, &out.response, Bytes::from_static(b"HEAD\r\n\r\n"), 4);
    let Plan::Replay(mut r) = plan_get(&site, "/a.txt") else {
        panic!("the kept head is replayed");
    };
    assert_eq!((&r.head[..], r.date_at), (&b"HEAD\r\n\r\n"[..], 4));
    assert_eq!(bytes(&mut r.body), b"one\n");
}

/// The plan trusts a stat made before the file changed: the full answer
/// is the file it actually read (headers and bytes of one version), and
/// its head is not kept for the version the plan believed in.
#[test]
fn a_file_changed_after_the_plans_lookup_never_gets_the_wrong_head() {
    let dir = Scratch::new("replay-changed", &["html"]);
    let site = site(&dir);
    let path = file(&dir, "b.txt");
    std::fs::write(&path, "old\n").expect("write");
    let root = dir.join("html");
    let old = crate::http::resolve::Target::new(&root, "b.txt".as_ref(), false);
    site.cache.stat(&old).expect("stat");
    std::fs::write(&path, "a new version\n").expect("rewrite");
    for _ in 0..3 {
        let Plan::Fill(mut out, slot) = plan_get(&site, "/b.txt") else {
            panic!("no head may stand for a version never read");
        };
        let len = out.response.headers().get("content-length").cloned();
        assert_eq!(bytes(out.response.body_mut()), b"a new version\n");
        assert_eq!(len.as_ref().map(|v| v.as_bytes()), Some(&b"14"[..]));
        slot.keep(
            &site,
            &out.response,
            Bytes::from_static(b"STALE\r\n\r\n"),
            5,
        );
    }
}
