//! The accept loop of one listener in one worker. A connection is accepted
//! only with a `worker_connections` permit in hand, so beyond the cap new
//! connections wait in the kernel backlog (no accept spin) while the
//! worker keeps serving the ones it has. Accept errors never kill the
//! worker: out of fds, it backs off and retries, logging once per burst.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::sync::Semaphore;

use super::Ctx;
use super::balance;
use super::client::{Client, Listening};
use super::conn;
use super::drain::Drain;
use crate::error;
use crate::sys::wire::{self, Wire};

/// A worker's listening socket.
type Listener = AsyncFd<std::net::TcpListener>;

/// Longest pause after a failed accept (EMFILE and friends): long enough
/// not to spin a core, short enough to recover quickly once fds free up.
const MAX_ACCEPT_BACKOFF: Duration = Duration::from_millis(500);

/// How often a worker out of connection slots asks idle keep-alive
/// connections again to make room.
const SQUEEZE_AGAIN: Duration = Duration::from_millis(500);

/// A burst of accept errors is logged once per this interval.
const ACCEPT_ERROR_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Accepts until the drain starts, then drops (closes) the listener. An
/// address with an acceptor speaks TLS.
pub async fn run(
    listener: Listener,
    (addr, tls): (
        std::net::SocketAddr,
        Option<Arc<crate::config::sni::TlsListen>>,
    ),
    ctx: Arc<Ctx>,
    slots: Arc<Semaphore>,
    drain: Drain,
) {
    let mut backoff = Duration::from_millis(5);
    let mut last_logged: Option<Instant> = None;
    let mut last_full: Option<Instant> = None;
    let mut pacer = balance::Pacer::new(&listener);
    // One wait for the drain across every accept: made afresh in each
    // `select!`, it subscribed to the drain flag and registered (and
    // removed) a waiter per connection.
    let stop = drain.wait_started();
    tokio::pin!(stop);
    let at = Arc::new(Listening::new(
        addr,
        Arc::clone(&ctx),
        drain.clone(),
        Arc::clone(&slots),
    ));
    loop {
        // Wait for a slot first, so that beyond the cap clients wait in the
        // kernel backlog rather than being accepted and left unserved.
        let permit = match Arc::clone(&slots).try_acquire_owned() {
            Ok(p) => p,
            Err(tokio::sync::TryAcquireError::Closed) => break,
            Err(tokio::sync::TryAcquireError::NoPermits) => {
                let waited = tokio::select! {
                    p = Arc::clone(&slots).acquire_owned() => p.ok(),
                    _ = &mut stop => None,
                    // A client is waiting while every slot is taken.
                    _ = listener_ready(&listener) => None,
                };
                match waited {
                    Some(p) => p,
                    None if drain.started() => break,
                    None => match make_room(&listener, &slots, &drain, &mut last_full).await {
                        Some(p) => p,
                        None => break,
                    },
                }
            }
        };
        if pacer.must_wait() {
            tokio::select! {
                _ = pacer.wait() => {}
                _ = &mut stop => break,
            }
        }
        tokio::select! {
            // The drain first: a stream of clients must not hide it.
            biased;
            _ = &mut stop => break,
            res = listener.async_io(Interest::READABLE, wire::accept) => match res {
                Ok((stream, peer)) => {
                    backoff = Duration::from_millis(5);
                    start(stream, Client::new(&at, peer.ip(), permit), &tls);
                }
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionAborted => {}
                Err(e) => {
                    if last_logged.is_none_or(|t| t.elapsed() >= ACCEPT_ERROR_LOG_INTERVAL) {
                        error!("accept() failed ({}); backing off and retrying", crate::log::errno_text(&e));
                        last_logged = Some(Instant::now());
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_ACCEPT_BACKOFF);
                }
            },
        }
    }
    // Off the board, so that its siblings' shares no longer count it.
    balance::leave();
}

