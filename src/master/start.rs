//! Starting a master: bind or adopt the listeners, open the logs, check
//! the pid file, daemonize if asked, write the pid file, set the title and
//! fork the first workers (docs/architecture.md §4 for a new binary). Every
//! failure prints an nginx-style `moltd: [emerg]` line and exits 1; a new
//! binary also reports it to the old master over the readiness pipe.

use std::ffi::OsString;
use std::fs::File;
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use super::signal::Inbox;
use super::{Master, Phase, Start, daemon, pidfile, upgrade};
use crate::config;
use crate::listen;
use crate::log::files::LogFiles;
use crate::sys;
use crate::{crit, emerg, notice};

/// Prints a startup error the way nginx does (`moltd: [emerg] ...`), logs
/// it if the error log is a file, and, for a new binary, sends it to the
/// old master over the readiness pipe so it lands in the old master's log
/// even when this one could not open its own.
fn startup_error(msg: &str, upgrade_report: &mut Option<File>) {
    eprintln!("moltd: [emerg] {msg}");
    if crate::log::error::is_file() {
        emerg!("{msg}");
    }
    if let Some(mut f) = upgrade_report.take() {
        let _ = f.write_all(msg.as_bytes());
    }
}

/// Starts a master and runs it until it exits.
pub fn run(start: Start) -> ExitCode {
    // Nothing may interrupt the master before its signalfd exists; blocking
    // first also means the signals queue while we start.
    sys::fd::cloexec_all();
    let handover = upgrade::Handover::take();
    if let Err(msg) = handover.check() {
        startup_error(&msg, &mut None);
        return ExitCode::FAILURE;
    }
    if let Some(p) = handover.orphaned_from() {
        startup_error(
            &format!(
                "master process {p} handed its sockets over, but it is not an ancestor of this process (a wrapper that started moltd in the background and exited?): not starting a second master beside it"
            ),
            &mut None,
        );
        return ExitCode::FAILURE;
    }
    let upgraded = handover.is_upgrade();
    let old_master = handover.old_master();
    let (mut ready_report, ready_complaint) = match handover.take_ready() {
        Some(Ok(f)) => (Some(f), None),
        Some(Err(msg)) => (None, Some(msg)),
        None => (None, None),
    };
    let inbox = match Inbox::open() {
        Ok(i) => i,
        Err(e) => {
            startup_error(
                &format!("could not set up signal handling: {e}"),
                &mut ready_report,
            );
            return ExitCode::FAILURE;
        }
    };
    let config = match config::load(&start.location) {
        Ok(c) => Arc::new(c),
        Err(e) => {
            startup_error(&e.to_string(), &mut ready_report);
            return ExitCode::FAILURE;
        }
    };
    let logs = match LogFiles::open(&config) {
        Ok(l) => l,
        Err(msg) => {
            startup_error(&msg, &mut ready_report);
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = logs.install_error() {
        startup_error(
            &format!("could not use the error log ({e})"),
            &mut ready_report,
        );
        return ExitCode::FAILURE;
    }
    if let Some((before, after)) = crate::worker::fd_budget::raise_nofile_limit()
        && after > before
    {
        crate::info!("raised the open file limit from {before} to {after}");
    }
    if config.user.is_some() && !sys::privs::is_root() {
        crate::warn!(
            "the \"user\" key makes sense only if the master process runs with super-user privileges, ignored"
        );
    }
    if let Some(msg) = ready_complaint {
        crit!("{msg}");
    }
    // After the error log is open, so `using inherited sockets` lands there.
    let mut inherited = listen::adopt(&handover);
    if handover.moltd.is_some() && !upgraded {
        crate::warn!(
            "{} was set, but not by a moltd master that is this process's parent: started as a fresh master",
            listen::HANDOVER_VAR
        );
    }
    if let Some(pid) = pidfile::running_master(&config.pid) {
        startup_error(
            &format!(
                "moltd is already running: master process {pid} (pid file \"{}\")",
                config.pid.display()
            ),
            &mut ready_report,
        );
        return ExitCode::FAILURE;
    }
    pidfile::remove_stale_temps(&config.pid);
    let listeners = match listen::open(&config.listen_addrs(), &[], &mut inherited) {
        Ok(l) => l,
        Err(e) => {
            startup_error(&e.to_string(), &mut ready_report);
            return ExitCode::FAILURE;
        }
    };
    // Inherited sockets that match nothing in the configuration close here.
    drop(inherited);

    if config.daemon && handover.has_sockets() && !upgraded {
        crate::warn!(
            "{} names sockets: staying in the foreground despite daemon = true",
            listen::HANDOVER_VAR
        );
    }
    let report = if config.daemon && !handover.has_sockets() && !upgraded {
        match daemon::daemonize() {
            Ok(r) => Some(r),
            Err(e) => {
                startup_error(&format!("could not daemonize: {e}"), &mut ready_report);
                return ExitCode::FAILURE;
            }
        }
    } else {
        None
    };
    let pid = nix::unistd::getpid();
    // The title first: `-s` and a new start recognise a master by it, and
    // may look as soon as the pid file names this process.
    let title: Vec<String> = start
        .argv
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    sys::title::set(&format!("moltd: master process {}", title.join(" ")));
    if let Err(e) = pidfile::write(&config.pid, pid) {
        let msg = format!(
            "could not write the pid file \"{}\" ({})",
            config.pid.display(),
            crate::log::errno_text(&e)
        );
        match report {
            Some(r) => {
                emerg!("{msg}");
                r.fail(&msg);
            }
            None => startup_error(&msg, &mut ready_report),
        }
        return ExitCode::FAILURE;
    }
    let stderr_is_log = report.is_some();
    if let Some(r) = report {
        r.ok();
        let _ = crate::log::error::capture_stderr();
    } else if !upgraded && crate::log::error::is_file() {
        // In the foreground the terminal would otherwise stay silent: say
        // where we listen and where the log is, once.
        let addrs: Vec<String> = config
            .listen_addrs()
            .iter()
            .map(|a| format!("http://{a}/"))
            .collect();
        eprintln!(
            "moltd: master process {pid} serving {} (error log: {})",
            addrs.join(" "),
            config
                .error_log
                .as_deref()
                .map_or_else(|| "stderr".into(), |p| p.display().to_string())
        );
    }

    let exe = upgrade::resolve_exe(std::path::Path::new(
        start
            .argv
            .first()
            .map(OsString::as_os_str)
            .unwrap_or_default(),
    ));

    let mut master = Master {
        location: start.location,
        argv: start.argv,
        exe,
        pid,
        config,
        logs,
        listeners,
        generation: 1,
        last_generation: 1,
        failed: false,
        workers: Vec::new(),
        phase: Phase::Running,
        accepting: true,
        reload: None,
        reload_again: false,
        upgrade_queued: false,
        drain_at: None,
        new_binary: None,
        old_master,
        ready_report,
        fast_deaths: 0,
        respawn_at: Vec::new(),
        inbox,
        stderr_is_log,
    };
    notice!(
        "moltd/{} master process {pid} started",
        env!("CARGO_PKG_VERSION")
    );
    master.start_workers();
    master.run()
}
