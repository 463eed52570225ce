//! The worker table: forking workers, signalling them, and their states.
//! The master decides when; this file knows how.

use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::Instant;

use nix::fcntl::OFlag;
use nix::sys::signal::{Signal as Raw, kill};
use nix::unistd::Pid;

use crate::config::Config;
use crate::listen::Shared;
use crate::log::files::LogFiles;
use crate::notice;

/// Where a worker is in its life.
#[derive(Debug, PartialEq, Eq)]
pub enum State {
    /// Forked, not yet serving (its ready byte has not arrived).
    Starting,
    /// Serving.
    Running,
    /// Told to stop (QUIT or TERM); not respawned when it exits.
    Exiting,
}

/// One worker process.
#[derive(Debug)]
pub struct Worker {
    /// Its pid.
    pub pid: Pid,
    /// The configuration generation it serves.
    pub generation: u64,
    /// Its state.
    pub state: State,
    /// When it was forked.
    pub started: Instant,
    /// Read end of its ready pipe while it is starting.
    pub ready: Option<OwnedFd>,
}

/// Forks one worker for `generation`, serving `config` on `listeners`.
pub fn start_worker(
    config: &Arc<Config>,
    logs: &LogFiles,
    listeners: &[Shared],
    generation: u64,
) -> std::io::Result<Worker> {
    let (ready_r, ready_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
    let master = nix::unistd::getpid();
    let setup_config = Arc::clone(config);
    let sockets: Vec<_> = listeners.iter().map(|l| (&l.socket, l.addr)).collect();
    let pid = crate::sys::fork::spawn_worker(move || {
        crate::worker::run(crate::worker::Setup {
            config: setup_config,
            listeners: sockets,
            logs,
            ready: ready_w,
            master,
        })
    })?;
    notice!("start worker process {pid}");
    Ok(Worker {
        pid,
        generation,
        state: State::Starting,
        started: Instant::now(),
        ready: Some(ready_r),
    })
}

/// Sends `sig` to a worker, ignoring a worker that is already gone (its
/// exit is reaped separately).
pub fn signal(w: &Worker, sig: Raw) {
    if let Err(e) = kill(w.pid, sig)
        && e != nix::errno::Errno::ESRCH
    {
        crate::alert!("kill({}, {}) failed ({e})", w.pid, sig.as_str());
    }
}
