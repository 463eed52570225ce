use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::MetadataExt;

use nix::sys::signal::Signal;
use nix::unistd::Pid;

use crate::support::{
    self, Server, conf, free_port, http, install_binary, install_script, procs, wait_for,
};

/// A started server running its own copy of the binary (so a test can
/// rename another file over it): the server, its port, the binary's path
/// and the master's pid.
fn upgradable(workers: usize, extra: &str) -> (Server, u16, std::path::PathBuf, Pid) {
    let port = free_port();
    let mut s = Server::new();
    let bin = s.use_private_binary();
    s.config(&conf(&[port], workers, extra));
    let old = s.start(port);
    (s, port, bin, old)
}

/// Sends USR2 to `old` and waits for the new master to be ready; returns it.
fn usr2_and_wait(s: &mut Server, old: Pid) -> Pid {
    let ready_before = s.log().matches("is ready").count();
    s.signal(old, Signal::SIGUSR2);
    let new = wait_for("a new pid in the pid file", || {
        let p = s.read_pid("logs/moltd.pid")?;
        (p != old && procs::alive(p)).then_some(p)
    });
    s.remember(new);
    s.wait_log_count("is ready", ready_before + 1);
    assert!(
        s.log()
            .contains(&format!("new binary process {new} is ready")),
        "{}",
        s.log()
    );
    new
}

#[test]
fn upgrade_then_commit_runs_the_binary_on_disk() {
    let (mut s, port, bin, old) = upgradable(2, "");
    let old_workers = s.wait_workers(old, 2);

    // Replace the binary the way a package upgrade does.
    install_binary(&support::moltd_bin(), &bin);
    let new = usr2_and_wait(&mut s, old);

    assert_eq!(s.read_pid("logs/moltd.pid.oldbin"), Some(old));
    assert_eq!(
        procs::ppid(new),
        Some(old),
        "the new master is the old one's child"
    );
    assert!(procs::title(new).starts_with("moltd: master process "));
    let on_disk = std::fs::metadata(&bin).expect("binary").ino();
    let new_exe = std::fs::metadata(format!("/proc/{new}/exe"))
        .expect("new exe")
        .ino();
    let old_exe = std::fs::metadata(format!("/proc/{old}/exe"))
        .expect("old exe")
        .ino();
    assert_eq!(new_exe, on_disk, "the new master runs the file on disk now");
    assert_ne!(
        old_exe, on_disk,
        "the old master still runs the replaced inode"
    );
    let log = s.log();
    assert!(log.contains("(SIGUSR2) received from"), "{log}");
    assert!(log.contains("changing binary"), "{log}");
    assert!(
        log.contains(&format!("start new binary process {new}")),
        "{log}"
    );
    assert!(
        log.contains(&format!("{new}#0: using inherited sockets from \"")),
        "{log}"
    );
    let new_workers = s.wait_workers(new, 2);

    s.signal(old, Signal::SIGWINCH);
    for w in &old_workers {
        s.wait_gone(*w);
    }
    assert!(procs::alive(old), "the old master stays for a rollback");
    assert_eq!(http::get(port, "/").expect("GET after WINCH").status, 200);

    s.signal(old, Signal::SIGQUIT);
    s.wait_gone(old);
    assert!(
        !s.path("logs/moltd.pid.oldbin").exists(),
        ".oldbin removed by the old master"
    );
    assert_eq!(s.pid(), new);
    assert_ne!(procs::ppid(new), Some(old));
    assert_eq!(procs::workers_of(new).len(), new_workers.len());
    assert_eq!(http::get(port, "/").expect("GET after commit").status, 200);

    // With the old master gone, the new one accepts USR2 itself.
    let newer = usr2_and_wait(&mut s, new);
    assert_eq!(s.read_pid("logs/moltd.pid.oldbin"), Some(new));
    assert_eq!(procs::ppid(newer), Some(new));
}

#[test]
fn upgrade_then_rollback_with_hup_old_and_quit_new() {
    let (mut s, port, _bin, old) = upgradable(2, "");
    let new = usr2_and_wait(&mut s, old);
    s.signal(old, Signal::SIGWINCH);
    s.wait_workers(old, 0);

    s.signal(old, Signal::SIGHUP);
    s.wait_workers(old, 2);
    s.signal(new, Signal::SIGQUIT);
    s.wait_gone(new);
    s.wait_log(&format!("new binary process {new} exited with code 0"));
    s.wait_pid_file(old);
    assert!(!s.path("logs/moltd.pid.oldbin").exists());
    assert_eq!(procs::workers_of(old).len(), 2, "no doubled workers");
    assert_eq!(http::get(port, "/").expect("GET").status, 200);
}

