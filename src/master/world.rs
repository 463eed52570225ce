//! What the master's state machine acts on: each generation's
//! configuration, log files and listeners, the children's readiness pipes,
//! the pid file. [`World::perform`] carries out one [`Action`] and returns
//! the answer the state machine asked for, if any.

use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use nix::sys::signal::Signal as Raw;
use nix::unistd::Pid;

use super::state::{Action, Event, Report, Settings, Sig};
use super::{upgrade, workers};
use crate::config::{self, Config};
use crate::listen::{self, Listener, Shared};
use crate::log::files::LogFiles;
use crate::pidfile;
use crate::preflight::{Checked, Purpose, preflight};
use crate::{alert, notice};

/// What one configuration generation has opened.
pub struct Generation {
    /// Its number.
    pub number: u64,
    /// Its configuration.
    pub config: Arc<Config>,
    /// Its log files, opened by the master.
    pub logs: LogFiles,
    /// Its listening sockets.
    pub listeners: Vec<Shared>,
}

impl Generation {
    /// What the state machine needs to know of it.
    pub fn settings(&self) -> Settings {
        settings(&self.config)
    }
}

/// The parts of `config` the master's decisions depend on.
pub fn settings(config: &Config) -> Settings {
    Settings {
        worker_processes: config.worker_processes,
        shutdown_delay: config.shutdown_delay,
        upgrade_ready_timeout: config.upgrade_ready_timeout,
    }
}

/// Everything the master does I/O on.
pub struct World {
    /// Where the configuration lives.
    pub location: config::Location,
    /// The original argv, replayed on upgrade.
    pub argv: Vec<std::ffi::OsString>,
    /// The binary an upgrade runs.
    pub exe: PathBuf,
    /// This process.
    pub pid: Pid,
    /// The generation that serves.
    pub current: Generation,
    /// A reload's generation, while it starts.
    pub pending: Option<Generation>,
    /// Ready pipes of workers that have not reported yet.
    pub worker_pipes: Vec<(Pid, OwnedFd)>,
    /// The new binary's readiness pipe, until it reports or closes.
    pub child_pipe: Option<OwnedFd>,
    /// Where to report readiness to the old master, until reported.
    pub ready_report: Option<File>,
    /// stderr points at the error log (daemon mode) and must follow it.
    pub stderr_is_log: bool,
    /// The service manager, if one listens.
    pub notifier: super::notify::Notifier,
    /// Set by [`Action::Exit`].
    pub exit_code: Option<ExitCode>,
}

fn raw(sig: Sig) -> Raw {
    match sig {
        Sig::Quit => Raw::SIGQUIT,
        Sig::Term => Raw::SIGTERM,
        Sig::Kill => Raw::SIGKILL,
        Sig::Reopen => Raw::SIGUSR1,
        Sig::Leaving => Raw::SIGUSR2,
    }
}

