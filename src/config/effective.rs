//! `-T`'s effective configuration: every setting with its defaults filled
//! in, as a TOML file that `-t -c` accepts and that describes the same
//! configuration again.
//!
//! The views below are built by destructuring each config type whole, so
//! a field added to [`Config`], a server, a location or the settings does
//! not compile until it is printed here (or named as not printed).

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::time::Duration;

use hyper::header::{HeaderName, HeaderValue};
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use super::server::{Location, Match, Server};
use super::settings::{AutoindexFormat, Expires, Settings};
use super::{Config, FileCacheConfig, Limits};

/// The effective configuration could not be written as TOML.
#[derive(Debug)]
pub struct EffectiveError(toml::ser::Error);

impl fmt::Display for EffectiveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "could not print the effective configuration: {}", self.0)
    }
}

impl std::error::Error for EffectiveError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

pub(super) fn to_toml(config: &Config) -> Result<String, EffectiveError> {
    toml::to_string(&Top::new(config)).map_err(EffectiveError)
}

/// A time, in milliseconds: the unit every time is parsed to, so nothing
/// is rounded.
struct Time(Duration);

impl Serialize for Time {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{}ms", self.0.as_millis()))
    }
}

/// A byte count: an integer when TOML can hold it, else the same digits
/// as a string, which sizes also accept.
struct Size(u64);

impl Serialize for Size {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match i64::try_from(self.0) {
            Ok(n) => s.serialize_i64(n),
            Err(_) => s.collect_str(&self.0),
        }
    }
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

#[derive(Serialize)]
struct Top<'a> {
    daemon: bool,
    worker_processes: usize,
    pid: String,
    error_log: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    worker_shutdown_timeout: Option<Time>,
    shutdown_delay: Time,
    upgrade_ready_timeout: Time,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    group: Option<&'a str>,
    server_tokens: bool,
    deferred_accept: bool,
    access_log_buffer: Size,
    #[serde(flatten)]
    limits: LimitsView,
    #[serde(flatten)]
    file_cache: FileCacheView,
    server: Vec<ServerView<'a>>,
}

impl<'a> Top<'a> {
    fn new(c: &'a Config) -> Self {
        let Config {
            source: _,
            text: _,
            prefix: _,
            daemon,
            worker_processes,
            pid,
            error_log,
            worker_shutdown_timeout,
            shutdown_delay,
            upgrade_ready_timeout,
            user,
            server_tokens,
            deferred_accept,
            access_log_buffer,
            limits,
            file_cache,
            servers,
            // Derived from the servers' certificates.
            tls: _,
        } = c;
        let (user, group) = match user {
            Some((u, g)) => (Some(u.as_str()), g.as_deref()),
            None => (None, None),
        };
        Top {
            daemon: *daemon,
            worker_processes: *worker_processes,
            pid: path(pid),
            error_log: error_log.as_deref().map_or("stderr".into(), path),
            worker_shutdown_timeout: worker_shutdown_timeout.map(Time),
            shutdown_delay: Time(*shutdown_delay),
            upgrade_ready_timeout: Time(*upgrade_ready_timeout),
            user,
            group,
            server_tokens: *server_tokens,
            deferred_accept: *deferred_accept,
            access_log_buffer: Size(*access_log_buffer as u64),
            limits: LimitsView::new(limits),
            file_cache: FileCacheView::new(file_cache),
            server: servers.iter().map(ServerView::new).collect(),
        }
    }
}

#[derive(Serialize)]
struct LimitsView {
    worker_connections: usize,
    keepalive_timeout: Time,
    keepalive_requests: u64,
    client_header_timeout: Time,
    send_timeout: Time,
    client_max_body_size: Size,
    large_client_header_buffers: String,
}

