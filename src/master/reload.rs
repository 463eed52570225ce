//! HUP: a reload builds a new generation (docs/architecture.md §2): a fresh config,
//! listeners matched by address (kept, or bound), new workers; only when
//! all of them report ready do the old ones get QUIT. A bad config, a busy
//! port or workers that never become ready leave everything as it was.

use std::sync::Arc;
use std::time::Instant;

use nix::sys::signal::Signal as Raw;

use super::workers::{self, State};
use super::{Master, PendingReload, Phase, RELOAD_READY_TIMEOUT, decide, pidfile};
use crate::config;
use crate::listen::{self, Listener};
use crate::log::files::LogFiles;
use crate::{alert, emerg, notice};

impl Master {
    pub(super) fn reload(&mut self) {
        if self.phase != Phase::Running {
            return;
        }
        match decide::on_hup(
            self.new_binary.is_some(),
            self.accepting,
            self.reload.is_some(),
        ) {
            decide::OnHup::StartWorkers => {
                // Only the missing ones, with the configuration in memory.
                self.start_workers();
                return;
            }
            decide::OnHup::Queue => {
                // The file may have changed again since this reload read
                // it: run one more once this one ends.
                notice!("a reload is in progress; reloading again when it completes");
                self.reload_again = true;
                return;
            }
            decide::OnHup::Reload => {}
        }
        notice!("reconfiguring");
        let config = match config::load(&self.location) {
            Ok(c) => Arc::new(c),
            Err(e) => {
                emerg!("{e}");
                return;
            }
        };
        let logs = match LogFiles::open(&config) {
            Ok(l) => l,
            Err(msg) => {
                emerg!("{msg}");
                return;
            }
        };
        if config.pid != self.config.pid
            && let Err(msg) = pidfile::check_writable(&config.pid)
        {
            emerg!("{msg}");
            return;
        }
        let listeners = match listen::open(
            &config.listen_addrs(),
            &self.listeners,
            &mut Vec::<Listener>::new(),
        ) {
            Ok(l) => l,
            Err(e) => {
                emerg!("{e}");
                emerg!("reload failed, keeping the old configuration");
                return;
            }
        };
        // Never reused: workers of an abandoned reload may still be
        // draining when the next reload starts.
        self.last_generation += 1;
        let generation = self.last_generation;
        for _ in 0..config.worker_processes {
            match workers::start_worker(&config, &logs, &listeners, generation) {
                Ok(w) => self.workers.push(w),
                Err(e) => {
                    alert!("fork() failed while spawning \"worker process\" ({e})");
                    self.abandon_reload_workers(generation);
                    emerg!("reload failed, keeping the old configuration");
                    return;
                }
            }
        }
        self.reload = Some(PendingReload {
            config,
            logs,
            listeners,
            generation,
            deadline: Instant::now() + RELOAD_READY_TIMEOUT,
        });
    }

    /// Stops the workers of an abandoned reload: those already serving
    /// drain (they may hold requests), those still starting are killed.
    pub(super) fn abandon_reload_workers(&mut self, generation: u64) {
        self.signal_workers(Raw::SIGQUIT, |w| {
            w.generation == generation && w.state == State::Running
        });
        self.signal_workers(Raw::SIGKILL, |w| {
            w.generation == generation && w.state == State::Starting
        });
    }

    pub(super) fn abandon_reload(&mut self, why: &str) {
        if let Some(r) = self.reload.take() {
            alert!("{why}; reload failed, keeping the old configuration");
            self.abandon_reload_workers(r.generation);
        }
        self.reload_again_if_asked();
    }

    /// Runs the reload a HUP asked for while another was in progress;
    /// once no reload follows, the upgrade a USR2 asked for meanwhile.
    fn reload_again_if_asked(&mut self) {
        if std::mem::take(&mut self.reload_again) {
            notice!("reconfiguring again for a HUP received during the reload");
            self.reload();
        }
        self.upgrade_if_queued();
    }

    /// All new workers of a reload are serving: switch generations.
    pub(super) fn commit_reload(&mut self) {
        let Some(r) = self.reload.take() else { return };
        let old_pid_path = self.config.pid.clone();
        self.config = r.config;
        self.logs = r.logs;
        self.listeners = r.listeners;
        self.generation = r.generation;
        let generation = self.generation;
        self.signal_workers(Raw::SIGQUIT, |w| {
            w.generation != generation && w.state != State::Exiting
        });
        match self.logs.install_error() {
            Ok(()) => self.log_reopened(),
            Err(e) => alert!("could not use the new error log: {e}"),
        }
        if self.config.pid != old_pid_path && self.new_binary.is_none() {
            match pidfile::write(&self.config.pid, self.pid) {
                // Two spellings of one file (a symlinked directory) must not
                // end with the file just written being deleted.
                Ok(()) if pidfile::same_file(&self.config.pid, &old_pid_path) => {}
                Ok(()) => pidfile::remove_if_ours(&old_pid_path, self.pid),
                Err(e) => alert!(
                    "could not write the pid file \"{}\": {e}",
                    self.config.pid.display()
                ),
            }
        }
        notice!("reload complete, configuration generation {generation}");
        self.reload_again_if_asked();
    }

    /// The error log file changed: for a daemon, point stderr at it again.
    pub(super) fn log_reopened(&self) {
        if self.stderr_is_log {
            let _ = crate::log::error::capture_stderr();
        }
    }
}
