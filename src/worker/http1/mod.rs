//! HTTP/1 on the wire, all of it: every request of a connection is parsed
//! here (`request_head.rs`, with `httparse`), its framing checked (`framing.rs`),
//! its body read and thrown away (`request_body.rs`; GET and HEAD may
//! carry one, other methods get 405), and the answer written by our own
//! writer (`response_head.rs` for the status line and headers, `send.rs` for the
//! body, file bodies with sendfile). Whether the connection stays open is
//! `keep_alive.rs`'s rule.
//!
//! hyper's HTTP/1 server is not used at all: its connection code writes
//! every body byte itself and cannot hand a file range to the kernel, so
//! there is no plain-vs-hyper choice to make; hyper's types (`Request`,
//! `Response`, `HeaderMap`) still carry the request through the pipeline.
//!
//! Input that is not a request (a head that does not parse, an HTTP/2
//! preface, a request line or head over the limits) gets an error page in
//! the same style as every other response, and the connection is closed;
//! so does a request whose framing is wrong (Content-Length with
//! Transfer-Encoding, two lengths, a coding other than chunked), answered
//! at once, before its body.

pub mod framing;
pub mod keep_alive;
pub mod read;
pub mod request_body;
pub mod request_head;
pub mod respond;
pub mod response_head;
pub mod send;
mod spare_input;

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use hyper::{Response, StatusCode, Version};
use socket2::SockRef;
use tokio::net::TcpStream;

use super::client::Client;
use super::io::{Activity, has_pending_input};
use crate::http::replay::{self, Plan, Slot};
use crate::http::{Body, Site};
use keep_alive::After;
use request_body::{BodyError, Framing, Socket, Source};
use request_head::{Head, Parsed};

/// How the connection ended.
#[derive(Debug)]
pub enum End {
    /// Finished cleanly (a response said close and the write side is
    /// shut): linger, then close.
    Done,
    /// The client left, or asked to close and has nothing more in flight:
    /// close now (no reset can destroy the last response).
    Close,
    /// A read or write failed: close at once.
    Broken,
}

/// A response about to go out, and what the connection does after it.
struct Answer {
    resp: Response<Body>,
    keep_alive: bool,
    version: Version,
    /// Refused or rejected: what follows in the stream cannot be trusted
    /// to start a request.
    refused: bool,
    /// A kept head to send instead of rendering `resp`'s (which then has
    /// no headers), and where its `Date` line goes.
    kept: Option<(Bytes, usize)>,
    /// Where `resp`'s head may be kept for replay.
    slot: Option<Slot>,
}

/// A connection's buffers: held only while a request is on its way in or
/// being answered, so an idle keep-alive connection holds none (as nginx
/// frees its buffers between requests).
struct Buffers {
    /// What the client sent and nobody has parsed yet.
    input: BytesMut,
    /// The response head being written.
    head: Vec<u8>,
    /// How far `input` has been searched for the end of a head: a head
    /// sent a byte at a time is scanned once, not parsed again on every
    /// byte.
    scanned: usize,
    /// The last read took all the socket held (it did not fill its space)
    /// and no body was read since: with `input` empty, a close loses
    /// nothing the client sent before its request was read, so no peek is
    /// needed to decide whether to linger.
    drained: bool,
}

/// The input buffer goes back to the worker's spares (`spare_input.rs`).
impl Drop for Buffers {
    fn drop(&mut self) {
        spare_input::give(std::mem::take(&mut self.input));
    }
}

/// Serves the connection's requests until it ends.
///
/// Written as a block capturing its arguments (an `async fn` would hold
/// them twice): this future sits in every idle connection's task.
#[allow(clippy::manual_async_fn)] // see above: not an `async fn` on purpose
pub fn serve_connection<'a>(
    c: &'a Client,
    stream: &'a TcpStream,
    activity: &'a Arc<Activity>,
) -> impl Future<Output = End> + Send + 'a {
    async move {
        loop {
            // Idle (fresh, or every request answered): nothing is
            // allocated until the client's next byte is there.
            if read::readable(stream).await.is_err() {
                return End::Broken;
            }
            // Boxed: the state of requests in progress (their buffers,
            // parsing, the body, the response on its way out) exists only
            // while they do, not in every idle connection's task.
            if let Some(end) = Box::pin(exchange(c, stream, activity)).await {
                return end;
            }
        }
    }
}

