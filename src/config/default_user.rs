//! The workers' user when the configuration names none and the master
//! runs as root: `nobody`, as with nginx. Workers that run as root serve
//! whatever a symlink in the document root points at (`/etc/shadow`,
//! a key), so anyone who can write the root could read every file on the
//! machine; as `nobody` the kernel refuses such a file (403).
//!
//! Workers stay root only where every document root is sealed: only
//! root can reach it (a clone in `/root`, mode 0700, as a first
//! `cargo run` as root has). Its path, as configured, has no link, every
//! directory on it is root's, none writable by others unless sticky (above
//! the seal no one can rename or replace an entry), and one of them lets
//! only root through (no search bit for group or others). Then no
//! unprivileged user can reach into any root served, nor seal one they own
//! (a `chmod 700` of their document root) to get root workers back: one
//! root that is not sealed makes the workers `nobody`, and a sealed root
//! beside it then fails the start (or the reload), saying which root
//! `nobody` cannot read. The master warns while workers stay root.

use std::os::unix::fs::MetadataExt;
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
    (!roots.all(|r| sealed(r))).then(|| (DEFAULT_USER.to_string(), None))
}

/// Whether only root can reach `dir` or change the way to it (see the
/// module's comment).
fn sealed(dir: &Path) -> bool {
    if !dir.is_absolute() || std::fs::canonicalize(dir).ok().as_deref() != Some(dir) {
        return false;
    }
    let mut seal = false;
    for p in dir.ancestors() {
        let Ok(m) = std::fs::symlink_metadata(p) else {
            return false;
        };
        let mode = m.mode();
        let writable = mode & 0o022 != 0 && mode & 0o1000 == 0;
        if !m.is_dir() || m.uid() != 0 || writable {
            return false;
        }
        seal |= mode & 0o011 == 0;
    }
    seal
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn only_a_root_only_root_reached_through_root_only_directories_is_sealed() {
        if !crate::sys::privs::is_root() {
            return;
        }
        let d = crate::scratch::Scratch::new("default-user", &["shut/html", "open/html"]);
        let chmod = |p: &str, m: u32| {
            std::fs::set_permissions(d.join(p), std::fs::Permissions::from_mode(m)).expect(p);
        };
        chmod("", 0o755);
        chmod("shut", 0o700);
        chmod("open", 0o755);
        assert!(sealed(&d.join("shut/html")));
        assert!(!sealed(&d.join("open/html")), "others can reach it");
        assert!(!sealed(&d.join("missing")));
        // Group may search the seal: its members could write below.
        chmod("shut", 0o710);
        assert!(!sealed(&d.join("shut/html")));
        chmod("shut", 0o700);
        // A root someone else owns, hidden by them.
        std::os::unix::fs::chown(d.join("open/html"), Some(12345), None).expect("chown");
        chmod("open/html", 0o700);
        assert!(!sealed(&d.join("open/html")));
        // A link on the way, even root's: its target is not the path.
        std::os::unix::fs::symlink(d.join("shut/html"), d.join("open/link")).expect("link");
        assert!(!sealed(&d.join("open/link")));
        // A sticky root others may add to (a shared drop directory).
        std::fs::create_dir(d.join("shut/drop")).expect("drop");
        chmod("shut/drop", 0o1773);
        assert!(
            sealed(&d.join("shut/drop")),
            "below the seal: no one else reaches it"
        );
        chmod("shut", 0o1777);
        assert!(!sealed(&d.join("shut/drop")), "no seal left on the way");
    }
}
