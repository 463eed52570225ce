//! `[[server]]` and `[[server.location]]`: virtual hosts, their listens and
//! names, and the per-location settings (root, index, listing, caching
//! headers, precompressed files, error pages...), each location inheriting
//! what it does not set from its server, and the server from the defaults.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hyper::header::{HeaderName, HeaderValue};
use toml::Spanned;

use super::{ConfigError, Validator, duration, parse_listen, raw};

/// nginx's `max_ranges` is unlimited by default; a cap this high still
/// keeps a request from asking for millions of tiny parts.
const DEFAULT_MAX_RANGES: usize = 64;

/// How a listing is rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoindexFormat {
    /// nginx's HTML page.
    Html,
    /// nginx's JSON array.
    Json,
}

/// The `expires` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expires {
    /// No caching headers added.
    Off,
    /// `Expires` in 1970 and `Cache-Control: no-cache`.
    Epoch,
    /// As far ahead as nginx's `max` (2037, ten years of max-age).
    Max,
    /// `Cache-Control: max-age=N` and `Expires` N seconds ahead.
    MaxAge(Duration),
    /// A negative time: `Cache-Control: no-cache`, and `Expires` that far
    /// in the past.
    NoCache(Duration),
}

/// Everything a location decides about serving a request.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Document root (absolute).
    pub root: PathBuf,
    /// Index file names.
    pub index: Vec<String>,
    /// List directories without an index.
    pub autoindex: bool,
    /// Listing format.
    pub autoindex_format: AutoindexFormat,
    /// Caching headers.
    pub expires: Expires,
    /// Headers added to successful responses.
    pub add_header: Vec<(HeaderName, HeaderValue)>,
    /// Serve `.gz` siblings.
    pub gzip_static: bool,
    /// Serve `.br` siblings.
    pub brotli_static: bool,
    /// Charset added to text types.
    pub charset: Option<String>,
    /// Type for unknown extensions.
    pub default_type: String,
    /// Extension (lower case) to MIME type, overriding the built-in table.
    pub types: BTreeMap<String, String>,
    /// Status to error-page URI.
    pub error_page: BTreeMap<u16, String>,
    /// Refuse symlinks whose target leaves the root.
    pub disable_symlinks: bool,
    /// Most ranges honoured per request; 0 disables ranges.
    pub max_ranges: usize,
    /// This location answers a load balancer's readiness probe (200 while
    /// the worker accepts, 503 once it is going away) instead of files.
    pub health: bool,
}

impl Settings {
    /// The settings of a server that sets nothing.
    pub fn defaults(prefix: &Path) -> Self {
        Settings {
            root: prefix.join("html"),
            index: vec!["index.html".into()],
            autoindex: false,
            autoindex_format: AutoindexFormat::Html,
            expires: Expires::Off,
            add_header: Vec::new(),
            gzip_static: false,
            brotli_static: false,
            charset: None,
            default_type: "application/octet-stream".into(),
            types: BTreeMap::new(),
            error_page: BTreeMap::new(),
            disable_symlinks: false,
            max_ranges: DEFAULT_MAX_RANGES,
            health: false,
        }
    }
}

/// How a location matches the request path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    /// `exact = "/path"`: only this path.
    Exact(String),
    /// `prefix = "/assets/"`: paths starting with it; the longest wins.
    Prefix(String),
}

/// One `[[server.location]]`.
#[derive(Debug, Clone)]
pub struct Location {
    /// What it matches.
    pub matcher: Match,
    /// Its settings, with the server's filled in.
    pub settings: Arc<Settings>,
}

/// One `[[server]]` block, validated.
#[derive(Debug, Clone)]
pub struct Server {
    /// Addresses to listen on.
    pub listen: Vec<SocketAddr>,
    /// Host patterns, lower case: `example.com`, `*.example.com`,
    /// `.example.com`, `example.*`.
    pub names: Vec<String>,
    /// Default server for its listens.
    pub default_server: bool,
    /// Access log file, if any.
    pub access_log: Option<PathBuf>,
    /// Settings for paths no location matches.
    pub settings: Arc<Settings>,
    /// Locations in file order.
    pub locations: Vec<Location>,
}

impl Server {
    /// The document root of requests that match no location.
    pub fn root(&self) -> &Path {
        &self.settings.root
    }

