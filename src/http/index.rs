//! `index`: answer a directory request with the first index file present.

use std::fs::Metadata;
use std::path::{Path, PathBuf};

/// The first of `names` under `dir` that is a regular file.
pub fn find(dir: &Path, names: &[String]) -> Option<(PathBuf, Metadata)> {
    names.iter().find_map(|n| {
        let p = dir.join(n);
        let m = std::fs::metadata(&p).ok()?;
        m.is_file().then_some((p, m))
    })
}
