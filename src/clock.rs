//! One reading of the clock for everything that happens at once: the
//! bytes of a request arrive, the request is counted, its response is
//! timed and dated. Each read of the clock is a measurable share of a
//! small keep-alive response's cost, and the moments a request stamps
//! between two waits are the same moment to within microseconds, so
//! what follows a reading reuses it instead of reading again.
//!
//! On tokio's clock (`tokio::time::Instant`): the timeouts stamped with
//! these readings are tested under paused time.
//!
//! Kept per thread: a worker serves on one thread, so the last reading
//! on it is at least as recent as the caller's own last reading.
//!
//! A worker's thread also reads the clock at most once per wake for the
//! activity stamps ([`this_wake`]), as an event loop that reads it once
//! per turn would: its runtime calls [`woke`] each time it comes back
//! from waiting for events. A reading serves a bounded number of stamps,
//! so one turn that never waits (every connection busy) still moves on.

use std::cell::Cell;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

/// How many stamps one reading serves at most within a wake: a few
/// requests' worth, so a turn with no wait in it reads the clock again
/// within microseconds.
const USES: u32 = 32;

thread_local! {
    /// The last reading [`now`] made on this thread.
    static LAST: Cell<Option<Instant>> = const { Cell::new(None) };
    /// Uses of `LAST` left to [`this_wake`]: none on a thread whose
    /// runtime does not call [`woke`] (a test's), so there every stamp
    /// reads the clock.
    static LEFT: Cell<u32> = const { Cell::new(0) };
    /// The thread's runtime calls [`woke`].
    static HOOKED: Cell<bool> = const { Cell::new(false) };
    /// The wall clock's reading at a monotonic one, until the next wall
    /// second: wall time is read once a second, not once per `Date`.
    static WALL: Cell<Option<Anchor>> = const { Cell::new(None) };
}

/// Reads the clock; [`recent`] gives this reading until the next one.
pub fn now() -> Instant {
    let t = Instant::now();
    LAST.with(|l| l.set(Some(t)));
    LEFT.with(|l| l.set(if HOOKED.with(Cell::get) { USES } else { 0 }));
    t
}

/// A reading from this wake of the thread: the last one, unless the
/// thread waited since or the reading has served its share.
pub fn this_wake() -> Instant {
    let left = LEFT.with(Cell::get);
    match LAST.with(Cell::get) {
        Some(t) if left > 0 => {
            LEFT.with(|l| l.set(left - 1));
            t
        }
        _ => now(),
    }
}

/// The thread is back from waiting for events: the last reading is old,
/// and the next stamp reads the clock. For the worker runtime's
/// `on_thread_unpark`.
pub fn woke() {
    HOOKED.with(|h| h.set(true));
    LEFT.with(|l| l.set(0));
    LAST.with(|l| l.set(None));
}

/// The last reading [`now`] made on this thread (or a new one): for work
/// that follows a reading without having waited since (a request counted
/// after its bytes arrived, its response timed and dated).
pub fn recent() -> Instant {
    LAST.with(Cell::get).unwrap_or_else(now)
}

#[derive(Clone, Copy)]
struct Anchor {
    mono: Instant,
    wall: SystemTime,
    /// When the wall clock enters its next second.
    until: Instant,
}

/// The wall-clock time at reading `t`: the wall clock read at most once
/// per second of it (a step of the wall clock shows at the next second).
pub fn wall_at(t: Instant) -> SystemTime {
    let held = WALL.with(Cell::get);
    if let Some(a) = held
        && a.mono <= t
        && t < a.until
    {
        return a.wall + (t - a.mono);
    }
    let wall = SystemTime::now();
    let into_second = wall
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(Duration::ZERO, |d| {
            Duration::from_nanos(u64::from(d.subsec_nanos()))
        });
    let a = Anchor {
        mono: t,
        wall,
        until: t + (Duration::from_secs(1) - into_second),
    };
    WALL.with(|w| w.set(Some(a)));
    wall
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_is_the_last_reading() {
        let t = now();
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(recent(), t);
        let u = now();
        assert!(u > t);
        assert_eq!(recent(), u);
    }

    #[test]
    fn a_thread_without_a_reading_reads_the_clock() {
        std::thread::spawn(|| {
            let before = Instant::now();
            assert!(recent() >= before);
        })
        .join()
        .expect("thread");
    }

    #[test]
    fn a_wake_reading_serves_a_bounded_number_of_stamps() {
        std::thread::spawn(|| {
            // Not hooked: every stamp reads.
            let t = this_wake();
            std::thread::sleep(Duration::from_millis(2));
            assert!(this_wake() > t);
            woke();
            let t = this_wake();
            std::thread::sleep(Duration::from_millis(2));
            for _ in 0..USES {
                assert_eq!(this_wake(), t);
            }
            let u = this_wake();
            assert!(u > t, "read again after its share");
            std::thread::sleep(Duration::from_millis(2));
            woke();
            assert!(this_wake() > u, "read again after a wait");
        })
        .join()
        .expect("thread");
    }

    #[test]
    fn a_runtime_that_calls_woke_reads_again_after_each_wait() {
        // On a thread of its own: the hook stays with the thread.
        std::thread::spawn(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .on_thread_unpark(woke)
                .build()
                .expect("runtime");
            rt.block_on(async {
                // The first park hooks the thread.
                tokio::time::sleep(Duration::from_millis(1)).await;
                let t = this_wake();
                assert_eq!(this_wake(), t);
                assert_eq!(recent(), t);
                tokio::time::sleep(Duration::from_millis(5)).await;
                assert!(recent() >= t + Duration::from_millis(5));
                assert!(this_wake() >= t + Duration::from_millis(5));
            });
        })
        .join()
        .expect("thread");
    }

    fn secs(t: SystemTime) -> u64 {
        t.duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }

    #[test]
    fn wall_time_follows_the_monotonic_reading() {
        let t = now();
        let w = wall_at(t);
        let real = SystemTime::now();
        assert!(real.duration_since(w).unwrap_or_default() < Duration::from_millis(50));
        // Within the anchor's second: derived, not read.
        let later = t + Duration::from_millis(1);
        let derived = wall_at(later);
        if secs(derived) == secs(w) {
            assert_eq!(
                derived.duration_since(w).ok(),
                Some(Duration::from_millis(1))
            );
        }
        // A reading past the second re-reads the wall clock.
        let next = t + Duration::from_millis(1500);
        let w2 = wall_at(next);
        assert!(w2 >= w);
        assert!(SystemTime::now() >= w2);
        // And one before the anchor too.
        assert!(wall_at(t) <= SystemTime::now());
    }
}
