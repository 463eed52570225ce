//! Reading, as root, a file in a directory someone else may write (the
//! pid file; the logs `moltd -s upgrade` reads): the read-only side of
//! `open.rs`'s rules, so a link, FIFO or device planted there is neither
//! followed nor waited on.

use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use super::open::{MAX_LINKS, check_trusted};

/// Opens a file root only reads (the pid file, logs `-s upgrade` reads)
/// so that nothing planted there is followed or waited on: each link only
/// if trusted as a log's is, opened without blocking, a regular file.
pub fn open_to_read(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut path = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        let opened = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
            .open(&path);
        let f = match opened {
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                let parent = match path.parent() {
                    Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                    _ => PathBuf::from("."),
                };
                let dir = OwnedFd::from(File::open(&parent)?);
                check_trusted(&dir, &nix::sys::stat::lstat(&path)?, &path)?;
                path = parent.join(std::fs::read_link(&path)?);
                continue;
            }
            other => other?,
        };
        if !f.metadata()?.file_type().is_file() {
            return Err(io::Error::other("not a regular file"));
        }
        return Ok(f);
    }
    Err(io::Error::from_raw_os_error(libc::ELOOP))
}
