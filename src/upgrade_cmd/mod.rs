//! `moltd -s upgrade`: nginx's upgrade walkthrough (USR2, wait, WINCH,
//! watch, QUIT) as one command that checks each step and rolls back on any
//! failure, so it can run unattended (docs/operations.md, "One-command
//! upgrade"). It only sends signals and watches: the masters decide
//! everything as they do for an operator at a shell.

mod lock;
mod observe;
mod probe;
mod report;
mod rollback;
mod steps;
mod watch;

use std::process::ExitCode;
use std::time::Duration;

use crate::config::Location;

pub use report::Outcome;

/// Exit code: committed; the new binary serves alone.
pub const EXIT_COMMITTED: u8 = 0;
/// Exit code: nothing was done (no running master, bad configuration, the
/// old generation does not answer its probes).
pub const EXIT_NOTHING_DONE: u8 = 1;
/// Exit code: the upgrade failed at a step and was rolled back; the old
/// binary serves alone.
pub const EXIT_ROLLED_BACK: u8 = 2;
/// Exit code: refused, another upgrade is in progress.
pub const EXIT_REFUSED: u8 = 3;
/// Exit code: interrupted (INT, TERM, HUP) and rolled back.
pub const EXIT_INTERRUPTED: u8 = 4;
/// Exit code: a rollback did not complete; the processes need a look.
pub const EXIT_INCONSISTENT: u8 = 5;

/// What the command line asked for.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// How long the new binary may take to serve (default: the config's
    /// `upgrade_ready_timeout` plus 5 s, so the old master's own timeout
    /// acts first).
    pub ready_timeout: Option<Duration>,
    /// How long the new binary serves alone, watched, before the old
    /// master is told to go.
    pub canary: Duration,
    /// Paths to compare between the generations (default `/`), besides
    /// the few most recently served ones from the access logs.
    pub probes: Vec<String>,
    /// Print one JSON object with the result on stdout.
    pub json: bool,
}

/// Runs the upgrade and reports it; the exit code says how it ended.
pub fn run(location: &Location, opts: Options) -> ExitCode {
    let report = steps::run(location, &opts);
    if opts.json {
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), "{}", report.json());
    }
    observe::say!("moltd: upgrade: {}", report.summary());
    ExitCode::from(report.outcome.code())
}
