//! The error log: one process-wide file, opened O_APPEND so master and
//! workers can share it (a worker installs the descriptor its master
//! opened), reopened on USR1.
//!
//! Lines look like nginx's: `2026/11/21 22:16:23 [notice] 12238#0: msg`.
//! Before the file is open (and with `error_log = "stderr"`) lines go to
//! stderr. Logging never fails the caller: a write error is dropped.

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

/// Severity, nginx's names and order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Fatal for the operation (startup, reload).
    Emerg,
    /// Needs action now.
    Alert,
    /// A critical condition, e.g. a refused upgrade.
    Crit,
    /// An error that was handled.
    Error,
    /// Something odd that was worked around.
    Warn,
    /// Lifecycle events operators grep for.
    Notice,
    /// Detail.
    Info,
}

impl Level {
    /// The name inside the brackets of a log line.
    pub fn name(self) -> &'static str {
        match self {
            Level::Emerg => "emerg",
            Level::Alert => "alert",
            Level::Crit => "crit",
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Notice => "notice",
            Level::Info => "info",
        }
    }
}

struct Sink {
    file: Option<File>,
    path: Option<PathBuf>,
}

static SINK: Mutex<Sink> = Mutex::new(Sink {
    file: None,
    path: None,
});

fn open(path: &Path) -> std::io::Result<File> {
    super::open_append(path)
}

/// Makes `file` (opened by the master for this generation; `None` for
/// stderr) the destination, for `path`.
pub fn install(file: Option<File>, path: Option<&Path>) {
    let mut sink = SINK.lock().unwrap_or_else(|p| p.into_inner());
    sink.file = file;
    sink.path = path.map(Path::to_path_buf);
}

/// Reopens the current file (after logrotate renamed it). On failure the
/// old file stays in use and the error is returned.
pub fn reopen() -> std::io::Result<()> {
    let mut sink = SINK.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(path) = sink.path.clone()
        && !super::open::kernel_made(&path)
    {
        sink.file = Some(open(&path)?);
    }
    Ok(())
}

/// The fd of the open log file, so a forked worker can keep it, and a daemon
/// can point stderr at it.
pub fn raw_fd() -> Option<RawFd> {
    let sink = SINK.lock().unwrap_or_else(|p| p.into_inner());
    sink.file.as_ref().map(|f| f.as_raw_fd())
}

/// Points stderr at the log file, so panics and stray writes are kept.
pub fn capture_stderr() -> nix::Result<()> {
    let sink = SINK.lock().unwrap_or_else(|p| p.into_inner());
    match &sink.file {
        Some(f) => crate::sys::fd::stderr_to(f.as_fd()),
        None => Ok(()),
    }
}

/// True when lines go to a file rather than stderr.
pub fn is_file() -> bool {
    SINK.lock()
        .unwrap_or_else(|p| p.into_inner())
        .file
        .is_some()
}

/// Writes one line at `level`.
pub fn write(level: Level, msg: std::fmt::Arguments<'_>) {
    let line = format!(
        "{} [{}] {}#0: {}\n",
        super::time::log_timestamp(SystemTime::now()),
        level.name(),
        std::process::id(),
        msg
    );
    let mut sink = SINK.lock().unwrap_or_else(|p| p.into_inner());
    match sink.file.as_mut() {
        Some(f) => {
            let _ = f.write_all(line.as_bytes());
        }
        None => {
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
    }
}

/// Logs at notice level: `notice!("start worker process {pid}")`.
#[macro_export]
macro_rules! notice { ($($t:tt)*) => { $crate::log::error::write($crate::log::Level::Notice, format_args!($($t)*)) } }
/// Logs at info level.
#[macro_export]
macro_rules! info { ($($t:tt)*) => { $crate::log::error::write($crate::log::Level::Info, format_args!($($t)*)) } }
/// Logs at warn level.
#[macro_export]
macro_rules! warn { ($($t:tt)*) => { $crate::log::error::write($crate::log::Level::Warn, format_args!($($t)*)) } }
/// Logs at error level.
#[macro_export]
macro_rules! error { ($($t:tt)*) => { $crate::log::error::write($crate::log::Level::Error, format_args!($($t)*)) } }
/// Logs at crit level.
#[macro_export]
macro_rules! crit { ($($t:tt)*) => { $crate::log::error::write($crate::log::Level::Crit, format_args!($($t)*)) } }
/// Logs at alert level.
#[macro_export]
macro_rules! alert { ($($t:tt)*) => { $crate::log::error::write($crate::log::Level::Alert, format_args!($($t)*)) } }
/// Logs at emerg level.
#[macro_export]
macro_rules! emerg { ($($t:tt)*) => { $crate::log::error::write($crate::log::Level::Emerg, format_args!($($t)*)) } }
