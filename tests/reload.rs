use nix::sys::signal::Signal;

use crate::support::{self, Server, conf, free_port, http, procs, wait_for};

#[test]
fn reload_starts_new_workers_before_old_ones_drain() {
    let port = free_port();
    let mut s = Server::new();
    s.config(&conf(&[port], 2, ""));
    let master = s.start(port);
    let old = s.wait_workers(master, 2);
    std::fs::create_dir_all(s.path("html2")).expect("html2");
    std::fs::write(s.path("html2/index.html"), "second root\n").expect("write");
    s.config(&conf(&[port], 3, "").replace("root = \"html\"", "root = \"html2\""));
    s.signal(master, Signal::SIGHUP);
    s.wait_log("reload complete");
    let new = wait_for("3 new workers and the old ones gone", || {
        let w = procs::workers_of(master);
        (w.len() == 3 && w.iter().all(|p| !old.contains(p))).then_some(w)
    });
    assert_eq!(new.len(), 3);
    assert_eq!(http::get(port, "/").expect("GET").text(), "second root\n");
    let log = s.log();
    assert!(log.contains("(SIGHUP) received from"), "{log}");
    assert!(log.contains("reconfiguring"), "{log}");
    // Old workers got QUIT only after the new ones were up: every "start
    // worker process" of the new generation precedes the first old drain.
    let last_start = log.rfind("start worker process").expect("starts");
    let first_drain = log.find("gracefully shutting down").expect("drain");
    assert!(last_start < first_drain, "{log}");
    assert_eq!(s.pid(), master);
}

