//! `-t` and `-T`: validate the configuration exactly as startup does, try
//! each listen address (an address in use is fine: the running server may
//! hold it), and report nginx-style. Never touches the pid file.

use std::io::ErrorKind;
use std::process::ExitCode;

use crate::config::{self, Location};

/// Runs the test; with `dump`, prints the file and the effective config.
pub fn run(location: &Location, dump: bool) -> ExitCode {
    let source = location.source();
    let fail = |msg: &dyn std::fmt::Display| {
        eprintln!("moltd: [emerg] {msg}");
        eprintln!("moltd: configuration file {source} test failed");
        ExitCode::FAILURE
    };
    let config = match config::load(location) {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    for addr in config.listen_addrs() {
        if let Err(e) = crate::listen::bind(addr)
            && e.err.kind() != ErrorKind::AddrInUse
        {
            return fail(&e);
        }
    }
    // Opened exactly as a start or a reload opens them.
    if let Err(msg) = crate::log::files::LogFiles::open(&config) {
        return fail(&msg);
    }
    if let Err(e) = crate::master::pidfile::check_writable(&config.pid) {
        return fail(&e.to_string());
    }
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
