//! One HTTPS connection: the TLS handshake (bounded by
//! `client_header_timeout`), then hyper's HTTP/1.1 or HTTP/2 server (by
//! ALPN) answering through the same pipeline, access log and counters as
//! plain HTTP (`http1::respond`). When the worker drains, the connection
//! is shut down gracefully: HTTP/1.1 finishes the request in progress and
//! closes, HTTP/2 sends GOAWAY and lets open streams finish.

use std::convert::Infallible;
use std::sync::Arc;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use tokio::net::TcpStream;
use tokio_rustls::LazyConfigAcceptor;

use super::client::Client;
use super::http1::{framing, respond};
use super::io::Activity;
use super::tls_batch::Batched;
use super::tls_io::Counted;
use super::tls_records::Records;
use super::watchdog;

/// Serves `stream` over TLS until the client leaves or the drain ends it.
pub async fn serve(stream: TcpStream, c: Client, listen: Arc<crate::config::sni::TlsListen>) {
    let limits = c.ctx.limits().clone();
    let Some(tls) = open(stream, &c, &listen, limits.client_header_timeout).await else {
        return;
    };
    let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
    let activity = Arc::new(Activity::new());
    let watch = Arc::clone(&activity);
    let tls = Counted::new(Batched::new(tls), Arc::clone(&activity));
    let io = TokioIo::new(if h2 {
        Records::deferring(tls)
    } else {
        Records::new(tls)
    });
    let c = Arc::new(c);
    let drain = c.drain.clone();
    // `keepalive_requests`: once the last request allowed has come, the
    // connection ends gracefully (HTTP/1.1 closes after its response,
    // HTTP/2 sends GOAWAY and finishes the streams it has).
    let used_up = Arc::new(tokio::sync::Notify::new());
    let last = Arc::clone(&used_up);
    let service = hyper::service::service_fn(move |req| {
        let (c, activity) = (Arc::clone(&c), Arc::clone(&activity));
        activity.request_in();
        if u64::from(activity.requests()) == limits.keepalive_requests {
            last.notify_one();
        }
        async move {
            // hyper has the head whole: not reading any more.
            activity.request_started();
            // The framing rules of plain HTTP/1 hold here too.
            let problem = refusal(&req, c.ctx.limits());
            let resp = match problem {
                Some(status) => respond::refuse(&c, &req, status, &activity),
                None => respond::answer(&c, &req, &activity),
            };
            Ok::<_, Infallible>(resp)
        }
    });
    let builder = builder(&limits);
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let stalled = || watch.busy() && watch.quiet_for() >= limits.send_timeout;
    let idle = || !watch.busy() && watch.quiet_for() >= limits.keepalive_timeout;
    // HTTP/1.1 keeps plain HTTP's drain rule: every response says close,
    // and a connection with no request in progress ends only once quiet
    // for a grace (a request already on its way is answered, not lost).
    let drained =
        || drain.started() && !watch.busy() && watch.quiet_for() >= watchdog::DRAIN_IDLE_GRACE;
    // Ends gracefully when the worker drains (HTTP/2: GOAWAY at once, the
    // open streams finish) or the connection idles past
    // `keepalive_timeout`; at once when a client stops reading for
    // `send_timeout` (plain HTTP's stall rule).
    loop {
        tokio::select! {
            _ = conn.as_mut() => return,
            () = drain.wait_started(), if h2 => break,
            () = used_up.notified() => break,
            () = tokio::time::sleep(IDLE_CHECK) => {
                if stalled() {
                    return;
                }
                if idle() || drained() {
                    break;
                }
            }
        }
    }
    conn.as_mut().graceful_shutdown();
    bounded_end(conn, &watch, limits.send_timeout).await;
}

/// Lets a connection that was told to end finish, within bounds: a
/// graceful end waits for the client (an HTTP/2 ping, open streams), and
/// a client that never answers must not keep its slot, or the drain.
async fn bounded_end<F: std::future::Future>(
    mut conn: std::pin::Pin<&mut F>,
    watch: &Activity,
    send_timeout: std::time::Duration,
) {
    loop {
        tokio::select! {
            _ = conn.as_mut() => return,
            () = tokio::time::sleep(IDLE_CHECK) => {
                let quiet = watch.quiet_for();
                if (!watch.busy() && quiet >= IDLE_CHECK) || quiet >= send_timeout {
                    return;
                }
            }
        }
    }
}

