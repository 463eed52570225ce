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
//!   `open_file_cache_max_size` bytes; when either fills, entries are
//!   given up one at a time by CLOCK (`clock.rs`), so the files in use
//!   stay even when the files asked for outnumber the entries.
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
//!
//! Here: the entries and their lookup (`stat`, rendered headers); the
//! settle rule in `meta.rs`; bodies and descriptors in `bodies.rs`; a
//! miss that opens the file first in `first.rs`;
//! bounds, sweeping and fd shedding in `sweep.rs`, the replacement
//! policy in `clock.rs`; listings in `listing.rs`; compressed forms in
//! `encoded.rs`; whole response heads in `heads.rs`.

mod bodies;
mod clock;
mod encoded;
mod first;
mod heads;
mod listing;
mod meta;
mod pack;
mod sweep;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::header::HeaderValue;

use super::resolve::Target;
use clock::Clock;
pub use encoded::Encoded;
use heads::Heads;
pub use heads::{Cached, Head, HeadKey};
use listing::Listing;
pub use meta::{Meta, SETTLE};
pub use sweep::is_out_of_fds;

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
    /// The header values, and the settings they were made under (the
    /// type depends on `types`, `default_type` and `charset`, which two
    /// locations or servers serving one file may set differently).
    rendered: Option<(usize, Rendered)>,
    /// The open file, for a file too large to keep in memory: sent with
    /// sendfile, it need not be opened, stat'ed and closed per request.
    file: Option<Arc<File>>,
    /// Compressed forms of this version (`encoded.rs`).
    encoded: Vec<Encoded>,
    /// Whole response heads of this version (`heads.rs`).
    heads: Heads,
}

impl Entry {
    /// An entry for `meta`, found under `policy` at `now`, holding nothing
    /// else yet.
    fn new(meta: Meta, policy: u64, now: Instant) -> Self {
        Entry {
            meta,
            policy,
            checked: now,
            used: now,
            body: None,
            rendered: None,
            file: None,
            encoded: Vec::new(),
            heads: Heads::default(),
        }
    }
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

/// A multiply-rotate hash taking eight bytes a step (a request looks its
/// path up several times; byte-at-a-time FNV cost ~4 cycles a byte).
/// Keys are paths of files that exist (only a successful stat inserts),
/// so a client cannot choose colliding keys, and SipHash's flood
/// resistance would only cost time on every request.
#[derive(Default)]
struct PathHash(u64);

impl PathHash {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;

    fn mix(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(23) ^ word).wrapping_mul(Self::K);
    }
}

impl std::hash::Hasher for PathHash {
    fn finish(&self) -> u64 {
        // The table indexes by the low bits: fold the high ones in.
        let h = self.0;
        (h ^ (h >> 29)).wrapping_mul(Self::K) ^ (h >> 32)
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0; 8];
            w.copy_from_slice(c);
            self.mix(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0; 8];
            w[..rest.len()].copy_from_slice(rest);
            // The length tells "ab" from "ab\0".
            self.mix(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 59));
        }
    }

    fn write_usize(&mut self, n: usize) {
        self.mix(n as u64);
    }
}

#[derive(Default)]
struct Inner {
    /// By the path's bytes: hashing a `Path` walks its components.
    map: Clock<Entry>,
    bytes: u64,
    /// Rendered listings by directory, URI and format.
    listings: HashMap<Vec<u8>, Listing, std::hash::BuildHasherDefault<PathHash>>,
    listing_bytes: u64,
    /// Entries holding an open file.
    fds: usize,
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

    /// Keeps bodies however recently their file changed: a test cannot
    /// age a ctime.
    #[cfg(test)]
    pub fn settle_at_once(&mut self) {
        self.settle = Duration::ZERO;
    }

    /// Most descriptors the cache keeps open.
    pub fn fd_cap(&self) -> usize {
        self.fd_cap
    }

    /// Whether the cache keeps anything at all (`open_file_cache` on).
    pub fn enabled(&self) -> bool {
        self.limits.entries > 0
    }

    /// The metadata of `t`: from the cache while it is valid, else from a
    /// stat (which also refreshes or invalidates the entry).
    pub fn stat(&self, t: &Target<'_>) -> std::io::Result<Meta> {
        self.stat_then(t, false, |_| Some(())).map(|(m, _)| m)
    }

