//! Stage one of the configuration: serde structs shaped like the TOML file.
//!
//! Unknown keys are rejected here (`deny_unknown_fields`); values that need
//! checking later keep their span so the error can name the line.

use serde::Deserialize;
use toml::Spanned;

/// The top level of `moltd.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Fork to the background like nginx's `daemon on`.
    pub daemon: Option<bool>,
    /// `"auto"` or a number.
    pub worker_processes: Option<Spanned<toml::Value>>,
    /// Pid file path, relative to the prefix.
    pub pid: Option<Spanned<String>>,
    /// Error log path, relative to the prefix, or `"stderr"`.
    pub error_log: Option<Spanned<String>>,
    /// Cap on a worker's graceful drain, e.g. `"30s"`.
    pub worker_shutdown_timeout: Option<Spanned<String>>,
    /// User the workers run as when the master runs as root.
    pub user: Option<Spanned<String>>,
    /// Group for the workers (default: the user's primary group).
    pub group: Option<Spanned<String>>,
    /// The `[[server]]` blocks.
    #[serde(default)]
    pub server: Vec<Spanned<RawServer>>,
}

/// One `[[server]]` block.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    /// `"addr:port"` or a list of them.
    pub listen: Option<Spanned<toml::Value>>,
    /// Document root, relative to the prefix.
    pub root: Option<Spanned<String>>,
    /// Index file names, tried in order.
    pub index: Option<Spanned<Vec<String>>>,
}

/// The only key `-s` needs, read leniently from a file that may be broken.
#[derive(Debug, Deserialize)]
pub struct RawPidOnly {
    /// Pid file path, if the file names one.
    pub pid: Option<String>,
}
