//! The steps of `-s upgrade`, each with its deadline and its failure.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::Options;
use super::observe::{self, Interrupts, Stop};
use super::probe::{self, Answer};
use super::report::{Outcome, Report};
use crate::config::{self, Config, Location};

/// Why a step stopped the upgrade.
enum Abort {
    /// Roll back, with the reason.
    Fail(String),
    /// The operator interrupted: roll back.
    Interrupted(Signal),
}

impl From<Stop> for Abort {
    fn from(s: Stop) -> Self {
        match s {
            Stop::Timeout => Abort::Fail("timed out".into()),
            Stop::Interrupted(sig) => Abort::Interrupted(sig),
            Stop::Failed(why) => Abort::Fail(why),
        }
    }
}

/// One upgrade in progress.
struct Upgrade<'a> {
    opts: &'a Options,
    config: Config,
    intr: Interrupts,
    started: Instant,
    step_started: Instant,
    step: &'static str,
    steps: Vec<(&'static str, Duration)>,
    old: Pid,
    new: Option<Pid>,
    winched: bool,
    baseline: Vec<(SocketAddr, String, Answer)>,
    /// The new master's workers once it served: any that goes later is a
    /// failure.
    new_workers: Vec<Pid>,
}

/// Runs the whole upgrade.
pub fn run(location: &Location, opts: &Options) -> Report {
    let started = Instant::now();
    let fail = |outcome| Report {
        outcome,
        old: None,
        new: None,
        failed_step: Some("start"),
        steps: Vec::new(),
        total: started.elapsed(),
    };
    let config = match config::load(location) {
        Ok(c) => c,
        Err(e) => return fail(Outcome::NothingDone(e.to_string())),
    };
    if let Err(o) = named_master(&config) {
        return fail(o);
    }
    let _lock = match super::lock::take(&config.pid) {
        Ok(l) => l,
        Err(why) => return fail(Outcome::Refused(why)),
    };
    // Again, under the lock: another run may have just finished.
    let old = match running_master(&config) {
        Ok(p) => p,
        Err(o) => return fail(o),
    };
    let mut u = Upgrade {
        opts,
        config,
        intr: Interrupts::catch(),
        started,
        step_started: started,
        step: "start",
        steps: Vec::new(),
        old,
        new: None,
        winched: false,
        baseline: Vec::new(),
        new_workers: Vec::new(),
    };
    let outcome = u.go();
    let failed_step = (outcome != Outcome::Committed).then_some(u.step);
    Report {
        outcome,
        old: Some(u.old),
        new: u.new,
        failed_step,
        steps: u.steps,
        total: started.elapsed(),
    }
}

/// The master to upgrade: named by the pid file, alive, not already in
/// an upgrade.
fn running_master(config: &Config) -> Result<Pid, Outcome> {
    let oldbin = config.oldbin_path();
    if let Some(p) = observe::named_by(&oldbin).filter(|p| observe::is_master(*p)) {
        return Err(Outcome::Refused(format!(
            "an upgrade is already in progress: master process {p} holds \"{}\"; finish it (QUIT one of the masters) first",
            oldbin.display()
        )));
    }
    named_master(config)
}

/// The live master the pid file names.
fn named_master(config: &Config) -> Result<Pid, Outcome> {
    match observe::named_by(&config.pid) {
        Some(p) if observe::is_master(p) => Ok(p),
        Some(p) => Err(Outcome::NothingDone(format!(
            "process {p} named by \"{}\" is not a running moltd master",
            config.pid.display()
        ))),
        None => Err(Outcome::NothingDone(format!(
            "no running master: cannot read \"{}\"",
            config.pid.display()
        ))),
    }
}

