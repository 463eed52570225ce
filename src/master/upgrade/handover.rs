//! The handover variables: what an old master sets when it starts the new
//! binary (`Handover::for_child`) and what a starting master reads
//! (`Handover::take`). The format is a protocol between releases: a new
//! binary takes over from the previous one and hands back to it.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, RawFd};

use nix::unistd::Pid;

use super::ancestry::is_ancestor_master;
use crate::listen::{self, Listener, Shared};
use crate::{emerg, notice};

/// The environment variable that carries listener fds into a new binary,
/// `"3;4;"`, like nginx's `NGINX`.
pub const HANDOVER_VAR: &str = "MOLTD";

/// The variable naming the fd on which a new master reports readiness.
pub const READY_VAR: &str = "MOLTD_READY";

/// The variable naming the old master's pid, so the new one refuses USR2
/// exactly while that master lives (not inferred from getppid later).
pub const PARENT_VAR: &str = "MOLTD_PARENT";

/// The variable naming the fd of the shared metrics segment, so counters
/// go on across an upgrade. Added in layout 1 of the metrics; a binary
/// that does not know it ignores it (its counters start from zero).
pub const METRICS_VAR: &str = "MOLTD_METRICS";

/// The variable naming the configuration file the old master runs, as
/// `PID:PATH`, so a new binary started without `-c` reads that file (or
/// fails if it is gone) instead of falling back to the built-in default
/// when the file it would find by default is missing. Added after the
/// metrics; a binary that does not know it ignores it, and passes it on
/// stale, so it is honoured only when PID is the master that started us.
pub const CONF_VAR: &str = "MOLTD_CONF";

/// Everything a starting master may be handed through its environment:
/// listeners from an old master (`MOLTD`) or from systemd (`LISTEN_FDS`),
/// the old master's readiness pipe (`MOLTD_READY`) and its pid
/// (`MOLTD_PARENT`). Read once, at start, and removed from the environment
/// so no later exec sees stale numbers. Fd numbers are only numbers here:
/// nothing is adopted (or closed) until [`Handover::check`] has passed.
#[derive(Debug, Default)]
pub struct Handover {
    /// `MOLTD` as set, if it was.
    pub moltd: Option<String>,
    /// The fds `MOLTD` names, de-duplicated.
    pub listeners: Vec<RawFd>,
    /// Complaints about `MOLTD`'s syntax, to log.
    pub complaints: Vec<String>,
    /// `MOLTD_READY` as set, if it was.
    ready: Option<String>,
    /// `MOLTD_METRICS` as set, if it was.
    metrics: Option<String>,
    /// `MOLTD_CONF` as set, if it was.
    conf: Option<std::ffi::OsString>,
    /// `MOLTD_PARENT`, if it parses.
    parent: Option<Pid>,
    /// The fds systemd passed to this very process (`LISTEN_FDS` with a
    /// matching `LISTEN_PID`).
    pub systemd: Vec<RawFd>,
    /// Decided once, at [`Handover::take`]: the process tree may change
    /// while we start (a wrapper exiting), and every later question must
    /// get the same answer.
    upgrade: bool,
}

impl Handover {
    /// Reads the handover variables and removes them from the environment.
    pub fn take() -> Self {
        let var = |name: &str| {
            let v = std::env::var(name).ok();
            crate::sys::env::remove_var(name);
            v
        };
        let moltd = var(HANDOVER_VAR);
        let (listeners, complaints) = moltd.as_deref().map(parse_handover).unwrap_or_default();
        let ready = var(READY_VAR);
        let metrics = var(METRICS_VAR);
        let conf = std::env::var_os(CONF_VAR);
        crate::sys::env::remove_var(CONF_VAR);
        let parent = var(PARENT_VAR)
            .and_then(|v| v.parse::<i32>().ok())
            .filter(|&n| n > 0)
            .map(Pid::from_raw);
        let (fds, pid) = (var("LISTEN_FDS"), var("LISTEN_PID"));
        let _ = var("LISTEN_FDNAMES");
        let mut systemd = Vec::new();
        if let (Some(n), Some(pid)) = (fds, pid)
            && pid.parse::<u32>().ok() == Some(std::process::id())
        {
            let n: RawFd = n.parse().unwrap_or(0);
            systemd.extend(3..3 + n.clamp(0, 1024));
        }
        let upgrade = moltd.is_some()
            && parent.is_some_and(|p| p == nix::unistd::getppid() || is_ancestor_master(p));
        Handover {
            moltd,
            listeners,
            complaints,
            ready,
            metrics,
            conf,
            parent,
            systemd,
            upgrade,
        }
    }

