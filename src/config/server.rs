//! `[[server]]`: a virtual host, its listens and names, its access log,
//! and its settings and locations.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use toml::Spanned;

pub use super::location::{Location, Match};
use super::settings::raw_settings;
use super::values::strings;
use super::{ConfigError, Settings, Validator, raw};

/// One `[[server]]` block, validated.
#[derive(Debug, Clone, PartialEq)]
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
    /// The listens marked `ssl`.
    pub ssl: Vec<SocketAddr>,
    /// Certificate and key, when it has `ssl` listens.
    pub tls: Option<super::certs::ServerTls>,
    /// Offer HTTP/2 on its `ssl` listens.
    pub http2: bool,
    /// Plain-HTTP requests get a 301 to `https://` on this port.
    pub redirect_https: Option<u16>,
}

impl Server {
    /// The document root of requests that match no location.
    pub fn root(&self) -> &Path {
        &self.settings.root
    }
}

impl Validator<'_> {
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
        let listens = self.listen(l)?;
        let listen = listens.all;
        let tls = self.server_tls(prefix, s, !listens.ssl.is_empty())?;
        let names = match &block.server_name {
            Some(n) => self.server_names(n)?,
            None => Vec::new(),
        };
        let access_log = match &block.access_log {
            None => Some(prefix.join("logs/access.log")),
            Some(a) if a.get_ref() == "off" => None,
            Some(a) if a.get_ref().is_empty() => {
                return Err(self.err(a, "access_log", "empty path".into()));
            }
            Some(a) => Some(prefix.join(a.get_ref())),
        };
        if block.root.is_none() && !defaults.root.is_dir() {
            return Err(self.err(
                s,
                "root",
                format!(
                    "root \"{}\" is not usable: no such directory",
                    defaults.root.display()
                ),
            ));
        }
        let settings = Arc::new(self.settings(prefix, raw_settings!(block), defaults)?);
        let locations = match &block.location {
            Some(blocks) => self.locations(prefix, blocks, &settings)?,
            None => Vec::new(),
        };
        Ok(Server {
            listen,
            names,
            default_server: block.default_server.unwrap_or(false),
            access_log,
            settings,
            locations,
            ssl: listens.ssl,
            tls,
            http2: block.http2.unwrap_or(true),
            redirect_https: self.redirect_https(&block.redirect_https)?,
        })
    }

    /// `redirect_https = true` (port 443), `= false`, or a port.
    fn redirect_https(&self, v: &Option<Spanned<toml::Value>>) -> Result<Option<u16>, ConfigError> {
        let Some(v) = v else { return Ok(None) };
        match v.get_ref() {
            toml::Value::Boolean(true) => Ok(Some(443)),
            toml::Value::Boolean(false) => Ok(None),
            toml::Value::Integer(p) => u16::try_from(*p)
                .ok()
                .filter(|p| *p > 0)
                .map(Some)
                .ok_or_else(|| self.err(v, "redirect_https", format!("invalid port {p}"))),
            _ => Err(self.err(v, "redirect_https", "expected true, false or a port".into())),
        }
    }

    /// The certificate and key of a server with `ssl` listens (both
    /// required then), loaded and checked now: a bad one fails `-t`, the
    /// start or the reload, naming the file.
    fn server_tls(
        &self,
        prefix: &Path,
        s: &Spanned<raw::RawServer>,
        ssl: bool,
    ) -> Result<Option<super::certs::ServerTls>, ConfigError> {
        let block = s.get_ref();
        let (cert, key) = match (&block.ssl_certificate, &block.ssl_certificate_key) {
            (Some(c), Some(k)) => (c, k),
            (None, None) if !ssl => return Ok(None),
            (None, _) => {
                return Err(self.err(
                    s,
                    "ssl_certificate",
                    "a server with \"ssl\" listens (or a key) needs \"ssl_certificate\"".into(),
                ));
            }
            (_, None) => {
                return Err(self.err(
                    s,
                    "ssl_certificate_key",
                    "\"ssl_certificate\" needs \"ssl_certificate_key\"".into(),
                ));
            }
        };
        super::certs::load(&prefix.join(cert.get_ref()), &prefix.join(key.get_ref()))
            .map(Some)
            .map_err(|e| self.err(cert, "ssl_certificate", e.to_string()))
    }

    /// Host patterns, lower case; a pattern nginx would not match is an
    /// error rather than a server that never answers.
    fn server_names(&self, n: &Spanned<toml::Value>) -> Result<Vec<String>, ConfigError> {
        let mut names = Vec::new();
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
        Ok(names)
    }
}
