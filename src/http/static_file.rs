//! A regular file: pick the precompressed variant, open it, answer the
//! preconditions (304/412), then ranges (206/416) or the whole file (200),
//! with Content-Type, Content-Length, Last-Modified, a strong ETag in
//! nginx's `"mtime-size"` hex form and Accept-Ranges.

use std::fs::{File, Metadata};
use std::io::ErrorKind;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use hyper::header::{
    ACCEPT_ENCODING, ACCEPT_RANGES, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE,
    ETAG, HeaderMap, HeaderValue, IF_RANGE, LAST_MODIFIED, RANGE, VARY,
};
use hyper::{Method, Response, StatusCode};

use super::conditional::{self, Validators};
use super::range::{self, Plan};
use super::{Body, mime, precompressed};
use crate::config::Settings;

/// Maps a file-system error to the status an operator expects.
pub fn status_for(e: &std::io::Error) -> StatusCode {
    match e.kind() {
        ErrorKind::NotFound | ErrorKind::NotADirectory | ErrorKind::InvalidFilename => {
            StatusCode::NOT_FOUND
        }
        ErrorKind::PermissionDenied => StatusCode::FORBIDDEN,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// nginx's entity tag: `"<mtime hex>-<size hex>"`.
pub fn etag(meta: &Metadata) -> String {
    format!("\"{:x}-{:x}\"", mtime_secs(meta), meta.len())
}

fn mtime_secs(meta: &Metadata) -> u64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs())
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

/// Serves the file at `path` (already known to exist and be a file).
pub fn respond(
    path: &Path,
    settings: &Settings,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Response<Body>, Refusal> {
    let choice = precompressed::choose(path, settings, header(headers, ACCEPT_ENCODING));
    let (send_path, encoding) = match &choice.variant {
        Some(v) => (v.path.as_path(), Some(v.encoding)),
        None => (path, None),
    };
    let file = File::open(send_path).map_err(|e| status_for(&e))?;
    let meta = file.metadata().map_err(|e| status_for(&e))?;
    if !meta.is_file() {
        return Err(StatusCode::NOT_FOUND.into());
    }
    let len = meta.len();
    let tag = etag(&meta);
    let modified = meta.modified().ok();
    let last_modified = modified.map(httpdate::fmt_http_date);
    let ctype = mime::content_type(path, settings);

    let mut resp = Response::new(Body::empty());
    {
        let h = resp.headers_mut();
        if let Some(lm) = &last_modified
            && let Ok(v) = HeaderValue::from_str(lm)
        {
            h.insert(LAST_MODIFIED, v);
        }
        if let Ok(v) = HeaderValue::from_str(&tag) {
            h.insert(ETAG, v);
        }
        if choice.vary {
            h.insert(VARY, HeaderValue::from_static("Accept-Encoding"));
        }
        if let Some(enc) = encoding {
            h.insert(CONTENT_ENCODING, HeaderValue::from_static(enc));
        }
    }
    let validators = Validators {
        etag: tag.clone(),
        last_modified: modified,
    };
    if let Some(status) = conditional::evaluate(method, headers, &validators) {
        *resp.status_mut() = status;
        return Ok(resp);
    }
    {
        let h = resp.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&ctype) {
            h.insert(CONTENT_TYPE, v);
        }
        if settings.max_ranges > 0 {
            h.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        }
    }
    let file = Arc::new(file);

    let range_header = if method == Method::GET {
        header(headers, RANGE).filter(|_| {
            header(headers, IF_RANGE)
                .is_none_or(|ir| range::if_range_matches(ir, &tag, last_modified.as_deref()))
        })
    } else {
        None
    };
    let plan = range_header.map_or(Plan::Full, |r| range::plan(r, len, settings.max_ranges));
    match plan {
        Plan::Full => {
            resp.headers_mut()
                .insert(CONTENT_LENGTH, HeaderValue::from(len));
            *resp.body_mut() = Body::file(file, 0, len);
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
            *resp.body_mut() = Body::file(file, r.start, r.len());
        }
        Plan::Partial(ranges) => {
            let b = boundary();
            let mut body = Body::empty();
            for r in &ranges {
                body.push_bytes(format!(
                    "\r\n--{b}\r\nContent-Type: {ctype}\r\nContent-Range: bytes {}-{}/{len}\r\n\r\n",
                    r.start, r.end
                ));
                body.push_file(Arc::clone(&file), r.start, r.len());
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
