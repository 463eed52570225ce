//! The master's decisions, as one state machine with no I/O: the driver in
//! `master/mod.rs` turns what it reads (a signal, a readiness byte, a reaped
//! child, a passed deadline) into an [`Event`], calls [`State::step`], and
//! performs the [`Action`]s it gets back in order. Actions that ask the
//! world something (fork, re-read the config, exec) are answered by the
//! driver with a follow-up event before the next real one is read, so every
//! decision is made here, and `state/tests.rs` can run every short sequence
//! of events against a simulated world.
//!
//! The phases, as an operator sees them (docs/architecture.md §3):
//!
//! ```text
//!   Running --HUP--> Reloading --all new workers ready--> Running (old QUIT)
//!      |  ^              | new worker died / timeout / fork failed: Running
//!      |  |              | HUP: reload again after; USR2: upgrade after
//!      |  +----HUP-------+-----------------------------+
//!   WINCH |                                            |
//!      v  |                                            |
//!   Stopped --USR2--> Upgrading{stopped} <--WINCH-- Upgrading <--USR2-- Running
//!                         child exits: .oldbin -> pid, workers restarted
//!   any --QUIT--> Quitting{drain_at} --workers gone--> Exited
//!   any --TERM/INT--> Terminating{step} --workers gone--> Exited
//! ```

use std::time::{Duration, Instant};

use super::signal::Signal;
use crate::log::Level;

mod events;
#[cfg(test)]
mod tests;

pub use events::{Action, Event, Exit, Notice, Report, Settings, Sig};

/// A process id, as a plain number: this file names no system types.
pub type Pid = i32;

/// How long new workers of a reload may take to report ready before the
/// reload is abandoned and the old workers keep serving.
pub const RELOAD_READY_TIMEOUT: Duration = Duration::from_secs(10);

/// After TERM, how long a stuck new binary gets before SIGKILL.
pub const KILL_AFTER: Duration = Duration::from_secs(5);

/// A worker that dies sooner than this after its start counts as a fast
/// death; repeated fast deaths slow respawning down (fork-storm guard).
pub const FAST_DEATH: Duration = Duration::from_secs(1);

/// Longest delay between respawns of a worker that keeps dying at once.
pub const MAX_RESPAWN_DELAY: Duration = Duration::from_secs(5);

/// Shortest delay before trying a fork again after one failed.
const FORK_RETRY: Duration = Duration::from_millis(100);

/// When a fast shutdown re-sends TERM, counted from the first TERM; after
/// the last step, SIGKILL (nginx's observed 150/350/750/1550/3150 ms).
pub const TERM_STEPS: [Duration; 5] = [
    Duration::from_millis(150),
    Duration::from_millis(350),
    Duration::from_millis(750),
    Duration::from_millis(1550),
    Duration::from_millis(3150),
];

/// The worker exit code that means "this configuration cannot serve":
/// such a worker is not respawned.
pub const EXIT_FATAL: i32 = crate::worker::EXIT_FATAL;

/// nginx's line for a refused USR2 during an upgrade.
pub const UPGRADE_IN_PROGRESS: &str = "the changing binary signal is ignored: you should shutdown or terminate before either old or new binary's process";

/// Where a worker is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerState {
    /// Forked, not yet serving (its ready byte has not arrived).
    Starting,
    /// Serving.
    Running,
    /// Told to stop (QUIT, TERM or KILL); not respawned when it exits.
    Exiting,
}

/// One worker process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Worker {
    /// Its pid.
    pub pid: Pid,
    /// The configuration generation it serves.
    pub generation: u64,
    /// Where it is in its life.
    pub state: WorkerState,
    /// When it was forked.
    pub started: Instant,
}

/// The new binary started by USR2, while it lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Child {
    /// Its pid (and process group).
    pub pid: Pid,
    /// How far it got.
    pub stage: ChildStage,
}

/// How far the new binary got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildStage {
    /// Not ready yet; stopped with TERM at the deadline.
    Starting {
        /// `upgrade_ready_timeout` after its start.
        deadline: Instant,
    },
    /// Sent TERM for missing its deadline; SIGKILL at `kill_at`.
    Stopping {
        /// When SIGKILL goes out.
        kill_at: Instant,
    },
    /// Sent SIGKILL; its exit is all that is left.
    Killed,
    /// It reported ready: the operator commits (WINCH, QUIT) or rolls back.
    Ready,
}

/// A HUP's new generation, from reading its configuration until all its
/// workers are ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reload {
    /// Its generation number.
    pub generation: u64,
    /// Its settings and deadline, once its configuration was read and its
    /// workers forked.
    pub started: Option<Started>,
    /// A HUP arrived meanwhile: reload once more when this one ends (the
    /// file may have changed again since it was read).
    pub again: bool,
    /// A USR2 arrived meanwhile: upgrade once no reload is left (a deploy
    /// script's `-s reload` then USR2 gets both, as with nginx).
    pub upgrade: bool,
}

