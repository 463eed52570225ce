//! The open-file cache (nginx's `open_file_cache` idea, done so that it
//! can never send stale bytes): file metadata, and the whole body of small
//! files, kept in memory per worker.
//!
//! - Every entry is keyed by path and remembers the identity of what it
//!   describes: device, inode, size, and modification and change times to
//!   the nanosecond. A body is only ever served together with the metadata
//!   it was read under, so headers and bytes always match.
//! - With `open_file_cache_valid = "0"` (the default) each request still
//!   stats the path (one syscall instead of nginx's open/fstat/read/close),
//!   so a change on disk is seen by the very next request. A longer
//!   validity skips even that stat, like nginx's `open_file_cache_valid`.
//! - Memory is bounded by `open_file_cache` entries and
//!   `open_file_cache_max_size` bytes; when either fills, entries not used
//!   in the last `open_file_cache_valid` (or all) are dropped.
//! - Timestamps can be coarse (whole seconds on ext2/3 with small inodes,
//!   FAT, many network and FUSE file systems): a file rewritten in place
//!   with the same size within one tick keeps its identity. So a body, or
//!   an open descriptor, is kept only once the file has settled: its mtime
//!   and ctime at least [`SETTLE`] in the past when it was read. A file
//!   still changing is read fresh on every request until it settles (the
//!   "racy timestamp" rule of version-control systems).
//! - Every lookup goes through [`Target`], so `disable_symlinks` is
//!   applied to the descriptor actually read, and an entry checked under a
//!   weaker policy is never trusted for a stricter one.

use std::collections::HashMap;
use std::fs::{File, Metadata};
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use hyper::header::HeaderValue;

use super::resolve::Target;

/// How long ago a file's mtime and ctime must be before its body or
/// descriptor is kept: above the coarsest timestamp granularity in common
/// use (1 s, and 2 s on FAT).
pub const SETTLE: Duration = Duration::from_secs(2);

/// What the cache knows about a path: enough to build every header and
/// to tell whether the file changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    /// A directory.
    pub is_dir: bool,
    /// A regular file.
    pub is_file: bool,
    /// Size in bytes.
    pub len: u64,
    /// Modification time.
    pub mtime: SystemTime,
    ino: u64,
    dev: u64,
    ctime_ns: i128,
}

impl Meta {
    /// The cache's view of `m`.
    pub fn from_std(m: &Metadata) -> Self {
        Meta {
            is_dir: m.is_dir(),
            is_file: m.is_file(),
            len: m.len(),
            mtime: m.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            ino: m.ino(),
            dev: m.dev(),
            ctime_ns: i128::from(m.ctime()) * 1_000_000_000 + i128::from(m.ctime_nsec()),
        }
    }

    /// True when both timestamps are at least [`SETTLE`] before `now`: a
    /// later change in place must then move one of them, even on a file
    /// system that keeps whole seconds.
    pub fn settled(&self, now: SystemTime, settle: Duration) -> bool {
        let ns = |t: SystemTime| match t.duration_since(SystemTime::UNIX_EPOCH) {
            Ok(d) => i128::try_from(d.as_nanos()).unwrap_or(i128::MAX),
            Err(e) => -i128::try_from(e.duration().as_nanos()).unwrap_or(i128::MAX),
        };
        let limit = ns(now) - i128::try_from(settle.as_nanos()).unwrap_or(i128::MAX);
        ns(self.mtime) <= limit && self.ctime_ns <= limit
    }
}

struct Entry {
    meta: Meta,
    /// How `meta` was found: `Target::policy` (symlinks followed, or kept
    /// under which root). A stat trusted within `open_file_cache_valid`
    /// must have been made under the same policy and root: one root's
    /// "inside" is another's "outside".
    policy: u64,
    checked: Instant,
    used: Instant,
    body: Option<Bytes>,
    rendered: Option<Rendered>,
    /// The open file, for a file too large to keep in memory: sent with
    /// sendfile, it need not be opened, stat'ed and closed per request.
    file: Option<Arc<File>>,
}

/// Header values that depend only on a file version, rendered once.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// `ETag`.
    pub etag: HeaderValue,
    /// `Last-Modified`.
    pub last_modified: HeaderValue,
    /// `Content-Type`.
    pub content_type: HeaderValue,
}

/// Limits of the cache.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most entries (0 disables the cache).
    pub entries: usize,
    /// Most body bytes held.
    pub bytes: u64,
    /// Largest file whose body is held.
    pub max_file: u64,
    /// How long a stat result is trusted.
    pub valid: Duration,
}

