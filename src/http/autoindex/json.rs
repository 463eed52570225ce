//! nginx's JSON listing (`autoindex_format = "json"`): one object per
//! entry with its name, type, date and (files) size.

use std::time::{Duration, UNIX_EPOCH};

use bytes::BytesMut;

use super::escape::push_json_escaped;
use super::scan::Scan;

/// The array listing `scan`.
pub fn render(out: &mut BytesMut, scan: &Scan) {
    out.extend_from_slice(b"[\n");
    let entries = scan.entries();
    // Entries of a directory often share a date: it is made once for them.
    let mut date: Option<(u64, String)> = None;
    let mut digits = [0u8; 20];
    for (i, e) in entries.iter().enumerate() {
        if date.as_ref().is_none_or(|(secs, _)| *secs != e.mtime) {
            let text = crate::http::date::http_date(
                UNIX_EPOCH
                    .checked_add(Duration::from_secs(e.mtime))
                    .unwrap_or(UNIX_EPOCH),
            );
            date = Some((e.mtime, text));
        }
        let mtime = date.as_ref().map_or("", |(_, text)| text.as_str());
        out.extend_from_slice(b"{ \"name\":\"");
        push_json_escaped(out, &scan.name(e));
        if e.dir {
            out.extend_from_slice(b"\", \"type\":\"directory\", \"mtime\":\"");
            out.extend_from_slice(mtime.as_bytes());
            out.extend_from_slice(b"\" }");
        } else {
            out.extend_from_slice(b"\", \"type\":\"file\", \"mtime\":\"");
            out.extend_from_slice(mtime.as_bytes());
            out.extend_from_slice(b"\", \"size\":");
            out.extend_from_slice(super::html::decimal(e.size, &mut digits));
            out.extend_from_slice(b" }");
        }
        if i + 1 < entries.len() {
            out.extend_from_slice(b",");
        }
        out.extend_from_slice(b"\n");
    }
    out.extend_from_slice(b"]");
}
