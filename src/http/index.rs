//! `index`: answer a directory request with the first index file present.

use std::io::ErrorKind;

use super::cache::{FileCache, Meta};
use super::resolve::Target;

/// The first of `names` in the directory `dir` that is a regular file. A
/// name that does not exist is skipped; one the lookup refuses (a symlink
/// leaving the root under `disable_symlinks`, a loop) is an error, as
/// nginx answers 403 then rather than falling through to a listing.
pub fn find<'a>(
    dir: &Target<'a>,
    names: &[String],
    cache: &FileCache,
) -> std::io::Result<Option<(Target<'a>, Meta)>> {
    for n in names {
        let t = dir.join(n);
        match cache.stat_to_serve(&t) {
            Ok(m) if m.is_file => return Ok(Some((t, m))),
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}
