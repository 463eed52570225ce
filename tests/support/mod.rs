//! The one harness every integration test uses: a `Server` in a temporary
//! prefix on free loopback ports, started as the real binary, driven by
//! real signals to the pid in its pid file, and waited on by polling with a
//! deadline (never a fixed sleep). On drop it kills every process it
//! started (the launcher's process group and the descendants of every
//! master it saw) and, if the test failed, prints the error log.

#![allow(dead_code)]

pub mod http;
pub mod procs;
pub mod tls;

use std::collections::HashSet;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

/// How long any single wait may take before the test fails: generous, since
/// CI machines are slow, but bounded so a hang fails instead of blocking.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// The binary under test.
pub fn moltd_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_moltd"))
}

static PORTS: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A loopback port that is free now and was not handed out before in this
/// test process.
pub fn free_port() -> u16 {
    loop {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind a probe socket");
        let port = l.local_addr().expect("probe address").port();
        let mut g = PORTS.lock().unwrap_or_else(|p| p.into_inner());
        if g.get_or_insert_with(HashSet::new).insert(port) {
            return port;
        }
    }
}

/// Polls `cond` every 10 ms until it returns `Some`, or panics naming `what`.
pub fn wait_for<T>(what: &str, mut cond: impl FnMut() -> Option<T>) -> T {
    wait_for_within(DEADLINE, what, &mut cond)
}

