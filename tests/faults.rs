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
    // Both pending at once, whatever the machine's speed: the master reads
    // HUP first (lower number), then USR2 while the reload runs.
    s.signal(old, Signal::SIGSTOP);
    s.signal(old, Signal::SIGHUP);
    s.signal(old, Signal::SIGUSR2);
    s.signal(old, Signal::SIGCONT);
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

/// All live moltd masters serving from this test's prefix.
fn masters_of(s: &Server) -> Vec<Pid> {
    let prefix = s.prefix.display().to_string();
    procs::all()
        .into_iter()
        .filter(|(_, _, cmd)| cmd.starts_with("moltd: master process") && cmd.contains(&prefix))
        .map(|(p, _, _)| p)
        .collect()
}

#[test]
fn a_wrapper_script_without_exec_still_hands_over_and_leaves_one_master() {
    let port = free_port();
    let mut s = Server::new();
    let bin = s.use_private_binary();
    s.config(&conf(&[port], 1, "daemon = true"));
    s.spawn(&[]);
    assert_eq!(s.wait_launcher(), Some(0));
    let old = s.wait_master();
    wait_for("the server to answer", || {
        http::get(port, "/").ok().filter(|r| r.status == 200)
    });
    // The new "binary" is a wrapper that runs the real one as a child.
    let real = s.path("sbin/moltd-real");
    crate::support::install_binary(&crate::support::moltd_bin(), &real);
    crate::support::install_script(&bin, &format!("#!/bin/sh\n\"{}\" \"$@\"\n", real.display()));
    s.signal(old, Signal::SIGUSR2);
    s.wait_log("is ready");
    let new = wait_for("the new master in the pid file", || {
        let p = s.read_pid("logs/moltd.pid")?;
        (p != old && procs::alive(p)).then_some(p)
    });
    s.remember(new);
    assert!(
        !s.log().contains("started as a fresh master"),
        "{}",
        s.log()
    );
    // Commit: exactly one master serves, named by the pid file.
    s.signal(old, Signal::SIGWINCH);
    s.signal(old, Signal::SIGQUIT);
    s.wait_gone(old);
    assert_eq!(http::get(port, "/").expect("GET").status, 200);
    assert_eq!(masters_of(&s), vec![new]);
    assert_eq!(s.pid(), new);
    // The committed master can upgrade again (its old master is gone).
    crate::support::install_binary(&crate::support::moltd_bin(), &bin);
    s.signal(new, Signal::SIGUSR2);
    s.wait_log_count("is ready", 2);
}

#[test]
fn a_wrapper_that_exits_at_once_is_a_failed_upgrade_with_one_master_left() {
    let (s, port, old) = upgradable(1, "daemon = true");
    // Backgrounds the real binary and exits 0 right away.
    let real = s.path("sbin/moltd-real");
    crate::support::install_binary(&crate::support::moltd_bin(), &real);
    crate::support::install_script(
        &s.bin,
        &format!("#!/bin/sh\n\"{}\" \"$@\" &\nexit 0\n", real.display()),
    );
    s.signal(old, Signal::SIGUSR2);
    s.wait_log("before it was ready");
    s.wait_pid_file(old);
    wait_for("only the old master left", || {
        (masters_of(&s) == vec![old]).then_some(())
    });
    assert_eq!(http::get(port, "/").expect("GET").status, 200);
    assert!(!s.path("logs/moltd.pid.oldbin").exists());
}

#[test]
fn a_hung_new_binarys_children_do_not_keep_the_sockets() {
    let (mut s, port, old) = upgradable(1, "upgrade_ready_timeout = \"1s\"");
    crate::support::install_script(&s.bin, "#!/bin/sh\nsleep 1000\necho never\n");
    s.signal(old, Signal::SIGUSR2);
    s.wait_log("did not become ready");
    s.wait_pid_file(old);
    assert_eq!(http::get(port, "/").expect("GET").status, 200);
    s.signal(old, Signal::SIGQUIT);
    s.wait_gone(old);
    // Nothing holds the port: a fresh start binds it.
    wait_for("the port to be free", || {
        std::net::TcpListener::bind(("127.0.0.1", port)).ok()
    });
    crate::support::install_binary(&crate::support::moltd_bin(), &s.bin);
    s.start(port);
}

