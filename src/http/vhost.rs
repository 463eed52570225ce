//! Virtual hosts: which `[[server]]` answers a request. Per listen address,
//! the server whose `server_name` best matches the host (the matcher in
//! `config::server_name`, which TLS's SNI uses too), else the default
//! server of that listen: the one with `default_server = true`, or the
//! first.

use std::net::SocketAddr;

use crate::config::Config;
use crate::config::server_name::best_match;
pub use crate::config::server_name::normalize_host;

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
        let servers = l.servers.iter().map(|&i| (i, &config.servers[i].names[..]));
        best_match(servers, host).unwrap_or(l.default)
    }
}
