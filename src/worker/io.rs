//! A connection's activity clock: every read or write stamps it, and the
//! watchdog (`watchdog.rs`) reads it for the keep-alive, header and send
//! timeouts and the drain. Stamps take the worker's reading of the clock
//! for this wake (`crate::clock`), not a read of their own: timeouts of
//! seconds lose nothing to a reading some microseconds old.

use crate::metrics::{self, Gauge};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use tokio::time::Instant;

use socket2::SockRef;

/// Milliseconds since `epoch` of the last read or write. On tokio's clock,
/// so the timeouts that read it can be tested under paused time. Every
/// connection holds one, idle or not: its counts are 32 bits.
#[derive(Debug)]
pub struct Activity {
    epoch: Instant,
    last_ms: AtomicU64,
    written: AtomicU64,
    /// 1 + the ms at which the connection started waiting for a request
    /// head: its accept, or the first byte of a later request; 0 between
    /// a request's head and the first byte of the next.
    head_since: AtomicU64,
    /// Bytes of the awaited head have arrived (a fresh connection that has
    /// sent nothing waits for a head, but holds none).
    head_bytes: std::sync::atomic::AtomicBool,
    /// Responses whose bodies are not finished yet.
    in_flight: AtomicU32,
    /// Counted as reading in the gauges: bytes of a head are in, the head
    /// is not complete (a request body counts as writing, as with nginx).
    reading: std::sync::atomic::AtomicBool,
    /// Requests whose head is in and whose response has not started: with
    /// `in_flight`, nginx's "writing" (a status request counts itself).
    processing: AtomicU32,
    /// Requests the connection has made (for `keepalive_requests`).
    requests: AtomicU32,
}

