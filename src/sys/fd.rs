//! File-descriptor mechanics: close-on-exec, adopting an inherited fd,
//! closing what a child must not keep, stdio redirection, and a duplicate
//! that only waits for readability.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::fcntl::{FcntlArg, FdFlag, OFlag, fcntl};

/// Sets or clears FD_CLOEXEC on `fd`.
pub fn set_cloexec(fd: BorrowedFd<'_>, on: bool) -> nix::Result<()> {
    let mut flags = FdFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFD)?);
    flags.set(FdFlag::FD_CLOEXEC, on);
    fcntl(fd, FcntlArg::F_SETFD(flags)).map(drop)
}

/// Sets O_NONBLOCK on `fd`: an inherited listener may arrive blocking.
pub fn set_nonblocking(fd: BorrowedFd<'_>) -> nix::Result<()> {
    let mut flags = OFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFL)?);
    flags.insert(OFlag::O_NONBLOCK);
    fcntl(fd, FcntlArg::F_SETFL(flags)).map(drop)
}

/// Clears FD_CLOEXEC on a set of fds for the duration of an exec and sets it
/// again when dropped, so that only these fds cross into a new binary and
/// they do not leak into anything started later.
pub struct InheritGuard<'a> {
    fds: Vec<BorrowedFd<'a>>,
}

impl<'a> InheritGuard<'a> {
    /// Clears FD_CLOEXEC on every fd in `fds`; on failure restores the ones
    /// already cleared and names the fd that failed.
    pub fn new(fds: Vec<BorrowedFd<'a>>) -> Result<Self, (RawFd, nix::Error)> {
        let mut guard = InheritGuard { fds: Vec::new() };
        for fd in fds {
            set_cloexec(fd, false).map_err(|e| (fd.as_raw_fd(), e))?;
            guard.fds.push(fd);
        }
        Ok(guard)
    }
}

impl Drop for InheritGuard<'_> {
    fn drop(&mut self) {
        for fd in &self.fds {
            // Best effort: the fd is ours and open, so this cannot fail short
            // of EBADF, which would mean it is already gone.
            let _ = set_cloexec(*fd, true);
        }
    }
}

/// Why an inherited fd number was refused.
#[derive(Debug)]
pub enum AdoptError {
    /// 0, 1, 2 are stdio, never a listener handed over.
    Stdio,
    /// The number is not an open fd in this process.
    NotOpen(nix::Error),
}

/// An fd number handed over through the environment, checked to be open
/// but not yet owned: a number that turns out to be unsuitable (or that is
/// one of our own fds, like the error log) is left alone, not closed.
#[derive(Debug, Clone, Copy)]
pub struct Inherited(RawFd);

impl Inherited {
    /// Checks that `raw` is an open fd above stdio.
    pub fn probe(raw: RawFd) -> Result<Self, AdoptError> {
        if (0..=2).contains(&raw) {
            return Err(AdoptError::Stdio);
        }
        let me = Inherited(raw);
        fcntl(me.borrow(), FcntlArg::F_GETFD).map_err(AdoptError::NotOpen)?;
        Ok(me)
    }

    /// The fd, borrowed for inspection.
    pub fn borrow(&self) -> BorrowedFd<'_> {
        // SAFETY: the number was either just checked to be open (`probe`)
        // or is being checked by F_GETFD, which touches no memory and fails
        // with EBADF on a closed number. Nothing in this process closes an
        // fd it does not own, so it stays open while borrowed.
        unsafe { BorrowedFd::borrow_raw(self.0) }
    }

    /// Takes ownership, after the caller has accepted the fd. The caller
    /// takes each number once (the handover list is de-duplicated).
    pub fn adopt(self) -> OwnedFd {
        // SAFETY: the fd is open (probed), was handed over for this process
        // to own, and the handover parser yields each number once, so no
        // other owner exists.
        unsafe { OwnedFd::from_raw_fd(self.0) }
    }
}

/// Takes ownership of an fd number handed over through the environment.
pub fn adopt_inherited(raw: RawFd) -> Result<OwnedFd, AdoptError> {
    Inherited::probe(raw).map(Inherited::adopt)
}

/// Closes every fd above stderr except those in `keep`. A forked worker uses
/// it to drop everything that belongs to the master (its signalfd, the pipes
/// of other children), so a stray fd cannot tie two processes together.
pub fn close_all_except(keep: &[RawFd]) {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    let open: Vec<RawFd> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    for fd in open {
        if fd > 2 && !keep.contains(&fd) {
            // SAFETY: closing an fd number this process owns; nothing in the
            // forked child refers to these master-only fds (the caller
            // listed everything it keeps). EBADF for the read_dir handle,
            // already closed, is harmless.
            unsafe {
                libc::close(fd);
            }
        }
    }
}

/// Sets close-on-exec on every fd above stderr. The master runs it first
/// thing: an fd leaked by whatever launched it must not ride along into
/// every future binary (the listeners it hands over are the exception, and
/// the upgrade clears the flag on exactly those, for the exec).
pub fn cloexec_all() {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    let open: Vec<RawFd> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    for fd in open.into_iter().filter(|&fd| fd > 2) {
        if let Ok(inherited) = Inherited::probe(fd) {
            let _ = set_cloexec(inherited.borrow(), true);
        }
    }
}

/// Points stdin and stdout at /dev/null, as a daemon must.
pub fn stdio_to_devnull() -> std::io::Result<()> {
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    nix::unistd::dup2_stdin(null.as_fd())?;
    nix::unistd::dup2_stdout(null.as_fd())?;
    Ok(())
}

/// Points stderr at `fd` (the error log), so a panic message lands there.
pub fn stderr_to(fd: BorrowedFd<'_>) -> nix::Result<()> {
    nix::unistd::dup2_stderr(fd)
}

/// A duplicate of `fd`, registered with the current tokio runtime for
/// readability: a wait on it wakes when `fd` becomes readable, without
/// reading (a listening socket's duplicate wakes when a client arrives,
/// and the original's accept stays where it is).
pub fn readiness_dup(
    fd: std::os::fd::BorrowedFd<'_>,
) -> std::io::Result<tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>> {
    let dup = fd.try_clone_to_owned()?;
    // SAFETY: the OwnedFd owns its descriptor, which stays open until it is
    // dropped together with the AsyncFd, and its `as_raw_fd` always returns
    // that same descriptor.
    let registered = unsafe {
        tokio::io::unix::AsyncFd::register_with_interest(dup, tokio::io::Interest::READABLE)
    };
    registered.map_err(std::io::Error::from)
}
