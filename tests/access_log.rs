use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use nix::sys::signal::Signal;

use crate::support::{Server, free_port, http, wait_for};

fn lines(s: &Server, rel: &str) -> Vec<String> {
    std::fs::read_to_string(s.path(rel))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn combined_format_per_server_and_off() {
    let a = free_port();
    let b = free_port();
    let mut s = Server::new();
    s.config(&format!(
        "worker_processes = 1\n[[server]]\nlisten = [\"127.0.0.1:{a}\"]\naccess_log = \"logs/a.log\"\n[[server]]\nlisten = [\"127.0.0.1:{b}\"]\naccess_log = \"off\"\n"
    ));
    s.start(a);
    http::request_with(
        a,
        "GET",
        "/index.html?x=%221",
        &[
            ("Referer", "http://ref/"),
            ("User-Agent", "test \"agent\"/1.0"),
        ],
    )
    .expect("GET");
    http::request_with(a, "HEAD", "/missing", &[]).expect("HEAD");
    http::get(b, "/").expect("GET b");
    let got = wait_for("two access log lines", || {
        let l = lines(&s, "logs/a.log");
        (l.len() >= 3).then_some(l)
    });
    // The line of the startup probe, then ours.
    let line = &got[got.len() - 2];
    let re_prefix = "127.0.0.1 - - [";
    assert!(line.starts_with(re_prefix), "{line}");
    assert!(line.contains(" +0000] \"GET /index.html?x=%221 HTTP/1.1\" 200 17 \"http://ref/\" \"test \\x22agent\\x22/1.0\""), "{line}");
    let head = &got[got.len() - 1];
    assert!(
        head.contains("\"HEAD /missing HTTP/1.1\" 404 0 \"-\" \"-\""),
        "{head}"
    );
    assert!(!s.path("logs/access.log").exists(), "server b logs nothing");
}

#[test]
fn rotation_with_usr1_under_load_loses_no_line() {
    let port = free_port();
    let mut s = Server::new();
    s.config(&format!(
        "worker_processes = 2\naccess_log_buffer = \"4k\"\n[[server]]\nlisten = [\"127.0.0.1:{port}\"]\n"
    ));
    let master = s.start(port);
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let stop = Arc::clone(&stop);
            let sent = Arc::clone(&sent);
            std::thread::spawn(move || {
                let mut c = http::KeepAlive::new(port);
                while !stop.load(Ordering::Relaxed) {
                    let r = c.get("/").expect("GET");
                    assert_eq!(r.status, 200);
                    sent.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    wait_for("some traffic", || {
        (sent.load(Ordering::Relaxed) > 300).then_some(())
    });
    std::fs::rename(s.path("logs/access.log"), s.path("logs/access.log.1")).expect("rotate");
    s.signal(master, Signal::SIGUSR1);
    s.wait_log_count("#0: reopening logs", 3);
    let at_reopen = sent.load(Ordering::Relaxed);
    wait_for("traffic after the reopen", || {
        (sent.load(Ordering::Relaxed) > at_reopen + 300).then_some(())
    });
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().expect("client");
    }
    let total = sent.load(Ordering::Relaxed) + 1; // + the harness's startup probe
    // Buffers are flushed within a second; then every request is in one file.
    wait_for("every line written", || {
        let n = lines(&s, "logs/access.log").len() + lines(&s, "logs/access.log.1").len();
        (n == total).then_some(())
    });
    assert!(
        !lines(&s, "logs/access.log").is_empty(),
        "new lines went to the new file"
    );
    for l in lines(&s, "logs/access.log")
        .iter()
        .chain(lines(&s, "logs/access.log.1").iter())
    {
        assert!(
            l.starts_with("127.0.0.1 - - [") && l.ends_with("\"-\" \"-\""),
            "whole lines only: {l}"
        );
    }
}

#[test]
fn an_unwritable_access_log_never_stops_serving() {
    let port = free_port();
    let mut s = Server::new();
    s.config(&format!(
        "worker_processes = 1\naccess_log_buffer = 0\n[[server]]\nlisten = [\"127.0.0.1:{port}\"]\naccess_log = \"/dev/full\"\n"
    ));
    s.start(port);
    for _ in 0..5 {
        assert_eq!(http::get(port, "/").expect("GET").status, 200);
    }
    s.wait_log("write() to the access log \"/dev/full\" failed");
    assert_eq!(
        s.log().matches("write() to the access log").count(),
        1,
        "reported once"
    );
}