    /// True when a moltd master that is an ancestor of this process
    /// started it with its sockets: only then is this a binary upgrade (a
    /// stray `MOLTD` in an operator's environment must not make this master
    /// refuse USR2 or report to some fd). An ancestor rather than the
    /// parent, so a wrapper script that runs moltd without `exec` still
    /// hands over.
    pub fn is_upgrade(&self) -> bool {
        self.upgrade
    }

    /// True when `MOLTD` names sockets: such a master stays in the
    /// foreground whatever `daemon` says, so whoever started it (an old
    /// master, a wrapper script) keeps it as a child to track, instead of
    /// seeing it "exit" as it forks away.
    pub fn has_sockets(&self) -> bool {
        !self.listeners.is_empty()
    }

    /// A live moltd master that handed these sockets over but is not among
    /// our ancestors: we were started by a new binary that did not wait for
    /// us (a wrapper that put moltd in the background and exited). Starting
    /// would make a second master on the same sockets that nobody tracks.
    pub fn orphaned_from(&self) -> Option<Pid> {
        if self.moltd.is_none() || self.is_upgrade() {
            return None;
        }
        self.parent.filter(|&p| crate::pidfile::is_master(p))
    }

    /// The old master's pid, on a genuine upgrade.
    pub fn old_master(&self) -> Option<Pid> {
        self.parent.filter(|_| self.is_upgrade())
    }

    /// The readiness fd number, honoured only on a genuine upgrade.
    fn ready_fd(&self) -> Option<Result<RawFd, String>> {
        if !self.is_upgrade() {
            return None;
        }
        let raw = self.ready.as_deref()?;
        Some(
            raw.parse::<RawFd>()
                .ok()
                .filter(|&n| n > 2)
                .ok_or_else(|| format!("invalid fd \"{raw}\" in {READY_VAR}, ignoring")),
        )
    }

    /// Refuses a handover that names one fd for two purposes: adopting it
    /// twice would let one owner close what the other still uses (a
    /// listener closed after the ready report, found missing at the next
    /// HUP). Called before anything is adopted, so nothing is closed.
    pub fn check(&self) -> Result<(), String> {
        let mut seen: Vec<(RawFd, &str)> = Vec::new();
        let named = self
            .listeners
            .iter()
            .map(|&fd| (fd, HANDOVER_VAR))
            .chain(self.systemd.iter().map(|&fd| (fd, "LISTEN_FDS")))
            .chain(
                self.ready_fd()
                    .and_then(Result::ok)
                    .map(|fd| (fd, READY_VAR)),
            );
        for (fd, var) in named {
            if let Some((_, first)) = seen.iter().find(|(f, _)| *f == fd) {
                return Err(format!(
                    "fd #{fd} is named by both {first} and {var}: refusing the inherited environment"
                ));
            }
            seen.push((fd, var));
        }
        Ok(())
    }

    /// The listener fds to adopt: `MOLTD`'s, then systemd's.
    pub fn sockets(&self) -> Vec<RawFd> {
        self.listeners
            .iter()
            .chain(&self.systemd)
            .copied()
            .collect()
    }

