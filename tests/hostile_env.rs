//! An attacker who controls the environment or can write the pid
//! directory: handover variables that name one fd twice or a socket as the
//! readiness pipe, and symlinks planted where the pid file's temp file
//! would go.

use std::process::Stdio;

use nix::sys::signal::Signal;

use crate::support::{Server, conf, free_port, http, procs, wait_for};

/// A python launcher that binds two listeners, `port` and `other`, forks,
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

#[test]
fn one_fd_named_as_listener_and_readiness_pipe_is_refused() {
    let (port, other) = (free_port(), free_port());
    let s = Server::new();
    s.config(&conf(&[port], 1, ""));
    let child = run_launcher(
        &s,
        &launcher(
            port,
            other,
            "MOLTD=%(a)d; MOLTD_READY=%(a)d MOLTD_PARENT=%(parent)d",
        ),
    );
    // Today's failure mode is a master that starts anyway: give it a
    // bounded time to refuse, then clean up and fail.
    let mut child = child;
    let launcher_pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let end = std::time::Instant::now() + crate::support::DEADLINE;
    while child.try_wait().expect("try_wait").is_none() {
        if std::time::Instant::now() > end {
            for p in procs::descendants(launcher_pid) {
                let _ = nix::sys::signal::kill(p, Signal::SIGKILL);
            }
            panic!("moltd started on a handover that names one fd twice");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("launcher");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("exit 1"), "moltd refused to start: {text}");
    assert!(
        text.contains("is named by both MOLTD and MOLTD_READY"),
        "the error names the problem: {text}"
    );
}

#[test]
fn a_socket_given_as_the_readiness_pipe_is_not_taken() {
    let (port, other) = (free_port(), free_port());
    let mut s = Server::new();
    s.config(&conf(&[port], 1, ""));
    let child = run_launcher(
        &s,
        &launcher(
            port,
            other,
            "MOLTD=%(a)d; MOLTD_READY=%(b)d MOLTD_PARENT=%(parent)d",
        ),
    );
    let launcher_pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let master = s.wait_master();
    assert_eq!(procs::ppid(master), Some(launcher_pid));
    wait_for("a 200", || {
        http::get(port, "/").ok().filter(|r| r.status == 200)
    });
    s.wait_log("is not the write end of a pipe, ignoring");
    // The listener stays ours and open across reloads: the new workers
    // serve, the old ones are told to quit only after.
    for n in 1..=2 {
        s.signal(master, Signal::SIGHUP);
        s.wait_log_count("reload complete", n);
        let r = http::get(port, "/").expect("GET after HUP");
        assert_eq!(r.status, 200);
    }
    assert!(!s.log().contains("accept() failed"), "{}", s.log());
    drop(child);
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