/// Serves requests while the client's bytes keep coming; `None` once the
/// connection is idle again (all it sent is answered), `Some` when it ends.
async fn exchange(c: &Client, stream: &TcpStream, activity: &Arc<Activity>) -> Option<End> {
    let max_head = c.ctx.limits().max_head().max(8192);
    let mut b = Buffers {
        input: spare_input::take(),
        head: Vec::new(),
        scanned: 0,
        drained: false,
    };
    let buf = &mut b.input;
    let space = buf.capacity() - buf.len();
    match read::read_now(stream, buf, activity) {
        // Woken with nothing there after all: idle again.
        Ok(None) => return None,
        // The client left.
        Ok(Some(0)) => return Some(End::Close),
        Ok(Some(got)) => b.drained = got < space,
        Err(_) => return Some(End::Broken),
    }
    let cap = c.ctx.limits().keepalive_requests;
    loop {
        let mut answer = match next_head(buf, &mut b.scanned) {
            Parsed::Request(p) => {
                // A body is read past the head: what follows it is unknown.
                b.drained &= p.framing == Framing::None;
                match answer_request(c, p, buf, stream, activity).await {
                    Ok(a) => a,
                    Err(end) => return Some(end),
                }
            }
            Parsed::Bad(status) => rejected(c, status, activity),
            Parsed::Partial if buf.len() >= max_head => {
                // A request line that never ends is 414 however long it
                // is; a head that does not end, 431.
                let status = if buf.contains(&b'\n') {
                    StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
                } else {
                    StatusCode::URI_TOO_LONG
                };
                rejected(c, status, activity)
            }
            // Every request answered and nothing more here.
            Parsed::Partial if buf.is_empty() => return None,
            Parsed::Partial => {
                if buf.capacity() - buf.len() < 1024 {
                    buf.reserve(4096);
                }
                let space = buf.capacity() - buf.len();
                match read::read(stream, buf, activity).await {
                    // The client left, perhaps with a head cut short.
                    Ok(0) => return Some(End::Close),
                    Ok(got) => b.drained = got < space,
                    Err(_) => return Some(End::Broken),
                }
                continue;
            }
        };
        // `keepalive_requests`: the last request allowed is told so.
        answer.keep_alive &= u64::from(activity.requests()) < cap;
        let site = &c.ctx.site;
        let read = (&*buf, b.drained);
        if let Some(end) = write_answer(answer, site, &mut b.head, read, stream, activity).await {
            return Some(end);
        }
        if !buf.is_empty() {
            // Part of the next head is already here: its
            // client_header_timeout runs from now.
            activity.read_some();
        }
        // Pipelined requests arriving as fast as they are answered must
        // not keep the worker's one thread from its other connections.
        tokio::task::coop::consume_budget().await;
    }
}

/// The next head in `buf`, if whole: a head that arrived whole (the usual
/// case) is parsed at once; one still arriving is parsed again only once
/// its end may be there.
fn next_head(buf: &mut BytesMut, scanned: &mut usize) -> Parsed {
    let parsed =
        if buf.is_empty() || (*scanned > 0 && !request_head::head_may_be_complete(buf, scanned)) {
            Parsed::Partial
        } else {
            match request_head::parse(buf) {
                Parsed::Partial => {
                    *scanned = (*scanned).max(buf.len());
                    Parsed::Partial
                }
                done => done,
            }
        };
    if !matches!(parsed, Parsed::Partial) {
        *scanned = 0;
    }
    parsed
}

/// Input that never became a request: answered, then closed.
fn rejected(c: &Client, status: StatusCode, activity: &Arc<Activity>) -> Answer {
    Answer {
        resp: respond::reject(c, status, activity),
        keep_alive: false,
        version: Version::HTTP_11,
        refused: true,
        kept: None,
        slot: None,
    }
}

/// Checks the framing of request `p`, reads its body if any, and answers
/// it; `Err` when the connection broke on the way.
async fn answer_request(
    c: &Client,
    p: Head,
    buf: &mut BytesMut,
    stream: &TcpStream,
    activity: &Arc<Activity>,
) -> Result<Answer, End> {
    activity.request_in();
    activity.request_started();
    let refusal = p
        .refuse
        .or_else(|| framing::framing_problem(&p.req, c.ctx.limits()));
    let outcome = match refusal {
        Some(status) => Err(status),
        // Boxed: most requests have no body, and the body reader's state
        // would otherwise sit in every connection's task, idle or not.
        None if p.framing == Framing::None => Ok(()),
        None => match Box::pin(body(&p, buf, stream, activity, c)).await {
            Ok(()) => Ok(()),
            Err(BodyError::Status(status)) => Err(status),
            Err(BodyError::Io) => return Err(End::Broken),
        },
    };
    let version = p.req.version();
    Ok(match outcome {
        Ok(()) => {
            // Body bytes are not the next head.
            activity.request_started();
            answered(c, &p, activity)
        }
        // Answered at once and closed: what follows in the stream cannot
        // be trusted to start a request.
        Err(status) => Answer {
            resp: respond::refuse(c, &p.req, status, activity),
            keep_alive: false,
            version,
            refused: true,
            kept: None,
            slot: None,
        },
    })
}