    /// Takes the readiness pipe of a genuine upgrade: it must be an open
    /// pipe's write end, or it is left alone (not ours to close) and `Err`
    /// says why.
    pub fn take_ready(&self) -> Option<Result<File, String>> {
        let raw = match self.ready_fd()? {
            Ok(raw) => raw,
            Err(msg) => return Some(Err(msg)),
        };
        let fd = match crate::sys::fd::Inherited::probe(raw) {
            Ok(fd) => fd,
            Err(_) => {
                return Some(Err(format!(
                    "the readiness fd #{raw} from the old master is not open, ignoring"
                )));
            }
        };
        let is_pipe = nix::sys::stat::fstat(fd.borrow())
            .is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFIFO);
        let writable = nix::fcntl::fcntl(fd.borrow(), nix::fcntl::FcntlArg::F_GETFL)
            .is_ok_and(|fl| fl & libc::O_ACCMODE == libc::O_WRONLY);
        if !is_pipe || !writable {
            let _ = crate::sys::fd::set_cloexec(fd.borrow(), true);
            return Some(Err(format!(
                "the readiness fd #{raw} from the old master is not the write end of a pipe, ignoring"
            )));
        }
        let owned = fd.adopt();
        let _ = crate::sys::fd::set_cloexec(owned.as_fd(), true);
        Some(Ok(File::from(owned)))
    }

    /// The metrics segment's fd number: `FD:PID`, honoured only on a
    /// genuine upgrade, only if PID is the master that started us (a
    /// binary that does not know `MOLTD_METRICS` passes a stale one on to
    /// the next upgrade) and only if no other variable names it. The
    /// counters are never worth a failed start.
    fn metrics_fd(&self) -> Option<RawFd> {
        if !self.is_upgrade() {
            return None;
        }
        let (fd, issuer) = self.metrics.as_deref()?.split_once(':')?;
        if issuer.parse::<i32>().ok() != self.parent.map(Pid::as_raw) {
            return None;
        }
        let fd = fd.parse::<RawFd>().ok().filter(|&n| n > 2)?;
        let ready = self.ready_fd().and_then(Result::ok);
        let taken = self.sockets().contains(&fd) || ready == Some(fd);
        (!taken).then_some(fd)
    }

    /// Takes the metrics segment of a genuine upgrade. The fd is only
    /// looked at until it proves to be one (a sealed memfd of the right
    /// size): anything else under that number is left alone, never closed.
    pub fn take_metrics(&self) -> Option<std::os::fd::OwnedFd> {
        let fd = crate::sys::fd::Inherited::probe(self.metrics_fd()?).ok()?;
        if !crate::sys::shm::Segment::is_segment(fd.borrow(), crate::metrics::WORDS) {
            return None;
        }
        let owned = fd.adopt();
        let _ = crate::sys::fd::set_cloexec(owned.as_fd(), true);
        Some(owned)
    }

    /// The configuration file the old master runs, on a genuine upgrade
    /// and only if that master set it (see [`CONF_VAR`]).
    pub fn config_file(&self) -> Option<std::path::PathBuf> {
        use std::os::unix::ffi::OsStrExt;
        if !self.is_upgrade() {
            return None;
        }
        let value = self.conf.as_deref()?.as_bytes();
        let colon = value.iter().position(|&b| b == b':')?;
        let issuer = std::str::from_utf8(&value[..colon])
            .ok()?
            .parse::<i32>()
            .ok();
        let path = std::path::Path::new(std::ffi::OsStr::from_bytes(&value[colon + 1..]));
        (issuer == self.parent.map(Pid::as_raw) && path.is_absolute()).then(|| path.to_path_buf())
    }

    /// The variables that hand `listeners`, the readiness pipe `ready`,
    /// the metrics segment `metrics` and the name of the configuration
    /// file `conf` to a new binary started by this master.
    pub fn for_child(
        listeners: &[Shared],
        ready: RawFd,
        metrics: Option<RawFd>,
        conf: Option<&std::path::Path>,
    ) -> Vec<(&'static str, std::ffi::OsString)> {
        let me = nix::unistd::getpid();
        let mut vars = vec![
            (HANDOVER_VAR, handover_value(listeners).into()),
            (READY_VAR, ready.to_string().into()),
            (PARENT_VAR, me.to_string().into()),
        ];
        if let Some(fd) = metrics {
            vars.push((METRICS_VAR, format!("{fd}:{me}").into()));
        }
        if let Some(path) = conf {
            let mut value = std::ffi::OsString::from(format!("{me}:"));
            value.push(path);
            vars.push((CONF_VAR, value));
        }
        vars
    }
}

