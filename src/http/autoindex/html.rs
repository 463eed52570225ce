//! nginx's HTML listing page: names link-escaped and HTML-escaped, long
//! names cut to 50 characters, dates, sizes, directories first. Written
//! straight into the response buffer, numbers and dates by hand: a
//! listing has hundreds of lines, and formatting machinery per field
//! costs more than reading the directory.

use bytes::BytesMut;

use super::escape::{push_html_escaped, push_link_escaped};
use super::scan::Scan;

/// The width nginx gives the name column.
const NAME_WIDTH: usize = 50;

/// Names longer than the column are cut to this many characters and `..>`.
const CUT: usize = NAME_WIDTH - 3;

const SPACES: &[u8; NAME_WIDTH + 1] = &[b' '; NAME_WIDTH + 1];

/// The page listing `scan` for request path `uri` (decoded, with its
/// trailing slash).
pub fn render(out: &mut BytesMut, uri: &str, scan: &Scan) {
    out.extend_from_slice(b"<html>\r\n<head><meta charset=\"utf-8\"><title>Index of ");
    push_html_escaped(out, uri);
    out.extend_from_slice(b"</title></head>\r\n<body>\r\n<h1>Index of ");
    push_html_escaped(out, uri);
    out.extend_from_slice(b"</h1><hr><pre><a href=\"../\">../</a>\r\n");
    let mut date = Dates::default();
    for e in scan.entries() {
        let name = scan.name(e);
        out.extend_from_slice(b"<a href=\"");
        push_link_escaped(out, scan.raw(e));
        if e.dir {
            out.extend_from_slice(b"/");
        }
        out.extend_from_slice(b"\">");
        let count = chars(&name) + usize::from(e.dir);
        let pad = if count > NAME_WIDTH {
            // The cut falls inside the name: a name this long has more
            // than `CUT` characters before any slash.
            let end = name.char_indices().nth(CUT).map_or(name.len(), |(i, _)| i);
            push_html_escaped(out, &name[..end]);
            out.extend_from_slice(b"..&gt;");
            1
        } else {
            push_html_escaped(out, &name);
            if e.dir {
                out.extend_from_slice(b"/");
            }
            NAME_WIDTH - count + 1
        };
        out.extend_from_slice(b"</a>");
        out.extend_from_slice(&SPACES[..pad]);
        out.extend_from_slice(date.of(e.mtime));
        if e.dir {
            out.extend_from_slice(b"                   -\r\n");
        } else {
            out.extend_from_slice(b" ");
            push_right_aligned(out, e.size, 19);
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(b"</pre><hr></body>\r\n</html>\r\n");
}

/// Characters in `s`: the bytes that do not continue a character.
fn chars(s: &str) -> usize {
    s.bytes().filter(|&b| (b as i8) >= -0x40).count()
}

/// `n` in decimal, right-aligned in `width` columns.
fn push_right_aligned(out: &mut BytesMut, n: u64, width: usize) {
    let mut digits = [0u8; 20];
    let d = decimal(n, &mut digits);
    if d.len() < width {
        out.extend_from_slice(&SPACES[..width - d.len()]);
    }
    out.extend_from_slice(d);
}

/// The decimal digits of `n`, written at the end of `buf`.
pub(super) fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

/// `21-Nov-2026 23:52` (UTC), nginx's listing date, remembered for the
/// last minute asked: the entries of a directory often share one.
#[derive(Default)]
struct Dates {
    minute: Option<u64>,
    text: Vec<u8>,
}

impl Dates {
    fn of(&mut self, secs: u64) -> &[u8] {
        let minute = secs / 60;
        if self.minute != Some(minute) {
            self.minute = Some(minute);
            self.text.clear();
            write_date(&mut self.text, secs);
        }
        &self.text
    }
}

fn write_date(out: &mut Vec<u8>, secs: u64) {
    let secs = i64::try_from(secs).unwrap_or(i64::MAX);
    let (y, m, d) = crate::log::time::civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    let month = crate::log::time::MONTHS[(m as usize).saturating_sub(1) % 12];
    two(out, u64::from(d));
    out.push(b'-');
    out.extend_from_slice(month.as_bytes());
    out.push(b'-');
    let mut digits = [0u8; 20];
    let year = decimal(y.unsigned_abs(), &mut digits);
    out.extend_from_slice(&b"000"[..4usize.saturating_sub(year.len()).min(3)]);
    out.extend_from_slice(year);
    out.push(b' ');
    two(out, (s / 3600) as u64);
    out.push(b':');
    two(out, (s / 60 % 60) as u64);
}

/// `n` (below 100) as two digits.
fn two(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(&[b'0' + (n / 10 % 10) as u8, b'0' + (n % 10) as u8]);
}
