//! The top-level keys that are not limits or the file cache: workers,
//! paths of the master's own files, its timers and the workers' user.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::raw::RawConfig;
use super::{ConfigError, Validator, duration, size};

/// Access-log bytes buffered per file before a write: lines are flushed at
/// least every second anyway, so this only bounds syscalls under load.
const DEFAULT_ACCESS_LOG_BUFFER: usize = 64 * 1024;

/// How long a new binary may take, by default, to start serving after
/// USR2: generous for a cold start on a loaded machine, short enough that
/// a hung upgrade does not hold the pid file for long.
const DEFAULT_UPGRADE_READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Upper bound on `worker_processes`: a typo like 10000 should fail the
/// test, not fork-bomb the machine.
const MAX_WORKER_PROCESSES: usize = 1024;

fn default_workers() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

impl Validator<'_> {
    pub(super) fn worker_processes(&self, raw: &RawConfig) -> Result<usize, ConfigError> {
        let Some(w) = &raw.worker_processes else {
            return Ok(default_workers());
        };
        match w.get_ref() {
            toml::Value::String(s) if s == "auto" => Ok(default_workers()),
            toml::Value::Integer(n) if *n >= 1 && (*n as usize) <= MAX_WORKER_PROCESSES => {
                Ok(*n as usize)
            }
            other => Err(self.err(
                w,
                "worker_processes",
                format!(
                    "invalid value {other}: expected \"auto\" or a number from 1 to {MAX_WORKER_PROCESSES}"
                ),
            )),
        }
    }

    /// The error log's path; `None` is stderr.
    pub(super) fn error_log(
        &self,
        prefix: &Path,
        raw: &RawConfig,
    ) -> Result<Option<PathBuf>, ConfigError> {
        match &raw.error_log {
            Some(s) if s.get_ref() == "stderr" => Ok(None),
            _ => Ok(Some(self.path(
                prefix,
                &raw.error_log,
                "error_log",
                "logs/error.log",
            )?)),
        }
    }

    pub(super) fn worker_shutdown_timeout(
        &self,
        raw: &RawConfig,
    ) -> Result<Option<Duration>, ConfigError> {
        match &raw.worker_shutdown_timeout {
            None => Ok(None),
            Some(s) => duration::parse(s.get_ref())
                .map(Some)
                .map_err(|m| self.err(s, "worker_shutdown_timeout", m)),
        }
    }

    pub(super) fn shutdown_delay(&self, raw: &RawConfig) -> Result<Duration, ConfigError> {
        match &raw.shutdown_delay {
            None => Ok(Duration::ZERO),
            Some(s) => duration::parse(s.get_ref()).map_err(|m| self.err(s, "shutdown_delay", m)),
        }
    }

    pub(super) fn upgrade_ready_timeout(&self, raw: &RawConfig) -> Result<Duration, ConfigError> {
        match &raw.upgrade_ready_timeout {
            None => Ok(DEFAULT_UPGRADE_READY_TIMEOUT),
            Some(s) => duration::parse(s.get_ref())
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| {
                    self.err(
                        s,
                        "upgrade_ready_timeout",
                        format!("invalid time \"{}\": expected e.g. \"30s\"", s.get_ref()),
                    )
                }),
        }
    }

    /// The workers' user and group. Looked up only when the master runs as
    /// root, the only case where it is used (otherwise the master warns).
    pub(super) fn user(
        &self,
        raw: &RawConfig,
    ) -> Result<Option<(String, Option<String>)>, ConfigError> {
        if let Some(g) = &raw.group
            && raw.user.is_none()
        {
            return Err(self.err(g, "group", "\"group\" needs \"user\"".into()));
        }
        let Some(u) = &raw.user else {
            return Ok(None);
        };
        let group = raw.group.as_ref().map(|g| g.get_ref().clone());
        if crate::sys::privs::is_root() {
            crate::sys::privs::lookup(u.get_ref(), group.as_deref())
                .map_err(|e| self.err(u, "user", e.to_string()))?;
        }
        Ok(Some((u.get_ref().clone(), group)))
    }

    pub(super) fn access_log_buffer(&self, raw: &RawConfig) -> Result<usize, ConfigError> {
        match &raw.access_log_buffer {
            None => Ok(DEFAULT_ACCESS_LOG_BUFFER),
            Some(b) => {
                size::parse_value(b.get_ref()).map_err(|m| self.err(b, "access_log_buffer", m))
            }
        }
    }
}
