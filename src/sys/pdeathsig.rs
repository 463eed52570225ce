//! The parent-death signal: a worker asks the kernel to signal it when the
//! master dies, so a SIGKILLed master leaves no worker serving stale config.

use nix::sys::signal::Signal;
use nix::unistd::Pid;

/// Arranges for `signal` when the parent exits. Returns false if the parent
/// `expected_parent` is already gone (it died between fork and this call),
/// in which case the caller should act as if the signal had arrived.
pub fn set_parent_death_signal(signal: Signal, expected_parent: Pid) -> nix::Result<bool> {
    nix::sys::prctl::set_pdeathsig(signal)?;
    Ok(nix::unistd::getppid() == expected_parent)
}
