//! One HTTP/1.1 connection: `plain.rs` speaks HTTP/1 on it; this task
//! decides when it ends (timeouts, the drain, lingering).
//!
//! Drain rule (docs/operations.md): once the worker drains, every response is
//! sent with `Connection: close`, and a keep-alive connection with no
//! request in progress is closed only after it has been quiet for
//! [`DRAIN_IDLE_GRACE`] with no unread bytes waiting, so a request that the
//! client has already sent is answered, not lost.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::header::HeaderValue;
use hyper::header::{CONTENT_LENGTH, HOST, REFERER, TRANSFER_ENCODING, USER_AGENT};
use hyper::{Request, Response, StatusCode, Uri, Version};
use socket2::SockRef;
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;

use super::Ctx;
use super::drain::{Drain, Guard};
use super::io::{Activity, has_pending_input};
use super::plain::{self, End};
use crate::config::Limits;
use crate::http::{self, Body, Outcome};
use crate::log::access;

/// How long an idle keep-alive connection must be quiet before a draining
/// worker closes it. Clients sending back-to-back requests are never quiet
/// this long, so their next request is served rather than lost in a close.
pub const DRAIN_IDLE_GRACE: Duration = Duration::from_millis(1000);

/// After we end a connection, how long to keep reading (and discarding)
/// what the client still sends before closing, so that the close does not
/// become a reset that destroys the last response in flight.
const LINGER: Duration = Duration::from_secs(2);

/// Out of connection slots, a keep-alive connection quiet this long is
/// closed to make room; one between requests of a busy client is not.
pub const SQUEEZE_IDLE: Duration = Duration::from_secs(1);

/// Most bytes read and thrown away while lingering.
const LINGER_BYTES: usize = 1 << 20;

/// Where a connection came from and what it serves.
pub struct Conn {
    /// The configured listen address it arrived on.
    pub listen: SocketAddr,
    /// The client.
    pub peer: SocketAddr,
    /// The worker's shared state.
    pub ctx: Arc<Ctx>,
    /// The worker's drain.
    pub drain: Drain,
}

impl Conn {
    /// The limits of the configuration being served.
    pub(super) fn limits(&self) -> &Limits {
        &self.ctx.site.config.limits
    }

    /// Tracks `out` as in flight until its body is done, then writes its
    /// access-log line with the bytes actually handed to the connection.
    fn finish<B>(&self, req: &Request<B>, out: &mut Outcome, activity: &Arc<Activity>) {
        activity.response_started();
        let activity = Arc::clone(activity);
        if self.ctx.logs.for_server(out.server).is_none() {
            out.response
                .body_mut()
                .on_done(Box::new(move |_| activity.response_done()));
            return;
        }
        let ctx = Arc::clone(&self.ctx);
        let server = out.server;
        let remote = self.peer.ip();
        let status = out.response.status().as_u16();
        // Shared, not copied: the line is formatted once the body is done.
        let method = req.method().clone();
        let uri = req.uri().clone();
        let version = req.version();
        let h = req.headers();
        let referer = h.get(REFERER).cloned();
        let user_agent = h.get(USER_AGENT).cloned();
        out.response.body_mut().on_done(Box::new(move |sent| {
            activity.response_done();
            if let Some(log) = ctx.logs.for_server(server) {
                log.write_entry(&access::Entry {
                    remote,
                    time: std::time::SystemTime::now(),
                    request: Some((method.as_str(), &target(&uri), version_str(version))),
                    status,
                    bytes: sent,
                    referer: referer.as_ref().map(HeaderValue::as_bytes),
                    user_agent: user_agent.as_ref().map(HeaderValue::as_bytes),
                });
            }
        }));
    }

    /// Answers input that never became a request (a head that does not
    /// parse, one over the limits) with the listen's default server's
    /// error page, logged there with `"-"` for the request, as nginx logs
    /// its 400s; the connection closes after it.
    pub(super) fn reject(&self, status: StatusCode, activity: &Arc<Activity>) -> Response<Body> {
        let mut out = http::reject(&self.ctx.site, self.listen, status);
        activity.response_started();
        let activity = Arc::clone(activity);
        let ctx = Arc::clone(&self.ctx);
        let (server, remote) = (out.server, self.peer.ip());
        let code = status.as_u16();
        out.response.body_mut().on_done(Box::new(move |sent| {
            activity.response_done();
            if let Some(log) = ctx.logs.for_server(server) {
                log.write_entry(&access::Entry {
                    remote,
                    time: std::time::SystemTime::now(),
                    request: None,
                    status: code,
                    bytes: sent,
                    referer: None,
                    user_agent: None,
                });
            }
        }));
        out.response
    }

