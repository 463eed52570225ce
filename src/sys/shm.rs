//! A segment of shared memory holding atomic counters: a memfd mapped
//! `MAP_SHARED`. Forked workers share the mapping; a new binary gets the
//! fd and maps the same pages. The mapping is never unmapped: the counters
//! live as long as the process.

use std::num::NonZeroUsize;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::AtomicU64;

use nix::fcntl::{FcntlArg, SealFlag, fcntl};
use nix::sys::memfd::{MFdFlags, memfd_create};
use nix::sys::mman::{MapFlags, ProtFlags, mmap};

/// The seals every segment carries.
const SEALS: SealFlag = SealFlag::F_SEAL_SHRINK
    .union(SealFlag::F_SEAL_GROW)
    .union(SealFlag::F_SEAL_SEAL);

/// A mapped segment of `u64` counters.
pub struct Segment {
    fd: OwnedFd,
    words: &'static [AtomicU64],
}

impl Segment {
    /// A fresh, zeroed segment of `words` counters; `name` shows in
    /// `/proc/PID/fd`.
    pub fn create(name: &std::ffi::CStr, words: usize) -> std::io::Result<Self> {
        let fd = memfd_create(name, MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING)?;
        nix::unistd::ftruncate(&fd, (words * 8) as i64)?;
        // Sealed at its size: no process can shrink it under a mapping
        // (SIGBUS), and an fd that carries these seals is one of ours, not
        // a log file or socket that happens to have the number.
        fcntl(&fd, FcntlArg::F_ADD_SEALS(SEALS))?;
        Self::map(fd, words)
    }

    /// True if `fd` is a segment of `words` counters: a memfd of exactly
    /// that size, sealed as [`Segment::create`] seals it. Looks only: an
    /// fd that is not one is left as it is.
    pub fn is_segment(fd: BorrowedFd<'_>, words: usize) -> bool {
        let sealed = fcntl(fd, FcntlArg::F_GET_SEALS)
            .is_ok_and(|s| SealFlag::from_bits_truncate(s).contains(SEALS));
        let sized = nix::sys::stat::fstat(fd).is_ok_and(|st| {
            st.st_mode & libc::S_IFMT == libc::S_IFREG && st.st_size as u64 == (words as u64) * 8
        });
        sealed && sized
    }

    /// Maps a segment handed over by another process (checked with
    /// [`Segment::is_segment`] first).
    pub fn adopt(fd: OwnedFd, words: usize) -> std::io::Result<Self> {
        if !Self::is_segment(fd.as_fd(), words) {
            return Err(std::io::Error::other(
                "not a sealed counter segment of the expected size",
            ));
        }
        Self::map(fd, words)
    }

    fn map(fd: OwnedFd, words: usize) -> std::io::Result<Self> {
        let len =
            NonZeroUsize::new(words * 8).ok_or_else(|| std::io::Error::other("empty segment"))?;
        // SAFETY: a new shared mapping of a file we hold; no existing memory
        // is affected, and the result is checked before use.
        let ptr = unsafe {
            mmap(
                None,
                len,
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_SHARED,
                &fd,
                0,
            )
        }?;
        // SAFETY: the mapping is page-aligned (enough for AtomicU64), `len`
        // bytes long (words * 8, checked against the file size), readable
        // and writable, and never unmapped, so it lives for 'static. Every
        // bit pattern is a valid u64, AtomicU64 has u64's layout, and the
        // other processes sharing it only touch it through atomics.
        let words = unsafe { std::slice::from_raw_parts(ptr.as_ptr().cast::<AtomicU64>(), words) };
        Ok(Segment { fd, words })
    }

    /// The counters.
    pub fn words(&self) -> &'static [AtomicU64] {
        self.words
    }

    /// The memfd, to hand to a new binary.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
