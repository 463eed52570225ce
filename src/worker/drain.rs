//! Connection tracking for a graceful drain: each connection holds a guard;
//! the drain waits for the last guard to drop. The drain flag is a watch
//! channel passed to every connection, never a global.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{Notify, watch};

/// The drain state shared by the accept loops and connections of a worker.
#[derive(Clone)]
pub struct Drain {
    flag: watch::Sender<bool>,
    open: Arc<AtomicUsize>,
    idle: Arc<Notify>,
    leaving: Arc<std::sync::atomic::AtomicBool>,
    /// Out of `worker_connections`: idle keep-alive connections are asked
    /// to close, so new clients are not left in the backlog.
    squeeze: Arc<Notify>,
    squeeze_budget: Arc<AtomicUsize>,
}

/// Held by a live connection; dropping it may finish the drain.
pub struct Guard {
    open: Arc<AtomicUsize>,
    idle: Arc<Notify>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        let was = self.open.fetch_sub(1, Ordering::AcqRel);
        super::balance::closed(was - 1);
        if was == 1 {
            self.idle.notify_waiters();
        }
    }
}

impl Drain {
    /// A drain that has not started.
    pub fn new() -> Self {
        Drain {
            flag: watch::channel(false).0,
            open: Arc::new(AtomicUsize::new(0)),
            idle: Arc::new(Notify::new()),
            leaving: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            squeeze: Arc::new(Notify::new()),
            squeeze_budget: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Asks idle keep-alive connections to make room (nginx's "reusing
    /// connections" when worker_connections run out): a few of them, an
    /// eighth of the open ones between 1 and 32, not every one.
    pub fn squeeze(&self) {
        let few = (self.open() / 8).clamp(1, 32);
        self.squeeze_budget.store(few, Ordering::Release);
        self.squeeze.notify_waiters();
    }

    /// Takes one place in the current squeeze; false once enough idle
    /// connections have closed.
    pub fn take_squeeze(&self) -> bool {
        self.squeeze_budget
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok()
    }

    /// Resolves at the next [`Drain::squeeze`].
    pub async fn squeezed(&self) {
        self.squeeze.notified().await;
    }

    /// Registers a connection.
    pub fn guard(&self) -> Guard {
        let was = self.open.fetch_add(1, Ordering::AcqRel);
        super::balance::opened(was + 1);
        Guard {
            open: Arc::clone(&self.open),
            idle: Arc::clone(&self.idle),
        }
    }

    /// Number of connections still open.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    /// The worker was told to go but keeps serving for `shutdown_delay`:
    /// readiness probes fail from now on.
    pub fn leave(&self) {
        self.leaving.store(true, Ordering::Release);
    }

    /// Where the worker is in its life, for the responses it sends.
    pub fn lifecycle(&self) -> crate::http::Lifecycle {
        crate::http::Lifecycle {
            closing: self.started(),
            ready: !self.leaving.load(Ordering::Acquire),
        }
    }

    /// Starts the drain: listeners close, connections finish and close.
    pub fn start(&self) {
        self.flag.send_replace(true);
    }

    /// True once the drain has started.
    pub fn started(&self) -> bool {
        *self.flag.borrow()
    }

    /// Resolves once the drain has started.
    pub async fn wait_started(&self) {
        let mut rx = self.flag.subscribe();
        let _ = rx.wait_for(|&v| v).await;
    }

    /// Resolves when no connection is open.
    pub async fn finished(&self) {
        loop {
            let notified = self.idle.notified();
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
