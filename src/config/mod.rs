//! Configuration, stage two: the validated [`Config`] built from the raw
//! TOML structs in [`raw`], with paths resolved against the prefix, times as
//! `Duration`s and a numeric worker count. `-t`, `-T`, startup and reload all
//! run exactly this code. Errors name the file, the line and the key.
//!
//! A reload builds a fresh `Config`; a running one is never mutated.

pub mod cert_validity;
pub mod certs;
pub mod cidr;
pub mod compression;
mod default_user;
pub mod duration;
mod effective;
mod error;
mod global;
pub mod limits;
mod listen;
mod location;
pub mod raw;
pub mod server;
pub mod server_name;
mod settings;
pub mod size;
pub mod sni;
mod tables;
#[cfg(test)]
mod tests;
mod values;

pub use default_user::DEFAULT_USER;
pub use effective::EffectiveError;
pub use error::ConfigError;
pub(crate) use error::Validator;
pub use limits::{FileCacheConfig, Limits};
pub use listen::parse_listen;
pub use location::Match;
pub use server::Server;
pub use settings::{AutoindexFormat, Expires, Settings, StatusPage, parse_expires};

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The configuration used when no `conf/moltd.toml` exists under the prefix.
pub const EMBEDDED_DEFAULT: &str = include_str!("default.toml");

/// Where the configuration text came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A file on disk.
    File(PathBuf),
    /// The built-in default (no config file under the prefix).
    Embedded,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::File(p) => write!(f, "{}", p.display()),
            Source::Embedded => f.write_str("(built-in default)"),
        }
    }
}

/// Where to find the configuration: the prefix and an optional `-c` file.
#[derive(Debug, Clone)]
pub struct Location {
    /// Directory that relative paths resolve against.
    pub prefix: PathBuf,
    /// `-c FILE` as given, if any.
    pub file: Option<PathBuf>,
}

impl Location {
    /// The config source this location names: `-c` (relative to the
    /// prefix), else `conf/moltd.toml` if it exists, else the default.
    pub fn source(&self) -> Source {
        match &self.file {
            Some(f) => Source::File(self.prefix.join(f)),
            None => {
                let p = self.prefix.join("conf/moltd.toml");
                if p.exists() {
                    Source::File(p)
                } else {
                    Source::Embedded
                }
            }
        }
    }
}

impl Location {
    /// A master's location once it knows its file `source`: a file found
    /// by default (or named by the old master, on an upgrade) is named
    /// from then on, as `-c` would name it, so a reload or an upgrade
    /// that finds it gone (moved by a deploy or an editor) fails and says
    /// so, instead of quietly serving the built-in default, which listens
    /// elsewhere. `-c` given on the command line always wins.
    pub fn pin(&mut self, source: &Source) {
        if let (None, Source::File(p)) = (&self.file, source) {
            self.file = Some(p.clone());
        }
    }
}

/// The validated configuration of one generation.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where it was read from.
    pub source: Source,
    /// The text it was parsed from (for `-T`).
    pub text: String,
    /// Directory relative paths were resolved against.
    pub prefix: PathBuf,
    /// Fork to the background at start.
    pub daemon: bool,
    /// Number of workers.
    pub worker_processes: usize,
    /// Pid file.
    pub pid: PathBuf,
    /// Error log file; `None` is stderr.
    pub error_log: Option<PathBuf>,
    /// Cap on a graceful drain; `None` waits for every request.
    pub worker_shutdown_timeout: Option<Duration>,
    /// On QUIT to the master, how long its workers keep serving as usual,
    /// their `health` locations answering 503, before they drain: time for
    /// a load balancer's checks to notice and stop sending. Zero (the
    /// default) drains at once.
    pub shutdown_delay: Duration,
    /// How long a new binary may take to report ready before the old
    /// master stops it and rolls back.
    pub upgrade_ready_timeout: Duration,
    /// Worker user and group, when the master runs as root.
    pub user: Option<(String, Option<String>)>,
    /// `Server: moltd/VERSION` instead of `Server: moltd`.
    pub server_tokens: bool,
    /// `TCP_DEFER_ACCEPT` on every listening socket (default on): a
    /// connection reaches a worker with its first bytes.
    pub deferred_accept: bool,
    /// Bytes buffered per access log before a write (0: write each line).
    pub access_log_buffer: usize,
    /// Connection limits and timeouts.
    pub limits: Limits,
    /// The open-file cache.
    pub file_cache: FileCacheConfig,
    /// Virtual servers, in file order.
    pub servers: Vec<Server>,
    /// The TLS side of each `ssl` listen address.
    pub tls: Vec<std::sync::Arc<sni::TlsListen>>,
}

impl Config {
    /// Every distinct listen address, in first-seen order.
    pub fn listen_addrs(&self) -> Vec<SocketAddr> {
        let mut out: Vec<SocketAddr> = Vec::new();
        for s in &self.servers {
            for a in &s.listen {
                if !out.contains(a) {
                    out.push(*a);
                }
            }
        }
        out
    }

