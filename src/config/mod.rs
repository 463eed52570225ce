//! Configuration, stage two: the validated [`Config`] built from the raw
//! TOML structs in [`raw`], with paths resolved against the prefix, times as
//! `Duration`s and a numeric worker count. `-t`, `-T`, startup and reload all
//! run exactly this code. Errors name the file, the line and the key.
//!
//! A reload builds a fresh `Config`; a running one is never mutated.

pub mod duration;
pub mod limits;
pub mod raw;
pub mod server;
pub mod size;

pub use limits::{FileCacheConfig, Limits};
pub use server::{AutoindexFormat, Expires, Match, Server, Settings};

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

/// The configuration used when no `conf/moltd.toml` exists under the prefix.
pub const EMBEDDED_DEFAULT: &str = include_str!("default.toml");

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
    /// Bytes buffered per access log before a write (0: write each line).
    pub access_log_buffer: usize,
    /// Connection limits and timeouts.
    pub limits: Limits,
    /// The open-file cache.
    pub file_cache: FileCacheConfig,
    /// Virtual servers, in file order.
    pub servers: Vec<Server>,
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

    /// The effective configuration as TOML, defaults filled in (for `-T`).
    pub fn effective_toml(&self) -> String {
        let mut out = String::new();
        let q = |p: &Path| format!("{:?}", p.display().to_string());
        out.push_str(&format!("daemon = {}\n", self.daemon));
        out.push_str(&format!("worker_processes = {}\n", self.worker_processes));
        out.push_str(&format!("pid = {}\n", q(&self.pid)));
        match &self.error_log {
            Some(p) => out.push_str(&format!("error_log = {}\n", q(p))),
            None => out.push_str("error_log = \"stderr\"\n"),
        }
        out.push_str(&format!(
            "upgrade_ready_timeout = \"{}ms\"\n",
            self.upgrade_ready_timeout.as_millis()
        ));
        if let Some(t) = self.worker_shutdown_timeout {
            out.push_str(&format!(
                "worker_shutdown_timeout = \"{}ms\"\n",
                t.as_millis()
            ));
        }
        out.push_str(&format!(
            "shutdown_delay = \"{}ms\"\n",
            self.shutdown_delay.as_millis()
        ));
        if let Some((u, g)) = &self.user {
            out.push_str(&format!("user = {u:?}\n"));
            if let Some(g) = g {
                out.push_str(&format!("group = {g:?}\n"));
            }
        }
        out.push_str(&format!("server_tokens = {}\n", self.server_tokens));
        out.push_str(&format!("access_log_buffer = {}\n", self.access_log_buffer));
        let c = &self.file_cache;
        out.push_str(&format!("open_file_cache = {}\n", c.entries));
        out.push_str(&format!(
            "open_file_cache_valid = \"{}ms\"\n",
            c.valid.as_millis()
        ));
        out.push_str(&format!("open_file_cache_max_size = {}\n", c.max_size));
        out.push_str(&format!("open_file_cache_max_file = {}\n", c.max_file));
        let l = &self.limits;
        out.push_str(&format!("worker_connections = {}\n", l.worker_connections));
        out.push_str(&format!(
            "keepalive_timeout = \"{}ms\"\n",
            l.keepalive_timeout.as_millis()
        ));
        out.push_str(&format!(
            "client_header_timeout = \"{}ms\"\n",
            l.client_header_timeout.as_millis()
        ));
        out.push_str(&format!(
            "send_timeout = \"{}ms\"\n",
            l.send_timeout.as_millis()
        ));
        out.push_str(&format!(
            "client_max_body_size = {}\n",
            l.client_max_body_size
        ));
        out.push_str(&format!(
            "large_client_header_buffers = \"{} {}\"\n",
            l.large_header_count, l.large_header_size
        ));
        for s in &self.servers {
            out.push_str(&s.effective_toml());
        }
        out
    }
}

