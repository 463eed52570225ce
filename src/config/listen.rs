//! `listen` values: the address forms nginx operators write, and a
//! server's list of them.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use toml::Spanned;

use super::values::strings;
use super::{ConfigError, Validator};

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

/// A server's listens: every address, and those marked `ssl`.
pub(super) struct Listens {
    pub(super) all: Vec<SocketAddr>,
    pub(super) ssl: Vec<SocketAddr>,
}

impl Validator<'_> {
    /// A server's addresses, each once, in file order; at least one. An
    /// address followed by ` ssl` (nginx's form) speaks TLS.
    pub(super) fn listen(&self, l: &Spanned<toml::Value>) -> Result<Listens, ConfigError> {
        let mut out = Listens {
            all: Vec::new(),
            ssl: Vec::new(),
        };
        for text in strings(self, l, "listen")? {
            let mut words = text.split_whitespace();
            let addr = words.next().unwrap_or("");
            let a = parse_listen(addr).map_err(|m| self.err(l, "listen", m))?;
            for flag in words {
                if flag != "ssl" {
                    return Err(self.err(
                        l,
                        "listen",
                        format!(
                            "unknown listen parameter \"{flag}\" in \"{text}\": expected \"ssl\""
                        ),
                    ));
                }
                if !out.ssl.contains(&a) {
                    out.ssl.push(a);
                }
            }
            if !out.all.contains(&a) {
                out.all.push(a);
            }
        }
        if out.all.is_empty() {
            return Err(self.err(l, "listen", "empty \"listen\" list".into()));
        }
        Ok(out)
    }
}
