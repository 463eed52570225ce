//! Precompressed siblings (nginx's gzip_static, plus brotli): when enabled
//! and the client accepts the encoding, `FILE.br` or `FILE.gz` is sent in
//! place of `FILE`, with `Content-Encoding` and that file's length and
//! entity tag. Every file that has a sibling gets `Vary: Accept-Encoding`,
//! whichever variant is sent.

use super::cache::{FileCache, Meta};
use super::resolve::Target;
use crate::config::Settings;

/// The q-value the client gives `coding` (`gzip`, `br`) in an
/// Accept-Encoding header; 0 when not acceptable.
pub fn quality(accept: &str, coding: &str) -> f32 {
    let mut star = None;
    for item in accept.split(',') {
        let mut parts = item.split(';');
        let name = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let mut q = 1.0f32;
        for p in parts {
            if let Some(v) = p
                .trim()
                .strip_prefix("q=")
                .or_else(|| p.trim().strip_prefix("Q="))
            {
                q = v
                    .trim()
                    .parse::<f32>()
                    .ok()
                    .filter(|q| (0.0..=1.0).contains(q))
                    .unwrap_or(0.0);
            }
        }
        if name == coding || (coding == "gzip" && name == "x-gzip") {
            return q;
        }
        if name == "*" {
            star = Some(q);
        }
    }
    star.unwrap_or(0.0)
}

/// A precompressed variant chosen for a request.
#[derive(Debug)]
pub struct Variant<'a> {
    /// Its path.
    pub path: Target<'a>,
    /// Its metadata.
    pub meta: Meta,
    /// `gzip` or `br`.
    pub encoding: &'static str,
}

/// The outcome of looking for siblings of `path`.
#[derive(Debug, Default)]
pub struct Choice<'a> {
    /// The variant to send, if any is acceptable.
    pub variant: Option<Variant<'a>>,
    /// A sibling exists, so the response varies by Accept-Encoding.
    pub vary: bool,
}

/// `FILE.gz` or `FILE.br`, looked up under the same symlink policy as
/// the file (a sibling that is a symlink out of the root is not served).
fn sibling<'a>(path: &Target<'a>, ext: &str, cache: &FileCache) -> Option<(Target<'a>, Meta)> {
    let p = path.with_suffix(ext);
    let m = cache.stat(&p).ok()?;
    m.is_file.then_some((p, m))
}

/// Picks the variant of `path` to send for `accept` (the Accept-Encoding
/// value, if any): the acceptable sibling with the higher q, brotli on a
/// tie.
pub fn choose<'a>(
    path: &Target<'a>,
    settings: &Settings,
    accept: Option<&str>,
    cache: &FileCache,
) -> Choice<'a> {
    let mut choice = Choice::default();
    let mut best: Option<(f32, Variant)> = None;
    let candidates = [
        (settings.brotli_static, ".br", "br"),
        (settings.gzip_static, ".gz", "gzip"),
    ];
    for (enabled, ext, coding) in candidates {
        if !enabled {
            continue;
        }
        let Some((p, meta)) = sibling(path, ext, cache) else {
            continue;
        };
        choice.vary = true;
        let q = accept.map_or(0.0, |a| quality(a, coding));
        if q > 0.0 && best.as_ref().is_none_or(|(bq, _)| q > *bq) {
            best = Some((
                q,
                Variant {
                    path: p,
                    meta,
                    encoding: coding,
                },
            ));
        }
    }
    choice.variant = best.map(|(_, v)| v);
    choice
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q_values() {
        assert_eq!(quality("gzip, deflate, br", "gzip"), 1.0);
        assert_eq!(quality("gzip;q=0", "gzip"), 0.0);
        assert_eq!(quality("gzip; q=0.5", "gzip"), 0.5);
        assert_eq!(quality("x-gzip", "gzip"), 1.0);
        assert_eq!(quality("*", "br"), 1.0);
        assert_eq!(quality("*;q=0, gzip", "br"), 0.0);
        assert_eq!(quality("br;q=0, *", "br"), 0.0);
        assert_eq!(quality("deflate", "gzip"), 0.0);
        assert_eq!(quality("GZIP", "gzip"), 1.0);
        assert_eq!(quality("gzip;q=abc", "gzip"), 0.0);
        assert_eq!(quality("", "gzip"), 0.0);
    }
}
