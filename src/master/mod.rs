//! The master process: owns the listening sockets, forks workers, and acts
//! on signals one at a time (DESIGN §2, §3, §4). Single-threaded, with no
//! tokio runtime and no threads: it sleeps in `poll(2)` over its signalfd
//! and the readiness pipes of its children, with a timeout for the nearest
//! deadline. It never imports `http`.
//!
//! ```text
//!            start (bind or adopt listeners, pid file, fork workers)
//!              |
//!              v
//!   +------> Running <-------------------------------+
//!   |        |  |  \                                  |
//!   | HUP ok |  |   USR2: pid -> pid.oldbin, exec    | new binary exits:
//!   | (new   |  |         ----> upgrade in progress ---+ pid.oldbin -> pid,
//!   | workers|  |               (USR2 refused)          workers restarted
//!   | ready, |  | WINCH                                 if WINCH stopped them
//!   | old    |  v
//!   | QUIT)  |  not accepting (no workers, sockets kept); HUP starts workers
//!   +--------+
//!      QUIT -> Exiting(graceful): workers drain, then remove pid file, exit
//!      TERM/INT -> Exiting(fast): TERM re-sent, SIGKILL after ~3s, exit
//! ```

pub mod control;
pub mod daemon;
pub mod pidfile;
pub mod signal;
pub mod upgrade;
pub mod workers;

use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::Signal as Raw;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use crate::config::{self, Config};
use crate::listen::{self, Listener, Shared};
use crate::sys;
use crate::{alert, crit, emerg, notice};
use signal::{Inbox, Signal};
use upgrade::NewBinary;
use workers::{State, Worker};

/// How long new workers of a reload may take to report ready before the
/// reload is abandoned and the old workers keep serving.
const RELOAD_READY_TIMEOUT: Duration = Duration::from_secs(10);

/// A worker that dies sooner than this after its start counts as a fast
/// death; repeated fast deaths slow respawning down (fork-storm guard).
const FAST_DEATH: Duration = Duration::from_secs(1);

/// Longest delay between respawns of a worker that keeps dying at once.
const MAX_RESPAWN_DELAY: Duration = Duration::from_secs(5);

/// When a fast shutdown re-sends TERM, counted from the first TERM; after
/// the last step, SIGKILL (nginx's observed 150/350/750/1550/3150 ms).
const TERM_STEPS: [Duration; 5] = [
    Duration::from_millis(150),
    Duration::from_millis(350),
    Duration::from_millis(750),
    Duration::from_millis(1550),
    Duration::from_millis(3150),
];

/// What the master is doing overall.
#[derive(Debug, PartialEq, Eq)]
enum Phase {
    /// Serving (possibly with the workers stopped by WINCH).
    Running,
    /// QUIT: waiting for the workers to drain.
    Quitting,
    /// TERM/INT: TERM re-sent at each step, then SIGKILL.
    Terminating {
        /// When the first TERM went out.
        since: Instant,
        /// Index into `TERM_STEPS` of the next escalation.
        step: usize,
    },
}

/// A reload whose new workers are starting.
struct PendingReload {
    config: Arc<Config>,
    listeners: Vec<Shared>,
    generation: u64,
    deadline: Instant,
}

/// How the master was started, for upgrades and `-s`.
pub struct Start {
    /// Where the configuration lives.
    pub location: config::Location,
    /// The original argv, replayed on upgrade.
    pub argv: Vec<OsString>,
}

