//! Binary upgrade, the old master's side (docs/architecture.md §4): rename the pid file to
//! `.oldbin`, clear close-on-exec on exactly the listener fds (and the
//! readiness pipe), and start the binary on disk with `MOLTD="fd;fd;"`
//! through `std::process::Command`, with the child's signal mask cleared
//! (`sys::signals::clear_mask_on_exec`).
//! Any failure puts the pid file back: the master stays as it was.

use std::ffi::OsString;
use std::fmt;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use nix::fcntl::OFlag;
use nix::unistd::Pid;

use super::state::Report;
use crate::listen::{self, HANDOVER_VAR, Shared};
use crate::sys::fd::InheritGuard;

/// The variable naming the fd on which a new master reports readiness.
pub const READY_VAR: &str = "MOLTD_READY";

/// The variable naming the old master's pid, so the new one refuses USR2
/// exactly while that master lives (not inferred from getppid later).
pub const PARENT_VAR: &str = "MOLTD_PARENT";

/// Everything a starting master may be handed through its environment:
/// listeners from an old master (`MOLTD`) or from systemd (`LISTEN_FDS`),
/// the old master's readiness pipe (`MOLTD_READY`) and its pid
/// (`MOLTD_PARENT`). Read once, at start, and removed from the environment
/// so no later exec sees stale numbers. Fd numbers are only numbers here:
/// nothing is adopted (or closed) until [`Handover::check`] has passed.
#[derive(Debug, Default)]
pub struct Handover {
    /// `MOLTD` as set, if it was.
    pub moltd: Option<String>,
    /// The fds `MOLTD` names, de-duplicated.
    pub listeners: Vec<RawFd>,
    /// Complaints about `MOLTD`'s syntax, to log.
    pub complaints: Vec<String>,
    /// `MOLTD_READY` as set, if it was.
    ready: Option<String>,
    /// `MOLTD_PARENT`, if it parses.
    parent: Option<Pid>,
    /// The fds systemd passed to this very process (`LISTEN_FDS` with a
    /// matching `LISTEN_PID`).
    pub systemd: Vec<RawFd>,
    /// Decided once, at [`Handover::take`]: the process tree may change
    /// while we start (a wrapper exiting), and every later question must
    /// get the same answer.
    upgrade: bool,
}

impl Handover {
    /// Reads the handover variables and removes them from the environment.
    pub fn take() -> Self {
        let var = |name: &str| {
            let v = std::env::var(name).ok();
            crate::sys::env::remove_var(name);
            v
        };
        let moltd = var(HANDOVER_VAR);
        let (listeners, complaints) = moltd
            .as_deref()
            .map(listen::parse_handover)
            .unwrap_or_default();
        let ready = var(READY_VAR);
        let parent = var(PARENT_VAR)
            .and_then(|v| v.parse::<i32>().ok())
            .filter(|&n| n > 0)
            .map(Pid::from_raw);
        let (fds, pid) = (var("LISTEN_FDS"), var("LISTEN_PID"));
        let _ = var("LISTEN_FDNAMES");
        let mut systemd = Vec::new();
        if let (Some(n), Some(pid)) = (fds, pid)
            && pid.parse::<u32>().ok() == Some(std::process::id())
        {
            let n: RawFd = n.parse().unwrap_or(0);
            systemd.extend(3..3 + n.clamp(0, 1024));
        }
        let upgrade = moltd.is_some()
            && parent.is_some_and(|p| p == nix::unistd::getppid() || is_ancestor_master(p));
        Handover {
            moltd,
            listeners,
            complaints,
            ready,
            parent,
            systemd,
            upgrade,
        }
    }

    /// True when a moltd master that is an ancestor of this process
    /// started it with its sockets: only then is this a binary upgrade (a
    /// stray `MOLTD` in an operator's environment must not make this master
    /// refuse USR2 or report to some fd). An ancestor rather than the
    /// parent, so a wrapper script that runs moltd without `exec` still
    /// hands over.
    pub fn is_upgrade(&self) -> bool {
        self.upgrade
    }

    /// True when `MOLTD` names sockets: such a master stays in the
    /// foreground whatever `daemon` says, so whoever started it (an old
    /// master, a wrapper script) keeps it as a child to track, instead of
    /// seeing it "exit" as it forks away.
    pub fn has_sockets(&self) -> bool {
        !self.listeners.is_empty()
    }

    /// A live moltd master that handed these sockets over but is not among
    /// our ancestors: we were started by a new binary that did not wait for
    /// us (a wrapper that put moltd in the background and exited). Starting
    /// would make a second master on the same sockets that nobody tracks.
    pub fn orphaned_from(&self) -> Option<Pid> {
        if self.moltd.is_none() || self.is_upgrade() {
            return None;
        }
        self.parent.filter(|&p| super::pidfile::is_master(p))
    }

    /// The old master's pid, on a genuine upgrade.
    pub fn old_master(&self) -> Option<Pid> {
        self.parent.filter(|_| self.is_upgrade())
    }

    /// The readiness fd number, honoured only on a genuine upgrade.
    fn ready_fd(&self) -> Option<Result<RawFd, String>> {
        if !self.is_upgrade() {
            return None;
        }
        let raw = self.ready.as_deref()?;
        Some(
            raw.parse::<RawFd>()
                .ok()
                .filter(|&n| n > 2)
                .ok_or_else(|| format!("invalid fd \"{raw}\" in {READY_VAR}, ignoring")),
        )
    }

