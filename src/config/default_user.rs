//! The workers' user when the configuration names none and the master
//! runs as root: `nobody`, as with nginx. Workers that run as root serve
//! whatever a symlink in the document root points at (`/etc/shadow`,
//! a key), so anyone who can write the root could read every file on the
//! machine; as `nobody` the kernel refuses such a file (403).
//!
//! Workers stay root only where `nobody` could not list a document root
//! anyway (a root under `/root`, mode 0700, as a first `cargo run` from a
//! clone in root's home has): no other unprivileged user can reach into
//! such a root either. The master then warns at start.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::server::Server;

/// The user workers run as by default.
pub const DEFAULT_USER: &str = "nobody";

/// `user` for a configuration that sets none, serving `servers`.
pub fn default_user(servers: &[Server]) -> Option<(String, Option<String>)> {
    if !crate::sys::privs::is_root() || crate::sys::privs::lookup(DEFAULT_USER, None).is_err() {
        return None;
    }
    let mut roots = servers
        .iter()
        .flat_map(|s| std::iter::once(&s.settings).chain(s.locations.iter().map(|l| &l.settings)))
        .map(|s| &s.root);
    roots
        .all(|r| others_can_list(r))
        .then(|| (DEFAULT_USER.to_string(), None))
}

/// Whether a user with no rights of owner or group on the way can list
/// `dir`: every directory above it searchable by others, and `dir` itself
/// readable and searchable.
fn others_can_list(dir: &Path) -> bool {
    let Ok(real) = std::fs::canonicalize(dir) else {
        return false;
    };
    let mode = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.permissions().mode());
    mode(&real) & 0o005 == 0o005 && real.ancestors().skip(1).all(|p| mode(p) & 0o001 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_root_others_cannot_reach_is_told_apart() {
        let d = crate::scratch::Scratch::new("default-user", &["open/html", "shut/html"]);
        let chmod = |p: &str, m: u32| {
            std::fs::set_permissions(d.join(p), std::fs::Permissions::from_mode(m)).expect(p);
        };
        chmod("", 0o755);
        chmod("open", 0o711);
        chmod("open/html", 0o755);
        chmod("shut", 0o700);
        assert!(others_can_list(&d.join("open/html")));
        assert!(!others_can_list(&d.join("shut/html")));
        chmod("open/html", 0o751);
        assert!(!others_can_list(&d.join("open/html")));
        assert!(!others_can_list(&d.join("missing")));
    }
}