#[test]
fn upgrade_rollback_when_new_master_dies() {
    let (mut s, port, _bin, old) = upgradable(2, "");
    let new = usr2_and_wait(&mut s, old);
    let new_workers = s.wait_workers(new, 2);
    s.signal(old, Signal::SIGWINCH);
    s.wait_workers(old, 0);

    s.signal(new, Signal::SIGKILL);
    s.wait_log(&format!("new binary process {new} exited on signal 9"));
    // The old master takes the pid file back and restarts its workers.
    s.wait_pid_file(old);
    s.wait_workers(old, 2);
    for w in new_workers {
        s.wait_gone(w);
    }
    wait_for("a 200 from the old master", || {
        http::get(port, "/").ok().filter(|r| r.status == 200)
    });
}

#[test]
fn new_binary_that_exits_at_once_rolls_back() {
    let (mut s, port, bin, old) = upgradable(1, "");
    install_script(&bin, "#!/bin/sh\nexit 1\n");
    s.signal(old, Signal::SIGUSR2);
    s.wait_log("exited with code 1");
    assert!(s.log().contains("new binary process"), "{}", s.log());
    s.wait_pid_file(old);
    assert!(!s.path("logs/moltd.pid.oldbin").exists());
    assert_eq!(http::get(port, "/").expect("GET").status, 200);
    // And a later, good upgrade still works.
    install_binary(&support::moltd_bin(), &bin);
    usr2_and_wait(&mut s, old);
}

#[test]
fn missing_or_unexecutable_binary_keeps_old_master() {
    let (mut s, port, bin, old) = upgradable(1, "");

    std::fs::remove_file(&bin).expect("remove binary");
    s.signal(old, Signal::SIGUSR2);
    s.wait_log("execve() failed while executing new binary process");
    assert!(
        s.log().contains("(2: No such file or directory)"),
        "{}",
        s.log()
    );
    assert_eq!(s.read_pid("logs/moltd.pid"), Some(old));
    assert!(!s.path("logs/moltd.pid.oldbin").exists());

    std::fs::write(&bin, "not a program").expect("write");
    s.signal(old, Signal::SIGUSR2);
    s.wait_log("(13: Permission denied)");
    assert_eq!(s.read_pid("logs/moltd.pid"), Some(old));
    assert!(!s.path("logs/moltd.pid.oldbin").exists());
    assert_eq!(http::get(port, "/").expect("GET").status, 200);
    // The master is not stuck in an upgrade: a good binary upgrades.
    install_binary(&support::moltd_bin(), &bin);
    usr2_and_wait(&mut s, old);
}

#[test]
fn new_binary_with_broken_config_rolls_back() {
    let (s, port, _bin, old) = upgradable(1, "");
    s.config("worker_processes = \"lots\"\n");
    s.signal(old, Signal::SIGUSR2);
    s.wait_log("exited with code 1");
    let log = s.log();
    assert!(
        log.contains("worker_processes"),
        "the new master's error reaches the log: {log}"
    );
    s.wait_pid_file(old);
    assert_eq!(http::get(port, "/").expect("GET").status, 200);
}

#[test]
fn a_config_file_moved_away_fails_reload_and_upgrade_instead_of_the_default() {
    // Found by default (no -c) at start: from then on it is the file, so
    // its absence is an error, never the built-in default on :8080.
    let (s, port, _bin, old) = upgradable(1, "");
    std::fs::rename(s.path("conf/moltd.toml"), s.path("conf/moltd.toml.bak")).expect("mv");
    s.signal(old, Signal::SIGHUP);
    s.wait_log("could not read the configuration file");
    assert!(s.log().contains("conf/moltd.toml"), "{}", s.log());
    assert_eq!(http::get(port, "/").expect("GET").status, 200);

    s.signal(old, Signal::SIGUSR2);
    s.wait_log_count("could not read the configuration file", 2);
    s.wait_pid_file(old);
    assert!(procs::alive(old));
    assert_eq!(http::get(port, "/").expect("GET").status, 200);

    // Back in place: the upgrade goes through.
    std::fs::rename(s.path("conf/moltd.toml.bak"), s.path("conf/moltd.toml")).expect("mv back");
    let mut s = s;
    let new = usr2_and_wait(&mut s, old);
    assert_ne!(new, old);
    assert_eq!(http::get(port, "/").expect("GET").status, 200);
}