#[test]
fn reload_with_bad_config_keeps_serving() {
    let port = free_port();
    let mut s = Server::new();
    s.config(&conf(&[port], 2, ""));
    let master = s.start(port);
    let old = s.wait_workers(master, 2);
    for (i, (bad, needle)) in [
        ("worker_processes = 2\nbogus_key = 1\n", "bogus_key"),
        ("worker_processes = [[\n", "moltd.toml:"),
        (
            "[[server]]\nlisten = [\"127.0.0.1:1\"]\nroot = \"missing-root\"\n",
            "missing-root",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        s.config(bad);
        s.signal(master, Signal::SIGHUP);
        s.wait_log_count("[emerg]", i + 1);
        assert!(s.log().contains(needle), "{}", s.log());
        assert_eq!(http::get(port, "/").expect("GET").status, 200);
        let mut now = procs::workers_of(master);
        now.sort();
        let mut want = old.clone();
        want.sort();
        assert_eq!(now, want, "same workers after a bad reload");
    }
}

#[test]
fn reload_with_busy_port_keeps_serving() {
    let port = free_port();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let busy_port = busy.local_addr().expect("addr").port();
    let mut s = Server::new();
    s.config(&conf(&[port], 1, ""));
    let master = s.start(port);
    let old = s.wait_workers(master, 1);
    s.config(&conf(&[port, busy_port], 1, ""));
    s.signal(master, Signal::SIGHUP);
    s.wait_log(&format!("bind() to 127.0.0.1:{busy_port} failed"));
    assert_eq!(procs::workers_of(master), old);
    assert_eq!(http::get(port, "/").expect("GET").status, 200);
}

#[test]
fn reload_adds_and_removes_listens() {
    let a = free_port();
    let b = free_port();
    let mut s = Server::new();
    s.config(&conf(&[a], 1, ""));
    let master = s.start(a);
    assert!(!support::connects(b));
    s.config(&conf(&[a, b], 1, ""));
    s.signal(master, Signal::SIGHUP);
    s.wait_log_count("reload complete", 1);
    wait_for("port b to serve", || {
        http::get(b, "/").ok().filter(|r| r.status == 200)
    });
    assert_eq!(http::get(a, "/").expect("GET a").status, 200);

    s.config(&conf(&[b], 1, ""));
    s.signal(master, Signal::SIGHUP);
    s.wait_log_count("reload complete", 2);
    wait_for("port a to close", || (!support::connects(a)).then_some(()));
    assert_eq!(http::get(b, "/").expect("GET b").status, 200);
}

#[test]
fn reload_whose_workers_cannot_start_keeps_old_ones() {
    // A user that does not exist only fails when running as root (workers
    // switch user); as non-root the key is ignored, so use a listen on an
    // address this machine does not have instead: bind fails in the master.
    let port = free_port();
    let mut s = Server::new();
    s.config(&conf(&[port], 1, ""));
    let master = s.start(port);
    let old = s.wait_workers(master, 1);
    s.config(&conf(&[port], 1, "").replace("127.0.0.1", "192.0.2.1"));
    s.signal(master, Signal::SIGHUP);
    s.wait_log("192.0.2.1");
    assert_eq!(procs::workers_of(master), old);
    assert_eq!(http::get(port, "/").expect("GET").status, 200);
}

#[test]
fn a_hup_during_a_reload_is_not_lost() {
    let port = free_port();
    let mut s = Server::new();
    for (dir, text) in [("v1", "one\n"), ("v2", "two\n"), ("v3", "three\n")] {
        std::fs::create_dir_all(s.path(dir)).expect("dir");
        std::fs::write(s.path(&format!("{dir}/index.html")), text).expect("index");
    }
    let cfg =
        |dir: &str| conf(&[port], 8, "").replace("root = \"html\"", &format!("root = \"{dir}\""));
    s.config(&cfg("v1"));
    let master = s.start(port);
    for round in 0..3 {
        s.config(&cfg("v2"));
        s.signal(master, Signal::SIGHUP);
        // Right behind it, while 8 new workers start: the final config.
        s.config(&cfg("v3"));
        s.signal(master, Signal::SIGHUP);
        wait_for(&format!("round {round}: the last config served"), || {
            http::get(port, "/").ok().filter(|r| r.text() == "three\n")
        });
        s.config(&cfg("v1"));
        s.signal(master, Signal::SIGHUP);
        wait_for("back to v1", || {
            http::get(port, "/").ok().filter(|r| r.text() == "one\n")
        });
    }
    wait_for("8 workers", || {
        (procs::workers_of(master).len() == 8).then_some(())
    });
}

#[test]
fn reload_with_an_unwritable_pid_path_keeps_the_old_one() {
    let port = free_port();
    let mut s = Server::new();
    s.config(&conf(&[port], 1, ""));
    let master = s.start(port);
    s.config(&conf(&[port], 1, "pid = \"html/index.html/moltd.pid\""));
    s.signal(master, Signal::SIGHUP);
    s.wait_log("could not write the pid file");
    assert!(s.log().contains("(20: Not a directory)"), "{}", s.log());
    assert_eq!(s.pid(), master);
    assert!(!s.log().contains("reload complete"));
}

#[test]
fn a_good_reload_right_after_an_abandoned_one_completes() {
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("not root: cannot make workers fail after the config check; nothing to check");
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let port = free_port();
    let mut s = Server::new();
    std::fs::set_permissions(&s.prefix, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::fs::create_dir_all(s.path("v2")).expect("dir");
    std::fs::write(s.path("v2/index.html"), "v2\n").expect("index");
    std::fs::create_dir_all(s.path("private")).expect("dir");
    std::fs::set_permissions(s.path("private"), std::fs::Permissions::from_mode(0o700))
        .expect("chmod");
    let user = "user = \"nobody\"";
    s.config(&conf(&[port], 2, user));
    let master = s.start(port);
    for round in 0..3 {
        // A reload whose workers cannot start (their user cannot list the
        // root) is abandoned...
        s.config(&conf(&[port], 2, user).replace("root = \"html\"", "root = \"private\""));
        s.signal(master, Signal::SIGHUP);
        s.wait_log_count("reload failed, keeping the old configuration", round + 1);
        // ...and the next reload, at once, must still complete.
        let dir = if round % 2 == 0 { "v2" } else { "html" };
        s.config(&conf(&[port], 2, user).replace("root = \"html\"", &format!("root = \"{dir}\"")));
        s.signal(master, Signal::SIGHUP);
        let want = if dir == "v2" {
            "v2\n"
        } else {
            "hello from moltd\n"
        };
        wait_for("the good reload served", || {
            http::get(port, "/").ok().filter(|r| r.text() == want)
        });
    }
}
