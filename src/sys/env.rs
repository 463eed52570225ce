//! Environment edits. In Rust 2024 removing a variable is `unsafe` because
//! another thread might read the environment at the same time; the master is
//! single-threaded when it does this.

/// Removes `name` from this process's environment, so that nothing started
/// later (a new binary on upgrade) sees it.
pub fn remove_var(name: &str) {
    debug_assert!(super::fork::thread_count() <= 1);
    // SAFETY: called by the master at startup, before any thread exists, so
    // no other thread can be reading the environment concurrently.
    unsafe { std::env::remove_var(name) }
}
