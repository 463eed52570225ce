//! On-the-fly compression, paid once: a file of a `gzip_types` type, at
//! least `gzip_min_length` long, is compressed into the coding the client
//! accepts best (br, zstd or gzip) once per file version and per worker,
//! and the result is kept in the open-file cache with the file's identity
//! (`cache/encoded.rs`); nginx's `gzip on` compresses every response
//! again.
//!
//! - Every response for a file of a compressed type says
//!   `Vary: Accept-Encoding`, whichever form it carries.
//! - A compressed form has its own strong entity tag (the file's with
//!   `-gzip`, `-br` or `-zstd` inside the quotes), so If-None-Match
//!   answers 304 per form.
//! - A GET with `Range` gets the file as it is (nginx, with `gzip on`,
//!   answers it with the whole file compressed instead); compressed
//!   responses carry no `Accept-Ranges`.
//! - Files above [`MAX_LEN`] are sent as they are: compression runs on
//!   the worker's single thread, and this bounds how long it holds it
//!   (a few ms at level 1, once).
//! - A file still changing (not settled) is compressed for each request
//!   until it settles, and that result is not kept; neither is one
//!   larger than `open_file_cache_max_size`.

use std::os::unix::fs::FileExt;

use bytes::Bytes;
use hyper::Method;
use hyper::header::{ACCEPT_ENCODING, HeaderMap, HeaderValue, RANGE};

use super::cache::{Encoded, FileCache, Meta};
use super::encode::encode;
use super::file_body::Data;
use super::negotiate::{self, Coding};
use super::resolve::Target;
use crate::config::Settings;

/// Largest file compressed on the fly: 1 MiB compresses in a few ms at
/// level 1 (tens of ms at 9), once per version and worker.
pub const MAX_LEN: u64 = 1 << 20;

/// The file version a response would send as it is.
pub struct Source<'a> {
    /// Its path.
    pub target: &'a Target<'a>,
    /// Its metadata.
    pub meta: &'a Meta,
    /// Its bytes.
    pub data: &'a Data,
    /// Its `Content-Type`.
    pub content_type: &'a HeaderValue,
    /// Its entity tag.
    pub etag: &'a HeaderValue,
}

/// What compression makes of a response.
#[derive(Debug, Default)]
pub struct Choice {
    /// The response varies by Accept-Encoding.
    pub vary: bool,
    /// The compressed form to send instead of the file.
    pub encoded: Option<(Coding, Bytes, HeaderValue)>,
}

/// The compressed form of `src` to send for this request, if any.
pub fn choose(
    src: Source<'_>,
    settings: &Settings,
    method: &Method,
    headers: &HeaderMap,
    cache: &FileCache,
) -> Choice {
    let c = &settings.compression;
    if !c.gzip || !c.compresses(src.content_type.to_str().unwrap_or("")) {
        return Choice::default();
    }
    let mut choice = Choice {
        vary: true,
        encoded: None,
    };
    let len = src.meta.len;
    let ranged = method == Method::GET && settings.max_ranges > 0 && headers.contains_key(RANGE);
    if len < c.min_length || len > MAX_LEN || ranged {
        return choice;
    }
    let accept = headers.get(ACCEPT_ENCODING).and_then(|v| v.to_str().ok());
    let Some(coding) = negotiate::choose(accept, c.offered()) else {
        return choice;
    };
    let path = src.target.path();
    let enc = match cache.encoded(path, src.meta, coding, c.level) {
        Some(e) => e,
        None => {
            let Some(e) = make(&src, coding, c.level) else {
                return choice;
            };
            cache.keep_encoded(path, src.meta, &e);
            e
        }
    };
    choice.encoded = enc.body.map(|b| (coding, b, enc.etag));
    choice
}

/// Compresses `src`; `None` if it cannot be read as that version.
fn make(src: &Source<'_>, coding: Coding, level: u32) -> Option<Encoded> {
    let owned;
    let bytes: &[u8] = match src.data {
        Data::Mem(b) => b,
        Data::File(f) => {
            let mut buf = vec![0; usize::try_from(src.meta.len).ok()?];
            f.read_exact_at(&mut buf, 0).ok()?;
            // The same version after the read as at the stat (see
            // `FileCache::body`): a write in between moves the ctime.
            if Meta::from_std(&f.metadata().ok()?) != *src.meta {
                return None;
            }
            owned = buf;
            &owned
        }
    };
    let out = encode(coding, level, bytes).ok()?;
    let tag = src.etag.as_bytes();
    let stem = tag.strip_suffix(b"\"").unwrap_or(tag);
    let mut etag = Vec::with_capacity(stem.len() + 6);
    etag.extend_from_slice(stem);
    etag.push(b'-');
    etag.extend_from_slice(coding.name().as_bytes());
    etag.push(b'"');
    Some(Encoded {
        coding,
        level,
        body: (out.len() < bytes.len()).then(|| Bytes::from(out)),
        etag: HeaderValue::from_bytes(&etag).ok()?,
    })
}
