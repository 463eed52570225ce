use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::{self, JoinHandle};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::support::{
    self, Server, conf, free_port, http, install_binary, install_script, procs, wait_for,
};

/// Keep-alive clients requesting `/` back to back: any status but 200 or
/// any socket error is a failed request.
struct Load {
    stop: Arc<AtomicBool>,
    total: Arc<AtomicUsize>,
    clients: Vec<JoinHandle<Result<usize, String>>>,
}

impl Load {
    fn start(port: u16) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let total = Arc::new(AtomicUsize::new(0));
        let clients = (0..2)
            .map(|_| {
                let (stop, total) = (Arc::clone(&stop), Arc::clone(&total));
                thread::spawn(move || {
                    let mut c = http::KeepAlive::new(port);
                    let mut n = 0;
                    while !stop.load(Ordering::Relaxed) {
                        match c.get("/") {
                            Ok(r) if r.status == 200 => {}
                            Ok(r) => return Err(format!("request {n}: status {}", r.status)),
                            Err(e) => return Err(format!("request {n}: {e}")),
                        }
                        n += 1;
                        total.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(n)
                })
            })
            .collect();
        let load = Load {
            stop,
            total,
            clients,
        };
        wait_for("the clients to get going", || {
            (load.total.load(Ordering::Relaxed) > 50).then_some(())
        });
        load
    }

    /// Stops the clients; panics on any failed request.
    fn finish(self) {
        self.stop.store(true, Ordering::Relaxed);
        for c in self.clients {
            let r = c.join().expect("client thread");
            assert!(r.is_ok(), "a request failed during the upgrade: {r:?}");
        }
    }
}

/// `moltd -s upgrade ARGS --json` with the test binary (whatever the
/// server's own binary has become), in the background.
fn upgrade_cmd(s: &Server, args: &[&str]) -> Child {
    Command::new(support::moltd_bin())
        .arg("-p")
        .arg(&s.prefix)
        .args(["-s", "upgrade", "--json"])
        .args(args)
        .current_dir(&s.prefix)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn -s upgrade")
}

/// The exit code, the JSON result line and stderr.
fn outcome(out: Output) -> (i32, String, String) {
    let json = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code().unwrap_or(-1), json, err)
}

/// Exactly one master serves `port`: `master`, named by the pid file, with
/// no `.oldbin` left, and every other master gone.
fn one_master(s: &Server, port: u16, master: Pid, others: &[Pid]) {
    for p in others {
        s.wait_gone(*p);
    }
    assert!(procs::alive(master));
    assert_eq!(s.read_pid("logs/moltd.pid"), Some(master));
    assert!(!s.path("logs/moltd.pid.oldbin").exists(), ".oldbin left");
    assert_eq!(http::get(port, "/").map(|r| r.status).ok(), Some(200));
}

fn started(workers: usize, extra: &str) -> (Server, u16, Pid) {
    let port = free_port();
    let mut s = Server::new();
    s.use_private_binary();
    s.config(&conf(&[port], workers, extra));
    let old = s.start(port);
    s.wait_workers(old, workers);
    (s, port, old)
}

/// Waits for the new master, serving, with the old one's workers stopped
/// (the canary window); returns it.
fn wait_canary(s: &mut Server, old: Pid) -> Pid {
    let new = wait_for("the new master", || {
        let p = s.read_pid("logs/moltd.pid")?;
        (p != old && procs::alive(p)).then_some(p)
    });
    s.remember(new);
    wait_for("the old workers to stop", || {
        procs::workers_of(old)
            .iter()
            .all(|w| procs::title(*w) != "moltd: worker process")
            .then_some(())
    });
    new
}

#[test]
fn a_good_binary_is_committed_with_no_failed_request() {
    let (mut s, port, old) = started(2, "");
    let load = Load::start(port);
    install_binary(&support::moltd_bin(), &s.bin);
    let probes = ["--probe", "/other/page.txt", "--probe", "/missing"];
    let cmd = upgrade_cmd(&s, &[&["--canary", "1s"][..], &probes].concat());
    let (code, json, err) = outcome(cmd.wait_with_output().expect("wait"));
    assert_eq!(code, 0, "{json}\n{err}");
    // A probe that already fails is worth a word; one that works is not.
    assert!(
        err.contains("warning: --probe /missing answers 404"),
        "{err}"
    );
    assert!(!err.contains("--probe /other/page.txt answers"), "{err}");
    assert!(json.contains("\"result\":\"committed\""), "{json}");
    for step in ["usr2", "ready", "winch", "probe-new", "canary", "commit"] {
        assert!(
            json.contains(&format!("\"step\":\"{step}\"")),
            "{step}: {json}"
        );
    }
    let new = s.read_pid("logs/moltd.pid").expect("pid file");
    s.remember(new);
    assert_ne!(new, old);
    one_master(&s, port, new, &[old]);
    load.finish();
}

