//! What each control signal does in each phase, including the signals that
//! are queued (HUP or USR2 during a reload) or refused (USR2 during an
//! upgrade or a shutdown), each with its log line.

use std::time::Instant;

use super::{
    Action, Level, Notice, Phase, Pid, RELOAD_READY_TIMEOUT, Reload, Sig, Started, State,
    WorkerState, log,
};
use crate::master::signal::Signal;

/// What a USR2 does now.
#[derive(Debug, PartialEq, Eq)]
pub enum OnUsr2 {
    /// Start the new binary now.
    Upgrade,
    /// A reload is starting its workers: upgrade once it ends.
    Queue,
    /// Refused, with the crit line to log.
    Refuse(&'static str),
}

impl State {
    /// The USR2 decision.
    pub fn on_usr2(&self) -> OnUsr2 {
        match &self.phase {
            Phase::Quitting { .. } | Phase::Terminating { .. } | Phase::Exited => {
                return OnUsr2::Refuse("the changing binary signal is ignored: shutting down");
            }
            Phase::Upgrading { .. } => return OnUsr2::Refuse(super::UPGRADE_IN_PROGRESS),
            _ => {}
        }
        if self.old_master.is_some() {
            return OnUsr2::Refuse(super::UPGRADE_IN_PROGRESS);
        }
        if self.pid_is_1 {
            return OnUsr2::Refuse(
                "the changing binary signal is ignored: this master is process 1 of its namespace, and the new master would die with it when the upgrade is committed; run moltd under an init (e.g. tini) or with daemon = true",
            );
        }
        match self.phase {
            Phase::Reloading(_) => OnUsr2::Queue,
            _ => OnUsr2::Upgrade,
        }
    }

    pub(super) fn on_signal(
        &mut self,
        sig: Signal,
        from: Pid,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let usr2 = (sig == Signal::Upgrade).then(|| self.on_usr2());
        let suffix = match usr2 {
            Some(OnUsr2::Refuse(_)) => ", ignoring",
            Some(OnUsr2::Queue) => ", changing binary once the reload completes",
            _ => sig.action(),
        };
        log(
            out,
            Level::Notice,
            format!("{sig} received from {from}{suffix}"),
        );
        match sig {
            Signal::Terminate | Signal::Interrupt => self.terminate(from, now, out),
            Signal::Quit => self.quit(Some(from), now, out),
            Signal::Reload => self.reload(out),
            Signal::Reopen => self.reopen(out),
            Signal::Upgrade => self.upgrade(out),
            Signal::StopWorkers => self.stop_workers(out),
            Signal::Child => {}
        }
    }

    fn terminate(&mut self, from: Pid, now: Instant, out: &mut Vec<Action>) {
        let child = match &mut self.phase {
            Phase::Terminating { .. } | Phase::Exited => return,
            Phase::Reloading(r) => {
                out.push(Action::Discard {
                    generation: r.generation,
                });
                None
            }
            _ => self.take_child(),
        };
        self.tell_manager_we_go(child.as_ref(), Some(from), Sig::Term, out);
        self.phase = Phase::Terminating {
            since: now,
            step: 0,
            child,
        };
        self.respawn_at.clear();
        self.signal_workers(out, Sig::Term, |_| true);
    }

    /// QUIT, from `from` (`None`: this master decided it).
    pub(super) fn quit(&mut self, from: Option<Pid>, now: Instant, out: &mut Vec<Action>) {
        match &self.phase {
            // A second QUIT during `shutdown_delay` means "now".
            Phase::Quitting {
                drain_at: Some(_), ..
            } => return self.start_drain(out),
            Phase::Quitting { .. } | Phase::Terminating { .. } | Phase::Exited => return,
            Phase::Reloading(r) => out.push(Action::Discard {
                generation: r.generation,
            }),
            _ => {}
        }
        log(out, Level::Notice, "gracefully shutting down");
        let serving = self.serving() && self.live_current() > 0;
        let child = self.take_child();
        self.tell_manager_we_go(child.as_ref(), from, Sig::Quit, out);
        self.respawn_at.clear();
        let delay = self.settings.shutdown_delay;
        if !delay.is_zero() && serving {
            // The whole server is going away (not a generation being
            // replaced): workers keep serving, failing readiness probes,
            // so load balancers stop sending before connections close.
            log(
                out,
                Level::Notice,
                format!("not ready any more; draining in {}ms", delay.as_millis()),
            );
            self.signal_workers(out, Sig::Leaving, |w| w.state != WorkerState::Exiting);
            self.phase = Phase::Quitting {
                drain_at: Some(now + delay),
                child,
            };
            return;
        }
        self.phase = Phase::Quitting {
            drain_at: None,
            child,
        };
        self.start_drain(out);
    }