/// The master's state.
struct Master {
    location: config::Location,
    argv: Vec<OsString>,
    exe: PathBuf,
    pid: Pid,
    config: Arc<Config>,
    listeners: Vec<Shared>,
    generation: u64,
    workers: Vec<Worker>,
    phase: Phase,
    accepting: bool,
    reload: Option<PendingReload>,
    new_binary: Option<NewBinary>,
    /// The old master, when this one was started by its upgrade.
    old_master: Option<Pid>,
    /// Where to report readiness to the old master, until reported.
    ready_report: Option<File>,
    fast_deaths: u32,
    respawn_at: Vec<Instant>,
    inbox: Inbox,
    /// stderr points at the error log (daemon mode) and must follow it.
    stderr_is_log: bool,
}

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
    let mut ready_report = take_ready_fd();
    let parent_hint = upgrade::old_master_pid();
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
    if let Err(e) = crate::log::error::set_path(config.error_log.as_deref()) {
        startup_error(
            &format!(
                "could not open the error log \"{}\": {}",
                config
                    .error_log
                    .as_deref()
                    .unwrap_or(std::path::Path::new("stderr"))
                    .display(),
                pidfile::strip_os_error(&e)
            ),
            &mut ready_report,
        );
        return ExitCode::FAILURE;
    }
    if let Err(msg) = crate::log::access::check_paths(&config) {
        startup_error(&msg, &mut ready_report);
        return ExitCode::FAILURE;
    }
    if config.user.is_some() && !sys::privs::is_root() {
        crate::warn!(
            "the \"user\" key makes sense only if the master process runs with super-user privileges, ignored"
        );
    }
    give_log_to_workers(&config);
    // After the error log is open, so `using inherited sockets` lands there.
    let (mut inherited, upgraded) = listen::take_inherited();
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
    let listeners = match listen::open(&config.listen_addrs(), &[], &mut inherited) {
        Ok(l) => l,
        Err(e) => {
            startup_error(&e.to_string(), &mut ready_report);
            return ExitCode::FAILURE;
        }
    };
    // Inherited sockets that match nothing in the configuration close here.
    drop(inherited);

    let report = if config.daemon && !upgraded {
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
    if let Err(e) = pidfile::write(&config.pid, pid) {
        let msg = format!(
            "could not write the pid file \"{}\" ({}: {})",
            config.pid.display(),
            e.raw_os_error().unwrap_or(0),
            pidfile::strip_os_error(&e)
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
    }

    let old_master = upgraded.then(|| parent_hint.unwrap_or(nix::unistd::getppid()));
    let exe = upgrade::resolve_exe(std::path::Path::new(
        start
            .argv
            .first()
            .map(OsString::as_os_str)
            .unwrap_or_default(),
    ));
    let title: Vec<String> = start
        .argv
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    sys::title::set(&format!("moltd: master process {}", title.join(" ")));

    let mut master = Master {
        location: start.location,
        argv: start.argv,
        exe,
        pid,
        config,
        listeners,
        generation: 1,
        workers: Vec::new(),
        phase: Phase::Running,
        accepting: true,
        reload: None,
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

/// Makes the error log writable by the workers' user (when the master runs
/// as root with `user`), so a worker can reopen it after a rotation.
fn give_log_to_workers(config: &Config) {
    let Some((user, group)) = &config.user else {
        return;
    };
    if !sys::privs::is_root() {
        return;
    }
    let Ok((uid, gid)) = sys::privs::lookup(user, group.as_deref()) else {
        return;
    };
    let logs = config
        .error_log
        .iter()
        .chain(config.servers.iter().filter_map(|s| s.access_log.as_ref()));
    for log in logs {
        if let Err(e) = std::os::unix::fs::chown(log, Some(uid.as_raw()), Some(gid.as_raw())) {
            alert!("chown(\"{}\", {uid}) failed ({e})", log.display());
        }
    }
}

/// The readiness fd passed by an old master (`MOLTD_READY`), if any.
fn take_ready_fd() -> Option<File> {
    let value = std::env::var(upgrade::READY_VAR).ok();
    sys::env::remove_var(upgrade::READY_VAR);
    let raw: i32 = value?.parse().ok()?;
    match sys::fd::adopt_inherited(raw) {
        Ok(fd) => {
            let _ = sys::fd::set_cloexec(fd.as_fd(), true);
            Some(File::from(fd))
        }
        Err(_) => {
            crit!("the readiness fd #{raw} from the old master is not open, ignoring");
            None
        }
    }
}

impl Master {
    fn run(&mut self) -> ExitCode {
        loop {
            if self.phase != Phase::Running && self.workers.is_empty() {
                return self.exit();
            }
            self.wait_and_dispatch();
            self.on_tick();
        }
    }

    /// Sleeps until a signal, a readiness byte, or the next deadline.
    fn wait_and_dispatch(&mut self) {
        #[derive(Clone, Copy)]
        enum Src {
            Signals,
            Worker(Pid),
            NewBinary,
        }
        let timeout = self.next_deadline().map(|d| {
            let ms = d.saturating_duration_since(Instant::now()).as_millis();
            PollTimeout::try_from(ms.min(60_000) as i32 + 1).unwrap_or(PollTimeout::MAX)
        });
        let mut sources = vec![Src::Signals];
        let mut fds = vec![PollFd::new(self.inbox.fd(), PollFlags::POLLIN)];
        for w in &self.workers {
            if let Some(r) = &w.ready {
                sources.push(Src::Worker(w.pid));
                fds.push(PollFd::new(r.as_fd(), PollFlags::POLLIN));
            }
        }
        if let Some(nb) = &self.new_binary
            && let Some(r) = &nb.ready
        {
            sources.push(Src::NewBinary);
            fds.push(PollFd::new(r.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, timeout.unwrap_or(PollTimeout::NONE)) {
            Ok(0) => return,
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => return,
            Err(e) => {
                alert!("poll() failed ({e})");
                std::thread::sleep(Duration::from_millis(100));
                return;
            }
        }
        let ready: Vec<Src> = fds
            .iter()
            .zip(&sources)
            .filter(|(f, _)| f.revents().is_some_and(|r| !r.is_empty()))
            .map(|(_, s)| *s)
            .collect();
        drop(fds);
        for src in ready {
            match src {
                Src::Signals => {
                    for (sig, from) in self.inbox.take() {
                        self.on_signal(sig, from);
                    }
                }
                Src::Worker(pid) => self.on_worker_ready(pid),
                Src::NewBinary => self.on_new_binary_ready(),
            }
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        let mut d: Vec<Instant> = self.respawn_at.clone();
        if let Some(r) = &self.reload {
            d.push(r.deadline);
        }
        if let Phase::Terminating { since, step } = self.phase
            && let Some(at) = TERM_STEPS.get(step)
        {
            d.push(since + *at);
        }
        d.into_iter().min()
    }

    fn on_signal(&mut self, sig: Signal, from: Pid) {
        if sig == Signal::Child {
            self.reap_children();
            return;
        }
        let refused = sig == Signal::Upgrade && self.upgrade_refusal().is_some();
        let action = if refused { ", ignoring" } else { sig.action() };
        notice!("{sig} received from {from}{action}");
        match sig {
            Signal::Terminate | Signal::Interrupt => self.terminate(),
            Signal::Quit => self.quit(),
            Signal::Reload => self.reload(),
            Signal::Reopen => self.reopen(),
            Signal::Upgrade => self.upgrade(),
            Signal::StopWorkers => self.stop_workers(),
            Signal::Child => {}
        }
    }

    fn live_current(&self) -> usize {
        self.workers
            .iter()
            .filter(|w| w.generation == self.generation && w.state != State::Exiting)
            .count()
    }

    /// Starts workers of the current generation up to `worker_processes`;
    /// never more (nginx can double them, control.md #4).
    fn start_workers(&mut self) {
        self.accepting = true;
        let missing = self
            .config
            .worker_processes
            .saturating_sub(self.live_current());
        for _ in 0..missing {
            self.spawn_current();
        }
    }

    fn spawn_current(&mut self) {
        match workers::start_worker(&self.config, &self.listeners, self.generation) {
            Ok(w) => self.workers.push(w),
            Err(e) => alert!("fork() failed while spawning \"worker process\" ({e})"),
        }
    }

    fn signal_workers(&mut self, sig: Raw, filter: impl Fn(&Worker) -> bool) {
        for w in self.workers.iter_mut().filter(|w| filter(w)) {
            workers::signal(w, sig);
            if matches!(sig, Raw::SIGQUIT | Raw::SIGTERM | Raw::SIGKILL) {
                w.state = State::Exiting;
                w.ready = None;
            }
        }
    }

    fn terminate(&mut self) {
        if matches!(self.phase, Phase::Terminating { .. }) {
            return;
        }
        self.phase = Phase::Terminating {
            since: Instant::now(),
            step: 0,
        };
        self.reload = None;
        self.respawn_at.clear();
        self.signal_workers(Raw::SIGTERM, |_| true);
    }

    fn quit(&mut self) {
        if self.phase != Phase::Running {
            return;
        }
        notice!("gracefully shutting down");
        self.phase = Phase::Quitting;
        self.reload = None;
        self.respawn_at.clear();
        self.signal_workers(Raw::SIGQUIT, |w| w.state != State::Exiting);
        // New connections are refused once no process holds the sockets.
        self.listeners.clear();
    }

    fn stop_workers(&mut self) {
        if self.phase != Phase::Running {
            return;
        }
        self.accepting = false;
        self.reload = None;
        self.respawn_at.clear();
        self.signal_workers(Raw::SIGQUIT, |w| w.state != State::Exiting);
    }

    fn reopen(&mut self) {
        if self.phase != Phase::Running {
            return;
        }
        // Logged after the reopen, so the fresh file shows it happened.
        match crate::log::error::reopen() {
            Ok(()) => {
                self.log_reopened();
                notice!("reopening logs");
            }
            Err(e) => alert!("could not reopen the error log: {e}"),
        }
        self.signal_workers(Raw::SIGUSR1, |w| w.state != State::Exiting);
    }

    fn reload(&mut self) {
        if self.phase != Phase::Running {
            return;
        }
        if self.new_binary.is_some() || !self.accepting {
            // A rollback (HUP to the old master during an upgrade) or a
            // master whose workers WINCH stopped: start workers with the
            // configuration in memory, as nginx does, never the file on
            // disk (it may be the new binary's). Only the missing ones.
            notice!("start worker processes");
            self.start_workers();
            return;
        }
        if self.reload.is_some() {
            notice!("a reload is already in progress, ignoring");
            return;
        }
        notice!("reconfiguring");
        let config = match config::load(&self.location) {
            Ok(c) => Arc::new(c),
            Err(e) => {
                emerg!("{e}");
                return;
            }
        };
        if let Err(msg) = crate::log::access::check_paths(&config) {
            emerg!("{msg}");
            return;
        }
        give_log_to_workers(&config);
        let listeners = match listen::open(
            &config.listen_addrs(),
            &self.listeners,
            &mut Vec::<Listener>::new(),
        ) {
            Ok(l) => l,
            Err(e) => {
                emerg!("{e}");
                emerg!("reload failed, keeping the old configuration");
                return;
            }
        };
        let generation = self.generation + 1;
        for _ in 0..config.worker_processes {
            match workers::start_worker(&config, &listeners, generation) {
                Ok(w) => self.workers.push(w),
                Err(e) => {
                    alert!("fork() failed while spawning \"worker process\" ({e})");
                    self.abandon_reload_workers(generation);
                    emerg!("reload failed, keeping the old configuration");
                    return;
                }
            }
        }
        self.reload = Some(PendingReload {
            config,
            listeners,
            generation,
            deadline: Instant::now() + RELOAD_READY_TIMEOUT,
        });
    }

    /// Stops the workers of an abandoned reload: those already serving
    /// drain (they may hold requests), those still starting are killed.
    fn abandon_reload_workers(&mut self, generation: u64) {
        self.signal_workers(Raw::SIGQUIT, |w| {
            w.generation == generation && w.state == State::Running
        });
        self.signal_workers(Raw::SIGKILL, |w| {
            w.generation == generation && w.state == State::Starting
        });
    }

    fn abandon_reload(&mut self, why: &str) {
        if let Some(r) = self.reload.take() {
            alert!("{why}; reload failed, keeping the old configuration");
            self.abandon_reload_workers(r.generation);
        }
    }

    /// All new workers of a reload are serving: switch generations.
    fn commit_reload(&mut self) {
        let Some(r) = self.reload.take() else { return };
        let old_pid_path = self.config.pid.clone();
        let old_log = self.config.error_log.clone();
        self.config = r.config;
        self.listeners = r.listeners;
        self.generation = r.generation;
        let generation = self.generation;
        self.signal_workers(Raw::SIGQUIT, |w| {
            w.generation != generation && w.state != State::Exiting
        });
        if self.config.error_log != old_log {
            match crate::log::error::set_path(self.config.error_log.as_deref()) {
                Ok(()) => self.log_reopened(),
                Err(e) => alert!("could not open the new error log: {e}"),
            }
        }
        if self.config.pid != old_pid_path && self.new_binary.is_none() {
            match pidfile::write(&self.config.pid, self.pid) {
                // Two spellings of one file (a symlinked directory) must not
                // end with the file just written being deleted.
                Ok(()) if pidfile::same_file(&self.config.pid, &old_pid_path) => {}
                Ok(()) => pidfile::remove_if_ours(&old_pid_path, self.pid),
                Err(e) => alert!(
                    "could not write the pid file \"{}\": {e}",
                    self.config.pid.display()
                ),
            }
        }
        notice!("reload complete, configuration generation {generation}");
    }

    /// The error log file changed: hand it to the workers' user and, for a
    /// daemon, point stderr at it again.
    fn log_reopened(&self) {
        give_log_to_workers(&self.config);
        if self.stderr_is_log {
            let _ = crate::log::error::capture_stderr();
        }
    }

    /// Why a USR2 must be refused now, if it must.
    fn upgrade_refusal(&self) -> Option<&'static str> {
        if self.phase != Phase::Running {
            return Some("shutting down");
        }
        if self.new_binary.is_some() {
            return Some("upgrade in progress");
        }
        if self.reload.is_some() {
            return Some("a reload is in progress");
        }
        if self.old_master.is_some_and(|p| nix::unistd::getppid() == p) {
            return Some("the old master is still running");
        }
        None
    }

    fn upgrade(&mut self) {
        if self.upgrade_refusal().is_some() {
            if self.reload.is_some() {
                crit!(
                    "the changing binary signal is ignored: a reload is in progress, try again once it completes"
                );
            } else {
                crit!(
                    "the changing binary signal is ignored: you should shutdown or terminate before either old or new binary's process"
                );
            }
            return;
        }
        notice!("changing binary");
        match upgrade::exec_new_binary(
            &self.exe,
            &self.argv,
            &self.listeners,
            &self.config.pid,
            &self.config.oldbin_path(),
        ) {
            Ok(nb) => {
                notice!("start new binary process {}", nb.pid);
                self.new_binary = Some(nb);
            }
            Err(e) => alert!("{e}"),
        }
    }

    /// The new binary wrote on its readiness pipe: `1` once it serves, or
    /// the reason it could not start.
    fn on_new_binary_ready(&mut self) {
        let Some(nb) = &mut self.new_binary else {
            return;
        };
        let Some(r) = nb.ready.take() else { return };
        // One read: a write of up to PIPE_BUF bytes arrives whole, and the
        // master must not block on a child.
        let mut buf = [0u8; 4096];
        let n = File::from(r).read(&mut buf).unwrap_or(0);
        match &buf[..n] {
            [] => {}
            b"1" => notice!("new binary process {} is ready", nb.pid),
            msg => alert!(
                "new binary process {} failed to start: {}",
                nb.pid,
                String::from_utf8_lossy(msg).trim_end()
            ),
        }
    }

    fn on_worker_ready(&mut self, pid: Pid) {
        let Some(w) = self.workers.iter_mut().find(|w| w.pid == pid) else {
            return;
        };
        let Some(r) = w.ready.take() else { return };
        let mut byte = [0u8; 1];
        if matches!(File::from(r).read(&mut byte), Ok(1)) && w.state == State::Starting {
            w.state = State::Running;
        }
        if let Some(r) = &self.reload
            && self
                .workers
                .iter()
                .filter(|w| w.generation == r.generation)
                .all(|w| w.state == State::Running)
        {
            self.commit_reload();
        }
        self.report_ready_if_serving();
    }

    /// Tells the old master (after an upgrade) that this one serves.
    fn report_ready_if_serving(&mut self) {
        if self.ready_report.is_none() {
            return;
        }
        let running = self
            .workers
            .iter()
            .filter(|w| w.generation == self.generation && w.state == State::Running)
            .count();
        if running >= self.config.worker_processes
            && let Some(mut f) = self.ready_report.take()
        {
            let _ = f.write_all(b"1");
        }
    }

    fn reap_children(&mut self) {
        loop {
            let status = match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(_) => return,
                Ok(s) => s,
            };
            let (pid, how, code) = match status {
                WaitStatus::Exited(pid, code) => {
                    (pid, format!("exited with code {code}"), Some(code))
                }
                WaitStatus::Signaled(pid, sig, core) => (
                    pid,
                    format!(
                        "exited on signal {}{}",
                        sig as i32,
                        if core { " (core dumped)" } else { "" }
                    ),
                    None,
                ),
                _ => continue,
            };
            if self.new_binary.as_ref().is_some_and(|nb| nb.pid == pid) {
                notice!("new binary process {pid} {how}");
                self.new_binary_exited();
            } else if let Some(i) = self.workers.iter().position(|w| w.pid == pid) {
                let w = self.workers.swap_remove(i);
                if code.is_some() {
                    notice!("worker process {pid} {how}");
                } else {
                    alert!("worker process {pid} {how}");
                }
                self.worker_exited(w, code);
            } else {
                notice!("unknown process {pid} {how}");
            }
        }
    }

    fn new_binary_exited(&mut self) {
        self.new_binary = None;
        let oldbin = self.config.oldbin_path();
        if let Err(e) = std::fs::rename(&oldbin, &self.config.pid) {
            alert!(
                "rename() \"{}\" back to \"{}\" failed after the new binary process \"{}\" exited ({e})",
                oldbin.display(),
                self.config.pid.display(),
                self.exe.display()
            );
        }
        if self.phase == Phase::Running
            && (!self.accepting || self.live_current() < self.config.worker_processes)
        {
            notice!("start worker processes");
            self.start_workers();
        }
    }

    fn worker_exited(&mut self, w: Worker, code: Option<i32>) {
        if let Some(r) = &self.reload
            && w.generation == r.generation
        {
            self.abandon_reload(&format!(
                "new worker process {} exited before it was ready",
                w.pid
            ));
            return;
        }
        let unexpected = w.state != State::Exiting
            && w.generation == self.generation
            && self.phase == Phase::Running
            && self.accepting;
        if !unexpected {
            return;
        }
        if code == Some(crate::worker::EXIT_FATAL) {
            alert!(
                "worker process {} exited with fatal code 2 and cannot be respawned",
                w.pid
            );
            return;
        }
        if w.started.elapsed() < FAST_DEATH {
            self.fast_deaths += 1;
        } else {
            self.fast_deaths = 0;
        }
        if self.fast_deaths <= 1 {
            self.spawn_current();
        } else {
            let delay = (Duration::from_millis(100) * 2u32.saturating_pow(self.fast_deaths - 2))
                .min(MAX_RESPAWN_DELAY);
            alert!(
                "worker processes keep exiting within {}s of starting; respawning in {}ms",
                FAST_DEATH.as_secs(),
                delay.as_millis()
            );
            self.respawn_at.push(Instant::now() + delay);
        }
    }

    fn on_tick(&mut self) {
        let now = Instant::now();
        if let Some(r) = &self.reload
            && now >= r.deadline
        {
            self.abandon_reload("new worker processes did not become ready in time");
        }
        let due = self.respawn_at.iter().filter(|t| **t <= now).count();
        self.respawn_at.retain(|t| *t > now);
        for _ in 0..due {
            if self.phase == Phase::Running
                && self.accepting
                && self.live_current() < self.config.worker_processes
            {
                self.spawn_current();
            }
        }
        if let Phase::Terminating { since, step } = self.phase
            && TERM_STEPS.get(step).is_some_and(|at| now >= since + *at)
        {
            if step + 1 == TERM_STEPS.len() {
                for w in &self.workers {
                    alert!("worker process {} did not exit, sending SIGKILL", w.pid);
                }
                self.signal_workers(Raw::SIGKILL, |_| true);
            } else {
                self.signal_workers(Raw::SIGTERM, |_| true);
            }
            self.phase = Phase::Terminating {
                since,
                step: step + 1,
            };
        }
    }

    fn exit(&mut self) -> ExitCode {
        if self.new_binary.is_some() {
            pidfile::remove_if_ours(&self.config.oldbin_path(), self.pid);
        } else {
            pidfile::remove_if_ours(&self.config.pid, self.pid);
        }
        notice!("exit");
        ExitCode::SUCCESS
    }
}