#[test]
fn a_killed_old_master_leaves_no_stale_oldbin() {
    let (mut s, port, old) = upgradable(1, "");
    s.signal(old, Signal::SIGUSR2);
    s.wait_log("is ready");
    let new = s.pid();
    s.remember(new);
    assert_eq!(s.read_pid("logs/moltd.pid.oldbin"), Some(old));
    s.signal(old, Signal::SIGKILL);
    wait_for("the new master to remove .oldbin", || {
        (!s.path("logs/moltd.pid.oldbin").exists()).then_some(())
    });
    s.wait_log(&format!("old master process {old} is gone"));
    assert_eq!(http::get(port, "/").expect("GET").status, 200);
    // And it can upgrade now.
    s.signal(new, Signal::SIGUSR2);
    s.wait_log_count("is ready", 2);
}

#[test]
fn the_new_master_dying_after_the_commit_is_an_alert() {
    let (mut s, port, old) = upgradable(1, "");
    // A slow client keeps an old worker, and so the old master, around
    // after the commit.
    let mut hold = http::connect(port).expect("connect");
    use std::io::Write;
    hold.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .expect("half a request");
    s.signal(old, Signal::SIGUSR2);
    s.wait_log("is ready");
    let new = s.pid();
    s.remember(new);
    s.signal(old, Signal::SIGWINCH);
    s.signal(old, Signal::SIGQUIT);
    s.wait_log("gracefully shutting down");
    s.signal(new, Signal::SIGKILL);
    s.wait_log("nothing will serve");
    assert!(
        s.log().contains("[alert]") && s.log().contains("start moltd again"),
        "{}",
        s.log()
    );
    drop(hold);
}

#[test]
fn a_low_fd_limit_under_many_connections_stays_served() {
    let port = free_port();
    let mut s = Server::new();
    // Every request opens its file: the cache keeps nothing.
    s.config(&conf(
        &[port],
        2,
        "open_file_cache = 0\naccess_log_buffer = \"64k\"",
    ));
    for i in 0..20 {
        std::fs::write(s.path(&format!("html/f{i}.bin")), vec![b'x'; 8192]).expect("file");
    }
    s.launch(
        "sh",
        &["-c", "ulimit -n 256 && exec \"$BIN\" -p \"$PREFIX\""],
    );
    let master = s.wait_master();
    wait_for("the server to answer", || {
        http::get(port, "/f0.bin").ok().filter(|r| r.status == 200)
    });
    // More connections than the server's fd limit: the test's own limit
    // must allow them (raised toward its hard limit).
    if let Ok((soft, hard)) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        && soft < 4096
    {
        let _ = nix::sys::resource::setrlimit(
            nix::sys::resource::Resource::RLIMIT_NOFILE,
            hard.min(4096),
            hard,
        );
    }
    let (ok, bad): (usize, usize) = std::thread::scope(|sc| {
        let clients: Vec<_> = (0..600)
            .map(|n| {
                sc.spawn(move || {
                    let mut c = http::KeepAlive::new(port);
                    let (mut ok, mut bad) = (0, 0);
                    for i in 0..10 {
                        match c.get(&format!("/f{}.bin", (n + i) % 20)) {
                            Ok(r) if r.status == 200 && r.body.len() == 8192 => ok += 1,
                            _ => bad += 1,
                        }
                    }
                    (ok, bad)
                })
            })
            .collect();
        clients
            .into_iter()
            .map(|c| c.join().expect("client"))
            .fold((0, 0), |(a, b), (x, y)| (a + x, b + y))
    });
    assert!(
        bad * 100 < ok + bad,
        "{bad} of {} requests failed under a 256-fd limit",
        ok + bad
    );
    assert_eq!(http::get(port, "/f1.bin").expect("after").status, 200);
    assert!(procs::alive(master));
    // The operator is told, as nginx tells them.
    s.wait_log("exceed open file resource limit: 256");
}

#[test]
fn a_master_that_inherits_sigchld_ignored_still_respawns_workers() {
    // With SIGCHLD ignored (inherited from whatever started it), the kernel
    // reaps children itself and waitpid finds nothing: the master must
    // reset the disposition, or a dead worker is never replaced.
    let port = free_port();
    let mut s = Server::new();
    s.config(&conf(&[port], 1, ""));
    let py = "import os,signal\nsignal.signal(signal.SIGCHLD,signal.SIG_IGN)\nos.execv(os.environ['BIN'],[os.environ['BIN'],'-p',os.environ['PREFIX']])\n";
    s.launch("python3", &["-c", py]);
    let master = s.wait_master();
    let worker = s.wait_workers(master, 1)[0];
    s.signal(worker, Signal::SIGKILL);
    wait_for("a new worker", || {
        let w = procs::workers_of(master);
        (w.len() == 1 && w[0] != worker).then_some(())
    });
    assert_eq!(http::get(port, "/").expect("GET").status, 200);
    assert!(
        s.log()
            .contains(&format!("worker process {worker} exited on signal 9")),
        "{}",
        s.log()
    );
}
