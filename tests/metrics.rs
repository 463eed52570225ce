use std::io::Write;
use std::process::{Command, Stdio};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::support::http::metric;
use crate::support::{self, Server, free_port, http, install_binary, procs, wait_for};

fn config(port: u16, workers: usize) -> String {
    format!(
        r#"worker_processes = {workers}

[[server]]
listen = ["127.0.0.1:{port}"]
root = "html"

[[server.location]]
exact = "/status"
status = "stub"

[[server.location]]
exact = "/metrics"
status = "prometheus"
allow = ["127.0.0.1/8", "::1"]

[[server.location]]
exact = "/private"
status = "stub"
allow = ["10.0.0.0/8"]
"#
    )
}

fn scrape(port: u16) -> String {
    let r = http::get(port, "/metrics").expect("scrape");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    r.text()
}

#[test]
fn stub_status_counts_connections_and_requests_like_nginx() {
    let port = free_port();
    let mut s = Server::new();
    s.config(&config(port, 2));
    s.start(port);
    for _ in 0..10 {
        assert_eq!(http::get(port, "/").map(|r| r.status).ok(), Some(200));
    }
    let mut idle: Vec<_> = (0..3).map(|_| http::KeepAlive::new(port)).collect();
    for c in &mut idle {
        assert_eq!(c.get("/").map(|r| r.status).ok(), Some(200));
    }
    // A response whose last byte the client has is counted as writing
    // until the server has let go of its body: look until that is over.
    let text = wait_for("only the status request writing", || {
        let text = http::get(port, "/status").ok()?.text();
        text.contains("\nReading: 0 Writing: 1 Waiting: ")
            .then_some(text)
    });
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines[0].starts_with("Active connections: "), "{text}");
    assert_eq!(lines[1], "server accepts handled requests");
    let nums: Vec<u64> = lines[2]
        .split_whitespace()
        .map(|n| n.parse().expect("number"))
        .collect();
    assert_eq!(nums.len(), 3, "{text}");
    assert!(nums[0] >= 14 && nums[0] == nums[1], "{text}");
    assert!(
        nums[2] >= 13,
        "requests counted before the status one: {text}"
    );
    let active: u64 = lines[0]["Active connections: ".len()..]
        .trim()
        .parse()
        .expect("active");
    // The three idle keep-alive clients and the status request itself.
    assert!(active >= 4, "{text}");
    assert!(
        lines[3].starts_with("Reading: 0 Writing: 1 Waiting: "),
        "{text}"
    );
    assert!(text.ends_with(" \n"), "nginx's trailing space: {text:?}");
}

#[test]
fn prometheus_output_passes_promtool_and_allow_refuses_other_networks() {
    let port = free_port();
    let mut s = Server::new();
    s.config(&config(port, 1));
    s.start(port);
    let _ = http::get(port, "/missing");
    let text = scrape(port);
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian's prometheus package; .ci/run installs it)");
    promtool
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("feed promtool");
    let out = promtool.wait_with_output().expect("promtool");
    assert!(
        out.status.success(),
        "promtool: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(metric(&text, "moltd_http_responses_total{class=\"4xx\"}") >= 1);
    assert!(text.contains("moltd_build_info{version=\""), "{text}");
    assert_eq!(
        http::get(port, "/private").map(|r| r.status).ok(),
        Some(403)
    );
}

#[test]
fn counters_survive_reloads_and_upgrades_and_only_grow() {
    let port = free_port();
    let mut s = Server::new();
    s.use_private_binary();
    s.config(&config(port, 1));
    let mut master = s.start(port);
    let mut last = 0;
    let mut step = |s: &Server, what: &str| {
        for _ in 0..5 {
            let _ = http::get(port, "/");
        }
        let text = scrape(port);
        let n = metric(&text, "moltd_http_requests_total");
        assert!(n >= last + 5, "{what}: requests went from {last} to {n}");
        last = n;
        let _ = s;
        text
    };
    step(&s, "start");
    for i in 1..=3 {
        s.signal(master, Signal::SIGHUP);
        s.wait_log_count("reload complete", i);
        let text = step(&s, "reload");
        assert_eq!(metric(&text, "moltd_reloads_total"), i as u64, "{text}");
    }
    for i in 1..=2 {
        install_binary(&support::moltd_bin(), &s.bin);
        let new = s.upgrade_from(master);
        s.signal(master, Signal::SIGQUIT);
        s.wait_gone(master);
        master = new;
        let text = step(&s, "upgrade");
        assert_eq!(metric(&text, "moltd_upgrades_total"), i, "{text}");
        assert_eq!(metric(&text, "moltd_reloads_total"), 3, "{text}");
    }
}

#[test]
fn a_killed_worker_leaves_no_phantom_connections() {
    let port = free_port();
    let mut s = Server::new();
    s.config(&config(port, 1));
    let master = s.start(port);
    let mut idle: Vec<_> = (0..5).map(|_| http::KeepAlive::new(port)).collect();
    for c in &mut idle {
        assert_eq!(c.get("/").map(|r| r.status).ok(), Some(200));
    }
    let waiting = |port| {
        let text = scrape(port);
        metric(&text, "moltd_connections{state=\"waiting\"}")
    };
    assert!(waiting(port) >= 5);
    let worker = s.wait_workers(master, 1)[0];
    kill(worker, Signal::SIGKILL).expect("kill the worker");
    s.wait_gone(worker);
    wait_for("a new worker", || {
        let w = procs::workers_of(master);
        (w.len() == 1 && w[0] != worker).then_some(())
    });
    wait_for("the gauges of the dead worker to be cleared", || {
        (http::get(port, "/").is_ok() && waiting(port) == 0).then_some(())
    });
    drop(idle);
    let _ = Pid::this();
}

/// A `MOLTD_METRICS` naming an fd that is not the segment (a stale one,
/// passed on by a binary that does not know the variable, or a hostile
/// one) is ignored: the upgrade works, nothing the new master uses is
/// closed, and its error log still takes lines.
#[test]
fn a_stale_or_hostile_metrics_variable_is_ignored() {
    for value in ["${MOLTD%%;*}:$MOLTD_PARENT", "4:$MOLTD_PARENT", "5:1"] {
        let port = free_port();
        let mut s = Server::new();
        s.use_private_binary();
        s.config(&config(port, 1));
        let old = s.start(port);
        let real = s.path("sbin/moltd.real");
        install_binary(&support::moltd_bin(), &real);
        support::install_script(
            &s.bin,
            &format!(
                "#!/bin/sh\nMOLTD_METRICS=\"{value}\" exec \"{}\" \"$@\"\n",
                real.display()
            ),
        );
        let new = s.upgrade_from(old);
        s.signal(old, Signal::SIGQUIT);
        s.wait_gone(old);
        assert_eq!(
            http::get(port, "/").map(|r| r.status).ok(),
            Some(200),
            "{value}"
        );
        s.signal(new, Signal::SIGUSR1);
        s.wait_log(&format!("{new}#0: signal 10 (SIGUSR1) received"));
        let text = scrape(port);
        assert!(
            metric(&text, "moltd_http_requests_total") < 1 << 40,
            "{value}: {text}"
        );
    }
}