impl World {
    /// Carries out `action`; returns the answer for the ones that have one.
    pub fn perform(&mut self, action: Action) -> Option<Event> {
        match action {
            Action::Log(level, msg) => crate::log::error::write(level, format_args!("{msg}")),
            Action::Fork {
                generation,
                respawn,
            } => {
                if respawn {
                    crate::metrics::count(crate::metrics::Counter::WorkerRestarts);
                }
                return Some(self.fork(generation));
            }
            Action::Signal { pid, sig } => {
                let pid = Pid::from_raw(pid);
                if matches!(sig, Sig::Quit | Sig::Term | Sig::Kill) {
                    self.worker_pipes.retain(|(p, _)| *p != pid);
                }
                workers::signal(pid, raw(sig));
            }
            Action::SignalNewBinary { pid, sig } => self.signal_group(pid, sig),
            Action::Prepare { generation } => {
                return Some(Event::Prepared(self.prepare(generation)));
            }
            Action::Discard { generation } => {
                if self
                    .pending
                    .as_ref()
                    .is_some_and(|g| g.number == generation)
                {
                    self.pending = None;
                }
            }
            Action::Commit { generation } => self.commit(generation),
            Action::ReopenLogs => self.reopen_logs(),
            Action::ExecNewBinary => return Some(Event::Execed(self.exec_new_binary())),
            Action::RestorePidFile => self.restore_pid_file(),
            Action::CloseListeners => {
                self.current.listeners.clear();
                self.pending = None;
            }
            Action::ReportReady => {
                if let Some(f) = self.ready_report.take() {
                    upgrade::report_ready(f);
                }
            }
            Action::Notify(notice) => {
                // Handing the main-process role over is the commit.
                if matches!(notice, super::state::Notice::MainPid(Some(_))) {
                    crate::metrics::count(crate::metrics::Counter::Upgrades);
                }
                self.notifier.send(&notice, self.pid);
            }
            Action::ForgetOldMaster { old } => self.forget_old_master(Pid::from_raw(old)),
            Action::Exit { code, oldbin } => {
                let path = if oldbin {
                    self.current.config.oldbin_path()
                } else {
                    self.current.config.pid.clone()
                };
                pidfile::remove_if_ours(&path, self.pid);
                notice!("exit");
                self.exit_code = Some(ExitCode::from(code));
            }
        }
        None
    }

    /// Signals the new binary's whole process group: it was started as a
    /// group leader, so a wrapper script's children (a hung `sleep` holding
    /// the inherited listeners) go with it.
    pub fn signal_group(&self, pid: i32, sig: Sig) {
        let _ = nix::sys::signal::killpg(Pid::from_raw(pid), raw(sig));
    }

    fn fork(&mut self, number: u64) -> Event {
        let generation = match &self.pending {
            Some(g) if g.number == number => g,
            _ if self.current.number == number => &self.current,
            _ => {
                return Event::Forked {
                    generation: number,
                    result: Err(format!("generation {number} is gone")),
                };
            }
        };
        let result = workers::start_worker(
            &generation.config,
            &generation.logs,
            &generation.listeners,
            number,
        )
        .map(|(pid, ready)| {
            self.worker_pipes.push((pid, ready));
            pid.as_raw()
        })
        .map_err(|e| e.to_string());
        Event::Forked {
            generation: number,
            result,
        }
    }

    /// Reads the configuration again and opens what the new generation
    /// needs; nothing of the current one changes.
    fn prepare(&mut self, number: u64) -> Result<Settings, Vec<String>> {
        // The checks `-t` and a start run, in the same order.
        let purpose = Purpose::Reload {
            pid: &self.current.config.pid,
        };
        let Checked { config, logs } =
            preflight(&self.location, purpose).map_err(|e| vec![e.to_string()])?;
        warn_if_root_workers(&config);
        let config = Arc::new(config);
        let listeners = listen::open(
            &config.listen_addrs(),
            &self.current.listeners,
            &mut Vec::<Listener>::new(),
            config.deferred_accept,
        )
        .map_err(|e| {
            vec![
                e.to_string(),
                "reload failed, keeping the old configuration".into(),
            ]
        })?;
        let generation = Generation {
            number,
            config,
            logs,
            listeners,
        };
        let settings = generation.settings();
        self.pending = Some(generation);
        Ok(settings)
    }

    /// The reload's generation becomes current: its error log, and its pid
    /// file if the path changed.
    fn commit(&mut self, number: u64) {
        let Some(new) = self.pending.take_if(|g| g.number == number) else {
            return;
        };
        let old = std::mem::replace(&mut self.current, new);
        crate::metrics::count(crate::metrics::Counter::Reloads);
        match self.current.logs.install_error() {
            Ok(()) => self.log_reopened(),
            Err(e) => alert!("could not use the new error log: {e}"),
        }
        let (path, old_path) = (&self.current.config.pid, &old.config.pid);
        if path != old_path {
            match pidfile::write(path, self.pid) {
                // Two spellings of one file (a symlinked directory) must not
                // end with the file just written being deleted.
                Ok(()) if pidfile::same_file(path, old_path) => {}
                Ok(()) => pidfile::remove_if_ours(old_path, self.pid),
                Err(e) => alert!("could not write the pid file \"{}\": {e}", path.display()),
            }
        }
    }

