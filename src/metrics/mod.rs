//! Counters for `status = "stub"` and `status = "prometheus"` locations:
//! one segment of shared memory created by the master (`sys::shm`), so the
//! numbers are whole across workers, survive a HUP (the master keeps the
//! segment) and an upgrade (the new binary maps the same segment, handed
//! over in `MOLTD_METRICS`; a binary with another layout starts from zero
//! and says so).
//!
//! Counters are plain atomic adds. Connection gauges (active, reading,
//! writing) live in one slot per worker, claimed by the worker and cleared
//! by the master when the worker is reaped, so a worker killed mid-request
//! leaves no phantom connections behind.

mod render;

pub use render::{prometheus, stub_status};

use std::os::fd::{BorrowedFd, OwnedFd};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::sys::shm::Segment;

/// The first word of a segment: "moltdmet".
const MAGIC: u64 = u64::from_be_bytes(*b"moltdmet");

/// The second word: the layout below. Bump it when a word moves.
pub const LAYOUT: u64 = 1;

/// Worker slots for the connection gauges: room for the workers of a few
/// generations draining at once (a reload or an upgrade doubles them).
const SLOTS: usize = 1024;
const SLOT_WORDS: usize = 4;
const SLOTS_AT: usize = 64;

/// Words in a segment.
pub const WORDS: usize = SLOTS_AT + SLOTS * SLOT_WORDS;

/// A counter, by its word in the segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub enum Counter {
    /// Connections accepted.
    Accepted = 2,
    /// Connections served (not refused for lack of room).
    Handled,
    /// Requests answered.
    Requests,
    /// Response bytes sent.
    BytesSent,
    /// Sum of request durations, in microseconds.
    DurationMicros,
    /// Successful reloads (HUP).
    Reloads,
    /// Committed binary upgrades (counted by the old master when QUIT or
    /// TERM hands over to its new binary; a rollback is not one).
    Upgrades,
    /// Workers started again after an unexpected exit.
    WorkerRestarts,
    /// Open-file cache hits.
    CacheHits,
    /// Open-file cache misses.
    CacheMisses,
    /// Requests answered from a kept response head.
    HeadReplays,
}

/// Responses by status class (1xx..5xx): words 16..21.
const STATUS_AT: usize = 16;

/// Request duration histogram: upper bounds in seconds, then +Inf.
pub const BUCKETS: [f64; 11] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];
const BUCKETS_AT: usize = 24;

/// A per-worker gauge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gauge {
    /// Open connections.
    Active = 1,
    /// Connections reading a request (head or body).
    Reading = 2,
    /// Responses being written.
    Writing = 3,
}

/// The segment this process uses, once set up.
static SEGMENT: OnceLock<Segment> = OnceLock::new();

/// This worker's slot, once claimed (never set in a master).
static SLOT: OnceLock<usize> = OnceLock::new();

fn words() -> Option<&'static [AtomicU64]> {
    SEGMENT.get().map(Segment::words)
}

/// Sets up the counters for a starting master: the segment an old master
/// handed over if its layout is ours, else a fresh one. Returns a line to
/// log when handed counters could not be kept.
pub fn init(handed: Option<OwnedFd>) -> Option<String> {
    let mut note = None;
    if let Some(fd) = handed {
        match Segment::adopt(fd, WORDS) {
            Ok(seg) if compatible(seg.words()) => {
                let _ = SEGMENT.set(seg);
                return None;
            }
            Ok(seg) => {
                note = Some(format!(
                    "the metrics from the old binary use layout {} and this one uses {LAYOUT}: counters start from zero",
                    seg.words()[1].load(Ordering::Relaxed)
                ));
            }
            Err(e) => {
                note = Some(format!(
                    "the metrics from the old binary cannot be used ({e}): counters start from zero"
                ))
            }
        }
    }
    match Segment::create(c"moltd-metrics", WORDS) {
        Ok(seg) => {
            seg.words()[0].store(MAGIC, Ordering::Relaxed);
            seg.words()[1].store(LAYOUT, Ordering::Relaxed);
            let _ = SEGMENT.set(seg);
        }
        Err(e) => {
            note = Some(format!(
                "no shared memory for metrics ({e}): status pages show nothing"
            ))
        }
    }
    note
}

fn compatible(w: &[AtomicU64]) -> bool {
    w[0].load(Ordering::Relaxed) == MAGIC && w[1].load(Ordering::Relaxed) == LAYOUT
}

/// The segment's fd, to hand to a new binary.
pub fn segment_fd() -> Option<BorrowedFd<'static>> {
    SEGMENT.get().map(Segment::fd)
}

/// Adds `n` to `c`.
pub fn add(c: Counter, n: u64) {
    if let Some(w) = words() {
        w[c as usize].fetch_add(n, Ordering::Relaxed);
    }
}

/// Adds one to `c`.
pub fn count(c: Counter) {
    add(c, 1);
}

