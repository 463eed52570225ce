//! Decode and normalise the request path once: percent-escapes, `.`, `..`
//! and repeated slashes. The result is relative and can never leave the
//! root.

use std::path::PathBuf;

use hyper::StatusCode;

/// A normalised request path.
#[derive(Debug, PartialEq, Eq)]
pub struct RelPath {
    /// Relative to the root, no `.`/`..` components.
    pub relative: PathBuf,
    /// The request path ended in `/` (a file asked for as `file/` is 404).
    pub trailing_slash: bool,
}

impl RelPath {
    /// The normalised path as a URI path (`/a/b/`), byte for byte: a name
    /// that is not UTF-8 keeps its bytes, so location matching and the
    /// redirect to `dir/` name the file that exists.
    pub fn uri_bytes(&self) -> Vec<u8> {
        use std::os::unix::ffi::OsStrExt;
        let rel = self.relative.as_os_str().as_bytes();
        let mut s = Vec::with_capacity(rel.len() + 2);
        s.push(b'/');
        s.extend_from_slice(rel);
        if self.trailing_slash && !s.ends_with(b"/") {
            s.push(b'/');
        }
        s
    }

    /// True when `raw` is byte for byte [`RelPath::uri_bytes`]: a request
    /// path with nothing to normalise.
    pub fn is_written_as(&self, raw: &str) -> bool {
        use std::os::unix::ffi::OsStrExt;
        let rel = self.relative.as_os_str().as_bytes();
        let Some(rest) = raw.as_bytes().strip_prefix(b"/") else {
            return false;
        };
        let rest = match rest.strip_prefix(rel) {
            Some(r) => r,
            None => return false,
        };
        let slash = self.trailing_slash && !rel.is_empty() && !rel.ends_with(b"/");
        rest == if slash { &b"/"[..] } else { &b""[..] }
    }

    /// [`RelPath::uri_bytes`] for display (a listing's title): non-UTF-8
    /// bytes shown as U+FFFD.
    pub fn uri_path(&self) -> String {
        String::from_utf8_lossy(&self.uri_bytes()).into_owned()
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decodes `s`; a malformed escape or a NUL is a bad request.
fn decode(s: &str) -> Result<Vec<u8>, StatusCode> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hi = b.get(i + 1).copied().and_then(hex);
            let lo = b.get(i + 2).copied().and_then(hex);
            match (hi, lo) {
                (Some(h), Some(l)) => out.push(h * 16 + l),
                _ => return Err(StatusCode::BAD_REQUEST),
            }
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    if out.contains(&0) {
        return Err(StatusCode::BAD_REQUEST);
    }
    Ok(out)
}

/// A path with nothing to decode or fold (no escape, no empty, `.` or
/// `..` segment), as nearly every request's is, is its own normal form:
/// taken as it is, with one allocation instead of three.
fn plain(raw: &str) -> Option<RelPath> {
    let body = raw.strip_prefix('/')?;
    let (body, trailing_slash) = match body.strip_suffix('/') {
        Some(b) => (b, true),
        None => (body, false),
    };
    if body.is_empty()
        || body.bytes().any(|b| b == b'%' || b == 0)
        || body
            .split('/')
            .any(|seg| seg.is_empty() || seg == "." || seg == "..")
    {
        return None;
    }
    Some(RelPath {
        relative: PathBuf::from(body),
        trailing_slash,
    })
}

/// Normalises a request path (as on the request line, without the query).
pub fn normalize(raw: &str) -> Result<RelPath, StatusCode> {
    if let Some(rel) = plain(raw) {
        return Ok(rel);
    }
    folded(raw)
}

/// [`normalize`] the whole way: decoded, then `.`, `..` and empty
/// segments folded.
fn folded(raw: &str) -> Result<RelPath, StatusCode> {
    if !raw.starts_with('/') {
        return Err(StatusCode::BAD_REQUEST);
    }
    let decoded = decode(raw)?;
    let mut parts: Vec<&[u8]> = Vec::new();
    for seg in decoded.split(|&c| c == b'/') {
        match seg {
            b"" | b"." => {}
            b".." => {
                if parts.pop().is_none() {
                    return Err(StatusCode::BAD_REQUEST);
                }
            }
            s => parts.push(s),
        }
    }
    let mut relative = PathBuf::new();
    for p in &parts {
        use std::os::unix::ffi::OsStrExt;
        relative.push(std::ffi::OsStr::from_bytes(p));
    }
    Ok(RelPath {
        relative,
        // `/dir/.` and `/dir/..` name a directory too.
        trailing_slash: decoded.ends_with(b"/")
            || decoded.ends_with(b"/.")
            || decoded.ends_with(b"/.."),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(s: &str) -> Result<String, StatusCode> {
        normalize(s).map(|r| r.relative.to_string_lossy().into_owned())
    }

    #[test]
    fn normalises() {
        assert_eq!(rel("/"), Ok(String::new()));
        assert_eq!(rel("/a//b/./c"), Ok("a/b/c".into()));
        assert_eq!(rel("/a/b/../c"), Ok("a/c".into()));
        assert_eq!(rel("/a%20b"), Ok("a b".into()));
        assert!(normalize("/dir/").expect("ok").trailing_slash);
        assert!(normalize("/dir/.").expect("ok").trailing_slash);
        assert!(normalize("/a/b/..").expect("ok").trailing_slash);
        assert!(!normalize("/a/../dir").expect("ok").trailing_slash);
        assert_eq!(normalize("//dir").expect("ok").uri_path(), "/dir");
    }

    #[test]
    fn a_plain_path_is_taken_as_the_full_normalisation_would_give_it() {
        let cases = [
            "/",
            "//",
            "/a",
            "/a/",
            "/a/b.html",
            "/a/b/",
            "/a//b",
            "/a/./b",
            "/a/../b",
            "/.",
            "/..",
            "/a/.",
            "/a/..",
            "/.a",
            "/a./b..c",
            "/a%20b",
            "/a%2fb",
            "/%zz",
            "/a/b//",
            "relative",
            "",
            "/a b",
            "/é/ü.txt",
            "/a/...",
            "/a\\b",
        ];
        for raw in cases {
            if let Ok(p) = normalize(raw) {
                assert_eq!(
                    p.is_written_as(raw),
                    p.uri_bytes() == raw.as_bytes(),
                    "{raw:?}"
                );
            }
            if let Some(p) = plain(raw) {
                assert_eq!(Ok(p), folded(raw), "{raw:?}");
            }
            assert_eq!(normalize(raw), folded(raw), "{raw:?}");
        }
        assert!(plain("/a/b.html").is_some() && plain("/a/").is_some());
        assert!(plain("/a%20b").is_none() && plain("/a/../b").is_none());
    }

    #[test]
    fn never_leaves_root() {
        assert_eq!(rel("/.."), Err(StatusCode::BAD_REQUEST));
        assert_eq!(rel("/a/../../etc/passwd"), Err(StatusCode::BAD_REQUEST));
        assert_eq!(rel("/%2e%2e/etc/passwd"), Err(StatusCode::BAD_REQUEST));
        assert_eq!(rel("/..%2fetc"), Err(StatusCode::BAD_REQUEST));
        assert_eq!(rel("/a%00b"), Err(StatusCode::BAD_REQUEST));
        assert_eq!(rel("/%zz"), Err(StatusCode::BAD_REQUEST));
        assert_eq!(rel("relative"), Err(StatusCode::BAD_REQUEST));
    }
}
