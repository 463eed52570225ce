//! Request -> response for static files. Never touches signals or
//! processes; every failure becomes a status code, never a panic.
//!
//! The pipeline, in order (`handle`):
//! 1. virtual host (`vhost.rs`): the server for the listen address and
//!    Host (or the absolute-form target); HTTP/1.1 without Host is 400;
//! 2. method: GET and HEAD only (405 with `Allow` otherwise);
//! 3. path (`path.rs`): decode and normalise once, 400 if malformed;
//! 4. location (`location.rs`): exact, else longest prefix (steps 1-4 are
//!    `route.rs`, which says which server and settings answer);
//! 5. lookup under the root (`lookup.rs`, through `resolve.rs`: symlinks
//!    that leave it refused, on the descriptor served, when
//!    `disable_symlinks` is set): a directory without its slash is
//!    redirected (`redirect.rs`); a directory is answered by its index
//!    (`index.rs`) or a listing (`autoindex.rs`); a file by
//!    `static_file.rs`, which applies `precompressed.rs`, `compress.rs`
//!    (on-the-fly compression, once per file version),
//!    `conditional.rs` and `range.rs`, and `file_body.rs` for the bytes;
//! 6. errors (`error_page.rs`), then `expires`/`add_header` (`headers.rs`),
//!    `Server`, and `Connection: close` while draining.
//!
//! `replay.rs` says which requests a kept response head may answer
//! without steps 5-6 (a plain GET or HEAD of a file), and checks a head
//! this pipeline's answer produced before the cache keeps it.

pub mod autoindex;
pub mod body;
pub mod cache;
pub mod compress;
pub mod conditional;
pub mod date;
pub mod encode;
pub mod error_page;
pub mod file_body;
pub mod headers;
pub mod index;
pub mod location;
pub mod lookup;
pub mod mime;
pub mod negotiate;
pub mod path;
pub mod precompressed;
pub mod range;
pub mod redirect;
pub mod refusal;
pub mod replay;
pub mod resolve;
pub mod route;
pub mod static_file;
mod status_page;
pub mod vhost;

#[cfg(test)]
mod tests;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use hyper::header::{ALLOW, CONNECTION, HOST, HeaderValue, SERVER};
use hyper::{Method, Request, Response, StatusCode};

pub use body::Body;
pub use route::Routed;

use crate::config::Config;
use crate::config::server::Server;
use refusal::Refusal;

/// Everything a worker needs to answer requests for one configuration.
#[derive(Debug)]
pub struct Site {
    /// The configuration of this generation.
    config: Arc<Config>,
    vhosts: vhost::Vhosts,
    server_header: HeaderValue,
    footer: String,
    /// This worker's open-file cache.
    pub cache: cache::FileCache,
    /// The configuration generation, for the status pages (0 outside a
    /// master, as in tests).
    pub generation: u64,
}

impl Site {
    /// The same site, labelled with its configuration generation.
    pub fn for_generation(mut self, generation: u64) -> Self {
        self.generation = generation;
        self
    }

    /// Prepares `config` for serving.
    pub fn new(config: Arc<Config>) -> Self {
        let footer = if config.server_tokens {
            format!("moltd/{}", crate::VERSION)
        } else {
            "moltd".to_string()
        };
        Site {
            generation: 0,
            vhosts: vhost::Vhosts::new(&config),
            server_header: HeaderValue::from_str(&footer)
                .unwrap_or_else(|_| HeaderValue::from_static("moltd")),
            footer,
            cache: cache::FileCache::new(cache::Limits {
                entries: config.file_cache.entries,
                bytes: config.file_cache.max_size,
                max_file: config.file_cache.max_file,
                valid: config.file_cache.valid,
            }),
            config,
        }
    }

    /// The server `id` names.
    fn server(&self, id: ServerId) -> Option<&Server> {
        self.config.servers.get(id.0)
    }

    /// The server for a request on `listen` naming normalised `host`.
    fn select(&self, listen: SocketAddr, host: Option<&str>) -> ServerId {
        ServerId(self.vhosts.select(&self.config, listen, host))
    }
}

/// A `[[server]]` of the configuration, by its position in the file: what
/// the access logs are chosen by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerId(usize);

impl ServerId {
    /// Its position among the configuration's servers.
    pub fn index(self) -> usize {
        self.0
    }
}

/// A response and the server that produced it (for its access log).
#[derive(Debug)]
pub struct Outcome {
    /// The response.
    pub response: Response<Body>,
    /// The chosen server.
    pub server: ServerId,
}

/// The server that answers on `listen` when no host is known (its
/// `default_server`, else the first on that listen): where input that never
/// became a request is logged, as nginx logs its 400s.
pub fn default_server(site: &Site, listen: SocketAddr) -> ServerId {
    site.select(listen, None)
}

/// The error response for a request refused before routing (bad framing,
/// too large), from the server its Host names, with `Connection: close`.
pub fn refuse<B>(site: &Site, listen: SocketAddr, req: &Request<B>, status: StatusCode) -> Outcome {
    let host = request_host(req).and_then(|h| vhost::normalize_host(&h));
    let server = site.select(listen, host.as_deref());
    let mut out = closing_error(site, server, status);
    if req.method() == Method::HEAD {
        *out.response.body_mut() = Body::empty();
    }
    out
}

