//! Signal dispositions and masks around fork.
//!
//! The master blocks its control signals and reads them from a signalfd; a
//! forked worker keeps them blocked and reads them from a signalfd of its
//! own inside its runtime.

use nix::sys::signal::{SigSet, SigmaskHow, sigprocmask};

/// Blocks `set` in this (single-threaded) process so the signals queue for a
/// signalfd instead of running handlers, and sets their dispositions to
/// the default: a signal whose disposition is "ignore" is discarded when
/// sent, blocked or not, and a program started in the background by a
/// non-interactive shell (`moltd &` in a script, a wrapper's child)
/// inherits "ignore" for INT and QUIT.
pub fn block(set: &SigSet) -> nix::Result<()> {
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(set), None)?;
    let default = nix::sys::signal::SigAction::new(
        nix::sys::signal::SigHandler::SigDfl,
        nix::sys::signal::SaFlags::empty(),
        SigSet::empty(),
    );
    for sig in set.iter() {
        // SAFETY: installs the default disposition, no handler function,
        // so nothing runs in signal context; the signal is blocked (just
        // above), so the default action cannot fire before the signalfd
        // takes it.
        unsafe { nix::sys::signal::sigaction(sig, &default) }?;
    }
    Ok(())
}

/// A non-blocking signalfd for `set`, registered with the current tokio
/// runtime (a worker reads its signals from it). The signals in `set` must
/// be blocked by the caller.
pub fn async_signalfd(
    set: &SigSet,
) -> std::io::Result<tokio::io::unix::AsyncFd<nix::sys::signalfd::SignalFd>> {
    use nix::sys::signalfd::{SfdFlags, SignalFd};
    let fd = SignalFd::with_flags(set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)?;
    // SAFETY: the SignalFd owns its fd, which stays open until the SignalFd
    // is dropped together with the AsyncFd, and its `as_raw_fd` always
    // returns that same fd.
    Ok(unsafe { tokio::io::unix::AsyncFd::register(fd) }?)
}

/// Makes `cmd` start its program with no signal blocked. The master blocks
/// its control signals, and the mask survives exec; std's spawn does not
/// reliably reset it (its posix_spawn path keeps it), so a new binary that
/// is not moltd (a wrapper script, a broken build) would otherwise ignore
/// the TERM meant to stop it.
pub fn clear_mask_on_exec(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the child between fork and exec, where
    // only async-signal-safe calls are allowed: it calls sigprocmask
    // (pthread_sigmask) on a set built on its own stack, and nothing else.
    unsafe {
        cmd.pre_exec(|| {
            sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)
                .map_err(std::io::Error::from)
        });
    }
}
