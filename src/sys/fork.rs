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

/// Refuses to go on unless this process has one thread. Checked in every
/// build, not only in debug ones: a fork from a threaded process can leave
/// the child holding a lock (the allocator's, the environment's) that no
/// thread of the child will ever release. The check costs one directory
/// read per fork; a process without /proc is let through.
fn single_threaded() -> std::io::Result<()> {
    match thread_count() {
        0 | 1 => Ok(()),
        n => Err(std::io::Error::other(format!(
            "refusing to fork: this process has {n} threads, and fork() is only safe from a single-threaded one"
        ))),
    }
}

/// Forks; the child runs `child` and exits with the code it returns.
/// Returns the child's pid in the parent.
pub fn spawn_worker(child: impl FnOnce() -> i32) -> std::io::Result<Pid> {
    single_threaded()?;
    // SAFETY: the caller is single-threaded (checked just above; the master
    // never creates threads), so the child's copy of the address space has
    // no locks held by threads that do not exist in the child.
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
pub fn fork_daemon() -> std::io::Result<Daemon> {
    single_threaded()?;
    // SAFETY: single-threaded caller (checked above), as for `spawn_worker`; both sides return
    // into ordinary code and the child keeps running the same program.
    match unsafe { nix::unistd::fork() }? {
        ForkResult::Parent { child } => Ok(Daemon::Launcher(child)),
        ForkResult::Child => {
            nix::unistd::setsid()?;
            Ok(Daemon::Child)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_threaded_process_is_refused_a_fork() {
        // The test harness runs tests on threads: keep one more alive to be
        // sure, then ask for a fork. It must be refused, never performed.
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || {
            let _ = rx.recv();
        });
        let err = spawn_worker(|| 0).expect_err("fork refused");
        assert!(err.to_string().contains("refusing to fork"), "{err}");
        assert!(matches!(fork_daemon(), Err(e) if e.to_string().contains("threads")));
        drop(tx);
        let _ = t.join();
    }
}
