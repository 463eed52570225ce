//! One connection's life: `http1/` speaks HTTP/1 on it; this task decides
//! when it ends (the watchdog's timeouts and the drain) and lingers after
//! a close so the last response is not destroyed by a reset.
//!
//! Drain rule (docs/operations.md): once the worker drains, every response is
//! sent with `Connection: close`, and a keep-alive connection with no
//! request in progress is closed only after it has been quiet for
//! [`watchdog::DRAIN_IDLE_GRACE`] with no unread bytes waiting, so a
//! request that the client has already sent is answered, not lost.

use std::sync::Arc;
use std::time::Duration;

use socket2::SockRef;

use super::client::Client;
use super::http1::{self, End};
use super::io::Activity;
use super::watchdog::{self, Alarm};
use crate::sys::wire::Wire;

/// After we end a connection, how long to keep reading (and discarding)
/// what the client still sends before closing, so that the close does not
/// become a reset that destroys the last response in flight.
const LINGER: Duration = Duration::from_secs(2);

/// Most bytes read and thrown away while lingering.
const LINGER_BYTES: usize = 1 << 20;

/// Serves `stream` until the client leaves, keep-alive ends, or the drain
/// closes it.
///
/// The accept loop polls this future once where it accepts the
/// connection, boxed, and moves the box into a task only if it has to wait
/// (`accept.rs`). With that task, the socket's registration and its
/// activity clock it is all that an idle keep-alive connection costs: it
/// is a block capturing its arguments (an `async fn` would hold them
/// twice), owns its client and stream rather than sharing them, and keeps
/// the state of requests in progress and of lingering boxed, allocated
/// only while they last. At 296 bytes (release build) it takes a 320-byte
/// allocation; past that, the next size class is 384.
#[allow(clippy::manual_async_fn)] // see above: not an `async fn` on purpose
pub fn serve(stream: Wire, c: Client) -> impl Future<Output = ()> + Send {
    async move {
        let activity = Arc::new(Activity::new());
        let linger_after = tokio::select! {
            biased;
            end = http1::serve_connection(&c, &stream, &activity) => matches!(end, End::Done),
            alarm = watchdog::watch(&*c, &activity, &stream, false) => {
                if alarm == Alarm::Idle {
                    // Between requests (never mid-response): close gracefully.
                    let _ = SockRef::from(&stream).shutdown(std::net::Shutdown::Write);
                }
                alarm == Alarm::Idle
            }
        };
        // A lingering connection serves nobody: its worker_connections slot
        // goes to the next client now, not after the linger.
        c.release_slot();
        if linger_after {
            // Boxed: only a closing connection needs its state.
            Box::pin(linger(&stream)).await;
        }
        // The drain counts the connection until it is closed (`c` drops
        // last).
    }
}

/// Reads and discards input until the client closes or [`LINGER`] passes.
/// At most [`LINGER_BYTES`] are thrown away: a client that keeps sending
/// gets its close (and possibly a reset) rather than the worker's time,
/// and the loop yields to the worker's other connections as it goes
/// (socket readiness alone never makes a task give up the thread).
async fn linger(stream: &Wire) {
    let _ = tokio::time::timeout(LINGER, async {
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

    /// The size of what `f` returns, without calling it.
    fn returned_size<A, B, R>(_: impl FnOnce(A, B) -> R) -> usize {
        std::mem::size_of::<R>()
    }

    #[test]
    fn an_idle_connection_fits_a_small_allocation() {
        // The allocator's size classes go 256, 320, 384: up to 320 bytes
        // (the release build's size; tokio's paused-time support in test
        // builds adds 8) keep the box in the 320-byte class. Request state
        // grown inline here is paid by every idle connection.
        let size = returned_size(serve);
        assert!(
            size <= 320 + 8,
            "the connection future grew to {size} bytes"
        );
    }
}
