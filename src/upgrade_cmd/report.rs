//! How an upgrade ended: the outcome (and its exit code), the steps with
//! their durations, as one summary line and as `--json`.

use std::time::Duration;

use nix::unistd::Pid;

use super::{
    EXIT_COMMITTED, EXIT_INCONSISTENT, EXIT_INTERRUPTED, EXIT_NOTHING_DONE, EXIT_REFUSED,
    EXIT_ROLLED_BACK,
};

/// How the upgrade ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The new binary serves alone.
    Committed,
    /// Nothing was changed.
    NothingDone(String),
    /// Another upgrade is in progress.
    Refused(String),
    /// A step failed; the old binary serves alone again.
    RolledBack(String),
    /// The operator interrupted; the old binary serves alone again.
    Interrupted(String),
    /// The rollback did not complete.
    Inconsistent(String),
}

impl Outcome {
    /// The exit code.
    pub fn code(&self) -> u8 {
        match self {
            Outcome::Committed => EXIT_COMMITTED,
            Outcome::NothingDone(_) => EXIT_NOTHING_DONE,
            Outcome::Refused(_) => EXIT_REFUSED,
            Outcome::RolledBack(_) => EXIT_ROLLED_BACK,
            Outcome::Interrupted(_) => EXIT_INTERRUPTED,
            Outcome::Inconsistent(_) => EXIT_INCONSISTENT,
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Outcome::Committed => "committed",
            Outcome::NothingDone(_) => "nothing_done",
            Outcome::Refused(_) => "refused",
            Outcome::RolledBack(_) => "rolled_back",
            Outcome::Interrupted(_) => "interrupted",
            Outcome::Inconsistent(_) => "inconsistent",
        }
    }

    fn reason(&self) -> Option<&str> {
        match self {
            Outcome::Committed => None,
            Outcome::NothingDone(r)
            | Outcome::Refused(r)
            | Outcome::RolledBack(r)
            | Outcome::Interrupted(r)
            | Outcome::Inconsistent(r) => Some(r),
        }
    }
}

/// What happened, for the summary line and `--json`.
pub struct Report {
    /// How it ended.
    pub outcome: Outcome,
    /// The master that was upgraded.
    pub old: Option<Pid>,
    /// The new binary's master, if one started.
    pub new: Option<Pid>,
    /// The step that failed, if one did.
    pub failed_step: Option<&'static str>,
    /// Each step and how long it took.
    pub steps: Vec<(&'static str, Duration)>,
    /// The whole run.
    pub total: Duration,
}

impl Report {
    /// One line for stderr.
    pub fn summary(&self) -> String {
        let pid = |p: Option<Pid>| p.map_or_else(|| "-".into(), |p| p.to_string());
        let mut s = format!(
            "{} (old master {}, new master {}, {} ms)",
            self.outcome.name(),
            pid(self.old),
            pid(self.new),
            self.total.as_millis()
        );
        if let Some(r) = self.outcome.reason() {
            s.push_str(&format!(": {r}"));
        }
        s
    }

    /// The result as one JSON object.
    pub fn json(&self) -> String {
        let opt = |v: Option<String>| v.map_or_else(|| "null".into(), |v| json_string(&v));
        let steps: Vec<String> = self
            .steps
            .iter()
            .map(|(n, d)| format!("{{\"step\":{},\"ms\":{}}}", json_string(n), d.as_millis()))
            .collect();
        format!(
            "{{\"result\":\"{}\",\"exit_code\":{},\"old_pid\":{},\"new_pid\":{},\"failed_step\":{},\"reason\":{},\"ms\":{},\"steps\":[{}]}}",
            self.outcome.name(),
            self.outcome.code(),
            self.old.map_or_else(|| "null".into(), |p| p.to_string()),
            self.new.map_or_else(|| "null".into(), |p| p.to_string()),
            opt(self.failed_step.map(String::from)),
            opt(self.outcome.reason().map(String::from)),
            self.total.as_millis(),
            steps.join(",")
        )
    }
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
