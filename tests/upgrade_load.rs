use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;

use nix::sys::signal::Signal;

use crate::support::{Server, conf, free_port, http, procs, wait_for};

/// Keep-alive clients sending requests back-to-back across the whole
/// operator sequence USR2 -> ready -> WINCH -> QUIT old: every request must
/// get a 200, and no connection may be dropped without `Connection: close`.
#[test]
fn keepalive_clients_see_no_failure_through_upgrade() {
    const CLIENTS: usize = 6;
    let port = free_port();
    let mut s = Server::new();
    s.use_private_binary();
    s.config(&conf(&[port], 2, ""));
    let old = s.start(port);
    let old_workers = s.wait_workers(old, 2);

    let stop = Arc::new(AtomicBool::new(false));
    let total = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let stop = Arc::clone(&stop);
            let total = Arc::clone(&total);
            thread::spawn(move || -> Result<(usize, usize), String> {
                let mut c = http::KeepAlive::new(port);
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    match c.get("/") {
                        Ok(r) if r.status == 200 && r.text() == "hello from moltd\n" => {}
                        Ok(r) => {
                            return Err(format!(
                                "request {n}: status {} body {:?}",
                                r.status,
                                r.text()
                            ));
                        }
                        Err(e) => return Err(format!("request {n}: {e}")),
                    }
                    n += 1;
                    total.fetch_add(1, Ordering::Relaxed);
                }
                Ok((n, c.connections))
            })
        })
        .collect();
    let at_least = |n: usize| {
        let start = total.load(Ordering::Relaxed);
        wait_for("client progress", || {
            (total.load(Ordering::Relaxed) >= start + n).then_some(())
        });
    };

    at_least(200);
    s.signal(old, Signal::SIGUSR2);
    let new = wait_for("the new master", || {
        let p = s.read_pid("logs/moltd.pid")?;
        (p != old && procs::alive(p)).then_some(p)
    });
    s.remember(new);
    s.wait_log(&format!("new binary process {new} is ready"));
    at_least(200);
    s.signal(old, Signal::SIGWINCH);
    for w in &old_workers {
        s.wait_gone(*w);
    }
    at_least(200);
    s.signal(old, Signal::SIGQUIT);
    s.wait_gone(old);
    at_least(200);
    stop.store(true, Ordering::Relaxed);

    let mut reconnects = 0;
    for h in handles {
        let (n, conns) = h
            .join()
            .expect("client thread")
            .expect("every request got a 200");
        assert!(n > 0);
        reconnects += conns - 1;
    }
    assert!(
        reconnects >= CLIENTS.min(2),
        "the drain closed keep-alive connections with `Connection: close` and clients reconnected"
    );
    assert_eq!(s.pid(), new);
}
