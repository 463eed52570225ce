//! An attacker who controls the environment or can write the pid
//! directory: handover variables that name one fd twice or a socket as the
//! readiness pipe, and symlinks planted where the pid file's temp file
//! would go.

use std::process::Stdio;

use nix::sys::signal::Signal;

use crate::support::{Server, conf, free_port, http, procs, wait_for};

/// A python launcher (not a moltd master) that binds two listeners, `port` and `other`, forks,
/// and in the child execs moltd with `env` (`%(a)d` is `port`'s fd,
/// `%(b)d` `other`'s, `%(parent)d` the launcher's pid, which is the
/// child's parent). The launcher prints the child's exit code when it
/// ends and exits with it.
fn launcher(port: u16, other: u16, env: &str) -> String {
    format!(
        "import os,socket,sys\n\
         def listener(p):\n    s=socket.socket()\n    s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n    s.bind(('127.0.0.1',p))\n    s.listen(16)\n    os.set_inheritable(s.fileno(),True)\n    return s\n\
         a=listener({port}); b=listener({other})\n\
         v={{'a':a.fileno(),'b':b.fileno(),'parent':os.getpid()}}\n\
         for kv in {env:?}.split():\n    k,_,val=kv.partition('=')\n    os.environ[k]=val%v\n\
         pid=os.fork()\n\
         if pid==0:\n    os.execv(os.environ['BIN'],[os.environ['BIN'],'-p',os.environ['PREFIX']])\n\
         _,st=os.waitpid(pid,0)\n\
         print('exit',os.waitstatus_to_exitcode(st),flush=True)\n"
    )
}

fn run_launcher(s: &Server, py: &str) -> std::process::Child {
    std::fs::write(s.path("launch.py"), py).expect("write launcher");
    std::process::Command::new("python3")
        .arg(s.path("launch.py"))
        .current_dir(&s.prefix)
        .env("BIN", &s.bin)
        .env("PREFIX", &s.prefix)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn python3")
}

/// Installs, as the new binary of an upgrade, a python wrapper that
/// rewrites `MOLTD_READY` before it execs the real binary: `twice` names
/// the first `MOLTD` socket again, `socket` a listening socket of its own.
fn hostile_wrapper(s: &Server, mode: &str) {
    let real = s.path("sbin/moltd-real");
    crate::support::install_binary(&crate::support::moltd_bin(), &real);
    crate::support::install_script(
        &s.bin,
        &format!(
            "#!/usr/bin/env python3\n\
             import os,socket,sys\n\
             fds=[t for t in os.environ['MOLTD'].split(';') if t]\n\
             if {mode:?}=='twice':\n    os.environ['MOLTD_READY']=fds[0]\n\
             else:\n    s=socket.socket()\n    s.bind(('127.0.0.1',0))\n    s.listen(1)\n    os.set_inheritable(s.fileno(),True)\n    os.environ['MOLTD_READY']=str(s.fileno())\n\
             os.execv({real:?},[{real:?}]+sys.argv[1:])\n",
            real = real.display().to_string()
        ),
    );
}

fn upgradable(extra: &str) -> (Server, u16, nix::unistd::Pid) {
    let port = free_port();
    let mut s = Server::new();
    s.use_private_binary();
    s.config(&conf(&[port], 1, extra));
    let old = s.start(port);
    (s, port, old)
}

/// Nothing of the old master's was closed: its new workers serve across
/// two reloads (a stolen listener shows as `accept() failed`).
fn serves_across_reloads(s: &Server, old: nix::unistd::Pid, port: u16) {
    for n in 1..=2 {
        s.signal(old, Signal::SIGHUP);
        s.wait_log_count("reload complete", n);
        assert_eq!(http::get(port, "/").expect("GET").status, 200);
    }
    assert!(!s.log().contains("accept() failed"), "{}", s.log());
}

#[test]
fn one_fd_named_as_listener_and_readiness_pipe_is_refused() {
    let (s, port, old) = upgradable("");
    hostile_wrapper(&s, "twice");
    s.signal(old, Signal::SIGUSR2);
    s.wait_log("new binary process");
    s.wait_pid_file(old);
    wait_for("the refusal", || {
        s.launcher_output()
            .contains("is named by both MOLTD and MOLTD_READY")
            .then_some(())
    });
    s.wait_log("exited with code 1");
    serves_across_reloads(&s, old, port);
}

