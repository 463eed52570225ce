//! Virtual hosts: which `[[server]]` answers a request. Per listen address,
//! the server whose `server_name` matches the host (exact, then the longest
//! leading wildcard `*.example.com`/`.example.com`, then the longest
//! trailing wildcard `example.*`), else the default server of that listen:
//! the one with `default_server = true`, or the first.

use std::net::SocketAddr;

use crate::config::{Config, Server};

/// The servers reachable on one listen address.
#[derive(Debug)]
struct Listen {
    addr: SocketAddr,
    servers: Vec<usize>,
    default: usize,
}

/// Server selection for a whole configuration.
#[derive(Debug)]
pub struct Vhosts {
    listens: Vec<Listen>,
}

/// Normalises a Host value: lower case, port and trailing dot removed.
/// `None` if it is not a valid host (400).
pub fn normalize_host(host: &str) -> Option<String> {
    let h = host.trim();
    let name = if let Some(rest) = h.strip_prefix('[') {
        // [v6]:port: an IP literal, then nothing or a port.
        let end = rest.find(']')?;
        let literal = &rest[..end];
        let after = &rest[end + 1..];
        let port_ok = after.is_empty()
            || after
                .strip_prefix(':')
                .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()));
        let literal_ok = !literal.is_empty()
            && literal
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
        if !port_ok || !literal_ok {
            return None;
        }
        &h[..end + 2]
    } else {
        match h.rsplit_once(':') {
            Some((n, port)) if port.bytes().all(|b| b.is_ascii_digit()) => n,
            Some(_) => return None,
            None => h,
        }
    };
    let name = name.strip_suffix('.').unwrap_or(name);
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && !name.contains("..")
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._[]:".contains(&b));
    ok.then(|| name.to_ascii_lowercase())
}

/// How well `pattern` matches `host`: exact beats leading wildcard beats
/// trailing wildcard; longer wildcards beat shorter ones.
fn score(pattern: &str, host: &str) -> Option<(u8, usize)> {
    if pattern == host {
        return Some((3, pattern.len()));
    }
    if let Some(suffix) = pattern.strip_prefix("*.") {
        if host.len() > suffix.len() + 1
            && host.ends_with(suffix)
            && host[..host.len() - suffix.len()].ends_with('.')
        {
            return Some((2, pattern.len()));
        }
        return None;
    }
    if let Some(suffix) = pattern.strip_prefix('.') {
        if host == suffix || (host.ends_with(pattern) && host.len() > pattern.len()) {
            return Some((2, pattern.len()));
        }
        return None;
    }
    if let Some(prefix) = pattern.strip_suffix(".*")
        && host.len() > prefix.len() + 1
        && host.starts_with(prefix)
        && host.as_bytes()[prefix.len()] == b'.'
    {
        return Some((1, pattern.len()));
    }
    None
}

impl Vhosts {
    /// Builds the selection tables for `config`.
    pub fn new(config: &Config) -> Self {
        let mut listens = Vec::new();
        for addr in config.listen_addrs() {
            let servers: Vec<usize> = config
                .servers
                .iter()
                .enumerate()
                .filter(|(_, s)| s.listen.contains(&addr))
                .map(|(i, _)| i)
                .collect();
            let default = servers
                .iter()
                .copied()
                .find(|&i| config.servers[i].default_server)
                .or_else(|| servers.first().copied())
                .unwrap_or(0);
            listens.push(Listen {
                addr,
                servers,
                default,
            });
        }
        Vhosts { listens }
    }

    /// The index of the server for a connection on listen address `addr`
    /// asking for normalised `host` (None: use the default).
    pub fn select(&self, config: &Config, addr: SocketAddr, host: Option<&str>) -> usize {
        let Some(l) = self.listens.iter().find(|l| l.addr == addr) else {
            return 0;
        };
        let Some(host) = host else { return l.default };
        l.servers
            .iter()
            .filter_map(|&i| {
                let s: &Server = &config.servers[i];
                s.names
                    .iter()
                    .filter_map(|p| score(p, host))
                    .max()
                    .map(|sc| (sc, i))
            })
            // Highest score; among equals, the first server in the file.
            .fold(None::<((u8, usize), usize)>, |best, (sc, i)| match best {
                Some((bs, _)) if bs >= sc => best,
                _ => Some((sc, i)),
            })
            .map_or(l.default, |(_, i)| i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_normalise() {
        assert_eq!(
            normalize_host("Example.COM:8080").as_deref(),
            Some("example.com")
        );
        assert_eq!(
            normalize_host("example.com.").as_deref(),
            Some("example.com")
        );
        assert_eq!(normalize_host("[::1]:80").as_deref(), Some("[::1]"));
        assert_eq!(normalize_host("127.0.0.1").as_deref(), Some("127.0.0.1"));
        assert_eq!(normalize_host("a/b"), None);
        assert_eq!(normalize_host(".."), None);
        assert_eq!(normalize_host(""), None);
        assert_eq!(normalize_host("host:port"), None);
        // Only a port may follow an IP literal.
        assert_eq!(normalize_host("[a]zzz/../.."), None);
        assert_eq!(normalize_host("[::1]x"), None);
        assert_eq!(normalize_host("[::1]:8x"), None);
        assert_eq!(normalize_host("[zz]"), None);
        assert_eq!(normalize_host("[]"), None);
        assert_eq!(
            normalize_host("[::ffff:1.2.3.4]").as_deref(),
            Some("[::ffff:1.2.3.4]")
        );
    }

    #[test]
    fn wildcard_scores() {
        assert_eq!(score("example.com", "example.com"), Some((3, 11)));
        assert!(score("*.example.com", "a.example.com").is_some());
        assert!(score("*.example.com", "example.com").is_none());
        assert!(score("*.example.com", "aexample.com").is_none());
        assert!(score(".example.com", "example.com").is_some());
        assert!(score(".example.com", "a.b.example.com").is_some());
        assert!(score("example.*", "example.org").is_some());
        assert!(score("example.*", "example").is_none());
        assert!(score("example.*", "examples.org").is_none());
        assert!(score("*.example.com", "a.example.com") > score("example.*", "example.com"));
    }
}
