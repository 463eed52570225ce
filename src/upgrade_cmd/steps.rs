//! The steps of `-s upgrade`, each with its deadline and its failure.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::Options;
use super::observe::{self, Interrupts, LogWatch, Stop, say};
use super::probe::{self, Answer};
use super::report::{Outcome, Report};
use crate::config::{self, Config, Location};

/// Why a step stopped the upgrade.
pub(super) enum Abort {
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
pub(super) struct Upgrade<'a> {
    pub(super) opts: &'a Options,
    pub(super) config: Config,
    pub(super) intr: Interrupts,
    pub(super) started: Instant,
    pub(super) step_started: Instant,
    pub(super) step: &'static str,
    pub(super) steps: Vec<(&'static str, Duration)>,
    pub(super) old: Pid,
    pub(super) new: Option<Pid>,
    pub(super) winched: bool,
    /// Each probe: where, what, the old answer, and whether every field
    /// must match (asked with `--probe`) or only the status (a path seen
    /// in the access log, whose file may change meanwhile).
    pub(super) baseline: Vec<(SocketAddr, String, Answer, bool)>,
    /// The old master's serving workers before USR2: how many a rollback
    /// waits for (the file on disk may say otherwise).
    pub(super) old_workers: usize,
    /// The old master's error log from just before USR2.
    pub(super) log: LogWatch,
    /// When USR2 went out, if it did.
    pub(super) started_usr2: Option<Instant>,
    /// The new master's workers once it served: any that goes later is a
    /// failure.
    pub(super) new_workers: Vec<Pid>,
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
    // The lock first: while another run upgrades, the pid file is
    // `.oldbin` for a moment, and "no running master" would be wrong.
    let lock = super::lock::take(&config.pid);
    if let Err(o) = named_master(&config) {
        return fail(match lock {
            Err(why) if super::lock::held(&config.pid) => Outcome::Refused(why),
            _ => o,
        });
    }
    let _lock = match lock {
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
        old_workers: 0,
        log: LogWatch::start(None),
        started_usr2: None,
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
    pub(super) fn begin(&mut self, step: &'static str, what: &str) {
        self.step = step;
        self.step_started = Instant::now();
        say!(
            "moltd: upgrade: [{:>6.1}s] {what}",
            self.started.elapsed().as_secs_f64()
        );
    }

    pub(super) fn done(&mut self) {
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
        let serving = observe::workers_of(self.old)
            .iter()
            .filter(|w| w.serving)
            .count();
        self.old_workers = serving.max(1);
        self.log = LogWatch::start(self.config.error_log.as_deref());
        signal(self.old, Signal::SIGUSR2).map_err(Abort::Fail)?;
        self.started_usr2 = Some(Instant::now());
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
        let asked = if self.opts.probes.is_empty() {
            vec!["/".to_string()]
        } else {
            self.opts.probes.clone()
        };
        let mut paths: Vec<(String, bool)> = asked.into_iter().map(|p| (p, true)).collect();
        let mut seen = 0;
        for s in &self.config.servers {
            if let Some(log) = &s.access_log {
                for p in probe::recent_paths(log, 5) {
                    if seen < 5 && !paths.iter().any(|(q, _)| *q == p) {
                        paths.push((p, false));
                        seen += 1;
                    }
                }
            }
        }
        for addr in self.config.listen_addrs() {
            let target = probe::target(addr);
            for (p, full) in &paths {
                let a = probe::get(target, p).map_err(|e| {
                    let hint = match self.config.source {
                        config::Source::Embedded => {
                            " (there is no configuration file, so these are the built-in default's addresses: was conf/moltd.toml moved away?)"
                        }
                        config::Source::File(_) => "",
                    };
                    format!("the running generation does not answer: {e}{hint}")
                })?;
                // A path asked for that fails already proves little: the
                // new generation is held to the same failure.
                if *full && a.status >= 400 {
                    say!(
                        "moltd: upgrade: warning: --probe {p} answers {} on the running generation ({target}); the new one must answer the same",
                        a.status
                    );
                }
                self.baseline.push((target, p.clone(), a, *full));
            }
        }
        Ok(())
    }

    pub(super) fn ready_timeout(&self) -> Duration {
        self.opts
            .ready_timeout
            .unwrap_or(self.config.upgrade_ready_timeout + Duration::from_secs(5))
    }

    fn compare_probes(&self) -> Result<(), Abort> {
        for (addr, path, before, full) in &self.baseline {
            if let Some(sig) = self.intr.take() {
                return Err(Abort::Interrupted(sig));
            }
            let now = probe::get(*addr, path).map_err(Abort::Fail)?;
            let same = if *full {
                &now == before
            } else {
                now.status == before.status
            };
            if !same {
                return Err(Abort::Fail(format!(
                    "GET {path} on {addr}: the old binary answered {before}, the new one {now}"
                )));
            }
        }
        Ok(())
    }

    fn commit(&mut self) -> Outcome {
        // The new master must still be there: QUIT to the old one now
        // would leave nobody.
        if let Some(new) = self.new.filter(|p| !observe::is_master(*p)) {
            return self.roll_back(Abort::Fail(format!(
                "new master process {new} exited before the commit"
            )));
        }
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
        let gone = || Ok((!observe::is_master(old)).then_some(()));
        // Most old masters are gone at once; one with slow clients drains
        // for up to `limit`, and the operator is told so now, not then.
        let mut left = observe::wait_until(&Interrupts::none(), COMMIT_QUIET, gone);
        if left.is_err() {
            say!(
                "moltd: upgrade: committed; old master process {old} is draining its connections (waiting up to {}s; an interrupt stops the wait, not the upgrade)",
                limit.as_secs()
            );
            left = observe::wait_until(&self.intr, limit, gone);
        }
        self.done();
        match left {
            Ok(()) => {}
            Err(Stop::Interrupted(sig)) => say!(
                "moltd: upgrade: {} received: no longer waiting; the upgrade is committed and old master process {old} drains on its own",
                sig.as_str()
            ),
            Err(_) => {
                say!("moltd: upgrade: old master process {old} is still draining its connections")
            }
        }
        Outcome::Committed
    }
}

/// How long the commit waits for the old master before saying that it
/// drains.
const COMMIT_QUIET: Duration = Duration::from_secs(2);

pub(super) fn signal(pid: Pid, sig: Signal) -> Result<(), String> {
    kill(pid, sig).map_err(|e| format!("kill({pid}, {}) failed ({e})", sig.as_str()))
}