/// Serves an accepted connection: over TLS in a task of its own; in plain
/// HTTP first right here, and in a task of its own only once it has to
/// wait. A request already there when the connection is accepted (the
/// usual case for a short connection) is read, answered and closed
/// without a task, a timer or an epoll registration (see [`Wire`]).
fn start(stream: std::net::TcpStream, c: Client, tls: &Option<Arc<crate::config::sni::TlsListen>>) {
    crate::metrics::count(crate::metrics::Counter::Accepted);
    crate::metrics::count(crate::metrics::Counter::Handled);
    match tls {
        Some(t) => match tokio::net::TcpStream::from_std(stream) {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                tokio::spawn(super::tls_conn::serve(stream, c, Arc::clone(t)));
            }
            Err(e) => error!(
                "could not register a connection ({})",
                crate::log::errno_text(&e)
            ),
        },
        None => {
            // Boxed, so that it can move into a task after this first poll.
            first_poll(Box::pin(conn::serve(Wire::new(stream), c)));
        }
    }
}

/// Polls a connection's future once, here in the accept loop, and moves
/// it into a task of its own only if it has to wait. Nothing waits on the
/// waker of this poll: a connection that has to wait registers its socket
/// and timer again when its task polls it.
///
/// A panic would unwind through the accept loop and stop the listener
/// for good (in a task it ends only that task, which tokio catches): it
/// is caught, and the connection dropped as its task would have been.
fn first_poll<F: Future<Output = ()> + Send + 'static>(mut conn: std::pin::Pin<Box<F>>) {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        conn.as_mut().poll(&mut cx).is_pending()
    }));
    match polled {
        Ok(true) => {
            tokio::spawn(conn);
        }
        Ok(false) => {}
        Err(_) => {
            crate::alert!("a connection's first request panicked; connection closed");
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(conn)));
        }
    }
}

/// Resolves once a client waits on `listener` (without accepting it).
async fn listener_ready(listener: &Listener) {
    loop {
        // A pending connection makes the listening socket readable: looked
        // at on a timer (only while every slot is taken) rather than
        // accepting beyond the cap.
        if super::io::readable_now(listener) {
            return;
        }
        tokio::time::sleep(SQUEEZE_AGAIN).await;
    }
}

/// Every slot is taken and a client waits: idle keep-alive connections
/// make room (nginx's "reusing connections"), asked again every
/// [`SQUEEZE_AGAIN`] since a connection only becomes idle enough to close
/// after a while. `None` once the drain starts.
async fn make_room(
    listener: &Listener,
    slots: &Arc<Semaphore>,
    drain: &Drain,
    last_full: &mut Option<Instant>,
) -> Option<tokio::sync::OwnedSemaphorePermit> {
    if last_full.is_none_or(|t| t.elapsed() >= ACCEPT_ERROR_LOG_INTERVAL) {
        crate::warn!("worker_connections are not enough, closing idle keep-alive connections");
        *last_full = Some(Instant::now());
    }
    drain.squeeze();
    let mut again = tokio::time::interval(SQUEEZE_AGAIN);
    again.tick().await;
    loop {
        tokio::select! {
            p = Arc::clone(slots).acquire_owned() => return p.ok(),
            _ = drain.wait_started() => return None,
            // Only while a client still waits (it may have gone, or a
            // sibling worker with room may have taken it).
            _ = again.tick() => {
                if super::io::readable_now(listener) {
                    drain.squeeze();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[tokio::test]
    async fn a_connection_that_must_wait_moves_into_a_task_and_finishes_there() {
        let done = Arc::new(AtomicBool::new(false));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let flag = Arc::clone(&done);
        first_poll(Box::pin(async move {
            let _ = rx.await;
            flag.store(true, Ordering::SeqCst);
        }));
        assert!(!done.load(Ordering::SeqCst));
        let _ = tx.send(());
        for _ in 0..100 {
            if done.load(Ordering::SeqCst) {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert!(
            done.load(Ordering::SeqCst),
            "the task was woken and finished"
        );
    }

    #[tokio::test]
    async fn a_panicking_first_request_costs_only_its_connection() {
        first_poll(Box::pin(async { panic!("a bug in request code") }));
        // Still here: the accept loop would go on.
        let done = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&done);
        first_poll(Box::pin(async move { flag.store(true, Ordering::SeqCst) }));
        assert!(
            done.load(Ordering::SeqCst),
            "answered at once, without a task"
        );
    }
}
