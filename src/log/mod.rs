//! Logging: the error log (nginx's vocabulary and line format) and the
//! access logs. The master opens every log of a generation (`files.rs`,
//! safely: `open.rs`) and its workers inherit the descriptors; on USR1 the
//! master reopens (creating the new files, owned by the workers' user),
//! then the workers reopen theirs.

pub mod access;
pub mod error;
pub mod files;
pub mod open;
pub mod read_only;
pub mod time;

pub use error::Level;
pub use open::open_append;

/// An io error as nginx prints errno: `20: Not a directory`.
pub fn errno_text(e: &std::io::Error) -> String {
    let text = e.to_string();
    let text = text.split(" (os error").next().unwrap_or(&text);
    match e.raw_os_error() {
        Some(n) => format!("{n}: {text}"),
        None => text.to_string(),
    }
}
