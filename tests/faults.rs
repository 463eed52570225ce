//! Process faults an operator meets: signals back to back, wrapper scripts
//! and hung scripts as the new binary, a low fd limit under load.

use nix::sys::signal::Signal;
use nix::unistd::Pid;

use crate::support::{Server, conf, free_port, http, procs, wait_for};

/// A server started from a private copy of the binary (so a test can
/// replace it), on a fresh port.
fn upgradable(workers: usize, extra: &str) -> (Server, u16, Pid) {
    let port = free_port();
    let mut s = Server::new();
    s.use_private_binary();
    s.config(&conf(&[port], workers, extra));
    let old = s.start(port);
    (s, port, old)
}

#[test]
fn usr2_right_after_hup_is_queued_and_both_happen() {
    let (mut s, port, old) = upgradable(1, "");
    s.signal(old, Signal::SIGHUP);
    s.signal(old, Signal::SIGUSR2);
    s.wait_log("reload complete");
    s.wait_log("is ready");
    let new = s.pid();
    assert_ne!(new, old, "the pid file names the new master");
    s.remember(new);
    assert_eq!(s.read_pid("logs/moltd.pid.oldbin"), Some(old));
    let log = s.log();
    assert!(!log.contains("signal is ignored"), "{log}");
    assert!(
        log.contains("changing binary when it completes"),
        "the queue is said: {log}"
    );
    assert_eq!(http::get(port, "/").expect("GET").status, 200);
    // Commit, and exactly one master serves.
    s.signal(old, Signal::SIGQUIT);
    s.wait_gone(old);
    assert_eq!(http::get(port, "/").expect("GET").status, 200);
    assert!(procs::title(new).starts_with("moltd: master process"));
    assert_eq!(s.pid(), new);
}
