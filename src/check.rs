//! `-t` and `-T`: run the preflight a start and a reload run, and report
//! nginx-style. Never touches the pid file.

use std::process::ExitCode;

use crate::config::Location;
use crate::preflight::{Purpose, preflight};

/// Runs the test; with `dump`, prints the file and the effective config.
pub fn run(location: &Location, dump: bool) -> ExitCode {
    let source = location.source();
    let fail = |msg: &dyn std::fmt::Display| {
        eprintln!("moltd: [emerg] {msg}");
        eprintln!("moltd: configuration file {source} test failed");
        ExitCode::FAILURE
    };
    let config = match preflight(location, Purpose::Test) {
        Ok(checked) => checked.config,
        Err(e) => return fail(&e),
    };
    let effective = if dump {
        match config.effective_toml() {
            Ok(text) => Some(text),
            Err(e) => return fail(&e),
        }
    } else {
        None
    };
    eprintln!("moltd: the configuration file {source} syntax is ok");
    eprintln!("moltd: configuration file {source} test is successful");
    if let Some(effective) = effective {
        println!("# configuration file {source}:");
        println!("{}", config.text);
        println!("# effective configuration (defaults filled in, paths resolved):");
        println!("{effective}");
    }
    ExitCode::SUCCESS
}
