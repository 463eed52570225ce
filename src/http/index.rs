//! `index`: answer a directory request with the first index file present.

use super::cache::{FileCache, Meta};
use super::resolve::Target;

/// The first of `names` in the directory `dir` that is a regular file.
pub fn find<'a>(
    dir: &Target<'a>,
    names: &[String],
    cache: &FileCache,
) -> Option<(Target<'a>, Meta)> {
    names.iter().find_map(|n| {
        let t = dir.join(n);
        let m = cache.stat(&t).ok()?;
        m.is_file.then_some((t, m))
    })
}
