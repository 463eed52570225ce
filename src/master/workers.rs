//! Forking workers and signalling them: the state machine decides when,
//! this file knows how.

use std::os::fd::OwnedFd;
use std::sync::Arc;

use nix::fcntl::OFlag;
use nix::sys::signal::{Signal as Raw, kill};
use nix::unistd::Pid;

use crate::config::Config;
use crate::listen::Shared;
use crate::log::files::LogFiles;

/// Forks one worker serving `config` on `listeners`; returns its pid and
/// the read end of the pipe on which it reports that it serves.
pub fn start_worker(
    config: &Arc<Config>,
    logs: &LogFiles,
    listeners: &[Shared],
    generation: u64,
) -> std::io::Result<(Pid, OwnedFd)> {
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
            generation,
        })
    })?;
    Ok((pid, ready_r))
}

/// Sends `sig` to a worker, ignoring a worker that is already gone (its
/// exit is reaped separately).
pub fn signal(pid: Pid, sig: Raw) {
    if let Err(e) = kill(pid, sig)
        && e != nix::errno::Errno::ESRCH
    {
        crate::alert!("kill({pid}, {}) failed ({e})", sig.as_str());
    }
}
