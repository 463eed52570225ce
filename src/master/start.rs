//! Starting a master: bind or adopt the listeners, open the logs, check
//! the pid file, daemonize if asked, write the pid file, set the title and
//! fork the first workers (docs/architecture.md §4 for a new binary). Every
//! failure prints an nginx-style `moltd: [emerg]` line and exits 1; a new
//! binary also reports it to the old master over the readiness pipe.

use std::ffi::OsString;
use std::fs::File;
use std::process::ExitCode;
use std::sync::Arc;

use nix::unistd::Pid;

use super::signal::Inbox;
use super::state::State;
use super::upgrade::Handover;
use super::world::{Generation, World};
use super::{Master, Start, daemon, upgrade};
use crate::config::Config;
use crate::listen::{self, Shared};
use crate::log::files::LogFiles;
use crate::pidfile;
use crate::preflight::{Checked, Purpose, preflight};
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
    if let Some(f) = upgrade_report.take() {
        upgrade::report_failure(f, msg);
    }
}

/// Starts a master and runs it until it exits.
pub fn run(mut start: Start) -> ExitCode {
    // Nothing may interrupt the master before its signalfd exists; blocking
    // first also means the signals queue while we start.
    sys::fd::cloexec_all();
    let handover = upgrade::Handover::take();
    // Without `-c`, a new binary reads the file the old master runs.
    if let Some(file) = handover.config_file() {
        start.location.pin(&crate::config::Source::File(file));
    }
    let (mut ready_report, complaint) = match check_handover(&handover) {
        Ok(r) => r,
        Err(msg) => {
            startup_error(&msg, &mut None);
            return ExitCode::FAILURE;
        }
    };
    let booted = match boot(&start, &handover, complaint) {
        Ok(b) => b,
        Err(msg) => {
            startup_error(&msg, &mut ready_report);
            return ExitCode::FAILURE;
        }
    };
    let Some((pid, stderr_is_log)) = go_live(&start, &handover, &booted.config, &mut ready_report)
    else {
        return ExitCode::FAILURE;
    };
    let exe = upgrade::resolve_exe(std::path::Path::new(
        start
            .argv
            .first()
            .map(OsString::as_os_str)
            .unwrap_or_default(),
    ));
    let current = Generation {
        number: 1,
        config: booted.config,
        logs: booted.logs,
        listeners: booted.listeners,
    };
    let mut state = State::new(
        current.settings(),
        handover.old_master().map(|p| p.as_raw()),
        pid.as_raw() == 1,
    );
    state.manager = std::env::var("MANAGERPID")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|p: &i32| *p > 1);
    let mut location = start.location;
    location.pin(&current.config.source);
    let world = World {
        location,
        argv: start.argv,
        exe,
        pid,
        current,
        pending: None,
        worker_pipes: Vec::new(),
        child_pipe: None,
        ready_report,
        stderr_is_log,
        notifier: super::notify::Notifier::from_env(),
        exit_code: None,
    };
    notice!(
        "moltd/{} master process {pid} started",
        env!("CARGO_PKG_VERSION")
    );
    let mut master = Master {
        state,
        world,
        inbox: booted.inbox,
    };
    master.run()
}

/// Refuses a handover that cannot be trusted, and takes the readiness
/// pipe of a genuine upgrade (or the complaint about it, to log once the
/// error log is open).
fn check_handover(handover: &Handover) -> Result<(Option<File>, Option<String>), String> {
    handover.check()?;
    if let Some(p) = handover.orphaned_from() {
        return Err(format!(
            "master process {p} handed its sockets over, but it is not an ancestor of this process (a wrapper that started moltd in the background and exited?): not starting a second master beside it"
        ));
    }
    Ok(match handover.take_ready() {
        Some(Ok(f)) => (Some(f), None),
        Some(Err(msg)) => (None, Some(msg)),
        None => (None, None),
    })
}

/// What a master has once its configuration is read and its sockets open.
struct Booted {
    inbox: Inbox,
    config: Arc<Config>,
    logs: LogFiles,
    listeners: Vec<Shared>,
}

