//! Connection tracking for a graceful drain: each connection's `Client`
//! counts itself open and closed; the drain waits for the last to close. The drain flag is a watch
//! channel passed to every connection, never a global.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::sync::{Notify, watch};

use super::nudge::{Nudged, Nudges};

/// The drain state shared by the accept loops and connections of a worker.
/// One pointer: every connection holds a copy, idle ones too.
#[derive(Clone)]
pub struct Drain(Arc<Shared>);

struct Shared {
    flag: watch::Sender<bool>,
    open: AtomicUsize,
    idle: Notify,
    leaving: AtomicBool,
    /// Wakes the connections' watchdogs: the drain started, or the worker
    /// is out of `worker_connections` and idle keep-alive connections are
    /// asked to close, so new clients are not left in the backlog.
    nudge: Nudges,
    squeeze_budget: AtomicUsize,
}

impl Drain {
    /// A drain that has not started.
    pub fn new() -> Self {
        Drain(Arc::new(Shared {
            flag: watch::channel(false).0,
            open: AtomicUsize::new(0),
            idle: Notify::new(),
            leaving: AtomicBool::new(false),
            nudge: Nudges::default(),
            squeeze_budget: AtomicUsize::new(0),
        }))
    }

    /// Asks idle keep-alive connections to make room (nginx's "reusing
    /// connections" when worker_connections run out): a few of them, an
    /// eighth of the open ones between 1 and 32, not every one.
    pub fn squeeze(&self) {
        let few = (self.open() / 8).clamp(1, 32);
        self.0.squeeze_budget.store(few, Ordering::Release);
        self.0.nudge.wake_all();
    }

    /// Takes one place in the current squeeze; false once enough idle
    /// connections have closed.
    pub fn take_squeeze(&self) -> bool {
        self.0
            .squeeze_budget
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok()
    }

    /// Resolves at the next [`Drain::squeeze`] or [`Drain::start`]: one
    /// waiter for both, as it sits in every idle connection.
    pub fn nudged(&self) -> Nudged<'_> {
        self.0.nudge.nudged()
    }

    /// Counts a connection as open; each call is paired with one of
    /// [`Drain::closed`] (a `Client`'s drop).
    pub fn opened(&self) {
        let was = self.0.open.fetch_add(1, Ordering::AcqRel);
        super::balance::opened(was + 1);
    }

    /// A connection counted by [`Drain::opened`] is closed: this may
    /// finish the drain.
    pub fn closed(&self) {
        let was = self.0.open.fetch_sub(1, Ordering::AcqRel);
        super::balance::closed(was - 1);
        if was == 1 {
            self.0.idle.notify_waiters();
        }
    }

    /// Number of connections still open.
    pub fn open(&self) -> usize {
        self.0.open.load(Ordering::Acquire)
    }

    /// The worker was told to go but keeps serving for `shutdown_delay`:
    /// readiness probes fail from now on.
    pub fn leave(&self) {
        self.0.leaving.store(true, Ordering::Release);
    }

    /// Where the worker is in its life, for the responses it sends.
    pub fn lifecycle(&self) -> crate::http::Lifecycle {
        crate::http::Lifecycle {
            closing: self.started(),
            ready: !self.0.leaving.load(Ordering::Acquire),
        }
    }

    /// Starts the drain: listeners close, connections finish and close.
    pub fn start(&self) {
        self.0.flag.send_replace(true);
        self.0.nudge.wake_all();
    }

    /// True once the drain has started.
    pub fn started(&self) -> bool {
        *self.0.flag.borrow()
    }

    /// Resolves once the drain has started.
    pub async fn wait_started(&self) {
        let mut rx = self.0.flag.subscribe();
        let _ = rx.wait_for(|&v| v).await;
    }

    /// Resolves when no connection is open.
    pub async fn finished(&self) {
        loop {
            let notified = self.0.idle.notified();
            if self.open() == 0 {
                return;
            }
            notified.await;
        }
    }
}

impl Default for Drain {
    fn default() -> Self {
        Self::new()
    }
}
