//! Directory listings (`autoindex`): nginx's HTML page (names link-escaped
//! and HTML-escaped, long names cut to 50 characters, dates, sizes,
//! directories first) declared as UTF-8 so non-ASCII names render, or
//! nginx's JSON array with `autoindex_format = "json"`.
//!
//! Unless `open_file_cache_valid` says otherwise, every request for a
//! listing reads the directory again (a listing shows each entry's size
//! and date), so a worker keeps its buffers from one listing to the next:
//! the entries' names stay in the buffer `getdents64` filled, and the page
//! is written into a buffer whose memory comes back for the next listing
//! once the previous response has been sent. Reading the directory is in
//! `scan.rs`, the page in `html.rs` and `json.rs`.

mod escape;
mod html;
mod json;
mod scan;

#[cfg(test)]
mod reference;
#[cfg(test)]
mod tests;

use std::cell::RefCell;

use bytes::{Bytes, BytesMut};

use super::resolve::Target;
use crate::config::AutoindexFormat;
use scan::Scan;

/// A page larger than this is not kept for the next listing.
const KEEP_BYTES: usize = 1 << 20;

/// One worker's listing buffers.
#[derive(Default)]
struct Scratch {
    scan: Scan,
    out: BytesMut,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// The listing of `dir` for request path `uri` (decoded, with its
/// trailing slash) in `format`: the body and its Content-Type.
pub fn listing(
    dir: &Target<'_>,
    uri: &str,
    format: AutoindexFormat,
) -> std::io::Result<(Bytes, &'static str)> {
    let run = |s: &mut Scratch| listing_with(s, dir, uri, format);
    SCRATCH
        .try_with(|cell| match cell.try_borrow_mut() {
            Ok(mut s) => run(&mut s),
            // Not reached (a listing never starts another), but a fresh
            // buffer is as correct, only slower.
            Err(_) => run(&mut Scratch::default()),
        })
        .unwrap_or_else(|_| run(&mut Scratch::default()))
}

fn listing_with(
    s: &mut Scratch,
    dir: &Target<'_>,
    uri: &str,
    format: AutoindexFormat,
) -> std::io::Result<(Bytes, &'static str)> {
    if let Err(e) = s.scan.read(dir) {
        s.scan.trim();
        return Err(e);
    }
    // An upper bound for most pages: a line is about 110 bytes plus its
    // name, and the buffer grows if names are long.
    s.out.clear();
    s.out
        .reserve(256 + 2 * uri.len() + 128 * s.scan.entries().len());
    let content_type = match format {
        AutoindexFormat::Html => {
            html::render(&mut s.out, uri, &s.scan);
            "text/html; charset=utf-8"
        }
        AutoindexFormat::Json => {
            json::render(&mut s.out, &s.scan);
            "application/json"
        }
    };
    let body = s.out.split().freeze();
    s.scan.trim();
    if body.len() > KEEP_BYTES {
        s.out = BytesMut::new();
    }
    Ok((body, content_type))
}
