//! The workers' user when the configuration names none and the master
//! runs as root: `nobody`, as with nginx. Workers that run as root serve
//! whatever a symlink in the document root points at (`/etc/shadow`,
//! a key), so anyone who can write the root could read every file on the
//! machine; as `nobody` the kernel refuses such a file (403).
//!
//! Workers stay root only where `nobody` could not list a document root
//! that only root controls (a clone in `/root`, mode 0700, as a first
//! `cargo run` as root has): every component on the way to it, as
//! configured and as resolved, belongs to root, and no directory on the
//! way lets anyone else rename or replace an entry. Then no unprivileged
//! user can reach into that root, nor make a root unreadable (a
//! `chmod 700` of a document root they own) to get root workers back.
//! The master warns at start when workers stay root.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
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
    let root_only = roots.any(|r| !others_can_list(r) && only_root_controls(r));
    (!root_only).then(|| (DEFAULT_USER.to_string(), None))
}

/// Whether only root can change `dir` and the way to it (see the module's
/// comment). A sticky directory that others may write (`/tmp`) passes:
/// they cannot rename or remove what root owns in it.
fn only_root_controls(dir: &Path) -> bool {
    let Ok(real) = std::fs::canonicalize(dir) else {
        return false;
    };
    let root_owned = |p: &Path| match std::fs::symlink_metadata(p) {
        Ok(m) if m.file_type().is_symlink() => m.uid() == 0,
        Ok(m) => m.uid() == 0 && (m.mode() & 0o022 == 0 || m.mode() & 0o1000 != 0),
        Err(_) => false,
    };
    dir.is_absolute() && dir.ancestors().chain(real.ancestors()).all(root_owned)
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

    #[test]
    fn only_a_root_owned_way_keeps_root_workers() {
        if !crate::sys::privs::is_root() {
            return;
        }
        let d = crate::scratch::Scratch::new("default-user-own", &["shut/html", "theirs/html"]);
        let chmod = |p: &str, m: u32| {
            std::fs::set_permissions(d.join(p), std::fs::Permissions::from_mode(m)).expect(p);
        };
        chmod("", 0o755);
        chmod("shut", 0o700);
        chmod("theirs", 0o755);
        assert!(only_root_controls(&d.join("shut/html")));
        // A document root another user owns, made unreadable by them.
        let uid = Some(nix::unistd::Uid::from_raw(12345));
        nix::unistd::chown(&d.join("theirs/html"), uid, None).expect("chown");
        chmod("theirs/html", 0o700);
        assert!(!only_root_controls(&d.join("theirs/html")));
        // A link another user owns on the way to a root-only directory.
        std::os::unix::fs::symlink(d.join("shut/html"), d.join("theirs/link")).expect("link");
        std::os::unix::fs::lchown(d.join("theirs/link"), Some(12345), None).expect("chown link");
        assert!(!only_root_controls(&d.join("theirs/link")));
        // A directory on the way that others may write (not sticky).
        chmod("theirs", 0o777);
        std::os::unix::fs::symlink(d.join("shut/html"), d.join("theirs/rootlink")).expect("link");
        assert!(!only_root_controls(&d.join("theirs/rootlink")));
    }
}
