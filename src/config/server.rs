//! `[[server]]`: a virtual host, its listens and names, its access log,
//! and its settings and locations.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use toml::Spanned;

pub use super::location::{Location, Match};
use super::settings::{AutoindexFormat, Expires, raw_settings};
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
        let listen = self.listen(l)?;
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
        })
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