    /// This server as TOML, defaults filled in (for `-T`).
    pub fn effective_toml(&self) -> String {
        let mut out = String::from("\n[[server]]\n");
        let listen: Vec<String> = self.listen.iter().map(|a| format!("\"{a}\"")).collect();
        out.push_str(&format!("listen = [{}]\n", listen.join(", ")));
        if !self.names.is_empty() {
            out.push_str(&format!("server_name = {:?}\n", self.names));
        }
        out.push_str(&format!("default_server = {}\n", self.default_server));
        match &self.access_log {
            Some(p) => out.push_str(&format!("access_log = {:?}\n", p.display().to_string())),
            None => out.push_str("access_log = \"off\"\n"),
        }
        settings_toml(&self.settings, &mut out);
        for l in &self.locations {
            out.push_str("\n[[server.location]]\n");
            match &l.matcher {
                Match::Exact(p) => out.push_str(&format!("exact = {p:?}\n")),
                Match::Prefix(p) => out.push_str(&format!("prefix = {p:?}\n")),
            }
            settings_toml(&l.settings, &mut out);
        }
        out
    }
}

fn settings_toml(s: &Settings, out: &mut String) {
    out.push_str(&format!("root = {:?}\n", s.root.display().to_string()));
    out.push_str(&format!("index = {:?}\n", s.index));
    out.push_str(&format!("autoindex = {}\n", s.autoindex));
    let fmt = match s.autoindex_format {
        AutoindexFormat::Html => "html",
        AutoindexFormat::Json => "json",
    };
    out.push_str(&format!("autoindex_format = \"{fmt}\"\n"));
    let expires = match s.expires {
        Expires::Off => "off".to_string(),
        Expires::Epoch => "epoch".to_string(),
        Expires::Max => "max".to_string(),
        Expires::NoCache(d) => format!("-{}s", d.as_secs()),
        Expires::MaxAge(d) => format!("{}s", d.as_secs()),
    };
    out.push_str(&format!("expires = \"{expires}\"\n"));
    out.push_str(&format!("gzip_static = {}\n", s.gzip_static));
    out.push_str(&format!("brotli_static = {}\n", s.brotli_static));
    out.push_str(&format!(
        "charset = {:?}\n",
        s.charset.as_deref().unwrap_or("off")
    ));
    out.push_str(&format!("default_type = {:?}\n", s.default_type));
    out.push_str(&format!("disable_symlinks = {}\n", s.disable_symlinks));
    out.push_str(&format!("max_ranges = {}\n", s.max_ranges));
    out.push_str(&format!("health = {}\n", s.health));
    let table = |m: Vec<(String, String)>| {
        let items: Vec<String> = m.iter().map(|(k, v)| format!("{k:?} = {v:?}")).collect();
        format!("{{ {} }}", items.join(", "))
    };
    if !s.add_header.is_empty() {
        let h = s
            .add_header
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        out.push_str(&format!("add_header = {}\n", table(h)));
    }
    if !s.types.is_empty() {
        let t = s
            .types
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        out.push_str(&format!("types = {}\n", table(t)));
    }
    if !s.error_page.is_empty() {
        let e = s
            .error_page
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        out.push_str(&format!("error_page = {}\n", table(e)));
    }
}

/// Returns the string items of a string-or-list value.
fn strings<'a>(
    v: &Validator<'_>,
    at: &'a Spanned<toml::Value>,
    key: &str,
) -> Result<Vec<&'a str>, ConfigError> {
    let items: Vec<&toml::Value> = match at.get_ref() {
        toml::Value::Array(a) => a.iter().collect(),
        other => vec![other],
    };
    items
        .into_iter()
        .map(|i| match i {
            toml::Value::String(s) => Ok(s.as_str()),
            other => Err(v.err(at, key, format!("invalid value {other}: expected a string"))),
        })
        .collect()
}

fn table_strings<'a>(
    v: &Validator<'_>,
    at: &'a Spanned<toml::Table>,
    key: &str,
) -> Result<Vec<(&'a str, &'a str)>, ConfigError> {
    at.get_ref()
        .iter()
        .map(|(k, val)| match val {
            toml::Value::String(s) => Ok((k.as_str(), s.as_str())),
            other => Err(v.err(
                at,
                key,
                format!("invalid value {other} for \"{k}\": expected a string"),
            )),
        })
        .collect()
}

/// The raw settings fields shared by servers and locations.
struct RawSettings<'a> {
    root: &'a Option<Spanned<String>>,
    index: &'a Option<Spanned<Vec<String>>>,
    autoindex: Option<bool>,
    autoindex_format: &'a Option<Spanned<String>>,
    expires: &'a Option<Spanned<String>>,
    add_header: &'a Option<Spanned<toml::Table>>,
    gzip_static: Option<bool>,
    brotli_static: Option<bool>,
    charset: &'a Option<Spanned<String>>,
    default_type: &'a Option<Spanned<String>>,
    types: &'a Option<Spanned<toml::Table>>,
    error_page: &'a Option<Spanned<toml::Table>>,
    disable_symlinks: Option<bool>,
    max_ranges: &'a Option<Spanned<i64>>,
    health: Option<bool>,
}

