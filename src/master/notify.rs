//! systemd's readiness protocol: `sd_notify` datagrams to the socket named
//! by `NOTIFY_SOCKET` (a path, or `@name` for an abstract socket). Written
//! here rather than linking libsystemd: it is one datagram per message.
//!
//! `NOTIFY_SOCKET` stays in the environment, so a new binary started by
//! USR2 reports too; the old master hands it the main-process role
//! (`MAINPID=`) when the operator commits with QUIT. A new master's own
//! messages need `NotifyAccess=all` in the unit (`conf/moltd.service`).

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};

use nix::unistd::Pid;

use super::state::Notice;

/// The service manager's socket, if there is one.
pub struct Notifier {
    target: Option<(UnixDatagram, SocketAddr)>,
}

impl Notifier {
    /// Reads `NOTIFY_SOCKET`; without it (or with a value that cannot be a
    /// socket address) every notice is dropped.
    pub fn from_env() -> Self {
        let target = std::env::var_os("NOTIFY_SOCKET").and_then(|v| {
            let bytes = v.as_encoded_bytes();
            let addr = match bytes.strip_prefix(b"@") {
                Some(name) => SocketAddr::from_abstract_name(name).ok()?,
                None => SocketAddr::from_pathname(std::path::Path::new(&v)).ok()?,
            };
            let sock = UnixDatagram::unbound().ok()?;
            Some((sock, addr))
        });
        Notifier { target }
    }

    /// Sends `notice` for master `pid`. Failures are only logged: the
    /// server serves whether or not anyone listens.
    pub fn send(&self, notice: &Notice, pid: Pid) {
        let Some((sock, addr)) = &self.target else {
            return;
        };
        let msg = message(notice, pid, monotonic_usec());
        if let Err(e) = sock.send_to_addr(msg.as_bytes(), addr) {
            crate::warn!("sd_notify failed ({e}): {}", msg.replace('\n', " "));
        }
    }
}

/// `CLOCK_MONOTONIC` in microseconds, for `MONOTONIC_USEC=`.
fn monotonic_usec() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).map_or(0, |t| {
        (t.tv_sec() as u64)
            .saturating_mul(1_000_000)
            .saturating_add(t.tv_nsec() as u64 / 1_000)
    })
}

/// The datagram for `notice`.
pub fn message(notice: &Notice, pid: Pid, now_usec: u64) -> String {
    match notice {
        Notice::Ready { status } => format!("READY=1\nSTATUS={status}"),
        Notice::Reloading => {
            format!("RELOADING=1\nMONOTONIC_USEC={now_usec}\nSTATUS=reloading the configuration")
        }
        Notice::Stopping => "STOPPING=1\nSTATUS=shutting down".into(),
        Notice::MainPid(Some(new)) => {
            format!("MAINPID={new}\nSTATUS=committed to new master process {new}")
        }
        Notice::MainPid(None) => {
            format!("MAINPID={pid}\nREADY=1\nSTATUS=master process {pid} serves")
        }
        Notice::Status(s) => format!("STATUS={s}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_what_systemd_expects() {
        let pid = Pid::from_raw(42);
        let ready = Notice::Ready {
            status: "ok".into(),
        };
        assert_eq!(message(&ready, pid, 0), "READY=1\nSTATUS=ok");
        assert!(message(&Notice::Reloading, pid, 7).starts_with("RELOADING=1\nMONOTONIC_USEC=7\n"));
        assert!(message(&Notice::Stopping, pid, 0).starts_with("STOPPING=1"));
        assert!(message(&Notice::MainPid(Some(7)), pid, 0).starts_with("MAINPID=7\n"));
        assert!(message(&Notice::MainPid(None), pid, 0).starts_with("MAINPID=42\n"));
    }
}
