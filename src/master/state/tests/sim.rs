//! Every sequence of up to six world events (and long random ones) run
//! against a simulated world, with the master's invariants checked after
//! each event. A failing sequence prints as its list of events.
//!
//! The invariants are listed in `invariants.rs`.

use super::super::*;
use super::invariants::check;
use super::world::{ALL, Env, Ev, MASTER, OLD_MASTER, OPERATOR, settings};
use crate::master::signal::Signal;

#[derive(Debug, Clone)]
pub(super) struct Sim {
    pub(super) state: State,
    pub(super) env: Env,
    pub(super) now: Instant,
}

impl Sim {
    fn new(upgraded: bool) -> Self {
        let now = Instant::now();
        let mut sim = Sim {
            state: State::new(settings(2), upgraded.then_some(OLD_MASTER), false),
            env: Env {
                next_pid: MASTER + 1,
                pid_file: Some(MASTER),
                oldbin: None,
                config_ok: true,
                fork_ok: true,
                exited: None,
                child_wrote_pid: false,
                last_prepared: 1,
                reloading_told: false,
                actions: Vec::new(),
            },
            now,
        };
        let first = sim.state.start(now);
        sim.drive(first);
        sim.feed_all(sim.pids(WorkerState::Starting), Event::WorkerReady);
        sim
    }

    fn drive(&mut self, actions: Vec<Action>) {
        let now = self.now;
        let env = &mut self.env;
        self.state.drive(actions, || now, &mut |a| env.perform(a));
    }

    fn feed(&mut self, e: Event) {
        let actions = self.state.step(e, self.now);
        self.drive(actions);
    }

    fn feed_all(&mut self, pids: Vec<Pid>, e: impl Fn(Pid) -> Event) {
        for p in pids {
            self.feed(e(p));
        }
    }

    fn pids(&self, state: WorkerState) -> Vec<Pid> {
        let w = self.state.workers.iter();
        w.filter(|w| w.state == state).map(|w| w.pid).collect()
    }

    fn first_live(&self) -> Option<Pid> {
        let mut w = self.state.workers.iter();
        w.find(|w| w.state != WorkerState::Exiting).map(|w| w.pid)
    }

    fn signal(&mut self, sig: Signal) {
        self.feed(Event::Signal(sig, OPERATOR));
    }

    fn apply(&mut self, ev: Ev) {
        let child = self.state.child().map(|c| c.pid);
        match ev {
            Ev::Hup => self.signal(Signal::Reload),
            Ev::Usr2 => self.signal(Signal::Upgrade),
            Ev::Winch => self.signal(Signal::StopWorkers),
            Ev::Quit => self.signal(Signal::Quit),
            Ev::Term => self.signal(Signal::Terminate),
            Ev::ManagerStop => self.feed(Event::Signal(Signal::Quit, 1)),
            Ev::Usr1 => self.signal(Signal::Reopen),
            Ev::WorkersReady => self.feed_all(self.pids(WorkerState::Starting), Event::WorkerReady),
            Ev::OneReady => {
                let first = self
                    .pids(WorkerState::Starting)
                    .into_iter()
                    .take(1)
                    .collect();
                self.feed_all(first, Event::WorkerReady);
            }
            Ev::WorkerCrash | Ev::WorkerFatal => {
                if let Some(p) = self.first_live() {
                    let how = if ev == Ev::WorkerCrash {
                        Exit::Signal {
                            signo: 9,
                            core: false,
                        }
                    } else {
                        Exit::Code(EXIT_FATAL)
                    };
                    self.feed(Event::Exited(p, how));
                }
            }
            Ev::Drained => {
                let gone = self.pids(WorkerState::Exiting);
                self.feed_all(gone, |p| Event::Exited(p, Exit::Code(0)));
            }
            Ev::ChildReady => {
                if let Some(c) = child {
                    self.env.pid_file = Some(c);
                    self.env.child_wrote_pid = true;
                    self.feed(Event::NewBinaryReport(Report::Ready));
                }
            }
            Ev::ChildFails => {
                if let Some(c) = child {
                    self.feed(Event::NewBinaryReport(Report::Failed("bad".into())));
                    self.feed(Event::Exited(c, Exit::Code(1)));
                }
            }
            Ev::ChildExits => {
                if let Some(c) = child {
                    if self.env.pid_file == Some(c) {
                        self.env.pid_file = None;
                    }
                    self.feed(Event::Exited(c, Exit::Code(0)));
                }
            }
            Ev::Later => {
                self.now = self
                    .state
                    .next_deadline()
                    .unwrap_or(self.now + Duration::from_secs(1))
                    .max(self.now);
                self.feed(Event::Tick);
            }
            Ev::BreakConfig => self.env.config_ok = !self.env.config_ok,
            Ev::BreakFork => self.env.fork_ok = !self.env.fork_ok,
            Ev::OldMasterGone => self.feed(Event::OldMasterGone),
        }
    }