macro_rules! raw_settings {
    ($b:expr) => {
        RawSettings {
            root: &$b.root,
            index: &$b.index,
            autoindex: $b.autoindex,
            autoindex_format: &$b.autoindex_format,
            expires: &$b.expires,
            add_header: &$b.add_header,
            gzip_static: $b.gzip_static,
            brotli_static: $b.brotli_static,
            charset: &$b.charset,
            default_type: &$b.default_type,
            types: &$b.types,
            error_page: &$b.error_page,
            disable_symlinks: $b.disable_symlinks,
            max_ranges: &$b.max_ranges,
            health: $b.health,
        }
    };
}

/// Parses an `expires` value.
pub fn parse_expires(text: &str) -> Result<Expires, String> {
    match text {
        "off" => Ok(Expires::Off),
        "epoch" => Ok(Expires::Epoch),
        "max" => Ok(Expires::Max),
        t if t.starts_with('-') => duration::parse(&t[1..]).map(Expires::NoCache),
        t => duration::parse(t).map(Expires::MaxAge),
    }
}

impl Validator<'_> {
    /// Applies the raw settings over `base`.
    fn settings(
        &self,
        prefix: &Path,
        r: RawSettings<'_>,
        base: &Settings,
        at: &Spanned<impl Sized>,
    ) -> Result<Settings, ConfigError> {
        let mut s = base.clone();
        if let Some(root) = r.root {
            let path = prefix.join(root.get_ref());
            match std::fs::metadata(&path) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    return Err(self.err(
                        root,
                        "root",
                        format!("root \"{}\" is not usable: not a directory", path.display()),
                    ));
                }
                Err(e) => {
                    return Err(self.err(
                        root,
                        "root",
                        format!("root \"{}\" is not usable: {e}", path.display()),
                    ));
                }
            }
            s.root = path;
        }
        if let Some(i) = r.index {
            if let Some(bad) = i.get_ref().iter().find(|n| n.is_empty() || n.contains('/')) {
                return Err(self.err(
                    i,
                    "index",
                    format!("invalid index name \"{bad}\": a file name without \"/\""),
                ));
            }
            s.index = i.get_ref().clone();
        }
        if let Some(a) = r.autoindex {
            s.autoindex = a;
        }
        if let Some(f) = r.autoindex_format {
            s.autoindex_format = match f.get_ref().as_str() {
                "html" => AutoindexFormat::Html,
                "json" => AutoindexFormat::Json,
                other => {
                    return Err(self.err(
                        f,
                        "autoindex_format",
                        format!("invalid value \"{other}\": expected \"html\" or \"json\""),
                    ));
                }
            };
        }
        if let Some(e) = r.expires {
            s.expires = parse_expires(e.get_ref()).map_err(|m| self.err(e, "expires", m))?;
        }
        if let Some(h) = r.add_header {
            let mut headers = Vec::new();
            for (k, v) in table_strings(self, h, "add_header")? {
                let name = HeaderName::from_bytes(k.as_bytes()).map_err(|_| {
                    self.err(h, "add_header", format!("invalid header name \"{k}\""))
                })?;
                let value = HeaderValue::from_str(v).map_err(|_| {
                    self.err(h, "add_header", format!("invalid value for header \"{k}\""))
                })?;
                headers.push((name, value));
            }
            s.add_header = headers;
        }
        if let Some(g) = r.gzip_static {
            s.gzip_static = g;
        }
        if let Some(b) = r.brotli_static {
            s.brotli_static = b;
        }
        if let Some(c) = r.charset {
            let c = c.get_ref();
            s.charset = (c != "off").then(|| c.clone());
        }
        if let Some(d) = r.default_type {
            if HeaderValue::from_str(d.get_ref()).is_err() || d.get_ref().is_empty() {
                return Err(self.err(d, "default_type", "invalid MIME type".into()));
            }
            s.default_type = d.get_ref().clone();
        }
        if let Some(t) = r.types {
            for (ext, mime) in table_strings(self, t, "types")? {
                if HeaderValue::from_str(mime).is_err() || mime.is_empty() {
                    return Err(self.err(t, "types", format!("invalid MIME type \"{mime}\"")));
                }
                s.types.insert(
                    ext.trim_start_matches('.').to_ascii_lowercase(),
                    mime.into(),
                );
            }
        }
        if let Some(e) = r.error_page {
            // Like nginx, a block that sets error pages replaces the
            // inherited ones rather than adding to them.
            s.error_page.clear();
            for (code, uri) in table_strings(self, e, "error_page")? {
                let c: u16 = code
                    .parse()
                    .ok()
                    .filter(|c| (300..=599).contains(c))
                    .ok_or_else(|| {
                        self.err(
                            e,
                            "error_page",
                            format!("invalid status \"{code}\": expected 300-599"),
                        )
                    })?;
                if !uri.starts_with('/') {
                    return Err(self.err(
                        e,
                        "error_page",
                        format!("invalid page \"{uri}\": expected a path starting with \"/\""),
                    ));
                }
                s.error_page.insert(c, uri.into());
            }
        }
        if let Some(d) = r.disable_symlinks {
            s.disable_symlinks = d;
        }
        if let Some(m) = r.max_ranges {
            s.max_ranges = usize::try_from(*m.get_ref())
                .map_err(|_| self.err(m, "max_ranges", "expected a number >= 0".into()))?;
        }
        if let Some(h) = r.health {
            s.health = h;
        }
        let _ = at;
        Ok(s)
    }

    pub(super) fn server(
        &self,
        prefix: &Path,
        s: &Spanned<raw::RawServer>,
        defaults: &Settings,
    ) -> Result<Server, ConfigError> {
        let block = s.get_ref();
        let Some(l) = &block.listen else {
            return Err(self.err(s, "listen", "[[server]] has no \"listen\"".into()));
        };
        let mut listen = Vec::new();
        for text in strings(self, l, "listen")? {
            let a = parse_listen(text).map_err(|m| self.err(l, "listen", m))?;
            if !listen.contains(&a) {
                listen.push(a);
            }
        }
        if listen.is_empty() {
            return Err(self.err(l, "listen", "empty \"listen\" list".into()));
        }
        let mut names = Vec::new();
        if let Some(n) = &block.server_name {
            for name in strings(self, n, "server_name")? {
                let valid = !name.is_empty()
                    && !name.contains(['/', ' ', ':'])
                    && name.matches('*').count() <= 1
                    && (!name.contains('*') || name.starts_with("*.") || name.ends_with(".*"));
                if !valid {
                    return Err(self.err(
                        n,
                        "server_name",
                        format!(
                            "invalid server name \"{name}\": expected a host, \"*.example.com\", \".example.com\" or \"example.*\""
                        ),
                    ));
                }
                names.push(name.to_ascii_lowercase());
            }
        }
        let access_log = match &block.access_log {
            None => Some(prefix.join("logs/access.log")),
            Some(a) if a.get_ref() == "off" => None,
            Some(a) if a.get_ref().is_empty() => {
                return Err(self.err(a, "access_log", "empty path".into()));
            }
            Some(a) => Some(prefix.join(a.get_ref())),
        };
        if block.root.is_none() {
            let root = &defaults.root;
            if !root.is_dir() {
                return Err(self.err(
                    s,
                    "root",
                    format!(
                        "root \"{}\" is not usable: no such directory",
                        root.display()
                    ),
                ));
            }
        }
        let settings = Arc::new(self.settings(prefix, raw_settings!(block), defaults, s)?);
        let mut locations = Vec::new();
        for loc in block.location.iter().flatten() {
            let b = loc.get_ref();
            let matcher = match (&b.prefix, &b.exact) {
                (Some(p), None) if p.get_ref().starts_with('/') => {
                    Match::Prefix(p.get_ref().clone())
                }
                (None, Some(e)) if e.get_ref().starts_with('/') => {
                    Match::Exact(e.get_ref().clone())
                }
                (Some(p), None) => {
                    return Err(self.err(
                        p,
                        "prefix",
                        "a location prefix starts with \"/\"".into(),
                    ));
                }
                (None, Some(e)) => {
                    return Err(self.err(e, "exact", "an exact location starts with \"/\"".into()));
                }
                _ => {
                    return Err(self.err(
                        loc,
                        "location",
                        "a [[server.location]] needs exactly one of \"prefix\" or \"exact\"".into(),
                    ));
                }
            };
            let settings = Arc::new(self.settings(prefix, raw_settings!(b), &settings, loc)?);
            locations.push(Location { matcher, settings });
        }
        Ok(Server {
            listen,
            names,
            default_server: block.default_server.unwrap_or(false),
            access_log,
            settings,
            locations,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires_forms() {
        assert_eq!(parse_expires("off"), Ok(Expires::Off));
        assert_eq!(
            parse_expires("7d"),
            Ok(Expires::MaxAge(Duration::from_secs(604800)))
        );
        assert_eq!(
            parse_expires("-1"),
            Ok(Expires::NoCache(Duration::from_secs(1)))
        );
        assert_eq!(parse_expires("max"), Ok(Expires::Max));
        assert!(parse_expires("soon").is_err());
    }
}