#[test]
fn a_binary_that_exits_at_once_is_rolled_back() {
    let (s, port, old) = started(1, "");
    let load = Load::start(port);
    install_script(&s.bin, "#!/bin/sh\nexit 1\n");
    let (code, json, err) = outcome(upgrade_cmd(&s, &[]).wait_with_output().expect("wait"));
    assert_eq!(code, 2, "{json}\n{err}");
    assert!(json.contains("\"result\":\"rolled_back\""), "{json}");
    assert!(json.contains("\"failed_step\":\"usr2\""), "{json}");
    one_master(&s, port, old, &[]);
    load.finish();
}

#[test]
fn a_failure_is_read_through_an_error_log_root_linked() {
    // logs/error.log a link root made (to a file elsewhere in its own
    // directory): followed, as the master follows it, and the reason read.
    let port = free_port();
    let mut s = Server::new();
    s.use_private_binary();
    std::fs::create_dir_all(s.path("logs")).expect("logs");
    std::fs::write(s.path("logs/real-error.log"), "").expect("real");
    std::os::unix::fs::symlink("real-error.log", s.path("logs/linked.log")).expect("link");
    s.config(&conf(&[port], 1, "error_log = \"logs/linked.log\""));
    let old = s.start(port);
    install_script(&s.bin, "#!/bin/sh\nexit 1\n");
    let (code, json, err) = outcome(upgrade_cmd(&s, &[]).wait_with_output().expect("wait"));
    assert_eq!(code, 2, "{json}\n{err}");
    assert!(json.contains("exited with code 1"), "{json}");
    one_master(&s, port, old, &[]);
}

#[test]
fn a_binary_that_never_becomes_ready_is_rolled_back() {
    let (s, port, old) = started(1, "upgrade_ready_timeout = \"1s\"\n");
    let load = Load::start(port);
    install_script(&s.bin, "#!/bin/sh\nsleep 1000\n");
    let (code, json, err) = outcome(upgrade_cmd(&s, &[]).wait_with_output().expect("wait"));
    assert_eq!(code, 2, "{json}\n{err}");
    assert!(json.contains("rolled_back"), "{json}");
    // The old master's own words, not a guess.
    assert!(json.contains("did not become ready within"), "{json}");
    one_master(&s, port, old, &[]);
    load.finish();
}

#[test]
fn a_binary_whose_probe_differs_is_rolled_back() {
    let (mut s, port, old) = started(1, "");
    // The new binary serves another root where a probed path is missing.
    std::fs::create_dir_all(s.path("html2")).expect("html2");
    std::fs::write(s.path("html2/index.html"), "hello from moltd\n").expect("index");
    let other = conf(&[port], 1, "").replace("root = \"html\"", "root = \"html2\"");
    assert!(other.contains("html2"), "{other}");
    std::fs::write(s.path("conf/other.toml"), other).expect("other config");
    let real = s.path("sbin/moltd.real");
    install_binary(&support::moltd_bin(), &real);
    install_script(
        &s.bin,
        &format!(
            "#!/bin/sh\nexec \"{}\" \"$@\" -c \"{}\"\n",
            real.display(),
            s.path("conf/other.toml").display()
        ),
    );
    let load = Load::start(port);
    let cmd = upgrade_cmd(&s, &["--probe", "/other/page.txt"]);
    let (code, json, err) = outcome(cmd.wait_with_output().expect("wait"));
    assert_eq!(code, 2, "{json}\n{err}");
    assert!(json.contains("\"failed_step\":\"probe-new\""), "{json}");
    assert!(
        json.contains("/other/page.txt"),
        "the reason names the path: {json}"
    );
    let new: Option<Pid> = json
        .split("\"new_pid\":")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .and_then(|n| n.parse().ok())
        .map(Pid::from_raw);
    let new = new.expect("a new master started");
    s.remember(new);
    one_master(&s, port, old, &[new]);
    load.finish();
}

