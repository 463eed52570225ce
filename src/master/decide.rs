//! The master's decisions that need no process to make: pure functions of
//! its state, unit-tested below without forking anything. The `Master`
//! methods gather the state, call these, and carry the result out.

use std::time::Duration;

/// A worker that dies sooner than this after its start counts as a fast
/// death; repeated fast deaths slow respawning down (fork-storm guard).
pub const FAST_DEATH: Duration = Duration::from_secs(1);

/// Longest delay between respawns of a worker that keeps dying at once.
pub const MAX_RESPAWN_DELAY: Duration = Duration::from_secs(5);

/// When a fast shutdown re-sends TERM, counted from the first TERM; after
/// the last step, SIGKILL (nginx's observed 150/350/750/1550/3150 ms).
pub const TERM_STEPS: [Duration; 5] = [
    Duration::from_millis(150),
    Duration::from_millis(350),
    Duration::from_millis(750),
    Duration::from_millis(1550),
    Duration::from_millis(3150),
];

/// What USR2 needs to know.
#[derive(Debug, Clone, Copy, Default)]
pub struct UpgradeState {
    /// Not shutting down.
    pub running: bool,
    /// A new binary of ours is running.
    pub new_binary: bool,
    /// We are a new binary and the master that started us still lives.
    pub old_master_alive: bool,
    /// A reload is starting its workers.
    pub reloading: bool,
    /// We are process 1 of a PID namespace.
    pub pid_is_1: bool,
}

/// nginx's line for a refused USR2 during an upgrade.
pub const UPGRADE_IN_PROGRESS: &str = "the changing binary signal is ignored: you should shutdown or terminate before either old or new binary's process";

/// What USR2 does.
#[derive(Debug, PartialEq, Eq)]
pub enum OnUsr2 {
    /// Start the new binary now.
    Upgrade,
    /// A reload is starting its workers: upgrade once it ends (a deploy
    /// script's `-s reload` then USR2 gets both, as with nginx).
    Queue,
    /// Refused, with the crit line to log.
    Refuse(&'static str),
}

/// The USR2 decision.
pub fn on_usr2(s: UpgradeState) -> OnUsr2 {
    match upgrade_refusal(s) {
        Some(why) => OnUsr2::Refuse(why),
        None if s.reloading => OnUsr2::Queue,
        None => OnUsr2::Upgrade,
    }
}

/// Why USR2 must be refused, as the crit line to log; `None` to upgrade
/// (at once, or after a reload in progress).
pub fn upgrade_refusal(s: UpgradeState) -> Option<&'static str> {
    if !s.running {
        return Some("the changing binary signal is ignored: shutting down");
    }
    if s.new_binary || s.old_master_alive {
        return Some(UPGRADE_IN_PROGRESS);
    }
    if s.pid_is_1 {
        return Some(
            "the changing binary signal is ignored: this master is process 1 of its namespace, and the new master would die with it when the upgrade is committed; run moltd under an init (e.g. tini) or with daemon = true",
        );
    }
    None
}

/// What HUP does.
#[derive(Debug, PartialEq, Eq)]
pub enum OnHup {
    /// Start the missing workers with the configuration in memory: a
    /// rollback during an upgrade, or after WINCH (nginx's behaviour; the
    /// file on disk may be the new binary's).
    StartWorkers,
    /// A reload is starting: reload again once it ends.
    Queue,
    /// Re-read the configuration.
    Reload,
}

/// The HUP decision.
pub fn on_hup(new_binary: bool, accepting: bool, reloading: bool) -> OnHup {
    if new_binary || !accepting {
        OnHup::StartWorkers
    } else if reloading {
        OnHup::Queue
    } else {
        OnHup::Reload
    }
}

