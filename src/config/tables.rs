//! The table-valued settings: `add_header`, `types` and `error_page`,
//! each checked entry by entry so a bad one names its key.

use std::collections::BTreeMap;

use hyper::header::{HeaderName, HeaderValue};
use toml::Spanned;

use super::values::table_strings;
use super::{ConfigError, Validator};

impl Validator<'_> {
    pub(super) fn add_header(
        &self,
        h: &Spanned<toml::Table>,
    ) -> Result<Vec<(HeaderName, HeaderValue)>, ConfigError> {
        let mut headers = Vec::new();
        for (k, v) in table_strings(self, h, "add_header")? {
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| self.err(h, "add_header", format!("invalid header name \"{k}\"")))?;
            let value = HeaderValue::from_str(v).map_err(|_| {
                self.err(h, "add_header", format!("invalid value for header \"{k}\""))
            })?;
            headers.push((name, value));
        }
        Ok(headers)
    }

    /// Adds the types of `t` to `types`: a block's types extend what it
    /// inherits.
    pub(super) fn types(
        &self,
        t: &Spanned<toml::Table>,
        types: &mut BTreeMap<String, String>,
    ) -> Result<(), ConfigError> {
        for (ext, mime) in table_strings(self, t, "types")? {
            if HeaderValue::from_str(mime).is_err() || mime.is_empty() {
                return Err(self.err(t, "types", format!("invalid MIME type \"{mime}\"")));
            }
            types.insert(
                ext.trim_start_matches('.').to_ascii_lowercase(),
                mime.into(),
            );
        }
        Ok(())
    }

    pub(super) fn error_page(
        &self,
        e: &Spanned<toml::Table>,
    ) -> Result<BTreeMap<u16, String>, ConfigError> {
        let mut pages = BTreeMap::new();
        for (code, uri) in table_strings(self, e, "error_page")? {
            let c: u16 = code
                .parse()
                .ok()
                .filter(|c| (300..=599).contains(c))
                .ok_or_else(|| {
                    self.err(
                        e,
                        "error_page",
                        format!("invalid status \"{code}\": expected 300-599"),
                    )
                })?;
            if !uri.starts_with('/') {
                return Err(self.err(
                    e,
                    "error_page",
                    format!("invalid page \"{uri}\": expected a path starting with \"/\""),
                ));
            }
            pages.insert(c, uri.into());
        }
        Ok(pages)
    }
}
