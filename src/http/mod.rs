//! Request -> response for static files. Never touches signals or
//! processes; every failure becomes a status code, never a panic.
//!
//! The pipeline, in order (`handle`):
//! 1. virtual host (`vhost.rs`): the server for the listen address and
//!    Host (or the absolute-form target); HTTP/1.1 without Host is 400;
//! 2. method: GET and HEAD only (405 with `Allow` otherwise);
//! 3. path (`path.rs`): decode and normalise once, 400 if malformed;
//! 4. location (`location.rs`): exact, else longest prefix;
//! 5. lookup under the root (`resolve.rs`: symlinks that leave it refused,
//!    on the descriptor served, when `disable_symlinks` is set): a
//!    directory without its slash is
//!    redirected; a directory is answered by its index (`index.rs`) or a
//!    listing (`autoindex.rs`); a file by `static_file.rs`, which applies
//!    `precompressed.rs`, `conditional.rs` and `range.rs`;
//! 6. errors (`error_page.rs`), then `expires`/`add_header` (`headers.rs`),
//!    `Server`, and `Connection: close` while draining.

pub mod autoindex;
pub mod body;
pub mod cache;
pub mod conditional;
pub mod date;
pub mod error_page;
pub mod headers;
pub mod index;
pub mod location;
pub mod mime;
pub mod path;
pub mod precompressed;
pub mod range;
pub mod resolve;
pub mod static_file;
pub mod vhost;

use std::net::SocketAddr;
use std::sync::Arc;

use hyper::header::{
    ALLOW, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HOST, HeaderValue, LOCATION, SERVER,
};
use hyper::{Method, Request, Response, StatusCode, Version};

pub use body::Body;

use crate::config::server::Server;
use crate::config::{Config, Settings};
use static_file::Refusal;

/// Everything a worker needs to answer requests for one configuration.
#[derive(Debug)]
pub struct Site {
    /// The configuration of this generation.
    pub config: Arc<Config>,
    vhosts: vhost::Vhosts,
    server_header: HeaderValue,
    footer: String,
    /// This worker's open-file cache.
    pub cache: cache::FileCache,
}

