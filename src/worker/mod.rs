//! One worker process: after the fork it resets what it inherited from the
//! master, drops privileges, builds its own current-thread tokio runtime and
//! serves HTTP on the inherited listeners until told to stop.
//!
//! A worker never forks or execs and never touches the pid file. It tells
//! the master it is serving by writing one byte on its ready pipe.
//!
//! Signals (docs/operations.md), read from a signalfd (`signals.rs`): QUIT (and the
//! master's death, via the parent-death signal) drains gracefully
//! (`drain.rs`); TERM and INT exit at once; USR1 reopens the log; USR2
//! (from the master, during `shutdown_delay`) makes readiness probes fail;
//! HUP and WINCH are logged and ignored.

pub mod accept;
pub mod balance;
pub mod client;
pub mod conn;
pub mod drain;
pub mod fd_budget;
pub mod http1;
pub mod io;
pub mod nudge;
mod plain_on_tls;
pub mod signals;
mod tls_batch;
pub mod tls_conn;
pub mod tls_io;
mod tls_records;
pub mod watchdog;

use std::io::Write;
use std::net::TcpListener;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;

use nix::sys::signal::Signal;
use nix::unistd::Pid;

use crate::config::{Config, Limits};
use crate::http::Site;
use crate::log::access::AccessLogs;
use crate::log::files::LogFiles;
use crate::sys;
use crate::{alert, emerg, notice};

/// Exit code for an init failure that a respawn cannot fix (a user that
/// cannot be switched to): the master does not respawn it, as with nginx.
pub const EXIT_FATAL: i32 = 2;

/// Exit code for a start-up failure that may be transient (out of fds or
/// memory): the master respawns, with its back-off.
pub const EXIT_START_FAILED: i32 = 1;

/// Everything a worker takes from the master at fork time.
pub struct Setup<'a> {
    /// The configuration of the worker's generation.
    pub config: Arc<Config>,
    /// The master's listeners for this generation, with the configured
    /// address each is bound to.
    pub listeners: Vec<(&'a TcpListener, std::net::SocketAddr)>,
    /// The generation's log files, opened by the master: a worker never
    /// opens a log with root's privileges.
    pub logs: &'a LogFiles,
    /// Write end of the ready pipe.
    pub ready: OwnedFd,
    /// The master's pid, to detect its death.
    pub master: Pid,
    /// The configuration generation it serves.
    pub generation: u64,
}

/// Runs a worker in the freshly forked child; returns its exit code.
///
/// The master's control signals stay blocked throughout: the worker reads
/// them from its own signalfd once its runtime runs (`signals.rs`).
pub fn run(setup: Setup<'_>) -> i32 {
    // `(starting)` until it serves: `ps` and `-s upgrade` tell a worker
    // that is ready from one that is not by its title alone.
    sys::title::set("moltd: worker process (starting)");
    if !crate::metrics::claim_slot(std::process::id()) {
        crate::warn!(
            "no free metrics slot: this worker's connections are left out of the connection gauges"
        );
    }
    balance::join(std::process::id());
    // Our own listener copies, then drop every fd that belongs to the master.
    let mut listeners = Vec::new();
    for (l, addr) in &setup.listeners {
        match l.try_clone() {
            Ok(c) => listeners.push((c, *addr)),
            Err(e) => {
                emerg!("could not take over a listening socket: {e}");
                return EXIT_START_FAILED;
            }
        }
    }
    // A reload may name a new error log: this generation writes there.
    if let Err(e) = setup.logs.install_error() {
        alert!("could not take over the error log: {e}");
    }
    let logs = setup.logs.for_worker(&setup.config);
    let mut keep: Vec<i32> = listeners.iter().map(|(l, _)| l.as_raw_fd()).collect();
    keep.push(setup.ready.as_raw_fd());
    keep.extend(crate::log::error::raw_fd());
    keep.extend(logs.raw_fds());
    sys::fd::close_all_except(&keep);
    if let Some((user, group)) = &setup.config.user
        && sys::privs::is_root()
        && let Err(e) = sys::privs::drop_to(user, group.as_deref())
    {
        emerg!("{e}");
        return EXIT_FATAL;
    }
    if let Err(msg) = check_roots(&setup.config) {
        emerg!("{msg}");
        return EXIT_FATAL;
    }
    // After the user switch: changing credentials clears the parent-death
    // signal.
    let parent_alive =
        sys::pdeathsig::set_parent_death_signal(Signal::SIGQUIT, setup.master).unwrap_or(true);
    if !parent_alive {
        notice!("master process {} is gone, exiting", setup.master);
        return 0;
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .on_thread_unpark(crate::clock::woke)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            alert!("could not build the worker runtime: {e}");
            return EXIT_START_FAILED;
        }
    };
    let ctx = Arc::new(Ctx {
        site: Site::new(Arc::clone(&setup.config)).for_generation(setup.generation),
        config: setup.config,
        logs,
    });
    let code = rt.block_on(serve(Arc::clone(&ctx), listeners, setup.ready));
    ctx.logs.flush_all();
    code
}