#[test]
fn a_socket_given_as_the_readiness_pipe_is_not_taken() {
    let (mut s, port, old) = upgradable("upgrade_ready_timeout = \"2s\"");
    hostile_wrapper(&s, "socket");
    s.signal(old, Signal::SIGUSR2);
    s.wait_log("is not the write end of a pipe, ignoring");
    let new = wait_for("the new master", || {
        let p = s.read_pid("logs/moltd.pid")?;
        (p != old && procs::alive(p)).then_some(p)
    });
    s.remember(new);
    // It never reports ready on the real pipe: the upgrade is rolled back,
    // and the old master serves on, across reloads.
    s.wait_log("did not become ready");
    s.wait_pid_file(old);
    serves_across_reloads(&s, old, port);
}

#[test]
fn a_readiness_fd_without_a_genuine_upgrade_is_ignored() {
    let (port, other) = (free_port(), free_port());
    let mut s = Server::new();
    s.config(&conf(&[port], 1, ""));
    // MOLTD_PARENT names a process that is not moltd's parent.
    let child = run_launcher(
        &s,
        &launcher(port, other, "MOLTD=%(a)d; MOLTD_READY=%(b)d MOLTD_PARENT=1"),
    );
    s.wait_master();
    wait_for("a 200", || {
        http::get(port, "/").ok().filter(|r| r.status == 200)
    });
    let log = s.log();
    assert!(log.contains("started as a fresh master"), "{log}");
    assert!(!log.contains("readiness fd"), "not even looked at: {log}");
    drop(child);
}

#[test]
fn a_symlink_planted_at_the_pid_files_temp_name_is_not_followed() {
    let port = free_port();
    let mut s = Server::new();
    s.config(&conf(&[port], 1, "daemon = true"));
    std::fs::create_dir_all(s.path("logs")).expect("logs");
    let victim = s.path("victim");
    std::fs::write(&victim, "precious\n").expect("victim");
    // The old temp name was `moltd.pid.tmp<pid>`: plant a link for every
    // pid the daemon may get, and for the new name's prefix.
    let last: i32 = std::fs::read_to_string("/proc/sys/kernel/ns_last_pid")
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0);
    if last > 0 {
        for pid in last + 1..last + 400 {
            let _ =
                std::os::unix::fs::symlink(&victim, s.path(&format!("logs/moltd.pid.tmp{pid}")));
        }
    }
    s.spawn(&[]);
    assert_eq!(s.wait_launcher(), Some(0), "{}", s.launcher_output());
    let master = s.wait_master();
    assert_eq!(
        std::fs::read_to_string(&victim).expect("victim"),
        "precious\n",
        "root did not write through a planted symlink"
    );
    let meta = std::fs::symlink_metadata(s.path("logs/moltd.pid")).expect("pid file");
    assert!(meta.file_type().is_file(), "the pid file is a regular file");
    assert_eq!(s.pid(), master);
    let victim_meta = std::fs::metadata(&victim).expect("victim");
    assert_eq!(victim_meta.len(), 9);
}

#[test]
fn a_leftover_temp_file_of_a_killed_master_is_removed_at_start() {
    let port = free_port();
    let mut s = Server::new();
    s.config(&conf(&[port], 1, ""));
    std::fs::create_dir_all(s.path("logs")).expect("logs");
    // pid_max is at most 2^22: these writers cannot be alive.
    std::fs::write(s.path("logs/moltd.pid.tmp.4194310.0123456789abcdef"), "1\n").expect("tmp");
    std::fs::write(s.path("logs/moltd.pid.tmp4194311"), "1\n").expect("tmp");
    std::fs::write(s.path("logs/moltd.pid.tmp-not-ours"), "x").expect("other");
    s.start(port);
    assert!(
        !s.path("logs/moltd.pid.tmp.4194310.0123456789abcdef")
            .exists()
    );
    assert!(!s.path("logs/moltd.pid.tmp4194311").exists());
    assert!(
        s.path("logs/moltd.pid.tmp-not-ours").exists(),
        "only our names go"
    );
}

#[test]
fn a_forged_config_file_name_is_ignored_outside_an_upgrade() {
    // MOLTD_CONF naming another file, "from" this very launcher's parent:
    // a fresh start is no upgrade, so its own configuration serves.
    let (port, other) = (free_port(), free_port());
    let mut s = Server::new();
    s.config(&conf(&[port], 1, ""));
    std::fs::write(s.path("conf/other.toml"), conf(&[other], 1, "")).expect("other");
    let forged = format!(
        "{}:{}",
        std::process::id(),
        s.path("conf/other.toml").display()
    );
    s.env("MOLTD_CONF", &forged);
    s.start(port);
    assert_eq!(http::get(port, "/").expect("GET").status, 200);
    assert!(http::get(other, "/").is_err(), "the forged file was read");
}
