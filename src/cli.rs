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
    /// Send a signal to the master: stop, quit, reopen, reload.
    #[arg(short = 's', value_name = "SIGNAL", value_parser = ["stop", "quit", "reopen", "reload"])]
    pub signal: Option<String>,
    /// Show the version and exit.
    #[arg(short = 'v')]
    pub version: bool,
    /// Show the version and build details and exit.
    #[arg(short = 'V')]
    pub version_details: bool,
}
