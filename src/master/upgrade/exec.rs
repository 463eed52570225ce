//! The old master's side of an upgrade: rename the pid file to `.oldbin`,
//! clear close-on-exec on exactly the listener fds (and the readiness
//! pipe), and start the binary on disk with the handover variables through
//! `std::process::Command`, with the child's signal mask cleared
//! (`sys::signals::clear_mask_on_exec`). Any failure puts the pid file
//! back: the master stays as it was.

use std::ffi::OsString;
use std::fmt;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use nix::fcntl::OFlag;
use nix::unistd::Pid;

use super::handover::Handover;
use crate::listen::Shared;
use crate::sys::fd::InheritGuard;

/// Why an upgrade did not start; each variant names the step.
#[derive(Debug)]
pub enum UpgradeError {
    /// Renaming the pid file to `.oldbin` failed.
    Rename {
        /// The pid file.
        from: PathBuf,
        /// The `.oldbin` name.
        to: PathBuf,
        /// The binary that would have run.
        exe: PathBuf,
        /// Why.
        err: std::io::Error,
    },
    /// The readiness pipe could not be created.
    Pipe(nix::Error),
    /// Close-on-exec could not be cleared on a listener.
    ClearCloexec {
        /// The fd.
        fd: i32,
        /// Why.
        err: nix::Error,
    },
    /// The new binary could not be started.
    Exec {
        /// The binary.
        exe: PathBuf,
        /// Why.
        err: std::io::Error,
    },
}

impl fmt::Display for UpgradeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UpgradeError::Rename { from, to, exe, err } => write!(
                f,
                "rename() \"{}\" to \"{}\" failed before executing new binary process \"{}\" ({})",
                from.display(),
                to.display(),
                exe.display(),
                crate::log::errno_text(err)
            ),
            UpgradeError::Pipe(e) => {
                write!(f, "pipe() failed before executing new binary process ({e})")
            }
            UpgradeError::ClearCloexec { fd, err } => {
                write!(
                    f,
                    "fcntl(FD_CLOEXEC) on #{fd} failed before executing new binary process ({err})"
                )
            }
            UpgradeError::Exec { exe, err } => write!(
                f,
                "execve() failed while executing new binary process \"{}\" ({})",
                exe.display(),
                crate::log::errno_text(err)
            ),
        }
    }
}

/// Resolves argv[0] once, at first start (docs/operations.md): a name with a
/// slash against the start directory, a bare name through PATH. Never
/// /proc/self/exe, which names the old inode after a package upgrade.
pub fn resolve_exe(argv0: &Path) -> PathBuf {
    if argv0.as_os_str().as_encoded_bytes().contains(&b'/') {
        return std::path::absolute(argv0).unwrap_or_else(|_| argv0.to_path_buf());
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join(argv0);
        if candidate.is_file() {
            return std::path::absolute(&candidate).unwrap_or(candidate);
        }
    }
    argv0.to_path_buf()
}

/// Starts the new binary. On success the pid file is `.oldbin` and the
/// child is running; on failure everything is as before.
pub fn exec_new_binary(
    exe: &Path,
    argv: &[OsString],
    listeners: &[Shared],
    pid_path: &Path,
    oldbin: &Path,
    conf: Option<&Path>,
) -> Result<(Pid, OwnedFd), UpgradeError> {
    std::fs::rename(pid_path, oldbin).map_err(|err| UpgradeError::Rename {
        from: pid_path.to_path_buf(),
        to: oldbin.to_path_buf(),
        exe: exe.to_path_buf(),
        err,
    })?;
    let result = spawn(exe, argv, listeners, conf);
    if result.is_err()
        && let Err(e) = std::fs::rename(oldbin, pid_path)
    {
        crate::alert!(
            "rename() \"{}\" back to \"{}\" failed after an attempt to execute new binary process \"{}\" ({e})",
            oldbin.display(),
            pid_path.display(),
            exe.display()
        );
    }
    result
}

fn spawn(
    exe: &Path,
    argv: &[OsString],
    listeners: &[Shared],
    conf: Option<&Path>,
) -> Result<(Pid, OwnedFd), UpgradeError> {
    let (ready_r, ready_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(UpgradeError::Pipe)?;
    let mut fds: Vec<_> = listeners.iter().map(|l| l.socket.as_fd()).collect();
    fds.push(ready_w.as_fd());
    let metrics = crate::metrics::segment_fd();
    fds.extend(metrics);
    let guard =
        InheritGuard::new(fds).map_err(|(fd, err)| UpgradeError::ClearCloexec { fd, err })?;
    let mut cmd = Command::new(exe);
    if let Some(arg0) = argv.first() {
        cmd.arg0(arg0);
    }
    cmd.args(argv.iter().skip(1))
        .envs(Handover::for_child(
            listeners,
            ready_w.as_raw_fd(),
            metrics.map(|fd| fd.as_raw_fd()),
            conf,
        ))
        .env_remove("LISTEN_FDS")
        .env_remove("LISTEN_PID")
        .env_remove("LISTEN_FDNAMES");
    // Its own process group, so everything it starts can be stopped with
    // it (`World::signal_group`).
    cmd.process_group(0);
    crate::sys::signals::clear_mask_on_exec(&mut cmd);
    let child = cmd.spawn().map_err(|err| UpgradeError::Exec {
        exe: exe.to_path_buf(),
        err,
    })?;
    drop(guard);
    drop(ready_w);
    Ok((Pid::from_raw(child.id() as i32), ready_r))
}
