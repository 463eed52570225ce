use nix::sys::signal::Signal;

use crate::support::{Server, conf, free_port, procs};

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn t_reports_ok_and_touches_no_pid_file() {
    let s = Server::new();
    s.config(&conf(&[free_port()], 1, ""));
    let o = s.run(&["-t"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let conf_path = s.path("conf/moltd.toml").display().to_string();
    assert!(stderr(&o).contains(&format!(
        "moltd: the configuration file {conf_path} syntax is ok"
    )));
    assert!(stderr(&o).contains(&format!(
        "moltd: configuration file {conf_path} test is successful"
    )));
    assert!(
        !s.path("logs/moltd.pid").exists(),
        "-t never creates the pid file"
    );
}

#[test]
fn t_reports_errors_with_file_line_and_key() {
    let s = Server::new();
    s.config("worker_processes = 2\n\n[[server]]\nlisten = [\"127.0.0.1:80800\"]\n");
    let o = s.run(&["-t"]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(e.contains("moltd: [emerg]"), "{e}");
    assert!(
        e.contains("127.0.0.1:80800") && e.contains("\"listen\"") && e.contains("moltd.toml:4"),
        "{e}"
    );
    assert!(e.contains("test failed"), "{e}");

    s.config("[[server]]\nlisten = [\"127.0.0.1:1\"]\ntypo_key = true\n");
    let e = stderr(&s.run(&["-t"]));
    assert!(e.contains("typo_key") && e.contains("moltd.toml:3"), "{e}");

    let o = s.run(&["-t", "-c", "conf/missing.toml"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("missing.toml"), "{}", stderr(&o));
}

#[test]
fn t_fails_on_an_address_this_host_does_not_have() {
    let s = Server::new();
    s.config("[[server]]\nlisten = [\"192.0.2.1:8080\"]\n");
    let o = s.run(&["-t"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("bind() to 192.0.2.1:8080 failed (99:"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn capital_t_dumps_the_configuration() {
    let s = Server::new();
    let port = free_port();
    s.config(&conf(&[port], 3, "# a comment operators wrote"));
    let o = s.run(&["-T"]);
    assert_eq!(o.status.code(), Some(0));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains(&format!(
            "# configuration file {}:",
            s.path("conf/moltd.toml").display()
        )),
        "{out}"
    );
    assert!(out.contains("# a comment operators wrote"), "{out}");
    assert!(out.contains("worker_processes = 3"), "{out}");
    assert!(
        out.contains(&format!("pid = \"{}\"", s.path("logs/moltd.pid").display())),
        "{out}"
    );
}

#[test]
fn s_signals_the_master_even_with_a_broken_config() {
    let port = free_port();
    let mut s = Server::new();
    s.config(&conf(&[port], 1, ""));
    let master = s.start(port);
    let o = s.run(&["-s", "reopen"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    s.wait_log("(SIGUSR1) received from");
    let o = s.run(&["-s", "reload"]);
    assert_eq!(o.status.code(), Some(0));
    s.wait_log("(SIGHUP) received from");

    s.config("this is = = not toml\n");
    // Except a reload: the master would refuse that configuration, so
    // `-s reload` says so and fails without signalling (as nginx's).
    let o = s.run(&["-s", "reload"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("test failed"), "{}", stderr(&o));
    assert!(stderr(&o).contains("moltd.toml:1"), "{}", stderr(&o));
    assert_eq!(s.log().matches("(SIGHUP) received from").count(), 1);
    let o = s.run(&["-s", "stop"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("using the pid file"), "{}", stderr(&o));
    s.wait_gone(master);
    assert!(!procs::alive(master));
    // Nor with the file moved away (a deploy): nothing to reload.
    std::fs::remove_file(s.path("conf/moltd.toml")).expect("rm");
    let o = s.run(&["-s", "reload"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("no configuration file to reload"),
        "{}",
        stderr(&o)
    );
    assert_eq!(s.log().matches("(SIGHUP) received from").count(), 1);
}

#[test]
fn s_quit_and_custom_pid_path() {
    let port = free_port();
    let mut s = Server::new();
    s.config(&conf(&[port], 1, "pid = \"run/m.pid\""));
    s.spawn(&[]);
    let master = crate::support::wait_for("run/m.pid", || s.read_pid("run/m.pid"));
    s.remember(master);
    let o = s.run(&["-s", "quit"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    s.wait_gone(master);
    assert!(s.log().contains("(SIGQUIT) received from"));
}

#[test]
fn s_without_a_running_master_fails_clearly() {
    let s = Server::new();
    s.config(&conf(&[free_port()], 1, ""));
    let o = s.run(&["-s", "reload"]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.contains("open() \"") && e.contains("moltd.pid\" failed (2: No such file or directory)"),
        "{e}"
    );

    std::fs::create_dir_all(s.path("logs")).expect("logs");
    std::fs::write(s.path("logs/moltd.pid"), "").expect("empty pid file");
    let e = stderr(&s.run(&["-s", "reload"]));
    assert!(e.contains("invalid PID number \"\""), "{e}");

    std::fs::write(s.path("logs/moltd.pid"), "999999999\n").expect("dead pid");
    let o = s.run(&["-s", "stop"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("No such process"), "{}", stderr(&o));

    let o = s.run(&["-s", "restart"]);
    assert_ne!(o.status.code(), Some(0));
}

#[test]
fn v_and_capital_v_print_the_version() {
    let s = Server::new();
    let o = s.run(&["-v"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(
        stderr(&o).starts_with("moltd version: moltd/"),
        "{}",
        stderr(&o)
    );
    let o = s.run(&["-V"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("built for"), "{}", stderr(&o));
    let o = s.run(&["-x"]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn sigterm_via_s_stop_is_fast() {
    let port = free_port();
    let mut s = Server::new();
    s.config(&conf(&[port], 2, ""));
    let master = s.start(port);
    assert_eq!(s.run(&["-s", "stop"]).status.code(), Some(0));
    s.wait_gone(master);
    assert!(
        s.log()
            .contains(&format!("signal {} (SIGTERM)", Signal::SIGTERM as i32))
    );
}

#[test]
fn t_checks_the_pid_path_without_creating_the_file() {
    let s = Server::new();
    s.config(&conf(&[free_port()], 1, "pid = \"html/index.html/x.pid\""));
    let o = s.run(&["-t"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("(20: Not a directory)"),
        "{}",
        stderr(&o)
    );
    s.config(&conf(&[free_port()], 1, "pid = \"run/sub/m.pid\""));
    let o = s.run(&["-t"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        !s.path("run/sub/m.pid").exists(),
        "-t never creates the pid file"
    );
    assert_eq!(
        std::fs::read_dir(s.path("run/sub")).expect("dir").count(),
        0,
        "no probe left behind"
    );
}

#[test]
fn bad_options_read_like_nginx() {
    let s = Server::new();
    for args in [&["foo"][..], &["-s", "restart"], &["-x"]] {
        let o = s.run(args);
        assert_eq!(o.status.code(), Some(1));
        assert!(
            stderr(&o).starts_with("moltd: invalid option: "),
            "{args:?}: {}",
            stderr(&o)
        );
    }
}

#[test]
fn the_shipped_configuration_is_valid() {
    let s = Server::new();
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("conf/moltd.toml");
    let o = s.run(&["-t", "-c", shipped.to_str().expect("utf-8 path")]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn s_never_signals_a_process_that_is_not_a_moltd_master() {
    let s = Server::new();
    s.config(&conf(&[free_port()], 1, ""));
    let mut victim = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .expect("sleep");
    std::fs::create_dir_all(s.path("logs")).expect("logs");
    std::fs::write(s.path("logs/moltd.pid"), format!("{}\n", victim.id())).expect("stale pid file");
    let o = s.run(&["-s", "stop"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("is not a moltd master"),
        "{}",
        stderr(&o)
    );
    assert!(
        victim.try_wait().expect("wait").is_none(),
        "the unrelated process lives"
    );
    let _ = victim.kill();
    let _ = victim.wait();
}