/// A configuration error: what is wrong, with the file, line and key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file (or the built-in default).
    pub source: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// The key at fault, when known.
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(k) = &self.key {
            write!(f, " (key \"{k}\")")?;
        }
        write!(f, " in {}", self.source)?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

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

    let worker_processes = match &raw.worker_processes {
        None => default_workers(),
        Some(w) => match w.get_ref() {
            toml::Value::String(s) if s == "auto" => default_workers(),
            toml::Value::Integer(n) if *n >= 1 && (*n as usize) <= MAX_WORKER_PROCESSES => {
                *n as usize
            }
            other => {
                return Err(v.err(
                    w,
                    "worker_processes",
                    format!(
                        "invalid value {other}: expected \"auto\" or a number from 1 to {MAX_WORKER_PROCESSES}"
                    ),
                ));
            }
        },
    };
    let pid = v.path(prefix, &raw.pid, "pid", "logs/moltd.pid")?;
    let error_log = match &raw.error_log {
        Some(s) if s.get_ref() == "stderr" => None,
        _ => Some(v.path(prefix, &raw.error_log, "error_log", "logs/error.log")?),
    };
    let worker_shutdown_timeout = match &raw.worker_shutdown_timeout {
        None => None,
        Some(s) => {
            Some(duration::parse(s.get_ref()).map_err(|m| v.err(s, "worker_shutdown_timeout", m))?)
        }
    };
    let shutdown_delay = match &raw.shutdown_delay {
        None => Duration::ZERO,
        Some(s) => duration::parse(s.get_ref()).map_err(|m| v.err(s, "shutdown_delay", m))?,
    };
    let upgrade_ready_timeout = match &raw.upgrade_ready_timeout {
        None => DEFAULT_UPGRADE_READY_TIMEOUT,
        Some(s) => duration::parse(s.get_ref())
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| {
                v.err(
                    s,
                    "upgrade_ready_timeout",
                    format!("invalid time \"{}\": expected e.g. \"30s\"", s.get_ref()),
                )
            })?,
    };
    if let Some(g) = &raw.group
        && raw.user.is_none()
    {
        return Err(v.err(g, "group", "\"group\" needs \"user\"".into()));
    }
    let user = match &raw.user {
        None => None,
        Some(u) => {
            let group = raw.group.as_ref().map(|g| g.get_ref().clone());
            if crate::sys::privs::is_root() {
                crate::sys::privs::lookup(u.get_ref(), group.as_deref())
                    .map_err(|e| v.err(u, "user", e.to_string()))?;
            }
            Some((u.get_ref().clone(), group))
        }
    };

    if raw.server.is_empty() {
        return Err(ConfigError {
            source: v.source.clone(),
            line: None,
            key: Some("server".into()),
            message: "no [[server]] block: nothing to serve".into(),
        });
    }
    let limits = v.limits(&raw)?;
    let file_cache = v.file_cache(&raw)?;
    let defaults = Settings::defaults(prefix);
    let mut servers = Vec::new();
    for s in &raw.server {
        servers.push(v.server(prefix, s, &defaults)?);
    }
    let access_log_buffer = match &raw.access_log_buffer {
        None => DEFAULT_ACCESS_LOG_BUFFER,
        Some(b) => size::parse_value(b.get_ref()).map_err(|m| v.err(b, "access_log_buffer", m))?,
    };

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
        access_log_buffer,
        limits,
        file_cache,
        servers,
    })
}

fn default_workers() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Parses a `listen` value the way nginx operators write it:
/// `127.0.0.1:8080`, `[::1]:8080`, `*:8080` or a bare port.
pub fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    let port_only = s.strip_prefix("*:").unwrap_or(s);
    if let Ok(port) = port_only.parse::<u16>() {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port));
    }
    Err(format!(
        "invalid listen address \"{s}\": expected \"IP:PORT\", \"[IPv6]:PORT\", \"*:PORT\" or a port"
    ))
}

/// Turns spans into file:line errors while validating one file.
pub(crate) struct Validator<'a> {
    text: &'a str,
    source: String,
}

