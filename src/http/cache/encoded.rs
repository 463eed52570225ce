//! Compressed forms of a file version (on-the-fly `gzip`), kept with the
//! entry of the file they were made from: keyed by the same identity as
//! its body (device, inode, size, mtime, ctime), dropped with it when the
//! file changes, counted in `open_file_cache_max_size`, and kept only for
//! a settled file (`meta.rs`), so a compressed form is never stale.

use std::path::Path;
use std::time::SystemTime;

use bytes::Bytes;
use hyper::header::HeaderValue;

use super::{Entry, FileCache, Meta, key};
use crate::http::negotiate::Coding;

/// One compressed form of a file version.
#[derive(Debug, Clone)]
pub struct Encoded {
    /// Its coding.
    pub coding: Coding,
    /// The level it was made at: locations may differ.
    pub level: u32,
    /// The bytes; `None` when compressing did not make the file smaller,
    /// so that it is sent as it is without being compressed again.
    pub body: Option<Bytes>,
    /// Its entity tag, distinct from the file's and the other codings'.
    pub etag: HeaderValue,
}

impl Entry {
    /// Body bytes the compressed forms hold.
    pub(super) fn encoded_bytes(&self) -> u64 {
        self.encoded
            .iter()
            .map(|e| e.body.as_ref().map_or(0, |b| b.len() as u64))
            .sum()
    }
}

impl FileCache {
    /// The compressed form of `path` at version `meta` in `coding` at
    /// `level`, if kept.
    pub fn encoded(&self, path: &Path, meta: &Meta, coding: Coding, level: u32) -> Option<Encoded> {
        if !self.enabled() {
            return None;
        }
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let e = inner.map.get(key(path)).filter(|e| e.meta == *meta)?;
        e.encoded
            .iter()
            .find(|x| x.coding == coding && x.level == level)
            .cloned()
    }

    /// Keeps `enc`, made from `path` at version `meta`, if that version
    /// has settled, its entry is still there, and there is room.
    pub fn keep_encoded(&self, path: &Path, meta: &Meta, enc: &Encoded) {
        if !self.enabled() || !meta.settled(SystemTime::now(), self.settle) {
            return;
        }
        let added = enc.body.as_ref().map_or(0, |b| b.len() as u64);
        if added > self.limits.bytes {
            return;
        }
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let fresh = |e: &Entry| {
            e.meta == *meta
                && !e
                    .encoded
                    .iter()
                    .any(|x| x.coding == enc.coding && x.level == enc.level)
        };
        if !inner.map.get(key(path)).is_some_and(fresh) {
            return;
        }
        self.make_room(&mut inner, added, false);
        // Room may have been made by giving up this very entry.
        if let Some(e) = inner.map.get_mut(key(path))
            && fresh(e)
        {
            e.encoded.push(enc.clone());
            inner.bytes += added;
        }
    }
}