#[test]
fn usr2_during_upgrade_is_ignored() {
    let (mut s, _port, _bin, old) = upgradable(1, "");
    let new = usr2_and_wait(&mut s, old);
    s.signal(old, Signal::SIGUSR2);
    s.wait_log_count("the changing binary signal is ignored", 1);
    s.signal(new, Signal::SIGUSR2);
    s.wait_log_count("the changing binary signal is ignored", 2);
    let log = s.log();
    assert!(
        log.contains("(SIGUSR2) received from") && log.contains(", ignoring"),
        "{log}"
    );
    assert!(procs::masters_under(old) == vec![new]);
    assert!(procs::masters_under(new).is_empty());
    assert_eq!(s.read_pid("logs/moltd.pid.oldbin"), Some(old));
    assert_eq!(s.pid(), new);
}

#[test]
fn upgrade_adds_and_drops_listens_by_address() {
    let a = free_port();
    let b = free_port();
    let mut s = Server::new();
    s.use_private_binary();
    s.config(&conf(&[a], 1, ""));
    let old = s.start(a);
    s.config(&conf(&[b], 1, ""));
    let new = usr2_and_wait(&mut s, old);
    assert_eq!(
        http::get(b, "/").expect("GET b").status,
        200,
        "the new master bound the new listen"
    );
    assert_eq!(
        http::get(a, "/").expect("GET a").status,
        200,
        "the old master keeps serving a"
    );
    let fds_of = |pid: Pid| -> usize {
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .map(|d| {
                d.flatten()
                    .filter(|e| {
                        std::fs::read_link(e.path())
                            .is_ok_and(|l| l.to_string_lossy().starts_with("socket:"))
                    })
                    .count()
            })
            .unwrap_or(0)
    };
    assert_eq!(
        fds_of(new),
        1,
        "the new master closed the inherited socket it does not use"
    );
    s.signal(old, Signal::SIGQUIT);
    s.wait_gone(old);
    wait_for("port a to close", || (!support::connects(a)).then_some(()));
    assert_eq!(http::get(b, "/").expect("GET b").status, 200);
}

