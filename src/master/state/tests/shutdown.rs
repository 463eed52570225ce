//! Shutdowns, deaths and log reopening by hand: what the master does and
//! logs for one event.

use super::super::*;
use super::harness::{Harness, is_fork, settings};
use crate::master::signal::Signal;

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
fn the_service_manager_hears_stopping_only_when_nothing_carries_on() {
    let stopping = |h: &Harness| h.done.contains(&Action::Notify(Notice::Stopping));
    let mut h = Harness::new(1, None);
    h.signal(Signal::Quit);
    assert!(stopping(&h), "a plain QUIT stops the service");

    // Committing an upgrade: the old master hands MAINPID to the new one.
    let mut h = Harness::new(1, None);
    h.signal(Signal::Upgrade);
    let child = h.state.child().map(|c| c.pid).unwrap_or_default();
    h.feed(Event::NewBinaryReport(Report::Ready));
    h.take();
    h.signal(Signal::Quit);
    assert!(!stopping(&h));
    assert!(
        h.done
            .contains(&Action::Notify(Notice::MainPid(Some(child))))
    );

    // A new master quitting for a rollback: the old one is still the main
    // process, nothing to say.
    let mut h = Harness::new(1, Some(50));
    h.take();
    h.signal(Signal::Terminate);
    assert!(
        !h.done.iter().any(|a| matches!(a, Action::Notify(_))),
        "{:?}",
        h.done
    );

    // systemctl stop (QUIT from PID 1) during an upgrade: both go.
    let mut h = Harness::new(1, None);
    h.signal(Signal::Upgrade);
    let child = h.state.child().map(|c| c.pid).unwrap_or_default();
    h.take();
    h.feed(Event::Signal(Signal::Quit, 1));
    assert!(stopping(&h));
    assert!(h.done.contains(&Action::SignalNewBinary {
        pid: child,
        sig: Sig::Quit
    }));

    // The new master learns its old one is gone: it is the main one now.
    let mut h = Harness::new(1, Some(50));
    h.take();
    h.feed(Event::OldMasterGone);
    assert!(h.done.contains(&Action::Notify(Notice::MainPid(None))));
}

#[test]
fn reloads_are_bracketed_by_reloading_and_ready() {
    let is_ready = |a: &Action| matches!(a, Action::Notify(Notice::Ready { .. }));
    let mut h = Harness::new(1, None);
    h.signal(Signal::Reload);
    assert!(h.done.contains(&Action::Notify(Notice::Reloading)));
    assert_eq!(h.count(is_ready), 0, "not ready before the new workers are");
    h.ready_all();
    assert_eq!(h.count(is_ready), 1);
    h.take();
    h.config_ok = false;
    h.signal(Signal::Reload);
    assert_eq!(h.count(is_ready), 1, "a refused reload ends too");
}
