//! `keepalive_requests`: a connection serves that many requests, then the
//! last response closes it (HTTP/1.1, plain or TLS) or HTTP/2 sends GOAWAY;
//! the client opens a new connection and loses nothing.

use std::process::Command;

use crate::support::tls::cert;
use crate::support::{self, Server, free_port, wait_for};

/// Fetches `/` five times with one curl (which reuses its connection when
/// it may) and returns, per transfer, the status and whether it needed a
/// new connection.
fn five(s: &Server, url: &str, version: &str, tls: u16) -> Vec<(String, bool)> {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--max-time", "10", version]);
    cmd.args(["--resolve", &format!("localhost:{tls}:127.0.0.1")]);
    cmd.arg("--cacert").arg(s.path("a.pem"));
    cmd.args(["-w", "%{http_code} %{num_connects}\n"]);
    for _ in 0..5 {
        cmd.args([url, "-o", "/dev/null"]);
    }
    let out = cmd.output().expect("run curl");
    assert!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let (code, connects) = l.split_once(' ').expect("two fields");
            (code.to_string(), connects != "0")
        })
        .collect()
}

#[test]
fn a_connection_serves_keepalive_requests_then_the_client_reconnects() {
    let (plain, tls) = (free_port(), free_port());
    let mut s = Server::new();
    cert(&s, "a", &["localhost"]);
    s.config(&format!(
        r#"worker_processes = 1
keepalive_requests = 2

[[server]]
listen = ["127.0.0.1:{plain}", "127.0.0.1:{tls} ssl"]
server_name = ["localhost"]
root = "html"
ssl_certificate = "a.pem"
ssl_certificate_key = "a.key"
"#
    ));
    s.spawn(&[]);
    s.wait_master();
    wait_for("both ports", || {
        (support::connects(plain) && support::connects(tls)).then_some(())
    });
    let expected: Vec<(String, bool)> = [true, false, true, false, true]
        .into_iter()
        .map(|new| ("200".to_string(), new))
        .collect();
    // HTTP/1.1 says `Connection: close` on the second response: exact.
    for url in [
        format!("http://127.0.0.1:{plain}/"),
        format!("https://localhost:{tls}/"),
    ] {
        assert_eq!(five(&s, &url, "--http1.1", tls), expected, "{url}");
    }
    // HTTP/2 sends GOAWAY after the second request; a next request the
    // client sent before the GOAWAY reached it is still answered (that is
    // what a graceful GOAWAY means), so a connection serves 2, at most 3.
    let got = five(&s, &format!("https://localhost:{tls}/"), "--http2", tls);
    assert!(got.iter().all(|(code, _)| code == "200"), "{got:?}");
    let mut runs = Vec::new();
    for (_, new) in &got {
        match runs.last_mut() {
            Some(n) if !new => *n += 1,
            _ => runs.push(1),
        }
    }
    assert!(runs.len() >= 2 && runs.iter().all(|&n| n <= 3), "{got:?}");
}