impl LimitsView {
    fn new(l: &Limits) -> Self {
        let Limits {
            worker_connections,
            keepalive_timeout,
            keepalive_requests,
            client_header_timeout,
            send_timeout,
            client_max_body_size,
            large_header_size,
            large_header_count,
        } = *l;
        LimitsView {
            worker_connections,
            keepalive_timeout: Time(keepalive_timeout),
            keepalive_requests,
            client_header_timeout: Time(client_header_timeout),
            send_timeout: Time(send_timeout),
            client_max_body_size: Size(client_max_body_size),
            large_client_header_buffers: format!("{large_header_count} {large_header_size}"),
        }
    }
}

#[derive(Serialize)]
struct FileCacheView {
    open_file_cache: usize,
    open_file_cache_valid: Time,
    open_file_cache_max_size: Size,
    open_file_cache_max_file: Size,
}

impl FileCacheView {
    fn new(c: &FileCacheConfig) -> Self {
        let FileCacheConfig {
            entries,
            valid,
            max_size,
            max_file,
        } = *c;
        FileCacheView {
            open_file_cache: entries,
            open_file_cache_valid: Time(valid),
            open_file_cache_max_size: Size(max_size),
            open_file_cache_max_file: Size(max_file),
        }
    }
}

#[derive(Serialize)]
struct ServerView<'a> {
    listen: Vec<String>,
    server_name: &'a [String],
    default_server: bool,
    access_log: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    ssl_certificate: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ssl_certificate_key: Option<String>,
    http2: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    redirect_https: Option<u16>,
    #[serde(flatten)]
    settings: SettingsView<'a>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    location: Vec<LocationView<'a>>,
}

impl<'a> ServerView<'a> {
    fn new(s: &'a Server) -> Self {
        let Server {
            listen,
            names,
            default_server,
            access_log,
            settings,
            locations,
            ssl,
            tls,
            http2,
            redirect_https,
        } = s;
        ServerView {
            listen: listen
                .iter()
                .map(|a| {
                    let flag = if ssl.contains(a) { " ssl" } else { "" };
                    format!("{a}{flag}")
                })
                .collect(),
            ssl_certificate: tls.as_ref().map(|t| path(&t.certificate)),
            ssl_certificate_key: tls.as_ref().map(|t| path(&t.key)),
            http2: *http2,
            redirect_https: *redirect_https,
            server_name: names,
            default_server: *default_server,
            access_log: access_log.as_deref().map_or("off".into(), path),
            settings: SettingsView::new(settings),
            location: locations.iter().map(LocationView::new).collect(),
        }
    }
}

#[derive(Serialize)]
struct LocationView<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    prefix: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exact: Option<&'a str>,
    #[serde(flatten)]
    settings: SettingsView<'a>,
}

impl<'a> LocationView<'a> {
    fn new(l: &'a Location) -> Self {
        let Location { matcher, settings } = l;
        let (prefix, exact) = match matcher {
            Match::Prefix(p) => (Some(p.as_str()), None),
            Match::Exact(e) => (None, Some(e.as_str())),
        };
        LocationView {
            prefix,
            exact,
            settings: SettingsView::new(settings),
        }
    }
}

/// The settings of a server or location, every one written out: a
/// location printed with what it inherited sets the same values again.
/// The tables are written even when empty, since an empty `add_header`
/// or `error_page` clears what a location inherits.
#[derive(Serialize)]
struct SettingsView<'a> {
    root: String,
    index: &'a [String],
    autoindex: bool,
    autoindex_format: &'static str,
    expires: String,
    gzip_static: bool,
    brotli_static: bool,
    gzip: bool,
    gzip_types: &'a [String],
    gzip_min_length: Size,
    gzip_comp_level: u32,
    compress_extra: Vec<&'static str>,
    charset: &'a str,
    default_type: &'a str,
    disable_symlinks: bool,
    max_ranges: usize,
    health: bool,
    status: &'static str,
    allow: Vec<String>,
    add_header: Headers<'a>,
    types: &'a BTreeMap<String, String>,
    error_page: BTreeMap<String, &'a str>,
}

