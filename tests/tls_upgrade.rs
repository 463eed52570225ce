//! HTTPS through the operator's sequences under load: HTTP/2 clients with
//! many streams and HTTP/1.1 keep-alive clients over TLS, through USR2 ->
//! WINCH -> QUIT (commit) and USR2 -> WINCH -> HUP -> QUIT new (rollback).
//! No request fails and no stream is reset. A stream the server declared
//! unprocessed in its GOAWAY (above the last stream id) is retried on a
//! new connection, as RFC 9113 allows and browsers do; it is counted, not
//! failed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use nix::sys::signal::Signal;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use crate::support::tls::cert;
use crate::support::{self, Server, free_port, procs, wait_for};

const BODY: &str = "hello from moltd\n";

#[derive(Default)]
struct Stats {
    ok: AtomicUsize,
    /// Streams above a GOAWAY's last stream id, retried elsewhere.
    unprocessed: AtomicUsize,
    failures: std::sync::Mutex<Vec<String>>,
}

impl Stats {
    fn fail(&self, what: String) {
        self.failures.lock().expect("lock").push(what);
    }
}

/// A TLS client trusting the test certificate, offering `alpn`.
fn connector(s: &Server, alpn: &[u8]) -> tokio_rustls::TlsConnector {
    let config = support::tls::client_config(s, "a.pem", alpn);
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

type Tls = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;

async fn connect(tls: &tokio_rustls::TlsConnector, port: u16) -> std::io::Result<Tls> {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    tls.connect(name, tcp).await
}

/// One HTTP/2 connection after another, each with `streams` requests in
/// flight at all times, until `stop`.
async fn h2_client(
    tls: tokio_rustls::TlsConnector,
    port: u16,
    streams: usize,
    st: Arc<Stats>,
    stop: Arc<AtomicBool>,
) {
    while !stop.load(Ordering::Relaxed) {
        let io = match connect(&tls, port).await {
            Ok(io) => io,
            Err(e) => return st.fail(format!("h2 connect: {e}")),
        };
        let (client, conn) = match h2::client::handshake(io).await {
            Ok(x) => x,
            Err(e) => return st.fail(format!("h2 handshake: {e}")),
        };
        let driver = tokio::spawn(conn);
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..streams {
            set.spawn(h2_stream(
                client.clone(),
                port,
                Arc::clone(&st),
                Arc::clone(&stop),
            ));
        }
        while set.join_next().await.is_some() {}
        drop(client);
        let _ = driver.await;
    }
}

/// Requests one after another on `client` until its connection refuses
/// new streams (GOAWAY) or `stop`.
async fn h2_stream(
    client: h2::client::SendRequest<bytes::Bytes>,
    port: u16,
    st: Arc<Stats>,
    stop: Arc<AtomicBool>,
) {
    while !stop.load(Ordering::Relaxed) {
        // Refused before it started (the connection had a GOAWAY): the
        // request was never sent; the next connection sends it.
        let Ok(mut c) = client.clone().ready().await else {
            return;
        };
        let req = hyper::Request::get(format!("https://localhost:{port}/"))
            .body(())
            .expect("request");
        let Ok((resp, _)) = c.send_request(req, true) else {
            return;
        };
        match h2_body(resp).await {
            Ok(body) if body == BODY.as_bytes() => {
                st.ok.fetch_add(1, Ordering::Relaxed);
            }
            Ok(body) => return st.fail(format!("h2 body {:?}", String::from_utf8_lossy(&body))),
            Err(e)
                if e.is_go_away() && e.is_remote() && e.reason() == Some(h2::Reason::NO_ERROR) =>
            {
                st.unprocessed.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Err(e) => return st.fail(format!("h2 stream: {e:?}")),
        }
    }
}

async fn h2_body(resp: h2::client::ResponseFuture) -> Result<Vec<u8>, h2::Error> {
    let resp = resp.await?;
    if resp.status() != 200 {
        return Ok(format!("status {}", resp.status()).into_bytes());
    }
    let mut body = resp.into_body();
    let mut out = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk?;
        let _ = body.flow_control().release_capacity(chunk.len());
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// HTTP/1.1 keep-alive over TLS: a connection ends only after a response
/// that says `Connection: close`; any other end is a failure.
async fn h1_client(
    tls: tokio_rustls::TlsConnector,
    port: u16,
    st: Arc<Stats>,
    stop: Arc<AtomicBool>,
) {
    let mut conn: Option<BufReader<Tls>> = None;
    while !stop.load(Ordering::Relaxed) {
        if conn.is_none() {
            match connect(&tls, port).await {
                Ok(io) => conn = Some(BufReader::new(io)),
                Err(e) => return st.fail(format!("h1 connect: {e}")),
            }
        }
        let Some(c) = conn.as_mut() else { return };
        let exchange = async {
            c.get_mut()
                .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
                .await?;
            let (mut len, mut close, mut line) = (0usize, false, String::new());
            c.read_line(&mut line).await?;
            let status_ok = line.starts_with("HTTP/1.1 200");
            loop {
                line.clear();
                if c.read_line(&mut line).await? == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                let l = line.trim_end().to_ascii_lowercase();
                if l.is_empty() {
                    break;
                }
                if let Some(v) = l.strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
                close |= l == "connection: close";
            }
            let mut body = vec![0; len];
            c.read_exact(&mut body).await?;
            Ok::<_, std::io::Error>((status_ok && body == BODY.as_bytes(), close))
        };
        match exchange.await {
            Ok((true, close)) => {
                st.ok.fetch_add(1, Ordering::Relaxed);
                if close {
                    conn = None;
                }
            }
            Ok((false, _)) => return st.fail("h1: wrong status or body".into()),
            Err(e) => return st.fail(format!("h1 request: {e}")),
        }
    }
}

/// Starts 3 HTTP/2 clients (10 streams each) and 3 HTTP/1.1 clients on a
/// thread of their own; returns what stops and reports them.
fn load(s: &Server, port: u16) -> (Arc<Stats>, Arc<AtomicBool>, std::thread::JoinHandle<()>) {
    let (st, stop) = (Arc::new(Stats::default()), Arc::new(AtomicBool::new(false)));
    let (h2, h1) = (connector(s, b"h2"), connector(s, b"http/1.1"));
    let (st2, stop2) = (Arc::clone(&st), Arc::clone(&stop));
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let mut set = tokio::task::JoinSet::new();
            for _ in 0..3 {
                set.spawn(h2_client(
                    h2.clone(),
                    port,
                    10,
                    Arc::clone(&st2),
                    Arc::clone(&stop2),
                ));
                set.spawn(h1_client(
                    h1.clone(),
                    port,
                    Arc::clone(&st2),
                    Arc::clone(&stop2),
                ));
            }
            while set.join_next().await.is_some() {}
        });
    });
    (st, stop, thread)
}

