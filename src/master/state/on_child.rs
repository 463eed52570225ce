//! Children report in: forks answered, ready bytes from workers and from
//! the new binary, and exits, with what each means: respawn with a
//! fork-storm guard, commit or abandon a reload, roll an upgrade back when
//! the new binary exits.

use std::time::{Duration, Instant};

use super::{
    Action, Child, ChildStage, EXIT_FATAL, Exit, FAST_DEATH, FORK_RETRY, Level, MAX_RESPAWN_DELAY,
    Notice, Phase, Pid, Report, Sig, State, Worker, WorkerState, log,
};

/// How long to wait before respawning a worker after `fast_deaths`
/// consecutive deaths within [`FAST_DEATH`] of starting: at once for the
/// first, then 100 ms doubling up to [`MAX_RESPAWN_DELAY`].
pub fn respawn_delay(fast_deaths: u32) -> Duration {
    if fast_deaths <= 1 {
        return Duration::ZERO;
    }
    Duration::from_millis(100)
        .saturating_mul(2u32.saturating_pow(fast_deaths - 2))
        .min(MAX_RESPAWN_DELAY)
}

impl State {
    pub(super) fn on_forked(
        &mut self,
        generation: u64,
        result: Result<Pid, String>,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let reloading = self.reload_generation() == Some(generation);
        match result {
            Ok(pid) => {
                log(out, Level::Notice, format!("start worker process {pid}"));
                self.workers.push(Worker {
                    pid,
                    generation,
                    state: WorkerState::Starting,
                    started: now,
                });
                let wanted = reloading || (generation == self.generation && self.serving());
                if !wanted {
                    // Its reload was abandoned while the forks went out.
                    self.signal_workers(out, Sig::Kill, |w| w.pid == pid);
                }
            }
            Err(e) => {
                let why = format!("fork() failed while spawning \"worker process\" ({e})");
                if reloading {
                    self.abandon_reload(&why, out);
                } else if generation == self.generation && self.serving() {
                    // Try again later rather than leave the port unserved.
                    self.fast_deaths = self.fast_deaths.saturating_add(1);
                    let delay = respawn_delay(self.fast_deaths).max(FORK_RETRY);
                    log(
                        out,
                        Level::Alert,
                        format!("{why}; trying again in {}ms", delay.as_millis()),
                    );
                    self.respawn_at.push(now + delay);
                } else if generation == self.generation {
                    log(out, Level::Alert, why);
                }
                // A fork for an abandoned reload: nothing to say twice.
            }
        }
    }

    /// The generation a reload is starting, if any.
    fn reload_generation(&self) -> Option<u64> {
        match &self.phase {
            Phase::Reloading(r) => Some(r.generation),
            _ => None,
        }
    }

    pub(super) fn on_worker_ready(&mut self, pid: Pid, out: &mut Vec<Action>) {
        if let Some(w) = self.workers.iter_mut().find(|w| w.pid == pid)
            && w.state == WorkerState::Starting
        {
            w.state = WorkerState::Running;
        }
        let Phase::Reloading(r) = &self.phase else {
            return;
        };
        let Some(st) = r.started else { return };
        let g = r.generation;
        let ready = self
            .workers
            .iter()
            .filter(|w| w.generation == g && w.state == WorkerState::Running)
            .count();
        if ready >= st.settings.worker_processes {
            self.commit_reload(out);
        }
    }

    /// All new workers of a reload serve: switch generations, then QUIT the
    /// old ones.
    fn commit_reload(&mut self, out: &mut Vec<Action>) {
        let Phase::Reloading(r) = std::mem::replace(&mut self.phase, Phase::Running) else {
            return;
        };
        let Some(st) = r.started else { return };
        self.generation = r.generation;
        self.settings = st.settings;
        out.push(Action::Commit {
            generation: r.generation,
        });
        let g = self.generation;
        self.signal_workers(out, Sig::Quit, |w| {
            w.generation != g && w.state != WorkerState::Exiting
        });
        log(
            out,
            Level::Notice,
            format!("reload complete, configuration generation {g}"),
        );
        self.end_reload(r, out);
    }

    /// The reload cannot complete: its workers stop (those already serving
    /// drain, those still starting are killed) and the old ones serve on.
    pub(super) fn abandon_reload(&mut self, why: &str, out: &mut Vec<Action>) {
        let Phase::Reloading(r) = std::mem::replace(&mut self.phase, Phase::Running) else {
            return;
        };
        log(
            out,
            Level::Alert,
            format!("{why}; reload failed, keeping the old configuration"),
        );
        let g = r.generation;
        self.signal_workers(out, Sig::Quit, |w| {
            w.generation == g && w.state == WorkerState::Running
        });
        self.signal_workers(out, Sig::Kill, |w| {
            w.generation == g && w.state == WorkerState::Starting
        });
        out.push(Action::Discard { generation: g });
        self.end_reload(r, out);
    }

