//! Which location's settings apply to a request path: an exact match
//! first, else the longest matching prefix, else the server's own.

use crate::config::server::Server;
use crate::config::{Match, Settings};

/// The settings for normalised request path `path` (its bytes, which need
/// not be UTF-8) on `server`.
pub fn settings_for<'a>(server: &'a Server, path: &[u8]) -> &'a Settings {
    let mut best: Option<(usize, &Settings)> = None;
    for loc in &server.locations {
        match &loc.matcher {
            Match::Exact(p) if p.as_bytes() == path => return &loc.settings,
            Match::Prefix(p)
                if path.starts_with(p.as_bytes()) && best.is_none_or(|(len, _)| p.len() > len) =>
            {
                best = Some((p.len(), &loc.settings));
            }
            _ => {}
        }
    }
    best.map_or(&server.settings, |(_, s)| s)
}
