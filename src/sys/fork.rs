//! Forking: a worker child and the daemon's background child.
//!
//! A fork never returns twice into master code: [`spawn_worker`] runs the
//! child's closure and exits the child process with its code.

use std::panic::{AssertUnwindSafe, catch_unwind};

use nix::unistd::{ForkResult, Pid};

/// Exit code of a worker child whose closure panicked: a bug, so respawning
/// it (code 70, EX_SOFTWARE) is reasonable, unlike the fatal code 2.
const PANIC_EXIT_CODE: i32 = 70;

/// Number of threads in this process, read from /proc (0 if unreadable).
/// The master checks it before forking: fork in a threaded process is unsound.
pub fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Forks; the child runs `child` and exits with the code it returns.
/// Returns the child's pid in the parent.
pub fn spawn_worker(child: impl FnOnce() -> i32) -> nix::Result<Pid> {
    debug_assert!(thread_count() <= 1, "fork from a threaded process");
    // SAFETY: the caller is single-threaded (asserted above in debug builds;
    // the master never creates threads), so the child's copy of the address
    // space has no locks held by threads that do not exist in the child.
    match unsafe { nix::unistd::fork() }? {
        ForkResult::Parent { child } => Ok(child),
        ForkResult::Child => {
            let code = catch_unwind(AssertUnwindSafe(child)).unwrap_or(PANIC_EXIT_CODE);
            std::process::exit(code)
        }
    }
}

/// Which side of [`fork_daemon`] we are on.
pub enum Daemon {
    /// The launcher: it waits for the daemon's report and exits.
    Launcher(Pid),
    /// The daemon child, already in a new session.
    Child,
}

/// Forks and, in the child, starts a new session (setsid) so the daemon has
/// no controlling terminal.
pub fn fork_daemon() -> nix::Result<Daemon> {
    debug_assert!(thread_count() <= 1, "fork from a threaded process");
    // SAFETY: single-threaded caller, as for `spawn_worker`; both sides return
    // into ordinary code and the child keeps running the same program.
    match unsafe { nix::unistd::fork() }? {
        ForkResult::Parent { child } => Ok(Daemon::Launcher(child)),
        ForkResult::Child => {
            nix::unistd::setsid()?;
            Ok(Daemon::Child)
        }
    }
}
