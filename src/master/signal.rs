//! Signals at the edge: the one table mapping raw signals to what they mean
//! to a master (docs/operations.md, "Signals"), also used by `-s`. Nothing past this file
//! matches on `libc::SIG*`.
//!
//! The master blocks these signals and reads them from a signalfd, which
//! also gives the sender's pid for the `received from N` log line. No work
//! happens in signal context.

use std::fmt;
use std::os::fd::{AsFd, BorrowedFd};

use nix::sys::signal::{SigSet, Signal as Raw};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::unistd::Pid;

/// What a signal asks of the master.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// TERM: fast shutdown.
    Terminate,
    /// INT: fast shutdown, like TERM.
    Interrupt,
    /// QUIT: graceful shutdown.
    Quit,
    /// HUP: reload the configuration.
    Reload,
    /// USR1: reopen log files.
    Reopen,
    /// USR2: upgrade the binary.
    Upgrade,
    /// WINCH: gracefully stop the workers, keep the sockets.
    StopWorkers,
    /// CHLD: a child changed state.
    Child,
}

/// Every signal, in table order.
pub const ALL: [Signal; 8] = [
    Signal::Terminate,
    Signal::Interrupt,
    Signal::Quit,
    Signal::Reload,
    Signal::Reopen,
    Signal::Upgrade,
    Signal::StopWorkers,
    Signal::Child,
];

impl Signal {
    /// The raw signal.
    pub fn raw(self) -> Raw {
        match self {
            Signal::Terminate => Raw::SIGTERM,
            Signal::Interrupt => Raw::SIGINT,
            Signal::Quit => Raw::SIGQUIT,
            Signal::Reload => Raw::SIGHUP,
            Signal::Reopen => Raw::SIGUSR1,
            Signal::Upgrade => Raw::SIGUSR2,
            Signal::StopWorkers => Raw::SIGWINCH,
            Signal::Child => Raw::SIGCHLD,
        }
    }

    /// The signal for a raw number, if it is one the master handles.
    pub fn from_raw(n: i32) -> Option<Self> {
        ALL.into_iter().find(|s| s.raw() as i32 == n)
    }

    /// The signal `-s NAME` sends.
    pub fn from_command(name: &str) -> Option<Self> {
        match name {
            "stop" => Some(Signal::Terminate),
            "quit" => Some(Signal::Quit),
            "reopen" => Some(Signal::Reopen),
            "reload" => Some(Signal::Reload),
            _ => None,
        }
    }

    /// `SIGTERM` and so on.
    pub fn name(self) -> &'static str {
        self.raw().as_str()
    }

    /// The suffix of the `signal N (NAME) received from P` line, nginx's.
    pub fn action(self) -> &'static str {
        match self {
            Signal::Terminate | Signal::Interrupt => ", exiting",
            Signal::Quit => ", shutting down",
            Signal::Reload => ", reconfiguring",
            Signal::Reopen => ", reopening logs",
            Signal::Upgrade => ", changing binary",
            Signal::StopWorkers => ", stop accepting connections",
            Signal::Child => "",
        }
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "signal {} ({})", self.raw() as i32, self.name())
    }
}

/// The master's signal inbox: the signals of [`ALL`] blocked and queued on a
/// signalfd.
pub struct Inbox {
    fd: SignalFd,
}

impl Inbox {
    /// Blocks the master's signals and opens the signalfd. Must run before
    /// the first fork and before the pid file names this process.
    pub fn open() -> nix::Result<Self> {
        let mut set = SigSet::empty();
        for s in ALL {
            set.add(s.raw());
        }
        crate::sys::signals::block(&set)?;
        let fd = SignalFd::with_flags(&set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)?;
        Ok(Inbox { fd })
    }

    /// The fd to poll.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Every queued signal, with its sender's pid.
    pub fn take(&self) -> Vec<(Signal, Pid)> {
        let mut out = Vec::new();
        while let Ok(Some(info)) = self.fd.read_signal() {
            if let Some(s) = Signal::from_raw(info.ssi_signo as i32) {
                out.push((s, Pid::from_raw(info.ssi_pid as i32)));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_round_trips() {
        for s in ALL {
            assert_eq!(Signal::from_raw(s.raw() as i32), Some(s));
        }
        assert_eq!(Signal::from_raw(Raw::SIGKILL as i32), None);
        assert_eq!(Signal::from_command("stop"), Some(Signal::Terminate));
        assert_eq!(Signal::from_command("reload"), Some(Signal::Reload));
        assert_eq!(Signal::from_command("restart"), None);
        assert_eq!(Signal::Upgrade.to_string(), "signal 12 (SIGUSR2)");
    }
}
