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
mod quick;
pub mod read;
pub mod request_body;
pub mod request_head;
pub mod respond;
pub mod response_head;
pub mod send;
mod spare_input;
mod write_answer;

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use hyper::{Response, StatusCode, Version};

use super::client::Client;
use super::io::Activity;
use crate::http::Body;
use crate::http::replay::{self, Plan, Slot};
use crate::log::access::Pending;
use crate::sys::wire::Wire;
use quick::Left;
use request_body::{BodyError, Framing, Socket, Source};
use request_head::{Head, Parsed};
use write_answer::{Outgoing, outgoing, write_answer};

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
    stream: &'a Wire,
    activity: &'a Arc<Activity>,
) -> impl Future<Output = End> + Send + 'a {
    async move {
        // A connection just accepted is read at once: its request is
        // usually there already, and then it never waits (see `Wire`).
        let mut fresh = !stream.registered();
        loop {
            // Idle (fresh, or every request answered): nothing is
            // allocated until the client's next byte is there.
            if !std::mem::take(&mut fresh) && stream.readable().await.is_err() {
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
async fn exchange(c: &Client, stream: &Wire, activity: &Arc<Activity>) -> Option<End> {
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
    loop {
        // Nothing big waits across an `.await` here: this future is
        // allocated per request, and below 1 KiB the allocator serves it
        // from its small bins without consolidating its free lists. So an
        // answer becomes its head and what is left to send (`Outgoing`)
        // before anything waits.
        let head = &mut b.head;
        let mut out = match step(c, buf, &mut b.scanned, max_head, head, activity) {
            Step::Send(out) => out,
            // Every request answered and nothing more here.
            Step::Idle => return None,
            Step::Read => {
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
            // A body is read past the head: what follows it is unknown.
            // Boxed: most requests have none.
            Step::Body(p) => {
                b.drained = false;
                match Box::pin(after_body(c, p, buf, head, stream, activity)).await {
                    Ok(out) => out,
                    Err(end) => return Some(end),
                }
            }
        };
        let read = (&*buf, b.drained);
        if let Some(end) = write_answer(&mut out, &b.head, read, stream, activity).await {
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

/// What the exchange does next with what it has read.
enum Step {
    /// Send this answer, its head rendered.
    Send(Outgoing),
    /// Read this request's body first.
    Body(Box<Head>),
    /// Part of a head is here: read more.
    Read,
    /// Nothing is left to answer.
    Idle,
}

/// The next step for `buf`: a whole head is answered at once unless its
/// body must be read first; input that is not a request is rejected.
fn step(
    c: &Client,
    buf: &mut BytesMut,
    scanned: &mut usize,
    max_head: usize,
    head: &mut Vec<u8>,
    activity: &Arc<Activity>,
) -> Step {
    let answer = match next_head(buf, scanned, |raw| quick::look(c, raw, activity)) {
        Parsed::Answered(a) => a,
        Parsed::Request(p, left) => match start(c, p, left, activity) {
            Ok(a) => a,
            Err(p) => return Step::Body(p),
        },
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
        Parsed::Partial if buf.is_empty() => return Step::Idle,
        Parsed::Partial => return Step::Read,
    };
    Step::Send(outgoing(answer, c, activity, head))
}

/// The next head in `buf`, if whole: a head that arrived whole (the usual
/// case) is parsed at once; one still arriving is parsed again only once
/// its end may be there. `look` is the early look (`quick.rs`).
fn next_head<'a>(
    buf: &mut BytesMut,
    scanned: &mut usize,
    look: impl FnOnce(&request_head::Raw<'_>) -> Result<Answer, Left<'a>>,
) -> Parsed<Answer, Left<'a>> {
    let parsed =
        if buf.is_empty() || (*scanned > 0 && !request_head::head_may_be_complete(buf, scanned)) {
            Parsed::Partial
        } else {
            match request_head::parse_with(buf, look) {
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

/// Checks the framing of request `p` and answers it, unless its body
/// must be read first (`Err`).
fn start(
    c: &Client,
    p: Head,
    left: Left<'_>,
    activity: &Arc<Activity>,
) -> Result<Answer, Box<Head>> {
    activity.request_in();
    activity.request_started();
    let refusal = p
        .refuse
        .or_else(|| framing::framing_problem(&p.req, c.ctx.limits()));
    match refusal {
        Some(status) => Ok(refused(c, &p, status, activity)),
        None if p.framing == Framing::None => {
            activity.request_started();
            Ok(answered(c, &p, left, activity))
        }
        None => Err(Box::new(p)),
    }
}

/// Reads the body of request `p`, then answers it (its head rendered
/// into `head`); `Err` when the connection broke on the way.
async fn after_body(
    c: &Client,
    p: Box<Head>,
    buf: &mut BytesMut,
    head: &mut Vec<u8>,
    stream: &Wire,
    activity: &Arc<Activity>,
) -> Result<Outgoing, End> {
    let answer = match body(&p, buf, stream, activity, c).await {
        Ok(()) => {
            // Body bytes are not the next head.
            activity.request_started();
            answered(c, &p, Left::NotLooked, activity)
        }
        Err(BodyError::Status(status)) => refused(c, &p, status, activity),
        Err(BodyError::Io) => return Err(End::Broken),
    };
    Ok(outgoing(answer, c, activity, head))
}

/// Request `p` refused with `status`: answered at once and closed, since
/// what follows in the stream cannot be trusted to start a request.
fn refused(c: &Client, p: &Head, status: StatusCode, activity: &Arc<Activity>) -> Answer {
    Answer {
        resp: respond::refuse(c, &p.req, status, activity),
        keep_alive: false,
        version: p.req.version(),
        refused: true,
        kept: None,
        slot: None,
    }
}

/// The answer to request `p`: from a kept head when the pipeline says one
/// stands for it, else in full; going on from what the early look `left`.
fn answered(c: &Client, p: &Head, left: Left<'_>, activity: &Arc<Activity>) -> Answer {
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
    let plan = match left {
        Left::NotLooked => replay::plan(site, c.listen, c.peer, &p.req, conn, life),
        Left::Full => Plan::Full,
        Left::Prepared(prepared) => prepared.fill(site, &p.req, life),
    };
    let (resp, kept, slot) = match plan {
        Plan::Replay(r) => {
            let line = |status| Pending::for_request(&p.req, c.peer, status);
            let (resp, head, date_at) = respond::replayed(c, r, activity, line);
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

/// Reads and drops the body of `p`, after `100 Continue` if it asked.
async fn body(
    p: &Head,
    buf: &mut BytesMut,
    stream: &Wire,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The size of what `f` returns, without calling it.
    fn returned_size<A, B, C, R>(_: impl FnOnce(A, B, C) -> R) -> usize {
        std::mem::size_of::<R>()
    }

    #[test]
    fn a_request_fits_a_small_allocation() {
        // glibc serves requests below 1 KiB (with its 16-byte header) from
        // its small bins; a larger one first consolidates every freed
        // small chunk, once per request. The state of rare paths (a body,
        // a copy without sendfile) is boxed on its own.
        let size = returned_size(exchange);
        assert!(size <= 1000, "the exchange future grew to {size} bytes");
    }
}
