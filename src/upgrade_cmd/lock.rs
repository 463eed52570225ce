//! One `-s upgrade` at a time: an exclusive `flock` on a file beside the
//! pid file, held until the command exits (the kernel drops it even on
//! SIGKILL, so a stale lock cannot block the next upgrade).

use std::fs::File;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

/// The lock file for pid file `pid`.
pub fn path(pid: &Path) -> PathBuf {
    let mut s = pid.as_os_str().to_owned();
    s.push(".upgrade-lock");
    PathBuf::from(s)
}

/// Takes the lock, or says who holds it.
pub fn take(pid: &Path) -> Result<Flock<File>, String> {
    let p = path(pid);
    // Never follow a planted link or block on a planted FIFO.
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(&p)
        .map_err(|e| format!("could not open the upgrade lock \"{}\" ({e})", p.display()))?;
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        return Err(format!(
            "the upgrade lock \"{}\" is not a regular file",
            p.display()
        ));
    }
    Flock::lock(file, FlockArg::LockExclusiveNonblock).map_err(|_| {
        format!(
            "another moltd -s upgrade is running (it holds \"{}\")",
            p.display()
        )
    })
}

/// Another run holds the lock of pid file `pid` (asked without taking
/// it, and without creating anything).
pub fn held(pid: &Path) -> bool {
    let Ok(file) = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path(pid))
    else {
        return false;
    };
    Flock::lock(file, FlockArg::LockSharedNonblock).is_err()
}
