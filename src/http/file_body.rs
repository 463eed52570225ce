//! The body plan of a file response: the whole file (200), one range
//! (206 with Content-Range), several ranges (206 multipart/byteranges), or
//! none satisfiable (416). The bytes come from memory or from the open
//! file as whole parts, so the writer can send file ranges with sendfile.

use std::fs::File;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hyper::header::{CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, HeaderMap, HeaderValue};
use hyper::{Response, StatusCode};

use super::Body;
use super::range::Plan;
use super::refusal::Refusal;

/// Where the bytes of the representation come from.
pub enum Data {
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

/// A multipart boundary unique enough within this process.
fn boundary() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as u64);
    format!("{:020}", NEXT.fetch_add(1, Ordering::Relaxed) ^ seed)
}

/// Sets the status, length headers and body of `resp` for `plan` over
/// `data` of `len` bytes and type `ctype`; 416 is an error, so that the
/// server's error page answers it.
pub fn apply(
    plan: Plan,
    data: &Data,
    len: u64,
    ctype: &str,
    resp: &mut Response<Body>,
) -> Result<(), Refusal> {
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
    Ok(())
}
