//! Keeping the cache within its bounds: entries dropped when it is full,
//! descriptors closed when unused, deleted, or when the worker runs out
//! of them (so cached files never starve connections).

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant};

use super::{Entry, FileCache, Inner};
use crate::http::resolve::Target;

/// EMFILE or ENFILE: the process or the system is out of descriptors.
pub fn is_out_of_fds(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

/// An open file unused this long is closed (nginx's `open_file_cache
/// inactive=` default), so a replaced version nobody asks for again does
/// not keep its disk space.
const FILE_INACTIVE: Duration = Duration::from_secs(60);

impl FileCache {
    /// Opens `t`; out of descriptors, closes every descriptor the cache
    /// keeps and tries once more, so a full fd table sheds cached files
    /// before a request fails. A failure for want of descriptors is logged
    /// at crit with the path (nginx's line), since requests then fail.
    pub(super) fn open_file(&self, t: &Target<'_>) -> std::io::Result<File> {
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

    /// Gives up entries, least recently used first as CLOCK sees it,
    /// until `extra` more body bytes fit, and one more entry if `entry`.
    pub(super) fn make_room(&self, inner: &mut Inner, extra: u64, entry: bool) {
        let full = |i: &Inner| {
            (entry && i.map.len() >= self.limits.entries) || i.bytes + extra > self.limits.bytes
        };
        while full(inner) {
            let Some(old) = inner.map.evict() else { break };
            inner.forget(&old);
        }
    }
}

impl Inner {
    /// Takes what `old`, just removed, held off the counts.
    pub(super) fn forget(&mut self, old: &Entry) {
        self.bytes -= old.body.as_ref().map_or(0, |b| b.len() as u64)
            + old.encoded_bytes()
            + old.head_bytes();
        self.fds -= usize::from(old.file.is_some());
    }
}