    /// What the service manager hears when this master goes (QUIT or TERM
    /// from `from`), and what becomes of a new binary it started:
    /// - from the service manager (PID 1, or `$MANAGERPID` for a user
    ///   manager) stopping the service: `STOPPING=1`,
    ///   and the new binary, if any, is told to go the same way;
    /// - a new binary (the operator commits; nginx's meaning even before
    ///   it is ready): it becomes the main process (`MAINPID=`), so the
    ///   unit runs on;
    /// - a new master whose old master lives (a rollback): nothing, the
    ///   old master is the main process and stays;
    /// - otherwise the service stops: `STOPPING=1`.
    fn tell_manager_we_go(
        &self,
        child: Option<&super::Child>,
        from: Option<Pid>,
        sig: Sig,
        out: &mut Vec<Action>,
    ) {
        let manager = from.is_some_and(|f| f == 1 || Some(f) == self.manager);
        match child {
            Some(c) if manager => {
                out.push(Action::Notify(Notice::Stopping));
                out.push(Action::SignalNewBinary { pid: c.pid, sig });
            }
            Some(c) => out.push(Action::Notify(Notice::MainPid(Some(c.pid)))),
            None if self.old_master.is_some() && !manager => {}
            _ => out.push(Action::Notify(Notice::Stopping)),
        }
    }

    /// QUIT to the workers: they drain and exit.
    pub(super) fn start_drain(&mut self, out: &mut Vec<Action>) {
        if let Phase::Quitting { drain_at, .. } = &mut self.phase {
            *drain_at = None;
        }
        self.signal_workers(out, Sig::Quit, |w| w.state != WorkerState::Exiting);
        // New connections are refused once no process holds the sockets.
        out.push(Action::CloseListeners);
    }

    fn stop_workers(&mut self, out: &mut Vec<Action>) {
        let upgrade_queued = match &mut self.phase {
            Phase::Running => false,
            Phase::Reloading(r) => {
                if r.again {
                    log(
                        out,
                        Level::Notice,
                        "the HUP received during the reload is dropped: the workers are stopped (HUP starts them with the configuration in memory)",
                    );
                }
                out.push(Action::Discard {
                    generation: r.generation,
                });
                out.push(Action::Notify(Notice::Ready {
                    status: "worker processes stopped (WINCH)".into(),
                }));
                r.upgrade
            }
            Phase::Upgrading { stopped, .. } => {
                *stopped = true;
                false
            }
            _ => return,
        };
        if !matches!(self.phase, Phase::Upgrading { .. }) {
            self.phase = Phase::Stopped;
        }
        self.respawn_at.clear();
        self.signal_workers(out, Sig::Quit, |w| w.state != WorkerState::Exiting);
        // The reload it ended was all a queued USR2 waited for.
        if upgrade_queued {
            log(
                out,
                Level::Notice,
                "changing binary for a USR2 received during the reload",
            );
            self.upgrade(out);
        }
    }

    fn reopen(&mut self, out: &mut Vec<Action>) {
        if matches!(self.phase, Phase::Terminating { .. } | Phase::Exited) {
            return;
        }
        // The master creates the new files (as root, handed to the
        // workers' user) before the workers reopen them as themselves.
        out.push(Action::ReopenLogs);
        // Logged after the reopen, so the fresh file shows it happened.
        log(out, Level::Notice, "reopening logs");
        // Draining workers too: they still write until they exit.
        self.signal_workers(out, Sig::Reopen, |_| true);
    }

