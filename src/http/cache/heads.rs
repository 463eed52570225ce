//! Whole HTTP/1 response heads (all but `Date`) of a file version, kept
//! with its entry so that a plain request for it is answered without
//! building a response: keyed by what besides the version shapes the head
//! (`HeadKey`), dropped with the entry's body when the file changes, and
//! counted in `open_file_cache_max_size`.
//!
//! A head depends on the version only through its size and whole-second
//! mtime (Content-Length, ETag, Last-Modified), which the caller checks
//! on the response before offering it, so a head needs no settling; the
//! body it is replayed with is the entry's own, kept under the settle rule.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;

use super::{Entry, FileCache, Meta, key};
use crate::http::resolve::Target;

/// Most heads one version keeps: one per location, method, protocol
/// version and keep-alive that asks for it; a ninth replaces the oldest.
const MAX_HEADS: usize = 8;

/// What besides the file version decides a head's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadKey {
    /// The settings that answered (per configuration generation, and each
    /// worker generation has its own cache): `add_header`, `expires`,
    /// types and `charset`.
    pub settings: usize,
    /// HEAD, HTTP/1.0, keep-alive: bits of the request and the connection.
    pub flags: u8,
}

/// A kept head.
#[derive(Debug, Clone)]
pub struct Head {
    /// Its key.
    pub key: HeadKey,
    /// The head as written, without its `Date` line.
    pub bytes: Bytes,
    /// Where the `Date` line goes in `bytes`.
    pub date_at: usize,
    /// The response does not vary by Accept-Encoding: it answers requests
    /// with any, not only those without.
    pub any_encoding: bool,
}

/// A kept head and the entry's body or open file to send after it.
#[derive(Debug)]
pub struct Cached {
    /// The head.
    pub head: Head,
    /// The whole body, for a small file.
    pub body: Option<Bytes>,
    /// The open file, for a larger one.
    pub file: Option<Arc<File>>,
}

/// The heads of one version: the first inline in the entry, so that a
/// replay finds it among the lines the entry's lookup already loaded
/// (most versions are asked for one way only), any more in a vector.
/// `first` is empty only when `more` is.
#[derive(Debug, Default)]
pub(super) struct Heads {
    first: Option<Head>,
    more: Vec<Head>,
}

impl Heads {
    fn iter(&self) -> impl Iterator<Item = &Head> {
        self.first.iter().chain(&self.more)
    }

    fn len(&self) -> usize {
        self.iter().count()
    }

    /// Takes out the `i`th head, oldest first.
    fn remove(&mut self, i: usize) -> Option<Head> {
        if i > 0 {
            return (i <= self.more.len()).then(|| self.more.remove(i - 1));
        }
        let next = (!self.more.is_empty()).then(|| self.more.remove(0));
        std::mem::replace(&mut self.first, next)
    }

    /// Adds `head` as the newest.
    fn push(&mut self, head: Head) {
        if self.first.is_none() {
            self.first = Some(head);
        } else {
            self.more.push(head);
        }
    }
}

impl Entry {
    /// Bytes the heads hold.
    pub(super) fn head_bytes(&self) -> u64 {
        self.heads.iter().map(|h| h.bytes.len() as u64).sum()
    }

    /// The head kept under `which` (one that varies by Accept-Encoding
    /// answers only a request without it, `encoded` false), with what is
    /// kept to send after it.
    fn cached(&self, which: HeadKey, encoded: bool) -> Option<Cached> {
        let head = self
            .heads
            .iter()
            .find(|h| h.key == which && (h.any_encoding || !encoded))?;
        Some(Cached {
            head: head.clone(),
            body: self.body.clone(),
            file: self.file.clone(),
        })
    }
}

impl FileCache {
    /// The head kept for `path` at version `meta` under `which`, if the
    /// entry still is that version; with its body or open file if one is
    /// kept (a GET needs one; a HEAD does not). Requests get theirs with
    /// their version, from [`FileCache::stat_head`].
    #[cfg(test)]
    pub fn head(&self, path: &Path, meta: &Meta, which: HeadKey, encoded: bool) -> Option<Cached> {
        if !self.enabled() {
            return None;
        }
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let e = inner.map.get(key(path)).filter(|e| e.meta == *meta)?;
        e.cached(which, encoded)
    }

    /// The version of `t` (as [`FileCache::stat`] finds it) and, if the
    /// entry already held that version, its head under `which` as
    /// [`FileCache::head`] gives it: a replayed request's one lookup.
    pub fn stat_head(
        &self,
        t: &Target<'_>,
        which: HeadKey,
        encoded: bool,
    ) -> std::io::Result<(Meta, Option<Cached>)> {
        self.stat_then(t, true, |e| e.cached(which, encoded))
    }

    /// Keeps `head` for `path` at version `meta`, if the entry still is
    /// that version and there is room.
    pub fn keep_head(&self, path: &Path, meta: &Meta, head: Head) {
        let added = head.bytes.len() as u64;
        if !self.enabled() || added > self.limits.bytes {
            return;
        }
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        // Only beside the bytes or descriptor a replay needs (one without
        // is never replayed, so it would only take memory).
        let holds = |e: &Entry| e.meta == *meta && (e.body.is_some() || e.file.is_some());
        if !inner.map.get(key(path)).is_some_and(holds) {
            return;
        }
        self.make_room(&mut inner, added, false);
        // Room may have been made by giving up this very entry.
        let Some(e) = inner.map.get_mut(key(path)).filter(|e| e.meta == *meta) else {
            return;
        };
        let len = |h: Option<Head>| h.map_or(0, |h| h.bytes.len() as u64);
        let same = e.heads.iter().position(|h| h.key == head.key);
        let freed = if let Some(i) = same {
            len(e.heads.remove(i))
        } else if e.heads.len() >= MAX_HEADS {
            len(e.heads.remove(0))
        } else {
            0
        };
        e.heads.push(head);
        inner.bytes = inner.bytes - freed + added;
    }
}
