//! The master process: owns the listening sockets, forks workers, and acts
//! on signals one at a time (docs/architecture.md §2-§4). Single-threaded,
//! with no tokio runtime and no threads.
//!
//! Every decision is made by the pure state machine in `state.rs`; this
//! file is its driver. It sleeps in `poll(2)` over the signalfd and the
//! readiness pipes of its children, with a timeout for the nearest
//! deadline, turns what it reads into [`state::Event`]s, and hands the
//! [`state::Action`]s it gets back to [`world::World`], which does the
//! I/O. It never imports `http`.

pub mod control;
pub mod daemon;
mod notify;
mod reap;
pub mod signal;
mod start;
pub mod state;
pub mod upgrade;
pub mod workers;
mod world;

pub use start::run;

use std::ffi::OsString;
use std::os::fd::AsFd;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::unistd::Pid;

use crate::alert;
use crate::config;
use crate::pidfile;
use signal::{Inbox, Signal};
use state::{Event, State};
use world::World;

/// True while the master that started us by USR2 lives: by pid, and (the
/// pid may be recycled, or a zombie its parent has not reaped) by ancestry
/// or title; a title can be cut short when argv and the environment are
/// tiny, ancestry is lost when a wrapper between us dies.
fn old_master_lives(old: Pid) -> bool {
    nix::sys::signal::kill(old, None) != Err(nix::errno::Errno::ESRCH)
        && (upgrade::is_ancestor(old) || pidfile::is_master(old))
}

/// How often a new master looks whether the old one still lives: its
/// death sends us nothing (we are its child), and the `.oldbin` it leaves
/// when killed must be cleared.
const OLD_MASTER_CHECK: Duration = Duration::from_secs(1);

/// How the master was started, for upgrades and `-s`.
pub struct Start {
    /// Where the configuration lives.
    pub location: config::Location,
    /// The original argv, replayed on upgrade.
    pub argv: Vec<OsString>,
}

/// The running master: the state machine and the world it acts on.
struct Master {
    state: State,
    world: World,
    inbox: Inbox,
}

/// Where a poll wake-up came from.
#[derive(Clone, Copy)]
enum Source {
    Signals,
    Worker(Pid),
    NewBinary,
}

impl Master {
    fn run(&mut self) -> ExitCode {
        let first = self.state.start(Instant::now());
        self.perform(first);
        loop {
            if let Some(code) = self.world.exit_code {
                return code;
            }
            self.wait_and_dispatch();
            self.check_old_master();
            self.feed(Event::Tick);
        }
    }

    /// Steps the state machine and performs what it asks.
    fn feed(&mut self, event: Event) {
        let actions = self.state.step(event, Instant::now());
        self.perform(actions);
    }

    fn perform(&mut self, actions: Vec<state::Action>) {
        let world = &mut self.world;
        self.state
            .drive(actions, Instant::now, &mut |a| world.perform(a));
    }

    /// Sleeps until a signal, a readiness byte, or the next deadline.
    fn wait_and_dispatch(&mut self) {
        let mut deadline = self.state.next_deadline();
        if self.state.old_master.is_some() {
            let check = Instant::now() + OLD_MASTER_CHECK;
            deadline = Some(deadline.map_or(check, |d| d.min(check)));
        }
        let timeout = deadline.map_or(PollTimeout::NONE, |d| {
            let ms = d.saturating_duration_since(Instant::now()).as_millis();
            PollTimeout::try_from(ms.min(60_000) as i32 + 1).unwrap_or(PollTimeout::MAX)
        });
        let mut sources = vec![Source::Signals];
        let mut fds = vec![PollFd::new(self.inbox.fd(), PollFlags::POLLIN)];
        for (pid, r) in &self.world.worker_pipes {
            sources.push(Source::Worker(*pid));
            fds.push(PollFd::new(r.as_fd(), PollFlags::POLLIN));
        }
        if let Some(r) = &self.world.child_pipe {
            sources.push(Source::NewBinary);
            fds.push(PollFd::new(r.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, timeout) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => return,
            Ok(_) => {}
            Err(e) => {
                alert!("poll() failed ({e})");
                std::thread::sleep(Duration::from_millis(100));
                return;
            }
        }
        let woke: Vec<Source> = fds
            .iter()
            .zip(&sources)
            .filter(|(f, _)| f.revents().is_some_and(|r| !r.is_empty()))
            .map(|(_, s)| *s)
            .collect();
        drop(fds);
        for source in woke {
            match source {
                Source::Signals => self.on_signals(),
                Source::Worker(pid) => {
                    if self.world.read_worker_ready(pid) {
                        self.feed(Event::WorkerReady(pid.as_raw()));
                    }
                }
                Source::NewBinary => {
                    if let Some(report) = self.world.read_child_report() {
                        self.feed(Event::NewBinaryReport(report));
                    }
                }
            }
        }
    }

    fn on_signals(&mut self) {
        for (sig, from) in self.inbox.take() {
            if sig == Signal::Child {
                self.reap_children();
            } else {
                // A USR2 is refused while the old master lives: look now.
                self.check_old_master();
                self.feed(Event::Signal(sig, from.as_raw()));
            }
        }
    }

    /// The master that started us (by USR2) is gone: committed (QUIT), or
    /// killed, in which case nobody else removes the `.oldbin` naming it.
    fn check_old_master(&mut self) {
        if let Some(old) = self.state.old_master
            && !old_master_lives(Pid::from_raw(old))
        {
            self.feed(Event::OldMasterGone);
        }
    }
}
