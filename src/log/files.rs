//! The log files of one configuration generation, opened by the master.
//!
//! The master opens every log (as root, safely: `open.rs`) when it starts
//! and when a reload reads a new configuration, and its workers inherit
//! the descriptors: a worker never opens a log with root's privileges.
//! On USR1 the master reopens first, error log before access logs, so a
//! rotated log is created by root and handed to the workers' user before
//! the workers, told next, reopen it as themselves.

use std::fmt;
use std::fs::File;
use std::io;
use std::path::PathBuf;

use nix::unistd::{Gid, Uid};

use super::access::AccessLogs;
use super::open::{give_to, open_log, workers_owner};
use crate::config::Config;

/// Why the logs of a generation could not be opened.
#[derive(Debug)]
pub enum LogFilesError {
    /// The error log.
    ErrorLog {
        /// Its path.
        path: PathBuf,
        /// Why it could not be opened.
        err: io::Error,
    },
    /// An access log, with the message the access logs give.
    AccessLog(super::access::AccessLogError),
}

impl fmt::Display for LogFilesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogFilesError::ErrorLog { path, err } => write!(
                f,
                "could not open the error log \"{}\" ({})",
                path.display(),
                super::errno_text(err)
            ),
            LogFilesError::AccessLog(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for LogFilesError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LogFilesError::ErrorLog { err, .. } => Some(err),
            LogFilesError::AccessLog(e) => Some(e),
        }
    }
}

/// A generation's error log (unless it is stderr) and access logs.
pub struct LogFiles {
    error: Option<(PathBuf, File)>,
    access: AccessLogs,
    owner: Option<(Uid, Gid)>,
}

impl std::fmt::Debug for LogFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogFiles")
            .field("error", &self.error.as_ref().map(|(p, _)| p))
            .finish_non_exhaustive()
    }
}

impl LogFiles {
    /// Opens every log `config` names; the error names the file and why.
    pub fn open(config: &Config) -> Result<Self, LogFilesError> {
        let owner = workers_owner(config);
        let error = match &config.error_log {
            Some(path) => {
                let opened = open_log(path).map_err(|err| LogFilesError::ErrorLog {
                    path: path.clone(),
                    err,
                })?;
                give_to(&opened, path, owner);
                Some((path.clone(), opened.file))
            }
            None => None,
        };
        Ok(LogFiles {
            error,
            access: AccessLogs::open(config, owner).map_err(LogFilesError::AccessLog)?,
            owner,
        })
    }

    /// Makes this generation's error log the process's (a copy of the
    /// descriptor; stderr if there is none).
    pub fn install_error(&self) -> std::io::Result<()> {
        match &self.error {
            Some((path, f)) => super::error::install(Some(f.try_clone()?), Some(path)),
            None => super::error::install(None, None),
        }
        Ok(())
    }

    /// USR1 in the master: the error log, then the access logs, opened
    /// again by path (creating them after a rotation) and handed to the
    /// workers' user. A log that cannot be reopened keeps its old file.
    pub fn reopen(&mut self) {
        if let Some((path, f)) = &mut self.error
            && !super::open::kernel_made(path)
        {
            match open_log(path) {
                Ok(new) => {
                    give_to(&new, path, self.owner);
                    *f = new.file;
                }
                Err(e) => crate::alert!(
                    "could not reopen the error log \"{}\" ({})",
                    path.display(),
                    super::errno_text(&e)
                ),
            }
        }
        self.access.reopen_all(self.owner);
    }

    /// What a forked worker takes: its own descriptors of the same files.
    pub fn for_worker(&self, config: &Config) -> AccessLogs {
        self.access.duplicate(config)
    }
}
