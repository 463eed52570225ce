//! Each transition by hand: what the master does and logs for one event.

use super::super::*;
use crate::master::signal::Signal;

fn settings(n: usize) -> Settings {
    Settings {
        worker_processes: n,
        shutdown_delay: Duration::ZERO,
        upgrade_ready_timeout: Duration::from_secs(30),
    }
}

/// A state machine with a trivial world: forks and execs succeed with
/// fresh pids, the configuration reads fine.
struct Harness {
    state: State,
    now: Instant,
    next_pid: Pid,
    config_ok: bool,
    /// Every action performed since the last `take`.
    done: Vec<Action>,
}

impl Harness {
    fn new(n: usize, old_master: Option<Pid>) -> Self {
        Self::with(settings(n), old_master, false)
    }

    fn with(settings: Settings, old_master: Option<Pid>, pid_is_1: bool) -> Self {
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

    fn drive(&mut self, actions: Vec<Action>) {
        let (now, config_ok) = (self.now, self.config_ok);
        let next_pid = &mut self.next_pid;
        let done = &mut self.done;
        self.state.drive(actions, || now, &mut |a| {
            done.push(a.clone());
            match a {
                Action::Fork { generation } => {
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

    fn feed(&mut self, e: Event) {
        let actions = self.state.step(e, self.now);
        self.drive(actions);
    }

    fn signal(&mut self, s: Signal) {
        self.feed(Event::Signal(s, 1));
    }

    fn ready_all(&mut self) {
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

    fn after(&mut self, d: Duration) {
        self.now += d;
        self.feed(Event::Tick);
    }

    fn take(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.done)
    }

    fn logged(&self, level: Level, text: &str) -> bool {
        self.done
            .iter()
            .any(|a| matches!(a, Action::Log(l, m) if *l == level && m.contains(text)))
    }

    fn count(&self, f: impl Fn(&Action) -> bool) -> usize {
        self.done.iter().filter(|a| f(a)).count()
    }

    fn pids_of(&self, generation: u64) -> Vec<Pid> {
        let w = self.state.workers.iter();
        w.filter(|w| w.generation == generation)
            .map(|w| w.pid)
            .collect()
    }
}

fn is_fork(a: &Action) -> bool {
    matches!(a, Action::Fork { .. })
}

#[test]
fn a_reload_quits_the_old_workers_only_once_the_new_ones_serve() {
    let mut h = Harness::new(2, None);
    let old = h.pids_of(1);
    h.signal(Signal::Reload);
    assert!(h.logged(Level::Notice, "reconfiguring"));
    assert!(matches!(h.state.phase, Phase::Reloading(_)));
    assert_eq!(h.count(is_fork), 1, "the new config has one worker");
    assert!(!h.done.iter().any(|a| matches!(a, Action::Signal { .. })));
    h.take();
    h.ready_all();
    assert_eq!(h.done[0], Action::Commit { generation: 2 });
    for p in old {
        assert!(h.done.contains(&Action::Signal {
            pid: p,
            sig: Sig::Quit
        }));
    }
    assert!(h.logged(Level::Notice, "reload complete, configuration generation 2"));
    assert_eq!(h.state.phase, Phase::Running);
}

#[test]
fn a_bad_config_leaves_everything_as_it_was() {
    let mut h = Harness::new(2, None);
    h.config_ok = false;
    h.signal(Signal::Reload);
    assert!(h.logged(Level::Emerg, "bad"));
    assert_eq!(h.state.phase, Phase::Running);
    assert_eq!(h.state.generation, 1);
    assert_eq!(h.count(is_fork), 0);
}

#[test]
fn a_new_worker_that_dies_abandons_the_reload() {
    let mut h = Harness::new(2, None);
    h.signal(Signal::Reload);
    let new = h.pids_of(2)[0];
    h.take();
    h.feed(Event::Exited(new, Exit::Code(1)));
    assert!(h.logged(Level::Alert, "reload failed, keeping the old configuration"));
    assert!(h.done.contains(&Action::Discard { generation: 2 }));
    assert_eq!(h.state.generation, 1);
    assert_eq!(h.state.live_current(), 2);
}

#[test]
fn a_reload_that_never_gets_ready_times_out() {
    let mut h = Harness::new(1, None);
    h.signal(Signal::Reload);
    let new = h.pids_of(2)[0];
    h.take();
    h.after(RELOAD_READY_TIMEOUT);
    assert!(h.logged(Level::Alert, "did not become ready in time"));
    assert!(h.done.contains(&Action::Signal {
        pid: new,
        sig: Sig::Kill
    }));
}

#[test]
fn hup_during_a_reload_reloads_again_after_it() {
    let mut h = Harness::new(1, None);
    h.signal(Signal::Reload);
    h.signal(Signal::Reload);
    assert!(h.logged(Level::Notice, "reloading again when it completes"));
    h.take();
    h.ready_all();
    assert!(h.logged(Level::Notice, "reconfiguring again"));
    assert!(h.done.contains(&Action::Prepare { generation: 3 }));
}

#[test]
fn usr2_right_after_hup_upgrades_once_the_reload_completes() {
    let mut h = Harness::new(1, None);
    h.signal(Signal::Reload);
    h.take();
    h.signal(Signal::Upgrade);
    assert!(h.logged(Level::Notice, "changing binary once the reload completes"));
    assert!(!h.done.contains(&Action::ExecNewBinary));
    h.ready_all();
    assert!(h.done.contains(&Action::ExecNewBinary));
    assert!(matches!(h.state.phase, Phase::Upgrading { .. }));
}

#[test]
fn a_queued_usr2_survives_a_failed_reload_and_a_winch() {
    for end in ["bad config", "winch"] {
        let mut h = Harness::new(1, None);
        h.signal(Signal::Reload);
        h.signal(Signal::Upgrade);
        if end == "winch" {
            h.signal(Signal::StopWorkers);
            assert!(matches!(
                h.state.phase,
                Phase::Upgrading { stopped: true, .. }
            ));
        } else {
            h.config_ok = false;
            h.signal(Signal::Reload);
            h.ready_all();
        }
        assert!(h.done.contains(&Action::ExecNewBinary), "{end}");
    }
}

#[test]
fn usr2_is_refused_during_an_upgrade_a_shutdown_in_a_new_binary_and_as_pid_1() {
    let mut h = Harness::new(1, None);
    h.signal(Signal::Upgrade);
    h.take();
    h.signal(Signal::Upgrade);
    assert!(h.logged(Level::Crit, UPGRADE_IN_PROGRESS));
    assert_eq!(h.count(|a| *a == Action::ExecNewBinary), 0);

    let mut h = Harness::new(1, Some(50));
    h.signal(Signal::Upgrade);
    assert!(h.logged(Level::Crit, UPGRADE_IN_PROGRESS));
    h.feed(Event::OldMasterGone);
    assert!(h.done.contains(&Action::ForgetOldMaster { old: 50 }));
    h.take();
    h.signal(Signal::Upgrade);
    assert!(h.done.contains(&Action::ExecNewBinary));

    let mut h = Harness::with(settings(1), None, true);
    h.signal(Signal::Upgrade);
    assert!(h.logged(Level::Crit, "process 1 of its namespace"));

    let mut h = Harness::new(1, None);
    h.signal(Signal::Quit);
    h.take();
    h.signal(Signal::Upgrade);
    assert!(h.logged(Level::Notice, ", ignoring"));
}

#[test]
fn hup_during_an_upgrade_restarts_workers_without_reading_the_file() {
    let mut h = Harness::new(2, None);
    h.signal(Signal::Upgrade);
    h.signal(Signal::StopWorkers);
    assert!(matches!(
        h.state.phase,
        Phase::Upgrading { stopped: true, .. }
    ));
    h.take();
    h.signal(Signal::Reload);
    assert_eq!(h.count(is_fork), 2);
    assert_eq!(h.count(|a| matches!(a, Action::Prepare { .. })), 0);
    assert!(matches!(
        h.state.phase,
        Phase::Upgrading { stopped: false, .. }
    ));
}

#[test]
fn the_new_binary_exiting_rolls_back() {
    let mut h = Harness::new(2, None);
    h.signal(Signal::Upgrade);
    let child = h.state.child().map(|c| c.pid).unwrap_or_default();
    h.signal(Signal::StopWorkers);
    h.take();
    h.feed(Event::Exited(child, Exit::Code(1)));
    assert!(h.logged(Level::Alert, "exited with code 1"));
    assert!(h.done.contains(&Action::RestorePidFile));
    assert_eq!(h.count(is_fork), 2);
    assert_eq!(h.state.phase, Phase::Running);
}

#[test]
fn a_new_binary_that_never_gets_ready_gets_term_then_kill() {
    let mut h = Harness::new(1, None);
    h.signal(Signal::Upgrade);
    let pid = h.state.child().map(|c| c.pid).unwrap_or_default();
    h.take();
    h.after(Duration::from_secs(30));
    assert!(h.done.contains(&Action::SignalNewBinary {
        pid,
        sig: Sig::Term
    }));
    h.take();
    h.after(KILL_AFTER);
    assert!(h.done.contains(&Action::SignalNewBinary {
        pid,
        sig: Sig::Kill
    }));
    assert_eq!(h.state.next_deadline(), None);
}

#[test]
fn quit_during_an_upgrade_commits_and_removes_oldbin_on_exit() {
    let mut h = Harness::new(1, None);
    h.signal(Signal::Upgrade);
    h.feed(Event::NewBinaryReport(Report::Ready));
    h.signal(Signal::Quit);
    let w = h.pids_of(1)[0];
    h.take();
    h.feed(Event::Exited(w, Exit::Code(0)));
    assert_eq!(
        h.done.last(),
        Some(&Action::Exit {
            code: 0,
            oldbin: true
        })
    );
}

#[test]
fn shutdown_delay_fails_health_checks_first_and_a_second_quit_is_now() {
    let delay = Duration::from_secs(3);
    let mut h = Harness::with(
        Settings {
            shutdown_delay: delay,
            ..settings(1)
        },
        None,
        false,
    );
    let w = h.pids_of(1)[0];
    h.signal(Signal::Quit);
    assert!(h.done.contains(&Action::Signal {
        pid: w,
        sig: Sig::Leaving
    }));
    assert!(!h.done.contains(&Action::Signal {
        pid: w,
        sig: Sig::Quit
    }));
    h.take();
    h.after(delay);
    assert!(h.done.contains(&Action::Signal {
        pid: w,
        sig: Sig::Quit
    }));
    assert!(h.done.contains(&Action::CloseListeners));

    let mut h = Harness::with(
        Settings {
            shutdown_delay: delay,
            ..settings(1)
        },
        None,
        false,
    );
    h.signal(Signal::Quit);
    h.take();
    h.signal(Signal::Quit);
    assert!(h.done.contains(&Action::CloseListeners));
}

#[test]
fn term_escalates_on_nginx_schedule_then_kills() {
    let mut h = Harness::new(1, None);
    let w = h.pids_of(1)[0];
    h.signal(Signal::Terminate);
    let mut at = Duration::ZERO;
    for (i, step) in TERM_STEPS.iter().enumerate() {
        h.take();
        h.after(*step - at - Duration::from_millis(1));
        assert!(h.done.iter().all(|a| !matches!(a, Action::Signal { .. })));
        h.after(Duration::from_millis(1));
        at = *step;
        let sig = if i + 1 == TERM_STEPS.len() {
            Sig::Kill
        } else {
            Sig::Term
        };
        assert!(h.done.contains(&Action::Signal { pid: w, sig }), "step {i}");
    }
    assert_eq!(h.state.next_deadline(), None);
    h.feed(Event::Exited(
        w,
        Exit::Signal {
            signo: 9,
            core: false,
        },
    ));
    assert!(matches!(h.done.last(), Some(Action::Exit { code: 0, .. })));
}

#[test]
fn a_fatal_worker_exit_with_no_worker_left_exits_non_zero() {
    let mut h = Harness::new(1, None);
    let w = h.pids_of(1)[0];
    h.feed(Event::Exited(w, Exit::Code(EXIT_FATAL)));
    assert!(h.logged(Level::Emerg, "no worker process can start"));
    assert_eq!(
        h.done.last(),
        Some(&Action::Exit {
            code: 1,
            oldbin: false
        })
    );
}

#[test]
fn workers_that_keep_dying_are_respawned_slower_and_slower() {
    let mut h = Harness::new(1, None);
    let crash = Exit::Signal {
        signo: 11,
        core: true,
    };
    let w = h.pids_of(1)[0];
    h.feed(Event::Exited(w, crash));
    assert_eq!(h.count(is_fork), 1, "the first death respawns at once");
    let w = h.pids_of(1)[0];
    h.take();
    h.feed(Event::Exited(w, crash));
    assert!(h.logged(Level::Alert, "respawning in 100ms"));
    assert_eq!(h.count(is_fork), 0);
    h.after(Duration::from_millis(100));
    assert_eq!(h.count(is_fork), 1);
}

#[test]
fn usr1_reopens_before_telling_every_worker() {
    let mut h = Harness::new(2, None);
    h.signal(Signal::Reopen);
    let reopen = h.done.iter().position(|a| *a == Action::ReopenLogs);
    let first_usr1 = h.done.iter().position(|a| {
        matches!(
            a,
            Action::Signal {
                sig: Sig::Reopen,
                ..
            }
        )
    });
    assert!(reopen < first_usr1 && reopen.is_some());
    assert_eq!(
        h.count(|a| matches!(
            a,
            Action::Signal {
                sig: Sig::Reopen,
                ..
            }
        )),
        2
    );
}

#[test]
fn a_new_binary_reports_ready_once_its_workers_serve() {
    let h = Harness::new(2, Some(50));
    assert!(!h.state.report_pending);
    let mut h2 = Harness {
        state: State::new(settings(2), Some(50), false),
        now: Instant::now(),
        next_pid: 10,
        config_ok: true,
        done: Vec::new(),
    };
    let first = h2.state.start(h2.now);
    h2.drive(first);
    assert!(!h2.done.contains(&Action::ReportReady));
    let pids = h2.pids_of(1);
    h2.feed(Event::WorkerReady(pids[0]));
    assert!(!h2.done.contains(&Action::ReportReady));
    h2.feed(Event::WorkerReady(pids[1]));
    assert!(h2.done.contains(&Action::ReportReady));
}
