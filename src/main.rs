//! The `moltd` binary: parse the command line and hand off.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    match moltd::cli::Cli::try_parse_from(&argv) {
        Ok(cli) => moltd::run(cli, argv),
        Err(e) => {
            let _ = e.print();
            if e.use_stderr() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
    }
}
