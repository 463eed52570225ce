//! The master process: owns the listening sockets, forks workers, and acts
//! on signals one at a time (docs/architecture.md §2-§4). Single-threaded, with no
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

mod children;
pub mod control;
pub mod daemon;
pub mod decide;
pub mod pidfile;
mod reload;
pub mod signal;
mod start;
pub mod upgrade;
pub mod workers;

pub use start::run;

use std::ffi::OsString;
use std::fs::File;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::Signal as Raw;
use nix::unistd::Pid;

use crate::config::{self, Config};
use crate::listen::Shared;
use crate::log::files::LogFiles;
use crate::{alert, crit, notice};
use signal::{Inbox, Signal};
use upgrade::NewBinary;
use workers::{State, Worker};

/// True while the master that started us by USR2 lives: by pid, and (the
/// pid may be recycled, or a zombie its parent has not reaped) by ancestry
/// or title; a title can be cut short when argv and the environment are
/// tiny, ancestry is lost when a wrapper between us dies.
fn old_master_lives(old: Pid) -> bool {
    nix::sys::signal::kill(old, None) != Err(nix::errno::Errno::ESRCH)
        && (upgrade::is_ancestor(old) || pidfile::is_master(old))
}

/// How often a new master looks whether the old one still lives.
const OLD_MASTER_CHECK: Duration = Duration::from_secs(1);

/// How long new workers of a reload may take to report ready before the
/// reload is abandoned and the old workers keep serving.
const RELOAD_READY_TIMEOUT: Duration = Duration::from_secs(10);

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
        /// Index of the next escalation (`decide::escalation`).
        step: usize,
    },
}

