//! The checks a configuration must pass before a master commits to it,
//! run the same way by `-t`, a start and a reload (HUP): read and validate
//! the file, open its logs as the master keeps them, and check that its
//! pid file can be written. Nothing here binds a socket for good or forks,
//! so a configuration that fails leaves the running one untouched.

use std::fmt;
use std::io::ErrorKind;
use std::path::Path;

use crate::config::{self, Config, ConfigError, Location};
use crate::listen::BindError;
use crate::log::files::{LogFiles, LogFilesError};
use crate::pidfile::{self, PidFileError};

/// Who runs the preflight, which decides the few checks that differ.
#[derive(Debug, Clone, Copy)]
pub enum Purpose<'a> {
    /// `-t` / `-T`: also tries each listen address (one in use is fine:
    /// the running server may hold it), since nothing binds it after.
    Test,
    /// A master starting: it binds or adopts its sockets next.
    Start,
    /// A reload: the running master holds the pid file at `pid`, so the
    /// new one is checked only if it is somewhere else.
    Reload {
        /// The pid file of the running configuration.
        pid: &'a Path,
    },
}

/// A configuration that passed, with the logs opened for it.
#[derive(Debug)]
pub struct Checked {
    /// The validated configuration.
    pub config: Config,
    /// Its logs, open, for the master to keep and its workers to inherit.
    pub logs: LogFiles,
}

/// Why a configuration did not pass. Each message is the one the check
/// gives on its own, as `-t` prints it after `[emerg]`.
#[derive(Debug)]
pub enum PreflightError {
    /// The file could not be read or is not valid.
    Config(ConfigError),
    /// `-t` only: a listen address cannot be bound.
    Listen(BindError),
    /// A log could not be opened.
    Logs(LogFilesError),
    /// The pid file could not be written.
    PidFile(PidFileError),
}

impl fmt::Display for PreflightError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PreflightError::Config(e) => e.fmt(f),
            PreflightError::Listen(e) => e.fmt(f),
            PreflightError::Logs(e) => e.fmt(f),
            PreflightError::PidFile(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for PreflightError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PreflightError::Config(e) => Some(e),
            PreflightError::Listen(e) => Some(e),
            PreflightError::Logs(e) => Some(e),
            PreflightError::PidFile(e) => Some(e),
        }
    }
}

/// Loads the configuration `location` names and runs every check that
/// needs neither the sockets bound nor a fork, in the order `-t` has
/// always reported them: the file, the listen addresses (`-t` only), the
/// logs, the pid file.
pub fn preflight(location: &Location, purpose: Purpose<'_>) -> Result<Checked, PreflightError> {
    let config = config::load(location).map_err(PreflightError::Config)?;
    if let Purpose::Test = purpose {
        try_listen(&config)?;
    }
    let logs = LogFiles::open(&config).map_err(PreflightError::Logs)?;
    let pid_moved = match purpose {
        Purpose::Reload { pid } => config.pid != pid,
        Purpose::Test | Purpose::Start => true,
    };
    if pid_moved {
        pidfile::check_writable(&config.pid).map_err(PreflightError::PidFile)?;
    }
    Ok(Checked { config, logs })
}

/// Binds each listen address and lets it go at once.
fn try_listen(config: &Config) -> Result<(), PreflightError> {
    for addr in config.listen_addrs() {
        if let Err(e) = crate::listen::bind(addr)
            && e.err.kind() != ErrorKind::AddrInUse
        {
            return Err(PreflightError::Listen(e));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A prefix holding `config` (removed when the scratch is dropped).
    fn prefix(test: &str, config: &str) -> (crate::scratch::Scratch, Location) {
        let d = crate::scratch::Scratch::new(&format!("preflight-{test}"), &["html"]);
        std::fs::write(d.join("html/index.html"), "x").expect("write a file");
        std::fs::write(d.join("t.toml"), config).expect("write the config");
        let loc = Location {
            prefix: d.to_path_buf(),
            file: Some("t.toml".into()),
        };
        (d, loc)
    }

    #[test]
    fn a_reload_checks_the_pid_file_only_where_it_moved() {
        let (_dir, loc) = prefix(
            "pid",
            "error_log = \"stderr\"\npid = \"html/index.html/m.pid\"\n\
             [[server]]\nlisten = \"127.0.0.1:0\"\naccess_log = \"off\"\n",
        );
        let e = preflight(&loc, Purpose::Start).expect_err("pid under a file");
        assert!(matches!(e, PreflightError::PidFile(_)), "{e:?}");
        assert!(e.to_string().contains("(20: Not a directory)"), "{e}");
        let held = loc.prefix.join("html/index.html/m.pid");
        let checked = preflight(&loc, Purpose::Reload { pid: &held }).expect("same pid file");
        assert_eq!(checked.config.pid, held);
        let e = preflight(
            &loc,
            Purpose::Reload {
                pid: Path::new("/x"),
            },
        )
        .expect_err("moved");
        assert!(matches!(e, PreflightError::PidFile(_)), "{e:?}");
    }

    #[test]
    fn errors_read_as_the_checks_word_them() {
        let (_dir, loc) = prefix("errors", "[[server]]\nlisten = \"nowhere\"\n");
        let e = preflight(&loc, Purpose::Test).expect_err("bad listen");
        assert!(matches!(e, PreflightError::Config(_)), "{e:?}");
        assert!(
            e.to_string()
                .starts_with("invalid listen address \"nowhere\""),
            "{e}"
        );
    }
}