#[test]
fn upgrade_in_flight_request_completes() {
    let port = free_port();
    let mut s = Server::new();
    s.use_private_binary();
    s.config(&conf(&[port], 1, ""));
    let big: Vec<u8> = (0..8 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(s.path("html/big.bin"), &big).expect("write big file");
    let old = s.start(port);
    let old_worker = s.wait_workers(old, 1)[0];

    let mut conn = http::connect(port).expect("connect");
    conn.write_all(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("send");
    let mut r = BufReader::new(conn);
    let mut line = String::new();
    r.read_line(&mut line).expect("status");
    assert!(line.contains("200"), "{line}");
    loop {
        line.clear();
        r.read_line(&mut line).expect("header");
        if line == "\r\n" {
            break;
        }
    }
    let mut got = vec![0u8; 64 * 1024];
    r.read_exact(&mut got).expect("first chunk");

    let new = usr2_and_wait(&mut s, old);
    s.signal(old, Signal::SIGWINCH);
    s.wait_log(&format!("{old_worker}#0: gracefully shutting down"));
    assert!(
        procs::alive(old_worker),
        "the old worker waits for the download"
    );
    let mut rest = Vec::new();
    r.read_to_end(&mut rest).expect("rest of the body");
    got.extend(rest);
    assert_eq!(got.len(), big.len());
    assert!(got == big, "body intact");
    s.wait_gone(old_worker);
    s.signal(old, Signal::SIGQUIT);
    s.wait_gone(old);
    assert_eq!(s.pid(), new);
}

#[test]
fn upgrade_works_for_a_daemon() {
    let port = free_port();
    let mut s = Server::new();
    s.use_private_binary();
    s.config(&conf(&[port], 1, "daemon = true"));
    s.spawn(&[]);
    assert_eq!(s.wait_launcher(), Some(0));
    let old = s.wait_master();
    let new = usr2_and_wait(&mut s, old);
    assert_eq!(
        procs::ppid(new),
        Some(old),
        "an upgraded master does not daemonize again"
    );
    s.signal(old, Signal::SIGWINCH);
    s.wait_workers(old, 0);
    s.signal(old, Signal::SIGQUIT);
    s.wait_gone(old);
    assert_eq!(http::get(port, "/").expect("GET").status, 200);
    assert_eq!(s.pid(), new);
}

#[test]
fn hup_to_the_old_master_during_upgrade_neither_rereads_nor_doubles() {
    let (mut s, port, _bin, old) = upgradable(2, "");
    let old_workers = s.wait_workers(old, 2);
    let new = usr2_and_wait(&mut s, old);
    // The file on disk now says 3 workers; the old master must not read it.
    s.config(&conf(&[port], 3, ""));
    s.signal(old, Signal::SIGHUP);
    s.wait_log_count("start worker processes", 1);
    let mut now = procs::workers_of(old);
    now.sort();
    let mut want = old_workers.clone();
    want.sort();
    assert_eq!(now, want, "no extra workers, no reload");
    assert!(
        !s.log().contains(&format!("{old}#0: reconfiguring")),
        "{}",
        s.log()
    );
    // Roll back: the old master serves with its config in memory.
    s.signal(new, Signal::SIGQUIT);
    s.wait_gone(new);
    s.wait_pid_file(old);
    assert_eq!(procs::workers_of(old).len(), 2);
    assert_eq!(http::get(port, "/").expect("GET").status, 200);
}

/// Every fd above stderr of `pid`, with whether it is close-on-exec.
fn fds_with_cloexec(pid: Pid) -> Vec<(i32, bool, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("fd dir")
        .flatten()
    {
        let Some(fd) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if fd <= 2 {
            continue;
        }
        let target = std::fs::read_link(e.path())
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let Some(cloexec) = procs::is_cloexec(pid, fd) else {
            continue;
        };
        out.push((fd, cloexec, target));
    }
    out
}

#[test]
fn no_fd_but_the_handover_crosses_an_exec() {
    let (mut s, _port, _bin, old) = upgradable(1, "");
    let new = usr2_and_wait(&mut s, old);
    for pid in [old, new] {
        let fds = fds_with_cloexec(pid);
        assert!(!fds.is_empty());
        for (fd, cloexec, target) in &fds {
            assert!(
                cloexec,
                "master {pid}: fd {fd} ({target}) is not close-on-exec: {fds:?}"
            );
        }
    }
    let sockets = |pid| {
        fds_with_cloexec(pid)
            .into_iter()
            .filter(|(_, _, t)| t.starts_with("socket:"))
            .count()
    };
    assert_eq!(
        sockets(new),
        1,
        "one listener, nothing else leaked: {:?}",
        fds_with_cloexec(new)
    );
}

#[test]
fn term_to_the_old_master_during_upgrade_leaves_the_new_one_serving() {
    let (mut s, port, _bin, old) = upgradable(1, "");
    let new = usr2_and_wait(&mut s, old);
    s.signal(old, Signal::SIGTERM);
    s.wait_gone(old);
    assert!(!s.path("logs/moltd.pid.oldbin").exists());
    assert_eq!(s.pid(), new);
    assert!(procs::alive(new));
    assert_eq!(http::get(port, "/").expect("GET").status, 200);
}

#[test]
fn a_new_binary_that_hangs_is_stopped_and_rolled_back() {
    let (mut s, port, bin, old) = upgradable(1, "upgrade_ready_timeout = \"1s\"");
    install_script(&bin, "#!/bin/sh\nexec sleep 120\n");
    s.signal(old, Signal::SIGUSR2);
    s.wait_log("did not become ready within 1000ms, stopping it");
    s.wait_log("exited on signal 15");
    s.wait_pid_file(old);
    assert!(!s.path("logs/moltd.pid.oldbin").exists());
    assert_eq!(http::get(port, "/").expect("GET").status, 200);
    install_binary(&support::moltd_bin(), &bin);
    usr2_and_wait(&mut s, old);
}

#[test]
fn usr2_is_refused_for_process_1_of_a_namespace() {
    let probe = std::process::Command::new("unshare")
        .args(["-fp", "--mount-proc", "true"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        eprintln!("cannot create a PID namespace here (needs root and unshare); nothing to check");
        return;
    }
    let port = free_port();
    let mut s = Server::new();
    s.config(&conf(&[port], 1, ""));
    let bin = s.bin.clone();
    let prefix = s.prefix.clone();
    let child = std::process::Command::new("unshare")
        .args(["-fp", "--mount-proc"])
        .arg(&bin)
        .arg("-p")
        .arg(&prefix)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("unshare");
    s.remember(Pid::from_raw(child.id() as i32));
    wait_for("a 200", || {
        http::get(port, "/").ok().filter(|r| r.status == 200)
    });
    // The pid file holds the namespace pid (1); find the host pid.
    let host_pid = wait_for("the master's host pid", || {
        procs::descendants(Pid::from_raw(child.id() as i32))
            .into_iter()
            .find(|p| procs::title(*p).starts_with("moltd: master process"))
    });
    s.remember(host_pid);
    s.signal(host_pid, Signal::SIGUSR2);
    s.wait_log("this master is process 1 of its namespace");
    assert!(
        procs::masters_under(host_pid).is_empty(),
        "no new binary started"
    );
    assert_eq!(http::get(port, "/").expect("GET").status, 200);
    std::mem::forget(child);
}
