//! Daemon mode: the launcher forks, the child starts a new session and
//! carries on as the master; the launcher waits for the child's report and
//! exits 0 only once the pid file is written (docs/operations.md), or 1 with the
//! child's error.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;

use nix::fcntl::OFlag;

use crate::sys::fork::{Daemon, fork_daemon};

/// The daemon's line back to its launcher; used once.
pub struct Report(File);

impl Report {
    /// Startup succeeded: the launcher exits 0.
    pub fn ok(mut self) {
        let _ = self.0.write_all(b"ok");
    }

    /// Startup failed: the launcher prints `msg` and exits 1.
    pub fn fail(mut self, msg: &str) {
        let _ = self.0.write_all(format!("{msg}\n").as_bytes());
    }
}

/// Forks into the background. In the launcher this never returns: it exits
/// with the daemon's verdict. In the daemon it returns the report channel.
pub fn daemonize() -> std::io::Result<Report> {
    let (r, w): (OwnedFd, OwnedFd) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
    match fork_daemon()? {
        Daemon::Launcher(_) => {
            drop(w);
            let mut msg = String::new();
            let _ = File::from(r).read_to_string(&mut msg);
            if msg == "ok" {
                std::process::exit(0);
            }
            if msg.is_empty() {
                eprintln!("moltd: [emerg] the daemon process exited before it was ready");
            } else {
                eprint!("moltd: [emerg] {msg}");
            }
            std::process::exit(1);
        }
        Daemon::Child => {
            drop(r);
            crate::sys::fd::stdio_to_devnull()?;
            Ok(Report(File::from(w)))
        }
    }
}
