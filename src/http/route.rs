//! Steps 1-4 of the pipeline: which server answers a request (virtual
//! host), whether it can be served at all (Host, method, path), and which
//! settings apply (the location's). What comes out says who answers, so
//! that errors, headers and the access log all follow the same choice.

use std::borrow::Cow;
use std::net::SocketAddr;

use hyper::{Method, Request, StatusCode, Version};

use super::path::{self, RelPath};
use super::{ServerId, Site, location, request_host, vhost};
use crate::config::Settings;
use crate::config::server::Server;

/// Who answers a request, and with which settings.
#[derive(Debug)]
pub struct Routed<'a> {
    /// The server chosen by listen address and host.
    pub server: ServerId,
    /// The settings that apply: the location's once the path is known,
    /// else the server's own.
    pub settings: &'a Settings,
    /// The chosen server's configuration (error pages, names).
    pub server_config: &'a Server,
    /// The normalised path to look up, or why the request stops here.
    pub path: Result<RelPath, StatusCode>,
    /// The host the request named, normalised (for a redirect).
    pub host: Option<String>,
    /// No Host on HTTP/1.1, or one that is not a host: the connection
    /// closes after the 400.
    pub bad_host: bool,
}

/// What routing reads of a request: enough to route one whose `Request`
/// was never built (`replay::Ask`), the same way as one that was.
#[derive(Debug)]
pub struct Parts<'r> {
    /// The method.
    pub method: &'r Method,
    /// The protocol version.
    pub version: Version,
    /// The host it names, as it came (absolute-form authority, else Host).
    pub host: Option<Cow<'r, str>>,
    /// The target's path, still percent-encoded, without its query.
    pub path: &'r str,
}

impl<'r> Parts<'r> {
    /// What routing reads of `req`.
    pub fn of<B>(req: &'r Request<B>) -> Self {
        Parts {
            method: req.method(),
            version: req.version(),
            host: request_host(req),
            path: req.uri().path(),
        }
    }
}

/// Routes `req`, which arrived on `listen`; `None` only if the virtual
/// host tables name a server the configuration does not have.
pub fn route<'a, B>(site: &'a Site, listen: SocketAddr, req: &Request<B>) -> Option<Routed<'a>> {
    route_parts(site, listen, &Parts::of(req))
}

/// Routes a request of which `ask` is what routing reads.
pub fn route_parts<'a>(site: &'a Site, listen: SocketAddr, ask: &Parts<'_>) -> Option<Routed<'a>> {
    let raw_host = ask.host.as_deref();
    let host = raw_host.map(vhost::normalize_host);
    let missing_host = raw_host.is_none() && ask.version == Version::HTTP_11;
    let bad_host = missing_host || matches!(host, Some(None));
    let host = host.flatten();
    let server = site.select(listen, host.as_deref());
    let server_config = site.server(server)?;
    let mut routed = Routed {
        server,
        settings: &server_config.settings,
        server_config,
        path: Err(StatusCode::BAD_REQUEST),
        host,
        bad_host,
    };
    if bad_host {
        return Some(routed);
    }
    let method = ask.method;
    if method != Method::GET && method != Method::HEAD {
        routed.path = Err(StatusCode::METHOD_NOT_ALLOWED);
        return Some(routed);
    }
    let raw = ask.path;
    routed.path = path::normalize(raw);
    if let Ok(rel) = &routed.path
        && !server_config.locations.is_empty()
    {
        // A path already in normal form is matched as it came, not as a
        // copy made of it.
        routed.settings = if rel.is_written_as(raw) {
            location::settings_for(server_config, raw.as_bytes())
        } else {
            location::settings_for(server_config, &rel.uri_bytes())
        };
    }
    Some(routed)
}
