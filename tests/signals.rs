use nix::sys::signal::Signal;

use crate::support::{self, Server, conf, free_port, http, procs, wait_for};

#[test]
fn quit_drains_and_removes_pid_file() {
    let port = free_port();
    let mut s = Server::new();
    s.config(&conf(&[port], 2, ""));
    let master = s.start(port);
    let workers = s.wait_workers(master, 2);
    s.signal(master, Signal::SIGQUIT);
    assert_eq!(s.wait_launcher(), Some(0));
    for w in &workers {
        assert!(!procs::alive(*w));
    }
    assert!(!s.path("logs/moltd.pid").exists());
    let log = s.log();
    assert!(log.contains("signal 3 (SIGQUIT) received from"), "{log}");
    assert!(log.contains(", shutting down"), "{log}");
    assert_eq!(
        log.matches("gracefully shutting down").count(),
        3,
        "master + 2 workers: {log}"
    );
    for w in workers {
        assert!(
            log.contains(&format!("worker process {w} exited with code 0")),
            "{log}"
        );
    }
}

#[test]
fn int_is_a_fast_shutdown_too() {
    let port = free_port();
    let mut s = Server::new();
    s.config(&conf(&[port], 1, ""));
    let master = s.start(port);
    s.signal(master, Signal::SIGINT);
    assert_eq!(s.wait_launcher(), Some(0));
    assert!(s.log().contains("signal 2 (SIGINT) received from"));
    assert!(!s.path("logs/moltd.pid").exists());
}

#[test]
fn term_escalates_to_sigkill_for_a_stuck_worker() {
    let port = free_port();
    let mut s = Server::new();
    s.config(&conf(&[port], 1, ""));
    let master = s.start(port);
    let w = s.wait_workers(master, 1)[0];
    s.signal(w, Signal::SIGSTOP);
    s.signal(master, Signal::SIGTERM);
    assert_eq!(s.wait_launcher(), Some(0));
    let log = s.log();
    assert!(
        log.contains(&format!("worker process {w} did not exit, sending SIGKILL")),
        "{log}"
    );
    assert!(
        log.contains(&format!("worker process {w} exited on signal 9")),
        "{log}"
    );
}

#[test]
fn usr1_reopens_renamed_logs() {
    let port = free_port();
    let mut s = Server::new();
    s.config(&conf(&[port], 2, ""));
    let master = s.start(port);
    s.wait_log_count("start worker process", 2);
    std::fs::rename(s.path("logs/error.log"), s.path("logs/error.log.1")).expect("rotate");
    s.signal(master, Signal::SIGUSR1);
    // Master and both workers write to the new file.
    s.wait_log_count("#0: reopening logs", 3);
    let old = std::fs::read_to_string(s.path("logs/error.log.1")).expect("old log");
    assert!(old.contains("start worker process"));
    assert!(old.contains("(SIGUSR1) received from"), "{old}");
    assert!(!old.contains("#0: reopening logs"), "{old}");
    assert_eq!(http::get(port, "/").expect("GET").status, 200);
}

#[test]
fn winch_stops_workers_keeps_sockets_and_hup_restarts_them() {
    let port = free_port();
    let mut s = Server::new();
    s.config(&conf(&[port], 2, ""));
    let master = s.start(port);
    let old = s.wait_workers(master, 2);
    s.signal(master, Signal::SIGWINCH);
    s.wait_workers(master, 0);
    assert!(procs::alive(master));
    assert!(s.log().contains("(SIGWINCH) received from"), "{}", s.log());
    // The master still holds the listening socket: connects queue in the backlog.
    assert!(support::connects(port));
    assert_eq!(s.pid(), master);
    // Not respawned: still none after they exited.
    assert!(procs::workers_of(master).is_empty());
    s.signal(master, Signal::SIGHUP);
    let new = s.wait_workers(master, 2);
    assert!(new.iter().all(|w| !old.contains(w)));
    wait_for("a 200 after HUP", || {
        http::get(port, "/").ok().filter(|r| r.status == 200)
    });
}

#[test]
fn killed_worker_is_respawned() {
    let port = free_port();
    let mut s = Server::new();
    s.config(&conf(&[port], 2, ""));
    let master = s.start(port);
    let workers = s.wait_workers(master, 2);
    // Let the workers live past the fast-death window so this is an
    // ordinary death (replaced at once, no back-off).
    std::thread::sleep(std::time::Duration::from_millis(1100));
    s.signal(workers[0], Signal::SIGKILL);
    s.wait_log(&format!("worker process {} exited on signal 9", workers[0]));
    let now = wait_for("a replacement worker", || {
        let w = procs::workers_of(master);
        (w.len() == 2 && !w.contains(&workers[0])).then_some(w)
    });
    assert!(now.contains(&workers[1]));
    assert_eq!(http::get(port, "/").expect("GET").status, 200);
}

#[test]
fn workers_that_keep_dying_are_respawned_with_backoff() {
    let port = free_port();
    let mut s = Server::new();
    s.config(&conf(&[port], 1, ""));
    let master = s.start(port);
    for _ in 0..4 {
        let w = s.wait_workers(master, 1)[0];
        s.signal(w, Signal::SIGKILL);
        s.wait_gone(w);
    }
    s.wait_log("respawning in");
    // It still comes back.
    s.wait_workers(master, 1);
    wait_for("a 200 after the back-off", || {
        http::get(port, "/").ok().filter(|r| r.status == 200)
    });
}