impl Upgrade<'_> {
    fn begin(&mut self, step: &'static str, what: &str) {
        self.step = step;
        self.step_started = Instant::now();
        eprintln!(
            "moltd: upgrade: [{:>6.1}s] {what}",
            self.started.elapsed().as_secs_f64()
        );
    }

    fn done(&mut self) {
        self.steps.push((self.step, self.step_started.elapsed()));
    }

    fn go(&mut self) -> Outcome {
        self.begin("probe-old", "probing the running generation");
        if let Err(why) = self.record_baseline() {
            return Outcome::NothingDone(why);
        }
        self.done();
        let result = self.forward();
        match result {
            Ok(()) => self.commit(),
            Err(abort) => self.roll_back(abort),
        }
    }

    /// Every step up to the commit; an error means roll back.
    fn forward(&mut self) -> Result<(), Abort> {
        self.begin("usr2", &format!("USR2 to master process {}", self.old));
        signal(self.old, Signal::SIGUSR2).map_err(Abort::Fail)?;
        let new = self.wait_new_master()?;
        self.new = Some(new);
        self.done();
        self.begin(
            "ready",
            &format!("waiting for new master process {new} to serve"),
        );
        self.wait_serving(new)?;
        self.new_workers = observe::workers_of(new).iter().map(|w| w.pid).collect();
        self.done();
        self.begin(
            "winch",
            &format!("WINCH to old master process {}", self.old),
        );
        signal(self.old, Signal::SIGWINCH).map_err(Abort::Fail)?;
        self.winched = true;
        self.wait_old_idle()?;
        self.done();
        self.begin("probe-new", "probing the new generation");
        self.compare_probes()?;
        self.done();
        if !self.opts.canary.is_zero() {
            self.begin(
                "canary",
                &format!(
                    "watching the new generation for {} ms",
                    self.opts.canary.as_millis()
                ),
            );
            self.canary(new)?;
            self.done();
        }
        Ok(())
    }

    fn record_baseline(&mut self) -> Result<(), String> {
        let mut paths = if self.opts.probes.is_empty() {
            vec!["/".to_string()]
        } else {
            self.opts.probes.clone()
        };
        for s in &self.config.servers {
            if let Some(log) = &s.access_log {
                for p in probe::recent_paths(log, 5) {
                    if paths.len() < self.opts.probes.len().max(1) + 5 && !paths.contains(&p) {
                        paths.push(p);
                    }
                }
            }
        }
        for addr in self.config.listen_addrs() {
            let target = probe::target(addr);
            for p in &paths {
                let a = probe::get(target, p)
                    .map_err(|e| format!("the running generation does not answer: {e}"))?;
                self.baseline.push((target, p.clone(), a));
            }
        }
        Ok(())
    }

    fn ready_timeout(&self) -> Duration {
        self.opts
            .ready_timeout
            .unwrap_or(self.config.upgrade_ready_timeout + Duration::from_secs(5))
    }

    /// The new master, once the pid file names it; a failed start shows as
    /// the old master putting its pid file back.
    fn wait_new_master(&mut self) -> Result<Pid, Abort> {
        let (pid_path, oldbin) = (self.config.pid.clone(), self.config.oldbin_path());
        let (old, sent) = (self.old, Instant::now());
        let mut seen_oldbin = false;
        Ok(observe::wait_until(
            &self.intr,
            self.ready_timeout(),
            || {
                if !observe::is_master(old) {
                    return Err(format!("old master process {old} is gone"));
                }
                seen_oldbin |= observe::named_by(&oldbin) == Some(old);
                match observe::named_by(&pid_path) {
                Some(p) if p != old && observe::is_master(p) => Ok(Some(p)),
                Some(p) if p == old && (seen_oldbin || sent.elapsed() > Duration::from_secs(2)) => {
                    Err("the new binary did not start (the old master put its pid file back; its error log says why)".into())
                }
                _ => Ok(None),
            }
            },
        )?)
    }

    /// Every worker of `master` reports ready.
    fn wait_serving(&self, master: Pid) -> Result<(), Abort> {
        let n = self.config.worker_processes;
        Ok(observe::wait_until(
            &self.intr,
            self.ready_timeout(),
            || {
                if !observe::is_master(master) {
                    return Err(format!("master process {master} exited before it served"));
                }
                let serving = observe::workers_of(master)
                    .iter()
                    .filter(|w| w.serving)
                    .count();
                Ok((serving >= n).then_some(()))
            },
        )?)
    }

    /// The old master's workers have stopped accepting.
    fn wait_old_idle(&self) -> Result<(), Abort> {
        let old = self.old;
        Ok(observe::wait_until(
            &self.intr,
            Duration::from_secs(10),
            || Ok((!observe::workers_of(old).iter().any(|w| w.serving)).then_some(())),
        )?)
    }

    fn compare_probes(&self) -> Result<(), Abort> {
        for (addr, path, before) in &self.baseline {
            if let Some(sig) = self.intr.take() {
                return Err(Abort::Interrupted(sig));
            }
            let now = probe::get(*addr, path).map_err(Abort::Fail)?;
            if &now != before {
                return Err(Abort::Fail(format!(
                    "GET {path} on {addr}: the old binary answered {before}, the new one {now}"
                )));
            }
        }
        Ok(())
    }

    /// The new generation serves alone for the canary window: no worker
    /// it had when it became ready may die, the first probe must keep its
    /// status.
    fn canary(&self, new: Pid) -> Result<(), Abort> {
        let first = &self.new_workers;
        let end = Instant::now() + self.opts.canary;
        let mut next_probe = Instant::now();
        let limit = self.opts.canary + Duration::from_secs(1);
        Ok(observe::wait_until(&self.intr, limit, || {
            if !observe::is_master(new) {
                return Err(format!("new master process {new} exited"));
            }
            let now: Vec<Pid> = observe::workers_of(new).iter().map(|w| w.pid).collect();
            if let Some(gone) = first.iter().find(|p| !now.contains(p)) {
                return Err(format!("worker process {gone} of the new binary exited"));
            }
            if Instant::now() >= next_probe
                && let Some((addr, path, before)) = self.baseline.first()
            {
                next_probe = Instant::now() + Duration::from_millis(250);
                let a = probe::get(*addr, path)?;
                if a.status != before.status {
                    return Err(format!(
                        "GET {path} on {addr} answered {} during the canary window",
                        a.status
                    ));
                }
            }
            Ok((Instant::now() >= end).then_some(()))
        })?)
    }

    fn commit(&mut self) -> Outcome {
        self.begin(
            "commit",
            &format!("QUIT to old master process {}", self.old),
        );
        if let Err(why) = signal(self.old, Signal::SIGQUIT) {
            return Outcome::Inconsistent(why);
        }
        let old = self.old;
        let limit = self
            .config
            .worker_shutdown_timeout
            .unwrap_or(Duration::from_secs(60))
            + Duration::from_secs(10);
        // An interrupt now changes nothing: the commit is under way.
        let quiet = Interrupts::none();
        let gone = observe::wait_until(&quiet, limit, || {
            Ok((!observe::is_master(old)).then_some(()))
        });
        self.done();
        if gone.is_err() {
            eprintln!("moltd: upgrade: old master process {old} is still draining its connections");
        }
        Outcome::Committed
    }

    fn roll_back(&mut self, abort: Abort) -> Outcome {
        let failed = self.step;
        let (reason, interrupted) = match abort {
            Abort::Fail(why) => (format!("{failed}: {why}"), false),
            Abort::Interrupted(sig) => (format!("{failed}: interrupted by {}", sig.as_str()), true),
        };
        eprintln!("moltd: upgrade: {reason}; rolling back");
        let result = self.undo();
        self.step = failed;
        match result {
            Err(why) => Outcome::Inconsistent(format!("{reason}; the rollback failed: {why}")),
            Ok(()) if interrupted => Outcome::Interrupted(format!(
                "{reason}; rolled back, master process {} serves",
                self.old
            )),
            Ok(()) => Outcome::RolledBack(format!(
                "{reason}; rolled back, master process {} serves",
                self.old
            )),
        }
    }

    /// The old master serves alone again: its workers back (HUP), the new
    /// master gone, its pid file back.
    fn undo(&mut self) -> Result<(), String> {
        let quiet = Interrupts::none();
        let old = self.old;
        if self.winched {
            self.begin("rollback-hup", &format!("HUP to old master process {old}"));
            signal(old, Signal::SIGHUP)?;
            let n = self.config.worker_processes;
            observe::wait_until(&quiet, Duration::from_secs(15), || {
                let serving = observe::workers_of(old)
                    .iter()
                    .filter(|w| w.serving)
                    .count();
                Ok((serving >= n).then_some(()))
            })
            .map_err(|_| format!("old master process {old} did not restart its workers"))?;
            self.done();
        }
        if let Some(new) = self.new.filter(|p| observe::is_master(*p)) {
            self.begin(
                "rollback-quit",
                &format!("QUIT to new master process {new}"),
            );
            signal(new, Signal::SIGQUIT)?;
            let gone = observe::wait_until(&quiet, Duration::from_secs(30), || {
                Ok((!observe::is_master(new)).then_some(()))
            });
            if gone.is_err() {
                let _ = signal(new, Signal::SIGTERM);
            }
            self.done();
        }
        let (pid_path, oldbin) = (self.config.pid.clone(), self.config.oldbin_path());
        observe::wait_until(&quiet, Duration::from_secs(15), || {
            let back = observe::named_by(&pid_path) == Some(old) && !oldbin.exists();
            Ok(back.then_some(()))
        })
        .map_err(|_| format!("the pid file does not name old master process {old} again"))
    }
}

fn signal(pid: Pid, sig: Signal) -> Result<(), String> {
    kill(pid, sig).map_err(|e| format!("kill({pid}, {}) failed ({e})", sig.as_str()))
}