/// The answer to request `p`: from a kept head when the pipeline says one
/// stands for it, else in full.
fn answered(c: &Client, p: &Head, activity: &Arc<Activity>) -> Answer {
    // `keepalive_requests`: the last request allowed is told so.
    let keep_alive =
        p.keep_alive && u64::from(activity.requests()) < c.ctx.limits().keepalive_requests;
    let version = p.req.version();
    let conn = replay::Conn {
        version,
        keep_alive,
    };
    let life = c.drain.lifecycle();
    let site = &c.ctx.site;
    let (resp, kept, slot) = match replay::plan(site, c.listen, c.peer, &p.req, conn, life) {
        Plan::Replay(r) => {
            let (resp, head, date_at) = respond::replayed(c, &p.req, r, activity);
            (resp, Some((head, date_at)), None)
        }
        Plan::Fill(out, slot) => (respond::filled(c, &p.req, out, activity), None, Some(slot)),
        Plan::Full => (respond::answer(c, &p.req, activity), None, None),
    };
    Answer {
        resp,
        keep_alive,
        version,
        refused: false,
        kept,
        slot,
    }
}

/// Writes `a`; `Some` when the connection ends after it. `read`: what is
/// left of the input, and whether the socket was drained (see
/// `Buffers::drained`).
async fn write_answer(
    mut a: Answer,
    site: &Site,
    head: &mut Vec<u8>,
    (buf, drained): (&BytesMut, bool),
    stream: &TcpStream,
    activity: &Activity,
) -> Option<End> {
    head.clear();
    head.reserve(512);
    let after = match a.kept.take() {
        Some((kept, date_at)) => {
            response_head::splice_date(&kept, date_at, head);
            keep_alive::after(a.keep_alive, false)
        }
        None => {
            let (after, date) = response_head::render_dated(&a.resp, a.version, a.keep_alive, head);
            if let (Some(slot), Some(date)) = (a.slot.take(), date) {
                let mut kept = Vec::with_capacity(head.len() - date.len());
                kept.extend_from_slice(&head[..date.start]);
                kept.extend_from_slice(&head[date.end..]);
                slot.keep(site, &a.resp, Bytes::from(kept), date.start);
            }
            after
        }
    };
    let then = match after {
        After::Close => send::Then::Close,
        After::KeepAlive => send::Then::Open,
    };
    let sent = send::send(stream, activity, head, a.resp.body_mut(), then).await;
    // Dropping the body writes the access-log line.
    drop(a.resp);
    if sent.is_err() {
        return Some(End::Broken);
    }
    if after == After::Close {
        // A client that asked to close sends nothing more: closing at
        // once (as nginx does) spares a shutdown, a wake-up and a read.
        // Anything unread (a refused request's body), and we linger so
        // the close cannot turn into a reset. The socket is peeked only
        // when the last read may have left bytes in it (it filled its
        // buffer, or a body was read): one syscall less per connection.
        if !a.refused && !a.keep_alive && buf.is_empty() && (drained || !has_pending_input(stream))
        {
            return Some(End::Close);
        }
        let _ = SockRef::from(stream).shutdown(std::net::Shutdown::Write);
        return Some(End::Done);
    }
    None
}

/// Reads and drops the body of `p`, after `100 Continue` if it asked.
async fn body(
    p: &Head,
    buf: &mut BytesMut,
    stream: &TcpStream,
    activity: &Arc<Activity>,
    c: &Client,
) -> Result<(), BodyError> {
    if p.framing == Framing::None {
        return Ok(());
    }
    let limits = c.ctx.limits();
    if let Framing::Length(n) = p.framing
        && limits.body_too_large(n)
    {
        return Err(BodyError::Status(StatusCode::PAYLOAD_TOO_LARGE));
    }
    // The body has client_header_timeout from the end of its head, as the
    // head had from its first byte: a stalled or trickling body is cut.
    activity.awaiting_body();
    if p.expect_continue && buf.is_empty() && p.req.version() == Version::HTTP_11 {
        let mut none = Body::empty();
        if send::send(
            stream,
            activity,
            b"HTTP/1.1 100 Continue\r\n\r\n",
            &mut none,
            send::Then::Open,
        )
        .await
        .is_err()
        {
            return Err(BodyError::Io);
        }
    }
    let mut src = Source {
        buf,
        fill: Socket { stream, activity },
    };
    let max = match limits.client_max_body_size {
        0 => u64::MAX,
        n => n,
    };
    src.discard(p.framing, max, limits.max_head()).await
}
