//! Configuration errors, and the validator that gives each one the file,
//! line and key an operator needs to find it.

use std::fmt;
use std::path::{Path, PathBuf};

use toml::Spanned;

/// A configuration error: what is wrong, with the file, line and key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file (or the built-in default).
    pub source: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// The key at fault, when known.
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(k) = &self.key {
            write!(f, " (key \"{k}\")")?;
        }
        write!(f, " in {}", self.source)?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Turns spans into file:line errors while validating one file.
pub(crate) struct Validator<'a> {
    pub(super) text: &'a str,
    pub(super) source: String,
}

impl Validator<'_> {
    pub(crate) fn line_of(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }

    pub(crate) fn err<T>(&self, at: &Spanned<T>, key: &str, message: String) -> ConfigError {
        ConfigError {
            source: self.source.clone(),
            line: Some(self.line_of(at.span().start)),
            key: Some(key.to_string()),
            message,
        }
    }

    /// An error about the whole file rather than one value in it.
    pub(super) fn file_err(&self, key: &str, message: &str) -> ConfigError {
        ConfigError {
            source: self.source.clone(),
            line: None,
            key: Some(key.into()),
            message: message.into(),
        }
    }

    pub(crate) fn path(
        &self,
        prefix: &Path,
        value: &Option<Spanned<String>>,
        key: &str,
        default: &str,
    ) -> Result<PathBuf, ConfigError> {
        match value {
            None => Ok(prefix.join(default)),
            Some(s) if s.get_ref().is_empty() => Err(self.err(s, key, "empty path".into())),
            Some(s) => Ok(prefix.join(s.get_ref())),
        }
    }
}
