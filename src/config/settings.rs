//! The settings a `[[server]]` sets and each `[[server.location]]` may
//! override (root, index, listing, caching headers, precompressed files,
//! error pages...): a block inherits whatever it does not set.

use super::cidr::Cidr;
use super::compression::{Compression, RawCompression};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hyper::header::{HeaderName, HeaderValue};
use toml::Spanned;

use super::{ConfigError, Validator, duration};

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
#[derive(Debug, Clone, PartialEq)]
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
    /// On-the-fly compression (`gzip` and its keys).
    pub compression: Compression,
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
    /// This location serves a status page (counters of the whole server)
    /// instead of files.
    pub status: Option<StatusPage>,
    /// Client networks allowed here (`None`: everyone); others get 403.
    pub allow: Option<Vec<Cidr>>,
}

/// Which status page a location serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusPage {
    /// nginx's stub_status text.
    Stub,
    /// The Prometheus text exposition.
    Prometheus,
}

impl StatusPage {
    /// Its name in the configuration.
    pub fn name(self) -> &'static str {
        match self {
            StatusPage::Stub => "stub",
            StatusPage::Prometheus => "prometheus",
        }
    }
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
            compression: Compression::default(),
            charset: None,
            default_type: "application/octet-stream".into(),
            types: BTreeMap::new(),
            error_page: BTreeMap::new(),
            disable_symlinks: false,
            max_ranges: DEFAULT_MAX_RANGES,
            health: false,
            status: None,
            allow: None,
        }
    }
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

/// The raw settings fields shared by servers and locations.
pub(super) struct RawSettings<'a> {
    pub(super) root: &'a Option<Spanned<String>>,
    pub(super) index: &'a Option<Spanned<Vec<String>>>,
    pub(super) autoindex: Option<bool>,
    pub(super) autoindex_format: &'a Option<Spanned<String>>,
    pub(super) expires: &'a Option<Spanned<String>>,
    pub(super) add_header: &'a Option<Spanned<toml::Table>>,
    pub(super) gzip_static: Option<bool>,
    pub(super) brotli_static: Option<bool>,
    pub(super) compression: RawCompression<'a>,
    pub(super) charset: &'a Option<Spanned<String>>,
    pub(super) default_type: &'a Option<Spanned<String>>,
    pub(super) types: &'a Option<Spanned<toml::Table>>,
    pub(super) error_page: &'a Option<Spanned<toml::Table>>,
    pub(super) disable_symlinks: Option<bool>,
    pub(super) max_ranges: &'a Option<Spanned<i64>>,
    pub(super) health: Option<bool>,
    pub(super) status: &'a Option<Spanned<String>>,
    pub(super) allow: &'a Option<Spanned<Vec<String>>>,
}

/// The [`RawSettings`] of a raw server or location block.
macro_rules! raw_settings {
    ($b:expr) => {
        $crate::config::settings::RawSettings {
            root: &$b.root,
            index: &$b.index,
            autoindex: $b.autoindex,
            autoindex_format: &$b.autoindex_format,
            expires: &$b.expires,
            add_header: &$b.add_header,
            gzip_static: $b.gzip_static,
            brotli_static: $b.brotli_static,
            compression: $crate::config::compression::RawCompression {
                gzip: $b.gzip,
                types: &$b.gzip_types,
                min_length: &$b.gzip_min_length,
                level: &$b.gzip_comp_level,
                extra: &$b.compress_extra,
            },
            charset: &$b.charset,
            default_type: &$b.default_type,
            types: &$b.types,
            error_page: &$b.error_page,
            disable_symlinks: $b.disable_symlinks,
            max_ranges: &$b.max_ranges,
            health: $b.health,
            status: &$b.status,
            allow: &$b.allow,
        }
    };
}
pub(super) use raw_settings;