/// The connection's TLS stream once its handshake is done; `None` if it
/// failed or timed out, or the client spoke plain HTTP and was answered.
/// One `limit` for the first byte and the handshake.
async fn open(
    mut stream: TcpStream,
    c: &Client,
    listen: &crate::config::sni::TlsListen,
    limit: std::time::Duration,
) -> Option<tokio_rustls::server::TlsStream<TcpStream>> {
    let start = tokio::time::Instant::now();
    let plain = super::plain_on_tls::answered(&mut stream, c);
    if tokio::time::timeout(limit, plain).await.unwrap_or(false) {
        return None;
    }
    handshake(stream, listen, limit.saturating_sub(start.elapsed())).await
}

/// The TLS handshake, within `limit`. The ClientHello first: its SNI
/// picks the server, whose certificate and ALPN list (h2 or not) the
/// handshake then uses.
async fn handshake(
    stream: TcpStream,
    listen: &crate::config::sni::TlsListen,
    limit: std::time::Duration,
) -> Option<tokio_rustls::server::TlsStream<TcpStream>> {
    let handshake = async {
        let start = LazyConfigAcceptor::new(rustls::server::Acceptor::default(), stream).await?;
        let config = listen.for_name(start.client_hello().server_name());
        start.into_stream(config).await
    };
    tokio::time::timeout(limit, handshake).await.ok()?.ok()
}

/// What plain HTTP/1 would refuse in this request (its framing rules, and
/// an `Expect` other than 100-continue), so HTTPS refuses it too; and an
/// HTTP/2 request that names no host, or two (RFC 9113 §8.3.1), as nginx
/// and as HTTP/1.1 without Host.
fn refusal<B>(
    req: &hyper::Request<B>,
    limits: &crate::config::Limits,
) -> Option<hyper::StatusCode> {
    framing::framing_problem(req, limits)
        .or_else(|| {
            let expect = req.headers().get(hyper::header::EXPECT)?;
            (!expect.as_bytes().eq_ignore_ascii_case(b"100-continue"))
                .then_some(hyper::StatusCode::EXPECTATION_FAILED)
        })
        .or_else(|| {
            if req.version() != hyper::Version::HTTP_2 {
                return None;
            }
            let authority = req.uri().authority().map(|a| a.as_str().as_bytes());
            let hosts = req.headers().get_all(hyper::header::HOST);
            let bad = match (authority, hosts.iter().count()) {
                (None, 0) => true,
                (_, n) if n > 1 => true,
                (Some(a), 1) => hosts.iter().any(|h| !h.as_bytes().eq_ignore_ascii_case(a)),
                _ => false,
            };
            bad.then_some(hyper::StatusCode::BAD_REQUEST)
        })
}

/// hyper's HTTP/1.1 + HTTP/2 server with the worker's limits.
fn builder(limits: &crate::config::Limits) -> Builder<TokioExecutor> {
    let max_head = limits.large_header_size * limits.large_header_count.max(1);
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        // hyper runs this between requests too: never shorter than the
        // keep-alive rule, which closes gracefully.
        .header_read_timeout(limits.client_header_timeout.max(limits.keepalive_timeout))
        .max_buf_size(max_head.max(8192))
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(128)
        .max_header_list_size(u32::try_from(max_head).unwrap_or(u32::MAX));
    builder
}

/// How often an HTTPS connection looks whether it has been idle too long.
const IDLE_CHECK: std::time::Duration = std::time::Duration::from_secs(1);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_http2_request_names_exactly_one_host() {
        let limits = crate::config::Limits::default();
        let req = |uri: &str, hosts: &[&str]| {
            let mut b = hyper::Request::builder()
                .version(hyper::Version::HTTP_2)
                .uri(uri);
            for h in hosts {
                b = b.header(hyper::header::HOST, *h);
            }
            refusal(&b.body(()).expect("request"), &limits)
        };
        let bad = Some(hyper::StatusCode::BAD_REQUEST);
        assert_eq!(req("https://a.test/", &[]), None);
        assert_eq!(req("https://a.test/", &["A.test"]), None);
        assert_eq!(req("/", &["a.test"]), None);
        assert_eq!(req("/", &[]), bad);
        assert_eq!(req("https://a.test/", &["b.test"]), bad);
        assert_eq!(req("/", &["a.test", "b.test"]), bad);
    }
}
