//! The early look at a whole GET or HEAD head, before any `Request` is
//! built of it: most requests for a file the open-file cache holds a
//! head for are answered from httparse's output alone (`replay::early`
//! routes and plans from what routing reads), without a `Uri`, a
//! `HeaderMap` or the head copied out of the buffer. That is the whole
//! work of a request for a small file besides the system calls.
//!
//! The look is taken only where its answer is the full pipeline's: a
//! head with anything that would make the full way answer otherwise or
//! refuse it (a framing header, Expect, a Host missing or repeated, a
//! target or line `http` might refuse or the limits would, a request
//! line not in origin form) is left to the full way untouched. A head it
//! routed and looked up but cannot replay goes on from that route and
//! lookup ([`Left::Prepared`]), so nothing is done twice.

use std::sync::Arc;

use hyper::Uri;
use hyper::header::HeaderValue;

use super::super::client::Client;
use super::super::io::Activity;
use super::keep_alive::keep_alive_given;
use super::request_head::Raw;
use super::{Answer, respond};
use crate::config::Limits;
use crate::http::replay::{self, Ask, Early, Prepared};
use crate::http::route::Parts;
use crate::log::access::Pending;

/// What the early look left for the full way.
#[derive(Debug, Default)]
pub(super) enum Left<'a> {
    /// It did not look (or the head is not one it takes): plan in full.
    #[default]
    NotLooked,
    /// It planned: answer in full, without planning again.
    Full,
    /// It routed and looked up the file: go on from there (boxed: only the
    /// first request of a file version, or one that cannot be replayed,
    /// comes this way).
    Prepared(Box<Prepared<'a>>),
}

/// What the look reads of a head's header lines.
#[derive(Default)]
struct Lines<'b> {
    host: Option<&'b [u8]>,
    hosts: usize,
    conditional: bool,
    encoded: bool,
    referer: Option<&'b [u8]>,
    user_agent: Option<&'b [u8]>,
}

/// Answers `raw` from a kept head, or says what is left for the full way.
pub(super) fn look<'a>(
    c: &'a Client,
    raw: &Raw<'_>,
    activity: &Arc<Activity>,
) -> Result<Answer, Left<'a>> {
    let limits = c.ctx.limits();
    let Some((lines, path)) = read(raw, limits) else {
        return Err(Left::NotLooked);
    };
    let Some(host) = lines.host.and_then(|h| std::str::from_utf8(h).ok()) else {
        return Err(Left::NotLooked);
    };
    let connection = raw
        .headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("connection"))
        .map(|h| h.value);
    // The full way counts the request first, then checks the limit.
    let keep_alive = keep_alive_given(raw.version, connection)
        && u64::from(activity.requests()) + 1 < limits.keepalive_requests;
    let ask = Ask {
        parts: Parts {
            method: raw.method,
            version: raw.version,
            host: Some(host.into()),
            path,
        },
        conditional: lines.conditional,
        encoded: lines.encoded,
    };
    let conn = replay::Conn {
        version: raw.version,
        keep_alive,
    };
    let life = c.drain.lifecycle();
    let r = match replay::early(&c.ctx.site, c.listen, c.peer, &ask, conn, life) {
        Early::Replay(r) => r,
        Early::Prepared(p) => return Err(Left::Prepared(Box::new(p))),
        Early::Full => return Err(Left::Full),
    };
    // As the full way's start: counted, and its head no longer pending.
    activity.request_in();
    activity.request_started();
    let line = |status| {
        let uri = Uri::try_from(raw.target).unwrap_or_default();
        let value = |v: Option<&[u8]>| v.and_then(|v| HeaderValue::from_bytes(v).ok());
        let request = (raw.method.clone(), uri, raw.version);
        let (referer, user_agent) = (value(lines.referer), value(lines.user_agent));
        let agents = (referer.as_ref(), user_agent.as_ref());
        Pending::for_parts(request, agents, c.peer, status)
    };
    let (resp, head, date_at) = respond::replayed(c, r, activity, line);
    Ok(Answer {
        resp,
        keep_alive,
        version: raw.version,
        refused: false,
        kept: Some((head, date_at)),
        slot: None,
    })
}

/// The header lines of `raw` and its target's path, if the look takes
/// it (see the module's comment).
fn read<'b>(raw: &Raw<'b>, limits: &Limits) -> Option<(Lines<'b>, &'b str)> {
    // Every line shorter than the whole head: none is over the limits,
    // nor over the lengths `http` takes.
    if raw.len > limits.large_header_size.min(HTTP_MAX_LEN)
        || !raw.target.bytes().all(plain_target_byte)
    {
        return None;
    }
    let path = match raw.target.split_once('?') {
        Some((path, _)) => path,
        None => raw.target,
    };
    if !path.starts_with('/') {
        return None;
    }
    let mut lines = Lines::default();
    for h in raw.headers {
        let name = h.name.as_bytes();
        let is = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
        match name.len() {
            4 if is("host") => {
                lines.host = Some(h.value);
                lines.hosts += 1;
            }
            5 if is("range") => lines.conditional = true,
            6 if is("expect") => return None,
            // The first, as `HeaderMap::get` gives the full way's log.
            7 if is("referer") => _ = lines.referer.get_or_insert(h.value),
            8 if is("if-match") || is("if-range") => lines.conditional = true,
            10 if is("user-agent") => _ = lines.user_agent.get_or_insert(h.value),
            13 if is("if-none-match") => lines.conditional = true,
            14 if is("content-length") => return None,
            15 if is("accept-encoding") => lines.encoded = true,
            17 if is("if-modified-since") => lines.conditional = true,
            17 if is("transfer-encoding") => return None,
            19 if is("if-unmodified-since") => lines.conditional = true,
            _ => {}
        }
        if !h.name.bytes().all(name_byte) {
            return None;
        }
    }
    (lines.hosts == 1).then_some((lines, path))
}

/// The shortest length `http` refuses to build of a head's parts: a
/// `Uri` (target) longer than 65534 bytes, a `HeaderName` longer than
/// 65535. large_client_header_buffers allows lines up to 1m, and the full
/// way refuses those heads (400), so a longer head is left to it.
const HTTP_MAX_LEN: usize = u16::MAX as usize - 1;

/// A byte of a target `http::Uri` takes as httparse does, and which
/// means the same to both: unreserved, sub-delims, `:@/?%`.
fn plain_target_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?%".contains(&b)
}

/// A byte of a header name `http::HeaderName` takes (RFC 9110 token).
fn name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests;
