//! One allocation per cached file version: the body of a small file and
//! its rendered header values share a buffer. Every response clones all
//! four, and each clone is an atomic on its allocation's count: one count
//! on one cache line instead of four scattered ones is what a request for
//! a file not touched lately pays, and an evicted entry is one free.

use bytes::Bytes;
use hyper::header::HeaderValue;

use super::Rendered;

/// `body` and `r` in one buffer, as (body, header values); `None` if a
/// value does not survive the copy (it always should: they were valid).
pub(super) fn pack(body: Option<&Bytes>, r: &Rendered) -> Option<(Option<Bytes>, Rendered)> {
    let parts = [
        body.map_or(&[][..], |b| &b[..]),
        r.etag.as_bytes(),
        r.last_modified.as_bytes(),
        r.content_type.as_bytes(),
    ];
    let mut buf = Vec::with_capacity(parts.iter().map(|p| p.len()).sum());
    let mut ends = [0; 4];
    for (end, p) in ends.iter_mut().zip(parts) {
        buf.extend_from_slice(p);
        *end = buf.len();
    }
    let buf = Bytes::from(buf);
    let value = |from: usize, to: usize| HeaderValue::from_maybe_shared(buf.slice(from..to)).ok();
    let packed = Rendered {
        etag: value(ends[0], ends[1])?,
        last_modified: value(ends[1], ends[2])?,
        content_type: value(ends[2], ends[3])?,
    };
    Some((body.map(|_| buf.slice(..ends[0])), packed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_values_equal_the_originals_and_share_one_buffer() {
        let r = Rendered {
            etag: HeaderValue::from_static("\"5f-200\""),
            last_modified: HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 GMT"),
            content_type: HeaderValue::from_static("text/plain"),
        };
        let body = Bytes::from_static(b"hello");
        let (b, p) = pack(Some(&body), &r).expect("packed");
        let b = b.expect("body");
        assert_eq!(b, body);
        assert_eq!(
            (&p.etag, &p.last_modified, &p.content_type),
            (&r.etag, &r.last_modified, &r.content_type)
        );
        // The etag starts right after the body: one allocation.
        assert_eq!(b.as_ptr().wrapping_add(5), p.etag.as_bytes().as_ptr());
        let (none, p2) = pack(None, &r).expect("headers only");
        assert!(none.is_none());
        assert_eq!(p2.content_type, r.content_type);
    }
}