#[test]
fn a_worker_dying_in_the_canary_window_rolls_back() {
    // No load here: the test kills a serving worker on purpose, and the
    // clients connected to it lose their connections with it.
    let (mut s, port, old) = started(2, "");
    install_binary(&support::moltd_bin(), &s.bin);
    let cmd = upgrade_cmd(&s, &["--canary", "20s"]);
    let new = wait_canary(&mut s, old);
    let workers = s.wait_workers(new, 2);
    kill(workers[0], Signal::SIGKILL).expect("kill a new worker");
    let (code, json, err) = outcome(cmd.wait_with_output().expect("wait"));
    assert_eq!(code, 2, "{json}\n{err}");
    assert!(json.contains("\"failed_step\":\"canary\""), "{json}");
    one_master(&s, port, old, &[new]);
}

#[test]
fn a_second_upgrade_at_the_same_time_is_refused() {
    let (mut s, port, old) = started(1, "");
    let load = Load::start(port);
    install_binary(&support::moltd_bin(), &s.bin);
    let first = upgrade_cmd(&s, &["--canary", "2s"]);
    let new = wait_canary(&mut s, old);
    let (code, json, err) = outcome(upgrade_cmd(&s, &[]).wait_with_output().expect("wait"));
    assert_eq!(code, 3, "{json}\n{err}");
    assert!(json.contains("\"result\":\"refused\""), "{json}");
    assert!(err.contains("another moltd -s upgrade is running"), "{err}");
    let (code, json, err) = outcome(first.wait_with_output().expect("wait"));
    assert_eq!(code, 0, "the first one is not disturbed: {json}\n{err}");
    one_master(&s, port, new, &[old]);
    load.finish();
}

#[test]
fn interrupting_the_upgrade_rolls_it_back_and_says_so() {
    let (mut s, port, old) = started(1, "");
    let load = Load::start(port);
    install_binary(&support::moltd_bin(), &s.bin);
    let cmd = upgrade_cmd(&s, &["--canary", "30s"]);
    let new = wait_canary(&mut s, old);
    kill(Pid::from_raw(cmd.id() as i32), Signal::SIGINT).expect("Ctrl-C");
    let (code, json, err) = outcome(cmd.wait_with_output().expect("wait"));
    assert_eq!(code, 4, "{json}\n{err}");
    assert!(json.contains("\"result\":\"interrupted\""), "{json}");
    assert!(
        json.contains(&format!("master process {old} serves")),
        "{json}"
    );
    one_master(&s, port, old, &[new]);
    load.finish();
}