    /// Refuses a handover that names one fd for two purposes: adopting it
    /// twice would let one owner close what the other still uses (a
    /// listener closed after the ready report, found missing at the next
    /// HUP). Called before anything is adopted, so nothing is closed.
    pub fn check(&self) -> Result<(), String> {
        let mut seen: Vec<(RawFd, &str)> = Vec::new();
        let named = self
            .listeners
            .iter()
            .map(|&fd| (fd, HANDOVER_VAR))
            .chain(self.systemd.iter().map(|&fd| (fd, "LISTEN_FDS")))
            .chain(
                self.ready_fd()
                    .and_then(Result::ok)
                    .map(|fd| (fd, READY_VAR)),
            );
        for (fd, var) in named {
            if let Some((_, first)) = seen.iter().find(|(f, _)| *f == fd) {
                return Err(format!(
                    "fd #{fd} is named by both {first} and {var}: refusing the inherited environment"
                ));
            }
            seen.push((fd, var));
        }
        Ok(())
    }

    /// The listener fds to adopt: `MOLTD`'s, then systemd's.
    pub fn sockets(&self) -> Vec<RawFd> {
        self.listeners
            .iter()
            .chain(&self.systemd)
            .copied()
            .collect()
    }

    /// Takes the readiness pipe of a genuine upgrade: it must be an open
    /// pipe's write end, or it is left alone (not ours to close) and `Err`
    /// says why.
    pub fn take_ready(&self) -> Option<Result<File, String>> {
        let raw = match self.ready_fd()? {
            Ok(raw) => raw,
            Err(msg) => return Some(Err(msg)),
        };
        let fd = match crate::sys::fd::Inherited::probe(raw) {
            Ok(fd) => fd,
            Err(_) => {
                return Some(Err(format!(
                    "the readiness fd #{raw} from the old master is not open, ignoring"
                )));
            }
        };
        let is_pipe = nix::sys::stat::fstat(fd.borrow())
            .is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFIFO);
        let writable = nix::fcntl::fcntl(fd.borrow(), nix::fcntl::FcntlArg::F_GETFL)
            .is_ok_and(|fl| fl & libc::O_ACCMODE == libc::O_WRONLY);
        if !is_pipe || !writable {
            let _ = crate::sys::fd::set_cloexec(fd.borrow(), true);
            return Some(Err(format!(
                "the readiness fd #{raw} from the old master is not the write end of a pipe, ignoring"
            )));
        }
        let owned = fd.adopt();
        let _ = crate::sys::fd::set_cloexec(owned.as_fd(), true);
        Some(Ok(File::from(owned)))
    }

    /// The variables that hand `listeners` and the readiness pipe `ready`
    /// to a new binary started by this master.
    pub fn for_child(listeners: &[Shared], ready: RawFd) -> [(&'static str, String); 3] {
        [
            (HANDOVER_VAR, listen::handover_value(listeners)),
            (READY_VAR, ready.to_string()),
            (PARENT_VAR, nix::unistd::getpid().to_string()),
        ]
    }
}

/// The parent of `pid`, from /proc.
fn parent_of(pid: Pid) -> Option<Pid> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid ...`; comm may hold spaces and parentheses.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace()
        .nth(1)?
        .parse()
        .ok()
        .map(Pid::from_raw)
}

/// True when `pid` is a live moltd master among this process's ancestors
/// (a few levels up: a wrapper script, `env`, `nice`...).
pub fn is_ancestor_master(pid: Pid) -> bool {
    is_ancestor(pid) && super::pidfile::is_master(pid)
}

/// True when `pid` is among this process's ancestors, a few levels up.
pub fn is_ancestor(pid: Pid) -> bool {
    let mut p = nix::unistd::getppid();
    for _ in 0..8 {
        if p == pid {
            return true;
        }
        match parent_of(p) {
            Some(next) if next.as_raw() > 0 && next != p => p = next,
            _ => return false,
        }
    }
    false
}

/// The readiness pipe, both ends of the protocol: the new master writes
/// `1` once its workers serve, or the reason it could not start (one
/// write of at most `PIPE_BUF` bytes, so it arrives whole), and closes it.
/// The old master reads once.
pub fn report_ready(mut pipe: File) {
    let _ = pipe.write_all(b"1");
}

/// The new master's side of a failed start: the reason, so it lands in
/// the old master's log even when this one could not open its own.
pub fn report_failure(mut pipe: File, msg: &str) {
    let bytes = msg.as_bytes();
    let _ = pipe.write_all(&bytes[..bytes.len().min(PIPE_BUF)]);
}

/// Longest report that arrives in one piece.
const PIPE_BUF: usize = 4096;

/// The old master's side: what the new binary said, if anything (nothing:
/// it closed the pipe without a word).
pub fn read_report(pipe: OwnedFd) -> Option<Report> {
    // One read: the master must not block on a child.
    let mut buf = [0u8; PIPE_BUF];
    let n = File::from(pipe).read(&mut buf).unwrap_or(0);
    match &buf[..n] {
        [] => None,
        b"1" => Some(Report::Ready),
        msg => Some(Report::Failed(
            String::from_utf8_lossy(msg).trim_end().to_string(),
        )),
    }
}

/// A worker's ready pipe: one byte once it accepts.
pub fn read_ready_byte(pipe: OwnedFd) -> bool {
    let mut byte = [0u8; 1];
    matches!(File::from(pipe).read(&mut byte), Ok(1))
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
) -> Result<(Pid, OwnedFd), UpgradeError> {
    std::fs::rename(pid_path, oldbin).map_err(|err| UpgradeError::Rename {
        from: pid_path.to_path_buf(),
        to: oldbin.to_path_buf(),
        exe: exe.to_path_buf(),
        err,
    })?;
    let result = spawn(exe, argv, listeners);
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
) -> Result<(Pid, OwnedFd), UpgradeError> {
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
        .envs(Handover::for_child(listeners, ready_w.as_raw_fd()))
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
