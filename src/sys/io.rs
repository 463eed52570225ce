//! Reading from a socket or a file straight into the uninitialised tail of
//! a `BytesMut`, so no read pays for zeroing memory that the kernel
//! overwrites anyway.

use std::os::fd::{AsRawFd, BorrowedFd};

/// `recv(2)` into the spare capacity of `buf`, growing its length by the
/// bytes received. Returns that count (0 at end of stream).
pub fn recv_buf(fd: BorrowedFd<'_>, buf: &mut bytes::BytesMut) -> std::io::Result<usize> {
    let recv = |dst: &mut [std::mem::MaybeUninit<u8>]| {
        // SAFETY: `dst` is the allocated, unused tail of `buf`; recv writes
        // at most `dst.len()` bytes into it, and the fd is borrowed for the
        // call.
        unsafe { libc::recv(fd.as_raw_fd(), dst.as_mut_ptr().cast(), dst.len(), 0) }
    };
    // SAFETY: recv(2) initialises the first n bytes of `dst` when it
    // returns n >= 0.
    unsafe { fill_spare(buf, usize::MAX, recv) }
}

/// `pread(2)` of at most `max` bytes (and at most `buf`'s spare capacity)
/// from `file` at `offset`, growing `buf`'s length by the bytes read.
/// Returns that count (0 at end of file).
pub fn pread_buf(
    file: &std::fs::File,
    buf: &mut bytes::BytesMut,
    offset: u64,
    max: usize,
) -> std::io::Result<usize> {
    let offset = libc::off_t::try_from(offset)
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    let pread = |dst: &mut [std::mem::MaybeUninit<u8>]| {
        // SAFETY: `dst` is the allocated, unused tail of `buf`; pread writes
        // at most `dst.len()` bytes into it, and `file` is borrowed for the
        // call.
        unsafe { libc::pread(file.as_raw_fd(), dst.as_mut_ptr().cast(), dst.len(), offset) }
    };
    // SAFETY: pread(2) initialises the first n bytes of `dst` when it
    // returns n >= 0.
    unsafe { fill_spare(buf, max, pread) }
}

/// Lets `read` (a system call writing at most `dst.len()` bytes and
/// returning their count, or -1 with errno) fill up to `max` bytes of
/// `buf`'s spare capacity, retrying on EINTR, and counts the bytes it
/// wrote as part of `buf`: the one place that trusts the kernel's count.
///
/// # Safety
///
/// `read` must initialise the first `n` bytes of the slice it is given
/// when it returns `n >= 0` (a system call's count of bytes written).
unsafe fn fill_spare(
    buf: &mut bytes::BytesMut,
    max: usize,
    mut read: impl FnMut(&mut [std::mem::MaybeUninit<u8>]) -> isize,
) -> std::io::Result<usize> {
    let spare = buf.spare_capacity_mut();
    let room = spare.len().min(max);
    let dst = &mut spare[..room];
    let n = loop {
        let n = read(dst);
        if n >= 0 {
            break (n as usize).min(room);
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    };
    // SAFETY: `read` initialised the first `n` bytes of the spare capacity
    // (the caller's promise; never more than it was offered: `n <= room`).
    unsafe { buf.set_len(buf.len() + n) };
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pread_buf_reads_no_more_than_asked_whatever_the_capacity() {
        let path = std::env::temp_dir().join(format!("moltd-pread-{}", std::process::id()));
        std::fs::write(&path, (0..=255u8).collect::<Vec<u8>>()).expect("write");
        let file = std::fs::File::open(&path).expect("open");
        let mut buf = bytes::BytesMut::with_capacity(4096);
        assert_eq!(pread_buf(&file, &mut buf, 10, 5).expect("read"), 5);
        assert_eq!(&buf[..], &[10, 11, 12, 13, 14]);
        // Up to the end of the file, then 0.
        assert_eq!(pread_buf(&file, &mut buf, 250, 100).expect("read"), 6);
        assert_eq!(pread_buf(&file, &mut buf, 256, 100).expect("read"), 0);
        assert_eq!(buf.len(), 11);
        let _ = std::fs::remove_file(&path);
    }
}
