//! A segment of shared memory holding atomic counters: a memfd mapped
//! `MAP_SHARED`. Forked workers share the mapping; a new binary gets the
//! fd and maps the same pages. The mapping is never unmapped: the counters
//! live as long as the process.

use std::num::NonZeroUsize;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::AtomicU64;

use nix::sys::memfd::{MFdFlags, memfd_create};
use nix::sys::mman::{MapFlags, ProtFlags, mmap};

/// A mapped segment of `u64` counters.
pub struct Segment {
    fd: OwnedFd,
    words: &'static [AtomicU64],
}

impl Segment {
    /// A fresh, zeroed segment of `words` counters.
    pub fn create(words: usize) -> std::io::Result<Self> {
        let fd = memfd_create(c"moltd-metrics", MFdFlags::MFD_CLOEXEC)?;
        nix::unistd::ftruncate(&fd, (words * 8) as i64)?;
        Self::map(fd, words)
    }

    /// Maps a segment handed over by another process; refused if it is not
    /// a memfd of at least `words` counters.
    pub fn adopt(fd: OwnedFd, words: usize) -> std::io::Result<Self> {
        let st = nix::sys::stat::fstat(&fd)?;
        let regular = st.st_mode & libc::S_IFMT == libc::S_IFREG;
        if !regular || (st.st_size as u64) < (words as u64) * 8 {
            return Err(std::io::Error::other(
                "not a counter segment of the expected size",
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
