//! Reading a directory for its listing: every entry's name, kind, size
//! and date, into buffers reused from one listing to the next (the names
//! stay where `getdents64` put them; an entry refers to its name by
//! offset), sorted directories first, then by name.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::ffi::CStr;
use std::os::fd::{AsFd, OwnedFd};

use nix::fcntl::AtFlags;
use nix::sys::stat::{FileStat, fstatat};

use crate::http::resolve::{self, Target};
use crate::sys::dirents;

/// One listed entry.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    /// Where the name starts in [`Scan::names`], and its length.
    at: u32,
    len: u32,
    /// The name is valid UTF-8 (it is shown as it is, and compares by
    /// bytes); otherwise it is shown and sorted as its lossy conversion.
    pub utf8: bool,
    /// A directory (followed through symlinks, as nginx stats entries).
    pub dir: bool,
    /// Size in bytes (files).
    pub size: u64,
    /// Modification time, seconds since the epoch (0 for earlier times).
    pub mtime: u64,
    /// Position in directory order: entries whose shown names are equal
    /// keep that order.
    order: u32,
    /// The shown name's first 8 bytes, big-endian and zero-padded: two
    /// names mostly compare on this alone (a name holds no NUL, so the
    /// padding sorts a prefix first, as the bytes do).
    key: u64,
}

/// A directory's entries and the buffer their names live in, kept by the
/// worker so listing a directory allocates nothing per entry.
#[derive(Default)]
pub struct Scan {
    names: Vec<u8>,
    entries: Vec<Entry>,
}

/// Buffers larger than this (a directory of tens of thousands of entries)
/// are let go after the listing rather than kept for the next one.
const KEEP_BYTES: usize = 1 << 20;

impl Scan {
    /// Reads `dir`, skipping dot files, sorted directories first, then by
    /// name.
    ///
    /// Entries are stat'ed relative to the open directory. A symlink is
    /// shown with its target's size and date (as nginx does) only if a
    /// request for it would be served: under `disable_symlinks`, one whose
    /// target leaves the root is left out, so the listing never shows what
    /// the policy hides. A dangling link is left out too.
    pub fn read(&mut self, dir: &Target<'_>) -> std::io::Result<()> {
        self.names.clear();
        self.entries.clear();
        let fd = dir.open_dir()?;
        dirents::read_all(fd.as_fd(), &mut self.names)?;
        for (order, e) in dirents::entries(&self.names).enumerate() {
            let raw = e.name.to_bytes();
            if raw.first() == Some(&b'.') {
                continue;
            }
            let Some(st) = stat(dir, &fd, e.kind, e.name) else {
                continue;
            };
            let (Ok(at), Ok(len), Ok(order)) = (
                u32::try_from(e.at),
                u32::try_from(raw.len()),
                u32::try_from(order),
            ) else {
                continue;
            };
            let shown = shown(raw);
            self.entries.push(Entry {
                at,
                len,
                utf8: matches!(shown, Cow::Borrowed(_)),
                dir: st.st_mode & libc::S_IFMT == libc::S_IFDIR,
                size: u64::try_from(st.st_size).unwrap_or(0),
                mtime: u64::try_from(st.st_mtime).unwrap_or(0),
                order,
                key: prefix_key(&shown),
            });
        }
        let names = &self.names;
        self.entries.sort_unstable_by(|a, b| {
            b.dir
                .cmp(&a.dir)
                .then(a.key.cmp(&b.key))
                .then_with(|| by_name(names, a, b))
                .then(a.order.cmp(&b.order))
        });
        Ok(())
    }

    /// The entries, in listing order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The name of `e` as stored.
    pub fn raw(&self, e: &Entry) -> &[u8] {
        raw(&self.names, e)
    }

    /// The name of `e` as shown (lossy UTF-8 for a non-UTF-8 name).
    pub fn name(&self, e: &Entry) -> Cow<'_, str> {
        shown(self.raw(e))
    }

    /// Lets go of buffers a huge directory grew.
    pub fn trim(&mut self) {
        if self.names.capacity() > KEEP_BYTES {
            self.names = Vec::new();
        }
        if self.entries.capacity() * std::mem::size_of::<Entry>() > KEEP_BYTES {
            self.entries = Vec::new();
        }
    }
}

fn raw<'a>(names: &'a [u8], e: &Entry) -> &'a [u8] {
    let at = e.at as usize;
    names.get(at..at + e.len as usize).unwrap_or_default()
}

/// Names compare as shown: by bytes when both are UTF-8, else by their
/// lossy conversions.
fn by_name(names: &[u8], a: &Entry, b: &Entry) -> Ordering {
    let (x, y) = (raw(names, a), raw(names, b));
    if a.utf8 && b.utf8 {
        return x.cmp(y);
    }
    shown(x).cmp(&shown(y))
}

/// A name as shown: lossy UTF-8, checked the quick way first since
/// almost every name is UTF-8.
fn shown(raw: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(raw) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(raw),
    }
}

fn prefix_key(name: &str) -> u64 {
    let name = name.as_bytes();
    let mut k = [0u8; 8];
    let n = name.len().min(8);
    k[..n].copy_from_slice(&name[..n]);
    u64::from_be_bytes(k)
}

/// The metadata an entry is listed with, if it is listed: `kind` is its
/// `d_type`, which decides whether it must be looked at as a symlink.
fn stat(dir: &Target<'_>, fd: &OwnedFd, kind: u8, name: &CStr) -> Option<FileStat> {
    match kind {
        libc::DT_LNK => linked(dir, fd, name),
        libc::DT_FIFO
        | libc::DT_CHR
        | libc::DT_DIR
        | libc::DT_BLK
        | libc::DT_REG
        | libc::DT_SOCK => fstatat(fd, name, AtFlags::AT_SYMLINK_NOFOLLOW).ok(),
        // The file system did not say: look, and follow a symlink as above.
        _ => match fstatat(fd, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFLNK => linked(dir, fd, name),
            other => other.ok(),
        },
    }
}

/// What the symlink `name` in `dir` leads to, if a request may follow it.
fn linked(dir: &Target<'_>, dir_fd: &OwnedFd, name: &CStr) -> Option<FileStat> {
    if dir.beneath() {
        let t = dir.join(resolve::entry_name(name.to_bytes()));
        let fd = t.open_path().ok()?;
        return nix::sys::stat::fstat(&fd).ok();
    }
    fstatat(dir_fd, name, AtFlags::empty()).ok()
}
