//! A regular file: pick the precompressed variant, open it, answer the
//! preconditions (304/412), then ranges (206/416) or the whole file (200),
//! with Content-Type, Content-Length, Last-Modified, a strong ETag in
//! nginx's `"mtime-size"` hex form and Accept-Ranges.

use std::fs::File;
use std::io::ErrorKind;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use hyper::header::{
    ACCEPT_ENCODING, ACCEPT_RANGES, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE,
    ETAG, HeaderMap, HeaderValue, IF_RANGE, LAST_MODIFIED, RANGE, VARY,
};
use hyper::{Method, Response, StatusCode};

use bytes::Bytes;

use super::cache::{FileCache, Meta, Rendered};
use super::conditional::{self, Validators};
use super::range::{self, Plan};
use super::resolve::Target;
use super::{Body, mime, precompressed};
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

/// A multipart boundary unique enough within this process.
fn boundary() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as u64);
    format!("{:020}", NEXT.fetch_add(1, Ordering::Relaxed) ^ seed)
}

/// An error status, with headers the error page must carry (416's
/// `Content-Range`).
#[derive(Debug)]
pub struct Refusal {
    /// The status.
    pub status: StatusCode,
    /// Headers to add to the error page.
    pub headers: HeaderMap,
}

impl From<StatusCode> for Refusal {
    fn from(status: StatusCode) -> Self {
        Refusal {
            status,
            headers: HeaderMap::new(),
        }
    }
}

/// Where the bytes of the representation come from.
enum Data {
    /// The whole file, held by the open-file cache.
    Mem(Bytes),
    /// An open file, streamed.
    File(Arc<File>),
}

impl Data {
    fn push(&self, body: &mut Body, offset: u64, len: u64) {
        match self {
            Data::Mem(b) => body.push_bytes(b.slice(offset as usize..(offset + len) as usize)),
            Data::File(f) => body.push_file(Arc::clone(f), offset, len),
        }
    }

    fn body(&self, offset: u64, len: u64) -> Body {
        let mut body = Body::empty();
        self.push(&mut body, offset, len);
        body
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
    let choice = precompressed::choose(path, settings, header(headers, ACCEPT_ENCODING), cache);
    let (send_path, encoding, meta) = match &choice.variant {
        Some(v) => (&v.path, Some(v.encoding), v.meta),
        None => (path, None, *meta),
    };
    // Small files come from memory, read under exactly this metadata;
    // others are opened and streamed, with headers from the open file.
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
    let len = meta.len;
    let rendered = cache.rendered(send_path.path(), &meta, || Rendered {
        etag: HeaderValue::from_str(&etag(&meta)).unwrap_or(HeaderValue::from_static("\"\"")),
        last_modified: HeaderValue::from_str(&super::date::http_date(meta.mtime))
            .unwrap_or(HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 GMT")),
        content_type: HeaderValue::from_str(&mime::content_type(path.path(), settings))
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    });
    let tag = rendered.etag.to_str().unwrap_or("");
    let last_modified = rendered.last_modified.to_str().ok();

    let mut resp = Response::new(Body::empty());
    {
        let h = resp.headers_mut();
        h.insert(LAST_MODIFIED, rendered.last_modified.clone());
        h.insert(ETAG, rendered.etag.clone());
        if choice.vary {
            h.insert(VARY, HeaderValue::from_static("Accept-Encoding"));
        }
        if let Some(enc) = encoding {
            h.insert(CONTENT_ENCODING, HeaderValue::from_static(enc));
        }
    }
    let validators = Validators {
        etag: tag,
        last_modified: Some(meta.mtime),
    };
    match conditional::evaluate(method, headers, &validators) {
        Some(StatusCode::NOT_MODIFIED) => {
            *resp.status_mut() = StatusCode::NOT_MODIFIED;
            return Ok(resp);
        }
        Some(status) => return Err(status.into()),
        None => {}
    }
    {
        let h = resp.headers_mut();
        h.insert(CONTENT_TYPE, rendered.content_type.clone());
        if settings.max_ranges > 0 {
            h.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        }
    }
    let ctype = rendered
        .content_type
        .to_str()
        .unwrap_or("application/octet-stream");

    let range_header = if method == Method::GET {
        header(headers, RANGE).filter(|_| {
            header(headers, IF_RANGE)
                .is_none_or(|ir| range::if_range_matches(ir, tag, last_modified))
        })
    } else {
        None
    };
    let plan = range_header.map_or(Plan::Full, |r| range::plan(r, len, settings.max_ranges));
    match plan {
        Plan::Full => {
            resp.headers_mut()
                .insert(CONTENT_LENGTH, HeaderValue::from(len));
            *resp.body_mut() = data.body(0, len);
        }
        Plan::Unsatisfiable => {
            let mut extra = HeaderMap::new();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                extra.insert(CONTENT_RANGE, v);
            }
            return Err(Refusal {
                status: StatusCode::RANGE_NOT_SATISFIABLE,
                headers: extra,
            });
        }
        Plan::Partial(ranges) if ranges.len() == 1 => {
            let r = ranges[0];
            *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
            let h = resp.headers_mut();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes {}-{}/{len}", r.start, r.end)) {
                h.insert(CONTENT_RANGE, v);
            }
            h.insert(CONTENT_LENGTH, HeaderValue::from(r.len()));
            *resp.body_mut() = data.body(r.start, r.len());
        }
        Plan::Partial(ranges) => {
            let b = boundary();
            let mut body = Body::empty();
            for r in &ranges {
                body.push_bytes(format!(
                    "\r\n--{b}\r\nContent-Type: {ctype}\r\nContent-Range: bytes {}-{}/{len}\r\n\r\n",
                    r.start, r.end
                ));
                data.push(&mut body, r.start, r.len());
            }
            body.push_bytes(format!("\r\n--{b}--\r\n"));
            *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
            let h = resp.headers_mut();
            if let Ok(v) = HeaderValue::from_str(&format!("multipart/byteranges; boundary={b}")) {
                h.insert(CONTENT_TYPE, v);
            }
            h.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
            *resp.body_mut() = body;
        }
    }
    Ok(resp)
}
