//! Reloads and upgrades by hand: what the master does and logs for one
//! event.

use super::super::*;
use super::harness::{Harness, is_fork, settings};
use crate::master::signal::Signal;

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
