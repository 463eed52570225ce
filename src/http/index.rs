//! `index`: answer a directory request with the first index file present.

use std::path::{Path, PathBuf};

use super::cache::{FileCache, Meta};

/// The first of `names` under `dir` that is a regular file.
pub fn find(dir: &Path, names: &[String], cache: &FileCache) -> Option<(PathBuf, Meta)> {
    names.iter().find_map(|n| {
        let p = dir.join(n);
        let m = cache.stat(&p).ok()?;
        m.is_file.then_some((p, m))
    })
}
