//! The redirect of a directory named without its trailing slash, built
//! as nginx builds it, so clients and caches see the same `Location`.

use std::net::SocketAddr;

use hyper::header::{HeaderValue, LOCATION};
use hyper::{Request, Response, StatusCode};

use super::{Body, Site, error_page};
use crate::config::server::Server;

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

/// The host a redirect names: the request's, else (no Host, HTTP/1.0) the
/// server's first plain name, else the listen address.
fn host_name(server: &Server, listen: SocketAddr, host: Option<&str>) -> String {
    host.map(str::to_string)
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
        })
}

/// The default 301 page pointing at `location`.
fn moved(site: &Site, location: &str) -> Response<Body> {
    let mut r = error_page::default_page(StatusCode::MOVED_PERMANENTLY, &site.footer);
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(LOCATION, v);
    }
    r
}

/// 301 to the slash form, as nginx builds it: `http://HOST:PORT/dir/?query`
/// with the request's host (else the first server name, else the listen
/// address) and the listen port unless it is 80; `https://` (and 443 left
/// out) when the request came in on one of the server's `ssl` listens, so
/// the client does not speak plain HTTP to a TLS port.
pub fn to_slash<B>(
    site: &Site,
    server: &Server,
    listen: SocketAddr,
    req: &Request<B>,
    host: Option<&str>,
    norm: &[u8],
) -> Response<Body> {
    let name = host_name(server, listen, host);
    let (scheme, default_port) = if server.ssl.contains(&listen) {
        ("https", 443)
    } else {
        ("http", 80)
    };
    let port = if listen.port() == default_port {
        String::new()
    } else {
        format!(":{}", listen.port())
    };
    let mut location = format!("{scheme}://{name}{port}{}/", escape_path(norm));
    if let Some(q) = req.uri().query() {
        location.push('?');
        location.push_str(q);
    }
    moved(site, &location)
}

/// A plain-HTTP request to a server with `redirect_https`: 301 to the same
/// host, path and query on `https://` (the port left out when it is 443).
pub fn to_https<B>(
    site: &Site,
    server: &Server,
    listen: SocketAddr,
    req: &Request<B>,
    host: Option<&str>,
    port: u16,
) -> Response<Body> {
    let name = host_name(server, listen, host);
    let port = if port == 443 {
        String::new()
    } else {
        format!(":{port}")
    };
    let target = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
    let location = format!("https://{name}{port}{target}");
    moved(site, &location)
}