#[test]
fn a_long_drain_after_the_commit_is_told_and_an_interrupt_only_stops_the_wait() {
    use std::io::{BufRead, Read, Write};
    let (mut s, port, old) = started(1, "");
    // A download the client stops reading: the old worker drains for as
    // long as send_timeout allows. Sparse, so nothing is written to disk.
    let big = std::fs::File::create(s.path("html/big.bin")).expect("big");
    big.set_len(256 << 20).expect("size");
    let mut slow = http::connect(port).expect("connect");
    slow.write_all(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("request");
    let mut some = [0u8; 4096];
    slow.read_exact(&mut some).expect("the download starts");
    install_binary(&support::moltd_bin(), &s.bin);
    let mut cmd = upgrade_cmd(&s, &["--canary", "1s"]);
    let mut err = std::io::BufReader::new(cmd.stderr.take().expect("stderr"));
    let mut said = String::new();
    while !said.contains("is draining its connections") {
        let mut line = String::new();
        let n = err.read_line(&mut line).expect("stderr");
        assert!(n > 0, "the command ended without saying so: {said}");
        said.push_str(&line);
    }
    assert!(
        said.contains(&format!("old master process {old}")),
        "{said}"
    );
    let new = s.read_pid("logs/moltd.pid").expect("new master");
    s.remember(new);
    kill(Pid::from_raw(cmd.id() as i32), Signal::SIGINT).expect("Ctrl-C");
    let out = cmd.wait_with_output().expect("wait");
    let mut rest = String::new();
    err.read_to_string(&mut rest).expect("rest of stderr");
    assert_eq!(out.status.code(), Some(0), "{said}{rest}");
    assert!(rest.contains("no longer waiting"), "{rest}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("committed"));
    // The new master serves; the old one still drains its download.
    assert_eq!(http::get(port, "/").expect("GET").status, 200);
    assert!(procs::alive(old));
    drop(slow);
    s.wait_gone(old);
}

#[test]
fn a_run_that_finds_another_mid_usr2_says_so_not_no_master() {
    // Another run holds the lock and has just sent USR2: for a moment
    // the pid file is `.oldbin`.
    let (s, _port, old) = started(1, "");
    let lock = std::fs::File::create(s.path("logs/moltd.pid.upgrade-lock")).expect("lock");
    let _held = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusiveNonblock)
        .expect("take the lock");
    std::fs::rename(s.path("logs/moltd.pid"), s.path("logs/moltd.pid.oldbin")).expect("mv");
    let (code, json, err) = outcome(upgrade_cmd(&s, &[]).wait_with_output().expect("wait"));
    std::fs::rename(s.path("logs/moltd.pid.oldbin"), s.path("logs/moltd.pid")).expect("mv back");
    assert_eq!(code, 3, "{json}\n{err}");
    assert!(
        json.contains("another moltd -s upgrade is running"),
        "{json}"
    );
    assert!(procs::alive(old));
}

#[test]
fn a_config_file_moved_away_is_named_as_the_likely_cause() {
    // The built-in default's address must be free for its probe to fail.
    if std::net::TcpStream::connect("127.0.0.1:8080").is_ok() {
        eprintln!("SKIPPED a_config_file_moved_away: something listens on 127.0.0.1:8080");
        return;
    }
    let (s, port, old) = started(1, "");
    std::fs::rename(s.path("conf/moltd.toml"), s.path("conf/moltd.toml.bak")).expect("mv");
    let (code, json, err) = outcome(upgrade_cmd(&s, &[]).wait_with_output().expect("wait"));
    assert_ne!(code, 0, "{json}\n{err}");
    assert!(json.contains("was conf/moltd.toml moved away?"), "{json}");
    assert_eq!(s.read_pid("logs/moltd.pid"), Some(old));
    assert_eq!(http::get(port, "/").expect("GET").status, 200);
}

#[test]
fn no_master_means_nothing_is_done() {
    let port = free_port();
    let s = Server::new();
    s.config(&conf(&[port], 1, ""));
    let (code, json, err) = outcome(upgrade_cmd(&s, &[]).wait_with_output().expect("wait"));
    assert_eq!(code, 1, "{json}\n{err}");
    assert!(json.contains("nothing_done"), "{json}");
}

#[test]
fn an_upgrade_already_in_progress_by_hand_is_refused() {
    let (mut s, port, old) = started(1, "");
    install_binary(&support::moltd_bin(), &s.bin);
    s.signal(old, Signal::SIGUSR2);
    let new = wait_for("the new master", || {
        let p = s.read_pid("logs/moltd.pid")?;
        (p != old && procs::alive(p)).then_some(p)
    });
    s.remember(new);
    s.wait_log(&format!("new binary process {new} is ready"));
    let (code, json, err) = outcome(upgrade_cmd(&s, &[]).wait_with_output().expect("wait"));
    assert_eq!(code, 3, "{json}\n{err}");
    assert!(json.contains("already in progress"), "{json}");
    // Nothing was touched: both masters still there, as the operator left them.
    assert!(procs::alive(old) && procs::alive(new));
    assert_eq!(s.read_pid("logs/moltd.pid.oldbin"), Some(old));
    s.signal(old, Signal::SIGQUIT);
    one_master(&s, port, new, &[old]);
}

#[test]
fn a_slow_old_master_is_waited_for_not_rolled_back() {
    let (mut s, port, old) = started(1, "");
    install_binary(&support::moltd_bin(), &s.bin);
    kill(old, Signal::SIGSTOP).expect("stop the old master");
    let cmd = upgrade_cmd(&s, &[]);
    std::thread::sleep(std::time::Duration::from_secs(3));
    kill(old, Signal::SIGCONT).expect("let it go on");
    let (code, json, err) = outcome(cmd.wait_with_output().expect("wait"));
    assert_eq!(code, 0, "{json}\n{err}");
    let new = s.read_pid("logs/moltd.pid").expect("pid file");
    s.remember(new);
    one_master(&s, port, new, &[old]);
}

#[test]
fn ctrl_c_before_the_old_master_acts_still_leaves_one_master() {
    let (mut s, port, old) = started(1, "");
    install_binary(&support::moltd_bin(), &s.bin);
    kill(old, Signal::SIGSTOP).expect("stop the old master");
    let cmd = upgrade_cmd(&s, &[]);
    std::thread::sleep(std::time::Duration::from_millis(500));
    kill(Pid::from_raw(cmd.id() as i32), Signal::SIGINT).expect("Ctrl-C");
    std::thread::sleep(std::time::Duration::from_millis(500));
    kill(old, Signal::SIGCONT).expect("let it go on");
    let (code, json, err) = outcome(cmd.wait_with_output().expect("wait"));
    assert_eq!(code, 4, "{json}\n{err}");
    // Whatever the old master started for the held USR2 was stopped.
    for p in procs::masters_under(old) {
        s.remember(p);
        s.wait_gone(p);
    }
    one_master(&s, port, old, &[]);
}

#[test]
fn a_closed_stderr_does_not_stop_an_upgrade_halfway() {
    let (mut s, port, old) = started(1, "");
    install_binary(&support::moltd_bin(), &s.bin);
    let mut cmd = upgrade_cmd(&s, &[]);
    drop(cmd.stderr.take());
    let (code, json, _) = outcome(cmd.wait_with_output().expect("wait"));
    assert_eq!(code, 0, "{json}");
    let new = s.read_pid("logs/moltd.pid").expect("pid file");
    s.remember(new);
    one_master(&s, port, new, &[old]);
}

#[test]
fn a_rollback_waits_for_the_workers_the_old_master_had_not_the_file() {
    let (mut s, port, old) = started(2, "");
    // The file on disk now asks for three workers and another root: the
    // new binary's probe differs, and the old master restarts two.
    std::fs::create_dir_all(s.path("html2")).expect("html2");
    std::fs::write(s.path("html2/index.html"), "other\n").expect("index");
    s.config(&conf(&[port], 3, "").replace("root = \"html\"", "root = \"html2\""));
    install_binary(&support::moltd_bin(), &s.bin);
    let (code, json, err) = outcome(upgrade_cmd(&s, &[]).wait_with_output().expect("wait"));
    assert_eq!(code, 2, "{json}\n{err}");
    let new: Option<Pid> = json
        .split("\"new_pid\":")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .and_then(|n| n.parse().ok())
        .map(Pid::from_raw);
    let new = new.expect("a new master started");
    s.remember(new);
    one_master(&s, port, old, &[new]);
    assert_eq!(s.wait_workers(old, 2).len(), 2);
}

#[test]
fn a_new_master_dying_in_the_canary_rolls_back_without_a_reload() {
    let (mut s, port, old) = started(1, "");
    install_binary(&support::moltd_bin(), &s.bin);
    let cmd = upgrade_cmd(&s, &["--canary", "20s"]);
    let new = wait_canary(&mut s, old);
    kill(new, Signal::SIGKILL).expect("kill the new master");
    let (code, json, err) = outcome(cmd.wait_with_output().expect("wait"));
    assert_eq!(code, 2, "{json}\n{err}");
    one_master(&s, port, old, &[new]);
    assert!(
        !s.log().contains("reconfiguring"),
        "the rollback must not re-read the file: {}",
        s.log()
    );
}

#[test]
fn ctrl_c_while_a_slow_wrapper_starts_moltd_still_leaves_one_master() {
    let (s, port, old) = started(1, "");
    let real = s.path("sbin/moltd.real");
    install_binary(&support::moltd_bin(), &real);
    // A wrapper without `exec` that takes its time.
    install_script(
        &s.bin,
        &format!("#!/bin/sh\nsleep 2\n\"{}\" \"$@\"\n", real.display()),
    );
    let load = Load::start(port);
    let cmd = upgrade_cmd(&s, &[]);
    std::thread::sleep(std::time::Duration::from_millis(700));
    kill(Pid::from_raw(cmd.id() as i32), Signal::SIGINT).expect("Ctrl-C");
    let (code, json, err) = outcome(cmd.wait_with_output().expect("wait"));
    assert_eq!(code, 4, "{json}\n{err}");
    one_master(&s, port, old, &[]);
    assert!(
        procs::masters_under(old).is_empty()
            && procs::descendants(old)
                .iter()
                .all(|p| !procs::title(*p).starts_with("moltd: master"))
    );
    load.finish();
}