/// A document root the worker's user cannot list.
#[derive(Debug)]
pub struct UnreadableRoot {
    /// The root.
    pub root: std::path::PathBuf,
    /// The user the worker runs as.
    pub user: String,
    /// Why.
    pub err: std::io::Error,
}

impl std::fmt::Display for UnreadableRoot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "root \"{}\" is not readable by user \"{}\" ({})",
            self.root.display(),
            self.user,
            crate::log::errno_text(&self.err)
        )
    }
}

impl std::error::Error for UnreadableRoot {}

/// Checks, as the user the worker now runs as, that every document root
/// can be listed: a root this user cannot read would turn every request
/// into a 403, so such a worker refuses to start (and a reload with it is
/// abandoned).
fn check_roots(config: &Config) -> Result<(), UnreadableRoot> {
    let roots = config
        .servers
        .iter()
        .flat_map(|s| std::iter::once(&s.settings).chain(s.locations.iter().map(|l| &l.settings)))
        .map(|s| &s.root);
    for root in roots {
        if let Err(e) = std::fs::read_dir(root) {
            let who = nix::unistd::User::from_uid(nix::unistd::geteuid())
                .ok()
                .flatten()
                .map_or_else(|| nix::unistd::geteuid().to_string(), |u| u.name);
            return Err(UnreadableRoot {
                root: root.clone(),
                user: who,
                err: e,
            });
        }
    }
    Ok(())
}

/// What every connection of this worker shares.
pub struct Ctx {
    /// The worker's own view of its generation's configuration: limits,
    /// timeouts and the connection cap are the worker's business, not the
    /// request pipeline's.
    pub config: Arc<Config>,
    /// The configuration, prepared for serving requests.
    pub site: Site,
    /// The access logs.
    pub logs: AccessLogs,
}

impl Ctx {
    /// The connection limits and timeouts.
    pub fn limits(&self) -> &Limits {
        &self.config.limits
    }
}

/// How often buffered access-log lines are written at the latest.
const ACCESS_LOG_FLUSH: std::time::Duration = std::time::Duration::from_secs(1);

/// How often the open-file cache closes descriptors of deleted files and
/// of files unused for a minute: the bound on how long an idle worker
/// keeps a deleted file's space.
const CACHE_SWEEP: std::time::Duration = std::time::Duration::from_secs(2);

/// Serves until QUIT (drain) or TERM (exit now).
async fn serve(
    ctx: Arc<Ctx>,
    listeners: Vec<(TcpListener, std::net::SocketAddr)>,
    ready: OwnedFd,
) -> i32 {
    let inbox = match signals::Inbox::open() {
        Ok(i) => i,
        Err(e) => {
            alert!("could not open the worker's signalfd: {e}");
            return EXIT_START_FAILED;
        }
    };
    let drain = drain::Drain::new();
    if let Err(code) = start_accepting(&ctx, listeners, &drain) {
        return code;
    }
    start_timers(&ctx);
    let mut ready = std::fs::File::from(ready);
    let _ = ready.write_all(b"1");
    drop(ready);
    sys::title::set("moltd: worker process");

    loop {
        match inbox.next().await {
            signals::Request::Drain => break,
            signals::Request::Exit => return 0,
            signals::Request::Reopen => reopen(&ctx),
            signals::Request::Leave => drain.leave(),
            signals::Request::Ignore => {}
        }
    }
    drain_then_exit(&ctx, &inbox, &drain).await
}

