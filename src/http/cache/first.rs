//! A miss that opens first: when nothing at all is cached for a path a
//! request is about to serve, the file is opened and its metadata taken
//! from the descriptor, instead of a stat of the path followed by an open
//! of it to read the body. One path walk instead of two, for a file that
//! was going to be opened anyway.
//!
//! What the open reads is kept under the rules of `bodies.rs`: a small
//! file's body only once it has settled and only if the descriptor still
//! describes, after the read, the version it described before it; a
//! larger file's descriptor only once settled and while there is room.
//!
//! Narrowed to where it pays and changes no answer:
//! - only for the target a request serves (not a precompressed sibling
//!   that may go unsent, which a stat alone decides);
//! - only with no entry for the path (an expired entry is most often
//!   still the same version, which one stat confirms);
//! - only while the cache has room for another descriptor (a large file
//!   opened here but not kept would be opened again to be sent);
//! - whatever the open cannot decide falls back to the stat: a path that
//!   exists but cannot be opened for reading (no read permission, a
//!   socket, a lease, out of descriptors) is stat'ed, so a directory
//!   without read permission is still a directory, and an unreadable file
//!   still a 403 from the open that serves it. A missing path (ENOENT,
//!   ENOTDIR) is the same error either way.

use std::io;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use super::{Entry, FileCache, Meta, key};
use crate::http::resolve::Target;

impl FileCache {
    /// The metadata of `t`, found by opening it, and its entry made with
    /// what the open read; `None` when the stat must decide instead (or
    /// an entry appeared meanwhile).
    pub(super) fn open_first(&self, t: &Target<'_>, now: Instant) -> Option<io::Result<Meta>> {
        let mut file = match t.open() {
            Ok(f) => f,
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => {
                return Some(Err(e));
            }
            Err(_) => return None,
        };
        let meta = Meta::from_std(&file.metadata().ok()?);
        let (mut body, mut open) = (None, None);
        if meta.is_file && meta.settled(SystemTime::now(), self.settle) {
            if meta.len > self.limits.max_file {
                open = Some(Arc::new(file));
            } else if meta.len <= self.limits.bytes {
                body = super::bodies::read_version(&mut file, &meta);
            }
        }
        let path = t.path();
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if inner.map.get(key(path)).is_some() {
            return None;
        }
        crate::metrics::count(crate::metrics::Counter::CacheMisses);
        let added = body.as_ref().map_or(0, |b| b.len() as u64);
        self.make_room(&mut inner, added, true);
        let open = open.filter(|_| inner.fds < self.fd_cap);
        inner.bytes += added;
        inner.fds += usize::from(open.is_some());
        let mut e = Entry::new(meta, t.policy(), now);
        e.body = body;
        e.file = open;
        inner.map.insert(key(path), e);
        Some(Ok(meta))
    }
}

#[cfg(test)]
mod tests {
    use std::fs::File;
    use std::io::ErrorKind;
    use std::path::Path;
    use std::time::Duration;

    use super::super::tests::{cache, check_counts, t};
    use super::super::{SETTLE, bodies};
    use crate::scratch::Scratch;

    const VALID: Duration = Duration::from_secs(60);

    fn held(c: &super::FileCache, p: &Path) -> (bool, bool) {
        let inner = c.inner.lock().expect("lock");
        let e = inner.map.get(super::key(p)).expect("entry");
        (e.body.is_some(), e.file.is_some())
    }

