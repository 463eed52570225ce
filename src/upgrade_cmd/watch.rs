//! The waits of `-s upgrade`: for the new master, for its workers, for
//! the old workers to stop accepting, and the canary window. Each decides
//! from evidence (the pid files, the process tree, the old master's error
//! log) and never from a guess about how fast the old master is.

use std::time::{Duration, Instant};

use nix::unistd::Pid;

use super::observe;
use super::probe;
use super::steps::{Abort, Upgrade};

/// How many probe failures in a row the canary window forgives (a
/// connection that times out once is not yet a broken binary).
const CANARY_PROBE_MISSES: u32 = 2;

/// What the old master's error log says about our USR2.
enum Said {
    /// Nothing yet (or the log is not a file).
    Nothing,
    /// It refused the upgrade.
    Refused(String),
    /// A reload is in progress: it upgrades when the reload ends.
    Queued,
    /// It could not start the binary.
    ExecFailed(String),
    /// It started the binary as this process.
    Started(Pid),
}

fn said(u: &Upgrade<'_>) -> Said {
    let text = u.log.since();
    let ours = format!("(SIGUSR2) received from {}", std::process::id());
    for line in text.lines() {
        if line.contains(&ours) && line.contains(", ignoring") {
            return Said::Refused(line.to_string());
        }
        if line.contains("failed before executing new binary process")
            || line.contains("failed while executing new binary process")
        {
            return Said::ExecFailed(line.to_string());
        }
        if let Some(rest) = line.split("start new binary process ").nth(1)
            && let Ok(pid) = rest.trim().parse::<i32>()
        {
            return Said::Started(Pid::from_raw(pid));
        }
    }
    let queued = text
        .lines()
        .any(|l| l.contains(&ours) && l.contains("once the reload completes"));
    if queued { Said::Queued } else { Said::Nothing }
}

/// What the old master said of new binary process `child`: why it did not
/// start, or that it did not become ready in time, before (or instead of)
/// how it then exited.
fn why_gone(u: &Upgrade<'_>, child: Pid) -> Option<String> {
    let name = format!("new binary process {child} ");
    let text = u.log.since();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(&name) && !l.contains("start new binary") && !l.contains("is ready"))
        .collect();
    let cause = lines
        .iter()
        .find(|l| l.contains("failed to start") || l.contains("did not become ready"));
    let line = cause.or(lines.last())?;
    Some(
        line.split_once("#0: ")
            .map_or(*line, |(_, m)| m)
            .trim()
            .to_string(),
    )
}

impl Upgrade<'_> {
    /// The new master: named by the pid file, or a master the old one
    /// started. A failed start is decided only once the old master has
    /// shown that it acted (`.oldbin` came and went, or its error log says
    /// so).
    pub(super) fn wait_new_master(&mut self) -> Result<Pid, Abort> {
        let (pid_path, oldbin) = (self.config.pid.clone(), self.config.oldbin_path());
        let old = self.old;
        let mut seen_oldbin = false;
        let this = &*self;
        Ok(observe::wait_until(
            &this.intr,
            this.ready_timeout(),
            || {
                if !observe::is_master(old) {
                    return Err(format!("old master process {old} is gone"));
                }
                seen_oldbin |= observe::named_by(&oldbin) == Some(old);
                if let Some(p) =
                    observe::named_by(&pid_path).filter(|p| *p != old && observe::is_master(*p))
                {
                    return Ok(Some(p));
                }
                let put_back = observe::named_by(&pid_path) == Some(old) && !oldbin.exists();
                match said(this) {
                Said::Refused(line) => Err(format!("the old master refused the upgrade: {line}")),
                Said::ExecFailed(line) => Err(format!("the new binary could not be started: {line}")),
                Said::Started(child) if put_back && !observe::is_master(child) => {
                    Err(match why_gone(this, child) {
                        Some(line) => format!("new binary process {child} failed: {line}"),
                        None => format!(
                            "new binary process {child} exited before it served (the old master's error log says why)"
                        ),
                    })
                }
                Said::Nothing if put_back && seen_oldbin => Err(
                    "the new binary exited before it served (the old master put its pid file back; its error log says why)"
                        .into(),
                ),
                _ => Ok(None),
            }
            },
        )?)
    }

    /// Every worker of `master` reports ready.
    pub(super) fn wait_serving(&self, master: Pid) -> Result<(), Abort> {
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
    pub(super) fn wait_old_idle(&self) -> Result<(), Abort> {
        let old = self.old;
        Ok(observe::wait_until(
            &self.intr,
            Duration::from_secs(10),
            || Ok((!observe::workers_of(old).iter().any(|w| w.serving)).then_some(())),
        )?)
    }

    /// The new generation serves alone for the canary window: no worker
    /// it had when it became ready may exit, and the first probe must keep
    /// its status.
    pub(super) fn canary(&self, new: Pid) -> Result<(), Abort> {
        let first = &self.new_workers;
        let end = Instant::now() + self.opts.canary;
        let mut next_probe = Instant::now();
        let mut misses = 0;
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
                && let Some((addr, path, before, _)) = self.baseline.first()
            {
                next_probe = Instant::now() + Duration::from_millis(250);
                match probe::get(*addr, path) {
                    Ok(a) if a.status == before.status => misses = 0,
                    Ok(a) => {
                        return Err(format!(
                            "GET {path} on {addr} answered {} during the canary window",
                            a.status
                        ));
                    }
                    Err(e) => {
                        misses += 1;
                        if misses >= CANARY_PROBE_MISSES {
                            return Err(e);
                        }
                    }
                }
            }
            Ok((Instant::now() >= end).then_some(()))
        })?)
    }
}