impl<'a> SettingsView<'a> {
    fn new(s: &'a Settings) -> Self {
        let Settings {
            root,
            index,
            autoindex,
            autoindex_format,
            expires,
            add_header,
            gzip_static,
            brotli_static,
            compression,
            charset,
            default_type,
            types,
            error_page,
            disable_symlinks,
            max_ranges,
            health,
            status,
            allow,
        } = s;
        SettingsView {
            root: path(root),
            index,
            autoindex: *autoindex,
            autoindex_format: match autoindex_format {
                AutoindexFormat::Html => "html",
                AutoindexFormat::Json => "json",
            },
            expires: match expires {
                Expires::Off => "off".into(),
                Expires::Epoch => "epoch".into(),
                Expires::Max => "max".into(),
                Expires::MaxAge(d) => format!("{}ms", d.as_millis()),
                Expires::NoCache(d) => format!("-{}ms", d.as_millis()),
            },
            gzip_static: *gzip_static,
            brotli_static: *brotli_static,
            gzip: compression.gzip,
            gzip_types: &compression.types,
            gzip_min_length: Size(compression.min_length),
            gzip_comp_level: compression.level,
            compress_extra: compression.extra.iter().map(|c| c.name()).collect(),
            charset: charset.as_deref().unwrap_or("off"),
            default_type,
            disable_symlinks: *disable_symlinks,
            max_ranges: *max_ranges,
            health: *health,
            status: status.map_or("off", |p| p.name()),
            // Everyone, when no `allow` narrows it.
            allow: allow.as_ref().map_or_else(
                || vec!["0.0.0.0/0".into(), "::/0".into()],
                |nets| nets.iter().map(ToString::to_string).collect(),
            ),
            add_header: Headers(add_header),
            types,
            error_page: error_page
                .iter()
                .map(|(code, uri)| (code.to_string(), uri.as_str()))
                .collect(),
        }
    }
}

/// `add_header` as a TOML table. A name added more than once gets one
/// key per value, spelt in different cases (header names ignore case):
/// TOML keys must differ, and they are read back sorted, so the spellings
/// sort in the order the values were added.
struct Headers<'a>(&'a [(HeaderName, HeaderValue)]);

impl Serialize for Headers<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut entries: Vec<(String, String)> = self
            .0
            .iter()
            .enumerate()
            .map(|(i, (name, value))| {
                let same = |n: &&(HeaderName, HeaderValue)| n.0 == *name;
                let key = if self.0.iter().filter(same).count() == 1 {
                    name.as_str().to_string()
                } else {
                    spelling(name.as_str(), self.0[..i].iter().filter(same).count())
                };
                (key, String::from_utf8_lossy(value.as_bytes()).into_owned())
            })
            .collect();
        // In the order they are read back, so a printed file prints the same.
        entries.sort();
        let mut map = s.serialize_map(Some(entries.len()))?;
        for (key, value) in &entries {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// The `k`-th smallest, in byte order, of the case spellings of `name`
/// (lower case). Upper case sorts first, and the first letter that differs
/// decides, so reading the letters' cases as the bits of a number (first
/// letter highest, upper case 1) orders the spellings from the largest
/// number down. A name of more than 63 letters keeps its first ones upper
/// case: there are never that many values for one name.
fn spelling(name: &str, k: usize) -> String {
    let letters = name.bytes().filter(u8::is_ascii_alphabetic).count();
    let bits = letters.min(63) as u32;
    let number = (u64::MAX >> (64 - bits.max(1))).saturating_sub(k as u64);
    let mut seen = 0;
    name.chars()
        .map(|c| {
            if !c.is_ascii_alphabetic() {
                return c;
            }
            let from_last = letters - 1 - seen;
            seen += 1;
            let upper = from_last >= 63 || number >> from_last & 1 == 1;
            if upper { c.to_ascii_uppercase() } else { c }
        })
        .collect()
}

#[cfg(test)]
mod tests;
