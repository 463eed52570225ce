//! On-the-fly compression settings, in nginx's spirit (`gzip`,
//! `gzip_types`, `gzip_min_length`, `gzip_comp_level`), plus
//! `compress_extra`: the codings offered besides gzip (`"br"`, `"zstd"`),
//! which nginx has only through third-party modules, in the server's
//! order of preference (gzip comes last).

use toml::Spanned;

use super::{ConfigError, Validator};

/// What a location compresses, and how hard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compression {
    /// Compress responses on the fly.
    pub gzip: bool,
    /// MIME types compressed (lower case, without parameters); `*` is
    /// every type, and text/html always is, as in nginx.
    pub types: Vec<String>,
    /// Files shorter than this are sent as they are.
    pub min_length: u64,
    /// 1 (fastest) to 9 (smallest), for every coding.
    pub level: u32,
    /// Codings offered before gzip, preferred in this order when the
    /// client weighs them alike.
    pub extra: Vec<Coding>,
}

/// A content coding moltd compresses into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    /// `br`.
    Br,
    /// `zstd`.
    Zstd,
    /// `gzip`.
    Gzip,
}

impl Coding {
    /// Its name in `Accept-Encoding`, `Content-Encoding` and the
    /// configuration.
    pub fn name(self) -> &'static str {
        match self {
            Coding::Br => "br",
            Coding::Zstd => "zstd",
            Coding::Gzip => "gzip",
        }
    }

    /// Its slot in per-coding tables.
    pub fn index(self) -> usize {
        self as usize
    }
}

impl Default for Compression {
    /// nginx's defaults: off, text/html only, 20 bytes, level 1.
    fn default() -> Self {
        Compression {
            gzip: false,
            types: vec!["text/html".into()],
            min_length: 20,
            level: 1,
            extra: Vec::new(),
        }
    }
}

impl Compression {
    /// Whether responses of `content_type` (parameters allowed) are
    /// compressed.
    pub fn compresses(&self, content_type: &str) -> bool {
        let base = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        base == "text/html" || self.types.iter().any(|t| t == "*" || *t == base)
    }

    /// The codings offered, in order of preference.
    pub fn offered(&self) -> impl Iterator<Item = Coding> + '_ {
        self.extra.iter().copied().chain([Coding::Gzip])
    }
}

/// The raw compression keys of a server or location.
pub(super) struct RawCompression<'a> {
    pub(super) gzip: Option<bool>,
    pub(super) types: &'a Option<Spanned<Vec<String>>>,
    pub(super) min_length: &'a Option<Spanned<toml::Value>>,
    pub(super) level: &'a Option<Spanned<i64>>,
    pub(super) extra: &'a Option<Spanned<Vec<String>>>,
}

impl Validator<'_> {
    /// Applies the raw compression keys over `c`.
    pub(super) fn compression(
        &self,
        r: RawCompression<'_>,
        c: &mut Compression,
    ) -> Result<(), ConfigError> {
        if let Some(g) = r.gzip {
            c.gzip = g;
        }
        if let Some(t) = r.types {
            c.types = t
                .get_ref()
                .iter()
                .map(|ty| mime_type(ty).map_err(|m| self.err(t, "gzip_types", m)))
                .collect::<Result<_, _>>()?;
        }
        if let Some(m) = r.min_length {
            let n = super::size::parse_value(m.get_ref())
                .map_err(|e| self.err(m, "gzip_min_length", e))?;
            c.min_length = n as u64;
        }
        if let Some(l) = r.level {
            c.level = match u32::try_from(*l.get_ref()) {
                Ok(n @ 1..=9) => n,
                _ => {
                    let msg = format!("invalid level {}: expected 1 to 9", l.get_ref());
                    return Err(self.err(l, "gzip_comp_level", msg));
                }
            };
        }
        if let Some(e) = r.extra {
            c.extra.clear();
            for name in e.get_ref() {
                let coding = match name.as_str() {
                    "br" => Coding::Br,
                    "zstd" => Coding::Zstd,
                    other => {
                        let msg =
                            format!("unknown coding \"{other}\": expected \"br\" or \"zstd\"");
                        return Err(self.err(e, "compress_extra", msg));
                    }
                };
                if !c.extra.contains(&coding) {
                    c.extra.push(coding);
                }
            }
        }
        Ok(())
    }
}

/// A `gzip_types` entry, lower-cased: `*` or `type/subtype`.
fn mime_type(t: &str) -> Result<String, String> {
    let lower = t.trim().to_ascii_lowercase();
    let ok = lower == "*"
        || lower.split_once('/').is_some_and(|(a, b)| {
            let token = |s: &str| {
                !s.is_empty()
                    && s.bytes()
                        .all(|c| c.is_ascii_alphanumeric() || b"!#$&^_.+-*".contains(&c))
            };
            token(a) && token(b)
        });
    if ok {
        Ok(lower)
    } else {
        Err(format!(
            "invalid MIME type \"{t}\": expected \"type/subtype\" or \"*\""
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_match_without_parameters_and_html_always() {
        let c = Compression {
            types: vec!["application/javascript".into()],
            ..Compression::default()
        };
        assert!(c.compresses("application/javascript; charset=utf-8"));
        assert!(c.compresses("Application/JavaScript"));
        assert!(c.compresses("text/html"));
        assert!(!c.compresses("image/png"));
        let all = Compression {
            types: vec!["*".into()],
            ..Compression::default()
        };
        assert!(all.compresses("image/png"));
        assert_eq!(mime_type("Text/CSS"), Ok("text/css".into()));
        assert!(mime_type("css").is_err());
        assert!(mime_type("text/").is_err());
    }
}