    pub(super) fn on_execed(
        &mut self,
        result: Result<Pid, String>,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let stopped = match self.phase {
            Phase::Running => false,
            Phase::Stopped => true,
            _ => return,
        };
        match result {
            Ok(pid) => {
                log(
                    out,
                    Level::Notice,
                    format!("start new binary process {pid}"),
                );
                out.push(Action::Notify(Notice::Status(format!(
                    "upgrading: new binary process {pid} starting"
                ))));
                self.phase = Phase::Upgrading {
                    child: Child {
                        pid,
                        stage: ChildStage::Starting {
                            deadline: now + self.settings.upgrade_ready_timeout,
                        },
                    },
                    stopped,
                };
            }
            Err(e) => log(out, Level::Alert, e),
        }
    }

    pub(super) fn on_report(&mut self, report: Report, out: &mut Vec<Action>) {
        let Some(child) = self.child_mut() else {
            return;
        };
        match report {
            Report::Ready => {
                if matches!(child.stage, ChildStage::Starting { .. }) {
                    child.stage = ChildStage::Ready;
                    let pid = child.pid;
                    log(
                        out,
                        Level::Notice,
                        format!("new binary process {pid} is ready"),
                    );
                }
            }
            Report::Failed(msg) => {
                let pid = child.pid;
                log(
                    out,
                    Level::Alert,
                    format!("new binary process {pid} failed to start: {msg}"),
                );
            }
        }
    }

    pub(super) fn on_exit(&mut self, pid: Pid, how: Exit, now: Instant, out: &mut Vec<Action>) {
        if self.child().is_some_and(|c| c.pid == pid) {
            return self.child_exited(how, out);
        }
        let Some(i) = self.workers.iter().position(|w| w.pid == pid) else {
            log(out, Level::Notice, format!("unknown process {pid} {how}"));
            return;
        };
        let w = self.workers.swap_remove(i);
        let level = match how {
            Exit::Code(_) => Level::Notice,
            Exit::Signal { .. } => Level::Alert,
        };
        log(out, level, format!("worker process {pid} {how}"));
        self.worker_exited(w, how, now, out);
    }

    fn child_exited(&mut self, how: Exit, out: &mut Vec<Action>) {
        let shutting_down = !matches!(self.phase, Phase::Upgrading { .. });
        let Some(child) = self.take_child() else {
            return;
        };
        let pid = child.pid;
        match (how, child.stage) {
            (Exit::Code(0), ChildStage::Ready) => log(
                out,
                Level::Notice,
                format!("new binary process {pid} {how}"),
            ),
            // Even a clean exit before the readiness report is a failed
            // upgrade (a wrapper that forked moltd away).
            (Exit::Code(0), _) => log(
                out,
                Level::Alert,
                format!("new binary process {pid} {how} before it was ready"),
            ),
            _ => log(out, Level::Alert, format!("new binary process {pid} {how}")),
        }
        if shutting_down {
            log(
                out,
                Level::Alert,
                format!(
                    "the new binary process {pid} is gone while this master is shutting down: nothing will serve once this master's workers finish; start moltd again"
                ),
            );
        }
        out.push(Action::RestorePidFile);
        if !shutting_down {
            out.push(Action::Notify(Notice::Status(
                "the new binary is gone; this master serves on".into(),
            )));
        }
        // `take_child` left the phase Running: the old master serves again,
        // with workers restarted if WINCH had stopped them.
        if self.phase == Phase::Running && self.live_current() < self.settings.worker_processes {
            self.start_workers(out);
        }
    }

    fn worker_exited(&mut self, w: Worker, how: Exit, now: Instant, out: &mut Vec<Action>) {
        if self.reload_generation() == Some(w.generation) {
            return self.abandon_reload(
                &format!("new worker process {} exited before it was ready", w.pid),
                out,
            );
        }
        let unexpected =
            w.state != WorkerState::Exiting && w.generation == self.generation && self.serving();
        if !unexpected {
            return;
        }
        if how == Exit::Code(EXIT_FATAL) {
            log(
                out,
                Level::Alert,
                format!(
                    "worker process {} exited with fatal code {EXIT_FATAL} and cannot be respawned",
                    w.pid
                ),
            );
            if self.live_current() == 0 && self.respawn_at.is_empty() {
                self.failed = true;
                // Nobody can serve with this configuration: holding the
                // port with no worker would leave clients hanging in the
                // backlog. For a new binary this exit rolls the upgrade back.
                log(
                    out,
                    Level::Emerg,
                    "no worker process can start with this configuration, exiting",
                );
                self.quit(None, now, out);
            }
            return;
        }
        if now.saturating_duration_since(w.started) < FAST_DEATH {
            self.fast_deaths = self.fast_deaths.saturating_add(1);
        } else {
            self.fast_deaths = 0;
        }
        let delay = respawn_delay(self.fast_deaths);
        if delay.is_zero() {
            out.push(Action::Fork {
                generation: self.generation,
                respawn: true,
            });
        } else {
            log(
                out,
                Level::Alert,
                format!(
                    "worker processes keep exiting within {}s of starting; respawning in {}ms",
                    FAST_DEATH.as_secs(),
                    delay.as_millis()
                ),
            );
            self.respawn_at.push(now + delay);
        }
    }
}
