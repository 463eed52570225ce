//! What `-s upgrade` watches: masters and their workers in `/proc`, the
//! pid files, the clock, and the operator's Ctrl-C. Nothing here changes
//! anything.

use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::unistd::Pid;

use crate::pidfile;

/// How often the watchers look again.
pub const POLL: Duration = Duration::from_millis(50);

/// A worker of a master, as `ps` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Worker {
    /// Its pid.
    pub pid: Pid,
    /// It reported ready (its title is exactly `moltd: worker process`;
    /// a starting one adds `(starting)`, a draining one `is shutting down`).
    pub serving: bool,
}

/// Prints a progress line on stderr; a closed stderr (a pipe to `head`, a
/// dropped ssh session) must not stop an upgrade halfway.
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}
pub(crate) use say;

/// The workers of master `pid`.
pub fn workers_of(pid: Pid) -> Vec<Worker> {
    children_of(pid)
        .into_iter()
        .filter(|(_, title)| title.starts_with("moltd: worker process"))
        .map(|(pid, title)| Worker {
            pid,
            serving: title == "moltd: worker process",
        })
        .collect()
}

/// The masters `pid` started: a new binary (also one a wrapper script
/// runs without `exec`, a few levels down), before its pid file names it.
/// A new binary runs in a process group of its own; a worker that was
/// just forked still carries its master's title but not its own group.
pub fn child_masters(pid: Pid) -> Vec<Pid> {
    let own_group = group_of(pid);
    let mut found = Vec::new();
    let mut level = vec![pid];
    for _ in 0..4 {
        let mut next = Vec::new();
        for p in level {
            for (child, title) in children_of(p) {
                if title.starts_with("moltd: master process") && group_of(child) != own_group {
                    found.push(child);
                }
                next.push(child);
            }
        }
        level = next;
    }
    found
}

/// The process group of `pid`.
fn group_of(pid: Pid) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(2)?.parse().ok()
}

/// The children of `pid`, with their titles.
fn children_of(pid: Pid) -> Vec<(Pid, String)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in dir.flatten() {
        let Some(child) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        let child = Pid::from_raw(child);
        if parent_of(child) == Some(pid) {
            out.push((child, title_of(child)));
        }
    }
    out
}

/// What the old master writes to its error log from now on, when the log
/// is a file: the surest word on what it did with our USR2.
pub struct LogWatch {
    path: Option<std::path::PathBuf>,
    from: u64,
}

impl LogWatch {
    /// Starts watching `path` (the error log; `None` is stderr, unseen).
    pub fn start(path: Option<&Path>) -> Self {
        let path = path.filter(|p| p.is_file()).map(Path::to_path_buf);
        let from = path
            .as_deref()
            .and_then(|p| std::fs::metadata(p).ok())
            .map_or(0, |m| m.len());
        LogWatch { path, from }
    }

    /// True if there is a log file to read.
    pub fn watchable(&self) -> bool {
        self.path.is_some()
    }

    /// Everything written since (at most 1 MiB).
    pub fn since(&self) -> String {
        use std::io::{Read, Seek};
        let Some(mut f) = self
            .path
            .as_deref()
            .and_then(|p| crate::log::read_only::open_to_read(p).ok())
        else {
            return String::new();
        };
        let mut text = Vec::new();
        if f.seek(std::io::SeekFrom::Start(self.from)).is_ok() {
            let _ = f.take(1 << 20).read_to_end(&mut text);
        }
        String::from_utf8_lossy(&text).into_owned()
    }
}

fn parent_of(pid: Pid) -> Option<Pid> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let ppid: i32 = rest.split_whitespace().nth(1)?.parse().ok()?;
    Some(Pid::from_raw(ppid))
}

fn title_of(pid: Pid) -> String {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let end = raw.iter().position(|b| *b == 0).unwrap_or(raw.len());
    String::from_utf8_lossy(&raw[..end]).trim_end().to_string()
}

/// True if `sig` waits, undelivered, for process `pid` (a stopped master
/// has not acted on our USR2 yet).
pub fn signal_pending(pid: Pid, sig: Signal) -> bool {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    let bit = 1u64 << (sig as i32 - 1);
    status
        .lines()
        .filter(|l| l.starts_with("SigPnd:") || l.starts_with("ShdPnd:"))
        .filter_map(|l| u64::from_str_radix(l.split_whitespace().nth(1)?, 16).ok())
        .any(|mask| mask & bit != 0)
}

/// True while `pid` is a live moltd master.
pub fn is_master(pid: Pid) -> bool {
    pidfile::is_master(pid)
}

/// The pid a pid file names, if it can be read.
pub fn named_by(path: &Path) -> Option<Pid> {
    pidfile::read(path).ok()
}

/// The operator's Ctrl-C (INT), TERM and HUP, held until asked about: an
/// interrupted upgrade must still leave one consistent state.
pub struct Interrupts {
    fd: Option<SignalFd>,
}

impl Interrupts {
    /// Blocks INT, TERM and HUP and reads them from a signalfd instead.
    pub fn catch() -> Self {
        let mut set = SigSet::empty();
        for s in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
            set.add(s);
        }
        let fd = set.thread_block().ok().and_then(|()| {
            SignalFd::with_flags(&set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC).ok()
        });
        Interrupts { fd }
    }

    /// Never interrupted: for the steps that must run to their end (a
    /// commit under way, a rollback).
    pub fn none() -> Self {
        Interrupts { fd: None }
    }

    /// The signal that arrived since the last look, if any.
    pub fn take(&self) -> Option<Signal> {
        let info = self.fd.as_ref()?.read_signal().ok()??;
        Signal::try_from(info.ssi_signo as i32).ok()
    }
}

/// Why a wait ended without what it waited for.
#[derive(Debug)]
pub enum Stop {
    /// The deadline passed.
    Timeout,
    /// The operator interrupted.
    Interrupted(Signal),
    /// What it waited for cannot happen any more; the reason.
    Failed(String),
}

/// Polls `look` until it returns `Ok(Some(v))` or `Err`, `limit` passes,
/// or the operator interrupts.
pub fn wait_until<T>(
    intr: &Interrupts,
    limit: Duration,
    mut look: impl FnMut() -> Result<Option<T>, String>,
) -> Result<T, Stop> {
    let end = Instant::now() + limit;
    loop {
        if let Some(sig) = intr.take() {
            return Err(Stop::Interrupted(sig));
        }
        match look() {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(why) => return Err(Stop::Failed(why)),
        }
        if Instant::now() >= end {
            return Err(Stop::Timeout);
        }
        std::thread::sleep(POLL);
    }
}