/// The `MOLTD` value for `listeners`: each fd followed by `;`.
pub fn handover_value(listeners: &[Shared]) -> String {
    listeners
        .iter()
        .map(|l| format!("{};", l.socket.as_raw_fd()))
        .collect()
}

/// Parses a handover value by nginx's rules: `;` or `:` ends a number; a bad
/// token stops the parse; an unterminated tail is ignored. Returns the fds
/// and the complaints (as log messages).
pub fn parse_handover(value: &str) -> (Vec<RawFd>, Vec<String>) {
    let mut fds = Vec::new();
    let mut complaints = Vec::new();
    let mut rest = value;
    while let Some(end) = rest.find([';', ':']) {
        let token = &rest[..end];
        match token.parse::<RawFd>() {
            Ok(n) if !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit()) => {
                if !fds.contains(&n) {
                    fds.push(n);
                }
                rest = &rest[end + 1..];
            }
            _ => {
                complaints.push(format!(
                    "invalid socket number \"{rest}\" in {HANDOVER_VAR} environment variable, ignoring the rest of the variable"
                ));
                break;
            }
        }
    }
    if !rest.is_empty() {
        complaints.push(format!(
            "invalid socket number \"{rest}\" in {HANDOVER_VAR} environment variable, ignoring"
        ));
    }
    (fds, complaints)
}

impl Handover {
    /// Adopts the listeners handed over by a previous master (`MOLTD`) or
    /// by systemd (`LISTEN_FDS`), logging what it uses; anything that is
    /// not a listening socket is refused.
    pub fn adopt(&self) -> Vec<Listener> {
        if let Some(value) = &self.moltd {
            notice!("using inherited sockets from \"{value}\"");
            for c in &self.complaints {
                emerg!("{c}");
            }
        }
        if !self.systemd.is_empty() {
            notice!(
                "using {} socket(s) from systemd (LISTEN_FDS)",
                self.systemd.len()
            );
        }
        listen::adopt_fds(&self.sockets())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_file_is_honoured_only_from_the_master_that_started_us() {
        let h = |conf: &str, upgrade: bool| Handover {
            conf: Some(conf.into()),
            parent: Some(Pid::from_raw(42)),
            upgrade,
            ..Handover::default()
        };
        assert_eq!(
            h("42:/etc/moltd/a:b.toml", true).config_file(),
            Some(std::path::PathBuf::from("/etc/moltd/a:b.toml"))
        );
        // Passed on stale by a binary that does not know the variable.
        assert_eq!(h("41:/etc/moltd/moltd.toml", true).config_file(), None);
        assert_eq!(h("42:/etc/moltd/moltd.toml", false).config_file(), None);
        assert_eq!(h("42:conf/moltd.toml", true).config_file(), None);
        assert_eq!(h("/etc/moltd/moltd.toml", true).config_file(), None);
    }

    #[test]
    fn handover_parsing_follows_nginx_rules() {
        assert_eq!(parse_handover("3;4;"), (vec![3, 4], vec![]));
        assert_eq!(parse_handover("3:"), (vec![3], vec![]));
        assert_eq!(parse_handover("3;3;"), (vec![3], vec![]));
        assert_eq!(parse_handover(""), (vec![], vec![]));
        let (fds, c) = parse_handover("3");
        assert!(fds.is_empty());
        assert_eq!(c.len(), 1);
        assert!(c[0].contains("\"3\""), "{c:?}");
        let (fds, c) = parse_handover("abc;3;");
        assert!(fds.is_empty());
        assert_eq!(c.len(), 2);
        let (fds, c) = parse_handover("3;abc");
        assert_eq!(fds, vec![3]);
        assert_eq!(c.len(), 1);
        let (fds, _) = parse_handover(";5;");
        assert!(fds.is_empty());
    }
}
