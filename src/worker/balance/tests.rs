use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio::sync::Notify;

use super::pacer::{Churn, MAX_STREAK, TURNOVER};
use super::{Board, PATIENCE, Pacer, SLACK, Turn, over, wait_turn};

fn words(n: usize) -> Vec<AtomicU64> {
    (0..n).map(|_| AtomicU64::new(0)).collect()
}

#[test]
fn a_worker_far_above_the_average_is_over_its_share() {
    let w = words(Board::WORDS);
    let b = Board::new(&w);
    let (a, c) = (b.claim(100).expect("slot"), b.claim(101).expect("slot"));
    b.set_open(a, 10);
    assert!(b.over_share(a));
    assert!(!b.over_share(c));
    // Within the slack of the average: no wait.
    b.set_open(c, 10 - 2 * SLACK);
    assert!(!b.over_share(a));
    b.set_open(c, 10 - 2 * SLACK - 1);
    assert!(b.over_share(a));
}

#[test]
fn a_worker_alone_or_with_few_connections_is_never_over() {
    let w = words(Board::WORDS);
    let b = Board::new(&w);
    let a = b.claim(100).expect("slot");
    b.set_open(a, 1000);
    assert!(!b.over_share(a), "alone");
    let c = b.claim(101).expect("slot");
    b.set_open(a, SLACK);
    b.set_open(c, 0);
    assert!(!b.over_share(a), "a few connections are not worth a wait");
}

#[test]
fn a_worker_that_left_or_was_reaped_no_longer_counts() {
    let w = words(Board::WORDS);
    let b = Board::new(&w);
    let (a, c, d) = (
        b.claim(100).expect("slot"),
        b.claim(101).expect("slot"),
        b.claim(102).expect("slot"),
    );
    b.set_open(a, 30);
    b.set_open(c, 30);
    // A draining sibling with no connections left would pull the average
    // down and make the others wait for nothing.
    b.leave(d);
    assert!(!b.over_share(a));
    b.release(101);
    assert!(!b.over_share(a), "alone again");
    // Freed slots are taken again, holding nothing yet.
    assert_eq!(b.claim(103), Some(c));
    assert!(b.over_share(a));
}

#[test]
fn claiming_never_disturbs_a_held_slot_and_a_full_board_says_so() {
    let w = words(Board::WORDS);
    let b = Board::new(&w);
    let first = b.claim(1).expect("slot");
    b.set_open(first, 7);
    for pid in 2..=64 {
        assert!(b.claim(pid).is_some());
    }
    assert_eq!(b.claim(65), None);
    assert_eq!(
        w[Board::at(first) + 1].load(std::sync::atomic::Ordering::Relaxed),
        7
    );
}

fn listener_with_a_waiting_client() -> (std::net::TcpListener, std::net::TcpStream) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let c = std::net::TcpStream::connect(l.local_addr().expect("addr")).expect("connect");
    (l, c)
}

fn arrivals(l: &std::net::TcpListener) -> AsyncFd<OwnedFd> {
    crate::sys::fd::readiness_dup(l.as_fd()).expect("register")
}

#[tokio::test(start_paused = true)]
async fn a_client_no_sibling_takes_is_accepted_after_all() {
    let (l, _client) = listener_with_a_waiting_client();
    let start = tokio::time::Instant::now();
    assert_eq!(
        wait_turn(&arrivals(&l), || true, &Notify::new()).await,
        Turn::Unclaimed
    );
    assert_eq!(start.elapsed(), PATIENCE);
}

#[tokio::test(start_paused = true)]
async fn a_worker_within_its_share_takes_the_client_at_once() {
    let (l, _client) = listener_with_a_waiting_client();
    let start = tokio::time::Instant::now();
    assert_eq!(
        wait_turn(&arrivals(&l), || false, &Notify::new()).await,
        Turn::Fair
    );
    assert_eq!(start.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn a_client_a_sibling_took_leaves_the_worker_waiting_for_the_next() {
    let (l, client) = listener_with_a_waiting_client();
    let a = arrivals(&l);
    let closes = Notify::new();
    let turn = wait_turn(&a, || true, &closes);
    tokio::pin!(turn);
    // Woken by the client, it waits; the sibling accepts it meanwhile.
    assert!(tokio::time::timeout(PATIENCE / 2, &mut turn).await.is_err());
    let taken = l.accept().expect("accept");
    assert!(
        tokio::time::timeout(Duration::from_secs(60), &mut turn)
            .await
            .is_err()
    );
    // The next client that nobody takes is its after all.
    let _next = std::net::TcpStream::connect(l.local_addr().expect("addr")).expect("connect");
    assert_eq!(turn.await, Turn::Unclaimed);
    drop((client, taken));
}

#[tokio::test(start_paused = true)]
async fn with_no_client_waiting_a_worker_over_its_share_sleeps() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let a = arrivals(&l);
    let closes = Notify::new();
    let turn = tokio::time::timeout(Duration::from_secs(60), wait_turn(&a, || true, &closes));
    assert!(turn.await.is_err());
}

#[test]
fn each_unclaimed_turn_in_a_row_doubles_the_batch_and_a_fair_one_resets_it() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let mut p = Pacer::new(&l);
    let credits: Vec<u32> = (0..4)
        .map(|_| {
            p.waited(Turn::Unclaimed);
            p.credit()
        })
        .collect();
    assert_eq!(credits, [0, 1, 3, 7]);
    p.waited(Turn::Fair);
    p.waited(Turn::Unclaimed);
    assert_eq!(p.credit(), 0);
    for _ in 0..40 {
        p.waited(Turn::Unclaimed);
    }
    assert_eq!(p.credit(), (1 << MAX_STREAK) - 1);
}

