//! Binary upgrade, the old master's side (DESIGN §4): rename the pid file to
//! `.oldbin`, clear close-on-exec on exactly the listener fds (and the
//! readiness pipe), and start the binary on disk with `MOLTD="fd;fd;"`
//! through `std::process::Command`, with the child's signal mask cleared
//! (`sys::signals::clear_mask_on_exec`).
//! Any failure puts the pid file back: the master stays as it was.

use std::ffi::OsString;
use std::fmt;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use nix::fcntl::OFlag;
use nix::unistd::Pid;

use crate::listen::{self, HANDOVER_VAR, Shared};
use crate::sys::fd::InheritGuard;

/// The variable naming the fd on which a new master reports readiness.
pub const READY_VAR: &str = "MOLTD_READY";

/// The variable naming the old master's pid, so the new one refuses USR2
/// exactly while that master lives (not inferred from getppid later).
pub const PARENT_VAR: &str = "MOLTD_PARENT";

/// The old master's pid, from [`PARENT_VAR`] (removed from the environment).
pub fn old_master_pid() -> Option<Pid> {
    let v = std::env::var(PARENT_VAR).ok();
    crate::sys::env::remove_var(PARENT_VAR);
    v?.parse().ok().map(Pid::from_raw)
}

/// After TERM, how long a stuck new binary gets before SIGKILL.
const KILL_AFTER: Duration = Duration::from_secs(5);

/// A new-binary child in progress.
#[derive(Debug)]
pub struct NewBinary {
    /// Its pid.
    pub pid: Pid,
    /// Read end of its readiness pipe, until it reports or closes.
    pub ready: Option<OwnedFd>,
    /// It reported ready.
    pub ready_seen: bool,
    /// When it was started.
    pub started: Instant,
    /// When it was sent TERM for not becoming ready.
    pub termed: Option<Instant>,
    /// How long it may take to report ready (`upgrade_ready_timeout`): a
    /// hung new master would otherwise hold the upgrade, and the missing
    /// pid file, forever.
    pub ready_timeout: Duration,
}

impl NewBinary {
    /// The next time the old master must act on this child, if any.
    pub fn deadline(&self) -> Option<Instant> {
        if self.ready_seen {
            return None;
        }
        match self.termed {
            None => Some(self.started + self.ready_timeout),
            Some(t) => Some(t + KILL_AFTER),
        }
    }

    /// The child missed its deadline: TERM it, or KILL it if TERM did not
    /// work. Its exit then rolls the upgrade back.
    pub fn escalate(&mut self) {
        match self.termed {
            None => {
                crate::alert!(
                    "new binary process {} did not become ready within {}ms, stopping it",
                    self.pid,
                    self.ready_timeout.as_millis()
                );
                let _ = nix::sys::signal::kill(self.pid, nix::sys::signal::Signal::SIGTERM);
                self.termed = Some(Instant::now());
            }
            Some(_) => {
                crate::alert!(
                    "new binary process {} ignored SIGTERM, sending SIGKILL",
                    self.pid
                );
                let _ = nix::sys::signal::kill(self.pid, nix::sys::signal::Signal::SIGKILL);
                self.ready_seen = true;
            }
        }
    }
}

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

/// Resolves argv[0] once, at first start (control.md #2): a name with a
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
    ready_timeout: Duration,
    exe: &Path,
    argv: &[OsString],
    listeners: &[Shared],
    pid_path: &Path,
    oldbin: &Path,
) -> Result<NewBinary, UpgradeError> {
    std::fs::rename(pid_path, oldbin).map_err(|err| UpgradeError::Rename {
        from: pid_path.to_path_buf(),
        to: oldbin.to_path_buf(),
        exe: exe.to_path_buf(),
        err,
    })?;
    let result = spawn(exe, argv, listeners, ready_timeout);
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
    ready_timeout: Duration,
) -> Result<NewBinary, UpgradeError> {
    let (ready_r, ready_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(UpgradeError::Pipe)?;
    let mut fds: Vec<_> = listeners.iter().map(|l| l.socket.as_fd()).collect();
    fds.push(ready_w.as_fd());
    let guard =
        InheritGuard::new(fds).map_err(|(fd, err)| UpgradeError::ClearCloexec { fd, err })?;
    let mut cmd = Command::new(exe);
    if let Some(arg0) = argv.first() {
        cmd.arg0(arg0);
    }
    cmd.args(argv.iter().skip(1))
        .env(HANDOVER_VAR, listen::handover_value(listeners))
        .env(READY_VAR, ready_w.as_raw_fd().to_string())
        .env(PARENT_VAR, nix::unistd::getpid().to_string())
        .env_remove("LISTEN_FDS")
        .env_remove("LISTEN_PID")
        .env_remove("LISTEN_FDNAMES");
    crate::sys::signals::clear_mask_on_exec(&mut cmd);
    let child = cmd.spawn().map_err(|err| UpgradeError::Exec {
        exe: exe.to_path_buf(),
        err,
    })?;
    drop(guard);
    drop(ready_w);
    Ok(NewBinary {
        pid: Pid::from_raw(child.id() as i32),
        ready: Some(ready_r),
        ready_seen: false,
        started: Instant::now(),
        termed: None,
        ready_timeout,
    })
}
