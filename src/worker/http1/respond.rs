//! Turning a request (or input that never became one) into the response
//! the pipeline (`crate::http`) gives, tracked as in flight on the
//! connection's activity clock until its body is done, and logged then
//! with the bytes actually handed to the connection.

use std::sync::Arc;

use bytes::Bytes;
use hyper::{Request, Response, StatusCode};

use super::super::client::Client;
use super::super::io::Activity;
use crate::clock;
use crate::http::replay::Replay;
use crate::http::{self, Body, Outcome};
use crate::log::access::Pending;

/// Answers a request whose framing passed (and whose body, if any, has
/// been read): the pipeline's response, tracked and logged.
pub fn answer<B>(c: &Client, req: &Request<B>, activity: &Arc<Activity>) -> Response<Body> {
    let mut out = http::handle(&c.ctx.site, c.listen, c.peer, req, c.drain.lifecycle());
    finish(c, &mut out, activity, |status| {
        Pending::for_request(req, c.peer, status)
    });
    out.response
}

/// Answers a request with the pipeline's response `out`, made while
/// planning it (`http::replay`): tracked and logged as `answer` does.
pub fn filled<B>(
    c: &Client,
    req: &Request<B>,
    mut out: Outcome,
    activity: &Arc<Activity>,
) -> Response<Body> {
    finish(c, &mut out, activity, |status| {
        Pending::for_request(req, c.peer, status)
    });
    out.response
}

/// Answers a request from a kept head (`http::replay`): tracked and
/// logged as the full answer would be.
/// `line` makes its access-log line, if its server logs.
pub fn replayed(
    c: &Client,
    r: Replay,
    activity: &Arc<Activity>,
    line: impl FnOnce(u16) -> Pending,
) -> (Response<Body>, Bytes, usize) {
    let mut out = Outcome {
        response: Response::new(r.body),
        server: r.server,
    };
    finish(c, &mut out, activity, line);
    (out.response, r.head, r.date_at)
}

/// Answers a request the worker refuses (bad framing, too large).
pub fn refuse<B>(
    c: &Client,
    req: &Request<B>,
    status: StatusCode,
    activity: &Arc<Activity>,
) -> Response<Body> {
    let mut out = http::refuse(&c.ctx.site, c.listen, req, status);
    finish(c, &mut out, activity, |status| {
        Pending::for_request(req, c.peer, status)
    });
    out.response
}

/// Answers input that never became a request (a head that does not parse,
/// one over the limits) with the listen's default server's error page,
/// logged there with `"-"` for the request, as nginx logs its 400s; the
/// connection closes after it.
pub fn reject(c: &Client, status: StatusCode, activity: &Arc<Activity>) -> Response<Body> {
    let mut out = http::reject(&c.ctx.site, c.listen, status);
    // Logged with the status asked for, whatever error page answers it.
    finish(c, &mut out, activity, |_| {
        Pending::without_request(c.peer, status.as_u16())
    });
    out.response
}

/// Tracks `out` as in flight until its body is done, then writes its
/// access-log line (made by `line` only if its server logs at all).
fn finish(
    c: &Client,
    out: &mut Outcome,
    activity: &Arc<Activity>,
    line: impl FnOnce(u16) -> Pending,
) {
    activity.response_started();
    let activity = Arc::clone(activity);
    let server = out.server.index();
    let status = out.response.status().as_u16();
    // Timed from the reading the request's head arrived at, to one taken
    // when the body is done, which also stamps the connection and dates
    // the log line.
    let started = clock::recent();
    if c.ctx.logs.for_server(server).is_none() {
        out.response.body_mut().on_done(Box::new(move |sent| {
            let done = clock::now();
            activity.response_done_at(done);
            crate::metrics::response(status, sent, done.saturating_duration_since(started));
        }));
        return;
    }
    let ctx = Arc::clone(&c.ctx);
    let pending = line(status);
    out.response.body_mut().on_done(Box::new(move |sent| {
        let done = clock::now();
        activity.response_done_at(done);
        crate::metrics::response(status, sent, done.saturating_duration_since(started));
        if let Some(log) = ctx.logs.for_server(server) {
            pending.write(log, sent, clock::wall_at(done));
        }
    }));
}
