//! One accept loop's pacing: when a worker over its share waits for its
//! turn, and how long.
//!
//! Pacing pays off only for connections that stay: those a worker took in
//! a burst it keeps for good. Connections that end within a few
//! milliseconds (`Connection: close`, one request each) even out by
//! themselves as they end, and a wait for each would only cost the
//! workers syscalls and the clients latency; so while a worker's
//! connections turn over faster than [`TURNOVER`], it accepts freely.
//! The second registration of the listener that wakes a waiting loop is
//! made only for a wait, so a worker that never waits pays nothing for it.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::{CLOSED, CLOSES, PATIENCE, RECHECK, Waiting, over_share};

/// The window over which a worker counts its closed connections: one that
/// closed at least as many in the last window as it holds now keeps its
/// connections for less than this, on average.
pub const TURNOVER: Duration = Duration::from_millis(100);

/// How a worker over its share came to accept again.
#[derive(Debug, PartialEq, Eq)]
pub enum Turn {
    /// It is back within its share.
    Fair,
    /// A client waited and no sibling took it.
    Unclaimed,
}

/// One accept loop's pacing. After an unclaimed client the worker accepts
/// as many more as are waiting, up to a batch that doubles with each
/// unclaimed turn in a row: a sibling that lags by a few milliseconds
/// (waiting for a core) loses a client or two, and one that is stuck
/// does not leave clients waiting a turn each.
pub struct Pacer<'a> {
    listener: BorrowedFd<'a>,
    streak: u32,
    credit: u32,
    churn: Churn,
}

/// The largest batch is `1 << MAX_STREAK` clients.
pub(super) const MAX_STREAK: u32 = 10;

impl<'a> Pacer<'a> {
    /// Pacing for accepts on `listener`.
    pub fn new(listener: &'a impl AsFd) -> Self {
        Pacer {
            listener: listener.as_fd(),
            streak: 0,
            credit: 0,
            churn: Churn::new(Instant::now()),
        }
    }

    /// True if the next accept must wait for [`Pacer::wait`].
    pub fn must_wait(&mut self) -> bool {
        if self.credit > 0 {
            if crate::worker::io::readable_now(&self.listener) {
                self.credit -= 1;
                return false;
            }
            self.credit = 0;
        }
        if over_share()
            && !self
                .churn
                .fast(Instant::now(), CLOSES.load(Ordering::Relaxed))
        {
            return true;
        }
        self.streak = 0;
        false
    }

    /// Waits for this worker's turn (at once if the listener cannot be
    /// registered a second time: the worker then accepts freely).
    pub async fn wait(&mut self) {
        if let Ok(arrivals) = arrivals(self.listener) {
            let _waiting = Waiting::new();
            let turn = wait_turn(&arrivals, over_share, &CLOSED).await;
            self.waited(turn);
        }
    }

    pub(super) fn waited(&mut self, turn: Turn) {
        match turn {
            Turn::Fair => self.streak = 0,
            Turn::Unclaimed => {
                self.credit = (1 << self.streak.min(MAX_STREAK)) - 1;
                self.streak += 1;
            }
        }
    }

    #[cfg(test)]
    pub(super) fn credit(&self) -> u32 {
        self.credit
    }
}

/// A second registration of the listening socket, woken by every arriving
/// client without accepting it.
fn arrivals(listener: BorrowedFd<'_>) -> std::io::Result<AsyncFd<OwnedFd>> {
    crate::sys::fd::readiness_dup(listener)
}

/// How fast a worker's connections end: closes counted per [`TURNOVER`]
/// window, looked at only when the worker is over its share.
pub(super) struct Churn {
    start: Instant,
    closes_at_start: u64,
    last_window: u64,
}

impl Churn {
    pub(super) fn new(now: Instant) -> Self {
        Churn {
            start: now,
            closes_at_start: 0,
            last_window: 0,
        }
    }

    /// True if the worker closed at least as many connections in the last
    /// window as it holds now (`closes`: all it has closed so far). A window
    /// that ended long ago says nothing about now: after a quiet spell the
    /// worker paces until a fresh window has been counted.
    pub(super) fn fast(&mut self, now: Instant, closes: u64) -> bool {
        let since = now.saturating_duration_since(self.start);
        if since >= TURNOVER {
            let ended = closes.saturating_sub(self.closes_at_start);
            self.last_window = if since < 2 * TURNOVER { ended } else { 0 };
            self.start = now;
            self.closes_at_start = closes;
        }
        self.last_window > 0 && self.last_window >= super::open_now()
    }
}

/// Waits while `over` (this worker is over its share: [`over_share`])
/// holds, looking again when one of its connections closes (`closes`),
/// when a client arrives on `arrivals`, and every [`RECHECK`]. A client
/// still waiting [`PATIENCE`] after it was seen is this worker's after
/// all. Never sleeps longer than [`RECHECK`] + [`PATIENCE`] while a client
/// waits, whoever else is there: the backlog is looked at directly at each
/// pass, not only through readiness wakes (which a sibling's accept may
/// have spent).
pub async fn wait_turn(
    arrivals: &AsyncFd<OwnedFd>,
    over: impl Fn() -> bool,
    closes: &Notify,
) -> Turn {
    let mut arrived: Option<Instant> = None;
    loop {
        if !over() {
            return Turn::Fair;
        }
        // Created before anything can close (one thread): no wake is lost.
        let closed = closes.notified();
        if arrived.is_none() && crate::worker::io::readable_now(arrivals) {
            arrived = Some(Instant::now());
        }
        match arrived {
            None => tokio::select! {
                _ = closed => {}
                // Siblings' counts change without waking this worker.
                _ = tokio::time::sleep(RECHECK) => {}
                ready = arrivals.readable() => match ready {
                    // Cleared, so the next wait lasts until the next arrival.
                    Ok(mut guard) => {
                        guard.clear_ready();
                        arrived = Some(Instant::now());
                    }
                    Err(_) => return Turn::Unclaimed,
                },
            },
            Some(at) => tokio::select! {
                _ = closed => {}
                _ = tokio::time::sleep_until(at + PATIENCE) => {
                    if !over() {
                        return Turn::Fair;
                    }
                    if crate::worker::io::readable_now(arrivals) {
                        return Turn::Unclaimed;
                    }
                    arrived = None;
                }
            },
        }
    }
}
