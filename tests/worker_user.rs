//! The workers' user when the configuration sets none and the master runs
//! as root: `nobody` (as nginx), so a link a docroot writer plants to a
//! root-only file is refused by the kernel; root only where `nobody` could
//! not list the document root anyway, with a warning.

use std::os::unix::fs::PermissionsExt;

use crate::support::{Server, conf, free_port, http, nobody};

/// The effective uid of process `pid`.
fn uid_of(pid: nix::unistd::Pid) -> u32 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let line = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .expect("Uid:");
    line.split_whitespace()
        .nth(2)
        .expect("euid")
        .parse()
        .expect("uid")
}

/// A root-only secret beside the document root, and the link to it a
/// docroot writer plants (`/leak`).
fn plant_leak(s: &Server) {
    let secret = s.path("root-only");
    std::fs::write(&secret, "root only\n").expect("secret");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    std::os::unix::fs::symlink(&secret, s.path("html/leak")).expect("link");
}

/// A server with no `user`, its prefix opened to others (`mode`), a
/// root-only secret beside the document root and a link to it inside.
fn started(mode: u32) -> (Server, u16, nix::unistd::Pid) {
    let port = free_port();
    let mut s = Server::new();
    std::fs::set_permissions(&s.prefix, std::fs::Permissions::from_mode(mode)).expect("chmod");
    // Whatever the umask made of them: the root open to others.
    let open = |p: &str, m: u32| {
        std::fs::set_permissions(s.path(p), std::fs::Permissions::from_mode(m)).expect(p);
    };
    open("html", 0o755);
    open("html/index.html", 0o644);
    plant_leak(&s);
    s.config(&conf(&[port], 1, ""));
    let master = s.start(port);
    let worker = s.wait_workers(master, 1)[0];
    (s, port, worker)
}

#[test]
fn without_user_workers_run_as_nobody_and_links_to_root_files_are_refused() {
    let Some(nobody) = nobody("without_user_workers_run_as_nobody") else {
        return;
    };
    let (s, port, worker) = started(0o755);
    assert_eq!(uid_of(worker), nobody.uid.as_raw());
    assert_eq!(http::get(port, "/").expect("index").status, 200);
    let r = http::get(port, "/leak").expect("leak");
    assert_eq!(r.status, 403);
    assert!(!r.text().contains("root only"));
    assert!(!s.log().contains("the workers run as root"), "{}", s.log());
    // `-T` shows the user the workers get.
    let out = s.run(&["-T"]);
    let dump = String::from_utf8_lossy(&out.stdout);
    assert!(dump.contains("user = \"nobody\""), "{dump}");
}

#[test]
fn a_root_nobody_cannot_reach_keeps_root_workers_and_says_so() {
    if nobody("a_root_nobody_cannot_reach").is_none() {
        return;
    }
    let (s, port, worker) = started(0o700);
    assert_eq!(uid_of(worker), 0);
    assert_eq!(http::get(port, "/").expect("index").status, 200);
    assert!(
        s.log()
            .contains("the workers run as root: no \"user\" is set"),
        "{}",
        s.log()
    );
    // And again on a reload that keeps them so.
    s.signal(s.pid(), nix::sys::signal::Signal::SIGHUP);
    s.wait_log("reload complete");
    assert_eq!(s.log().matches("the workers run as root").count(), 2);
}

#[test]
fn a_docroot_owner_cannot_get_root_workers_back_by_hiding_the_root() {
    // The owner of the document root (not root) makes it unreadable to
    // others, hoping for root workers that follow their link to a
    // root-only file: the workers stay `nobody`, so nothing serves it
    // (here the start fails and says why; on a reload, the old workers
    // serve on).
    if nobody("a_docroot_owner_cannot_get_root_workers_back").is_none() {
        return;
    }
    let port = free_port();
    let mut s = Server::new();
    std::fs::set_permissions(&s.prefix, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    plant_leak(&s);
    std::os::unix::fs::chown(s.path("html"), Some(12345), None).expect("chown");
    std::fs::set_permissions(s.path("html"), std::fs::Permissions::from_mode(0o700))
        .expect("chmod");
    s.config(&conf(&[port], 1, ""));
    s.spawn(&[]);
    assert_eq!(s.wait_launcher(), Some(1), "the master exits non-zero");
    let log = s.log();
    assert!(log.contains("is not readable by user \"nobody\""), "{log}");
    assert!(!log.contains("the workers run as root"), "{log}");
    assert!(http::get(port, "/leak").is_err());
}

#[test]
fn one_root_others_can_reach_makes_every_worker_nobody() {
    // A sealed root (only root reaches it) beside one a deploy user could
    // write: root workers would serve that user's links, so the workers
    // are `nobody`, and the sealed root then fails the start, said why.
    if nobody("one_root_others_can_reach").is_none() {
        return;
    }
    let port = free_port();
    let mut s = Server::new();
    std::fs::set_permissions(&s.prefix, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let open = std::env::temp_dir().join(format!("moltd-open-root-{}", std::process::id()));
    std::fs::create_dir_all(&open).expect("open root");
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let extra = format!(
        "[[server.location]]\nprefix = \"/pub/\"\nroot = \"{}\"\n",
        open.display()
    );
    s.config(&format!("{}{extra}", conf(&[port], 1, "")));
    s.spawn(&[]);
    let code = s.wait_launcher();
    let _ = std::fs::remove_dir_all(&open);
    assert_eq!(code, Some(1), "the master exits non-zero");
    let log = s.log();
    assert!(log.contains("is not readable by user \"nobody\""), "{log}");
    assert!(!log.contains("the workers run as root"), "{log}");
}
