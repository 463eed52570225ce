//! `[[server.location]]`: which request paths a block matches, and its
//! settings over its server's.

use std::path::Path;
use std::sync::Arc;

use toml::Spanned;

use super::settings::raw_settings;
use super::{ConfigError, Settings, Validator, raw};

/// How a location matches the request path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    /// `exact = "/path"`: only this path.
    Exact(String),
    /// `prefix = "/assets/"`: paths starting with it; the longest wins.
    Prefix(String),
}

/// One `[[server.location]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Location {
    /// What it matches.
    pub matcher: Match,
    /// Its settings, with the server's filled in.
    pub settings: Arc<Settings>,
}

impl Validator<'_> {
    /// A server's locations, in file order, over `server`'s settings.
    pub(super) fn locations(
        &self,
        prefix: &Path,
        blocks: &[Spanned<raw::RawLocation>],
        server: &Settings,
    ) -> Result<Vec<Location>, ConfigError> {
        let mut locations = Vec::new();
        for loc in blocks {
            let b = loc.get_ref();
            let matcher = self.matcher(loc)?;
            let settings = Arc::new(self.settings(prefix, raw_settings!(b), server)?);
            locations.push(Location { matcher, settings });
        }
        Ok(locations)
    }

    fn matcher(&self, loc: &Spanned<raw::RawLocation>) -> Result<Match, ConfigError> {
        match (&loc.get_ref().prefix, &loc.get_ref().exact) {
            (Some(p), None) if p.get_ref().starts_with('/') => {
                Ok(Match::Prefix(p.get_ref().clone()))
            }
            (None, Some(e)) if e.get_ref().starts_with('/') => {
                Ok(Match::Exact(e.get_ref().clone()))
            }
            (Some(p), None) => {
                Err(self.err(p, "prefix", "a location prefix starts with \"/\"".into()))
            }
            (None, Some(e)) => {
                Err(self.err(e, "exact", "an exact location starts with \"/\"".into()))
            }
            _ => Err(self.err(
                loc,
                "location",
                "a [[server.location]] needs exactly one of \"prefix\" or \"exact\"".into(),
            )),
        }
    }
}
