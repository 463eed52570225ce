//! What the cache knows of a file version, and the settle rule: coarse
//! timestamps cannot tell two same-size versions written within one tick
//! apart, so only a file whose times are old enough may have its body or
//! descriptor kept.

use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, SystemTime};

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
