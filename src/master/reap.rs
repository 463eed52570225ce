//! Reaping children on CHLD and turning each exit into an event. The new
//! binary's process group is told to go before its leader is reaped, and
//! its last words on the readiness pipe are read before its exit is.

use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid, waitpid};

use super::Master;
use super::state::{Event, Exit, Sig};

impl Master {
    pub(super) fn reap_children(&mut self) {
        loop {
            // Look before reaping: while the new binary is an unreaped
            // zombie its pid, and so its process group, cannot be reused,
            // so what it left in its group can be told to go safely.
            let peek = waitid(
                Id::All,
                WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT,
            );
            let exited = match peek {
                Ok(WaitStatus::StillAlive) | Err(_) => return,
                Ok(s) => s.pid(),
            };
            let child = self.state.child().map(|c| c.pid);
            let is_child = exited.is_some_and(|p| Some(p.as_raw()) == child);
            if let (true, Some(pid)) = (is_child, child) {
                // A wrapper's children, workers whose master was killed:
                // QUIT lets moltd workers drain and ends the rest.
                self.world.signal_group(pid, Sig::Quit);
            }
            let (pid, how) = match waitpid(exited, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(_) => return,
                Ok(WaitStatus::Exited(pid, code)) => (pid, Exit::Code(code)),
                Ok(WaitStatus::Signaled(pid, sig, core)) => (
                    pid,
                    Exit::Signal {
                        signo: sig as i32,
                        core,
                    },
                ),
                Ok(_) => continue,
            };
            if Some(pid.as_raw()) == child {
                // Why it failed may be waiting on the readiness pipe: log
                // that before its exit.
                if let Some(report) = self.world.read_child_report_now() {
                    self.feed(Event::NewBinaryReport(report));
                }
                self.world.child_pipe = None;
            }
            self.world.worker_pipes.retain(|(p, _)| *p != pid);
            crate::metrics::release_slot(pid.as_raw() as u32);
            crate::worker::balance::release(pid.as_raw() as u32);
            self.feed(Event::Exited(pid.as_raw(), how));
        }
    }
}