    /// [`Self::stat`] of a target about to be served: a path with no entry
    /// at all is opened first, and what that reads is kept (`first.rs`).
    pub fn stat_to_serve(&self, t: &Target<'_>) -> std::io::Result<Meta> {
        self.stat_then(t, true, |_| Some(())).map(|(m, _)| m)
    }

    /// [`Self::stat`], and `then` of the entry if it already held the
    /// version found: what a request needs of an entry is had in the same
    /// lookup as its version (one lock and one hash per request, not two).
    /// `serve`: `t` is about to be served, so a miss may open it first.
    fn stat_then<R>(
        &self,
        t: &Target<'_>,
        serve: bool,
        then: impl FnOnce(&Entry) -> Option<R>,
    ) -> std::io::Result<(Meta, Option<R>)> {
        if !self.enabled() {
            return t.stat().map(|m| (Meta::from_std(&m), None));
        }
        let now = Instant::now();
        let path = t.path();
        let mut absent = false;
        if !self.limits.valid.is_zero() {
            let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(e) = self.trusted(&mut inner, t, now) {
                return Ok((e.meta, then(e)));
            }
            absent = serve && inner.fds < self.fd_cap && inner.map.get(key(path)).is_none();
        }
        let first = absent.then(|| self.open_first(t, now)).flatten();
        let found = match first {
            Some(Ok(meta)) => return Ok((meta, None)),
            Some(Err(e)) => Err(e),
            None => t.stat().map(|m| Meta::from_std(&m)),
        };
        let meta = match found {
            Ok(m) => m,
            Err(e) => {
                // Gone (or unreadable): let go of what we hold for it, so
                // a deleted file's disk space is freed.
                let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(old) = inner.map.remove(key(path)) {
                    inner.forget(&old);
                }
                return Err(e);
            }
        };
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut found = None;
        match inner.map.touch(key(path)) {
            Some(e) if e.meta == meta => {
                crate::metrics::count(crate::metrics::Counter::CacheHits);
                e.checked = now;
                e.used = now;
                e.policy = t.policy();
                found = then(e);
            }
            Some(e) => {
                crate::metrics::count(crate::metrics::Counter::CacheMisses);
                let freed = e.body.take().map_or(0, |b| b.len() as u64)
                    + e.encoded_bytes()
                    + e.head_bytes();
                e.encoded = Vec::new();
                e.heads = Heads::default();
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
                crate::metrics::count(crate::metrics::Counter::CacheMisses);
                self.make_room(&mut inner, 0, true);
                inner
                    .map
                    .insert(key(path), Entry::new(meta, t.policy(), now));
            }
        }
        Ok((meta, found))
    }

    /// The entry for `t` if its stat is still trusted (within
    /// `open_file_cache_valid`, under the same lookup policy), counted as
    /// a use and a hit.
    fn trusted<'i>(
        &self,
        inner: &'i mut Inner,
        t: &Target<'_>,
        now: Instant,
    ) -> Option<&'i mut Entry> {
        let e = inner.map.touch(key(t.path()))?;
        if now.duration_since(e.checked) >= self.limits.valid || e.policy != t.policy() {
            return None;
        }
        e.used = now;
        crate::metrics::count(crate::metrics::Counter::CacheHits);
        Some(e)
    }

    /// The header values of `path` at version `meta` under the settings
    /// `by` names: cached with the entry, else made by `make` (and kept if
    /// the entry still matches).
    pub fn rendered(
        &self,
        path: &Path,
        meta: &Meta,
        by: usize,
        make: impl FnOnce() -> Rendered,
    ) -> Rendered {
        if !self.enabled() {
            return make();
        }
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        match inner.map.get_mut(key(path)) {
            Some(e) if e.meta == *meta => match &e.rendered {
                Some((made_by, r)) if *made_by == by => r.clone(),
                _ => {
                    let mut r = make();
                    if let Some((body, packed)) = pack::pack(e.body.as_ref(), &r) {
                        // Same length: the byte count holds.
                        e.body = body;
                        r = packed;
                    }
                    e.rendered = Some((by, r.clone()));
                    r
                }
            },
            _ => make(),
        }
    }
}
