//! Reading a directory's entries with `getdents64(2)` into a caller's
//! buffer: a listing reads every entry of a directory on every request,
//! and `readdir` would allocate a `DIR` per directory (and nix a name per
//! entry), where one reused buffer holds them all.

use std::ffi::CStr;
use std::os::fd::{AsRawFd, BorrowedFd};

/// Bytes asked of each `getdents64` call: a few hundred entries at once.
const CHUNK: usize = 64 * 1024;

/// Room below which the buffer grows before the next call: more than the
/// largest record (a 255-byte name), which the kernel must fit whole.
const MIN_ROOM: usize = 4 * 1024;

/// Offsets inside a `linux_dirent64` record: `d_ino` (8 bytes), `d_off`
/// (8), `d_reclen` (2), `d_type` (1), then the NUL-terminated name.
const RECLEN_AT: usize = 16;
const TYPE_AT: usize = 18;
const NAME_AT: usize = 19;

/// Appends the raw records of every entry of the directory open as `fd`
/// (from its current position to the end) to `buf`.
pub fn read_all(fd: BorrowedFd<'_>, buf: &mut Vec<u8>) -> std::io::Result<()> {
    loop {
        if buf.capacity() - buf.len() < MIN_ROOM {
            buf.reserve(CHUNK);
        }
        let dst = buf.spare_capacity_mut();
        // SAFETY: `dst` is the allocated, unused tail of `buf`; the kernel
        // writes at most `dst.len()` bytes into it, and the fd is borrowed
        // for the call.
        let n = unsafe {
            libc::syscall(
                libc::SYS_getdents64,
                fd.as_raw_fd(),
                dst.as_mut_ptr(),
                dst.len(),
            )
        };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            return Ok(());
        }
        let n = (n as usize).min(dst.len());
        // SAFETY: the kernel initialised exactly the first `n` bytes of the
        // spare capacity, and `n <= dst.len()`.
        unsafe { buf.set_len(buf.len() + n) };
    }
}

/// One entry of a buffer filled by [`read_all`].
#[derive(Debug, Clone, Copy)]
pub struct Dirent<'a> {
    /// `d_type`: one of `libc::DT_*` (`DT_UNKNOWN` where the file system
    /// does not say).
    pub kind: u8,
    /// The name.
    pub name: &'a CStr,
    /// Where the name starts in the buffer, so a caller can keep entries
    /// as offsets rather than copies.
    pub at: usize,
}

/// The entries of a buffer filled by [`read_all`], in directory order. A
/// malformed record (which the kernel never writes) ends the walk.
pub fn entries(buf: &[u8]) -> impl Iterator<Item = Dirent<'_>> {
    let mut pos = 0;
    std::iter::from_fn(move || {
        let rec = buf.get(pos..)?;
        let reclen = u16::from_ne_bytes([*rec.get(RECLEN_AT)?, *rec.get(RECLEN_AT + 1)?]);
        let reclen = usize::from(reclen);
        let body = rec.get(NAME_AT..reclen)?;
        let name = CStr::from_bytes_until_nul(body).ok()?;
        let at = pos + NAME_AT;
        pos += reclen;
        Some(Dirent {
            kind: rec[TYPE_AT],
            name,
            at,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn reads_every_name_once() {
        let dir = std::env::temp_dir().join(format!("moltd-dirents-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).expect("mkdir");
        let mut want: Vec<String> = (0..3000).map(|i| format!("f-{i:05}")).collect();
        for n in &want {
            std::fs::write(dir.join(n), b"").expect("create");
        }
        std::fs::create_dir(dir.join("sub")).expect("mkdir sub");
        let f = std::fs::File::open(&dir).expect("open");
        let mut buf = Vec::new();
        read_all(f.as_fd(), &mut buf).expect("getdents");
        let mut got = Vec::new();
        for e in entries(&buf) {
            let name = e.name.to_str().expect("utf8").to_string();
            assert_eq!(&buf[e.at..e.at + name.len()], name.as_bytes());
            match name.as_str() {
                "." | ".." => {}
                "sub" => assert!(matches!(e.kind, libc::DT_DIR | libc::DT_UNKNOWN)),
                _ => {
                    assert!(matches!(e.kind, libc::DT_REG | libc::DT_UNKNOWN));
                    got.push(name);
                }
            }
        }
        got.sort();
        want.sort();
        assert_eq!(got, want);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