/// How long to wait before respawning a worker after `fast_deaths`
/// consecutive deaths within [`FAST_DEATH`] of starting: at once for the
/// first, then 100 ms doubling up to [`MAX_RESPAWN_DELAY`].
pub fn respawn_delay(fast_deaths: u32) -> Duration {
    if fast_deaths <= 1 {
        return Duration::ZERO;
    }
    Duration::from_millis(100)
        .saturating_mul(2u32.saturating_pow(fast_deaths - 2))
        .min(MAX_RESPAWN_DELAY)
}

/// What a fast shutdown does at escalation `step`.
#[derive(Debug, PartialEq, Eq)]
pub enum Escalation {
    /// Send TERM again.
    Term,
    /// Send SIGKILL to whoever is left.
    Kill,
}

/// When (after the first TERM) escalation `step` is due, and what it is;
/// `None` once everything has been tried.
pub fn escalation(step: usize) -> Option<(Duration, Escalation)> {
    let at = *TERM_STEPS.get(step)?;
    let what = if step + 1 == TERM_STEPS.len() {
        Escalation::Kill
    } else {
        Escalation::Term
    };
    Some((at, what))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn running() -> UpgradeState {
        UpgradeState {
            running: true,
            ..UpgradeState::default()
        }
    }

    #[test]
    fn usr2_is_refused_exactly_when_it_must_be() {
        assert_eq!(upgrade_refusal(running()), None);
        let cases = [
            UpgradeState {
                running: false,
                ..running()
            },
            UpgradeState {
                new_binary: true,
                ..running()
            },
            UpgradeState {
                old_master_alive: true,
                ..running()
            },
            UpgradeState {
                pid_is_1: true,
                ..running()
            },
        ];
        for c in cases {
            assert!(upgrade_refusal(c).is_some(), "{c:?}");
        }
        assert_eq!(
            upgrade_refusal(UpgradeState {
                new_binary: true,
                ..running()
            }),
            Some(UPGRADE_IN_PROGRESS)
        );
    }

    #[test]
    fn usr2_during_a_reload_is_queued_not_dropped() {
        let reloading = UpgradeState {
            reloading: true,
            ..running()
        };
        assert_eq!(on_usr2(reloading), OnUsr2::Queue);
        assert_eq!(on_usr2(running()), OnUsr2::Upgrade);
        // A refusal wins over the queue.
        assert!(matches!(
            on_usr2(UpgradeState {
                new_binary: true,
                ..reloading
            }),
            OnUsr2::Refuse(_)
        ));
    }

    #[test]
    fn hup_never_rereads_the_file_during_an_upgrade_or_after_winch() {
        assert_eq!(on_hup(true, true, false), OnHup::StartWorkers);
        assert_eq!(on_hup(false, false, false), OnHup::StartWorkers);
        assert_eq!(on_hup(true, false, true), OnHup::StartWorkers);
        assert_eq!(on_hup(false, true, true), OnHup::Queue);
        assert_eq!(on_hup(false, true, false), OnHup::Reload);
    }

    #[test]
    fn respawn_backs_off_and_caps() {
        assert_eq!(respawn_delay(0), Duration::ZERO);
        assert_eq!(respawn_delay(1), Duration::ZERO);
        assert_eq!(respawn_delay(2), Duration::from_millis(100));
        assert_eq!(respawn_delay(3), Duration::from_millis(200));
        assert_eq!(respawn_delay(7), Duration::from_millis(3200));
        assert_eq!(respawn_delay(8), MAX_RESPAWN_DELAY);
        assert_eq!(respawn_delay(u32::MAX), MAX_RESPAWN_DELAY);
    }

    #[test]
    fn term_escalates_like_nginx() {
        let steps: Vec<_> = (0..6).map(escalation).collect();
        assert_eq!(
            steps[0],
            Some((Duration::from_millis(150), Escalation::Term))
        );
        assert_eq!(
            steps[3],
            Some((Duration::from_millis(1550), Escalation::Term))
        );
        assert_eq!(
            steps[4],
            Some((Duration::from_millis(3150), Escalation::Kill))
        );
        assert_eq!(steps[5], None);
    }
}
