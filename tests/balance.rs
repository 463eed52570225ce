//! Sharing connections between workers: a stopped worker never leaves
//! clients unanswered, and the board the workers share (a memfd the master
//! holds) lists exactly the live workers after a crash and after a change
//! of `worker_processes`.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::unistd::Pid;

use crate::support::http::{self, KeepAlive};
use crate::support::{Server, conf, free_port, procs, wait_for};

/// Words per board slot, and slots: as the server lays the board out.
const LINE: usize = 8;
const SLOTS: usize = 64;

/// The (pid, open connections) of each claimed slot of `master`'s board.
fn board(master: Pid) -> Vec<(i32, u64)> {
    let dir = format!("/proc/{master}/fd");
    let Ok(fds) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    for fd in fds.flatten() {
        let target = std::fs::read_link(fd.path()).unwrap_or_default();
        if !target.to_string_lossy().contains("moltd-balance") {
            continue;
        }
        let Ok(bytes) = std::fs::read(fd.path()) else {
            continue;
        };
        let word = |i: usize| {
            let b = bytes.get(i * 8..i * 8 + 8).unwrap_or(&[0; 8]);
            u64::from_le_bytes(b.try_into().unwrap_or([0; 8]))
        };
        return (0..SLOTS)
            .map(|s| (word(LINE * (s + 1)) as i32, word(LINE * (s + 1) + 1)))
            .filter(|&(pid, _)| pid != 0)
            .collect();
    }
    Vec::new()
}

fn pids(board: &[(i32, u64)]) -> Vec<i32> {
    let mut p: Vec<i32> = board.iter().map(|&(pid, _)| pid).collect();
    p.sort_unstable();
    p
}

fn raw(workers: &[Pid]) -> Vec<i32> {
    let mut p: Vec<i32> = workers.iter().map(|w| w.as_raw()).collect();
    p.sort_unstable();
    p
}

/// Waits until the board lists exactly the master's `n` live workers.
fn wait_board_is_the_workers(master: Pid, n: usize) -> Vec<(i32, u64)> {
    wait_for(&format!("the board to list the {n} live workers"), || {
        let b = board(master);
        let w = procs::workers_of(master);
        (w.len() == n && pids(&b) == raw(&w)).then_some(b)
    })
}

/// Keep-alive clients that each got one answer and stay connected.
fn hold(port: u16, n: usize) -> Vec<KeepAlive> {
    (0..n)
        .map(|_| {
            let mut c = KeepAlive::new(port);
            let r = c.get("/").expect("GET on a held connection");
            assert_eq!(r.status, 200);
            c
        })
        .collect()
}

#[test]
fn a_stopped_worker_never_leaves_new_clients_unanswered() {
    let port = free_port();
    let mut s = Server::new();
    s.config(&conf(&[port], 2, ""));
    let master = s.start(port);
    let workers = s.wait_workers(master, 2);
    wait_board_is_the_workers(master, 2);
    s.signal(workers[0], Signal::SIGSTOP);
    // The live worker soon holds more than its share (its sibling holds
    // none and takes nobody): every further client must still be answered
    // within the fallback, not left in the backlog.
    let mut held = Vec::new();
    for i in 0..24 {
        let start = Instant::now();
        let mut c = KeepAlive::new(port);
        let r = c.get("/").expect("GET while a sibling is stopped");
        assert_eq!(r.status, 200);
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "client {i} waited {:?}",
            start.elapsed()
        );
        held.push(c);
    }
    let b = board(master);
    let live = b.iter().find(|&&(p, _)| p == workers[1].as_raw());
    assert_eq!(live.map(|&(_, open)| open), Some(24), "{b:?}");
    s.signal(workers[0], Signal::SIGCONT);
}

#[test]
fn a_killed_workers_count_leaves_the_board_with_it() {
    let port = free_port();
    let mut s = Server::new();
    s.config(&conf(&[port], 2, ""));
    let master = s.start(port);
    let workers = s.wait_workers(master, 2);
    // Past the fast-death window: replaced at once.
    std::thread::sleep(Duration::from_millis(1100));
    let held = hold(port, 8);
    let before = wait_for("the board to count the held connections", || {
        let b = board(master);
        (b.iter().map(|&(_, o)| o).sum::<u64>() == 8).then_some(b)
    });
    let victim = workers[0];
    let kept: u64 = before
        .iter()
        .filter(|&&(p, _)| p != victim.as_raw())
        .map(|&(_, o)| o)
        .sum();
    s.signal(victim, Signal::SIGKILL);
    s.wait_log(&format!("worker process {} exited on signal 9", victim));
    let after = wait_board_is_the_workers(master, 2);
    assert!(!pids(&after).contains(&victim.as_raw()), "{after:?}");
    // The survivor keeps its count; the replacement starts from none.
    assert_eq!(
        after.iter().map(|&(_, o)| o).sum::<u64>(),
        kept,
        "{after:?}"
    );
    for _ in 0..4 {
        assert_eq!(http::get(port, "/").expect("GET").status, 200);
    }
    drop(held);
}

#[test]
fn a_change_of_worker_processes_on_hup_leaves_only_the_new_workers() {
    let port = free_port();
    let mut s = Server::new();
    s.config(&conf(&[port], 2, ""));
    let master = s.start(port);
    wait_board_is_the_workers(master, 2);
    for n in [3, 1, 2] {
        let old = procs::workers_of(master);
        s.config(&conf(&[port], n, ""));
        s.signal(master, Signal::SIGHUP);
        wait_for("the old workers to go", || {
            let w = procs::workers_of(master);
            (w.len() == n && !w.iter().any(|p| old.contains(p))).then_some(())
        });
        wait_board_is_the_workers(master, n);
        let held = hold(port, 2 * n);
        wait_for("the new workers' counts", || {
            let b = board(master);
            let total: u64 = b.iter().map(|&(_, o)| o).sum();
            (total == 2 * n as u64).then_some(())
        });
        drop(held);
        wait_for("the counts to fall back to none", || {
            board(master).iter().all(|&(_, o)| o == 0).then_some(())
        });
    }
}
