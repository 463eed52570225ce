//! Shape checks for TOML values that may be written more than one way (a
//! string or a list of them) or that must be tables of strings.

use toml::Spanned;

use super::{ConfigError, Validator};

/// Returns the string items of a string-or-list value.
pub(super) fn strings<'a>(
    v: &Validator<'_>,
    at: &'a Spanned<toml::Value>,
    key: &str,
) -> Result<Vec<&'a str>, ConfigError> {
    let items: Vec<&toml::Value> = match at.get_ref() {
        toml::Value::Array(a) => a.iter().collect(),
        other => vec![other],
    };
    items
        .into_iter()
        .map(|i| match i {
            toml::Value::String(s) => Ok(s.as_str()),
            other => Err(v.err(at, key, format!("invalid value {other}: expected a string"))),
        })
        .collect()
}

/// Returns the entries of a table whose values must all be strings.
pub(super) fn table_strings<'a>(
    v: &Validator<'_>,
    at: &'a Spanned<toml::Table>,
    key: &str,
) -> Result<Vec<(&'a str, &'a str)>, ConfigError> {
    at.get_ref()
        .iter()
        .map(|(k, val)| match val {
            toml::Value::String(s) => Ok((k.as_str(), s.as_str())),
            other => Err(v.err(
                at,
                key,
                format!("invalid value {other} for \"{k}\": expected a string"),
            )),
        })
        .collect()
}