#[tokio::test(start_paused = true)]
async fn a_batch_is_spent_only_on_clients_that_wait() {
    let (l, _client) = listener_with_a_waiting_client();
    let mut p = Pacer::new(&l);
    for _ in 0..3 {
        p.waited(Turn::Unclaimed);
    }
    assert_eq!(p.credit(), 3);
    assert!(!p.must_wait());
    assert_eq!(p.credit(), 2);
    let _taken = l.accept().expect("accept");
    assert!(!p.must_wait(), "not on the board: never over its share");
    assert_eq!(
        p.credit(),
        0,
        "nobody waits: the rest of the batch is dropped"
    );
}

#[tokio::test(start_paused = true)]
async fn a_connection_of_its_own_closing_gives_a_worker_its_turn_at_once() {
    let (l, _client) = listener_with_a_waiting_client();
    let (a, closes) = (arrivals(&l), Notify::new());
    let over = std::cell::Cell::new(true);
    let turn = wait_turn(&a, || over.get(), &closes);
    tokio::pin!(turn);
    assert!(tokio::time::timeout(PATIENCE / 4, &mut turn).await.is_err());
    over.set(false);
    closes.notify_waiters();
    let start = tokio::time::Instant::now();
    assert_eq!(turn.await, Turn::Fair);
    assert_eq!(start.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn a_worker_sees_its_siblings_catch_up_without_being_woken() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let (a, closes) = (arrivals(&l), Notify::new());
    let over = std::cell::Cell::new(true);
    let turn = wait_turn(&a, || over.get(), &closes);
    tokio::pin!(turn);
    assert!(
        tokio::time::timeout(Duration::from_secs(1), &mut turn)
            .await
            .is_err()
    );
    over.set(false);
    let start = tokio::time::Instant::now();
    assert_eq!(turn.await, Turn::Fair);
    assert!(start.elapsed() <= super::RECHECK);
}

#[test]
fn the_decision_never_defers_a_lone_worker_and_never_two_at_once() {
    // Alone (its siblings died, left or were never there): never over.
    assert!(!over(1000, 1000, 1));
    // A stopped sibling holding nothing: the live one is over, and is
    // the only one (it accepts after all once a client waits PATIENCE).
    assert!(over(10, 10, 2));
    assert!(!over(0, 10, 2));
    // However the counts stand, at most one of two or three workers is
    // over its share: no worker can wait for a sibling that waits too.
    for a in 0..40u64 {
        for b in 0..40u64 {
            let two = [a, b];
            assert!(two.iter().filter(|&&m| over(m, a + b, 2)).count() <= 1);
            for c in [0, 7, 39] {
                let three = [a, b, c];
                let n = three.iter().filter(|&&m| over(m, a + b + c, 3)).count();
                assert!(n <= 2, "{three:?}");
                // Two of three may be over only if the third holds less.
                if n == 2 {
                    assert!(three.iter().any(|&m| !over(m, a + b + c, 3)));
                }
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_client_whose_wake_a_sibling_spent_is_still_accepted_in_time() {
    let (l, _client) = listener_with_a_waiting_client();
    let a = arrivals(&l);
    // The readiness edge is consumed before the wait begins (a sibling's
    // accept, or an earlier pass): only the direct look at the backlog
    // can see the client.
    a.readable().await.expect("readable").clear_ready();
    let start = tokio::time::Instant::now();
    assert_eq!(
        wait_turn(&a, || true, &Notify::new()).await,
        Turn::Unclaimed
    );
    assert!(start.elapsed() <= super::RECHECK + PATIENCE);
}

#[test]
fn connections_that_end_within_the_window_turn_pacing_off() {
    let t0 = tokio::time::Instant::now();
    let mut c = Churn::new(t0);
    // No window counted yet: pace.
    assert!(!c.fast(t0, 0));
    // 500 closes in one window (Connection: close traffic).
    assert!(c.fast(t0 + TURNOVER, 500), "not on the board: holds 0");
    // A burst of keep-alive connections that stay: no closes.
    assert!(!c.fast(t0 + 2 * TURNOVER, 500));
    // After a quiet spell the old window says nothing.
    let mut c = Churn::new(t0);
    assert!(!c.fast(t0 + 10 * TURNOVER, 100_000));
}

/// The page is shared: counts no worker could hold (a crashed writer's
/// garbage) must not overflow the decision (a panic in a test build, a
/// wrapped sum in a release one).
#[test]
fn garbage_counts_do_not_overflow_the_decision() {
    for (mine, total, workers) in [
        (u64::MAX, u64::MAX, u64::MAX),
        (u64::MAX, 0, 2),
        (3, u64::MAX, 2),
    ] {
        let _ = over(mine, total, workers);
    }
    assert!(over(10, 10, 2), "still over with sane counts");
    assert!(!over(u64::MAX, u64::MAX, 2), "the sum saturates, not wraps");
}
