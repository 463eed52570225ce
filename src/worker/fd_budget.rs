//! How many connections a worker can hold within its open-file limit.
//!
//! Every connection costs a descriptor for its socket and, while a
//! response streams a file, one for the file; the open-file cache keeps up
//! to an eighth of the limit; logs, listeners and the runtime hold a few
//! more. A worker that accepted as many connections as `worker_connections`
//! allows on a low limit would have none left to open files: every request
//! would fail (nginx warns "worker_connections exceed open file resource
//! limit" and fails the same way). So the worker caps what it accepts at
//! what the limit allows, and says so once.

use nix::sys::resource::{Resource, getrlimit, setrlimit};

/// Descriptors kept free beyond the measured ones, for the moments a
/// request needs two files at once (an error page, a listing) and for
/// whatever the runtime opens later.
const SPARE: u64 = 16;

/// Raises the soft open-file limit to the hard one (the master does it
/// once at start; workers and new binaries inherit it): the soft default
/// of 1024 is far below what a busy static server needs, and the hard
/// limit is what the operator allowed. Returns (before, after).
pub fn raise_nofile_limit() -> Option<(u64, u64)> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).ok()?;
    if soft >= hard {
        return Some((soft, soft));
    }
    setrlimit(Resource::RLIMIT_NOFILE, hard, hard).ok()?;
    Some((soft, hard))
}

/// The connections a worker may hold: `configured`, unless the limit
/// `nofile` (with `in_use` descriptors already open and up to `cache`
/// kept by the open-file cache) leaves room for fewer, at two descriptors
/// per connection. Never below 1: a worker that accepts nothing serves
/// nothing.
pub fn connection_cap(configured: usize, nofile: u64, in_use: u64, cache: u64) -> usize {
    let free = nofile.saturating_sub(in_use + cache + SPARE);
    let fit = usize::try_from(free / 2).unwrap_or(usize::MAX);
    configured.min(fit).max(1)
}

/// This process's soft open-file limit, and how many descriptors it has
/// open now.
pub fn current() -> (u64, u64) {
    let nofile = getrlimit(Resource::RLIMIT_NOFILE).map_or(1024, |(soft, _)| soft);
    let in_use = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64);
    (nofile, in_use)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_room_for_files() {
        // nginx's failing case: 512 connections on a limit of 256.
        let cap = connection_cap(512, 256, 20, 32);
        assert_eq!(cap, (256 - 20 - 32 - 16) / 2);
        assert!(cap * 2 + 20 + 32 <= 256);
        // A generous limit leaves the configuration alone.
        assert_eq!(connection_cap(512, 1 << 20, 20, 1 << 17), 512);
        // Nothing left still accepts one at a time.
        assert_eq!(connection_cap(512, 10, 20, 1), 1);
    }
}
