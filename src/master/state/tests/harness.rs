//! A state machine with a trivial world, for the by-hand transition tests.

use super::super::*;
use crate::master::signal::Signal;

pub(super) fn settings(n: usize) -> Settings {
    Settings {
        worker_processes: n,
        shutdown_delay: Duration::ZERO,
        upgrade_ready_timeout: Duration::from_secs(30),
    }
}

/// A state machine with a trivial world: forks and execs succeed with
/// fresh pids, the configuration reads fine.
pub(super) struct Harness {
    pub(super) state: State,
    pub(super) now: Instant,
    pub(super) next_pid: Pid,
    pub(super) config_ok: bool,
    /// Every action performed since the last `take`.
    pub(super) done: Vec<Action>,
}

impl Harness {
    pub(super) fn new(n: usize, old_master: Option<Pid>) -> Self {
        Self::with(settings(n), old_master, false)
    }

    pub(super) fn with(settings: Settings, old_master: Option<Pid>, pid_is_1: bool) -> Self {
        let mut h = Harness {
            state: State::new(settings, old_master, pid_is_1),
            now: Instant::now(),
            next_pid: 100,
            config_ok: true,
            done: Vec::new(),
        };
        let first = h.state.start(h.now);
        h.drive(first);
        h.ready_all();
        h.done.clear();
        h
    }

    pub(super) fn drive(&mut self, actions: Vec<Action>) {
        let (now, config_ok) = (self.now, self.config_ok);
        let next_pid = &mut self.next_pid;
        let done = &mut self.done;
        self.state.drive(actions, || now, &mut |a| {
            done.push(a.clone());
            match a {
                Action::Fork { generation, .. } => {
                    *next_pid += 1;
                    Some(Event::Forked {
                        generation,
                        result: Ok(*next_pid),
                    })
                }
                Action::Prepare { .. } => Some(Event::Prepared(if config_ok {
                    Ok(settings(1))
                } else {
                    Err(vec!["bad".into()])
                })),
                Action::ExecNewBinary => {
                    *next_pid += 1;
                    Some(Event::Execed(Ok(*next_pid)))
                }
                _ => None,
            }
        });
    }

    pub(super) fn feed(&mut self, e: Event) {
        let actions = self.state.step(e, self.now);
        self.drive(actions);
    }

    pub(super) fn signal(&mut self, s: Signal) {
        // From an operator's shell, not from the service manager (PID 1).
        self.feed(Event::Signal(s, 4242));
    }

    pub(super) fn ready_all(&mut self) {
        let starting: Vec<Pid> = self
            .state
            .workers
            .iter()
            .filter(|w| w.state == WorkerState::Starting)
            .map(|w| w.pid)
            .collect();
        for p in starting {
            self.feed(Event::WorkerReady(p));
        }
    }

    pub(super) fn after(&mut self, d: Duration) {
        self.now += d;
        self.feed(Event::Tick);
    }

    pub(super) fn take(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.done)
    }

    pub(super) fn logged(&self, level: Level, text: &str) -> bool {
        self.done
            .iter()
            .any(|a| matches!(a, Action::Log(l, m) if *l == level && m.contains(text)))
    }

    pub(super) fn count(&self, f: impl Fn(&Action) -> bool) -> usize {
        self.done.iter().filter(|a| f(a)).count()
    }

    pub(super) fn pids_of(&self, generation: u64) -> Vec<Pid> {
        let w = self.state.workers.iter();
        w.filter(|w| w.generation == generation)
            .map(|w| w.pid)
            .collect()
    }
}

pub(super) fn is_fork(a: &Action) -> bool {
    matches!(a, Action::Fork { .. })
}
