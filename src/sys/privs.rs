//! Dropping privileges in a worker started by a root master.

use std::ffi::CString;

use nix::unistd::{Gid, Group, Uid, User};

/// Why a privilege drop failed; each variant names the step.
#[derive(Debug)]
pub enum PrivsError {
    /// No such user in the user database.
    UnknownUser(String),
    /// No such group in the group database.
    UnknownGroup(String),
    /// A system call of the drop failed.
    Call(&'static str, nix::Error),
}

impl std::fmt::Display for PrivsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PrivsError::UnknownUser(u) => write!(f, "getpwnam(\"{u}\") failed: no such user"),
            PrivsError::UnknownGroup(g) => write!(f, "getgrnam(\"{g}\") failed: no such group"),
            PrivsError::Call(call, e) => write!(f, "{call} failed ({}: {})", *e as i32, e.desc()),
        }
    }
}

/// True when this process runs as root and may therefore switch users.
pub fn is_root() -> bool {
    Uid::effective().is_root()
}

/// Looks `user` (and optionally `group`) up and returns their ids, so a bad
/// name fails at config-test time, not in a worker.
pub fn lookup(user: &str, group: Option<&str>) -> Result<(Uid, Gid), PrivsError> {
    let u = User::from_name(user)
        .ok()
        .flatten()
        .ok_or_else(|| PrivsError::UnknownUser(user.to_string()))?;
    let gid = match group {
        Some(g) => {
            Group::from_name(g)
                .ok()
                .flatten()
                .ok_or_else(|| PrivsError::UnknownGroup(g.to_string()))?
                .gid
        }
        None => u.gid,
    };
    Ok((u.uid, gid))
}

/// Switches this process to `user`/`group` for good: group first, then the
/// supplementary groups, then the user (after which no way back exists).
pub fn drop_to(user: &str, group: Option<&str>) -> Result<(), PrivsError> {
    let (uid, gid) = lookup(user, group)?;
    nix::unistd::setgid(gid).map_err(|e| PrivsError::Call("setgid()", e))?;
    let cname = CString::new(user).map_err(|_| PrivsError::UnknownUser(user.to_string()))?;
    nix::unistd::initgroups(&cname, gid).map_err(|e| PrivsError::Call("initgroups()", e))?;
    nix::unistd::setuid(uid).map_err(|e| PrivsError::Call("setuid()", e))?;
    Ok(())
}