/// Like [`wait_for`] with an explicit deadline.
pub fn wait_for_within<T>(limit: Duration, what: &str, mut cond: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + limit;
    loop {
        if let Some(v) = cond() {
            return v;
        }
        if Instant::now() > end {
            panic!("timed out after {limit:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A test prefix with a running (or not yet started) moltd.
pub struct Server {
    /// The prefix directory (`-p`).
    pub prefix: PathBuf,
    /// The binary started (a copy inside the prefix for upgrade tests).
    pub bin: PathBuf,
    launcher: Option<Child>,
    pgid: Option<Pid>,
    masters: Vec<Pid>,
    env: Vec<(String, String)>,
}

impl Server {
    /// A fresh prefix with `html/index.html` ("hello from moltd\n") and
    /// `html/other/page.txt`, nothing started.
    pub fn new() -> Self {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let prefix = std::env::temp_dir().join(format!("moltd-it-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&prefix);
        std::fs::create_dir_all(prefix.join("html/other")).expect("create prefix");
        std::fs::create_dir_all(prefix.join("conf")).expect("create conf dir");
        std::fs::write(prefix.join("html/index.html"), "hello from moltd\n").expect("write index");
        std::fs::write(prefix.join("html/other/page.txt"), "page\n").expect("write page");
        // The same modes under any umask: a test that opens the prefix
        // to others (workers as `nobody`) finds the document root open.
        for (p, mode) in [
            ("html", 0o755),
            ("html/other", 0o755),
            ("html/index.html", 0o644),
            ("html/other/page.txt", 0o644),
        ] {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(prefix.join(p), std::fs::Permissions::from_mode(mode))
                .expect("chmod");
        }
        Server {
            prefix,
            bin: moltd_bin(),
            launcher: None,
            pgid: None,
            masters: Vec::new(),
            env: Vec::new(),
        }
    }

    /// Writes `conf/moltd.toml`.
    pub fn config(&self, text: &str) -> &Self {
        std::fs::write(self.prefix.join("conf/moltd.toml"), text).expect("write config");
        self
    }

    /// A path inside the prefix.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.prefix.join(rel)
    }

    /// Copies the binary into `sbin/moltd` and uses that copy from now on,
    /// so a test can rename a new file over it.
    pub fn use_private_binary(&mut self) -> PathBuf {
        let sbin = self.prefix.join("sbin");
        std::fs::create_dir_all(&sbin).expect("create sbin");
        let dst = sbin.join("moltd");
        install_binary(&moltd_bin(), &dst);
        self.bin = dst.clone();
        dst
    }

    /// Sets a variable in the environment of everything started from now.
    pub fn env(&mut self, key: &str, value: &str) -> &mut Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// A command for the binary with `-p PREFIX` and `args`.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("-p").arg(&self.prefix).args(args);
        c.current_dir(&self.prefix);
        c.envs(self.env.iter().map(|(k, v)| (k, v)));
        c
    }

    /// Runs the binary to completion (for `-t`, `-s`, `-v`).
    pub fn run(&self, args: &[&str]) -> Output {
        let mut cmd = self.command(args);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        spawn_retrying(&mut cmd)
            .wait_with_output()
            .expect("run moltd")
    }

    /// Starts moltd in the background (its own process group), stdout and
    /// stderr into `launcher.out` in the prefix.
    pub fn spawn(&mut self, args: &[&str]) {
        use std::os::unix::process::CommandExt;
        let out = std::fs::File::create(self.prefix.join("launcher.out")).expect("launcher.out");
        let err = out.try_clone().expect("clone launcher.out");
        let mut cmd = self.command(args);
        cmd.process_group(0)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let child = spawn_retrying(&mut cmd);
        self.pgid = Some(Pid::from_raw(child.id() as i32));
        self.launcher = Some(child);
    }

    /// Runs `program args...` in the prefix with `BIN` (the binary) and
    /// `PREFIX` in its environment and no stdio, for a test that starts
    /// moltd its own way (through a shell, with a limit or a signal
    /// disposition set first). The process is remembered, so drop kills
    /// what it became; its handle is not kept (it may exec into a master).
    pub fn launch(&mut self, program: &str, args: &[&str]) {
        let child = Command::new(program)
            .args(args)
            .current_dir(&self.prefix)
            .env("BIN", &self.bin)
            .env("PREFIX", &self.prefix)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {program}: {e}"));
        self.remember(Pid::from_raw(child.id() as i32));
        std::mem::forget(child);
    }

    /// Starts moltd and waits until its pid file names a master whose
    /// workers answer on `port`.
    pub fn start(&mut self, port: u16) -> Pid {
        self.spawn(&[]);
        let pid = self.wait_master();
        wait_for("the server to answer", || {
            http::get(port, "/").ok().filter(|r| r.status == 200)
        });
        pid
    }

    /// Waits for the pid file to name a live process and returns it.
    pub fn wait_master(&mut self) -> Pid {
        let pid = wait_for("the pid file", || {
            let pid = self.read_pid("logs/moltd.pid")?;
            procs::alive(pid).then_some(pid)
        });
        self.remember(pid);
        pid
    }

    /// Records a master so that drop kills it and its children.
    pub fn remember(&mut self, pid: Pid) {
        if pid.as_raw() > 1 && !self.masters.contains(&pid) {
            self.masters.push(pid);
        }
    }

    /// The pid in a pid file under the prefix, if it holds one.
    pub fn read_pid(&self, rel: &str) -> Option<Pid> {
        let s = std::fs::read_to_string(self.prefix.join(rel)).ok()?;
        s.trim().parse().ok().map(Pid::from_raw)
    }

    /// The master's pid from `logs/moltd.pid` (panics if there is none).
    pub fn pid(&self) -> Pid {
        self.read_pid("logs/moltd.pid")
            .expect("pid file holds a pid")
    }

    /// Sends `sig` to `pid`.
    pub fn signal(&self, pid: Pid, sig: Signal) {
        kill(pid, sig).expect("send signal");
    }

    /// The error log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.prefix.join("logs/error.log")).unwrap_or_default()
    }

    /// Sends USR2 to `old` and waits for the new master: named by the pid
    /// file, remembered (so drop stops it), and reported ready in the log.
    pub fn upgrade_from(&mut self, old: Pid) -> Pid {
        self.signal(old, Signal::SIGUSR2);
        let new = wait_for("the new master", || {
            let p = self.read_pid("logs/moltd.pid")?;
            (p != old && procs::alive(p)).then_some(p)
        });
        self.remember(new);
        self.wait_log(&format!("new binary process {new} is ready"));
        new
    }

    /// Waits until `logs/moltd.pid` names `pid` (after a rollback).
    pub fn wait_pid_file(&self, pid: Pid) {
        wait_for(&format!("the pid file to name {pid}"), || {
            (self.read_pid("logs/moltd.pid") == Some(pid)).then_some(())
        })
    }

    /// Waits until the error log contains `needle` `count` times.
    pub fn wait_log_count(&self, needle: &str, count: usize) {
        wait_for(&format!("{count}x \"{needle}\" in the error log"), || {
            (self.log().matches(needle).count() >= count).then_some(())
        })
    }

    /// Waits until the error log contains `needle`.
    pub fn wait_log(&self, needle: &str) {
        self.wait_log_count(needle, 1)
    }

    /// Waits until `pid` has exactly `n` worker children that have reported
    /// in, and returns their pids.
    pub fn wait_workers(&self, pid: Pid, n: usize) -> Vec<Pid> {
        wait_for(&format!("{n} workers of {pid}"), || {
            let w = procs::workers_of(pid);
            (w.len() == n).then_some(w)
        })
    }

    /// Waits for `pid` to be gone (reaped or exited).
    pub fn wait_gone(&self, pid: Pid) {
        wait_for(&format!("process {pid} to exit"), || {
            (!procs::alive(pid)).then_some(())
        })
    }

    /// Waits for the launcher (the process spawned) to exit; returns its
    /// exit code.
    pub fn wait_launcher(&mut self) -> Option<i32> {
        let child = self.launcher.as_mut().expect("a launcher was spawned");
        wait_for("the launcher to exit", || child.try_wait().ok().flatten()).code()
    }

    /// What the launcher printed.
    pub fn launcher_output(&self) -> String {
        std::fs::read_to_string(self.prefix.join("launcher.out")).unwrap_or_default()
    }
}

impl Default for Server {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Only ever kill moltd processes: a pid file can hold a pid from
        // another namespace (1 inside a container) or a recycled pid.
        let is_moltd = |p: Pid| p.as_raw() > 1 && procs::title(p).starts_with("moltd: ");
        let mut victims: Vec<Pid> = Vec::new();
        let known = self
            .masters
            .iter()
            .copied()
            .chain(self.read_pid("logs/moltd.pid"));
        for m in known {
            if m.as_raw() <= 1 {
                continue;
            }
            victims.push(m);
            victims.extend(procs::descendants(m).into_iter().filter(|p| is_moltd(*p)));
        }
        for v in victims {
            if is_moltd(v) || self.masters.contains(&v) {
                let _ = kill(v, Signal::SIGKILL);
            }
        }
        if let Some(g) = self.pgid.filter(|g| g.as_raw() > 1) {
            let _ = killpg(g, Signal::SIGKILL);
        }
        if let Some(mut c) = self.launcher.take() {
            let _ = c.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "---- error.log of {} ----\n{}",
                self.prefix.display(),
                self.log()
            );
            eprintln!("---- launcher output ----\n{}", self.launcher_output());
        } else {
            let _ = std::fs::remove_dir_all(&self.prefix);
        }
    }
}

/// Spawns `cmd`, retrying while the binary is "Text file busy": another
/// test thread may have forked while this binary was open for writing (a
/// fresh copy), and that child holds the write fd until its own exec.
pub fn spawn_retrying(cmd: &mut Command) -> Child {
    wait_for("the binary to be executable", || match cmd.spawn() {
        Ok(c) => Some(c),
        Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy => None,
        Err(e) => panic!("spawn moltd: {e}"),
    })
}

/// Writes `src` to `dst` as a new file (new inode) renamed over the old one,
/// the way a package manager replaces a running binary (`cp` would fail
/// with "Text file busy").
pub fn install_binary(src: &Path, dst: &Path) {
    let tmp = dst.with_extension("tmp-install");
    std::fs::copy(src, &tmp).expect("copy binary");
    // A child forked by another test thread while the copy was open holds
    // a write fd to it until that child execs; exec'ing the binary before
    // then fails with "Text file busy". Wait for every such fd to go.
    wait_for("no process to hold the new binary open", || {
        (!procs::has_open(&tmp)).then_some(())
    });
    std::fs::rename(&tmp, dst).expect("rename binary into place");
}

/// Writes an executable shell script to `dst` the same way.
pub fn install_script(dst: &Path, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    let tmp = dst.with_extension("tmp-install");
    std::fs::write(&tmp, body).expect("write script");
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)).expect("chmod script");
    std::fs::rename(&tmp, dst).expect("rename script into place");
}

/// A config serving `html/` on `ports` with `workers` workers, plus `extra`
/// top-level lines.
pub fn conf(ports: &[u16], workers: usize, extra: &str) -> String {
    let listen: Vec<String> = ports.iter().map(|p| format!("\"127.0.0.1:{p}\"")).collect();
    format!(
        "{extra}\nworker_processes = {workers}\n\n[[server]]\nlisten = [{}]\nroot = \"html\"\n",
        listen.join(", ")
    )
}

/// True if something accepts connections on `port`.
pub fn connects(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// The user `nobody`, when the tests run as root (workers can switch user
/// only then); `None`, with `test` and the reason printed as SKIPPED,
/// otherwise.
pub fn nobody(test: &str) -> Option<nix::unistd::User> {
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("SKIPPED {test}: not root, workers cannot switch user here");
        return None;
    }
    let u = nix::unistd::User::from_name("nobody").ok().flatten();
    if u.is_none() {
        eprintln!("SKIPPED {test}: no user \"nobody\"");
    }
    u
}
