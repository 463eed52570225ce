//! Signal dispositions and masks around fork.
//!
//! The master blocks its control signals and reads them from a signalfd; a
//! forked worker must undo that before it builds its own runtime.

use nix::sys::signal::{SigHandler, SigSet, SigmaskHow, Signal, sigprocmask};

/// Blocks `set` in this (single-threaded) process so the signals queue for a
/// signalfd instead of running handlers.
pub fn block(set: &SigSet) -> nix::Result<()> {
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(set), None)
}

/// Unblocks every signal. A forked worker calls it after resetting
/// dispositions, so nothing the master blocked stays blocked.
pub fn unblock_all() -> nix::Result<()> {
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)
}

/// Sets `sig` to be ignored (a worker ignores HUP, USR2 and WINCH).
pub fn ignore(sig: Signal) -> nix::Result<()> {
    // SAFETY: SIG_IGN installs no handler code, so no async-signal-safety
    // requirement applies.
    unsafe { nix::sys::signal::signal(sig, SigHandler::SigIgn) }.map(drop)
}

/// Restores the default action of `sig`.
pub fn default(sig: Signal) -> nix::Result<()> {
    // SAFETY: SIG_DFL installs no handler code.
    unsafe { nix::sys::signal::signal(sig, SigHandler::SigDfl) }.map(drop)
}