fn started() -> (Server, u16, nix::unistd::Pid) {
    let port = free_port();
    let mut s = Server::new();
    cert(&s, "a", &["localhost"]);
    s.use_private_binary();
    s.config(&format!(
        "worker_processes = 2\n\n[[server]]\nlisten = [\"127.0.0.1:{port} ssl\"]\nserver_name = [\"localhost\"]\nroot = \"html\"\nssl_certificate = \"a.pem\"\nssl_certificate_key = \"a.key\"\n"
    ));
    s.spawn(&[]);
    let master = s.wait_master();
    s.wait_workers(master, 2);
    wait_for("the TLS port", || support::connects(port).then_some(()));
    (s, port, master)
}

fn progress(st: &Stats, n: usize) {
    let start = st.ok.load(Ordering::Relaxed);
    wait_for("client progress", || {
        (st.ok.load(Ordering::Relaxed) >= start + n).then_some(())
    });
}

fn finish(st: &Stats, stop: &AtomicBool, thread: std::thread::JoinHandle<()>) {
    stop.store(true, Ordering::Relaxed);
    thread.join().expect("load thread");
    let failures = st.failures.lock().expect("lock");
    assert!(failures.is_empty(), "failed: {failures:?}");
    assert!(st.ok.load(Ordering::Relaxed) > 0);
    eprintln!(
        "{} requests answered, {} unprocessed streams retried",
        st.ok.load(Ordering::Relaxed),
        st.unprocessed.load(Ordering::Relaxed)
    );
}

#[test]
fn http2_and_https_clients_lose_nothing_through_an_upgrade() {
    let (mut s, port, old) = started();
    let old_workers = s.wait_workers(old, 2);
    let (st, stop, thread) = load(&s, port);
    progress(&st, 500);
    let new = s.upgrade_from(old);
    s.wait_log(&format!("new binary process {new} is ready"));
    progress(&st, 500);
    s.signal(old, Signal::SIGWINCH);
    for w in &old_workers {
        s.wait_gone(*w);
    }
    progress(&st, 500);
    s.signal(old, Signal::SIGQUIT);
    s.wait_gone(old);
    progress(&st, 500);
    finish(&st, &stop, thread);
    assert_eq!(s.pid(), new);
}

#[test]
fn http2_and_https_clients_lose_nothing_through_a_rollback() {
    let (mut s, port, old) = started();
    let (st, stop, thread) = load(&s, port);
    progress(&st, 500);
    let new = s.upgrade_from(old);
    s.wait_log(&format!("new binary process {new} is ready"));
    s.signal(old, Signal::SIGWINCH);
    progress(&st, 500);
    // The new binary misbehaves: the old workers come back, the new
    // master goes.
    s.signal(old, Signal::SIGHUP);
    wait_for("the old master's workers again", || {
        (procs::workers_of(old).len() == 2).then_some(())
    });
    s.signal(new, Signal::SIGQUIT);
    s.wait_gone(new);
    progress(&st, 500);
    finish(&st, &stop, thread);
    assert_eq!(s.pid(), old);
}
