//! The worker's signals, read from a signalfd inside its tokio runtime.
//!
//! The master forks workers with its control signals blocked; a worker
//! keeps them blocked for its whole life and reads them from its own
//! signalfd. So a signal that arrives while the worker is still starting
//! waits in the queue instead of killing it with the default action, and
//! each log line can name the sender like nginx's
//! (`signal 3 (SIGQUIT) received from 1234, shutting down`).

use std::io;

use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::SignalFd;
use tokio::io::unix::AsyncFd;

/// What a signal asks of a worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// QUIT (also the parent-death signal): drain and exit.
    Drain,
    /// TERM or INT: exit now.
    Exit,
    /// USR1: reopen the log.
    Reopen,
    /// USR2 from the master: the server is going away after its
    /// `shutdown_delay`; keep serving, but fail readiness probes.
    Leave,
    /// HUP, WINCH: logged and ignored.
    Ignore,
}

const HANDLED: [Signal; 7] = [
    Signal::SIGQUIT,
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGUSR1,
    Signal::SIGHUP,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
];

fn request_for(sig: Signal) -> (Request, &'static str) {
    match sig {
        Signal::SIGQUIT => (Request::Drain, ", shutting down"),
        Signal::SIGTERM | Signal::SIGINT => (Request::Exit, ", exiting"),
        Signal::SIGUSR1 => (Request::Reopen, ", reopening logs"),
        Signal::SIGUSR2 => (Request::Leave, ", not ready any more"),
        _ => (Request::Ignore, ", ignoring"),
    }
}

/// The worker's signal inbox.
pub struct Inbox {
    fd: AsyncFd<SignalFd>,
}

impl Inbox {
    /// Blocks the worker's signals (most already are, inherited from the
    /// master) and opens the signalfd. Call inside the runtime.
    pub fn open() -> io::Result<Self> {
        let mut set = SigSet::empty();
        for s in HANDLED {
            set.add(s);
        }
        crate::sys::signals::block(&set)?;
        Ok(Inbox {
            fd: crate::sys::signals::async_signalfd(&set)?,
        })
    }

    /// Waits for the next signal, logs it, and says what to do.
    pub async fn next(&self) -> Request {
        loop {
            let Ok(mut guard) = self.fd.readable().await else {
                // The fd cannot fail to poll short of a runtime bug; treat
                // it as a request to drain rather than spin.
                return Request::Drain;
            };
            let res = guard.try_io(|inner| match inner.get_ref().read_signal() {
                Ok(Some(info)) => Ok(info),
                Ok(None) => Err(io::ErrorKind::WouldBlock.into()),
                Err(e) => Err(io::Error::from(e)),
            });
            let Ok(Ok(info)) = res else { continue };
            let Ok(sig) = Signal::try_from(info.ssi_signo as i32) else {
                continue;
            };
            let (req, action) = request_for(sig);
            crate::notice!(
                "signal {} ({}) received from {}{action}",
                sig as i32,
                sig.as_str(),
                info.ssi_pid
            );
            return req;
        }
    }
}
