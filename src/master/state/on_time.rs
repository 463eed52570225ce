//! Deadlines: the end of `shutdown_delay`, a new binary that does not
//! become ready, a reload whose workers do not, respawns held back by the
//! fork-storm guard, and the TERM-then-KILL escalation of a fast shutdown.

use std::time::Instant;

use super::{
    Action, ChildStage, KILL_AFTER, Level, Phase, Reload, Sig, Started, State, TERM_STEPS, log,
};

impl State {
    /// The nearest time something is due, for the driver's sleep.
    pub fn next_deadline(&self) -> Option<Instant> {
        let mut due: Vec<Instant> = self.respawn_at.clone();
        match &self.phase {
            Phase::Reloading(Reload {
                started: Some(st), ..
            }) => due.push(st.deadline),
            Phase::Quitting {
                drain_at: Some(at), ..
            } => due.push(*at),
            Phase::Terminating { since, step, .. } => {
                if let Some(at) = TERM_STEPS.get(*step) {
                    due.push(*since + *at);
                }
            }
            _ => {}
        }
        match self.child().map(|c| c.stage) {
            Some(ChildStage::Starting { deadline }) => due.push(deadline),
            Some(ChildStage::Stopping { kill_at }) => due.push(kill_at),
            _ => {}
        }
        due.into_iter().min()
    }

    pub(super) fn on_tick(&mut self, now: Instant, out: &mut Vec<Action>) {
        if let Phase::Quitting {
            drain_at: Some(at), ..
        } = self.phase
            && now >= at
        {
            self.start_drain(out);
        }
        self.child_deadline(now, out);
        if let Phase::Reloading(Reload {
            started: Some(Started { deadline, .. }),
            ..
        }) = self.phase
            && now >= deadline
        {
            self.abandon_reload("new worker processes did not become ready in time", out);
        }
        let due = self.respawn_at.iter().filter(|t| **t <= now).count();
        self.respawn_at.retain(|t| *t > now);
        for _ in 0..due {
            if self.serving() && self.live_current() < self.settings.worker_processes {
                out.push(Action::Fork {
                    generation: self.generation,
                    respawn: true,
                });
            }
        }
        self.escalate(now, out);
    }

    /// A new binary that misses its deadline gets TERM, then SIGKILL; its
    /// exit then rolls the upgrade back.
    fn child_deadline(&mut self, now: Instant, out: &mut Vec<Action>) {
        let timeout = self.settings.upgrade_ready_timeout;
        let Some(child) = self.child_mut() else {
            return;
        };
        let pid = child.pid;
        match child.stage {
            ChildStage::Starting { deadline } if now >= deadline => {
                child.stage = ChildStage::Stopping {
                    kill_at: now + KILL_AFTER,
                };
                log(
                    out,
                    Level::Alert,
                    format!(
                        "new binary process {pid} did not become ready within {}ms, stopping it",
                        timeout.as_millis()
                    ),
                );
                out.push(Action::SignalNewBinary {
                    pid,
                    sig: Sig::Term,
                });
            }
            ChildStage::Stopping { kill_at } if now >= kill_at => {
                child.stage = ChildStage::Killed;
                log(
                    out,
                    Level::Alert,
                    format!("new binary process {pid} ignored SIGTERM, sending SIGKILL"),
                );
                out.push(Action::SignalNewBinary {
                    pid,
                    sig: Sig::Kill,
                });
            }
            _ => {}
        }
    }

    /// A fast shutdown re-sends TERM on nginx's schedule, then SIGKILL.
    fn escalate(&mut self, now: Instant, out: &mut Vec<Action>) {
        let Phase::Terminating { since, step, .. } = &mut self.phase else {
            return;
        };
        let Some(at) = TERM_STEPS.get(*step) else {
            return;
        };
        if now < *since + *at {
            return;
        }
        *step += 1;
        if *step == TERM_STEPS.len() {
            for w in &self.workers {
                log(
                    out,
                    Level::Alert,
                    format!("worker process {} did not exit, sending SIGKILL", w.pid),
                );
            }
            self.signal_workers(out, Sig::Kill, |_| true);
        } else {
            self.signal_workers(out, Sig::Term, |_| true);
        }
    }
}
