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
use tokio::sync::OwnedSemaphorePermit;
use tokio_rustls::LazyConfigAcceptor;

use super::client::Client;
use super::drain::Guard;
use super::http1::respond;
use super::io::Activity;

/// Serves `stream` over TLS until the client leaves or the drain ends it.
pub async fn serve(
    stream: TcpStream,
    c: Client,
    listen: Arc<crate::config::sni::TlsListen>,
    _guard: Guard,
    _slot: OwnedSemaphorePermit,
) {
    let limits = c.ctx.limits().clone();
    // The ClientHello first: its SNI picks the server, whose certificate
    // and ALPN list (h2 or not) the handshake then uses.
    let handshake = async {
        let start = LazyConfigAcceptor::new(rustls::server::Acceptor::default(), stream).await?;
        let config = listen.for_name(start.client_hello().server_name());
        start.into_stream(config).await
    };
    let tls = match tokio::time::timeout(limits.client_header_timeout, handshake).await {
        Ok(Ok(tls)) => tls,
        _ => return,
    };
    let activity = Arc::new(Activity::new());
    let watch = Arc::clone(&activity);
    let c = Arc::new(c);
    let drain = c.drain.clone();
    let service = hyper::service::service_fn(move |req| {
        let (c, activity) = (Arc::clone(&c), Arc::clone(&activity));
        async move {
            activity.request_in();
            Ok::<_, Infallible>(respond::answer(&c, &req, &activity))
        }
    });
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.client_header_timeout)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(128)
        .max_header_list_size(
            u32::try_from(limits.large_header_size * limits.large_header_count.max(1))
                .unwrap_or(u32::MAX),
        );
    let conn = builder.serve_connection(TokioIo::new(tls), service);
    tokio::pin!(conn);
    // Ends gracefully (no request cut) when the worker drains, or when the
    // connection has had nothing in flight for `keepalive_timeout`.
    let idle_limit = limits.keepalive_timeout;
    loop {
        tokio::select! {
            _ = conn.as_mut() => return,
            () = drain.wait_started() => break,
            () = tokio::time::sleep(IDLE_CHECK) => {
                if !watch.busy() && watch.quiet_for() >= idle_limit {
                    break;
                }
            }
        }
    }
    conn.as_mut().graceful_shutdown();
    let _ = conn.await;
}

/// How often an HTTPS connection looks whether it has been idle too long.
const IDLE_CHECK: std::time::Duration = std::time::Duration::from_secs(1);