    /// The pid file of a master that is in the middle of an upgrade.
    pub fn oldbin_path(&self) -> PathBuf {
        let mut s = self.pid.clone().into_os_string();
        s.push(".oldbin");
        PathBuf::from(s)
    }

    /// The effective configuration as TOML, defaults filled in (for `-T`):
    /// a configuration file of its own that describes this same one.
    pub fn effective_toml(&self) -> Result<String, EffectiveError> {
        effective::to_toml(self)
    }
}

/// Reads and validates the configuration named by `loc`.
pub fn load(loc: &Location) -> Result<Config, ConfigError> {
    let source = loc.source();
    let text = match &source {
        Source::Embedded => EMBEDDED_DEFAULT.to_string(),
        Source::File(p) => std::fs::read_to_string(p).map_err(|e| ConfigError {
            source: p.display().to_string(),
            line: None,
            key: None,
            message: format!("could not read the configuration file: {e}"),
        })?,
    };
    parse(&text, source, &loc.prefix)
}

/// Validates configuration `text` read from `source`.
pub fn parse(text: &str, source: Source, prefix: &Path) -> Result<Config, ConfigError> {
    let v = Validator {
        text,
        source: source.to_string(),
    };
    let raw: raw::RawConfig = toml::from_str(text).map_err(|e| ConfigError {
        source: v.source.clone(),
        line: e.span().map(|s| v.line_of(s.start)),
        key: None,
        message: e.message().trim().to_string(),
    })?;
    // In file order, so the first error reported is the first in the file
    // for the top-level keys.
    let worker_processes = v.worker_processes(&raw)?;
    let pid = v.path(prefix, &raw.pid, "pid", "logs/moltd.pid")?;
    let error_log = v.error_log(prefix, &raw)?;
    let worker_shutdown_timeout = v.worker_shutdown_timeout(&raw)?;
    let shutdown_delay = v.shutdown_delay(&raw)?;
    let upgrade_ready_timeout = v.upgrade_ready_timeout(&raw)?;
    let user = v.user(&raw)?;
    if raw.server.is_empty() {
        return Err(v.file_err("server", "no [[server]] block: nothing to serve"));
    }
    let limits = v.limits(&raw)?;
    let file_cache = v.file_cache(&raw)?;
    let defaults = Settings::defaults(prefix);
    let servers = raw
        .server
        .iter()
        .map(|s| v.server(prefix, s, &defaults))
        .collect::<Result<Vec<_>, _>>()?;
    // One socket speaks TLS or not, for every server on it.
    for (i, s) in servers.iter().enumerate() {
        for a in &s.listen {
            let ssl = s.ssl.contains(a);
            if servers[..i]
                .iter()
                .any(|o| o.listen.contains(a) && o.ssl.contains(a) != ssl)
            {
                return Err(v.file_err(
                    "listen",
                    &format!("{a} is listed with \"ssl\" in one server and without it in another"),
                ));
            }
        }
    }
    let access_log_buffer = v.access_log_buffer(&raw)?;
    let user = user.or_else(|| default_user::default_user(&servers));
    let mut addrs: Vec<SocketAddr> = Vec::new();
    for a in servers.iter().flat_map(|s| &s.listen) {
        if !addrs.contains(a) {
            addrs.push(*a);
        }
    }
    let tls = sni::server_configs(&addrs, &servers);
    Ok(Config {
        source,
        text: text.to_string(),
        prefix: prefix.to_path_buf(),
        daemon: raw.daemon.unwrap_or(false),
        worker_processes,
        pid,
        error_log,
        worker_shutdown_timeout,
        shutdown_delay,
        upgrade_ready_timeout,
        user,
        server_tokens: raw.server_tokens.unwrap_or(false),
        deferred_accept: raw.deferred_accept.unwrap_or(true),
        access_log_buffer,
        limits,
        file_cache,
        servers,
        tls,
    })
}

/// Reads only the pid path from the config, leniently, for `-s`: a broken
/// config must not stop `moltd -s stop`. Returns the path and, if the full
/// config did not validate, the reason.
pub fn pid_path_lenient(loc: &Location) -> (PathBuf, Option<ConfigError>) {
    match load(loc) {
        Ok(c) => (c.pid, None),
        Err(e) => {
            let text = match loc.source() {
                Source::File(p) => std::fs::read_to_string(p).unwrap_or_default(),
                Source::Embedded => EMBEDDED_DEFAULT.to_string(),
            };
            let pid = toml::from_str::<raw::RawPidOnly>(&text)
                .ok()
                .and_then(|r| r.pid)
                .or_else(|| pid_line(&text))
                .unwrap_or_else(|| "logs/moltd.pid".to_string());
            (loc.prefix.join(pid), Some(e))
        }
    }
}

/// Finds `pid = "..."` by line when the file is not valid TOML at all.
fn pid_line(text: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let rest = l
            .trim()
            .strip_prefix("pid")?
            .trim_start()
            .strip_prefix('=')?;
        let v = rest.trim().strip_prefix('"')?;
        Some(v[..v.find('"')?].to_string())
    })
}