/// Spawns an accept loop per listener, under one `worker_connections`
/// budget sized to what the fd limit allows; `Err` holds the exit code.
fn start_accepting(
    ctx: &Arc<Ctx>,
    listeners: Vec<(TcpListener, std::net::SocketAddr)>,
    drain: &drain::Drain,
) -> Result<(), i32> {
    let (nofile, in_use) = fd_budget::current();
    let configured = ctx.limits().worker_connections;
    let cap = fd_budget::connection_cap(configured, nofile, in_use, ctx.site.cache.fd_cap() as u64);
    if cap < configured {
        crate::warn!(
            "{configured} worker_connections exceed open file resource limit: {nofile}; this worker holds at most {cap} connections at once"
        );
    }
    let slots = Arc::new(tokio::sync::Semaphore::new(cap));
    for (l, addr) in listeners {
        let acceptor = ctx.config.tls.iter().find(|t| t.addr == addr).cloned();
        match crate::sys::wire::register_listener(l) {
            Ok(l) => {
                tokio::spawn(accept::run(
                    l,
                    (addr, acceptor),
                    Arc::clone(ctx),
                    Arc::clone(&slots),
                    drain.clone(),
                ));
            }
            Err(e) => {
                emerg!("could not register a listening socket: {e}");
                return Err(EXIT_START_FAILED);
            }
        }
    }
    Ok(())
}

/// The worker's periodic chores: flushing access logs, sweeping the
/// open-file cache.
fn start_timers(ctx: &Arc<Ctx>) {
    let flusher = Arc::clone(ctx);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(ACCESS_LOG_FLUSH);
        loop {
            tick.tick().await;
            flusher.logs.flush_all();
        }
    });
    let sweeper = Arc::clone(ctx);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(CACHE_SWEEP);
        loop {
            tick.tick().await;
            sweeper.site.cache.sweep();
        }
    });
}

/// Drains: waits for open connections (up to `worker_shutdown_timeout`)
/// while still obeying TERM and USR1; returns the exit code.
async fn drain_then_exit(ctx: &Ctx, inbox: &signals::Inbox, drain: &drain::Drain) -> i32 {
    notice!("gracefully shutting down");
    sys::title::set("moltd: worker process is shutting down");
    drain.start();
    let limit = ctx.config.worker_shutdown_timeout;
    let finished = async {
        match limit {
            Some(t) => tokio::time::timeout(t, drain.finished()).await.is_ok(),
            None => {
                drain.finished().await;
                true
            }
        }
    };
    tokio::pin!(finished);
    loop {
        tokio::select! {
            done = &mut finished => {
                if !done {
                    notice!("worker_shutdown_timeout expired, closing {} connection(s)", drain.open());
                }
                break;
            }
            req = inbox.next() => match req {
                signals::Request::Exit => return 0,
                signals::Request::Reopen => reopen(ctx),
                signals::Request::Drain | signals::Request::Leave | signals::Request::Ignore => {}
            },
        }
    }
    notice!("exiting");
    0
}

/// Reopens the error log and the access logs, then says so in the new
/// error log.
fn reopen(ctx: &Ctx) {
    // As this worker's user, after the master created the new files.
    if let Err(e) = crate::log::error::reopen() {
        alert!(
            "could not reopen the error log: {e}; lines still go to the previous file{}",
            crate::log::open::reopen_hint(&e)
        );
    }
    ctx.logs.reopen_all(None);
    notice!("reopening logs");
}
