//! Children report in: readiness bytes from workers and from a new binary,
//! and exits reaped on CHLD, with what each exit means (docs/operations.md, CHLD;
//! §4 step 5): respawn with a fork-storm guard, abandon a reload whose new
//! worker died, or roll an upgrade back when the new binary exits.

use std::fs::File;
use std::io::{Read, Write};
use std::time::Instant;

use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use super::decide::{self, FAST_DEATH};
use super::workers::{State, Worker};
use super::{Master, Phase};
use crate::{alert, emerg, notice};

impl Master {
    /// True if the new binary's readiness pipe has data or is closed, so a
    /// read will not block.
    fn new_binary_has_spoken(&self) -> bool {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        use std::os::fd::AsFd;
        let Some(r) = self.new_binary.as_ref().and_then(|nb| nb.ready.as_ref()) else {
            return false;
        };
        let mut fds = [PollFd::new(r.as_fd(), PollFlags::POLLIN)];
        matches!(poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0)
    }

    /// The new binary wrote on its readiness pipe: `1` once it serves, or
    /// the reason it could not start.
    pub(super) fn on_new_binary_ready(&mut self) {
        let Some(nb) = &mut self.new_binary else {
            return;
        };
        let Some(r) = nb.ready.take() else { return };
        // One read: a write of up to PIPE_BUF bytes arrives whole, and the
        // master must not block on a child.
        let mut buf = [0u8; 4096];
        let n = File::from(r).read(&mut buf).unwrap_or(0);
        match &buf[..n] {
            [] => {}
            b"1" => {
                nb.ready_seen = true;
                notice!("new binary process {} is ready", nb.pid);
            }
            msg => alert!(
                "new binary process {} failed to start: {}",
                nb.pid,
                String::from_utf8_lossy(msg).trim_end()
            ),
        }
    }

    pub(super) fn on_worker_ready(&mut self, pid: Pid) {
        let Some(w) = self.workers.iter_mut().find(|w| w.pid == pid) else {
            return;
        };
        let Some(r) = w.ready.take() else { return };
        let mut byte = [0u8; 1];
        if matches!(File::from(r).read(&mut byte), Ok(1)) && w.state == State::Starting {
            w.state = State::Running;
        }
        if let Some(r) = &self.reload
            && self
                .workers
                .iter()
                .filter(|w| w.generation == r.generation)
                .all(|w| w.state == State::Running)
        {
            self.commit_reload();
        }
        self.report_ready_if_serving();
    }

    /// Tells the old master (after an upgrade) that this one serves.
    pub(super) fn report_ready_if_serving(&mut self) {
        if self.ready_report.is_none() {
            return;
        }
        let running = self
            .workers
            .iter()
            .filter(|w| w.generation == self.generation && w.state == State::Running)
            .count();
        if running >= self.config.worker_processes
            && let Some(mut f) = self.ready_report.take()
        {
            let _ = f.write_all(b"1");
        }
    }

    pub(super) fn reap_children(&mut self) {
        loop {
            // Look before reaping: while the new binary is an unreaped
            // zombie its pid, and so its process group, cannot be reused,
            // so what it left in its group can be told to go safely.
            let peek = nix::sys::wait::waitid(
                nix::sys::wait::Id::All,
                WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT,
            );
            let exited = match peek {
                Ok(WaitStatus::StillAlive) | Err(_) => return,
                Ok(s) => s.pid(),
            };
            if let (Some(pid), Some(nb)) = (exited, &self.new_binary)
                && nb.pid == pid
            {
                // A wrapper's children, workers whose master was killed:
                // QUIT lets moltd workers drain and ends the rest.
                nb.signal_group(nix::sys::signal::Signal::SIGQUIT);
            }
            let status = match waitpid(exited, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(_) => return,
                Ok(s) => s,
            };
            let (pid, how, code) = match status {
                WaitStatus::Exited(pid, code) => {
                    (pid, format!("exited with code {code}"), Some(code))
                }
                WaitStatus::Signaled(pid, sig, core) => (
                    pid,
                    format!(
                        "exited on signal {}{}",
                        sig as i32,
                        if core { " (core dumped)" } else { "" }
                    ),
                    None,
                ),
                _ => continue,
            };
            if self.new_binary.as_ref().is_some_and(|nb| nb.pid == pid) {
                // Its last words (why it failed) may be waiting on the
                // readiness pipe: log them before its exit.
                if self.new_binary_has_spoken() {
                    self.on_new_binary_ready();
                }
                let ready = self.new_binary.as_ref().is_some_and(|nb| nb.ready_seen);
                if code == Some(0) && ready {
                    notice!("new binary process {pid} {how}");
                } else if code == Some(0) {
                    // Even a clean exit before the readiness report is a
                    // failed upgrade (a wrapper that forked moltd away).
                    alert!("new binary process {pid} {how} before it was ready");
                } else {
                    alert!("new binary process {pid} {how}");
                }
                if self.phase != Phase::Running {
                    alert!(
                        "the new binary process {pid} is gone while this master is shutting down: nothing will serve once this master's workers finish; start moltd again"
                    );
                }
                self.new_binary_exited();
            } else if let Some(i) = self.workers.iter().position(|w| w.pid == pid) {
                let w = self.workers.swap_remove(i);
                if code.is_some() {
                    notice!("worker process {pid} {how}");
                } else {
                    alert!("worker process {pid} {how}");
                }
                self.worker_exited(w, code);
            } else {
                notice!("unknown process {pid} {how}");
            }
        }
    }

    pub(super) fn new_binary_exited(&mut self) {
        self.new_binary = None;
        let oldbin = self.config.oldbin_path();
        if let Err(e) = std::fs::rename(&oldbin, &self.config.pid) {
            alert!(
                "rename() \"{}\" back to \"{}\" failed after the new binary process \"{}\" exited ({e})",
                oldbin.display(),
                self.config.pid.display(),
                self.exe.display()
            );
        }
        if self.phase == Phase::Running
            && (!self.accepting || self.live_current() < self.config.worker_processes)
        {
            self.start_workers();
        }
    }

    pub(super) fn worker_exited(&mut self, w: Worker, code: Option<i32>) {
        if let Some(r) = &self.reload
            && w.generation == r.generation
        {
            self.abandon_reload(&format!(
                "new worker process {} exited before it was ready",
                w.pid
            ));
            return;
        }
        let unexpected = w.state != State::Exiting
            && w.generation == self.generation
            && self.phase == Phase::Running
            && self.accepting;
        if !unexpected {
            return;
        }
        if code == Some(crate::worker::EXIT_FATAL) {
            alert!(
                "worker process {} exited with fatal code 2 and cannot be respawned",
                w.pid
            );
            if self.live_current() == 0 {
                self.failed = true;
                // Nobody can serve with this configuration: holding the
                // port with no worker would leave clients hanging in the
                // backlog. For a new binary this exit rolls the upgrade back.
                emerg!("no worker process can start with this configuration, exiting");
                self.quit();
            }
            return;
        }
        if w.started.elapsed() < FAST_DEATH {
            self.fast_deaths += 1;
        } else {
            self.fast_deaths = 0;
        }
        let delay = decide::respawn_delay(self.fast_deaths);
        if delay.is_zero() {
            self.spawn_current();
        } else {
            alert!(
                "worker processes keep exiting within {}s of starting; respawning in {}ms",
                FAST_DEATH.as_secs(),
                delay.as_millis()
            );
            self.respawn_at.push(Instant::now() + delay);
        }
    }
}