/// The error response for input that never became a request, from the
/// listen's default server, with `Connection: close`.
pub fn reject(site: &Site, listen: SocketAddr, status: StatusCode) -> Outcome {
    closing_error(site, default_server(site, listen), status)
}

fn closing_error(site: &Site, server: ServerId, status: StatusCode) -> Outcome {
    let mut resp = match site.server(server) {
        Some(s) => error_page::response(status, s, &s.settings, &site.footer),
        None => error_page::default_page(status, &site.footer),
    };
    let h = resp.headers_mut();
    h.insert(SERVER, site.server_header.clone());
    h.insert(CONNECTION, HeaderValue::from_static("close"));
    if status == StatusCode::METHOD_NOT_ALLOWED {
        h.insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
    }
    Outcome {
        response: resp,
        server,
    }
}

/// The host a request names: the absolute-form target's authority, which
/// wins over Host (RFC 9112 §3.2.2), else the Host header.
fn request_host<B>(req: &Request<B>) -> Option<std::borrow::Cow<'_, str>> {
    match req.uri().authority() {
        Some(a) => Some(a.as_str().into()),
        None => req
            .headers()
            .get(HOST)
            .map(|h| String::from_utf8_lossy(h.as_bytes())),
    }
}

/// Where the worker is in its life, as far as a response cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifecycle {
    /// Draining: every response carries `Connection: close`.
    pub closing: bool,
    /// Readiness probes pass. False once the whole server is going away
    /// (QUIT to the master, with `shutdown_delay`); a generation replaced
    /// by a reload or an upgrade stays ready while it drains, since the
    /// server behind the address does.
    pub ready: bool,
}

impl Lifecycle {
    /// Accepting and serving.
    pub const SERVING: Lifecycle = Lifecycle {
        closing: false,
        ready: true,
    };
}

/// The port a request on plain `listen` is redirected to, under
/// `redirect_https`.
fn https_port(routed: &Routed<'_>, listen: SocketAddr) -> Option<u16> {
    routed
        .server_config
        .redirect_https
        .filter(|_| !routed.server_config.ssl.contains(&listen) && !routed.bad_host)
}

/// The location's `allow` list admits `remote`.
fn allows(routed: &Routed<'_>, remote: IpAddr) -> bool {
    routed
        .settings
        .allow
        .as_ref()
        .is_none_or(|nets| nets.iter().any(|n| n.contains(remote)))
}

/// Answers one request that arrived on listen address `listen`, at the
/// worker's point in its `life`.
pub fn handle<B>(
    site: &Site,
    listen: SocketAddr,
    remote: IpAddr,
    req: &Request<B>,
    life: Lifecycle,
) -> Outcome {
    let Some(routed) = route::route(site, listen, req) else {
        return Outcome {
            response: error_page::default_page(StatusCode::INTERNAL_SERVER_ERROR, &site.footer),
            server: ServerId(0),
        };
    };
    let to_https = https_port(&routed, listen);
    let allowed = allows(&routed, remote);
    let result = match &routed.path {
        _ if !allowed => Err(StatusCode::FORBIDDEN.into()),
        _ if let Some(port) = to_https => Ok(redirect::to_https(
            site,
            routed.server_config,
            listen,
            req,
            routed.host.as_deref(),
            port,
        )),
        Ok(rel) => lookup::answer(site, &routed, listen, req, rel, life),
        Err(status) => Err((*status).into()),
    };
    complete(site, &routed, req, life, result)
}

/// Step 6 for a request routed to `routed` and answered (or refused) by
/// `result`: shared by `handle` and by a planned request the cache has no
/// head for (`replay.rs`), so both give the same response.
fn complete<B>(
    site: &Site,
    routed: &Routed<'_>,
    req: &Request<B>,
    life: Lifecycle,
    result: Result<Response<Body>, Refusal>,
) -> Outcome {
    let mut overloaded = false;
    let mut resp = match result {
        Ok(r) => r,
        Err(Refusal { status, headers }) => {
            // A 503 here means the worker ran out of descriptors: closing
            // this connection gives one back.
            overloaded = status == StatusCode::SERVICE_UNAVAILABLE;
            let mut r =
                error_page::response(status, routed.server_config, routed.settings, &site.footer);
            r.headers_mut().extend(headers);
            if status == StatusCode::METHOD_NOT_ALLOWED {
                r.headers_mut()
                    .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
            }
            r
        }
    };
    headers::apply(&mut resp, routed.settings);
    if req.method() == Method::HEAD {
        *resp.body_mut() = Body::empty();
    }
    let h = resp.headers_mut();
    h.insert(SERVER, site.server_header.clone());
    if life.closing || routed.bad_host || overloaded {
        h.insert(CONNECTION, HeaderValue::from_static("close"));
    }
    Outcome {
        response: resp,
        server: routed.server,
    }
}