    /// Answers a request whose framing passed (and whose body, if any,
    /// has been read): the pipeline's response, tracked and logged.
    pub(super) fn answer<B>(&self, req: &Request<B>, activity: &Arc<Activity>) -> Response<Body> {
        let mut out = http::handle(&self.ctx.site, self.listen, req, self.drain.lifecycle());
        self.finish(req, &mut out, activity);
        out.response
    }

    /// Answers a request the worker refuses (bad framing, too large).
    pub(super) fn refuse<B>(
        &self,
        req: &Request<B>,
        status: StatusCode,
        activity: &Arc<Activity>,
    ) -> Response<Body> {
        let mut out = http::refuse(&self.ctx.site, self.listen, req, status);
        self.finish(req, &mut out, activity);
        out.response
    }
}

/// The request target as the client sent it: origin form without an
/// allocation, anything else (absolute form, `*`) rendered.
fn target(uri: &Uri) -> Cow<'_, str> {
    match (uri.scheme(), uri.authority(), uri.path_and_query()) {
        (None, None, Some(pq)) => Cow::Borrowed(pq.as_str()),
        _ => Cow::Owned(uri.to_string()),
    }
}

/// The version as a request line spells it.
fn version_str(v: Version) -> &'static str {
    match v {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2.0",
        Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
}

/// What is wrong with a request's framing or size, if anything: both
/// Content-Length and Transfer-Encoding, several Host headers or none on
/// HTTP/1.1 (400, as they can desynchronise a proxy in front of us); a request line or header
/// line over `large_client_header_buffers` (414 / 431); a declared body over
/// `client_max_body_size` (413).
pub(super) fn framing_problem<B>(req: &Request<B>, limits: &Limits) -> Option<StatusCode> {
    let h = req.headers();
    if h.contains_key(TRANSFER_ENCODING) && h.contains_key(CONTENT_LENGTH) {
        return Some(StatusCode::BAD_REQUEST);
    }
    if h.get_all(HOST).iter().count() > 1 {
        return Some(StatusCode::BAD_REQUEST);
    }
    // HTTP/1.1 without Host (RFC 9112 §3.2, even with an absolute-form
    // target): refused at once, before any body it declares.
    if req.version() == Version::HTTP_11 && !h.contains_key(HOST) {
        return Some(StatusCode::BAD_REQUEST);
    }
    // Without rendering the target: this runs on every request.
    let uri = req.uri();
    let target = uri.path_and_query().map_or(1, |p| p.as_str().len())
        + uri.authority().map_or(0, |a| a.as_str().len() + 8);
    let line = req.method().as_str().len() + target + 11;
    if line > limits.large_header_size {
        return Some(StatusCode::URI_TOO_LONG);
    }
    if h.iter()
        .any(|(k, v)| k.as_str().len() + v.len() + 4 > limits.large_header_size)
    {
        return Some(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    }
    let declared = h
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| limits.body_too_large(n)) {
        return Some(StatusCode::PAYLOAD_TOO_LARGE);
    }
    None
}

/// Serves `stream` until the client leaves, keep-alive ends, or the drain
/// closes it. `_slot` is this connection's `worker_connections` permit.
pub async fn serve(stream: TcpStream, c: Conn, _guard: Guard, slot: OwnedSemaphorePermit) {
    let stream = Arc::new(stream);
    let activity = Arc::new(Activity::new());
    let c = Arc::new(c);
    let limits = c.limits().clone();
    let linger_after = tokio::select! {
        biased;
        end = plain::serve(&c, &stream, &activity) => matches!(end, End::Done),
        alarm = watchdog(&c.drain, &activity, &stream, &limits, false) => {
            if alarm == Alarm::Idle {
                // Between requests (never mid-response): close gracefully.
                let _ = SockRef::from(&*stream).shutdown(std::net::Shutdown::Write);
            }
            alarm == Alarm::Idle
        }
    };
    // A lingering connection serves nobody: its worker_connections slot
    // goes to the next client now, not after the linger.
    drop(slot);
    if linger_after {
        linger(&stream).await;
    }
}