    fn reopen_logs(&mut self) {
        self.current.logs.reopen();
        if let Some(g) = &mut self.pending {
            g.logs.reopen();
        }
        match self.current.logs.install_error() {
            Ok(()) => self.log_reopened(),
            Err(e) => alert!("could not reopen the error log: {e}"),
        }
    }

    /// The error log file changed: for a daemon, point stderr at it again.
    fn log_reopened(&self) {
        if self.stderr_is_log {
            let _ = crate::log::error::capture_stderr();
        }
    }

    fn exec_new_binary(&mut self) -> Result<i32, String> {
        let config = &self.current.config;
        let (pid, pipe) = upgrade::exec_new_binary(
            &self.exe,
            &self.argv,
            &self.current.listeners,
            &config.pid,
            &config.oldbin_path(),
            match &config.source {
                crate::config::Source::File(p) => Some(p),
                crate::config::Source::Embedded => None,
            },
        )
        .map_err(|e| e.to_string())?;
        self.child_pipe = Some(pipe);
        Ok(pid.as_raw())
    }

    fn restore_pid_file(&mut self) {
        self.child_pipe = None;
        let config = &self.current.config;
        let oldbin = config.oldbin_path();
        if let Err(e) = std::fs::rename(&oldbin, &config.pid) {
            alert!(
                "rename() \"{}\" back to \"{}\" failed after the new binary process \"{}\" exited ({e})",
                oldbin.display(),
                config.pid.display(),
                self.exe.display()
            );
        }
    }

    fn forget_old_master(&self, old: Pid) {
        let oldbin = self.current.config.oldbin_path();
        if pidfile::read(&oldbin).ok() == Some(old) {
            pidfile::remove_if_ours(&oldbin, old);
            notice!(
                "old master process {old} is gone; removed \"{}\" naming it",
                oldbin.display()
            );
        } else {
            notice!("old master process {old} has exited");
        }
    }

    /// A worker's ready pipe is readable: true if it said it serves. The
    /// pipe is done either way.
    pub fn read_worker_ready(&mut self, pid: Pid) -> bool {
        let Some(i) = self.worker_pipes.iter().position(|(p, _)| *p == pid) else {
            return false;
        };
        let (_, pipe) = self.worker_pipes.swap_remove(i);
        upgrade::read_ready_byte(pipe)
    }

    /// The new binary's readiness pipe is readable: what it said, if
    /// anything. The pipe is done either way.
    pub fn read_child_report(&mut self) -> Option<Report> {
        upgrade::read_report(self.child_pipe.take()?)
    }

    /// Like [`World::read_child_report`], but only if the pipe has data or
    /// is closed, so the read cannot block (the child just exited).
    pub fn read_child_report_now(&mut self) -> Option<Report> {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        use std::os::fd::AsFd;
        let pipe = self.child_pipe.as_ref()?;
        let mut fds = [PollFd::new(pipe.as_fd(), PollFlags::POLLIN)];
        if matches!(poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0) {
            return self.read_child_report();
        }
        None
    }
}

/// Says so when a configuration leaves the workers root (no `user`, and
/// every document root sealed, reachable by root only: the default user's
/// rule): at start and on every reload that keeps it so.
pub(super) fn warn_if_root_workers(config: &Config) {
    if config.user.is_none() && crate::sys::privs::is_root() {
        crate::warn!(
            "the workers run as root: no \"user\" is set and every document root is reachable by root only, so \"{}\" could not serve them; set \"user\" to an unprivileged user",
            crate::config::DEFAULT_USER
        );
    }
}
