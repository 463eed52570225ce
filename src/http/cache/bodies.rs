//! What the cache keeps beyond metadata: the whole body of small files
//! and the open descriptor of larger ones, each only for a settled file
//! and only together with the metadata it was read or opened under.

use std::fs::File;
use std::io::Read;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use bytes::Bytes;

use super::{Entry, FileCache, Meta, key};
use crate::http::resolve::Target;

impl FileCache {
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
        let bytes = read_version(&mut f, meta)?;
        if !meta.settled(SystemTime::now(), self.settle) {
            return Some(bytes);
        }
        let now = Instant::now();
        let added = bytes.len() as u64;
        if added > self.limits.bytes {
            return Some(bytes);
        }
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        // The entry the stat just made or refreshed takes the body: room
        // for the bytes only.
        let present = match inner.map.get_mut(key(path)) {
            Some(e) if e.meta != *meta => return Some(bytes),
            Some(_) => true,
            None => false,
        };
        self.make_room(&mut inner, added, !present);
        match inner.map.get_mut(key(path)) {
            Some(e) if e.meta == *meta => {
                let old = e.body.replace(bytes.clone()).map_or(0, |b| b.len() as u64);
                inner.bytes = inner.bytes - old + added;
            }
            Some(_) => return Some(bytes),
            None => {
                let mut e = Entry::new(*meta, t.policy(), now);
                e.body = Some(bytes.clone());
                inner.map.insert(key(path), e);
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
}

/// The bytes of `f`, if they are the version `meta` describes: exactly the
/// size `meta` gives (no size probe or end-of-file read), then one fstat.
/// The same inode, size and times after the read as before it mean these
/// bytes are that version, since a write in between moves the ctime, which
/// cannot be set back. A change within one coarse tick escapes any check
/// alike; the settle rule keeps such a file out of the cache.
pub(super) fn read_version(f: &mut File, meta: &Meta) -> Option<Bytes> {
    let mut buf = vec![0; usize::try_from(meta.len).ok()?];
    f.read_exact(&mut buf).ok()?;
    let after = Meta::from_std(&f.metadata().ok()?);
    (after == *meta).then(|| Bytes::from(buf))
}
