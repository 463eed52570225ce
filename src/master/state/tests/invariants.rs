//! The master's invariants, checked by `sim.rs` after every event:
//!
//! 1. While serving (not quitting, terminating or stopped by WINCH), at
//!    least one generation of workers is serving or being started (a
//!    respawn may be pending).
//! 2. Never two upgrades: a new binary starts only when there is no child
//!    and no live old master.
//! 3. The pid file names this master, except while a new binary runs:
//!    then `.oldbin` names this master and the pid file names the child or
//!    nothing (not written yet); `.oldbin` exists only then.
//! 4. A reload never QUITs the serving generation's workers before all of
//!    the new generation's are ready (WINCH, QUIT and TERM may).
//! 5. Every QUIT/TERM ends in exit once the workers that were told to go
//!    have gone and time passes.
//! 6. Every pending deadline has a timer (`next_deadline`), and a tick
//!    leaves no deadline in the past.
//! 7. A USR2 or HUP queued during a reload runs when it ends (or is
//!    dropped with a log line when WINCH or a shutdown ends it).
//! 8. Generation numbers are never reused, forks are only for the current
//!    or the starting generation, and commits only for the latter.
//! 9. The service manager hears `STOPPING=1` only when no other master
//!    carries on (or when it stops the service itself, and then the new
//!    master is told to go too), a commit hands the main pid to the new
//!    master, and every `RELOADING=1` is answered by `READY=1` once no
//!    reload is in progress.
//! 10. A USR2 that starts no upgrade is queued in the reload or refused
//!     with a line that says so.

use super::super::*;
use super::world::{Env, Ev, MASTER};

fn serving_workers(s: &State, generation: u64) -> usize {
    let w = s.workers.iter().filter(|w| w.generation == generation);
    w.filter(|w| w.state == WorkerState::Running).count()
}

pub(super) fn check(
    before: &State,
    s: &State,
    env: &Env,
    now: Instant,
    ev: Ev,
) -> Result<(), String> {
    let acts = &env.actions;
    if env.exited.is_some() {
        return if s.phase == Phase::Exited {
            Ok(())
        } else {
            Err("exited outside Phase::Exited".into())
        };
    }
    // 1. Someone serves.
    if s.serving() && s.live_current() == 0 && s.respawn_at.is_empty() {
        return Err(format!("serving with no worker: {:?}", s.phase));
    }
    // 2. One upgrade at a time.
    if acts.contains(&Action::ExecNewBinary)
        && (before.child().is_some() || before.old_master.is_some())
    {
        return Err("a second upgrade started".into());
    }
    check_pid_files(s, env)?;
    // 4. No old worker stopped before the new generation serves in full.
    for a in acts {
        let Action::Signal {
            pid,
            sig: Sig::Quit | Sig::Term | Sig::Kill,
        } = a
        else {
            continue;
        };
        let Some(w) = before.workers.iter().find(|w| w.pid == *pid) else {
            continue;
        };
        let was_serving = w.generation == before.generation && w.state != WorkerState::Exiting;
        let replaced = s.generation > w.generation
            && serving_workers(s, s.generation) >= s.settings.worker_processes;
        if was_serving && s.serving() && !replaced {
            return Err(format!("worker {pid} stopped while its generation serves"));
        }
    }
    check_timers(s, now, ev == Ev::Later)?;
    check_refusals(before, s, env, ev)?;
    check_manager(before, s, env, ev)?;
    check_queues(before, s, acts)?;
    // 8. Forks and commits name the right generation.
    for a in acts {
        match a {
            Action::Fork { generation, .. } => {
                let g = *generation;
                let starting = matches!(&before.phase, Phase::Reloading(r) if r.generation == g)
                    || acts.contains(&Action::Prepare { generation: g });
                if g != s.generation && g != before.generation && !starting {
                    return Err(format!("fork for generation {generation}"));
                }
            }
            Action::Commit { generation } if *generation <= before.generation => {
                return Err(format!("commit of old generation {generation}"));
            }
            _ => {}
        }
    }
    Ok(())
}

/// 6. Deadlines have timers, and a tick leaves none in the past.
fn check_timers(s: &State, now: Instant, ticked: bool) -> Result<(), String> {
    let pending = !s.respawn_at.is_empty()
        || matches!(&s.phase, Phase::Reloading(r) if r.started.is_some())
        || matches!(
            s.phase,
            Phase::Quitting {
                drain_at: Some(_),
                ..
            }
        )
        || matches!(s.phase, Phase::Terminating { step, .. } if step < TERM_STEPS.len())
        || matches!(
            s.child().map(|c| c.stage),
            Some(ChildStage::Starting { .. } | ChildStage::Stopping { .. })
        );
    match s.next_deadline() {
        None if pending => Err(format!("no timer for a pending deadline: {:?}", s.phase)),
        Some(d) if ticked && d <= now => Err("a tick left a deadline due".into()),
        _ => Ok(()),
    }
}

