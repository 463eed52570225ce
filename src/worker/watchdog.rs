//! One timer per connection for all its deadlines: the request head's
//! `client_header_timeout`, the idle `keepalive_timeout`, the stall limit
//! (`send_timeout`), the drain's grace and the squeeze when the worker is
//! out of connection slots. Each wake reads the connection's activity
//! clock (`io.rs`) and either raises an [`Alarm`] or sleeps to the nearest
//! deadline, so a busy connection costs no timer resets per byte.

use std::time::Duration;

use super::drain::Drain;
use super::io::{Activity, has_pending_input};
use crate::config::Limits;

/// How long an idle keep-alive connection must be quiet before a draining
/// worker closes it. Clients sending back-to-back requests are never quiet
/// this long, so their next request is served rather than lost in a close.
pub const DRAIN_IDLE_GRACE: Duration = Duration::from_millis(1000);

/// Out of connection slots, a keep-alive connection quiet this long is
/// closed to make room; one between requests of a busy client is not.
pub const SQUEEZE_IDLE: Duration = Duration::from_secs(1);

/// Why the watchdog wants a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alarm {
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

/// What the watchdog reads of the worker: one reference in every idle
/// connection's task rather than one for each.
pub trait Worker: Sync {
    /// The worker's drain.
    fn drain(&self) -> &Drain;
    /// The connection limits.
    fn limits(&self) -> &Limits;
}

impl Worker for super::client::Listening {
    fn drain(&self) -> &Drain {
        &self.drain
    }
    fn limits(&self) -> &Limits {
        self.ctx.limits()
    }
}

/// Resolves with the first [`Alarm`] for this connection; `Idle` is not
/// raised once `closing` (the connection was already asked to close). One
/// timer serves all three deadlines.
///
/// Written as a block capturing its arguments (an `async fn` would hold
/// them twice): this future sits in every idle connection's task.
#[allow(clippy::manual_async_fn)] // see above: not an `async fn` on purpose
pub fn watch<'a>(
    worker: &'a impl Worker,
    activity: &'a Activity,
    stream: &'a (impl std::os::fd::AsFd + Sync),
    closing: bool,
) -> impl Future<Output = Alarm> + Send + 'a {
    async move {
        // Set when the worker ran out of connection slots: an idle
        // keep-alive connection then closes at once instead of after
        // keepalive_timeout.
        let mut squeezed = false;
        loop {
            let squeezing = std::mem::take(&mut squeezed);
            // One read of the clock per wake, the deadline included.
            let now = activity.now_ms();
            let wake = Wake {
                closing,
                squeezing,
                now,
            };
            let wait = match next_wake(worker, activity, stream, wake) {
                Ok(wait) => wait,
                Err(alarm) => return alarm,
            };
            let at = activity.instant_at(now) + wait;
            if closing || worker.drain().started() {
                tokio::time::sleep_until(at).await;
            } else if tokio::time::timeout_at(at, worker.drain().nudged())
                .await
                .is_ok()
            {
                // A squeeze, unless it was the drain starting.
                squeezed = !worker.drain().started();
            }
        }
    }
}

/// What a watchdog wake knows besides the connection.
#[derive(Clone, Copy)]
struct Wake {
    /// The connection was already asked to close.
    closing: bool,
    /// The worker is out of connection slots.
    squeezing: bool,
    /// The activity clock's reading.
    now: u64,
}

/// The alarm due now, or how long to sleep before looking again.
fn next_wake(
    worker: &impl Worker,
    activity: &Activity,
    stream: &impl std::os::fd::AsFd,
    Wake {
        closing,
        squeezing,
        now,
    }: Wake,
) -> Result<Duration, Alarm> {
    let (drain, limits) = (worker.drain(), worker.limits());
    let header = limits.client_header_timeout;
    let mut wait = match activity.head_pending_at(now) {
        Some(d) if d >= header => return Err(Alarm::HeaderOverdue),
        Some(d) => header - d,
        None => header,
    };
    let quiet = activity.quiet_at(now);
    let stall = stall_limit(limits, closing);
    if quiet >= stall {
        return Err(Alarm::Stalled);
    }
    wait = wait.min(stall - quiet);
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
            activity.head_pending_at(now).is_some()
        };
        let idle = quiet >= limit && !busy && !awaiting;
        if idle && !has_pending_input(stream) {
            // Made room for a waiting client only while the worker's
            // budget for it lasts: a few, not every idle connection.
            let by_squeeze = squeezing && !draining && quiet < limits.keepalive_timeout;
            if !by_squeeze || drain.take_squeeze() {
                return Err(Alarm::Idle);
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
    Ok(wait.min(Duration::from_secs(86_400)))
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

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpStream;

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

    impl Worker for (Drain, Limits) {
        fn drain(&self) -> &Drain {
            &self.0
        }
        fn limits(&self) -> &Limits {
            &self.1
        }
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
        let alarm = watch(&(drain.clone(), l.clone()), a, s, false).await;
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
        a.response_done_at(tokio::time::Instant::now());
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

    #[tokio::test(start_paused = true)]
    async fn a_squeeze_closes_a_connection_idle_past_squeeze_idle() {
        let (s, _c) = socket().await;
        let a = Activity::new();
        a.read_some();
        a.request_started();
        a.response_started();
        a.wrote(100);
        a.response_done_at(tokio::time::Instant::now());
        let drain = Drain::new();
        // One connection open, as a client counts itself.
        drain.opened();
        let squeeze = async {
            tokio::time::sleep(Duration::from_secs(2)).await;
            drain.squeeze();
            std::future::pending::<()>().await
        };
        let l = limits(75, 60, 60);
        let (alarm, secs) = tokio::select! {
            r = alarm_after(&drain, &a, &s, &l) => r,
            _ = squeeze => unreachable!(),
        };
        assert_eq!(
            (alarm, secs),
            (Alarm::Idle, 2),
            "not after keepalive_timeout"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_body_gets_client_header_timeout_from_its_head() {
        let (s, _c) = socket().await;
        let a = Activity::new();
        a.read_some();
        a.request_started();
        a.awaiting_body();
        // keepalive_timeout (5 s) does not cut a request in progress.
        assert_eq!(
            alarm_after(&Drain::new(), &a, &s, &limits(5, 10, 60)).await,
            (Alarm::HeaderOverdue, 10)
        );
    }
}
