//! Readiness for load balancers: a `health` location answers 200 while the
//! worker serves and 503 once it is going away; `shutdown_delay` keeps it
//! serving meanwhile, so a balancer can stop sending before connections
//! close.

use nix::sys::signal::Signal;

use crate::support::{Server, free_port, http, wait_for};

fn serve(top: &str) -> (Server, u16, nix::unistd::Pid) {
    let port = free_port();
    let mut s = Server::new();
    let workers = if top.contains("worker_processes") {
        ""
    } else {
        "worker_processes = 1"
    };
    s.config(&format!(
        "{top}\n{workers}\n[[server]]\nlisten = [\"127.0.0.1:{port}\"]\n[[server.location]]\nexact = \"/healthz\"\nhealth = true\n"
    ));
    let master = s.start(port);
    (s, port, master)
}

#[test]
fn the_health_location_says_ready_while_serving() {
    let (_s, port, _) = serve("");
    let r = http::get(port, "/healthz").expect("GET");
    assert_eq!((r.status, r.text().as_str()), (200, "ready\n"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(
        http::request(port, "HEAD", "/healthz")
            .expect("HEAD")
            .status,
        200
    );
}

#[test]
fn after_quit_health_fails_while_requests_are_still_served_for_shutdown_delay() {
    let (s, port, master) = serve("shutdown_delay = \"3s\"\nworker_processes = 2");
    s.signal(master, Signal::SIGQUIT);
    s.wait_log("not ready any more; draining in 3000ms");
    // Still accepting and serving, but not ready, whichever worker answers.
    wait_for("both workers to fail the probe", || {
        (0..6)
            .all(|_| http::get(port, "/healthz").is_ok_and(|r| r.status == 503))
            .then_some(())
    });
    let r = http::get(port, "/healthz").expect("GET during the delay");
    assert_eq!(r.text(), "draining\n");
    assert_eq!(
        http::get(port, "/").expect("GET during the delay").status,
        200
    );
    // Then the drain, and the exit.
    s.wait_gone(master);
}

#[test]
fn a_reload_replaces_workers_without_failing_the_probe() {
    let (s, port, master) = serve("shutdown_delay = \"3s\"\nworker_processes = 2");
    s.signal(master, Signal::SIGHUP);
    // Old workers drain at once (no delay, no 503): the server stays.
    for _ in 0..20 {
        assert_eq!(http::get(port, "/healthz").expect("GET").status, 200);
    }
    s.wait_log("reload complete");
    for _ in 0..20 {
        assert_eq!(http::get(port, "/healthz").expect("GET").status, 200);
    }
    assert!(!s.log().contains("not ready any more"), "{}", s.log());
}

#[test]
fn without_a_delay_quit_drains_at_once() {
    let (s, port, master) = serve("");
    assert_eq!(http::get(port, "/healthz").expect("GET").status, 200);
    s.signal(master, Signal::SIGQUIT);
    s.wait_gone(master);
    assert!(!s.log().contains("not ready any more"), "{}", s.log());
    wait_for("the port to close", || {
        (!crate::support::connects(port)).then_some(())
    });
}