/// 7. Queued signals run when the reload ends, or are dropped with a line.
fn check_queues(before: &State, s: &State, acts: &[Action]) -> Result<(), String> {
    let Phase::Reloading(r) = &before.phase else {
        return Ok(());
    };
    if matches!(&s.phase, Phase::Reloading(n) if n.generation == r.generation) {
        return Ok(());
    }
    let down = matches!(
        s.phase,
        Phase::Quitting { .. } | Phase::Terminating { .. } | Phase::Exited
    );
    let logged = |what: &str| {
        acts.iter()
            .any(|a| matches!(a, Action::Log(_, m) if m.contains(what)))
    };
    if r.upgrade && !down {
        let carried = matches!(&s.phase, Phase::Reloading(n) if n.upgrade);
        if !carried && !acts.contains(&Action::ExecNewBinary) && !logged("changing binary") {
            return Err("a USR2 queued during a reload was lost".into());
        }
    }
    if r.again && !down && !matches!(s.phase, Phase::Stopped | Phase::Upgrading { .. }) {
        let prepared = acts.iter().any(|a| matches!(a, Action::Prepare { .. }));
        if !prepared {
            return Err("a HUP queued during a reload was lost".into());
        }
    }
    if r.again && matches!(s.phase, Phase::Stopped | Phase::Upgrading { .. }) && !logged("HUP") {
        return Err("a queued HUP was dropped without a line".into());
    }
    Ok(())
}

/// 9. What the service manager hears.
fn check_manager(before: &State, s: &State, env: &Env, ev: Ev) -> Result<(), String> {
    let acts = &env.actions;
    let stopping = acts.contains(&Action::Notify(Notice::Stopping));
    let child_told = acts
        .iter()
        .any(|a| matches!(a, Action::SignalNewBinary { sig: Sig::Quit, .. }));
    if stopping && before.child().is_some() && !(ev == Ev::ManagerStop && child_told) {
        return Err("STOPPING=1 while a new master carries on".into());
    }
    if stopping && before.old_master.is_some() && ev != Ev::ManagerStop {
        return Err("STOPPING=1 from a new master whose old master carries on".into());
    }
    if let (Ev::Quit | Ev::Term, Some(c), false) = (
        ev,
        before.child(),
        matches!(
            before.phase,
            Phase::Quitting { .. } | Phase::Terminating { .. }
        ),
    ) && !acts.contains(&Action::Notify(Notice::MainPid(Some(c.pid))))
    {
        return Err("a commit did not hand the main pid to the new master".into());
    }
    let idle = matches!(
        s.phase,
        Phase::Running | Phase::Stopped | Phase::Upgrading { .. }
    );
    if idle && env.reloading_told {
        return Err(format!("RELOADING=1 never answered: {:?}", s.phase));
    }
    Ok(())
}

/// 3. The pid file and `.oldbin` name the right masters.
fn check_pid_files(s: &State, env: &Env) -> Result<(), String> {
    match s.child() {
        Some(c) => {
            if env.oldbin != Some(MASTER) {
                return Err(format!(".oldbin is {:?} during an upgrade", env.oldbin));
            }
            if env.pid_file.is_some() && env.pid_file != Some(c.pid) {
                return Err(format!("pid file names {:?}, not the child", env.pid_file));
            }
        }
        None if env.pid_file != Some(MASTER) || env.oldbin.is_some() => {
            return Err(format!(
                "pid file {:?}, .oldbin {:?} with no upgrade",
                env.pid_file, env.oldbin
            ));
        }
        None => {}
    }
    Ok(())
}

/// 10. A USR2 either upgrades, is queued, or is refused with a line.
fn check_refusals(before: &State, s: &State, env: &Env, ev: Ev) -> Result<(), String> {
    if ev != Ev::Usr2 || before.phase == Phase::Exited {
        return Ok(());
    }
    let acts = &env.actions;
    let execed = acts.contains(&Action::ExecNewBinary);
    let queued = matches!(&s.phase, Phase::Reloading(r) if r.upgrade);
    let refused = acts
        .iter()
        .any(|a| matches!(a, Action::Log(Level::Crit, m) if m.contains("ignored")));
    let said = acts
        .iter()
        .any(|a| matches!(a, Action::Log(_, m) if m.contains(", ignoring") || m.contains("once the reload completes")));
    if !(execed || (queued && said) || (refused && said)) {
        return Err(format!("a USR2 vanished: {acts:?}"));
    }
    Ok(())
}
