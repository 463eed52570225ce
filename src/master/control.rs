//! `-s stop|quit|reopen|reload`: signal the running master named by the pid
//! file. Works with a broken config (docs/operations.md): only the pid path is
//! needed, read leniently.

use std::process::ExitCode;

use nix::sys::signal::kill;

use super::signal::Signal;
use crate::config::{self, Location};
use crate::pidfile;

/// Sends the signal for `command` to the master; exit 0 if it was sent.
pub fn send(location: &Location, command: &str) -> ExitCode {
    let Some(sig) = Signal::from_command(command) else {
        eprintln!("moltd: invalid option: \"-s {command}\"");
        return ExitCode::FAILURE;
    };
    let (pid_path, problem) = config::pid_path_lenient(location);
    // A reload of a configuration that does not load would only be
    // refused by the master: say so here, and fail, as `nginx -s reload`
    // does (a deploy script's `moltd -s reload && ...` must not go on).
    if let (Signal::Reload, Some(e)) = (sig, &problem) {
        eprintln!("moltd: [emerg] {e}");
        eprintln!(
            "moltd: configuration file {} test failed; the master was not signalled",
            location.source()
        );
        return ExitCode::FAILURE;
    }
    // No file at all: a master that found one keeps to it (a reload
    // would fail there), and one that did not has nothing new to read.
    if sig == Signal::Reload && location.source() == config::Source::Embedded {
        eprintln!(
            "moltd: [emerg] there is no configuration file to reload: \"{}\" is missing; the master was not signalled",
            location.prefix.join("conf/moltd.toml").display()
        );
        return ExitCode::FAILURE;
    }
    if let Some(e) = problem {
        eprintln!(
            "moltd: [warn] {e}; using the pid file \"{}\"",
            pid_path.display()
        );
    }
    let pid = match pidfile::read(&pid_path) {
        Ok(p) => p,
        Err(msg) => {
            eprintln!("moltd: [error] {msg}");
            return ExitCode::FAILURE;
        }
    };
    // A stale pid file (after a crash or reboot) may name an unrelated
    // process now: never signal anything but a moltd master.
    if !pidfile::is_master(pid) && nix::sys::signal::kill(pid, None).is_ok() {
        eprintln!(
            "moltd: [error] process {pid} named by \"{}\" is not a moltd master, not signalled",
            pid_path.display()
        );
        return ExitCode::FAILURE;
    }
    match kill(pid, sig.raw()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!(
                "moltd: [error] kill({pid}, {}) failed ({}: {})",
                sig.raw() as i32,
                e as i32,
                e.desc()
            );
            ExitCode::FAILURE
        }
    }
}
