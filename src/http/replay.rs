//! Which requests a kept response head answers: a GET or HEAD of a file,
//! with no precondition or Range, whose head is fixed by the file version
//! and by things the head's key holds (`cache::HeadKey`: the settings that
//! answer, the method, the protocol version and keep-alive). Such a
//! request costs a route, a stat (none within `open_file_cache_valid`)
//! and a copy of the head, not a response built and rendered.
//!
//! The head itself is only ever the full pipeline's: the first request of
//! a kind is answered by the rest of it (`lookup::file`, then the steps
//! `handle` ends with) from the plan's own route and lookup, so nothing is
//! routed or stat'ed twice, and its rendered head is offered back
//! through a [`Slot`], which keeps it only if the response is what a
//! replay would stand for (a whole 200 of exactly the version the slot
//! was planned for). Left out, so always answered in full: locations with
//! precompressed siblings (a sibling appearing changes `Vary` without
//! changing the file), an `expires` that moves with the clock, health and
//! status pages, a draining worker, and a request with Accept-Encoding
//! for a response that varies by it.

#[cfg(test)]
mod tests;

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
use super::{Body, Lifecycle, Outcome, ServerId, Site, lookup, route, static_file};
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
    /// Answered in full (from the route and lookup the plan made); its
    /// head may then be kept.
    Fill(Outcome, Slot),
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

/// What planning reads of a request: enough to plan one whose `Request`
/// was never built (the HTTP/1 reader's early look), the same way as one
/// that was.
#[derive(Debug)]
pub struct Ask<'r> {
    /// What routing reads.
    pub parts: route::Parts<'r>,
    /// It carries a precondition or Range (see `CONDITIONAL`).
    pub conditional: bool,
    /// It carries Accept-Encoding.
    pub encoded: bool,
}

impl<'r> Ask<'r> {
    /// What planning reads of `req`.
    pub fn of<B>(req: &'r Request<B>) -> Self {
        let h = req.headers();
        Ask {
            parts: route::Parts::of(req),
            conditional: CONDITIONAL.iter().any(|n| h.contains_key(n)),
            encoded: h.contains_key(ACCEPT_ENCODING),
        }
    }
}

/// How a request is answered, decided before its `Request` is needed.
#[derive(Debug)]
pub enum Early<'a> {
    /// From a kept head.
    Replay(Replay),
    /// In full, from the route and lookup made here (see [`Prepared`]).
    Prepared(Prepared<'a>),
    /// In full.
    Full,
}

/// A request routed and its file looked up, but no kept head answers it:
/// the rest of the full pipeline goes on from here ([`Prepared::fill`]),
/// so nothing is routed or stat'ed twice.
#[derive(Debug)]
pub struct Prepared<'a> {
    routed: route::Routed<'a>,
    target: Target<'a>,
    slot: Slot,
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
    match early(site, listen, remote, &Ask::of(req), conn, life) {
        Early::Replay(r) => Plan::Replay(r),
        Early::Prepared(p) => p.fill(site, req, life),
        Early::Full => Plan::Full,
    }
}

/// How to answer a request of which `ask` is what planning reads (see
/// [`plan`]).
pub fn early<'a>(
    site: &'a Site,
    listen: SocketAddr,
    remote: IpAddr,
    ask: &Ask<'_>,
    conn: Conn,
    life: Lifecycle,
) -> Early<'a> {
    let method = ask.parts.method;
    // Without an open-file cache nothing is ever kept: planning would
    // only add a route and a stat to every request.
    if life.closing
        || !site.cache.enabled()
        || (method != Method::GET && method != Method::HEAD)
        || ask.conditional
    {
        return Early::Full;
    }
    let Some(routed) = route::route_parts(site, listen, &ask.parts) else {
        return Early::Full;
    };
    let s = routed.settings;
    let rel = match &routed.path {
        Ok(rel) if !rel.trailing_slash => rel,
        _ => return Early::Full,
    };
    if routed.bad_host
        || !fixed_head(s)
        || super::https_port(&routed, listen).is_some()
        || !super::allows(&routed, remote)
    {
        return Early::Full;
    }
    let target = Target::new(&s.root, &rel.relative, s.disable_symlinks);
    let key = HeadKey {
        settings: std::ptr::from_ref(s) as usize,
        flags: flags(method, conn),
    };
    let encoded = ask.encoded;
    let (meta, kept) = match site.cache.stat_head(&target, key, encoded) {
        Ok((m, kept)) if m.is_file => (m, kept),
        _ => return Early::Full,
    };
    // HEAD too needs the kept bytes or descriptor: they prove the file
    // was readable, which a stat alone does not (a file made unreadable
    // within `open_file_cache_valid` is a 403 in full, never a 200 here).
    let replay = kept.and_then(|k| {
        let body = match (k.body, k.file) {
            (None, None) => return None,
            _ if *method == Method::HEAD => Body::empty(),
            (Some(b), _) => Body::bytes(b),
            (None, Some(f)) => Body::file(f, 0, meta.len),
        };
        Some((k.head, body))
    });
    let Some((head, body)) = replay else {
        let slot = Slot {
            path: PathBuf::new(),
            meta,
            key,
            encoded,
        };
        return Early::Prepared(Prepared {
            routed,
            target,
            slot,
        });
    };
    crate::metrics::count(crate::metrics::Counter::HeadReplays);
    Early::Replay(Replay {
        head: head.bytes,
        date_at: head.date_at,
        body,
        server: routed.server,
    })
}

impl Prepared<'_> {
    /// The rest of the full pipeline for `req`, the request this was
    /// prepared for, from the lookup just made: its head may then be kept.
    pub fn fill<B>(self, site: &Site, req: &Request<B>, life: Lifecycle) -> Plan {
        let Prepared {
            routed,
            target,
            mut slot,
        } = self;
        let s = routed.settings;
        let result = lookup::file(site, s, &target, &slot.meta, req);
        let out = super::complete(site, &routed, req, life, result);
        slot.path = target.into_path();
        Plan::Fill(out, slot)
    }
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
