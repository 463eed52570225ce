//! Escaping a name for the listing's HTML text, its links and its JSON,
//! written straight into the response buffer: runs of bytes that need no
//! escape are copied whole, since most names have none.

use bytes::BytesMut;

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";
const HEX_LOWER: &[u8; 16] = b"0123456789abcdef";

/// Bytes a link may carry as they are: unreserved characters and a few
/// safe ones, so `?`, `#`, `%`, `:` and spaces cannot change what the link
/// means.
fn link_safe(c: u8) -> bool {
    matches!(
        c,
        b'A'..=b'Z'
            | b'a'..=b'z'
            | b'0'..=b'9'
            | b'-'
            | b'_'
            | b'.'
            | b'~'
            | b'!'
            | b'$'
            | b'('
            | b')'
            | b'*'
            | b'+'
            | b','
            | b';'
            | b'='
            | b'@'
    )
}

/// Percent-escapes `s` for use as a relative link (a non-UTF-8 byte is
/// escaped as itself, so the link finds the file).
pub fn push_link_escaped(out: &mut BytesMut, s: &[u8]) {
    let mut run = 0;
    for (i, &b) in s.iter().enumerate() {
        if link_safe(b) {
            continue;
        }
        out.extend_from_slice(&s[run..i]);
        out.extend_from_slice(&[
            b'%',
            HEX_UPPER[usize::from(b >> 4)],
            HEX_UPPER[usize::from(b & 15)],
        ]);
        run = i + 1;
    }
    out.extend_from_slice(&s[run..]);
}

/// Escapes `s` for HTML text and attribute values.
pub fn push_html_escaped(out: &mut BytesMut, s: &str) {
    let s = s.as_bytes();
    let mut run = 0;
    for (i, &b) in s.iter().enumerate() {
        let entity: &[u8] = match b {
            b'&' => b"&amp;",
            b'<' => b"&lt;",
            b'>' => b"&gt;",
            b'"' => b"&quot;",
            b'\'' => b"&#39;",
            _ => continue,
        };
        out.extend_from_slice(&s[run..i]);
        out.extend_from_slice(entity);
        run = i + 1;
    }
    out.extend_from_slice(&s[run..]);
}

/// Escapes `s` for a JSON string.
pub fn push_json_escaped(out: &mut BytesMut, s: &str) {
    let bytes = s.as_bytes();
    let mut run = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b >= 0x20 && b != b'"' && b != b'\\' {
            continue;
        }
        out.extend_from_slice(&bytes[run..i]);
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            c => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX_LOWER[usize::from(c >> 4)],
                HEX_LOWER[usize::from(c & 15)],
            ]),
        }
        run = i + 1;
    }
    out.extend_from_slice(&bytes[run..]);
}
