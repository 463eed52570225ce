//! Opening log files safely from a root process, in a directory that a
//! less privileged user (the workers' user, a deploy account) may be able
//! to write.
//!
//! The classic attack (CVE-2016-1247 and its kind): replace `access.log`
//! with a symlink to a root-only file, or a hard link to one, and wait for
//! root to reopen and `chown` the log. So:
//!
//! - the last component is opened with `O_NOFOLLOW`; a symlink there is
//!   followed only when it is owned by root or by this process's user,
//!   which an attacker cannot arrange (so `/dev/stdout`, or a link an
//!   operator made as root, still work);
//! - a regular file with more than one link is refused: a log is never a
//!   second name of another file;
//! - ownership is handed to the workers' user with `fchown` on the
//!   descriptor just opened, never with `chown` on the path;
//! - the open never blocks (a FIFO planted as the log has no reader), and
//!   what is opened is then used blocking, as a log is.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::sys::stat::Mode;
use nix::unistd::{Gid, Uid};

use crate::config::Config;

/// Most symlinks followed to reach one log.
const MAX_LINKS: usize = 8;

/// Opens a log file for appending (creating it, and its directory, mode
/// 0644). O_APPEND makes every write land whole at the end, so processes
/// sharing the file never interleave within a line.
pub fn open_append(path: &Path) -> io::Result<File> {
    super::ensure_parent(path)?;
    let file = open_following_trusted(path.to_path_buf(), 0)?;
    let st = nix::sys::stat::fstat(file.as_fd())?;
    if st.st_mode & libc::S_IFMT == libc::S_IFREG && st.st_nlink > 1 {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "it has {} hard links; a log file must have exactly one",
                st.st_nlink
            ),
        ));
    }
    let flags = OFlag::from_bits_truncate(fcntl(file.as_fd(), FcntlArg::F_GETFL)?);
    fcntl(file.as_fd(), FcntlArg::F_SETFL(flags - OFlag::O_NONBLOCK))?;
    Ok(file)
}

fn open_following_trusted(path: PathBuf, links: usize) -> io::Result<File> {
    let flags = OFlag::O_WRONLY
        | OFlag::O_APPEND
        | OFlag::O_CREAT
        | OFlag::O_NOFOLLOW
        | OFlag::O_NONBLOCK
        | OFlag::O_CLOEXEC;
    match nix::fcntl::open(&path, flags, Mode::from_bits_truncate(0o644)) {
        Ok(fd) => Ok(File::from(fd)),
        Err(Errno::ELOOP) => {
            let target = trusted_link_target(&path)?;
            if links >= MAX_LINKS {
                return Err(Errno::ELOOP.into());
            }
            // procfs links (/dev/stdout -> /proc/self/fd/1 -> pipe:[..])
            // name objects, not paths, and nobody but the kernel makes
            // them: let the kernel follow those.
            if target.starts_with("/proc/") {
                let fd: OwnedFd = nix::fcntl::open(
                    &target,
                    OFlag::O_WRONLY | OFlag::O_APPEND | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )?;
                return Ok(File::from(fd));
            }
            open_following_trusted(target, links + 1)
        }
        Err(e) => Err(e.into()),
    }
}

/// The target of the symlink at `path`, if its owner is root or us;
/// relative targets are resolved against the link's directory.
fn trusted_link_target(path: &Path) -> io::Result<PathBuf> {
    let link = nix::fcntl::open(
        path,
        OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    let st = nix::sys::stat::fstat(link.as_fd())?;
    if st.st_mode & libc::S_IFMT != libc::S_IFLNK {
        // Swapped while we looked: let the caller see the loop error.
        return Err(Errno::ELOOP.into());
    }
    if st.st_uid != 0 && st.st_uid != Uid::effective().as_raw() {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "it is a symlink owned by uid {}, which is neither root nor this process's user; not followed",
                st.st_uid
            ),
        ));
    }
    let target = PathBuf::from(nix::fcntl::readlinkat(&link, "")?);
    Ok(match path.parent() {
        Some(dir) if target.is_relative() => dir.join(target),
        _ => target,
    })
}

/// The workers' user and group, when the master runs as root with `user`:
/// the owner a log must have for a worker to reopen it after a rotation.
pub fn workers_owner(config: &Config) -> Option<(Uid, Gid)> {
    let (user, group) = config.user.as_ref()?;
    if !crate::sys::privs::is_root() {
        return None;
    }
    crate::sys::privs::lookup(user, group.as_deref()).ok()
}

/// Gives the log just opened to `owner` (see [`workers_owner`]), through
/// its descriptor, so no path lookup can redirect the change. Only regular
/// files: a device or pipe (`/dev/stdout`) keeps its owner.
pub fn give_to(file: &File, path: &Path, owner: Option<(Uid, Gid)>) {
    let Some((uid, gid)) = owner else { return };
    let Ok(st) = nix::sys::stat::fstat(file.as_fd()) else {
        return;
    };
    if st.st_mode & libc::S_IFMT != libc::S_IFREG || st.st_uid == uid.as_raw() {
        return;
    }
    if let Err(e) = nix::unistd::fchown(file.as_fd(), Some(uid), Some(gid)) {
        crate::alert!("fchown() of \"{}\" to {uid} failed ({e})", path.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn hard_links_are_refused_and_our_own_symlinks_followed() {
        let dir = std::env::temp_dir().join(format!("moltd-logopen-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let real = dir.join("real.log");
        let mut f = open_append(&real).expect("create");
        f.write_all(b"one\n").expect("write");
        // A link made by this process's user is followed.
        std::os::unix::fs::symlink("real.log", dir.join("via-link.log")).expect("link");
        let mut g = open_append(&dir.join("via-link.log")).expect("own link followed");
        g.write_all(b"two\n").expect("write");
        assert_eq!(std::fs::read_to_string(&real).expect("read"), "one\ntwo\n");
        // A second name of the file is refused.
        std::fs::hard_link(&real, dir.join("hard.log")).expect("hard link");
        let e = open_append(&dir.join("hard.log")).expect_err("refused");
        assert!(e.to_string().contains("hard links"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