impl Validator<'_> {
    pub(crate) fn line_of(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }

    pub(crate) fn err<T>(&self, at: &Spanned<T>, key: &str, message: String) -> ConfigError {
        ConfigError {
            source: self.source.clone(),
            line: Some(self.line_of(at.span().start)),
            key: Some(key.to_string()),
            message,
        }
    }

    pub(crate) fn path(
        &self,
        prefix: &Path,
        value: &Option<Spanned<String>>,
        key: &str,
        default: &str,
    ) -> Result<PathBuf, ConfigError> {
        match value {
            None => Ok(prefix.join(default)),
            Some(s) if s.get_ref().is_empty() => Err(self.err(s, key, "empty path".into())),
            Some(s) => Ok(prefix.join(s.get_ref())),
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp_prefix() -> PathBuf {
        let d = std::env::temp_dir().join(format!("moltd-config-test-{}", std::process::id()));
        std::fs::create_dir_all(d.join("html")).expect("create test prefix");
        d
    }

    fn parse_str(text: &str) -> Result<Config, ConfigError> {
        parse(text, Source::File("t.toml".into()), &tmp_prefix())
    }

    #[test]
    fn embedded_default_is_valid() {
        let c = parse(EMBEDDED_DEFAULT, Source::Embedded, &tmp_prefix()).expect("default");
        assert_eq!(
            c.listen_addrs(),
            vec!["127.0.0.1:8080".parse().expect("addr")]
        );
        assert!(c.worker_processes >= 1);
        assert_eq!(c.pid, tmp_prefix().join("logs/moltd.pid"));
    }

    #[test]
    fn unknown_key_names_line_and_key() {
        let e = parse_str("daemon = false\nbogus = 1\n[[server]]\nlisten = [\"127.0.0.1:1\"]\n")
            .expect_err("unknown key");
        assert_eq!(e.line, Some(2));
        assert!(e.to_string().contains("bogus"), "{e}");
        assert!(e.to_string().contains("t.toml:2"), "{e}");
    }

    #[test]
    fn unknown_server_key_names_line() {
        let e = parse_str("[[server]]\nlisten = [\"127.0.0.1:1\"]\nlisten_typo = 3\n")
            .expect_err("unknown key");
        assert_eq!(e.line, Some(3));
        assert!(e.message.contains("listen_typo"), "{e}");
    }

    #[test]
    fn bad_values_name_key_and_line() {
        let e = parse_str("worker_processes = \"many\"\n[[server]]\nlisten = [\"1:1\"]\n")
            .expect_err("bad workers");
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(1), Some("worker_processes"))
        );
        let e = parse_str("[[server]]\n\nlisten = [\"127.0.0.1:99999\"]\n").expect_err("bad port");
        assert_eq!((e.line, e.key.as_deref()), (Some(3), Some("listen")));
        let e =
            parse_str("worker_shutdown_timeout = \"5 parsecs\"\n[[server]]\nlisten = [\"80\"]\n")
                .expect_err("bad time");
        assert_eq!(e.key.as_deref(), Some("worker_shutdown_timeout"));
        let e = parse_str("[[server]]\nlisten = [\"80\"]\nroot = \"no/such/dir\"\n")
            .expect_err("missing root");
        assert_eq!((e.line, e.key.as_deref()), (Some(3), Some("root")));
        let e = parse_str("daemon = \"yes\"\n").expect_err("wrong type");
        assert_eq!(e.line, Some(1));
    }

    #[test]
    fn syntax_error_has_line() {
        let e = parse_str("daemon = false\n[[server]\n").expect_err("syntax");
        assert_eq!(e.line, Some(2));
    }

    #[test]
    fn listen_forms() {
        assert_eq!(parse_listen("8080"), Ok("0.0.0.0:8080".parse().expect("a")));
        assert_eq!(parse_listen("*:81"), Ok("0.0.0.0:81".parse().expect("a")));
        assert_eq!(parse_listen("[::1]:82"), Ok("[::1]:82".parse().expect("a")));
        assert!(parse_listen("localhost:80").is_err());
        let c = parse_str("[[server]]\nlisten = \"127.0.0.1:7\"\n").expect("single string");
        assert_eq!(c.listen_addrs().len(), 1);
    }

    #[test]
    fn lenient_pid_line() {
        assert_eq!(
            pid_line("x = [\npid = \"run/m.pid\"\n"),
            Some("run/m.pid".into())
        );
    }
}
