//! Logging: the error log (nginx's vocabulary and line format) and, later,
//! the access log. Both are reopened on USR1.

pub mod access;
pub mod error;
pub mod time;

pub use error::Level;
