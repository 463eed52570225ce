//! Sharing new connections fairly between the workers. Every worker waits
//! on the same listening sockets and the kernel wakes all of them for each
//! client: the first one to run accepts. Under a burst (a load generator
//! opening 100 keep-alive connections at once) that worker empties the
//! backlog while its siblings still wait for a core, and keeps those
//! clients for good: one of two workers ended up answering 70-100% of the
//! requests.
//!
//! So each worker publishes how many connections it holds on a board that
//! the master maps before forking, and a worker holding more than the
//! average plus [`SLACK`] leaves waiting clients to its siblings. It looks
//! again when one of its connections closes, when a client arrives, and
//! every [`RECHECK`] (its siblings' counts change without a wake), so it
//! takes its turn again soon after it is back within its share. A
//! client no sibling takes within [`PATIENCE`] is accepted after all (a
//! sibling may be stuck on a slow disk, or out of connection slots), with
//! more of the backlog each time that happens in a row ([`Pacer`]).
//!
//! The board belongs to one master and is not passed to a new binary:
//! during an upgrade each binary's workers balance among themselves, and
//! the socket handover stays as it was.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

use crate::sys::shm::Segment;

/// Workers that can take part at once: those of a few generations (a
/// reload briefly runs two). A worker that finds no free slot accepts as
/// if it were alone.
const SLOTS: usize = 64;

/// Words per slot: a cache line each, so that no two workers write the
/// same line. The first line is the header.
const LINE: usize = 8;

const WORDS: usize = LINE * (SLOTS + 1);

/// Header word: how many slots have ever been claimed, so a look at the
/// board reads only those.
const USED: usize = 0;

/// Connections a worker may hold beyond the average before it leaves new
/// clients to its siblings: a fluctuation of a few connections is not
/// worth a wait.
pub const SLACK: u64 = 2;

/// More connections than any worker holds (a worker's count is bounded by
/// its descriptors).
const MAX_OPEN: u64 = 1 << 32;

/// How often a worker over its share looks at the board again while no
/// client waits and none of its connections closes.
const RECHECK: Duration = Duration::from_millis(10);

/// How long a client may wait for a sibling before a worker over its
/// share accepts it anyway: a few scheduler ticks on a busy machine,
/// where a woken sibling may wait that long for a core.
pub const PATIENCE: Duration = Duration::from_millis(2);

/// The board of a master's workers: per slot, the worker's pid and the
/// connections it holds.
pub struct Board<'a> {
    words: &'a [AtomicU64],
}

impl<'a> Board<'a> {
    /// A board over `words`, which must be at least [`Board::WORDS`] long
    /// (a shorter one has fewer slots).
    pub fn new(words: &'a [AtomicU64]) -> Self {
        Board { words }
    }

    /// Words a full board takes.
    pub const WORDS: usize = WORDS;

    fn slots(&self) -> usize {
        (self.words.len() / LINE).saturating_sub(1)
    }

    fn at(slot: usize) -> usize {
        LINE * (slot + 1)
    }

    /// Takes a free slot for `pid`, holding no connections.
    pub fn claim(&self, pid: u32) -> Option<usize> {
        let w = self.words;
        (0..self.slots()).find(|&slot| {
            let at = Self::at(slot);
            let won = w[at]
                .compare_exchange(0, u64::from(pid), Ordering::AcqRel, Ordering::Relaxed)
                .is_ok();
            if won {
                w[at + 1].store(0, Ordering::Relaxed);
                w[USED].fetch_max(slot as u64 + 1, Ordering::AcqRel);
            }
            won
        })
    }

    /// Frees `slot` (a worker that stops accepting).
    pub fn leave(&self, slot: usize) {
        let at = Self::at(slot);
        self.words[at + 1].store(0, Ordering::Relaxed);
        self.words[at].store(0, Ordering::Release);
    }

    /// Frees the slot of `pid`, if it holds one (a reaped worker).
    pub fn release(&self, pid: u32) {
        for slot in 0..self.used() {
            if self.words[Self::at(slot)].load(Ordering::Acquire) == u64::from(pid) {
                self.leave(slot);
            }
        }
    }

    /// The connections the worker in `slot` holds.
    pub fn open(&self, slot: usize) -> u64 {
        // Clamped: the page is shared, and a count no worker could hold
        // (a crashed writer's garbage) must not overflow the sums below.
        self.words[Self::at(slot) + 1]
            .load(Ordering::Relaxed)
            .min(MAX_OPEN)
    }