/// A reload whose workers are starting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Started {
    /// The new generation's settings.
    pub settings: Settings,
    /// When it is abandoned if not every worker is ready.
    pub deadline: Instant,
}

/// What the master is doing overall.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// The current generation serves.
    Running,
    /// The current generation serves while a new one starts.
    Reloading(Reload),
    /// WINCH: no workers, sockets kept; HUP starts workers again.
    Stopped,
    /// A new binary runs beside this master (its child).
    Upgrading {
        /// The new binary.
        child: Child,
        /// WINCH stopped this master's workers (the commit's first step).
        stopped: bool,
    },
    /// QUIT: workers drain (after `shutdown_delay`), then exit.
    Quitting {
        /// When the workers are told to drain, while they fail health
        /// checks first.
        drain_at: Option<Instant>,
        /// The new binary, if QUIT committed an upgrade.
        child: Option<Child>,
    },
    /// TERM/INT: TERM re-sent at each step, then SIGKILL.
    Terminating {
        /// When the first TERM went out.
        since: Instant,
        /// Index of the next escalation in [`TERM_STEPS`].
        step: usize,
        /// The new binary, if any.
        child: Option<Child>,
    },
    /// Exit was asked for; nothing else happens.
    Exited,
}

/// The master's whole state.
#[derive(Debug, Clone)]
pub struct State {
    /// What it is doing.
    pub phase: Phase,
    /// Every worker not yet reaped.
    pub workers: Vec<Worker>,
    /// The generation that serves.
    pub generation: u64,
    /// The highest generation number handed out (never reused: workers
    /// of an abandoned reload may still be draining).
    pub last_generation: u64,
    /// The current generation's settings.
    pub settings: Settings,
    /// The master that started this one by USR2, while it lives.
    pub old_master: Option<Pid>,
    /// The old master waits for our readiness report.
    pub report_pending: bool,
    /// The service manager was told that the first generation serves.
    pub announced: bool,
    /// This master is process 1 of its namespace.
    pub pid_is_1: bool,
    /// The service manager's pid besides PID 1 (`$MANAGERPID`: a user
    /// manager): a QUIT or TERM from it stops the service.
    pub manager: Option<Pid>,
    /// No worker can serve this configuration: exit non-zero.
    pub failed: bool,
    /// Consecutive workers that died within [`FAST_DEATH`].
    pub fast_deaths: u32,
    /// When missing workers are forked again.
    pub respawn_at: Vec<Instant>,
}

mod on_child;
mod on_signal;
mod on_time;

/// Appends a log line.
fn log(out: &mut Vec<Action>, level: Level, msg: impl Into<String>) {
    out.push(Action::Log(level, msg.into()));
}

impl State {
    /// A master that has just started; `start` forks its workers.
    pub fn new(settings: Settings, old_master: Option<Pid>, pid_is_1: bool) -> Self {
        State {
            phase: Phase::Running,
            workers: Vec::new(),
            generation: 1,
            last_generation: 1,
            settings,
            old_master,
            report_pending: old_master.is_some(),
            announced: false,
            pid_is_1,
            manager: None,
            failed: false,
            fast_deaths: 0,
            respawn_at: Vec::new(),
        }
    }

    /// The first workers.
    pub fn start(&mut self, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        self.start_workers(&mut out);
        self.settle(now, &mut out);
        out
    }

    /// Takes one event; returns what to do, in order.
    pub fn step(&mut self, event: Event, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        if self.phase == Phase::Exited {
            return out;
        }
        match event {
            Event::Signal(sig, from) => self.on_signal(sig, from, now, &mut out),
            Event::WorkerReady(pid) => self.on_worker_ready(pid, &mut out),
            Event::Exited(pid, how) => self.on_exit(pid, how, now, &mut out),
            Event::Forked { generation, result } => {
                self.on_forked(generation, result, now, &mut out)
            }
            Event::Prepared(result) => self.on_prepared(result, now, &mut out),
            Event::Execed(result) => self.on_execed(result, now, &mut out),
            Event::NewBinaryReport(report) => self.on_report(report, &mut out),
            Event::OldMasterGone => {
                if let Some(old) = self.old_master.take() {
                    out.push(Action::ForgetOldMaster { old });
                    // Committed (the old master handed the role over) or
                    // killed: either way this master is the main one now.
                    if self.announced {
                        out.push(Action::Notify(Notice::MainPid(None)));
                    }
                }
            }
            Event::Tick => self.on_tick(now, &mut out),
        }
        self.settle(now, &mut out);
        out
    }