/// Blocks signals, reads the configuration, opens the logs and the
/// listeners (adopting inherited ones by address).
fn boot(start: &Start, handover: &Handover, complaint: Option<String>) -> Result<Booted, String> {
    let inbox = Inbox::open().map_err(|e| format!("could not set up signal handling: {e}"))?;
    // The checks `-t` and a reload run, in the same order.
    let Checked { config, logs } =
        preflight(&start.location, Purpose::Start).map_err(|e| e.to_string())?;
    let config = Arc::new(config);
    logs.install_error()
        .map_err(|e| format!("could not use the error log ({e})"))?;
    if let Some((before, after)) = crate::worker::fd_budget::raise_nofile_limit()
        && after > before
    {
        crate::info!("raised the open file limit from {before} to {after}");
    }
    super::world::warn_if_root_workers(&config);
    if config.user.is_some() && !sys::privs::is_root() {
        crate::warn!(
            "the \"user\" key makes sense only if the master process runs with super-user privileges, ignored"
        );
    }
    if let Some(msg) = complaint {
        crit!("{msg}");
    }
    if let Some(note) = crate::metrics::init(handover.take_metrics()) {
        crate::warn!("{note}");
    }
    if let Err(e) = crate::worker::balance::init() {
        crate::warn!("no shared memory to balance connections between workers ({e})");
    }
    // After the error log is open, so `using inherited sockets` lands there.
    let mut inherited = handover.adopt();
    if handover.moltd.is_some() && !handover.is_upgrade() {
        crate::warn!(
            "{} was set, but not by a moltd master that is this process's parent: started as a fresh master",
            upgrade::HANDOVER_VAR
        );
    }
    if let Some(pid) = pidfile::running_master(&config.pid) {
        return Err(format!(
            "moltd is already running: master process {pid} (pid file \"{}\")",
            config.pid.display()
        ));
    }
    pidfile::remove_stale_temps(&config.pid);
    let listeners = listen::open(
        &config.listen_addrs(),
        &[],
        &mut inherited,
        config.deferred_accept,
    )
    .map_err(|e| e.to_string())?;
    // Inherited sockets that match nothing in the configuration close here.
    drop(inherited);
    Ok(Booted {
        inbox,
        config,
        logs,
        listeners,
    })
}

/// Daemonizes if asked, sets the title and writes the pid file: from here
/// `-s` and a second start see this master. Returns its pid and whether
/// stderr is the error log; `None` once the failure is reported.
fn go_live(
    start: &Start,
    handover: &Handover,
    config: &Config,
    ready_report: &mut Option<File>,
) -> Option<(Pid, bool)> {
    let upgraded = handover.is_upgrade();
    if config.daemon && handover.has_sockets() && !upgraded {
        crate::warn!(
            "{} names sockets: staying in the foreground despite daemon = true",
            upgrade::HANDOVER_VAR
        );
    }
    let report = if config.daemon && !handover.has_sockets() && !upgraded {
        match daemon::daemonize() {
            Ok(r) => Some(r),
            Err(e) => {
                startup_error(&format!("could not daemonize: {e}"), ready_report);
                return None;
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
            None => startup_error(&msg, ready_report),
        }
        return None;
    }
    let stderr_is_log = report.is_some();
    if let Some(r) = report {
        r.ok();
        let _ = crate::log::error::capture_stderr();
    } else if !upgraded && crate::log::error::is_file() {
        announce(pid, config);
    }
    Some((pid, stderr_is_log))
}

/// In the foreground the terminal would otherwise stay silent: say where
/// we listen and where the log is, once.
fn announce(pid: Pid, config: &Config) {
    let addrs: Vec<String> = config
        .listen_addrs()
        .iter()
        .map(|a| {
            let tls = config.servers.iter().any(|s| s.ssl.contains(a));
            format!("{}://{a}/", if tls { "https" } else { "http" })
        })
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
