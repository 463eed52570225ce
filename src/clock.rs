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

use std::cell::Cell;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

thread_local! {
    /// The last reading [`now`] made on this thread.
    static LAST: Cell<Option<Instant>> = const { Cell::new(None) };
    /// The wall clock's reading at a monotonic one, until the next wall
    /// second: wall time is read once a second, not once per `Date`.
    static WALL: Cell<Option<Anchor>> = const { Cell::new(None) };
}

/// Reads the clock; [`recent`] gives this reading until the next one.
pub fn now() -> Instant {
    let t = Instant::now();
    LAST.with(|l| l.set(Some(t)));
    t
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
