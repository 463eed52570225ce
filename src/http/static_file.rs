//! A regular file, in three steps: the variant (a precompressed sibling,
//! the file compressed on the fly (`compress.rs`), or the file itself,
//! opened or read from the cache), its validators
//! (ETag and Last-Modified, and the preconditions they answer: 304/412),
//! then the body plan (`file_body.rs`: ranges 206/416, the whole file
//! 200, nothing for HEAD), with Content-Type, Content-Length,
//! Last-Modified, a strong ETag in nginx's `"mtime-size"` hex form and
//! Accept-Ranges.

use std::io::ErrorKind;
use std::time::UNIX_EPOCH;

use hyper::header::{
    ACCEPT_ENCODING, ACCEPT_RANGES, CONTENT_ENCODING, CONTENT_TYPE, ETAG, HeaderMap, HeaderValue,
    IF_RANGE, LAST_MODIFIED, RANGE, VARY,
};
use hyper::{Method, Response, StatusCode};

use super::cache::{FileCache, Meta, Rendered};
use super::conditional::{self, Validators};
use super::file_body::{self, Data};
use super::range;
use super::refusal::Refusal;
use super::resolve::Target;
use super::{Body, compress, mime, precompressed};
use crate::config::Settings;

/// Maps a file-system error to the status an operator expects.
pub fn status_for(e: &std::io::Error) -> StatusCode {
    // A symlink loop, or (EXDEV) a symlink leaving the root under
    // `disable_symlinks`.
    if matches!(e.raw_os_error(), Some(libc::ELOOP | libc::EXDEV)) {
        return StatusCode::FORBIDDEN;
    }
    // Out of descriptors: a transient overload, not the file's fault; the
    // response closes its connection, which frees one.
    if super::cache::is_out_of_fds(e) {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    match e.kind() {
        ErrorKind::NotFound | ErrorKind::NotADirectory | ErrorKind::InvalidFilename => {
            StatusCode::NOT_FOUND
        }
        ErrorKind::PermissionDenied => StatusCode::FORBIDDEN,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// nginx's entity tag: `"<mtime hex>-<size hex>"`.
pub fn etag(meta: &Meta) -> String {
    let secs = meta
        .mtime
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!("\"{secs:x}-{:x}\"", meta.len)
}

fn header(headers: &HeaderMap, name: hyper::header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The representation chosen for a request, opened.
struct Variant {
    /// Its bytes.
    data: Data,
    /// The metadata they were read or opened under.
    meta: Meta,
    /// Its length: the file's, unless compressed on the fly.
    len: u64,
    /// `Content-Encoding`, for a precompressed sibling or a compressed
    /// form.
    encoding: Option<&'static str>,
    /// A sibling exists, or the type is compressed: the response varies
    /// by Accept-Encoding.
    vary: bool,
    /// Ranges apply (not to a form compressed on the fly).
    ranges: bool,
    /// Header values of this version.
    rendered: Rendered,
}

/// Picks the precompressed sibling or the file itself and opens it: small
/// files come from memory, read under exactly this metadata; others are
/// opened and streamed, with headers from the open file.
fn variant(
    path: &Target<'_>,
    meta: &Meta,
    settings: &Settings,
    headers: &HeaderMap,
    cache: &FileCache,
) -> Result<Variant, Refusal> {
    let choice = precompressed::choose(path, settings, header(headers, ACCEPT_ENCODING), cache);
    let (send_path, encoding, meta) = match &choice.variant {
        Some(v) => (&v.path, Some(v.encoding), v.meta),
        None => (path, None, *meta),
    };
    let (data, meta) = match cache.body(send_path, &meta) {
        Some(bytes) => (Data::Mem(bytes), meta),
        None => {
            let (file, m) = cache.open(send_path, &meta).map_err(|e| status_for(&e))?;
            (Data::File(file), m)
        }
    };
    if !meta.is_file {
        return Err(StatusCode::NOT_FOUND.into());
    }
    // The type is the requested file's: `FILE.gz` sent for `FILE` is
    // `FILE`'s type, requested by its own name it is `.gz`'s. Both use the
    // entry of `FILE.gz`, so the values made for one must never answer the
    // other: a variant's are kept apart by the low bit (free, as
    // `Settings` is aligned).
    const _: () = assert!(std::mem::align_of::<Settings>() > 1);
    let by = std::ptr::from_ref(settings) as usize | usize::from(encoding.is_some());
    let rendered = cache.rendered(send_path.path(), &meta, by, || Rendered {
        etag: HeaderValue::from_str(&etag(&meta)).unwrap_or(HeaderValue::from_static("\"\"")),
        last_modified: HeaderValue::from_str(&super::date::http_date(meta.mtime))
            .unwrap_or(HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 GMT")),
        content_type: HeaderValue::from_str(&mime::content_type(path.path(), settings))
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    });
    Ok(Variant {
        data,
        meta,
        len: meta.len,
        encoding,
        vary: choice.vary,
        ranges: true,
        rendered,
    })
}

/// Swaps the file in `v` for its compressed form when the request and
/// the settings call for one (never over a precompressed sibling).
fn compressed(
    v: &mut Variant,
    path: &Target<'_>,
    settings: &Settings,
    method: &Method,
    headers: &HeaderMap,
    cache: &FileCache,
) {
    if v.encoding.is_some() {
        return;
    }
    let src = compress::Source {
        target: path,
        meta: &v.meta,
        data: &v.data,
        content_type: &v.rendered.content_type,
        etag: &v.rendered.etag,
    };
    let choice = compress::choose(src, settings, method, headers, cache);
    v.vary |= choice.vary;
    if let Some((coding, body, etag)) = choice.encoded {
        v.len = body.len() as u64;
        v.data = Data::Mem(body);
        v.encoding = Some(coding.name());
        v.rendered.etag = etag;
        v.ranges = false;
    }
}

/// The validators of `v` on `resp`, and the status the request's
/// preconditions demand of them (304, or 412 as an error), if any.
fn validators(
    v: &Variant,
    method: &Method,
    headers: &HeaderMap,
    resp: &mut Response<Body>,
) -> Result<Option<StatusCode>, Refusal> {
    let h = resp.headers_mut();
    h.insert(LAST_MODIFIED, v.rendered.last_modified.clone());
    h.insert(ETAG, v.rendered.etag.clone());
    if v.vary {
        h.insert(VARY, HeaderValue::from_static("Accept-Encoding"));
    }
    if let Some(enc) = v.encoding {
        h.insert(CONTENT_ENCODING, HeaderValue::from_static(enc));
    }
    let validators = Validators {
        etag: v.rendered.etag.to_str().unwrap_or(""),
        last_modified: Some(v.meta.mtime),
    };
    match conditional::evaluate(method, headers, &validators) {
        Some(StatusCode::NOT_MODIFIED) => Ok(Some(StatusCode::NOT_MODIFIED)),
        Some(status) => Err(status.into()),
        None => Ok(None),
    }
}

/// Serves the file at `path`, whose metadata the caller just looked up.
pub fn respond(
    path: &Target<'_>,
    meta: &Meta,
    settings: &Settings,
    method: &Method,
    headers: &HeaderMap,
    cache: &FileCache,
) -> Result<Response<Body>, Refusal> {
    let mut v = variant(path, meta, settings, headers, cache)?;
    compressed(&mut v, path, settings, method, headers, cache);
    let mut resp = Response::new(Body::empty());
    if let Some(status) = validators(&v, method, headers, &mut resp)? {
        *resp.status_mut() = status;
        return Ok(resp);
    }
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, v.rendered.content_type.clone());
    if settings.max_ranges > 0 && v.ranges {
        h.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    }
    // Ranges apply to GET only, and only while If-Range still matches.
    // An empty file has no byte to select: its Range is ignored (the 200
    // nginx gives, which RFC 9110 allows), not a 416 to a media player
    // that asks for `bytes=0-`.
    let range_header = if method == Method::GET && v.ranges && v.len > 0 {
        let tag = v.rendered.etag.to_str().unwrap_or("");
        let last_modified = v.rendered.last_modified.to_str().ok();
        header(headers, RANGE).filter(|_| {
            header(headers, IF_RANGE)
                .is_none_or(|ir| range::if_range_matches(ir, tag, last_modified))
        })
    } else {
        None
    };
    let plan = range_header.map_or(range::Plan::Full, |r| {
        range::plan(r, v.len, settings.max_ranges)
    });
    let ctype = v
        .rendered
        .content_type
        .to_str()
        .unwrap_or("application/octet-stream");
    file_body::apply(plan, &v.data, v.len, ctype, &mut resp)?;
    Ok(resp)
}