/// A reload whose new workers are starting.
struct PendingReload {
    config: Arc<Config>,
    logs: LogFiles,
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
    /// The current generation's log files, opened by this master.
    logs: LogFiles,
    listeners: Vec<Shared>,
    generation: u64,
    /// The highest generation number handed out so far.
    last_generation: u64,
    /// No worker could start: exit non-zero.
    failed: bool,
    workers: Vec<Worker>,
    phase: Phase,
    accepting: bool,
    reload: Option<PendingReload>,
    /// A HUP arrived during a reload: reload again when it ends.
    reload_again: bool,
    /// A USR2 arrived during a reload: upgrade when it ends.
    upgrade_queued: bool,
    /// QUIT with `shutdown_delay`: when the workers are told to drain.
    drain_at: Option<Instant>,
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
        if let Some(nb) = &self.new_binary
            && let Some(at) = nb.deadline()
        {
            d.push(at);
        }
        if let Phase::Terminating { since, step } = self.phase
            && let Some((at, _)) = decide::escalation(step)
        {
            d.push(since + at);
        }
        if let Some(at) = self.drain_at {
            d.push(at);
        }
        if self.old_master.is_some() {
            // Its death sends us nothing (we are its child): look each
            // second, to clear the `.oldbin` it leaves if it is killed.
            d.push(Instant::now() + OLD_MASTER_CHECK);
        }
        d.into_iter().min()
    }

    fn on_signal(&mut self, sig: Signal, from: Pid) {
        if sig == Signal::Child {
            self.reap_children();
            return;
        }
        let usr2 = (sig == Signal::Upgrade).then(|| self.on_usr2());
        let action = match usr2 {
            Some(decide::OnUsr2::Refuse(_)) => ", ignoring",
            Some(decide::OnUsr2::Queue) => ", changing binary once the reload completes",
            _ => sig.action(),
        };
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
    /// never more (nginx can double them). Says what it did.
    fn start_workers(&mut self) {
        self.accepting = true;
        let missing = self
            .config
            .worker_processes
            .saturating_sub(self.live_current());
        if missing == 0 {
            notice!(
                "all {} worker processes are running",
                self.config.worker_processes
            );
            return;
        }
        notice!("start worker processes");
        for _ in 0..missing {
            self.spawn_current();
        }
    }

    fn spawn_current(&mut self) {
        match workers::start_worker(&self.config, &self.logs, &self.listeners, self.generation) {
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
        self.reload_again = false;
        self.upgrade_queued = false;
        self.drain_at = None;
        self.respawn_at.clear();
        self.signal_workers(Raw::SIGTERM, |_| true);
    }

    pub(super) fn quit(&mut self) {
        if self.phase != Phase::Running {
            // A second QUIT during `shutdown_delay` means "now".
            if self.phase == Phase::Quitting && self.drain_at.is_some() {
                self.start_drain();
            }
            return;
        }
        notice!("gracefully shutting down");
        self.phase = Phase::Quitting;
        self.reload = None;
        self.reload_again = false;
        self.upgrade_queued = false;
        self.respawn_at.clear();
        let delay = self.config.shutdown_delay;
        if !delay.is_zero() && self.accepting && self.live_current() > 0 {
            // The whole server is going away (not a generation being
            // replaced): workers keep serving, failing readiness probes,
            // so load balancers stop sending before connections close.
            notice!("not ready any more; draining in {}ms", delay.as_millis());
            self.signal_workers(Raw::SIGUSR2, |w| w.state != State::Exiting);
            self.drain_at = Some(Instant::now() + delay);
            return;
        }
        self.start_drain();
    }

    /// QUIT to the workers: they drain and exit.
    fn start_drain(&mut self) {
        self.drain_at = None;
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
        self.reload_again = false;
        self.respawn_at.clear();
        self.signal_workers(Raw::SIGQUIT, |w| w.state != State::Exiting);
        // The reload it ended was all a queued USR2 waited for.
        self.upgrade_if_queued();
    }

    fn reopen(&mut self) {
        if matches!(self.phase, Phase::Terminating { .. }) {
            return;
        }
        // The master creates the new files (as root, handed to the
        // workers' user) before the workers reopen them as themselves.
        self.logs.reopen();
        if let Some(r) = &mut self.reload {
            r.logs.reopen();
        }
        match self.logs.install_error() {
            Ok(()) => self.log_reopened(),
            Err(e) => alert!("could not reopen the error log: {e}"),
        }
        // Logged after the reopen, so the fresh file shows it happened.
        notice!("reopening logs");
        // Draining workers too: they still write until they exit.
        self.signal_workers(Raw::SIGUSR1, |_| true);
    }

    /// What a USR2 does now.
    fn on_usr2(&self) -> decide::OnUsr2 {
        decide::on_usr2(decide::UpgradeState {
            running: self.phase == Phase::Running,
            new_binary: self.new_binary.is_some(),
            // Whether or not it is still our parent (a wrapper between us
            // may have died).
            old_master_alive: self.old_master.is_some_and(old_master_lives),
            reloading: self.reload.is_some(),
            pid_is_1: self.pid.as_raw() == 1,
        })
    }

    fn upgrade(&mut self) {
        match self.on_usr2() {
            decide::OnUsr2::Refuse(why) => {
                crit!("{why}");
                return;
            }
            decide::OnUsr2::Queue => {
                notice!("a reload is in progress; changing binary when it completes");
                self.upgrade_queued = true;
                return;
            }
            decide::OnUsr2::Upgrade => {}
        }
        notice!("changing binary");
        match upgrade::exec_new_binary(
            self.config.upgrade_ready_timeout,
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

    /// Runs the upgrade a USR2 asked for during a reload that has ended.
    fn upgrade_if_queued(&mut self) {
        if self.reload.is_none() && std::mem::take(&mut self.upgrade_queued) {
            notice!("changing binary for a USR2 received during the reload");
            self.upgrade();
        }
    }

    /// The master that started us (by USR2) is gone: committed (QUIT), or
    /// killed, in which case nobody else removes the `.oldbin` naming it.
    fn check_old_master(&mut self) {
        let Some(old) = self.old_master else { return };
        if old_master_lives(old) {
            return;
        }
        self.old_master = None;
        let oldbin = self.config.oldbin_path();
        if pidfile::read(&oldbin).ok() == Some(old) {
            pidfile::remove_if_ours(&oldbin, old);
            notice!(
                "old master process {old} is gone; removed \"{}\" naming it",
                oldbin.display()
            );
        } else {
            notice!("old master process {old} has exited");
        }
    }

    fn on_tick(&mut self) {
        self.check_old_master();
        let now = Instant::now();
        if self.drain_at.is_some_and(|at| now >= at) {
            self.start_drain();
        }
        if let Some(nb) = &mut self.new_binary
            && nb.deadline().is_some_and(|at| now >= at)
        {
            nb.escalate();
        }
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
            && let Some((at, what)) = decide::escalation(step)
            && now >= since + at
        {
            match what {
                decide::Escalation::Kill => {
                    for w in &self.workers {
                        alert!("worker process {} did not exit, sending SIGKILL", w.pid);
                    }
                    self.signal_workers(Raw::SIGKILL, |_| true);
                }
                decide::Escalation::Term => self.signal_workers(Raw::SIGTERM, |_| true),
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
        if self.failed {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        }
    }
}