impl Activity {
    /// A fresh connection: stamped now, and waiting for its first head
    /// from now (`client_header_timeout` runs from the accept).
    pub fn new() -> Self {
        metrics::gauge(Gauge::Active, 1);
        Activity {
            epoch: crate::clock::this_wake(),
            last_ms: AtomicU64::new(0),
            written: AtomicU64::new(0),
            head_since: AtomicU64::new(1),
            head_bytes: std::sync::atomic::AtomicBool::new(false),
            in_flight: AtomicU32::new(0),
            processing: AtomicU32::new(0),
            requests: AtomicU32::new(0),
            reading: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Stamps activity at reading `t`.
    fn touch_at(&self, t: Instant) -> u64 {
        let ms = t.saturating_duration_since(self.epoch).as_millis() as u64;
        self.last_ms.store(ms, Ordering::Relaxed);
        ms
    }

    fn touch(&self) -> u64 {
        self.touch_at(crate::clock::this_wake())
    }

    /// Bytes arrived: stamps the clock and, if none were pending, starts
    /// the request-head clock.
    pub fn read_some(&self) {
        let ms = self.touch();
        if self.head_since.load(Ordering::Relaxed) == 0 {
            self.head_since.store(ms + 1, Ordering::Relaxed);
        }
        self.head_bytes.store(true, Ordering::Relaxed);
        // Bytes of a request already in (its body) leave it writing.
        if self.processing.load(Ordering::Relaxed) == 0
            && !self.reading.swap(true, Ordering::Relaxed)
        {
            metrics::gauge(Gauge::Reading, 1);
        }
    }

    /// A response is on its way out.
    pub fn response_started(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        // Counted as writing since its head arrived, unless it had none (a
        // refusal of input that never became a request).
        let had_head = self
            .processing
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok();
        if !had_head {
            metrics::gauge(Gauge::Writing, 1);
        }
    }

    /// A response's body is finished (or dropped), at clock reading `t`
    /// (the one that also times the response).
    pub fn response_done_at(&self, t: Instant) {
        let _ = self.touch_at(t);
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        metrics::gauge(Gauge::Writing, -1);
    }

    /// True while a response is being sent.
    pub fn responding(&self) -> bool {
        self.in_flight.load(Ordering::Relaxed) > 0
    }

    /// True while a request is in and its response not finished.
    pub fn busy(&self) -> bool {
        self.responding() || self.processing.load(Ordering::Relaxed) > 0
    }

    /// A request is in (once per request): it counts as writing until its
    /// response is done. Stamped with the reading its bytes arrived at
    /// (nothing was awaited since).
    pub fn request_in(&self) {
        let _ = self.touch_at(crate::clock::recent());
        metrics::count(metrics::Counter::Requests);
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.processing.fetch_add(1, Ordering::Relaxed);
        metrics::gauge(Gauge::Writing, 1);
    }

    /// Requests the connection has made so far.
    pub fn requests(&self) -> u32 {
        self.requests.load(Ordering::Relaxed)
    }

    /// A whole request head arrived: nothing is pending any more.
    pub fn request_started(&self) {
        self.head_since.store(0, Ordering::Relaxed);
        self.head_bytes.store(false, Ordering::Relaxed);
        if self.reading.swap(false, Ordering::Relaxed) {
            metrics::gauge(Gauge::Reading, -1);
        }
    }

    /// A head is complete and its body is awaited: the body gets the
    /// head's clock, from now.
    pub fn awaiting_body(&self) {
        let ms = self.touch();
        self.head_since.store(ms + 1, Ordering::Relaxed);
        self.head_bytes.store(true, Ordering::Relaxed);
    }

    /// True when part of a request head has arrived and not yet become a
    /// request.
    pub fn head_bytes_pending(&self) -> bool {
        self.head_bytes.load(Ordering::Relaxed)
    }

    /// How long the connection has been waiting, at clock reading `now`,
    /// for the request head it is on (from the accept, or from the head's
    /// first byte).
    pub fn head_pending_at(&self, now: u64) -> Option<std::time::Duration> {
        let since = self.head_since.load(Ordering::Relaxed);
        (since != 0).then(|| std::time::Duration::from_millis(now.saturating_sub(since - 1)))
    }

    /// The clock's reading now, for the `_at` questions: a watchdog wake
    /// reads the clock once, not once per question (each read is a
    /// measurable share of a short connection's user time). A reading a
    /// little old only delays an alarm, never brings one forward.
    pub fn now_ms(&self) -> u64 {
        crate::clock::this_wake()
            .saturating_duration_since(self.epoch)
            .as_millis() as u64
    }

    /// The instant of clock reading `now` (a deadline without another
    /// read of the clock).
    pub fn instant_at(&self, now: u64) -> Instant {
        self.epoch + std::time::Duration::from_millis(now)
    }

    /// `n` bytes went out.
    pub fn wrote(&self, n: usize) {
        self.written.fetch_add(n as u64, Ordering::Relaxed);
        let _ = self.touch();
    }

    /// Bytes written to the client so far.
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// Time since the last read or write.
    pub fn quiet_for(&self) -> std::time::Duration {
        self.quiet_at(self.now_ms())
    }

    /// [`Activity::quiet_for`] at clock reading `now`.
    pub fn quiet_at(&self, now: u64) -> std::time::Duration {
        std::time::Duration::from_millis(now.saturating_sub(self.last_ms.load(Ordering::Relaxed)))
    }
}

/// A closed connection leaves the gauges as if it had never been.
impl Drop for Activity {
    fn drop(&mut self) {
        metrics::gauge(Gauge::Active, -1);
        if *self.reading.get_mut() {
            metrics::gauge(Gauge::Reading, -1);
        }
        let writing = u64::from(*self.in_flight.get_mut()) + u64::from(*self.processing.get_mut());
        if writing > 0 {
            metrics::gauge(Gauge::Writing, -(writing as i64));
        }
    }
}

impl Default for Activity {
    fn default() -> Self {
        Self::new()
    }
}

/// True if the peer has sent bytes that nobody has read yet. (A peer that
/// only closed has nothing more to say: closing our side loses nothing.)
pub fn has_pending_input(stream: &impl std::os::fd::AsFd) -> bool {
    let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 1];
    matches!(SockRef::from(stream).peek(&mut buf), Ok(n) if n > 0)
}

/// True if `fd` is readable right now (for a listening socket: a client
/// waits to be accepted). One `poll(2)` with no timeout.
pub fn readable_now(fd: &impl std::os::fd::AsFd) -> bool {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
    matches!(poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0)
}
