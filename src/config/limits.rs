//! Limits and timeouts that protect a worker from slow or hostile clients
//! (nginx's names and defaults).

use std::time::Duration;

use toml::Spanned;

use super::{ConfigError, Validator, duration, raw::RawConfig, size};

/// The limits of one configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Connections one worker serves at once (nginx default 512); more
    /// wait in the listen backlog.
    pub worker_connections: usize,
    /// Idle keep-alive connections are closed after this (75s).
    pub keepalive_timeout: Duration,
    /// Requests one connection may make (1000): the last one's response
    /// closes it (HTTP/1) or sends GOAWAY (HTTP/2), so no client holds a
    /// connection, and the memory it has grown, forever.
    pub keepalive_requests: u64,
    /// Time to receive a request's headers (60s): slowloris is cut.
    pub client_header_timeout: Duration,
    /// A connection on which no byte moves for this long is closed (60s):
    /// a client that stopped reading is cut.
    pub send_timeout: Duration,
    /// Largest request body read and discarded; beyond it 413 (1m; 0 for
    /// no limit, as nginx).
    pub client_max_body_size: u64,
    /// Longest request line or header line (8k): 414 / 431 beyond it.
    pub large_header_size: usize,
    /// Number of such buffers (4): the whole head may not exceed
    /// `large_header_count * large_header_size` (431).
    pub large_header_count: usize,
}

impl Limits {
    /// True when a body of `n` bytes is over `client_max_body_size` (0
    /// means no limit, as in nginx).
    pub fn body_too_large(&self, n: u64) -> bool {
        self.client_max_body_size != 0 && n > self.client_max_body_size
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            worker_connections: 512,
            keepalive_timeout: Duration::from_secs(75),
            keepalive_requests: 1000,
            client_header_timeout: Duration::from_secs(60),
            send_timeout: Duration::from_secs(60),
            client_max_body_size: 1024 * 1024,
            large_header_size: 8 * 1024,
            large_header_count: 4,
        }
    }
}

/// The open-file cache's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileCacheConfig {
    /// Most entries per worker (0: off).
    pub entries: usize,
    /// How long a stat result is trusted (0: stat every request, so a
    /// change on disk shows at once).
    pub valid: Duration,
    /// Most body bytes per worker.
    pub max_size: u64,
    /// Largest file whose body is kept in memory. Larger ones go out with
    /// sendfile from a cached open file, which costs less than a copy from
    /// memory from a few KiB up (benches/compare.sh: 16 KiB 8.1 us from
    /// disk vs 9.2 us from memory).
    pub max_file: u64,
}

impl Default for FileCacheConfig {
    fn default() -> Self {
        FileCacheConfig {
            entries: 10_000,
            valid: Duration::ZERO,
            max_size: 64 * 1024 * 1024,
            max_file: 4 * 1024,
        }
    }
}

impl Limits {
    /// The whole request head may not exceed this.
    pub fn max_head(&self) -> usize {
        self.large_header_size * self.large_header_count
    }
}

fn time(
    v: &Validator<'_>,
    at: &Option<Spanned<String>>,
    key: &str,
    default: Duration,
) -> Result<Duration, ConfigError> {
    match at {
        None => Ok(default),
        Some(s) => duration::parse(s.get_ref())
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| {
                v.err(
                    s,
                    key,
                    format!("invalid time \"{}\": expected e.g. \"60s\"", s.get_ref()),
                )
            }),
    }
}

impl Validator<'_> {
    pub(super) fn file_cache(&self, raw: &RawConfig) -> Result<FileCacheConfig, ConfigError> {
        let d = FileCacheConfig::default();
        let entries = match &raw.open_file_cache {
            None => d.entries,
            Some(n) => usize::try_from(*n.get_ref())
                .ok()
                .filter(|n| *n <= 10_000_000)
                .ok_or_else(|| {
                    self.err(
                        n,
                        "open_file_cache",
                        "expected a number of entries (0 = off)".into(),
                    )
                })?,
        };
        let valid = match &raw.open_file_cache_valid {
            None => d.valid,
            Some(s) => {
                duration::parse(s.get_ref()).map_err(|m| self.err(s, "open_file_cache_valid", m))?
            }
        };
        let size = |v: &Option<Spanned<toml::Value>>, key: &str, default: u64| match v {
            None => Ok(default),
            Some(b) => size::parse_value(b.get_ref())
                .map(|n| n as u64)
                .map_err(|m| self.err(b, key, m)),
        };
        Ok(FileCacheConfig {
            entries,
            valid,
            max_size: size(
                &raw.open_file_cache_max_size,
                "open_file_cache_max_size",
                d.max_size,
            )?,
            max_file: size(
                &raw.open_file_cache_max_file,
                "open_file_cache_max_file",
                d.max_file,
            )?,
        })
    }

    /// A whole number from 1 to `max`; `None` when not set.
    fn number<T: TryFrom<i64>>(
        &self,
        at: &Option<Spanned<i64>>,
        key: &str,
        max: i64,
    ) -> Result<Option<T>, ConfigError> {
        let Some(n) = at else { return Ok(None) };
        (1..=max)
            .contains(n.get_ref())
            .then(|| T::try_from(*n.get_ref()).ok())
            .flatten()
            .map(Some)
            .ok_or_else(|| self.err(n, key, format!("expected a number from 1 to {max}")))
    }

    pub(super) fn limits(&self, raw: &RawConfig) -> Result<Limits, ConfigError> {
        let d = Limits::default();
        let worker_connections =
            self.number(&raw.worker_connections, "worker_connections", 1_000_000)?;
        let keepalive_requests =
            self.number(&raw.keepalive_requests, "keepalive_requests", 1_000_000_000)?;
        let client_max_body_size = match &raw.client_max_body_size {
            None => d.client_max_body_size,
            Some(b) => size::parse_value(b.get_ref())
                .map_err(|m| self.err(b, "client_max_body_size", m))? as u64,
        };
        let (large_header_count, large_header_size) = match &raw.large_client_header_buffers {
            None => (d.large_header_count, d.large_header_size),
            Some(l) => {
                let bad = || {
                    self.err(
                        l,
                        "large_client_header_buffers",
                        format!(
                            "invalid value \"{}\": expected \"NUMBER SIZE\", e.g. \"4 8k\"",
                            l.get_ref()
                        ),
                    )
                };
                let mut it = l.get_ref().split_whitespace();
                let n = it
                    .next()
                    .and_then(|n| n.parse::<usize>().ok())
                    .filter(|n| (1..=64).contains(n));
                let sz = it
                    .next()
                    .and_then(|s| size::parse(s).ok())
                    .filter(|s| (1024..=1 << 20).contains(s));
                match (n, sz, it.next()) {
                    (Some(n), Some(sz), None) if n * sz >= 8192 => (n, sz),
                    _ => return Err(bad()),
                }
            }
        };
        Ok(Limits {
            worker_connections: worker_connections.unwrap_or(d.worker_connections),
            keepalive_timeout: time(
                self,
                &raw.keepalive_timeout,
                "keepalive_timeout",
                d.keepalive_timeout,
            )?,
            keepalive_requests: keepalive_requests.unwrap_or(d.keepalive_requests),
            client_header_timeout: time(
                self,
                &raw.client_header_timeout,
                "client_header_timeout",
                d.client_header_timeout,
            )?,
            send_timeout: time(self, &raw.send_timeout, "send_timeout", d.send_timeout)?,
            client_max_body_size,
            large_header_size,
            large_header_count,
        })
    }
}
