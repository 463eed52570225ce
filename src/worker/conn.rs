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
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;

use super::client::Client;
use super::drain::Guard;
use super::http1::{self, End};
use super::io::Activity;
use super::watchdog::{self, Alarm};

/// After we end a connection, how long to keep reading (and discarding)
/// what the client still sends before closing, so that the close does not
/// become a reset that destroys the last response in flight.
const LINGER: Duration = Duration::from_secs(2);

/// Most bytes read and thrown away while lingering.
const LINGER_BYTES: usize = 1 << 20;

/// Serves `stream` until the client leaves, keep-alive ends, or the drain
/// closes it. `slot` is this connection's `worker_connections` permit.
pub async fn serve(stream: TcpStream, c: Client, _guard: Guard, slot: OwnedSemaphorePermit) {
    let stream = Arc::new(stream);
    let activity = Arc::new(Activity::new());
    let c = Arc::new(c);
    let limits = c.ctx.limits().clone();
    let linger_after = tokio::select! {
        biased;
        end = http1::serve_connection(&c, &stream, &activity) => matches!(end, End::Done),
        alarm = watchdog::watch(&c.drain, &activity, &stream, &limits, false) => {
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
