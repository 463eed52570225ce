//! The state machine's vocabulary: what goes in ([`Event`]: what the
//! driver saw) and what comes out ([`Action`]: what the driver does). Plain
//! data, so the tests can script a whole world with it.

use std::time::Duration;

use super::{Level, Pid, Signal};

/// How a child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// It exited with this code.
    Code(i32),
    /// A signal killed it.
    Signal {
        /// The signal number.
        signo: i32,
        /// A core was dumped.
        core: bool,
    },
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exit::Code(c) => write!(f, "exited with code {c}"),
            Exit::Signal { signo, core } => write!(
                f,
                "exited on signal {signo}{}",
                if *core { " (core dumped)" } else { "" }
            ),
        }
    }
}

/// What the new binary wrote on its readiness pipe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    /// `1`: it serves.
    Ready,
    /// Why it could not start.
    Failed(String),
}

/// Something that happened, for [`State::step`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A control signal (never CHLD: the driver reaps and sends `Exited`).
    Signal(Signal, Pid),
    /// A worker wrote its ready byte.
    WorkerReady(Pid),
    /// A child was reaped.
    Exited(Pid, Exit),
    /// The answer to [`Action::Fork`].
    Forked {
        /// The generation asked for.
        generation: u64,
        /// The new worker's pid, or why fork failed.
        result: Result<Pid, String>,
    },
    /// The answer to [`Action::Prepare`]: the new generation's settings,
    /// or the lines saying why it cannot be built.
    Prepared(Result<Settings, Vec<String>>),
    /// The answer to [`Action::ExecNewBinary`].
    Execed(Result<Pid, String>),
    /// The new binary reported on its readiness pipe.
    NewBinaryReport(Report),
    /// The master that started this one by USR2 is gone.
    OldMasterGone,
    /// Time passed: act on every deadline that is due.
    Tick,
}

/// A signal for a worker or the new binary's process group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sig {
    /// QUIT: drain and exit.
    Quit,
    /// TERM: exit now.
    Term,
    /// SIGKILL.
    Kill,
    /// USR1: reopen the logs.
    Reopen,
    /// USR2 to a worker: the server is going away, fail health checks.
    Leaving,
}

/// Something for the driver to do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A line for the error log.
    Log(Level, String),
    /// Fork a worker of `generation`; answered by [`Event::Forked`].
    Fork {
        /// Whose configuration it serves.
        generation: u64,
        /// It replaces a worker that exited unexpectedly.
        respawn: bool,
    },
    /// Signal a worker.
    Signal {
        /// The worker.
        pid: Pid,
        /// What to send.
        sig: Sig,
    },
    /// Signal the new binary's process group (a wrapper's children too).
    SignalNewBinary {
        /// The new binary (its group leader).
        pid: Pid,
        /// What to send.
        sig: Sig,
    },
    /// Re-read the configuration and open what `generation` needs (log
    /// files, listeners); answered by [`Event::Prepared`].
    Prepare {
        /// The number it will have.
        generation: u64,
    },
    /// Close what an abandoned generation opened.
    Discard {
        /// The abandoned generation.
        generation: u64,
    },
    /// `generation` becomes current: its configuration, log files and
    /// listeners; the error log and (if its path changed) the pid file
    /// follow.
    Commit {
        /// The new current generation.
        generation: u64,
    },
    /// Reopen every log file of the master, then point the error log at
    /// the fresh file.
    ReopenLogs,
    /// Rename the pid file to `.oldbin` and start the binary on disk with
    /// the listeners; answered by [`Event::Execed`].
    ExecNewBinary,
    /// Rename `.oldbin` back to the pid file: the new binary is gone.
    RestorePidFile,
    /// Close the listening sockets: nothing will accept on them again.
    CloseListeners,
    /// Tell the old master (this one was started by USR2) that it serves.
    ReportReady,
    /// Tell the service manager (systemd's `NOTIFY_SOCKET`, when set).
    Notify(Notice),
    /// Remove `.oldbin` if it still names `old`, which is gone.
    ForgetOldMaster {
        /// The old master's pid.
        old: Pid,
    },
    /// Remove the pid file (`.oldbin` while a new binary runs) and exit.
    Exit {
        /// The exit code.
        code: u8,
        /// Remove `.oldbin` instead of the pid file.
        oldbin: bool,
    },
}

/// What the service manager is told (`sd_notify` messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// `READY=1`: serving (first start, or a reload over).
    Ready {
        /// The `STATUS=` line.
        status: String,
    },
    /// `RELOADING=1` with `MONOTONIC_USEC=` (`Type=notify-reload`).
    Reloading,
    /// `STOPPING=1`: the service goes away.
    Stopping,
    /// `MAINPID=`: hand the main-process role to the new master this one
    /// commits to (`Some`), or claim it (`None`: a new master whose old
    /// master is gone).
    MainPid(Option<Pid>),
    /// `STATUS=` alone.
    Status(String),
}

/// What of a configuration the decisions depend on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// `worker_processes`.
    pub worker_processes: usize,
    /// `shutdown_delay`.
    pub shutdown_delay: Duration,
    /// `upgrade_ready_timeout`.
    pub upgrade_ready_timeout: Duration,
}
