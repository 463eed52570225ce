use crate::support::{Server, conf, free_port, http, procs, wait_for};

/// Starts moltd through `sh -c SCRIPT` (so the script can open fds and set
/// variables first) and waits for it to serve on `port`.
fn start_via_shell(s: &mut Server, script: &str, port: u16) {
    s.launch("sh", &["-c", script]);
    s.wait_master();
    wait_for("a 200", || {
        http::get(port, "/").ok().filter(|r| r.status == 200)
    });
}

#[test]
fn garbage_in_moltd_is_logged_and_ignored() {
    for (value, needle) in [
        (
            "abc;",
            "invalid socket number \"abc;\" in MOLTD environment variable",
        ),
        (
            "7",
            "invalid socket number \"7\" in MOLTD environment variable, ignoring",
        ),
        ("999;", "getsockname() of the inherited socket #999 failed"),
        ("1;", "the inherited socket #1 is a standard stream"),
    ] {
        let port = free_port();
        let mut s = Server::new();
        s.config(&conf(&[port], 1, ""));
        start_via_shell(
            &mut s,
            &format!("MOLTD='{value}' exec \"$BIN\" -p \"$PREFIX\""),
            port,
        );
        let log = s.log();
        assert!(log.contains(needle), "{value}: {log}");
        assert!(
            log.contains(&format!("using inherited sockets from \"{value}\"")),
            "{log}"
        );
    }
}

#[test]
fn an_inherited_fd_that_is_not_a_listener_is_refused() {
    let port = free_port();
    let mut s = Server::new();
    s.config(&conf(&[port], 1, ""));
    start_via_shell(
        &mut s,
        "exec 5<conf/moltd.toml; MOLTD='5;' exec \"$BIN\" -p \"$PREFIX\"",
        port,
    );
    let master = s.pid();
    assert!(
        s.log().contains(
            "getsockname() of the inherited socket #5 failed (88: Socket operation on non-socket)"
        ),
        "{}",
        s.log()
    );
    // Left alone (it is not ours to close), but it cannot leak into a new
    // binary or a worker.
    if let Some(cloexec) = procs::is_cloexec(master, 5) {
        assert!(cloexec, "close-on-exec set on the refused fd");
    }
    let w = s.wait_workers(master, 1)[0];
    assert!(
        std::fs::read_link(format!("/proc/{w}/fd/5")).map_or(true, |l| !l.ends_with("moltd.toml"))
    );
}

#[test]
fn a_listening_socket_from_a_foreign_parent_is_adopted_by_address() {
    let port = free_port();
    let mut s = Server::new();
    s.config(&conf(&[port], 1, ""));
    let py = format!(
        "import os,socket\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind(('127.0.0.1',{port}))\ns.listen(16)\nos.set_inheritable(s.fileno(),True)\nos.environ['MOLTD']='%d;'%s.fileno()\nos.execv(os.environ['BIN'],[os.environ['BIN'],'-p',os.environ['PREFIX']])\n"
    );
    std::fs::write(s.path("adopt.py"), py).expect("write script");
    start_via_shell(&mut s, "exec python3 adopt.py", port);
    let master = s.pid();
    assert!(procs::title(master).starts_with("moltd: master process"));
    assert!(
        s.log().contains("using inherited sockets from"),
        "{}",
        s.log()
    );
    assert!(!s.log().contains("bind()"), "{}", s.log());
}

#[test]
fn systemd_listen_fds_are_adopted() {
    let port = free_port();
    let mut s = Server::new();
    s.config(&conf(&[port], 1, ""));
    let py = format!(
        "import os,socket\ns=socket.socket()\ns.bind(('127.0.0.1',{port}))\ns.listen(16)\nos.dup2(s.fileno(),3)\nos.environ['LISTEN_FDS']='1'\nos.environ['LISTEN_PID']=str(os.getpid())\nos.execv(os.environ['BIN'],[os.environ['BIN'],'-p',os.environ['PREFIX']])\n"
    );
    std::fs::write(s.path("systemd.py"), py).expect("write script");
    start_via_shell(&mut s, "exec python3 systemd.py", port);
    assert!(s.log().contains("from systemd (LISTEN_FDS)"), "{}", s.log());
}

#[test]
fn a_stray_moltd_variable_does_not_disable_upgrades() {
    let port = free_port();
    let mut s = Server::new();
    s.use_private_binary();
    s.config(&conf(&[port], 1, ""));
    start_via_shell(
        &mut s,
        "MOLTD=/usr/local/bin/moltd exec \"$BIN\" -p \"$PREFIX\"",
        port,
    );
    let master = s.pid();
    assert!(s.log().contains("started as a fresh master"), "{}", s.log());
    s.signal(master, nix::sys::signal::Signal::SIGUSR2);
    s.wait_log("is ready");
    assert!(
        !s.log().contains("the changing binary signal is ignored"),
        "{}",
        s.log()
    );
}