    /// Performs `actions` in order through `perform`. An action the world
    /// answers (fork, exec, prepare) is stepped at once, and what the
    /// answer asks comes before the rest: the driver and the tests'
    /// simulated world see the same order.
    pub fn drive(
        &mut self,
        actions: Vec<Action>,
        now: impl Fn() -> Instant,
        perform: &mut impl FnMut(Action) -> Option<Event>,
    ) {
        let mut queue: std::collections::VecDeque<Action> = actions.into();
        while let Some(a) = queue.pop_front() {
            if let Some(answer) = perform(a) {
                for a in self.step(answer, now()).into_iter().rev() {
                    queue.push_front(a);
                }
            }
        }
    }

    /// What follows from any event: the readiness report once the current
    /// generation serves in full, and exit once a shutdown has no worker
    /// left.
    fn settle(&mut self, _now: Instant, out: &mut Vec<Action>) {
        let in_full = self.serving() && self.running_current() >= self.settings.worker_processes;
        if in_full && self.report_pending {
            self.report_pending = false;
            out.push(Action::ReportReady);
        }
        if in_full && !self.announced {
            self.announced = true;
            out.push(Action::Notify(Notice::Ready {
                status: self.status(),
            }));
        }
        let oldbin = match &self.phase {
            Phase::Quitting { child, .. } | Phase::Terminating { child, .. } => child.is_some(),
            _ => return,
        };
        if self.workers.is_empty() {
            self.phase = Phase::Exited;
            out.push(Action::Exit {
                code: u8::from(self.failed),
                oldbin,
            });
        }
    }

    /// The `STATUS=` line for a master that serves.
    fn status(&self) -> String {
        format!(
            "{} worker processes serving configuration generation {}",
            self.settings.worker_processes, self.generation
        )
    }

    /// True while this master's current generation should serve: not
    /// stopped by WINCH, not shutting down.
    pub fn serving(&self) -> bool {
        matches!(
            self.phase,
            Phase::Running | Phase::Reloading(_) | Phase::Upgrading { stopped: false, .. }
        )
    }

    /// Workers of the current generation not told to stop.
    pub fn live_current(&self) -> usize {
        self.workers
            .iter()
            .filter(|w| w.generation == self.generation && w.state != WorkerState::Exiting)
            .count()
    }

    fn running_current(&self) -> usize {
        self.workers
            .iter()
            .filter(|w| w.generation == self.generation && w.state == WorkerState::Running)
            .count()
    }

    /// The new binary, in whatever phase holds it.
    pub fn child(&self) -> Option<&Child> {
        match &self.phase {
            Phase::Upgrading { child, .. } => Some(child),
            Phase::Quitting { child, .. } | Phase::Terminating { child, .. } => child.as_ref(),
            _ => None,
        }
    }

    fn child_mut(&mut self) -> Option<&mut Child> {
        match &mut self.phase {
            Phase::Upgrading { child, .. } => Some(child),
            Phase::Quitting { child, .. } | Phase::Terminating { child, .. } => child.as_mut(),
            _ => None,
        }
    }

    /// The new binary, taken out of the phase (which leaves upgrading).
    fn take_child(&mut self) -> Option<Child> {
        match &mut self.phase {
            Phase::Upgrading { .. } => match std::mem::replace(&mut self.phase, Phase::Running) {
                Phase::Upgrading { child, .. } => Some(child),
                _ => None,
            },
            Phase::Quitting { child, .. } | Phase::Terminating { child, .. } => child.take(),
            _ => None,
        }
    }

    /// Sends `sig` to every worker `filter` picks; QUIT, TERM and KILL
    /// mark them exiting, so they are not respawned.
    fn signal_workers(
        &mut self,
        out: &mut Vec<Action>,
        sig: Sig,
        filter: impl Fn(&Worker) -> bool,
    ) {
        for w in self.workers.iter_mut().filter(|w| filter(w)) {
            out.push(Action::Signal { pid: w.pid, sig });
            if matches!(sig, Sig::Quit | Sig::Term | Sig::Kill) {
                w.state = WorkerState::Exiting;
            }
        }
    }

    /// Forks workers of the current generation up to `worker_processes`,
    /// never more (nginx can double them), and serves again if WINCH had
    /// stopped it. Says what it did.
    fn start_workers(&mut self, out: &mut Vec<Action>) {
        match &mut self.phase {
            Phase::Stopped => self.phase = Phase::Running,
            Phase::Upgrading { stopped, .. } => *stopped = false,
            _ => {}
        }
        let n = self.settings.worker_processes;
        let missing = n.saturating_sub(self.live_current());
        if missing == 0 {
            log(
                out,
                Level::Notice,
                format!("all {n} worker processes are running"),
            );
            return;
        }
        log(out, Level::Notice, "start worker processes");
        for _ in 0..missing {
            out.push(Action::Fork {
                generation: self.generation,
                respawn: false,
            });
        }
    }
}