#[test]
fn killed_master_takes_its_workers_down() {
    let port = free_port();
    let mut s = Server::new();
    s.config(&conf(&[port], 2, ""));
    let master = s.start(port);
    let workers = s.wait_workers(master, 2);
    s.signal(master, Signal::SIGKILL);
    for w in workers {
        s.wait_gone(w);
    }
    wait_for("the port to close", || {
        (!support::connects(port)).then_some(())
    });
    assert_eq!(s.log().matches("gracefully shutting down").count(), 2);
}

#[test]
fn workers_run_as_the_configured_user_when_root() {
    let port = free_port();
    let mut s = Server::new();
    s.config(&conf(&[port], 1, "user = \"nobody\""));
    let master = s.start(port);
    let w = s.wait_workers(master, 1)[0];
    let uid = |pid| -> String {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
        status
            .lines()
            .find(|l| l.starts_with("Uid:"))
            .and_then(|l| l.split_whitespace().nth(2))
            .expect("effective uid")
            .to_string()
    };
    assert_eq!(http::get(port, "/").expect("GET").status, 200);
    if nix::unistd::Uid::effective().is_root() {
        let nobody = nix::unistd::User::from_name("nobody")
            .expect("passwd")
            .expect("nobody exists");
        assert_eq!(uid(w), nobody.uid.to_string(), "the worker switched user");
        assert_eq!(uid(master), "0", "the master stays root");
        // The worker can still reopen its log after a rotation.
        std::fs::rename(s.path("logs/error.log"), s.path("logs/error.log.1")).expect("rotate");
        s.signal(master, Signal::SIGUSR1);
        s.wait_log_count("#0: reopening logs", 2);
        assert!(!s.log().contains("could not reopen"), "{}", s.log());
        // The worker cannot read what its user cannot.
        std::fs::write(s.path("html/private.txt"), "root only").expect("write");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            s.path("html/private.txt"),
            std::fs::Permissions::from_mode(0o600),
        )
        .expect("chmod");
        let r = http::get(port, "/private.txt").expect("GET");
        assert_eq!(r.status, 403);
        assert!(!r.text().contains("root only"));
        // Switching user must not cancel the parent-death signal.
        s.signal(master, Signal::SIGKILL);
        s.wait_gone(w);
    } else {
        assert_eq!(uid(w), uid(master));
        assert!(s.log().contains("the \"user\" key makes sense only if the master process runs with super-user privileges"));
    }
}

#[test]
fn a_root_the_worker_user_cannot_read_fails_start_and_reload() {
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("not root: workers cannot switch user here; nothing to check");
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let port = free_port();
    let mut s = Server::new();
    std::fs::create_dir_all(s.path("private")).expect("dir");
    std::fs::set_permissions(s.path("private"), std::fs::Permissions::from_mode(0o700))
        .expect("chmod");
    // The temp prefix itself must be traversable by nobody.
    std::fs::set_permissions(&s.prefix, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let private =
        conf(&[port], 2, "user = \"nobody\"").replace("root = \"html\"", "root = \"private\"");

    // At start: no worker can serve, so the master says so and exits.
    s.config(&private);
    s.spawn(&[]);
    assert_eq!(s.wait_launcher(), Some(1), "the master exits non-zero");
    let log = s.log();
    assert!(log.contains("is not readable by user \"nobody\""), "{log}");
    assert!(
        log.contains("no worker process can start with this configuration"),
        "{log}"
    );
    assert!(!s.path("logs/moltd.pid").exists());

    // On reload: the old workers keep serving.
    s.config(&conf(&[port], 2, "user = \"nobody\""));
    let master = s.start(port);
    let old = s.wait_workers(master, 2);
    s.config(&private);
    s.signal(master, Signal::SIGHUP);
    s.wait_log("reload failed, keeping the old configuration");
    let mut want = old.clone();
    want.sort();
    // The other new worker of the failed reload is killed and reaped just
    // after the line is logged: wait for it, then only the old ones serve.
    wait_for("only the old workers", || {
        let mut now = procs::workers_of(master);
        now.sort();
        (now == want).then_some(())
    });
    assert_eq!(http::get(port, "/").expect("GET").status, 200);
}

#[test]
fn a_burst_of_hups_and_usr1s_ends_in_one_consistent_state() {
    let port = free_port();
    let mut s = Server::new();
    s.config(&conf(&[port], 2, ""));
    let master = s.start(port);
    for _ in 0..100 {
        s.signal(master, Signal::SIGHUP);
        s.signal(master, Signal::SIGUSR1);
    }
    // Settles at exactly the configured workers, all of the newest generation.
    wait_for("exactly 2 workers, none draining", || {
        let w = procs::workers_of(master);
        (w.len() == 2
            && w.iter()
                .all(|p| procs::title(*p) == "moltd: worker process"))
        .then_some(())
    });
    s.wait_log("reload complete");
    // A HUP queued during a reload starts one more ("reconfiguring again")
    // right after a "reload complete": settled means the last reload that
    // started has completed, and its two workers serve.
    wait_for("no reload pending", || {
        let log = s.log();
        let last_complete = log.rfind("reload complete")?;
        let last_hup = log.rfind("(SIGHUP) received")?;
        let last_start = log.rfind("reconfiguring")?;
        let w = procs::workers_of(master);
        let settled = w.len() == 2
            && w.iter()
                .all(|p| procs::title(*p) == "moltd: worker process");
        (last_complete > last_hup && last_complete > last_start && settled).then_some(())
    });
    assert_eq!(http::get(port, "/").expect("GET").status, 200);
    assert_eq!(procs::workers_of(master).len(), 2);
}