impl Validator<'_> {
    /// Applies the raw settings over `base`.
    pub(super) fn settings(
        &self,
        prefix: &Path,
        r: RawSettings<'_>,
        base: &Settings,
    ) -> Result<Settings, ConfigError> {
        let mut s = base.clone();
        if let Some(root) = r.root {
            s.root = self.root(prefix, root)?;
        }
        if let Some(i) = r.index {
            s.index = self.index(i)?;
        }
        if let Some(a) = r.autoindex {
            s.autoindex = a;
        }
        if let Some(f) = r.autoindex_format {
            s.autoindex_format = self.autoindex_format(f)?;
        }
        if let Some(e) = r.expires {
            s.expires = parse_expires(e.get_ref()).map_err(|m| self.err(e, "expires", m))?;
        }
        if let Some(h) = r.add_header {
            s.add_header = self.add_header(h)?;
        }
        if let Some(g) = r.gzip_static {
            s.gzip_static = g;
        }
        if let Some(b) = r.brotli_static {
            s.brotli_static = b;
        }
        self.compression(r.compression, &mut s.compression)?;
        if let Some(c) = r.charset {
            let c = c.get_ref();
            s.charset = (c != "off").then(|| c.clone());
        }
        if let Some(d) = r.default_type {
            s.default_type = self.default_type(d)?;
        }
        if let Some(t) = r.types {
            self.types(t, &mut s.types)?;
        }
        if let Some(e) = r.error_page {
            // Like nginx, a block that sets error pages replaces the
            // inherited ones rather than adding to them.
            s.error_page = self.error_page(e)?;
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
        if let Some(p) = r.status {
            s.status = self.status_page(p)?;
        }
        if let Some(a) = r.allow {
            s.allow = self.allow(a)?;
        }
        Ok(s)
    }

    /// A root must be a directory now: a typo fails the test, not every
    /// request.
    fn root(&self, prefix: &Path, root: &Spanned<String>) -> Result<PathBuf, ConfigError> {
        let path = prefix.join(root.get_ref());
        let why = match std::fs::metadata(&path) {
            Ok(m) if m.is_dir() => return Ok(path),
            Ok(_) => "not a directory".to_string(),
            Err(e) => e.to_string(),
        };
        Err(self.err(
            root,
            "root",
            format!("root \"{}\" is not usable: {why}", path.display()),
        ))
    }

    fn index(&self, i: &Spanned<Vec<String>>) -> Result<Vec<String>, ConfigError> {
        if let Some(bad) = i.get_ref().iter().find(|n| n.is_empty() || n.contains('/')) {
            return Err(self.err(
                i,
                "index",
                format!("invalid index name \"{bad}\": a file name without \"/\""),
            ));
        }
        Ok(i.get_ref().clone())
    }

    fn autoindex_format(&self, f: &Spanned<String>) -> Result<AutoindexFormat, ConfigError> {
        match f.get_ref().as_str() {
            "html" => Ok(AutoindexFormat::Html),
            "json" => Ok(AutoindexFormat::Json),
            other => Err(self.err(
                f,
                "autoindex_format",
                format!("invalid value \"{other}\": expected \"html\" or \"json\""),
            )),
        }
    }

    fn status_page(&self, p: &Spanned<String>) -> Result<Option<StatusPage>, ConfigError> {
        match p.get_ref().as_str() {
            "off" => Ok(None),
            "stub" => Ok(Some(StatusPage::Stub)),
            "prometheus" => Ok(Some(StatusPage::Prometheus)),
            other => Err(self.err(
                p,
                "status",
                format!("invalid value \"{other}\": expected \"stub\", \"prometheus\" or \"off\""),
            )),
        }
    }

    /// The networks allowed; `None` when they cover every address (the
    /// same as no `allow`, which is how `-T` prints that).
    fn allow(&self, a: &Spanned<Vec<String>>) -> Result<Option<Vec<Cidr>>, ConfigError> {
        let nets = a
            .get_ref()
            .iter()
            .map(|n| Cidr::parse(n).map_err(|m| self.err(a, "allow", m)))
            .collect::<Result<Vec<_>, _>>()?;
        let all_v4 = nets.iter().any(|n| n.is_everything(false));
        let all_v6 = nets.iter().any(|n| n.is_everything(true));
        Ok((!(all_v4 && all_v6)).then_some(nets))
    }

    fn default_type(&self, d: &Spanned<String>) -> Result<String, ConfigError> {
        if HeaderValue::from_str(d.get_ref()).is_err() || d.get_ref().is_empty() {
            return Err(self.err(d, "default_type", "invalid MIME type".into()));
        }
        Ok(d.get_ref().clone())
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