impl Site {
    /// Prepares `config` for serving.
    pub fn new(config: Arc<Config>) -> Self {
        let footer = if config.server_tokens {
            format!("moltd/{}", crate::VERSION)
        } else {
            "moltd".to_string()
        };
        Site {
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
}

/// A response and the server that produced it (for its access log).
#[derive(Debug)]
pub struct Outcome {
    /// The response.
    pub response: Response<Body>,
    /// Index of the chosen server in the configuration.
    pub server: usize,
}

/// The server that answers on `listen` when no host is known (its
/// `default_server`, else the first on that listen): where input that never
/// became a request is logged, as nginx logs its 400s.
pub fn default_server(site: &Site, listen: SocketAddr) -> usize {
    site.vhosts.select(&site.config, listen, None)
}

/// The error response for a request refused before routing (bad framing,
/// too large), from the server its Host names, with `Connection: close`.
pub fn refuse<B>(site: &Site, listen: SocketAddr, req: &Request<B>, status: StatusCode) -> Outcome {
    let host = request_host(req).and_then(|h| vhost::normalize_host(&h));
    let server_idx = site.vhosts.select(&site.config, listen, host.as_deref());
    let mut out = closing_error(site, server_idx, status);
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

fn closing_error(site: &Site, server_idx: usize, status: StatusCode) -> Outcome {
    let mut resp = match site.config.servers.get(server_idx) {
        Some(server) => error_page::response(status, server, &server.settings, &site.footer),
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
        server: server_idx,
    }
}

/// The host a request names: the absolute-form target's authority, which
/// wins over Host (RFC 9112 §3.2.2), else the Host header.
fn request_host<B>(req: &Request<B>) -> Option<String> {
    match req.uri().authority() {
        Some(a) => Some(a.as_str().to_string()),
        None => req
            .headers()
            .get(HOST)
            .map(|h| String::from_utf8_lossy(h.as_bytes()).into_owned()),
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

/// Answers one request that arrived on listen address `listen`, at the
/// worker's point in its `life`.
pub fn handle<B>(site: &Site, listen: SocketAddr, req: &Request<B>, life: Lifecycle) -> Outcome {
    let closing = life.closing;
    let config = &site.config;
    let raw_host = request_host(req);
    let host = raw_host.as_deref().map(vhost::normalize_host);
    let server_idx = site
        .vhosts
        .select(config, listen, host.clone().flatten().as_deref());
    let Some(server) = config.servers.get(server_idx) else {
        return Outcome {
            response: error_page::default_page(StatusCode::INTERNAL_SERVER_ERROR, &site.footer),
            server: 0,
        };
    };
    let missing_host = raw_host.is_none() && req.version() == Version::HTTP_11;
    let bad_host = matches!(host, Some(None));
    let mut settings: &Settings = &server.settings;
    let result = if missing_host || bad_host {
        Err(StatusCode::BAD_REQUEST.into())
    } else {
        route(
            site,
            server,
            listen,
            req,
            host.flatten().as_deref(),
            &mut settings,
            life,
        )
    };
    let mut overloaded = false;
    let mut resp = match result {
        Ok(r) => r,
        Err(Refusal { status, headers }) => {
            // A 503 here means the worker ran out of descriptors: closing
            // this connection gives one back.
            overloaded = status == StatusCode::SERVICE_UNAVAILABLE;
            let mut r = error_page::response(status, server, settings, &site.footer);
            r.headers_mut().extend(headers);
            if status == StatusCode::METHOD_NOT_ALLOWED {
                r.headers_mut()
                    .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
            }
            r
        }
    };
    headers::apply(&mut resp, settings);
    if req.method() == Method::HEAD {
        *resp.body_mut() = Body::empty();
    }
    let h = resp.headers_mut();
    h.insert(SERVER, site.server_header.clone());
    if closing || missing_host || bad_host || overloaded {
        h.insert(CONNECTION, HeaderValue::from_static("close"));
    }
    Outcome {
        response: resp,
        server: server_idx,
    }
}

/// Steps 2-5 of the pipeline; sets `settings` to the location's.
fn route<'a, B>(
    site: &Site,
    server: &'a Server,
    listen: SocketAddr,
    req: &Request<B>,
    host: Option<&str>,
    settings: &mut &'a Settings,
    life: Lifecycle,
) -> Result<Response<Body>, Refusal> {
    let method = req.method();
    if method != Method::GET && method != Method::HEAD {
        return Err(StatusCode::METHOD_NOT_ALLOWED.into());
    }
    let uri_path = req.uri().path();
    let rel = path::normalize(uri_path)?;
    let norm = rel.uri_bytes();
    *settings = location::settings_for(server, &norm);
    let s: &Settings = settings;
    if s.health {
        return Ok(health(life));
    }
    let target = resolve::Target::new(&s.root, &rel.relative, s.disable_symlinks);
    let meta = site
        .cache
        .stat(&target)
        .map_err(|e| static_file::status_for(&e))?;
    if meta.is_dir {
        if !rel.trailing_slash {
            return Ok(redirect_to_slash(site, server, listen, req, host, &norm));
        }
        let index =
            index::find(&target, &s.index, &site.cache).map_err(|e| static_file::status_for(&e))?;
        if let Some((file, file_meta)) = index {
            return static_file::respond(&file, &file_meta, s, method, req.headers(), &site.cache);
        }
        if s.autoindex {
            return listing(&site.cache, &target, &rel.uri_path(), s);
        }
        return Err(StatusCode::FORBIDDEN.into());
    }
    if rel.trailing_slash {
        return Err(StatusCode::NOT_FOUND.into());
    }
    if !meta.is_file {
        return Err(StatusCode::NOT_FOUND.into());
    }
    static_file::respond(&target, &meta, s, method, req.headers(), &site.cache)
}

/// A readiness probe's answer: 200 while the server serves, 503 once it
/// is going away, so a load balancer stops sending before connections
/// close.
fn health(life: Lifecycle) -> Response<Body> {
    let (status, text) = if life.ready {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "draining\n")
    };
    let mut r = Response::new(Body::from(text.to_string()));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    h.insert(CONTENT_LENGTH, HeaderValue::from(text.len()));
    h.insert(
        hyper::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    r
}

fn listing(
    cache: &cache::FileCache,
    dir: &resolve::Target<'_>,
    uri: &str,
    s: &Settings,
) -> Result<Response<Body>, Refusal> {
    let format = s.autoindex_format;
    let (text, ctype) = cache
        .listing(dir, uri, format as u8, || {
            Ok(autoindex::render(uri, &autoindex::read(dir)?, format))
        })
        .map_err(|e| static_file::status_for(&e))?;
    let mut r = Response::new(Body::empty());
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(ctype));
    h.insert(CONTENT_LENGTH, HeaderValue::from(text.len()));
    *r.body_mut() = Body::bytes(text);
    Ok(r)
}

/// Percent-encodes a decoded path for a Location header: everything but
/// unreserved characters, sub-delims, `:`, `@` and `/`; bytes that are not
/// UTF-8 are escaped as themselves (`%FF`).
fn escape_path(path: &[u8]) -> String {
    let mut out = String::with_capacity(path.len());
    for &b in path {
        if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// 301 to the slash form, as nginx builds it: `http://HOST:PORT/dir/?query`
/// with the request's host (else the first server name, else the listen
/// address) and the listen port unless it is 80.
fn redirect_to_slash<B>(
    site: &Site,
    server: &Server,
    listen: SocketAddr,
    req: &Request<B>,
    host: Option<&str>,
    norm: &[u8],
) -> Response<Body> {
    let name = host
        .map(str::to_string)
        .or_else(|| {
            server
                .names
                .iter()
                .find(|n| !n.contains('*') && !n.starts_with('.'))
                .cloned()
        })
        .unwrap_or_else(|| match listen {
            SocketAddr::V4(a) => a.ip().to_string(),
            SocketAddr::V6(a) => format!("[{}]", a.ip()),
        });
    let port = if listen.port() == 80 {
        String::new()
    } else {
        format!(":{}", listen.port())
    };
    let mut location = format!("http://{name}{port}{}/", escape_path(norm));
    if let Some(q) = req.uri().query() {
        location.push('?');
        location.push_str(q);
    }
    let mut r = error_page::default_page(StatusCode::MOVED_PERMANENTLY, &site.footer);
    if let Ok(v) = HeaderValue::from_str(&location) {
        r.headers_mut().insert(LOCATION, v);
    }
    r
}
