//! HTTPS: one rustls server configuration per `ssl` listen address, built
//! with the configuration (so by the master, before it forks: every
//! worker of a generation shares its session-ticket keys), its
//! certificate chosen by SNI among the servers on that address (exact
//! names and `*.domain` wildcards), else the address's default server's.
//! The connections are the worker's (`worker/tls_conn.rs`).

use std::net::SocketAddr;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use super::Server;

/// The certificates of one address.
#[derive(Debug)]
struct Sni {
    names: Vec<(String, Arc<CertifiedKey>)>,
    default: Arc<CertifiedKey>,
}

impl ResolvesServerCert for Sni {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let Some(name) = hello.server_name().map(str::to_ascii_lowercase) else {
            return Some(Arc::clone(&self.default));
        };
        let exact = self.names.iter().find(|(n, _)| *n == name);
        let wild = || {
            self.names.iter().find(|(n, _)| {
                n.strip_prefix("*.")
                    .or_else(|| n.strip_prefix('.'))
                    .is_some_and(|d| {
                        name.ends_with(&format!(".{d}")) || (n.starts_with('.') && name == d)
                    })
            })
        };
        let chosen = exact.or_else(wild).map(|(_, k)| k);
        Some(Arc::clone(chosen.unwrap_or(&self.default)))
    }
}

/// The TLS configuration of every `ssl` address among `addrs`.
pub fn server_configs(
    addrs: &[SocketAddr],
    all: &[Server],
) -> Vec<(SocketAddr, Arc<ServerConfig>)> {
    let mut out = Vec::new();
    for &addr in addrs {
        let servers: Vec<_> = all
            .iter()
            .filter(|s| s.ssl.contains(&addr))
            .filter_map(|s| s.tls.as_ref().map(|t| (s, t)))
            .collect();
        let Some(first) = servers.first() else {
            continue;
        };
        let default = servers
            .iter()
            .find(|(s, _)| s.default_server)
            .unwrap_or(first);
        let sni = Sni {
            names: servers
                .iter()
                .flat_map(|(s, t)| {
                    s.names
                        .iter()
                        .map(|n| (n.clone(), Arc::clone(&t.certified)))
                })
                .collect(),
            default: Arc::clone(&default.1.certified),
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let Ok(builder) = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        else {
            continue;
        };
        let mut tls = builder
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(sni));
        // HTTP/2 unless every server on the address turned it off.
        if servers.iter().any(|(s, _)| s.http2) {
            tls.alpn_protocols.push(b"h2".to_vec());
        }
        tls.alpn_protocols.push(b"http/1.1".to_vec());
        // Resumption by ticket: the key is made here, before the fork, so
        // a ticket from one worker is good at every worker.
        if let Ok(t) = rustls::crypto::ring::Ticketer::new() {
            tls.ticketer = t;
        }
        out.push((addr, Arc::new(tls)));
    }
    out
}