/// Why the watchdog wants a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Alarm {
    /// Idle past the keep-alive timeout, or the worker drains and it has
    /// been quiet for [`DRAIN_IDLE_GRACE`] with nothing unread: close it
    /// gracefully.
    Idle,
    /// Bytes of a request head have waited `client_header_timeout`
    /// without becoming a request (slowloris): drop it.
    HeaderOverdue,
    /// No byte moved for the stall limit: drop it.
    Stalled,
}

/// Resolves with the first [`Alarm`] for this connection; `Idle` is not
/// raised once `closing` (the connection was already asked to close). One
/// timer serves all three deadlines.
async fn watchdog(
    drain: &Drain,
    activity: &Activity,
    stream: &TcpStream,
    limits: &Limits,
    closing: bool,
) -> Alarm {
    let sleep = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(sleep);
    // Set when the worker ran out of connection slots: an idle keep-alive
    // connection then closes at once instead of after keepalive_timeout.
    let mut squeezed = false;
    loop {
        let header = limits.client_header_timeout;
        let mut wait = match activity.head_pending_for() {
            Some(d) if d >= header => return Alarm::HeaderOverdue,
            Some(d) => header - d,
            None => header,
        };
        let quiet = activity.quiet_for();
        let stall = stall_limit(limits, closing);
        if quiet >= stall {
            return Alarm::Stalled;
        }
        wait = wait.min(stall - quiet);
        let squeezing = std::mem::take(&mut squeezed);
        if !closing {
            let draining = drain.started();
            let limit = if draining {
                DRAIN_IDLE_GRACE
            } else if squeezing {
                SQUEEZE_IDLE.min(limits.keepalive_timeout)
            } else {
                limits.keepalive_timeout
            };

            // Never while a response is going out: its head may not say
            // `Connection: close`, and the client would send its next
            // request into a closing connection. A stuck response is the
            // stall limit's business.
            let busy = activity.responding();
            // keepalive_timeout only runs between a finished response and
            // the next request's first byte; a head on its way (or awaited
            // on a fresh connection) is client_header_timeout's. A drain
            // does close a fresh connection that has sent nothing.
            let awaiting = if draining {
                activity.head_bytes_pending()
            } else {
                activity.head_pending_for().is_some()
            };
            let idle = quiet >= limit && !busy && !awaiting;
            if idle && !has_pending_input(stream) {
                // Made room for a waiting client only while the worker's
                // budget for it lasts: a few, not every idle connection.
                let by_squeeze = squeezing && !draining && quiet < limits.keepalive_timeout;
                if !by_squeeze || drain.take_squeeze() {
                    return Alarm::Idle;
                }
            }
            if busy || idle {
                wait = wait.min(Duration::from_millis(250));
            } else if !awaiting {
                wait = wait.min(limit.saturating_sub(quiet).max(Duration::from_millis(10)));
            }
        }
        // Capped: the conditions are checked again on every wake, and a
        // configured timeout of years must not overflow the deadline.
        let wait = wait.min(Duration::from_secs(86_400));
        sleep.as_mut().reset(tokio::time::Instant::now() + wait);
        if closing || drain.started() {
            sleep.as_mut().await;
        } else {
            tokio::select! {
                _ = sleep.as_mut() => {}
                _ = drain.wait_started() => {}
                _ = drain.squeezed() => squeezed = true,
            }
        }
    }
}

/// How long a connection may see no byte move before it is dropped:
/// `send_timeout` once we asked it to close, else no sooner than the
/// keep-alive timeout (an idle keep-alive connection is closed gracefully
/// by then; this catches one stuck mid-response).
fn stall_limit(limits: &Limits, closing: bool) -> Duration {
    if closing {
        limits.send_timeout
    } else {
        limits.send_timeout.max(
            limits
                .keepalive_timeout
                .saturating_add(Duration::from_secs(1)),
        )
    }
}

