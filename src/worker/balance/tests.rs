use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio::sync::Notify;

use super::{Board, PATIENCE, Pacer, SLACK, Turn, wait_turn};

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
    let mut p = Pacer {
        arrivals: None,
        streak: 0,
        credit: 0,
    };
    let credits: Vec<u32> = (0..4)
        .map(|_| {
            p.waited(Turn::Unclaimed);
            p.credit
        })
        .collect();
    assert_eq!(credits, [0, 1, 3, 7]);
    p.waited(Turn::Fair);
    p.waited(Turn::Unclaimed);
    assert_eq!(p.credit, 0);
    for _ in 0..40 {
        p.waited(Turn::Unclaimed);
    }
    assert_eq!(p.credit, (1 << super::MAX_STREAK) - 1);
}

#[tokio::test]
async fn a_batch_is_spent_only_on_clients_that_wait() {
    let (l, _client) = listener_with_a_waiting_client();
    let mut p = Pacer {
        arrivals: Some(arrivals(&l)),
        streak: 3,
        credit: 2,
    };
    assert!(!p.must_wait());
    assert_eq!(p.credit, 1);
    let _taken = l.accept().expect("accept");
    assert!(!p.must_wait(), "not on the board: never over its share");
    assert_eq!(
        p.credit, 0,
        "nobody waits: the rest of the batch is dropped"
    );
    assert_eq!(p.streak, 0);
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