/// One answered request (counted in [`Counter::Requests`] when it came in,
/// as nginx counts): its status, the bytes sent, how long it took.
pub fn response(status: u16, bytes: u64, took: Duration) {
    let Some(w) = words() else { return };
    w[Counter::BytesSent as usize].fetch_add(bytes, Ordering::Relaxed);
    let class = usize::from((status / 100).clamp(1, 5)) - 1;
    w[STATUS_AT + class].fetch_add(1, Ordering::Relaxed);
    let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
    w[Counter::DurationMicros as usize].fetch_add(micros, Ordering::Relaxed);
    let secs = took.as_secs_f64();
    let bucket = BUCKETS
        .iter()
        .position(|b| secs <= *b)
        .unwrap_or(BUCKETS.len());
    w[BUCKETS_AT + bucket].fetch_add(1, Ordering::Relaxed);
}

/// A worker takes a slot for its gauges: a free one, else one whose
/// worker is gone without its master clearing it (a worker reaped by init
/// after its master died). False if none is left: its connections are
/// then not in the gauges.
pub fn claim_slot(pid: u32) -> bool {
    let Some(w) = words() else { return true };
    let mine = u64::from(pid);
    for pass in 0..2 {
        for i in 0..SLOTS {
            let at = SLOTS_AT + i * SLOT_WORDS;
            let holder = w[at].load(Ordering::Acquire);
            let free = holder == 0 || (pass == 1 && !alive(holder));
            if free
                && w[at]
                    .compare_exchange(holder, mine, Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok()
            {
                for g in 1..SLOT_WORDS {
                    w[at + g].store(0, Ordering::Relaxed);
                }
                let _ = SLOT.set(at);
                return true;
            }
        }
    }
    false
}

/// True if process `pid` exists.
fn alive(pid: u64) -> bool {
    let Ok(raw) = i32::try_from(pid) else {
        return false;
    };
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(raw), None) != Err(nix::errno::Errno::ESRCH)
}

/// The master clears the slot of a reaped worker.
pub fn release_slot(pid: u32) {
    let Some(w) = words() else { return };
    for i in 0..SLOTS {
        let at = SLOTS_AT + i * SLOT_WORDS;
        if w[at].load(Ordering::Acquire) == u64::from(pid) {
            for g in 1..SLOT_WORDS {
                w[at + g].store(0, Ordering::Relaxed);
            }
            w[at].store(0, Ordering::Release);
        }
    }
}

/// Moves this worker's gauge `g` by `delta`.
pub fn gauge(g: Gauge, delta: i64) {
    let (Some(w), Some(at)) = (words(), SLOT.get()) else {
        return;
    };
    // Two's complement: adding the wrapped negative subtracts.
    w[at + g as usize].fetch_add(delta as u64, Ordering::Relaxed);
}

/// Everything at one moment, for the status pages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// The counters, by [`Counter`].
    pub counters: Vec<(Counter, u64)>,
    /// Responses by class, 1xx first.
    pub statuses: [u64; 5],
    /// Histogram counts per bucket (not cumulative), +Inf last.
    pub buckets: [u64; 12],
    /// Open connections.
    pub active: u64,
    /// Connections reading.
    pub reading: u64,
    /// Responses being written.
    pub writing: u64,
}

impl Snapshot {
    /// One counter's value.
    pub fn get(&self, c: Counter) -> u64 {
        self.counters
            .iter()
            .find(|(k, _)| *k == c)
            .map_or(0, |(_, v)| *v)
    }
}

/// Reads every counter.
pub fn snapshot() -> Snapshot {
    let Some(w) = words() else {
        return Snapshot::default();
    };
    use Counter::*;
    let all = [
        Accepted,
        Handled,
        Requests,
        BytesSent,
        DurationMicros,
        Reloads,
        Upgrades,
        WorkerRestarts,
        CacheHits,
        CacheMisses,
        HeadReplays,
    ];
    let load = |i: usize| w[i].load(Ordering::Relaxed);
    let mut s = Snapshot {
        counters: all.iter().map(|c| (*c, load(*c as usize))).collect(),
        ..Snapshot::default()
    };
    for (i, v) in s.statuses.iter_mut().enumerate() {
        *v = load(STATUS_AT + i);
    }
    for (i, v) in s.buckets.iter_mut().enumerate() {
        *v = load(BUCKETS_AT + i);
    }
    // Slots of workers that are gone count for nothing, cleared or not.
    let live: Vec<usize> = (0..SLOTS)
        .map(|i| SLOTS_AT + i * SLOT_WORDS)
        .filter(|at| {
            let pid = load(*at);
            pid != 0 && alive(pid)
        })
        .collect();
    let sum = |g: Gauge| -> u64 {
        live.iter()
            .map(|at| load(at + g as usize) as i64)
            .sum::<i64>()
            .max(0) as u64
    };
    s.active = sum(Gauge::Active);
    s.reading = sum(Gauge::Reading);
    s.writing = sum(Gauge::Writing);
    s
}
