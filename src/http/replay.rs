//! Which requests a kept response head answers: a GET or HEAD of a file,
//! with no precondition or Range, whose head is fixed by the file version
//! and by things the head's key holds (`cache::HeadKey`: the settings that
//! answer, the method, the protocol version and keep-alive). Such a
//! request costs a route, a stat (none within `open_file_cache_valid`)
//! and a copy of the head, not a response built and rendered.
//!
//! The head itself is only ever the full pipeline's: the first request of
//! a kind is answered by `handle`, and its rendered head is offered back
//! through a [`Slot`], which keeps it only if the response is what a
//! replay would stand for (a whole 200 of exactly the version the slot
//! was planned for). Left out, so always answered in full: locations with
//! precompressed siblings (a sibling appearing changes `Vary` without
//! changing the file), an `expires` that moves with the clock, health and
//! status pages, a draining worker, and a request with Accept-Encoding
//! for a response that varies by it.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use bytes::Bytes;
use hyper::header::{
    ACCEPT_ENCODING, CONNECTION, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_RANGE, ETAG, HeaderName,
    IF_MATCH, IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_RANGE, IF_UNMODIFIED_SINCE, RANGE, VARY,
};
use hyper::{Method, Request, Response, StatusCode, Version};

use super::cache::{Head, HeadKey, Meta};
use super::resolve::Target;
use super::{Body, Lifecycle, ServerId, Site, route, static_file};
use crate::config::{Expires, Settings};

/// Request headers that make the answer depend on more than the version.
const CONDITIONAL: [HeaderName; 6] = [
    IF_MATCH,
    IF_NONE_MATCH,
    IF_MODIFIED_SINCE,
    IF_UNMODIFIED_SINCE,
    IF_RANGE,
    RANGE,
];

/// What the connection adds to a head.
#[derive(Debug, Clone, Copy)]
pub struct Conn {
    /// The request's protocol version (the status line's).
    pub version: Version,
    /// The connection stays open after this response.
    pub keep_alive: bool,
}

/// A request answered by a kept head.
#[derive(Debug)]
pub struct Replay {
    /// The head, without `Date`.
    pub head: Bytes,
    /// Where the `Date` line goes in `head`.
    pub date_at: usize,
    /// The body (empty for HEAD).
    pub body: Body,
    /// The server that answers (for its access log).
    pub server: ServerId,
}

/// Where a head rendered from the full answer may be kept.
#[derive(Debug)]
pub struct Slot {
    path: PathBuf,
    meta: Meta,
    key: HeadKey,
    /// The request carried Accept-Encoding.
    encoded: bool,
}

/// How to answer a request.
#[derive(Debug)]
pub enum Plan {
    /// From a kept head.
    Replay(Replay),
    /// In full; its head may then be kept.
    Fill(Slot),
    /// In full.
    Full,
}

/// The head of a response under `s` is fixed by the file version and the
/// head's key.
fn fixed_head(s: &Settings) -> bool {
    !s.health
        && s.status.is_none()
        && !s.gzip_static
        && !s.brotli_static
        && matches!(s.expires, Expires::Off | Expires::Epoch | Expires::Max)
}

fn flags(method: &Method, conn: Conn) -> u8 {
    u8::from(method == Method::HEAD)
        | u8::from(conn.version == Version::HTTP_10) << 1
        | u8::from(conn.keep_alive) << 2
}

/// How to answer `req`, which arrived on `listen` from `remote`, on a
/// connection that adds `conn`, at the worker's point in its `life`.
pub fn plan<B>(
    site: &Site,
    listen: SocketAddr,
    remote: IpAddr,
    req: &Request<B>,
    conn: Conn,
    life: Lifecycle,
) -> Plan {
    let method = req.method();
    let h = req.headers();
    // Without an open-file cache nothing is ever kept: planning would
    // only add a route and a stat to every request.
    if life.closing
        || !site.cache.enabled()
        || (method != Method::GET && method != Method::HEAD)
        || CONDITIONAL.iter().any(|n| h.contains_key(n))
    {
        return Plan::Full;
    }
    let Some(routed) = route::route(site, listen, req) else {
        return Plan::Full;
    };
    let s = routed.settings;
    let rel = match &routed.path {
        Ok(rel) if !rel.trailing_slash => rel,
        _ => return Plan::Full,
    };
    if routed.bad_host
        || !fixed_head(s)
        || super::https_port(&routed, listen).is_some()
        || !super::allows(&routed, remote)
    {
        return Plan::Full;
    }
    let target = Target::new(&s.root, &rel.relative, s.disable_symlinks);
    let key = HeadKey {
        settings: std::ptr::from_ref(s) as usize,
        flags: flags(method, conn),
    };
    let encoded = h.contains_key(ACCEPT_ENCODING);
    let (meta, kept) = match site.cache.stat_head(&target, key, encoded) {
        Ok((m, kept)) if m.is_file => (m, kept),
        _ => return Plan::Full,
    };
    let fill = || {
        Plan::Fill(Slot {
            path: target.path().to_path_buf(),
            meta,
            key,
            encoded,
        })
    };
    let Some(kept) = kept else {
        return fill();
    };
    // HEAD too needs the kept bytes or descriptor: they prove the file
    // was readable, which a stat alone does not (a file made unreadable
    // within `open_file_cache_valid` is a 403 in full, never a 200 here).
    let body = match (kept.body, kept.file) {
        (None, None) => return fill(),
        _ if method == Method::HEAD => Body::empty(),
        (Some(b), _) => Body::bytes(b),
        (None, Some(f)) => Body::file(f, 0, meta.len),
    };
    crate::metrics::count(crate::metrics::Counter::HeadReplays);
    Plan::Replay(Replay {
        head: kept.head.bytes,
        date_at: kept.head.date_at,
        body,
        server: routed.server,
    })
}

impl Slot {
    /// Keeps `head` (without its `Date` line, which goes at `date_at`),
    /// rendered from `resp`, the full answer to the request this slot was
    /// planned for, if `resp` is a whole 200 of the version planned for:
    /// the only parts of a head a version decides are its length, ETag
    /// and Last-Modified (the same whole-second mtime as the ETag).
    pub fn keep(self, site: &Site, resp: &Response<Body>, head: Bytes, date_at: usize) {
        let h = resp.headers();
        let whole = resp.status() == StatusCode::OK
            && !h.contains_key(CONTENT_ENCODING)
            && !h.contains_key(CONTENT_RANGE)
            && !h.contains_key(CONNECTION);
        let same_version = h
            .get(CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() == self.meta.len.to_string().as_bytes())
            && h.get(ETAG)
                .is_some_and(|v| v.as_bytes() == static_file::etag(&self.meta).as_bytes());
        let any_encoding = !h.contains_key(VARY);
        if !whole || !same_version || (self.encoded && !any_encoding) || date_at > head.len() {
            return;
        }
        let kept = Head {
            key: self.key,
            bytes: head,
            date_at,
            any_encoding,
        };
        site.cache.keep_head(&self.path, &self.meta, kept);
    }
}
