//! The simulated world outside the state machine: pid files, forks,
//! execs and the configuration on disk, as `sim.rs` drives them and
//! `invariants.rs` judges them.

use super::super::*;

pub(super) const MASTER: Pid = 1000;
/// Who sends the signals: an operator's shell (PID 1 is the service
/// manager, `Ev::ManagerStop`).
pub(super) const OPERATOR: Pid = 4242;
pub(super) const OLD_MASTER: Pid = 999;

pub(super) fn settings(n: usize) -> Settings {
    Settings {
        worker_processes: n,
        shutdown_delay: Duration::from_secs(3),
        upgrade_ready_timeout: Duration::from_secs(30),
    }
}

/// The world outside the state machine.
#[derive(Debug, Clone)]
pub(super) struct Env {
    pub(super) next_pid: Pid,
    pub(super) pid_file: Option<Pid>,
    pub(super) oldbin: Option<Pid>,
    pub(super) config_ok: bool,
    pub(super) fork_ok: bool,
    pub(super) exited: Option<u8>,
    pub(super) child_wrote_pid: bool,
    pub(super) last_prepared: u64,
    /// `RELOADING=1` was sent and no `READY=1` since.
    pub(super) reloading_told: bool,
    pub(super) actions: Vec<Action>,
}

impl Env {
    pub(super) fn perform(&mut self, a: Action) -> Option<Event> {
        self.actions.push(a.clone());
        match a {
            Action::Fork { generation, .. } => Some(Event::Forked {
                generation,
                result: if self.fork_ok {
                    self.next_pid += 1;
                    Ok(self.next_pid)
                } else {
                    Err("Resource temporarily unavailable".into())
                },
            }),
            Action::Prepare { generation } => {
                assert!(
                    generation > self.last_prepared,
                    "generation {generation} reused"
                );
                self.last_prepared = generation;
                Some(Event::Prepared(if self.config_ok {
                    Ok(settings(2))
                } else {
                    Err(vec!["bad config".into()])
                }))
            }
            Action::ExecNewBinary => {
                assert_eq!(self.pid_file, Some(MASTER), "exec with a pid file not ours");
                self.oldbin = self.pid_file.take();
                if self.fork_ok {
                    self.next_pid += 1;
                    self.child_wrote_pid = false;
                    Some(Event::Execed(Ok(self.next_pid)))
                } else {
                    self.pid_file = self.oldbin.take();
                    Some(Event::Execed(Err("execve() failed".into())))
                }
            }
            Action::Notify(Notice::Reloading) => {
                self.reloading_told = true;
                None
            }
            Action::Notify(Notice::Ready { .. }) => {
                self.reloading_told = false;
                None
            }
            Action::RestorePidFile => {
                assert!(self.oldbin.is_some(), "no .oldbin to restore");
                self.pid_file = self.oldbin.take();
                None
            }
            Action::Exit { code, oldbin } => {
                if oldbin {
                    assert_eq!(self.oldbin, Some(MASTER), "exit removes a .oldbin not ours");
                    self.oldbin = None;
                } else if self.pid_file == Some(MASTER) {
                    self.pid_file = None;
                }
                self.exited = Some(code);
                None
            }
            _ => None,
        }
    }
}

/// What the world can do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ev {
    Hup,
    Usr2,
    Winch,
    Quit,
    Term,
    /// QUIT from PID 1: the service manager stops the service.
    ManagerStop,
    Usr1,
    /// Every starting worker reports ready.
    WorkersReady,
    /// The first starting worker reports ready.
    OneReady,
    /// The first worker not told to stop dies on SIGKILL.
    WorkerCrash,
    /// The first worker not told to stop exits with the fatal code.
    WorkerFatal,
    /// Every worker told to stop exits.
    Drained,
    /// The new binary writes its pid file and reports ready.
    ChildReady,
    /// The new binary reports a failure and exits 1.
    ChildFails,
    /// The new binary exits 0 (removing its pid file).
    ChildExits,
    /// Time passes to the next deadline.
    Later,
    BreakConfig,
    BreakFork,
    OldMasterGone,
}

pub(super) const ALL: [Ev; 19] = [
    Ev::Hup,
    Ev::Usr2,
    Ev::Winch,
    Ev::Quit,
    Ev::Term,
    Ev::ManagerStop,
    Ev::Usr1,
    Ev::WorkersReady,
    Ev::OneReady,
    Ev::WorkerCrash,
    Ev::WorkerFatal,
    Ev::Drained,
    Ev::ChildReady,
    Ev::ChildFails,
    Ev::ChildExits,
    Ev::Later,
    Ev::BreakConfig,
    Ev::BreakFork,
    Ev::OldMasterGone,
];