/// Reads and discards input until the client closes or [`LINGER`] passes.
/// At most [`LINGER_BYTES`] are thrown away: a client that keeps sending
/// gets its close (and possibly a reset) rather than the worker's time,
/// and the loop yields to the worker's other connections as it goes
/// (socket readiness alone never makes a task give up the thread).
async fn linger(stream: &TcpStream) {
    let _ = tokio::time::timeout(LINGER, async {
        // Small: this future lives inline in every connection's task.
        let mut buf = [0u8; 512];
        let mut discarded = 0;
        while discarded < LINGER_BYTES {
            if stream.readable().await.is_err() {
                break;
            }
            match stream.try_read(&mut buf) {
                Ok(0) => break,
                Ok(n) => discarded += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => break,
            }
            tokio::task::coop::consume_budget().await;
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connected loopback socket (the server side) for the watchdog to
    /// peek at.
    async fn socket() -> (TcpStream, TcpStream) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let client = TcpStream::connect(l.local_addr().expect("addr"))
            .await
            .expect("connect");
        let (server, _) = l.accept().await.expect("accept");
        (server, client)
    }

    fn limits(keepalive: u64, header: u64, send: u64) -> Limits {
        Limits {
            keepalive_timeout: Duration::from_secs(keepalive),
            client_header_timeout: Duration::from_secs(header),
            send_timeout: Duration::from_secs(send),
            ..Limits::default()
        }
    }

    async fn alarm_after(drain: &Drain, a: &Activity, s: &TcpStream, l: &Limits) -> (Alarm, u64) {
        let start = tokio::time::Instant::now();
        let alarm = watchdog(drain, a, s, l, false).await;
        (alarm, start.elapsed().as_secs())
    }

    #[tokio::test(start_paused = true)]
    async fn a_fresh_connection_gets_client_header_timeout_not_keepalive() {
        let (s, _c) = socket().await;
        let a = Activity::new();
        let l = limits(5, 60, 60);
        assert_eq!(
            alarm_after(&Drain::new(), &a, &s, &l).await,
            (Alarm::HeaderOverdue, 60)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_head_trickling_in_is_not_cut_by_keepalive() {
        let (s, _c) = socket().await;
        let a = Activity::new();
        a.read_some();
        let l = limits(5, 60, 100);
        // A header line every 5.5 s: quiet longer than keepalive_timeout,
        // but the head's own clock (60 s) is what ends it.
        let trickle = async {
            for _ in 0..8 {
                tokio::time::sleep(Duration::from_millis(5500)).await;
                a.read_some();
            }
            std::future::pending::<()>().await
        };
        let drain = Drain::new();
        let (alarm, secs) = tokio::select! {
            r = alarm_after(&drain, &a, &s, &l) => r,
            _ = trickle => unreachable!(),
        };
        assert_eq!((alarm, secs), (Alarm::HeaderOverdue, 60));
    }

    #[tokio::test(start_paused = true)]
    async fn between_requests_keepalive_applies() {
        let (s, _c) = socket().await;
        let a = Activity::new();
        a.read_some();
        a.request_started();
        a.response_started();
        a.wrote(100);
        a.response_done();
        assert_eq!(
            alarm_after(&Drain::new(), &a, &s, &limits(5, 60, 60)).await,
            (Alarm::Idle, 5)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_drain_closes_a_fresh_silent_connection_after_the_grace() {
        let (s, _c) = socket().await;
        let a = Activity::new();
        let drain = Drain::new();
        drain.start();
        let (alarm, secs) = alarm_after(&drain, &a, &s, &limits(75, 60, 60)).await;
        assert_eq!(alarm, Alarm::Idle);
        assert_eq!(secs, DRAIN_IDLE_GRACE.as_secs());
    }

    #[tokio::test(start_paused = true)]
    async fn a_response_nobody_reads_is_cut_at_the_stall_limit() {
        let (s, _c) = socket().await;
        let a = Activity::new();
        a.read_some();
        a.request_started();
        a.response_started();
        // send_timeout 10 s, but never before keepalive_timeout + 1 s.
        assert_eq!(
            alarm_after(&Drain::new(), &a, &s, &limits(20, 60, 10)).await,
            (Alarm::Stalled, 21)
        );
    }
}
