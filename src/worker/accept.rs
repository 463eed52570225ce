//! The accept loop of one listener in one worker. Accept errors never kill
//! the worker: out of fds, it backs off and retries.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use super::Ctx;
use super::conn;
use super::drain::Drain;
use crate::error;

/// Longest pause after a failed accept (EMFILE and friends): long enough
/// not to spin a core, short enough to recover quickly once fds free up.
const MAX_ACCEPT_BACKOFF: Duration = Duration::from_millis(500);

/// Accepts until the drain starts, then drops (closes) the listener.
pub async fn run(listener: TcpListener, addr: std::net::SocketAddr, ctx: Arc<Ctx>, drain: Drain) {
    let mut backoff = Duration::from_millis(5);
    loop {
        tokio::select! {
            res = listener.accept() => match res {
                Ok((stream, peer)) => {
                    backoff = Duration::from_millis(5);
                    let _ = stream.set_nodelay(true);
                    let guard = drain.guard();
                    let c = conn::Conn { listen: addr, peer, ctx: Arc::clone(&ctx), drain: drain.clone() };
                    tokio::spawn(conn::serve(stream, c, guard));
                }
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionAborted => {}
                Err(e) => {
                    error!("accept() failed: {e}; retrying in {}ms", backoff.as_millis());
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_ACCEPT_BACKOFF);
                }
            },
            _ = drain.wait_started() => break,
        }
    }
}