/// The map key for `path`.
fn key(path: &Path) -> &[u8] {
    path.as_os_str().as_encoded_bytes()
}

/// EMFILE or ENFILE: the process or the system is out of descriptors.
pub fn is_out_of_fds(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

/// One worker's cache.
pub struct FileCache {
    limits: Limits,
    /// Most open files kept: an eighth of the fd limit, so cached files
    /// never starve connections of descriptors.
    fd_cap: usize,
    /// [`SETTLE`]; zero in unit tests, which cannot age a ctime.
    settle: Duration,
    inner: Mutex<Inner>,
}

/// FNV-1a: keys are paths of files that exist (only a successful stat
/// inserts), so a client cannot choose colliding keys, and SipHash's
/// flood resistance would only cost time on every request.
#[derive(Default)]
struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

#[derive(Default)]
struct Inner {
    /// By the path's bytes: hashing a `Path` walks its components.
    map: HashMap<Box<[u8]>, Entry, std::hash::BuildHasherDefault<Fnv>>,
    bytes: u64,
    /// Rendered listings by directory, URI and format.
    listings: HashMap<Vec<u8>, Listing, std::hash::BuildHasherDefault<Fnv>>,
    listing_bytes: u64,
    /// Entries holding an open file.
    fds: usize,
}

/// An open file unused this long is closed (nginx's `open_file_cache
/// inactive=` default), so a replaced version nobody asks for again does
/// not keep its disk space.
const FILE_INACTIVE: Duration = Duration::from_secs(60);

/// A rendered directory listing, trusted for `open_file_cache_valid` as a
/// stat is: a listing shows every entry's size and date, so nothing short
/// of reading the directory again can revalidate it.
struct Listing {
    made: Instant,
    text: Bytes,
    content_type: &'static str,
}

impl std::fmt::Debug for FileCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileCache")
            .field("limits", &self.limits)
            .finish()
    }
}

