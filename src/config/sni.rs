//! HTTPS: the rustls server configurations of every `ssl` listen address,
//! one per server on it, built with the configuration (so by the master,
//! before it forks: every worker of a generation shares the session-ticket
//! key). A connection's ClientHello picks the server by SNI, with the same
//! matcher as a request's Host (`server_name.rs`), else the address's
//! default server; that server's configuration then offers its certificate and
//! its own ALPN list (`h2` unless `http2 = false`). The connections are
//! the worker's (`worker/tls_conn.rs`).

use std::net::SocketAddr;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::server::ProducesTickets;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use super::Server;
use super::server_name::{best_match, normalize_host};

/// The TLS side of one `ssl` listen address.
#[derive(Debug)]
pub struct TlsListen {
    /// The address.
    pub addr: SocketAddr,
    /// Each server's name patterns and configuration, in file order.
    servers: Vec<(Vec<String>, Arc<ServerConfig>)>,
    /// For a ClientHello without SNI, or a name no server has.
    default: Arc<ServerConfig>,
}

impl TlsListen {
    /// The configuration for a ClientHello that named `sni`.
    pub fn for_name(&self, sni: Option<&str>) -> Arc<ServerConfig> {
        let host = sni.and_then(normalize_host);
        let servers = self.servers.iter().enumerate();
        let chosen = host.and_then(|h| best_match(servers.map(|(i, (n, _))| (i, &n[..])), &h));
        let config = chosen.and_then(|i| self.servers.get(i)).map(|(_, c)| c);
        Arc::clone(config.unwrap_or(&self.default))
    }
}

/// One certificate, whatever the client asks.
#[derive(Debug)]
struct Only(Arc<CertifiedKey>);

impl ResolvesServerCert for Only {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.0))
    }
}

/// A server's TLS configuration.
fn server_config(
    key: &Arc<CertifiedKey>,
    http2: bool,
    tickets: &Option<Arc<dyn ProducesTickets>>,
) -> Option<Arc<ServerConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .ok()?;
    let mut tls = builder
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(Only(Arc::clone(key))));
    if http2 {
        tls.alpn_protocols.push(b"h2".to_vec());
    }
    tls.alpn_protocols.push(b"http/1.1".to_vec());
    if let Some(t) = tickets {
        tls.ticketer = Arc::clone(t);
    }
    Some(Arc::new(tls))
}

/// The TLS side of every `ssl` address among `addrs`.
pub fn server_configs(addrs: &[SocketAddr], all: &[Server]) -> Vec<Arc<TlsListen>> {
    // One ticket key for the generation: made here, before the fork, so a
    // ticket from one worker (or one server) is good at every worker
    // (until each rotates it on its own, after 6 hours).
    let tickets = rustls::crypto::ring::Ticketer::new().ok();
    let mut out = Vec::new();
    for &addr in addrs {
        let servers: Vec<_> = all
            .iter()
            .filter(|s| s.ssl.contains(&addr))
            .filter_map(|s| {
                let t = s.tls.as_ref()?;
                Some((s, server_config(&t.certified, s.http2, &tickets)?))
            })
            .collect();
        let Some(first) = servers.first() else {
            continue;
        };
        let default = servers
            .iter()
            .find(|(s, _)| s.default_server)
            .unwrap_or(first);
        out.push(Arc::new(TlsListen {
            addr,
            servers: servers
                .iter()
                .map(|(s, c)| (s.names.clone(), Arc::clone(c)))
                .collect(),
            default: Arc::clone(&default.1),
        }));
    }
    out
}
