//! One HTTP/1.1 connection: hyper serves it; this task decides when it
//! ends.
//!
//! Drain rule (control.md #7): once the worker drains, every response is
//! sent with `Connection: close`, and a keep-alive connection with no
//! request in progress is closed only after it has been quiet for
//! [`DRAIN_IDLE_GRACE`] with no unread bytes waiting, so a request that the
//! client has already sent is answered, not lost.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::Request;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpStream;

use super::Ctx;
use super::drain::{Drain, Guard};
use super::io::{Activity, TrackedIo, has_pending_input};
use crate::log::access;

/// How long an idle keep-alive connection must be quiet before a draining
/// worker closes it. Clients sending back-to-back requests are never quiet
/// this long, so their next request is served rather than lost in a close.
pub const DRAIN_IDLE_GRACE: Duration = Duration::from_millis(1000);

/// nginx's `keepalive_timeout` default: an idle connection is closed after
/// this long, so abandoned clients do not hold a connection forever.
pub const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(75);

/// nginx's `client_header_timeout` default: a client that takes longer to
/// send a request's headers is cut (slowloris).
pub const CLIENT_HEADER_TIMEOUT: Duration = Duration::from_secs(60);

/// nginx's `send_timeout` default: once a connection is told to close, it
/// is dropped if no byte moves either way for this long (a client that
/// stopped reading, or stopped mid-request), so a drain always ends.
pub const STALL_TIMEOUT: Duration = Duration::from_secs(60);

/// After we end a connection, how long to keep reading (and discarding)
/// what the client still sends before closing, so that the close does not
/// become a reset that destroys the last response in flight.
const LINGER: Duration = Duration::from_secs(2);

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

/// Answers one request and writes its access-log line.
fn answer(c: &Conn, req: &Request<Incoming>) -> hyper::Response<crate::http::Body> {
    let out = crate::http::handle(&c.ctx.site, c.listen, req, c.drain.started());
    if let Some(log) = c.ctx.logs.for_server(out.server) {
        let request_line = format!("{} {} {:?}", req.method(), req.uri(), req.version());
        let h = req.headers();
        log.write_line(&access::combined(&access::Entry {
            remote: c.peer.ip(),
            time: std::time::SystemTime::now(),
            request_line: &request_line,
            status: out.response.status().as_u16(),
            bytes: out.response.body().len(),
            referer: h.get(hyper::header::REFERER).map(|v| v.as_bytes()),
            user_agent: h.get(hyper::header::USER_AGENT).map(|v| v.as_bytes()),
        }));
    }
    out.response
}

/// Serves `stream` until the client leaves, keep-alive ends, or the drain
/// closes it.
pub async fn serve(stream: TcpStream, c: Conn, _guard: Guard) {
    let stream = Arc::new(stream);
    let activity = Arc::new(Activity::new());
    let io = TrackedIo::new(Arc::clone(&stream), Arc::clone(&activity));
    let drain = c.drain.clone();
    let c = Arc::new(c);
    let svc = service_fn(move |req: Request<Incoming>| {
        let resp = answer(&c, &req);
        async move { Ok::<_, Infallible>(resp) }
    });
    let conn = http1::Builder::new()
        .keep_alive(true)
        .title_case_headers(true)
        .timer(TokioTimer::new())
        .header_read_timeout(CLIENT_HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(io), svc);
    tokio::pin!(conn);
    let mut closing = false;
    loop {
        tokio::select! {
            _ = &mut conn => break,
            _ = close_when_due(&drain, &activity, &stream), if !closing => {
                conn.as_mut().graceful_shutdown();
                closing = true;
            }
            _ = stalled(&activity), if closing => {
                // Nothing moved for too long after we asked to close:
                // drop the connection, whatever hyper is waiting for.
                return;
            }
        }
    }
    linger(&stream).await;
}

/// Resolves when this connection should stop being kept alive: it has been
/// idle past the keep-alive timeout, or the worker drains and it has been
/// quiet for the drain grace with nothing unread.
async fn close_when_due(drain: &Drain, activity: &Activity, stream: &TcpStream) {
    loop {
        let limit = if drain.started() {
            DRAIN_IDLE_GRACE
        } else {
            KEEPALIVE_TIMEOUT
        };
        let quiet = activity.quiet_for();
        if quiet >= limit && !has_pending_input(stream) {
            return;
        }
        let wait = limit.saturating_sub(quiet).max(Duration::from_millis(10));
        if drain.started() {
            tokio::time::sleep(wait).await;
        } else {
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = drain.wait_started() => {}
            }
        }
    }
}

/// Resolves once no byte has moved for [`STALL_TIMEOUT`].
async fn stalled(activity: &Activity) {
    loop {
        let quiet = activity.quiet_for();
        if quiet >= STALL_TIMEOUT {
            return;
        }
        tokio::time::sleep(STALL_TIMEOUT - quiet).await;
    }
}

/// Reads and discards input until the client closes or [`LINGER`] passes.
async fn linger(stream: &TcpStream) {
    let _ = tokio::time::timeout(LINGER, async {
        let mut buf = [0u8; 4096];
        loop {
            if stream.readable().await.is_err() {
                break;
            }
            match stream.try_read(&mut buf) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => break,
            }
        }
    })
    .await;
}