impl FileCache {
    /// An empty cache.
    pub fn new(limits: Limits) -> Self {
        let nofile = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
            .map_or(1024, |(soft, _)| soft);
        FileCache {
            fd_cap: usize::try_from(nofile / 8)
                .unwrap_or(usize::MAX)
                .min(limits.entries),
            limits,
            settle: SETTLE,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Most descriptors the cache keeps open.
    pub fn fd_cap(&self) -> usize {
        self.fd_cap
    }

    /// Opens `t`; out of descriptors, closes every descriptor the cache
    /// keeps and tries once more, so a full fd table sheds cached files
    /// before a request fails. A failure for want of descriptors is logged
    /// at crit with the path (nginx's line), since requests then fail.
    fn open_file(&self, t: &Target<'_>) -> std::io::Result<File> {
        match t.open() {
            Err(e) if is_out_of_fds(&e) => {
                self.shed_descriptors();
                t.open().inspect_err(|e| {
                    if is_out_of_fds(e) {
                        crate::crit!(
                            "open() \"{}\" failed ({})",
                            t.path().display(),
                            crate::log::errno_text(e)
                        );
                    }
                })
            }
            other => other,
        }
    }

    /// Closes every descriptor the cache keeps.
    fn shed_descriptors(&self) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        for e in inner.map.values_mut() {
            e.file = None;
        }
        inner.fds = 0;
    }

    fn enabled(&self) -> bool {
        self.limits.entries > 0
    }

    /// The metadata of `t`: from the cache while it is valid, else from a
    /// stat (which also refreshes or invalidates the entry).
    pub fn stat(&self, t: &Target<'_>) -> std::io::Result<Meta> {
        if !self.enabled() {
            return t.stat().map(|m| Meta::from_std(&m));
        }
        let path = t.path();
        let now = Instant::now();
        if !self.limits.valid.is_zero() {
            let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(e) = inner.map.get_mut(key(path))
                && now.duration_since(e.checked) < self.limits.valid
                && e.policy == t.policy()
            {
                e.used = now;
                return Ok(e.meta);
            }
        }
        let meta = match t.stat() {
            Ok(m) => Meta::from_std(&m),
            Err(e) => {
                // Gone (or unreadable): let go of what we hold for it, so
                // a deleted file's disk space is freed.
                let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(old) = inner.map.remove(key(path)) {
                    inner.bytes -= old.body.map_or(0, |b| b.len() as u64);
                    inner.fds -= usize::from(old.file.is_some());
                }
                return Err(e);
            }
        };
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        match inner.map.get_mut(key(path)) {
            Some(e) if e.meta == meta => {
                e.checked = now;
                e.used = now;
                e.policy = t.policy();
            }
            Some(e) => {
                let freed = e.body.take().map_or(0, |b| b.len() as u64);
                let closed = e.file.take().is_some();
                e.rendered = None;
                e.meta = meta;
                e.policy = t.policy();
                e.checked = now;
                e.used = now;
                inner.bytes -= freed;
                inner.fds -= usize::from(closed);
            }
            None => {
                self.make_room(&mut inner, 0, now);
                inner.map.insert(
                    key(path).into(),
                    Entry {
                        meta,
                        policy: t.policy(),
                        checked: now,
                        used: now,
                        body: None,
                        rendered: None,
                        file: None,
                    },
                );
            }
        }
        Ok(meta)
    }

    /// The whole body of the small file `t` as `meta` describes it, if it
    /// is cached or can be read; `None` for large files or when the file
    /// changed under us (the caller then streams it). A body read from a
    /// file that has not settled is served but not kept.
    pub fn body(&self, t: &Target<'_>, meta: &Meta) -> Option<Bytes> {
        if !self.enabled() || !meta.is_file || meta.len > self.limits.max_file {
            return None;
        }
        let path = t.path();
        {
            let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(e) = inner.map.get_mut(key(path))
                && e.meta == *meta
                && let Some(b) = &e.body
            {
                return Some(b.clone());
            }
        }
        let mut f = self.open_file(t).ok()?;
        let before = Meta::from_std(&f.metadata().ok()?);
        if before != *meta {
            return None;
        }
        let mut buf = Vec::with_capacity(meta.len as usize);
        f.read_to_end(&mut buf).ok()?;
        let after = Meta::from_std(&f.metadata().ok()?);
        if after != *meta || buf.len() as u64 != meta.len {
            return None;
        }
        let bytes = Bytes::from(buf);
        if !meta.settled(SystemTime::now(), self.settle) {
            return Some(bytes);
        }
        let now = Instant::now();
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        self.make_room(&mut inner, bytes.len() as u64, now);
        let added = bytes.len() as u64;
        match inner.map.get_mut(key(path)) {
            Some(e) if e.meta == *meta => {
                let old = e.body.replace(bytes.clone()).map_or(0, |b| b.len() as u64);
                inner.bytes = inner.bytes - old + added;
            }
            Some(_) => return Some(bytes),
            None => {
                inner.map.insert(
                    key(path).into(),
                    Entry {
                        meta: *meta,
                        policy: t.policy(),
                        checked: now,
                        used: now,
                        body: Some(bytes.clone()),
                        rendered: None,
                        file: None,
                    },
                );
                inner.bytes += added;
            }
        }
        Some(bytes)
    }

    /// `t` opened, and the metadata of the open file: the entry's open
    /// file while it is the version `meta` describes (nginx's
    /// open_file_cache keeps descriptors the same way), else a fresh open,
    /// kept if it is that version, has settled, and there is room.
    pub fn open(&self, t: &Target<'_>, meta: &Meta) -> std::io::Result<(Arc<File>, Meta)> {
        let path = t.path();
        let caching = self.enabled() && self.fd_cap > 0;
        if caching {
            let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(e) = inner.map.get(key(path))
                && e.meta == *meta
                && let Some(f) = &e.file
            {
                return Ok((Arc::clone(f), e.meta));
            }
        }
        let file = Arc::new(self.open_file(t)?);
        let opened = Meta::from_std(&file.metadata()?);
        if caching && opened == *meta && opened.settled(SystemTime::now(), self.settle) {
            let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            let room = inner.fds < self.fd_cap;
            if let Some(e) = inner.map.get_mut(key(path))
                && room
                && e.meta == opened
                && e.file.is_none()
            {
                e.file = Some(Arc::clone(&file));
                inner.fds += 1;
            }
        }
        Ok((file, opened))
    }

    /// The header values of `path` at version `meta`: cached with the
    /// entry, else made by `make` (and kept if the entry still matches).
    pub fn rendered(&self, path: &Path, meta: &Meta, make: impl FnOnce() -> Rendered) -> Rendered {
        if !self.enabled() {
            return make();
        }
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        match inner.map.get_mut(key(path)) {
            Some(e) if e.meta == *meta => match &e.rendered {
                Some(r) => r.clone(),
                None => {
                    let r = make();
                    e.rendered = Some(r.clone());
                    r
                }
            },
            _ => make(),
        }
    }

    /// The listing of `dir` (under its lookup policy) for `uri` in `format`: the one rendered within
    /// the last `open_file_cache_valid`, else `make`'s (kept for that long).
    /// With the default `open_file_cache_valid = "0"` every request reads
    /// the directory.
    pub fn listing(
        &self,
        dir: &Target<'_>,
        uri: &str,
        format: u8,
        make: impl FnOnce() -> std::io::Result<(String, &'static str)>,
    ) -> std::io::Result<(Bytes, &'static str)> {
        if !self.enabled() || self.limits.valid.is_zero() {
            let (text, content_type) = make()?;
            return Ok((Bytes::from(text), content_type));
        }
        // What a listing shows depends on the lookup policy too (links a
        // stricter one hides).
        let mut key = dir.path().as_os_str().as_encoded_bytes().to_vec();
        key.push(0);
        key.extend_from_slice(uri.as_bytes());
        key.push(0);
        key.push(format);
        key.extend_from_slice(&dir.policy().to_le_bytes());
        let now = Instant::now();
        {
            let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(l) = inner.listings.get(&key)
                && now.duration_since(l.made) < self.limits.valid
            {
                return Ok((l.text.clone(), l.content_type));
            }
        }
        let (text, content_type) = make()?;
        let text = Bytes::from(text);
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let len = text.len() as u64;
        if inner.listings.len() >= self.limits.entries
            || inner.listing_bytes + len > self.limits.bytes
        {
            inner.listings.clear();
            inner.listing_bytes = 0;
        }
        if len <= self.limits.bytes {
            let listing = Listing {
                made: now,
                text: text.clone(),
                content_type,
            };
            if let Some(old) = inner.listings.insert(key, listing) {
                inner.listing_bytes -= old.text.len() as u64;
            }
            inner.listing_bytes += len;
        }
        Ok((text, content_type))
    }

    /// Closes the open files of entries unused for [`FILE_INACTIVE`], and
    /// of files deleted since they were opened (a deleted file's space is
    /// only freed once its last descriptor closes). The worker calls it on
    /// a timer, so an idle worker lets go too.
    pub fn sweep(&self) {
        let now = Instant::now();
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if inner.fds == 0 {
            return;
        }
        let mut closed = 0;
        for e in inner.map.values_mut() {
            let Some(f) = &e.file else { continue };
            let idle = now.duration_since(e.used) >= FILE_INACTIVE;
            let deleted = f.metadata().is_ok_and(|m| m.nlink() == 0);
            if idle || deleted {
                e.file = None;
                closed += 1;
            }
        }
        inner.fds -= closed;
    }

    /// Drops entries until one more entry with `extra` body bytes fits:
    /// first those unused for a while, then everything.
    fn make_room(&self, inner: &mut Inner, extra: u64, now: Instant) {
        let full = |i: &Inner| {
            i.map.len() + 1 > self.limits.entries || i.bytes + extra > self.limits.bytes
        };
        if !full(inner) {
            return;
        }
        let idle = self.limits.valid.max(Duration::from_secs(1));
        inner.map.retain(|_, e| now.duration_since(e.used) < idle);
        inner.bytes = inner
            .map
            .values()
            .map(|e| e.body.as_ref().map_or(0, |b| b.len() as u64))
            .sum();
        inner.fds = inner.map.values().filter(|e| e.file.is_some()).count();
        if full(inner) {
            inner.map.clear();
            inner.bytes = 0;
            inner.fds = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(valid: Duration) -> FileCache {
        let mut c = FileCache::new(Limits {
            entries: 4,
            bytes: 1024,
            max_file: 512,
            valid,
        });
        c.settle = Duration::ZERO;
        c
    }

    fn t(p: &Path) -> Target<'static> {
        Target::new(Path::new("/"), p.strip_prefix("/").unwrap_or(p), false)
    }

    #[test]
    fn a_file_that_has_not_settled_is_read_fresh_and_not_kept() {
        let dir = std::env::temp_dir().join(format!("moltd-cache-s-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let p = dir.join("fresh.txt");
        std::fs::write(&p, "fresh").expect("write");
        let mut c = cache(Duration::ZERO);
        c.settle = SETTLE;
        let m = c.stat(&t(&p)).expect("stat");
        assert_eq!(c.body(&t(&p), &m).as_deref(), Some(&b"fresh"[..]));
        let (_f, _) = c.open(&t(&p), &m).expect("open");
        {
            let inner = c.inner.lock().expect("lock");
            assert_eq!(inner.bytes, 0, "no body kept for a file written just now");
            assert_eq!(inner.fds, 0, "no descriptor kept either");
        }
        // Once both timestamps are old enough, it is kept.
        let now = SystemTime::now();
        assert!(!m.settled(now, SETTLE));
        assert!(m.settled(now + SETTLE, SETTLE));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_changed_file_is_never_served_stale() {
        let dir = std::env::temp_dir().join(format!("moltd-cache-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let p = dir.join("f.txt");
        std::fs::write(&p, "one").expect("write");
        let c = cache(Duration::ZERO);
        let m = c.stat(&t(&p)).expect("stat");
        assert_eq!(c.body(&t(&p), &m).as_deref(), Some(&b"one"[..]));
        // Same size, new content, written in place.
        std::fs::write(&p, "two").expect("rewrite");
        let m2 = c.stat(&t(&p)).expect("stat");
        assert_eq!(c.body(&t(&p), &m2).as_deref(), Some(&b"two"[..]));
        // Replaced by rename: new inode.
        std::fs::write(dir.join("g.tmp"), "three").expect("write");
        std::fs::rename(dir.join("g.tmp"), &p).expect("rename");
        let m3 = c.stat(&t(&p)).expect("stat");
        assert_eq!(c.body(&t(&p), &m3).as_deref(), Some(&b"three"[..]));
        // A stale meta never gets a body.
        assert_eq!(c.body(&t(&p), &m2), None);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn bounded() {
        let dir = std::env::temp_dir().join(format!("moltd-cache-b-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let c = cache(Duration::ZERO);
        for i in 0..20 {
            let p = dir.join(format!("{i}"));
            std::fs::write(&p, vec![b'x'; 400]).expect("write");
            let m = c.stat(&t(&p)).expect("stat");
            assert!(c.body(&t(&p), &m).is_some());
            let inner = c.inner.lock().expect("lock");
            assert!(inner.map.len() <= 4 && inner.bytes <= 1024);
        }
        let big = dir.join("big");
        std::fs::write(&big, vec![b'x'; 600]).expect("write");
        let m = c.stat(&t(&big)).expect("stat");
        assert_eq!(c.body(&t(&big), &m), None, "over max_file: streamed");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_large_file_is_opened_once_per_version_and_never_stale() {
        use std::io::Read as _;
        let dir = std::env::temp_dir().join(format!("moltd-cache-o-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let p = dir.join("big");
        let read = |f: &File| {
            let mut s = String::new();
            (&*f).read_to_string(&mut s).expect("read");
            s
        };
        std::fs::write(&p, "a".repeat(600)).expect("write");
        let c = cache(Duration::ZERO);
        let m = c.stat(&t(&p)).expect("stat");
        let (f1, m1) = c.open(&t(&p), &m).expect("open");
        let (f2, _) = c.open(&t(&p), &m).expect("open again");
        assert_eq!(m1, m);
        assert!(Arc::ptr_eq(&f1, &f2), "the same open file, not a new open");
        // Replaced by rename: the next stat sees the new inode, and the
        // open file of the old one is let go.
        std::fs::write(dir.join("big.tmp"), "b".repeat(700)).expect("write");
        std::fs::rename(dir.join("big.tmp"), &p).expect("rename");
        let m3 = c.stat(&t(&p)).expect("stat");
        let (f3, m3o) = c.open(&t(&p), &m3).expect("open new");
        assert!(!Arc::ptr_eq(&f1, &f3));
        assert_eq!(m3o.len, 700);
        assert_eq!(read(&f3), "b".repeat(700));
        assert_eq!(c.inner.lock().expect("lock").fds, 1);
        // A stale meta never gets the cached file.
        let (f4, m4) = c.open(&t(&p), &m).expect("open with stale meta");
        assert!(!Arc::ptr_eq(&f3, &f4));
        assert_ne!(m4, m, "the caller sees the file's real metadata");
        // Deleted while nobody asks for it: the timer's sweep lets go.
        std::fs::write(dir.join("big2"), "c".repeat(600)).expect("write");
        let m5 = c.stat(&t(&dir.join("big2"))).expect("stat");
        let _ = c.open(&t(&dir.join("big2")), &m5).expect("open");
        assert_eq!(c.inner.lock().expect("lock").fds, 2);
        std::fs::remove_file(dir.join("big2")).expect("rm");
        c.sweep();
        assert_eq!(
            c.inner.lock().expect("lock").fds,
            1,
            "only the deleted one closed"
        );
        // Deleted: the next stat fails and the open file is let go.
        std::fs::remove_file(&p).expect("rm");
        assert!(c.stat(&t(&p)).is_err());
        assert_eq!(c.inner.lock().expect("lock").fds, 0);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