    #[test]
    fn a_miss_opens_first_and_keeps_what_it_read() {
        let dir = Scratch::new("cache-first", &[]);
        let c = cache(VALID);
        let small = dir.join("small");
        std::fs::write(&small, "abc").expect("write");
        let m = c.stat_to_serve(&t(&small)).expect("stat");
        assert!(m.is_file && m.len == 3);
        assert_eq!(held(&c, &small), (true, false));
        check_counts(&c);
        // The body comes from the entry: the file is gone, the bytes stay.
        std::fs::remove_file(&small).expect("rm");
        assert_eq!(c.body(&t(&small), &m).as_deref(), Some(&b"abc"[..]));
        // A file over max_file: its descriptor is kept instead.
        let big = dir.join("big");
        std::fs::write(&big, "b".repeat(600)).expect("write");
        let m = c.stat_to_serve(&t(&big)).expect("stat");
        assert_eq!(held(&c, &big), (false, true));
        let (f, opened) = c.open(&t(&big), &m).expect("open");
        assert_eq!(opened, m);
        assert_eq!(c.inner.lock().expect("lock").fds, 1);
        drop(f);
        // Through a symlink: the target's version and bytes.
        let link = dir.join("link");
        std::os::unix::fs::symlink("big", &link).expect("link");
        let ml = c.stat_to_serve(&t(&link)).expect("stat");
        assert_eq!(ml, m);
        check_counts(&c);
    }

    #[test]
    fn what_is_not_a_readable_file_is_found_as_a_stat_finds_it() {
        let dir = Scratch::new("cache-first-odd", &[]);
        let c = cache(VALID);
        let sub = dir.join("sub");
        std::fs::create_dir(&sub).expect("dir");
        let m = c.stat_to_serve(&t(&sub)).expect("stat");
        assert!(m.is_dir && !m.is_file);
        assert_eq!(held(&c, &sub), (false, false));
        // A FIFO is opened without waiting for a writer, never read.
        let fifo = dir.join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
        let m = c.stat_to_serve(&t(&fifo)).expect("stat");
        assert!(!m.is_file && !m.is_dir);
        assert_eq!(held(&c, &fifo), (false, false));
        // Missing: the stat's error, and no entry.
        let gone = dir.join("gone");
        let e = c.stat_to_serve(&t(&gone)).expect_err("missing");
        assert_eq!(e.kind(), ErrorKind::NotFound);
        let e = c
            .stat_to_serve(&t(&dir.join("fifo/x")))
            .expect_err("not a dir");
        assert_eq!(e.kind(), ErrorKind::NotADirectory);
        assert!(
            c.inner
                .lock()
                .expect("lock")
                .map
                .get(super::key(&gone))
                .is_none()
        );
        check_counts(&c);
    }

    #[test]
    fn only_a_settled_version_with_no_entry_is_read_on_the_miss() {
        let dir = Scratch::new("cache-first-fresh", &[]);
        let p = dir.join("fresh");
        std::fs::write(&p, "fresh").expect("write");
        // Written just now: found, not kept; the body is read fresh.
        let mut c = cache(VALID);
        c.settle = SETTLE;
        let m = c.stat_to_serve(&t(&p)).expect("stat");
        assert_eq!(held(&c, &p), (false, false));
        assert_eq!(c.body(&t(&p), &m).as_deref(), Some(&b"fresh"[..]));
        // With every stat checked (valid 0) the stat decides, as before.
        let c = cache(Duration::ZERO);
        c.stat_to_serve(&t(&p)).expect("stat");
        assert_eq!(held(&c, &p), (false, false));
    }

    #[test]
    fn bytes_read_are_kept_only_as_the_version_they_belong_to() {
        let dir = Scratch::new("cache-first-race", &[]);
        let p = dir.join("f");
        std::fs::write(&p, "one").expect("write");
        // Rewritten between the open (and its fstat) and the read.
        let mut f = File::open(&p).expect("open");
        let m = super::Meta::from_std(&f.metadata().expect("fstat"));
        std::fs::write(&p, "two!").expect("rewrite");
        assert_eq!(bodies::read_version(&mut f, &m), None);
        // Untouched between the fstat and the read: the bytes are its.
        let mut f = File::open(&p).expect("open");
        let m = super::Meta::from_std(&f.metadata().expect("fstat"));
        assert_eq!(
            bodies::read_version(&mut f, &m).as_deref(),
            Some(&b"two!"[..])
        );
    }
}
