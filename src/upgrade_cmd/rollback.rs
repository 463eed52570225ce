//! Rolling an upgrade back: whatever step failed or was interrupted, the
//! old master ends up serving alone with its pid file back, or the command
//! says plainly that it could not get there.

use std::time::Duration;

use nix::sys::signal::Signal;
use nix::unistd::Pid;

use super::observe::{self, Interrupts, say};
use super::report::Outcome;
use super::steps::{Abort, Upgrade, signal};

/// How long a rollback waits for a USR2 the old master queued behind a
/// reload (its reload timeout, and a little).
const QUEUED_UPGRADE_WAIT: Duration = Duration::from_secs(12);

impl Upgrade<'_> {
    pub(super) fn roll_back(&mut self, abort: Abort) -> Outcome {
        let failed = self.step;
        let (reason, interrupted) = match abort {
            Abort::Fail(why) => (format!("{failed}: {why}"), false),
            Abort::Interrupted(sig) => (format!("{failed}: interrupted by {}", sig.as_str()), true),
        };
        say!("moltd: upgrade: {reason}; rolling back");
        let result = self.undo();
        self.step = failed;
        let old = self.old;
        match result {
            Err(why) => Outcome::Inconsistent(format!("{reason}; the rollback failed: {why}")),
            Ok(()) if interrupted => Outcome::Interrupted(format!(
                "{reason}; rolled back, master process {old} serves"
            )),
            Ok(()) => Outcome::RolledBack(format!(
                "{reason}; rolled back, master process {old} serves"
            )),
        }
    }

    /// The old master serves alone again: its workers back (HUP, unless it
    /// already restarted them itself), every new master gone, its pid file
    /// back. Interrupts are ignored from here on.
    fn undo(&mut self) -> Result<(), String> {
        let quiet = Interrupts::none();
        let old = self.old;
        let mut problems = Vec::new();
        let serving = |n: usize| {
            observe::workers_of(old)
                .iter()
                .filter(|w| w.serving)
                .count()
                >= n
        };
        if self.winched && !serving(self.old_workers) {
            self.begin("rollback-hup", &format!("HUP to old master process {old}"));
            signal(old, Signal::SIGHUP)?;
            let n = self.old_workers;
            if observe::wait_until(&quiet, Duration::from_secs(15), || {
                Ok(serving(n).then_some(()))
            })
            .is_err()
            {
                problems.push(format!(
                    "old master process {old} did not restart its workers"
                ));
            }
            self.done();
        }
        // Whatever started, even if we never learnt its pid: a master the old
        // one started, the one the pid file names, one still queued.
        let mut new = self.new_masters();
        if new.is_empty() && self.usr2_may_still_act() {
            say!(
                "moltd: upgrade: the old master has not acted on the USR2 yet; waiting to stop what it starts"
            );
            new = observe::wait_until(&quiet, QUEUED_UPGRADE_WAIT, || {
                let found = self.new_masters();
                if !found.is_empty() {
                    return Ok(Some(found));
                }
                Ok((!self.usr2_may_still_act()).then(Vec::new))
            })
            .unwrap_or_default();
            if new.is_empty() && self.usr2_may_still_act() {
                problems.push(format!(
                    "old master process {old} still holds the USR2 (stopped, or a reload in progress): it will start the new binary when it acts on it"
                ));
            }
        }
        let mut told = Vec::new();
        self.quit_all(&new, &mut told)?;
        // Keep looking while waiting: a wrapper may start its moltd late.
        let (pid_path, oldbin) = (self.config.pid.clone(), self.config.oldbin_path());
        let back = observe::wait_until(&quiet, Duration::from_secs(30), || {
            let late: Vec<Pid> = self
                .new_masters()
                .into_iter()
                .filter(|p| !told.contains(p))
                .collect();
            self.quit_all(&late, &mut told)?;
            let alone = told.iter().all(|p| !observe::is_master(*p));
            let named = observe::named_by(&pid_path) == Some(old) && !oldbin.exists();
            Ok((alone && named).then_some(()))
        });
        if back.is_err() {
            problems.push(format!(
                "the old master {old} is not alone with its pid file yet (new masters: {told:?})"
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }

    /// QUIT to each of `masters` not told yet, and a TERM to one that is
    /// still there 30 s later.
    fn quit_all(&mut self, masters: &[Pid], told: &mut Vec<Pid>) -> Result<(), String> {
        for &p in masters {
            if told.contains(&p) {
                continue;
            }
            told.push(p);
            self.begin("rollback-quit", &format!("QUIT to new master process {p}"));
            signal(p, Signal::SIGQUIT)?;
            let gone = observe::wait_until(&Interrupts::none(), Duration::from_secs(30), || {
                Ok((!observe::is_master(p)).then_some(()))
            });
            if gone.is_err() {
                let _ = signal(p, Signal::SIGTERM);
            }
            self.done();
        }
        Ok(())
    }

    /// Every live master that is not the old one and came from it.
    fn new_masters(&self) -> Vec<Pid> {
        let mut found = observe::child_masters(self.old);
        let named = observe::named_by(&self.config.pid).filter(|p| *p != self.old);
        for p in self.new.into_iter().chain(named) {
            if observe::is_master(p) && !found.contains(&p) {
                found.push(p);
            }
        }
        found
    }

    /// True while the old master may yet start a new binary for our USR2:
    /// the signal still pending (a stopped or busy master), or queued
    /// behind a reload, with no new binary started since.
    fn usr2_may_still_act(&self) -> bool {
        if observe::signal_pending(self.old, Signal::SIGUSR2) {
            return true;
        }
        // Without a log to read, a USR2 queued behind a reload cannot be
        // told from none: wait the queue out.
        if !self.log.watchable() {
            return self
                .started_usr2
                .is_some_and(|t| t.elapsed() < QUEUED_UPGRADE_WAIT);
        }
        let ours = format!("(SIGUSR2) received from {}", std::process::id());
        let text = self.log.since();
        let queued = text
            .lines()
            .any(|l| l.contains(&ours) && l.contains("once the reload completes"));
        queued && !text.contains("start new binary process")
    }
}
