use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::unistd::Pid;

use crate::support::{Server, conf, free_port, http, procs, wait_for};

/// A `NOTIFY_SOCKET` listener, as systemd would have: records every
/// datagram the masters send.
struct Manager {
    sock: UnixDatagram,
    seen: Vec<String>,
}

impl Manager {
    fn new(s: &mut Server) -> Self {
        let path = s.path("notify.sock");
        let sock = UnixDatagram::bind(&path).expect("bind notify socket");
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        s.env("NOTIFY_SOCKET", &path.display().to_string());
        Manager {
            sock,
            seen: Vec::new(),
        }
    }

    /// Reads datagrams until one contains every line of `want`; returns it.
    fn expect(&mut self, want: &[&str]) -> String {
        let end = Instant::now() + Duration::from_secs(20);
        let mut buf = [0u8; 4096];
        while Instant::now() < end {
            if let Ok(n) = self.sock.recv(&mut buf) {
                let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                self.seen.push(msg.clone());
                if want.iter().all(|w| msg.lines().any(|l| l == *w)) {
                    return msg;
                }
            }
        }
        panic!("no notification with {want:?}; seen {:?}", self.seen);
    }

    /// Everything that arrives within `d`.
    fn drain(&mut self, d: Duration) -> Vec<String> {
        let end = Instant::now() + d;
        let mut buf = [0u8; 4096];
        let mut got = Vec::new();
        while Instant::now() < end {
            if let Ok(n) = self.sock.recv(&mut buf) {
                got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
        }
        self.seen.extend(got.clone());
        got
    }
}

fn new_master(s: &mut Server, old: Pid) -> Pid {
    s.signal(old, Signal::SIGUSR2);
    let new = wait_for("the new master in the pid file", || {
        let p = s.read_pid("logs/moltd.pid")?;
        (p != old && procs::alive(p)).then_some(p)
    });
    s.remember(new);
    new
}

#[test]
fn start_reload_and_stop_are_told_to_the_manager_in_order() {
    let port = free_port();
    let mut s = Server::new();
    let mut m = Manager::new(&mut s);
    s.config(&conf(&[port], 2, ""));
    let master = s.start(port);
    let ready = m.expect(&["READY=1"]);
    assert!(
        !ready.contains("MAINPID"),
        "a first start is systemd's own main pid: {ready}"
    );
    assert!(
        ready.contains("STATUS=2 worker processes serving"),
        "{ready}"
    );

    s.signal(master, Signal::SIGHUP);
    let reloading = m.expect(&["RELOADING=1"]);
    assert!(reloading.contains("MONOTONIC_USEC="), "{reloading}");
    let again = m.expect(&["READY=1"]);
    assert!(again.contains("generation 2"), "{again}");

    // A bad config: RELOADING=1, then READY=1 for the old one still serving.
    s.config("this is not toml [");
    s.signal(master, Signal::SIGHUP);
    m.expect(&["RELOADING=1"]);
    m.expect(&["READY=1"]);

    s.signal(master, Signal::SIGQUIT);
    m.expect(&["STOPPING=1"]);
    s.wait_gone(master);
}

#[test]
fn a_commit_hands_the_main_pid_to_the_new_master_and_does_not_stop_the_unit() {
    let port = free_port();
    let mut s = Server::new();
    let mut m = Manager::new(&mut s);
    s.use_private_binary();
    s.config(&conf(&[port], 1, ""));
    let old = s.start(port);
    m.expect(&["READY=1"]);

    let new = new_master(&mut s, old);
    let ready = m.expect(&["READY=1"]);
    assert!(
        !ready.contains("MAINPID"),
        "the old master stays the main one until the commit: {ready}"
    );
    s.signal(old, Signal::SIGWINCH);
    s.signal(old, Signal::SIGQUIT);
    m.expect(&[&format!("MAINPID={new}")]);
    s.wait_gone(old);
    let after = m.drain(Duration::from_millis(1500));
    assert!(
        !after.iter().any(|x| x.contains("STOPPING=1")),
        "committing must not stop the unit: {after:?}"
    );
    assert_eq!(http::get(port, "/").map(|r| r.status).ok(), Some(200));

    s.signal(new, Signal::SIGQUIT);
    m.expect(&["STOPPING=1"]);
    s.wait_gone(new);
}

#[test]
fn a_rollback_leaves_the_old_master_the_main_one_and_stops_nothing() {
    let port = free_port();
    let mut s = Server::new();
    let mut m = Manager::new(&mut s);
    s.use_private_binary();
    s.config(&conf(&[port], 1, ""));
    let old = s.start(port);
    m.expect(&["READY=1"]);
    let new = new_master(&mut s, old);
    m.expect(&["READY=1"]);

    s.signal(old, Signal::SIGWINCH);
    s.signal(old, Signal::SIGHUP);
    // A HUP that only restarts workers still answers RELOADING with READY.
    m.expect(&["RELOADING=1"]);
    m.expect(&["READY=1"]);
    s.signal(new, Signal::SIGQUIT);
    s.wait_gone(new);
    m.drain(Duration::from_millis(1500));
    assert!(
        !m.seen
            .iter()
            .any(|x| x.contains("STOPPING=1") || x.contains("MAINPID")),
        "a rollback neither stops the unit nor moves the main pid: {:?}",
        m.seen
    );
    assert_eq!(s.read_pid("logs/moltd.pid"), Some(old));
    assert_eq!(http::get(port, "/").map(|r| r.status).ok(), Some(200));
}

#[test]
fn socket_activation_serves_on_the_sockets_systemd_opened() {
    let port = free_port();
    let mut s = Server::new();
    s.config(&conf(&[port], 1, ""));
    let addr = format!("127.0.0.1:{port}");
    let bin = s.bin.display().to_string();
    let prefix = s.prefix.display().to_string();
    s.launch(
        "systemd-socket-activate",
        &["-l", &addr, &bin, "-p", &prefix],
    );
    // The socket listens before moltd runs: systemd-socket-activate
    // starts it on the first connection.
    let r = wait_for("an answer through the activated socket", || {
        http::get(port, "/").ok().filter(|r| r.status == 200)
    });
    assert_eq!(r.text(), "hello from moltd\n");
    let master = s.wait_master();
    s.wait_log("socket(s) from systemd (LISTEN_FDS)");
    let workers = s.wait_workers(master, 1);
    assert_eq!(workers.len(), 1);

    // An upgrade hands the activated socket on like any other.
    let new = new_master(&mut s, master);
    s.wait_log(&format!("new binary process {new} is ready"));
    s.signal(master, Signal::SIGQUIT);
    s.wait_gone(master);
    assert_eq!(http::get(port, "/").map(|r| r.status).ok(), Some(200));
}
