//! Command-line flags (README, "Command line"), nginx's letters.

use std::path::PathBuf;

use clap::Parser;

/// moltd's command line.
#[derive(Debug, Parser)]
#[command(
    name = "moltd",
    about = "moltd: a static-file web server with nginx's process model and binary hot swap",
    disable_version_flag = true
)]
pub struct Cli {
    /// Prefix: the directory relative paths resolve against (default: the current directory).
    #[arg(short = 'p', value_name = "PREFIX")]
    pub prefix: Option<PathBuf>,
    /// Configuration file (default: conf/moltd.toml under the prefix, else the built-in default).
    #[arg(short = 'c', value_name = "FILE")]
    pub conf: Option<PathBuf>,
    /// Test the configuration and exit.
    #[arg(short = 't')]
    pub test: bool,
    /// Test the configuration, print it, and exit.
    #[arg(short = 'T')]
    pub test_dump: bool,
    /// Send a signal to the master: stop, quit, reopen, reload; or run a
    /// whole binary upgrade: upgrade.
    #[arg(short = 's', value_name = "SIGNAL", value_parser = ["stop", "quit", "reopen", "reload", "upgrade"])]
    pub signal: Option<String>,
    /// -s upgrade: how long the new binary may take to serve (e.g. 40s).
    #[arg(long = "ready-timeout", value_name = "DURATION", requires = "signal")]
    pub ready_timeout: Option<String>,
    /// -s upgrade: how long the new binary serves alone, watched, before
    /// the old master is told to go (e.g. 10s; default 0).
    #[arg(long = "canary", value_name = "DURATION", requires = "signal")]
    pub canary: Option<String>,
    /// -s upgrade: a path whose answer must be the same from the new binary
    /// (repeatable; default /).
    #[arg(long = "probe", value_name = "PATH", requires = "signal")]
    pub probe: Vec<String>,
    /// -s upgrade: print the result as one JSON object on stdout.
    #[arg(long = "json", requires = "signal")]
    pub json: bool,
    /// Show the version and exit.
    #[arg(short = 'v')]
    pub version: bool,
    /// Show the version and build details and exit.
    #[arg(short = 'V')]
    pub version_details: bool,
}
