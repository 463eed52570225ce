//! Scratch directories for unit tests: each one unique to its test and
//! removed when the test is done (even when it fails), so running the
//! tests leaves nothing behind in the temporary directory.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A fresh directory `moltd-NAME-PID-N` under the temporary directory,
/// with `subdirs` made in it; removed with everything in it on drop.
pub struct Scratch(PathBuf);

impl Scratch {
    /// Makes the directory and its `subdirs`.
    pub fn new(name: &str, subdirs: &[&str]) -> Self {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("moltd-{name}-{}-{n}", std::process::id()));
        for sub in subdirs {
            std::fs::create_dir_all(dir.join(sub)).expect("create a scratch directory");
        }
        std::fs::create_dir_all(&dir).expect("create a scratch directory");
        Scratch(dir)
    }
}

impl std::ops::Deref for Scratch {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