    /// Publishes the connections the worker in `slot` holds.
    pub fn set_open(&self, slot: usize, open: u64) {
        self.words[Self::at(slot) + 1].store(open, Ordering::Relaxed);
    }

    fn used(&self) -> usize {
        (self.words[USED].load(Ordering::Acquire) as usize).min(self.slots())
    }

    /// True if the worker in `slot` holds more than the average of the
    /// workers on the board plus [`SLACK`].
    pub fn over_share(&self, slot: usize) -> bool {
        let mine = self.open(slot);
        if mine <= SLACK {
            return false;
        }
        let (mut total, mut workers) = (0u64, 0u64);
        for s in 0..self.used() {
            let at = Self::at(s);
            if self.words[at].load(Ordering::Acquire) != 0 {
                total += self.open(s);
                workers += 1;
            }
        }
        over(mine, total, workers)
    }
}

/// The decision itself: a worker holding `mine` of the `total` connections
/// of `workers` (itself included) is over its share when it holds more
/// than the average plus [`SLACK`]. Not every worker can be above the
/// average (the excesses over it sum to zero), so some live worker always
/// accepts: with two, deferring is never mutual; alone, a worker is never
/// over.
pub fn over(mine: u64, total: u64, workers: u64) -> bool {
    mine > SLACK
        && workers > 1
        && mine.saturating_mul(workers) > total.saturating_add(SLACK.saturating_mul(workers))
}

/// The master's board, mapped before any worker is forked.
static SEGMENT: OnceLock<Segment> = OnceLock::new();

/// This worker's slot; `NONE` in the master, and in a worker that has
/// none or has left.
static MINE: AtomicUsize = AtomicUsize::new(NONE);
const NONE: usize = usize::MAX;

fn board() -> Option<Board<'static>> {
    SEGMENT.get().map(|s| Board::new(s.words()))
}

/// Maps the board, in the master before it forks its first worker.
/// Without one, every worker accepts as if it were alone.
pub fn init() -> std::io::Result<()> {
    if SEGMENT.get().is_none() {
        let _ = SEGMENT.set(Segment::create(c"moltd-balance", WORDS)?);
    }
    Ok(())
}

/// A starting worker takes its place on the board.
pub fn join(pid: u32) {
    if let Some(slot) = board().and_then(|b| b.claim(pid)) {
        MINE.store(slot, Ordering::Release);
    }
}

/// The worker stops accepting (its drain began): it no longer counts.
pub fn leave() {
    let slot = MINE.swap(NONE, Ordering::AcqRel);
    if let (Some(b), true) = (board(), slot != NONE) {
        b.leave(slot);
    }
}

/// The master frees the slot of a reaped worker.
pub fn release(pid: u32) {
    if let Some(b) = board() {
        b.release(pid);
    }
}

/// This worker now holds `open` connections, one more than before.
pub fn opened(open: usize) {
    publish(open);
}

/// This worker now holds `open` connections, one fewer than before: an
/// accept loop waiting for its turn looks again.
pub fn closed(open: usize) {
    CLOSES.fetch_add(1, Ordering::Relaxed);
    publish(open);
    if WAITING.load(Ordering::Relaxed) > 0 {
        CLOSED.notify_waiters();
    }
}

fn publish(open: usize) {
    let slot = MINE.load(Ordering::Acquire);
    if let (Some(b), true) = (board(), slot != NONE) {
        b.set_open(slot, open as u64);
    }
}

/// Woken when one of this worker's connections closes, while
/// [`WAITING`] accept loops wait for their turn.
static CLOSED: Notify = Notify::const_new();
static WAITING: AtomicUsize = AtomicUsize::new(0);

/// Connections this worker has closed since it started: how fast they
/// turn over ([`pacer`]).
static CLOSES: AtomicU64 = AtomicU64::new(0);

/// Counts an accept loop in [`WAITING`] while it lives.
struct Waiting;

impl Waiting {
    fn new() -> Self {
        WAITING.fetch_add(1, Ordering::Relaxed);
        Waiting
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        WAITING.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The connections this worker holds, as published.
fn open_now() -> u64 {
    let slot = MINE.load(Ordering::Acquire);
    match board() {
        Some(b) if slot != NONE => b.open(slot),
        _ => 0,
    }
}

/// True if this worker holds more than its share of connections.
pub fn over_share() -> bool {
    let slot = MINE.load(Ordering::Acquire);
    slot != NONE && board().is_some_and(|b| b.over_share(slot))
}

mod pacer;
pub use pacer::{Pacer, Turn, wait_turn};

#[cfg(test)]
mod tests;
