//! Logging: the error log (nginx's vocabulary and line format) and, later,
//! the access log. Both are reopened on USR1.

pub mod access;
pub mod error;
pub mod time;

pub use error::Level;

/// An io error as nginx prints errno: `20: Not a directory`.
pub fn errno_text(e: &std::io::Error) -> String {
    let text = e.to_string();
    let text = text.split(" (os error").next().unwrap_or(&text);
    match e.raw_os_error() {
        Some(n) => format!("{n}: {text}"),
        None => text.to_string(),
    }
}

/// Opens a log file for appending (creating it, and its directory, mode
/// 0644). O_APPEND makes every write land whole at the end, so processes
/// sharing the file never interleave within a line.
pub fn open_append(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    ensure_parent(path)?;
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o644)
        .open(path)
}

/// Creates the parent directory of `path` if it is missing. An existing
/// parent that is not a directory is left for the open to report
/// (ENOTDIR), rather than mkdir's misleading EEXIST.
pub fn ensure_parent(path: &std::path::Path) -> std::io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() && !dir.exists() => std::fs::create_dir_all(dir),
        _ => Ok(()),
    }
}
