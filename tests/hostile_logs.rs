//! An attacker who can write the log directory (here the workers' own
//! user, `nobody`): symlinks and hard links planted where root will reopen
//! a log, and the honest case beside it, a rotation with a worker user.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use nix::sys::signal::Signal;
use nix::unistd::User;

use crate::support::{Server, conf, free_port, http, nobody, wait_for};

/// A server whose workers run as nobody, logging every line at once.
fn start_as_nobody(s: &mut Server, port: u16) -> nix::unistd::Pid {
    std::fs::set_permissions(&s.prefix, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    s.config(&conf(
        &[port],
        1,
        "user = \"nobody\"\naccess_log_buffer = \"0\"",
    ));
    s.start(port)
}

/// A root-only file next to the prefix's logs.
fn secret(s: &Server) -> std::path::PathBuf {
    let p = s.path("root-only");
    std::fs::write(&p, "root only\n").expect("secret");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    p
}

fn assert_untouched(p: &Path) {
    let m = std::fs::metadata(p).expect("secret");
    assert_eq!((m.uid(), m.gid()), (0, 0), "owner unchanged");
    assert_eq!(m.mode() & 0o777, 0o600, "mode unchanged");
    assert_eq!(std::fs::read_to_string(p).expect("read"), "root only\n");
}

/// A running server whose workers are `nobody`, a root-only secret beside
/// it, and the log directory handed to `nobody`: the attacker's foothold.
struct Scene {
    s: Server,
    port: u16,
    master: nix::unistd::Pid,
    secret: std::path::PathBuf,
    nobody: User,
}

/// The [`Scene`], or `None` (with the reason printed) where workers cannot
/// switch user.
fn scene(test: &str) -> Option<Scene> {
    let nobody = nobody(test)?;
    let port = free_port();
    let mut s = Server::new();
    let master = start_as_nobody(&mut s, port);
    let secret = secret(&s);
    std::os::unix::fs::chown(s.path("logs"), Some(nobody.uid.as_raw()), None).expect("chown");
    Some(Scene {
        s,
        port,
        master,
        secret,
        nobody,
    })
}

/// Replaces `log` with a symlink to `target` owned by `owner`, by rename,
/// as an attacker who can write the directory would.
fn plant_symlink(log: &Path, target: &Path, owner: &User) {
    let tmp = log.with_extension("planted");
    std::os::unix::fs::symlink(target, &tmp).expect("symlink");
    std::os::unix::fs::lchown(&tmp, Some(owner.uid.as_raw()), Some(owner.gid.as_raw()))
        .expect("lchown");
    std::fs::rename(&tmp, log).expect("rename over the log");
}

#[test]
fn a_symlinked_log_planted_by_the_worker_user_is_not_followed_by_root() {
    let Some(Scene {
        s,
        port,
        master,
        secret,
        nobody,
    }) = scene("a_symlinked_log_planted_by_the_worker_user_is_not_followed_by_root")
    else {
        return;
    };
    plant_symlink(&s.path("logs/access.log"), &secret, &nobody);
    s.signal(master, Signal::SIGUSR1);
    s.wait_log_count("#0: reopening logs", 2);
    assert_eq!(http::get(port, "/").expect("GET").status, 200);
    assert_eq!(http::get(port, "/missing").expect("GET").status, 404);
    s.wait_log("not followed");
    assert_untouched(&secret);
    // The error log, too.
    let secret2 = s.path("root-only-2");
    std::fs::write(&secret2, "root only\n").expect("secret");
    std::fs::set_permissions(&secret2, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    plant_symlink(&s.path("logs/error.log"), &secret2, &nobody);
    s.signal(master, Signal::SIGUSR1);
    assert_eq!(http::get(port, "/").expect("GET").status, 200);
    // Give the master and worker time to act on the signal; the secret
    // must never change.
    wait_for("the worker to answer after the second USR1", || {
        http::get(port, "/x").ok().filter(|r| r.status == 404)
    });
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_untouched(&secret);
    assert_untouched(&secret2);
}

#[test]
fn a_hard_link_planted_as_the_log_is_refused() {
    let Some(Scene {
        s,
        port,
        master,
        secret,
        ..
    }) = scene("a_hard_link_planted_as_the_log_is_refused")
    else {
        return;
    };
    // Where protected_hardlinks is off, nobody could link a root file; the
    // test (as root) makes the link the attacker would.
    let tmp = s.path("logs/planted");
    std::fs::hard_link(&secret, &tmp).expect("hard link");
    std::fs::rename(&tmp, s.path("logs/access.log")).expect("rename");
    s.signal(master, Signal::SIGUSR1);
    s.wait_log_count("#0: reopening logs", 2);
    assert_eq!(http::get(port, "/").expect("GET").status, 200);
    s.wait_log("hard links");
    assert_untouched(&secret);
}

#[test]
fn rotation_with_a_worker_user_creates_the_new_logs() {
    let Some(nobody) = nobody("rotation_with_a_worker_user_creates_the_new_logs") else {
        return;
    };
    let port = free_port();
    let mut s = Server::new();
    let master = start_as_nobody(&mut s, port);
    assert_eq!(http::get(port, "/before").expect("GET").status, 404);
    // logs/ stays root's, 0755: the workers cannot create files in it.
    let dir = std::fs::metadata(s.path("logs")).expect("logs");
    assert_eq!(dir.uid(), 0);
    std::fs::rename(s.path("logs/access.log"), s.path("logs/access.log.1")).expect("rotate");
    std::fs::rename(s.path("logs/error.log"), s.path("logs/error.log.1")).expect("rotate");
    s.signal(master, Signal::SIGUSR1);
    s.wait_log_count("#0: reopening logs", 2);
    assert_eq!(http::get(port, "/after").expect("GET").status, 404);
    let log = s.log();
    assert!(
        !log.contains("could not") && !log.contains("failed"),
        "{log}"
    );
    wait_for("the new line in the new access.log", || {
        std::fs::read_to_string(s.path("logs/access.log"))
            .ok()
            .filter(|t| t.contains("GET /after"))
    });
    let new = std::fs::read_to_string(s.path("logs/access.log")).expect("new log");
    assert!(!new.contains("GET /before"), "{new}");
    let old = std::fs::read_to_string(s.path("logs/access.log.1")).expect("old log");
    assert!(
        old.contains("GET /before") && !old.contains("GET /after"),
        "{old}"
    );
    for f in ["logs/access.log", "logs/error.log"] {
        let m = std::fs::metadata(s.path(f)).expect("log");
        assert_eq!(m.uid(), nobody.uid.as_raw(), "{f} is the workers' user's");
    }
}

#[test]
fn a_log_symlinked_by_another_user_fails_the_start_with_a_clear_error() {
    let Some(nobody) = nobody("a_log_symlinked_by_another_user_fails_the_start_with_a_clear_error")
    else {
        return;
    };
    let port = free_port();
    let mut s = Server::new();
    let secret = secret(&s);
    std::fs::create_dir_all(s.path("logs")).expect("logs");
    plant_symlink(&s.path("logs/access.log"), &secret, &nobody);
    std::fs::set_permissions(&s.prefix, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    s.config(&conf(&[port], 1, "user = \"nobody\""));
    s.spawn(&[]);
    assert_eq!(s.wait_launcher(), Some(1));
    let out = s.launcher_output();
    assert!(
        out.contains("could not open the access log") && out.contains("not followed"),
        "{out}"
    );
    assert_untouched(&secret);
    // A link root made (as an operator would, e.g. to /dev/stdout) works.
    std::fs::remove_file(s.path("logs/access.log")).expect("rm");
    std::os::unix::fs::symlink(s.path("elsewhere.log"), s.path("logs/access.log")).expect("link");
    s.start(port);
    wait_for("a line through the operator's link", || {
        std::fs::read_to_string(s.path("elsewhere.log"))
            .ok()
            .filter(|t| t.contains("GET / "))
    });
}

#[test]
fn a_log_directory_swapped_for_a_symlink_is_not_followed_by_root() {
    let Some(nobody) = nobody("a_log_directory_swapped_for_a_symlink_is_not_followed_by_root")
    else {
        return;
    };
    let port = free_port();
    let mut s = Server::new();
    std::fs::set_permissions(&s.prefix, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    s.config(&format!(
        "user = \"nobody\"\naccess_log_buffer = \"0\"\nworker_processes = 1\n[[server]]\nlisten = [\"127.0.0.1:{port}\"]\naccess_log = \"logs/site/access.log\"\n"
    ));
    let master = s.start(port);
    // A root-only directory with a root-only file of the log's name.
    let vault = s.path("vault");
    std::fs::create_dir_all(&vault).expect("vault");
    std::fs::set_permissions(&vault, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let secret = vault.join("access.log");
    std::fs::write(&secret, "root only\n").expect("secret");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    // The attacker owns logs/ and swaps the per-site directory for a link.
    std::os::unix::fs::chown(s.path("logs"), Some(nobody.uid.as_raw()), None).expect("chown");
    std::fs::rename(s.path("logs/site"), s.path("logs/site.old")).expect("mv");
    plant_symlink(&s.path("logs/site"), &vault, &nobody);
    s.signal(master, Signal::SIGUSR1);
    s.wait_log_count("#0: reopening logs", 2);
    assert_eq!(http::get(port, "/").expect("GET").status, 200);
    s.wait_log("not followed");
    assert_untouched(&secret);
    let vault_meta = std::fs::metadata(&vault).expect("vault");
    assert_eq!(vault_meta.uid(), 0);
}

#[test]
fn a_fifo_planted_as_the_log_by_another_user_is_refused() {
    if nobody("a_fifo_planted_as_the_log_by_another_user_is_refused").is_none() {
        return;
    }
    // The attacker: a deploy account that owns the log directory, neither
    // root nor the workers' user.
    let attacker = 54_321;
    let port = free_port();
    let mut s = Server::new();
    let master = start_as_nobody(&mut s, port);
    std::os::unix::fs::chown(s.path("logs"), Some(attacker), Some(attacker)).expect("chown");
    let fifo = s.path("logs/planted");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o666)).expect("mkfifo");
    std::os::unix::fs::chown(&fifo, Some(attacker), Some(attacker)).expect("chown");
    std::fs::rename(&fifo, s.path("logs/access.log")).expect("rename");
    // The attacker holds the read end and never reads.
    use std::os::unix::fs::OpenOptionsExt;
    let _reader = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(s.path("logs/access.log"))
        .expect("read end");
    s.signal(master, Signal::SIGUSR1);
    s.wait_log_count("#0: reopening logs", 2);
    s.wait_log("FIFO or socket owned by uid 54321");
    // Far more than a pipe holds, answered without a stall.
    let agent = "x".repeat(2000);
    for _ in 0..200 {
        let r = http::request_with(port, "GET", "/", &[("User-Agent", &agent)]).expect("GET");
        assert_eq!(r.status, 200);
    }
}

#[test]
fn logs_made_by_root_before_the_workers_user_existed_are_handed_over() {
    let Some(nobody) = nobody("logs_made_by_root_before_the_workers_user_existed_are_handed_over")
    else {
        return;
    };
    let port = free_port();
    let mut s = Server::new();
    std::fs::set_permissions(&s.prefix, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    s.config(&conf(
        &[port],
        1,
        "user = \"nobody\"\naccess_log_buffer = \"0\"",
    ));
    // `moltd -t` as root creates the logs, as root's.
    assert!(s.run(&["-t"]).status.success());
    let master = s.start(port);
    // logrotate's `create`: a fresh root-owned file where the old one was.
    std::fs::rename(s.path("logs/access.log"), s.path("logs/access.log.1")).expect("rotate");
    std::fs::write(s.path("logs/access.log"), "").expect("create");
    s.signal(master, Signal::SIGUSR1);
    s.wait_log_count("#0: reopening logs", 2);
    assert_eq!(http::get(port, "/after").expect("GET").status, 404);
    wait_for("the line in the new access.log", || {
        std::fs::read_to_string(s.path("logs/access.log"))
            .ok()
            .filter(|t| t.contains("GET /after"))
    });
    assert!(!s.log().contains("could not reopen"), "{}", s.log());
    for f in ["logs/access.log", "logs/error.log"] {
        let m = std::fs::metadata(s.path(f)).expect("log");
        assert_eq!(m.uid(), nobody.uid.as_raw(), "{f}");
    }
}

#[test]
fn kernel_made_log_paths_are_opened_by_the_kernel() {
    let port = free_port();
    let s = Server::new();
    for path in ["/dev/stderr", "/dev/fd/2", "/proc/self/fd/2"] {
        s.config(&format!(
            "error_log = \"{path}\"\nworker_processes = 1\n[[server]]\nlisten = [\"127.0.0.1:{port}\"]\naccess_log = \"{path}\"\n"
        ));
        let out = s.run(&["-t"]);
        assert!(
            out.status.success(),
            "{path}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn a_log_linked_to_stdout_keeps_stdouts_owner() {
    let Some(_nobody) = nobody("a_log_linked_to_stdout_keeps_stdouts_owner") else {
        return;
    };
    let port = free_port();
    let mut s = Server::new();
    std::fs::set_permissions(&s.prefix, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::fs::create_dir_all(s.path("logs")).expect("logs");
    // As in the nginx image: the log is a link to /dev/stdout, which here
    // is a regular file root owns (launcher.out; systemd's `append:`).
    std::os::unix::fs::symlink("/dev/stdout", s.path("logs/out.log")).expect("link");
    s.config(&format!(
        "user = \"nobody\"\naccess_log_buffer = \"0\"\nworker_processes = 1\n[[server]]\nlisten = [\"127.0.0.1:{port}\"]\naccess_log = \"logs/out.log\"\n"
    ));
    s.start(port);
    wait_for("a line on stdout", || {
        s.launcher_output().contains("GET / HTTP/1.1").then_some(())
    });
    let m = std::fs::metadata(s.path("launcher.out")).expect("stdout file");
    assert_eq!(m.uid(), 0, "stdout's file was not given away");
}

#[test]
fn stdout_as_a_socket_can_be_the_log() {
    // Under journald, stdout is a socket, which cannot be opened through
    // /proc: moltd takes its own stdout as it is.
    let port = free_port();
    let s = Server::new();
    s.config(&format!(
        "worker_processes = 1\n[[server]]\nlisten = [\"127.0.0.1:{port}\"]\naccess_log = \"/dev/stdout\"\n"
    ));
    let py = "import os,socket,subprocess,sys\n\
              a,b=socket.socketpair()\n\
              r=subprocess.run([os.environ['BIN'],'-p',os.environ['PREFIX'],'-t'],stdout=b,stderr=subprocess.PIPE)\n\
              sys.stderr.write(r.stderr.decode())\n\
              sys.exit(r.returncode)\n";
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(py)
        .env("BIN", &s.bin)
        .env("PREFIX", &s.prefix)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
