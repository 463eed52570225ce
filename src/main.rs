//! The `moltd` binary: parse the command line and hand off.

use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;

/// mimalloc rather than glibc's malloc: see its line in Cargo.toml.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    match moltd::cli::Cli::try_parse_from(&argv) {
        Ok(cli) => moltd::run(cli, argv),
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            let _ = e.print();
            ExitCode::SUCCESS
        }
        Err(e) => {
            // nginx's shape: `moltd: invalid option: ...`, exit 1.
            let text = e.to_string();
            let first = text
                .lines()
                .next()
                .unwrap_or("")
                .trim_start_matches("error: ");
            eprintln!("moltd: invalid option: {first}");
            eprintln!(
                "usage: moltd [-p PREFIX] [-c FILE] [-t | -T] [-s stop|quit|reopen|reload|upgrade] [-v | -V]"
            );
            ExitCode::FAILURE
        }
    }
}
