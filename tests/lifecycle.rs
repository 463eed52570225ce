use nix::sys::signal::Signal;

use crate::support::{self, Server, conf, free_port, http, procs};

#[test]
fn foreground_start_shows_tree_and_stops_on_term() {
    let port = free_port();
    let mut s = Server::new();
    s.config(&conf(&[port], 2, ""));
    let master = s.start(port);
    let workers = s.wait_workers(master, 2);
    assert!(
        procs::title(master).starts_with("moltd: master process "),
        "title: {}",
        procs::title(master)
    );
    assert!(procs::title(master).contains(&s.prefix.display().to_string()));
    for w in &workers {
        assert_eq!(procs::title(*w), "moltd: worker process");
    }
    assert_eq!(
        std::fs::read_to_string(s.path("logs/moltd.pid")).expect("pid file"),
        format!("{master}\n")
    );
    let r = http::get(port, "/").expect("GET /");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "hello from moltd\n");

    s.signal(master, Signal::SIGTERM);
    assert_eq!(s.wait_launcher(), Some(0));
    for w in workers {
        s.wait_gone(w);
    }
    assert!(
        !s.path("logs/moltd.pid").exists(),
        "pid file removed on exit"
    );
    assert!(!support::connects(port), "nothing listens after exit");
    let log = s.log();
    assert!(log.contains("signal 15 (SIGTERM) received from"), "{log}");
    assert!(
        log.contains("] ") && log.contains(&format!("{master}#0: exit")),
        "{log}"
    );
}

#[test]
fn daemon_launcher_returns_after_pid_file_is_written() {
    let port = free_port();
    let mut s = Server::new();
    s.config(&conf(&[port], 1, "daemon = true"));
    s.spawn(&[]);
    assert_eq!(
        s.wait_launcher(),
        Some(0),
        "launcher output: {}",
        s.launcher_output()
    );
    // No polling here: the launcher returned, so the pid file must exist.
    let master = s
        .read_pid("logs/moltd.pid")
        .expect("pid file written before the launcher returned");
    s.remember(master);
    assert!(procs::alive(master));
    let stat = std::fs::read_to_string(format!("/proc/{master}/stat")).expect("stat");
    let f: Vec<&str> = stat[stat.rfind(')').expect(")") + 1..]
        .split_whitespace()
        .collect();
    assert_eq!(f[3], master.to_string(), "the daemon leads its own session");
    support::wait_for("a 200", || {
        http::get(port, "/").ok().filter(|r| r.status == 200)
    });
    let fd0 = std::fs::read_link(format!("/proc/{master}/fd/0")).expect("fd 0");
    assert_eq!(fd0, std::path::Path::new("/dev/null"));
    let fd2 = std::fs::read_link(format!("/proc/{master}/fd/2")).expect("fd 2");
    assert_eq!(
        fd2,
        s.path("logs/error.log"),
        "stderr goes to the error log"
    );

    s.signal(master, Signal::SIGQUIT);
    s.wait_gone(master);
    assert!(!s.path("logs/moltd.pid").exists());
    assert!(s.log().contains("gracefully shutting down"));
}

#[test]
fn daemon_startup_failure_makes_launcher_fail() {
    let port = free_port();
    let mut s = Server::new();
    // The pid file's directory is a regular file: only the daemon child,
    // after the fork, finds out.
    s.config(&conf(
        &[port],
        1,
        "daemon = true\npid = \"html/index.html/moltd.pid\"",
    ));
    s.spawn(&[]);
    assert_eq!(s.wait_launcher(), Some(1));
    let out = s.launcher_output();
    assert!(out.contains("could not write the pid file"), "{out}");
    assert!(out.contains("html/index.html/moltd.pid"), "{out}");
    assert!(!support::connects(port));
}

#[test]
fn startup_errors_name_the_problem() {
    // Port in use.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = busy.local_addr().expect("addr").port();
    let mut s = Server::new();
    s.config(&conf(&[port], 1, ""));
    s.spawn(&[]);
    assert_eq!(s.wait_launcher(), Some(1));
    let out = s.launcher_output();
    assert!(
        out.contains(&format!(
            "bind() to 127.0.0.1:{port} failed (98: Address already in use)"
        )),
        "{out}"
    );

    // Missing root.
    let mut s = Server::new();
    s.config(&format!(
        "[[server]]\nlisten = [\"127.0.0.1:{}\"]\nroot = \"nowhere\"\n",
        free_port()
    ));
    s.spawn(&[]);
    assert_eq!(s.wait_launcher(), Some(1));
    let out = s.launcher_output();
    assert!(
        out.contains("nowhere") && out.contains("moltd.toml:3"),
        "{out}"
    );

    // Unwritable error log (its directory is a file).
    let mut s = Server::new();
    s.config(&conf(
        &[free_port()],
        1,
        "error_log = \"html/index.html/error.log\"",
    ));
    s.spawn(&[]);
    assert_eq!(s.wait_launcher(), Some(1));
    assert!(
        s.launcher_output().contains("could not open the error log"),
        "{}",
        s.launcher_output()
    );
}

#[test]
fn second_start_on_same_pid_file_is_refused() {
    let port = free_port();
    let mut s = Server::new();
    s.config(&conf(&[port], 1, ""));
    let master = s.start(port);
    let out = s.run(&[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("already running: master process {master}")),
        "{err}"
    );
    assert_eq!(s.pid(), master, "the pid file still names the first master");
}

#[test]
fn embedded_default_serves_html_when_no_config() {
    // The default listens on 127.0.0.1:8080, which may be busy here, so
    // check what it would do rather than start it.
    let s = Server::new();
    std::fs::remove_dir_all(s.path("conf")).expect("no conf dir");
    let out = s.run(&["-T"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dump = String::from_utf8_lossy(&out.stdout);
    assert!(dump.contains("127.0.0.1:8080"), "{dump}");
    assert!(
        dump.contains(&s.path("html").display().to_string()),
        "{dump}"
    );
}

#[test]
fn listens_on_ipv6_and_ipv4_side_by_side() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("no IPv6 loopback on this machine; nothing to check");
        return;
    }
    let port = free_port();
    let mut s = Server::new();
    s.config(&format!(
        "worker_processes = 1\n[[server]]\nlisten = [\"127.0.0.1:{port}\", \"[::1]:{port}\"]\n"
    ));
    s.start(port);
    let mut c = std::net::TcpStream::connect(("::1", port)).expect("connect over IPv6");
    use std::io::{Read, Write};
    c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("send");
    let mut out = String::new();
    c.read_to_string(&mut out).expect("read");
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
}
