//! Who is on the other end of a connection and what serves them: shared
//! by the connection's life (`conn.rs`) and its HTTP/1 exchange
//! (`http1/`), so neither has to name the other.
//!
//! Every connection holds its [`Client`], idle ones too, inside its task:
//! what all connections of a listen address have in common is shared
//! ([`Listening`]), and the client's open count in the drain and its
//! `worker_connections` slot are kept as one flag rather than a guard and
//! a permit of their own.

use std::net::{IpAddr, SocketAddr};
use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::Ctx;
use super::drain::Drain;

/// What every connection accepted on one listen address shares.
pub struct Listening {
    /// The configured listen address.
    pub listen: SocketAddr,
    /// The worker's shared state.
    pub ctx: Arc<Ctx>,
    /// The worker's drain.
    pub drain: Drain,
    /// The worker's `worker_connections` slots.
    slots: Arc<Semaphore>,
}

impl Listening {
    /// The shared part of the connections accepted on `listen`.
    pub fn new(listen: SocketAddr, ctx: Arc<Ctx>, drain: Drain, slots: Arc<Semaphore>) -> Self {
        Listening {
            listen,
            ctx,
            drain,
            slots,
        }
    }
}

/// Where a connection came from and what it serves. While it exists the
/// drain counts the connection as open.
pub struct Client {
    at: Arc<Listening>,
    /// The client's address (its port is read by nothing).
    pub peer: IpAddr,
    /// Holds a `worker_connections` slot.
    slot: AtomicBool,
}

impl Client {
    /// A client accepted on `at` from `peer`, holding `slot`.
    pub fn new(at: &Arc<Listening>, peer: IpAddr, slot: OwnedSemaphorePermit) -> Self {
        // Given back by `release_slot`, or on drop.
        slot.forget();
        at.drain.opened();
        Client {
            at: Arc::clone(at),
            peer,
            slot: AtomicBool::new(true),
        }
    }

    /// Gives the `worker_connections` slot to the next client (a closing
    /// connection serves nobody); the drain still counts this one.
    pub fn release_slot(&self) {
        if self.slot.swap(false, Ordering::AcqRel) {
            self.at.slots.add_permits(1);
        }
    }
}

impl Deref for Client {
    type Target = Listening;

    fn deref(&self) -> &Listening {
        &self.at
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.release_slot();
        self.at.drain.closed();
    }
}