    pub(super) fn reload(&mut self, out: &mut Vec<Action>) {
        match &mut self.phase {
            Phase::Running => {}
            Phase::Reloading(r) => {
                // The file may have changed again since this reload read
                // it: run one more once this one ends.
                log(
                    out,
                    Level::Notice,
                    "a reload is in progress; reloading again when it completes",
                );
                r.again = true;
                return;
            }
            // A rollback during an upgrade, or a restart after WINCH: only
            // the missing workers, with the configuration in memory (the
            // file on disk may be the new binary's).
            Phase::Stopped | Phase::Upgrading { .. } => {
                out.push(Action::Notify(Notice::Reloading));
                self.start_workers(out);
                return self.reload_over(out);
            }
            _ => return,
        }
        self.begin_reload(false, out);
    }

    /// Reads the configuration again (the driver answers with
    /// [`super::Event::Prepared`]); `upgrade` carries a queued USR2 over.
    fn begin_reload(&mut self, upgrade: bool, out: &mut Vec<Action>) {
        log(out, Level::Notice, "reconfiguring");
        out.push(Action::Notify(Notice::Reloading));
        self.last_generation += 1;
        let generation = self.last_generation;
        self.phase = Phase::Reloading(Reload {
            generation,
            started: None,
            again: false,
            upgrade,
        });
        out.push(Action::Prepare { generation });
    }

    pub(super) fn on_prepared(
        &mut self,
        result: Result<super::Settings, Vec<String>>,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let Phase::Reloading(r) = &mut self.phase else {
            return;
        };
        if r.started.is_some() {
            return;
        }
        match result {
            Err(lines) => {
                for l in lines {
                    log(out, Level::Emerg, l);
                }
                let upgrade = r.upgrade;
                self.phase = Phase::Running;
                self.reload_over(out);
                if upgrade {
                    self.upgrade_after_reload(out);
                }
            }
            Ok(settings) => {
                r.started = Some(Started {
                    settings,
                    deadline: now + RELOAD_READY_TIMEOUT,
                });
                let generation = r.generation;
                for _ in 0..settings.worker_processes {
                    out.push(Action::Fork {
                        generation,
                        respawn: false,
                    });
                }
            }
        }
    }

    /// `READY=1` after `RELOADING=1`: whatever configuration serves now.
    fn reload_over(&self, out: &mut Vec<Action>) {
        out.push(Action::Notify(Notice::Ready {
            status: self.status(),
        }));
    }

    /// A reload is over (committed or abandoned): the HUP or USR2 it
    /// queued runs now.
    pub(super) fn end_reload(&mut self, r: Reload, out: &mut Vec<Action>) {
        self.phase = Phase::Running;
        if !r.again {
            self.reload_over(out);
        }
        if r.again {
            log(
                out,
                Level::Notice,
                "reconfiguring again for a HUP received during the reload",
            );
            self.begin_reload(r.upgrade, out);
        } else if r.upgrade {
            self.upgrade_after_reload(out);
        }
    }

    fn upgrade(&mut self, out: &mut Vec<Action>) {
        match self.on_usr2() {
            OnUsr2::Refuse(why) => log(out, Level::Crit, why),
            OnUsr2::Queue => {
                log(
                    out,
                    Level::Notice,
                    "a reload is in progress; changing binary when it completes",
                );
                if let Phase::Reloading(r) = &mut self.phase {
                    r.upgrade = true;
                }
            }
            OnUsr2::Upgrade => {
                log(out, Level::Notice, "changing binary");
                out.push(Action::ExecNewBinary);
            }
        }
    }

    /// Runs the upgrade a USR2 asked for during a reload that has ended.
    pub(super) fn upgrade_after_reload(&mut self, out: &mut Vec<Action>) {
        log(
            out,
            Level::Notice,
            "changing binary for a USR2 received during the reload",
        );
        self.upgrade(out);
    }
}
