//! Step 5 of the pipeline: the answer from under the root for a routed
//! request (a file, a directory's index or listing, the redirect of a
//! directory named without its slash), or a readiness probe's answer.

use std::net::SocketAddr;

use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use hyper::{Request, Response, StatusCode};

use super::path::RelPath;
use super::refusal::Refusal;
use super::static_file;
use super::{Body, Lifecycle, Routed, Site, autoindex, cache, index, redirect, resolve};
use crate::config::Settings;

/// Answers `req`, routed to `r` with normalised path `rel`.
pub fn answer<B>(
    site: &Site,
    r: &Routed<'_>,
    listen: SocketAddr,
    req: &Request<B>,
    rel: &RelPath,
    life: Lifecycle,
) -> Result<Response<Body>, Refusal> {
    let s = r.settings;
    if s.health {
        return Ok(health(life));
    }
    if let Some(page) = s.status {
        return Ok(super::status_page::answer(page, site.generation));
    }
    let method = req.method();
    let target = resolve::Target::new(&s.root, &rel.relative, s.disable_symlinks);
    let meta = match site.cache.stat_to_serve(&target) {
        Ok(meta) => meta,
        Err(e) => return only_precompressed(site, s, &target, req, &e),
    };
    if meta.is_dir {
        if !rel.trailing_slash {
            let norm = rel.uri_bytes();
            let host = r.host.as_deref();
            return Ok(redirect::to_slash(
                site,
                r.server_config,
                listen,
                req,
                host,
                &norm,
            ));
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
    file(site, s, &target, &meta, req)
}

/// Answers `req` with the regular file `target`, whose metadata `meta` was
/// just looked up, under settings `s`.
pub fn file<B>(
    site: &Site,
    s: &Settings,
    target: &resolve::Target<'_>,
    meta: &cache::Meta,
    req: &Request<B>,
) -> Result<Response<Body>, Refusal> {
    static_file::respond(target, meta, s, req.method(), req.headers(), &site.cache)
}

/// A file that is on disk only precompressed (`FILE.gz` without `FILE`,
/// as deployments that ship only compressed assets have): sent to a
/// client that accepts its encoding, as nginx's gzip_static does; any
/// other request gets the missing file's error.
fn only_precompressed<B>(
    site: &Site,
    s: &Settings,
    target: &resolve::Target<'_>,
    req: &Request<B>,
    missing: &std::io::Error,
) -> Result<Response<Body>, Refusal> {
    let refused = || Err(static_file::status_for(missing).into());
    if missing.kind() != std::io::ErrorKind::NotFound || !(s.gzip_static || s.brotli_static) {
        return refused();
    }
    let accept = req
        .headers()
        .get(hyper::header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok());
    let choice = super::precompressed::choose(target, s, accept, &site.cache);
    match choice.variant {
        Some(v) => {
            static_file::respond(target, &v.meta, s, req.method(), req.headers(), &site.cache)
        }
        None if choice.vary => {
            // Another Accept-Encoding gets a 200: a shared cache must
            // not give this 404 to it.
            let mut r: Refusal = static_file::status_for(missing).into();
            r.headers.insert(
                hyper::header::VARY,
                HeaderValue::from_static("Accept-Encoding"),
            );
            Err(r)
        }
        None => refused(),
    }
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
            autoindex::listing(dir, uri, format)
        })
        .map_err(|e| static_file::status_for(&e))?;
    let mut r = Response::new(Body::empty());
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(ctype));
    h.insert(CONTENT_LENGTH, HeaderValue::from(text.len()));
    *r.body_mut() = Body::bytes(text);
    Ok(r)
}
