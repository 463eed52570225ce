//! Rendered directory listings, trusted for `open_file_cache_valid` like
//! a stat, keyed by directory, URI, format and lookup policy.

use std::time::Instant;

use bytes::Bytes;

use super::FileCache;
use crate::http::resolve::Target;

/// A rendered directory listing, trusted for `open_file_cache_valid` as a
/// stat is: a listing shows every entry's size and date, so nothing short
/// of reading the directory again can revalidate it.
pub(super) struct Listing {
    made: Instant,
    text: Bytes,
    content_type: &'static str,
}

impl FileCache {
    /// The listing of `dir` (under its lookup policy) for `uri` in `format`: the one rendered within
    /// the last `open_file_cache_valid`, else `make`'s (kept for that long).
    /// With the default `open_file_cache_valid = "0"` every request reads
    /// the directory.
    pub fn listing(
        &self,
        dir: &Target<'_>,
        uri: &str,
        format: u8,
        make: impl FnOnce() -> std::io::Result<(Bytes, &'static str)>,
    ) -> std::io::Result<(Bytes, &'static str)> {
        if !self.enabled() || self.limits.valid.is_zero() {
            return make();
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
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let len = text.len() as u64;
        if inner.listings.len() >= self.limits.entries
            || inner.listing_bytes + len > self.limits.bytes
        {
            inner.listings.clear();
            inner.listing_bytes = 0;
        }
        if len <= self.limits.bytes {
            // A copy of its own: the rendered text may share its memory
            // with the worker's listing buffer, which the cache must not
            // keep alive (nor count short).
            let listing = Listing {
                made: now,
                text: Bytes::copy_from_slice(&text),
                content_type,
            };
            if let Some(old) = inner.listings.insert(key, listing) {
                inner.listing_bytes -= old.text.len() as u64;
            }
            inner.listing_bytes += len;
        }
        Ok((text, content_type))
    }
}