    /// Applies `ev` and checks every invariant against the state before;
    /// whether a shutdown ends is checked where it starts and at `leaf`s
    /// (enough, and it keeps the exhaustive run fast).
    fn step_checked(&mut self, ev: Ev, leaf: bool) -> Result<(), String> {
        let before = self.state.clone();
        self.env.actions.clear();
        self.apply(ev);
        check(&before, &self.state, &self.env, self.now, ev)?;
        let down =
            |s: &State| matches!(s.phase, Phase::Quitting { .. } | Phase::Terminating { .. });
        if down(&self.state) && (leaf || !down(&before)) && !self.ends_in_exit() {
            return Err("QUIT/TERM did not end in exit".into());
        }
        Ok(())
    }

    /// True when `ev` cannot change anything now (nothing it acts on
    /// exists): the exhaustive search skips it, it would repeat a sequence.
    fn is_no_op(&self, ev: Ev) -> bool {
        let w = &self.state.workers;
        match ev {
            Ev::ChildReady | Ev::ChildFails | Ev::ChildExits => self.state.child().is_none(),
            Ev::OldMasterGone => self.state.old_master.is_none(),
            Ev::WorkersReady | Ev::OneReady => !w.iter().any(|w| w.state == WorkerState::Starting),
            Ev::Drained => !w.iter().any(|w| w.state == WorkerState::Exiting),
            Ev::WorkerCrash | Ev::WorkerFatal => self.first_live().is_none(),
            _ => false,
        }
    }

    /// Lets time pass and every worker told to stop go; true if the
    /// master exits.
    pub(super) fn ends_in_exit(&self) -> bool {
        let mut sim = self.clone();
        for _ in 0..40 {
            if sim.env.exited.is_some() {
                return true;
            }
            sim.apply(Ev::Drained);
            sim.apply(Ev::Later);
        }
        sim.env.exited.is_some()
    }
}

fn explore(sim: &Sim, seq: &mut Vec<Ev>, depth: usize, nodes: &mut usize) {
    if depth == 0 || sim.env.exited.is_some() {
        return;
    }
    for ev in ALL {
        if sim.is_no_op(ev) {
            continue;
        }
        let mut next = sim.clone();
        seq.push(ev);
        *nodes += 1;
        if let Err(why) = next.step_checked(ev, depth == 1) {
            panic!("after {seq:?}: {why}\nstate: {:#?}", next.state);
        }
        explore(&next, seq, depth - 1, nodes);
        seq.pop();
    }
}

#[test]
fn every_sequence_of_six_events_keeps_the_invariants() {
    let mut nodes = 0;
    // Shallow first, so a failure prints its shortest sequence.
    for depth in 1..=6 {
        explore(&Sim::new(false), &mut Vec::new(), depth, &mut nodes);
    }
    assert!(nodes > 1_000_000, "explored {nodes}");
}

#[test]
fn every_sequence_of_five_events_keeps_the_invariants_in_a_new_binary() {
    let mut nodes = 0;
    for depth in 1..=5 {
        explore(&Sim::new(true), &mut Vec::new(), depth, &mut nodes);
    }
    assert!(nodes > 200_000, "explored {nodes}");
}

#[test]
fn long_random_sequences_keep_the_invariants() {
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for run in 0..3000 {
        let mut sim = Sim::new(run % 3 == 0);
        let mut seq = Vec::new();
        for _ in 0..40 {
            let ev = ALL[(next() % ALL.len() as u64) as usize];
            seq.push(ev);
            if let Err(why) = sim.step_checked(ev, true) {
                panic!("after {seq:?}: {why}\nstate: {:#?}", sim.state);
            }
            if sim.env.exited.is_some() {
                break;
            }
        }
    }
}
