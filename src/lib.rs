//! moltd: a static-file web server with nginx's master/worker process model
//! and nginx-style binary hot swap.
//!
//! Layout (docs/architecture.md §1): `config` is read once per generation; `master` owns
//! the listening sockets and forks `worker`s; a worker serves `http`;
//! `listen` binds and adopts sockets; `log` is the error log; `sys` holds
//! every `unsafe` block. Data flows one way: config -> master -> worker ->
//! http.

#![deny(unsafe_code)]

pub mod check;
pub mod cli;
pub mod clock;
pub mod config;
pub mod http;
pub mod listen;
pub mod log;
pub mod master;
pub mod metrics;
pub mod pidfile;
pub mod preflight;
#[cfg(test)]
pub(crate) mod scratch;
#[allow(unsafe_code)]
pub mod sys;
pub mod upgrade_cmd;
pub mod worker;

use std::ffi::OsString;
use std::process::ExitCode;

/// The version operators see in `-v` and `Server` with tokens.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Runs moltd for a parsed command line; `argv` is the original argument
/// vector, replayed on upgrade.
pub fn run(cli: cli::Cli, argv: Vec<OsString>) -> ExitCode {
    if cli.version || cli.version_details {
        eprintln!("moltd version: moltd/{VERSION}");
        if cli.version_details {
            eprintln!(
                "built for {}-{} ({} build)",
                std::env::consts::ARCH,
                std::env::consts::OS,
                if cfg!(debug_assertions) {
                    "debug"
                } else {
                    "release"
                }
            );
            eprintln!(
                "configuration: TOML (conf/moltd.toml under the prefix, or the built-in default)"
            );
        }
        if !cli.test && !cli.test_dump {
            return ExitCode::SUCCESS;
        }
    }
    let prefix = match cli.prefix.clone().map_or_else(std::env::current_dir, Ok) {
        Ok(p) => std::path::absolute(&p).unwrap_or(p),
        Err(e) => {
            eprintln!("moltd: [emerg] could not determine the current directory: {e}");
            return ExitCode::FAILURE;
        }
    };
    let location = config::Location {
        prefix,
        file: cli.conf.clone(),
    };
    if cli.test || cli.test_dump {
        return check::run(&location, cli.test_dump);
    }
    if cli.signal.as_deref() == Some("upgrade") {
        return match upgrade_options(&cli) {
            Ok(opts) => upgrade_cmd::run(&location, opts),
            Err(msg) => {
                eprintln!("moltd: invalid option: {msg}");
                ExitCode::FAILURE
            }
        };
    }
    if let Some(s) = &cli.signal {
        return master::control::send(&location, s);
    }
    master::run(master::Start { location, argv })
}

/// The `-s upgrade` options from the command line.
fn upgrade_options(cli: &cli::Cli) -> Result<upgrade_cmd::Options, String> {
    let duration = |v: &Option<String>, flag: &str| {
        v.as_deref()
            .map(|t| config::duration::parse(t).map_err(|e| format!("--{flag}: {e}")))
            .transpose()
    };
    for p in &cli.probe {
        if !p.starts_with('/') || p.contains(['\r', '\n', ' ']) {
            return Err(format!("--probe: \"{p}\" is not a path"));
        }
    }
    Ok(upgrade_cmd::Options {
        ready_timeout: duration(&cli.ready_timeout, "ready-timeout")?,
        canary: duration(&cli.canary, "canary")?.unwrap_or_default(),
        probes: cli.probe.clone(),
        json: cli.json,
    })
}
