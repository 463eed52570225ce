use nix::sys::signal::Signal;

use crate::support::tls::{cert, curl};
use crate::support::{self, Server, free_port, install_binary, tls, wait_for};

fn config(port: u16) -> String {
    format!(
        r#"worker_processes = 1

[[server]]
listen = ["127.0.0.1:{port} ssl"]
server_name = ["localhost"]
default_server = true
root = "html"
ssl_certificate = "a.pem"
ssl_certificate_key = "a.key"

[[server]]
listen = ["127.0.0.1:{port} ssl"]
server_name = ["b.test"]
root = "html_b"
ssl_certificate = "b.pem"
ssl_certificate_key = "b.key"
http2 = false
"#
    )
}

fn started() -> (Server, u16, nix::unistd::Pid) {
    let port = free_port();
    let mut s = Server::new();
    cert(&s, "a", &["localhost"]);
    cert(&s, "b", &["b.test"]);
    std::fs::create_dir_all(s.path("html_b")).expect("html_b");
    std::fs::write(s.path("html_b/index.html"), "hello from b\n").expect("b index");
    s.use_private_binary();
    s.config(&config(port));
    s.spawn(&[]);
    let master = s.wait_master();
    wait_for("the TLS port", || support::connects(port).then_some(()));
    (s, port, master)
}

#[test]
fn https_serves_http1_and_http2_with_the_certificate_sni_asks_for() {
    let (s, port, _) = started();
    let (v, body) = curl(&s, port, "localhost", "a.pem", "--http1.1");
    assert_eq!((v.as_str(), body.as_str()), ("1.1", "hello from moltd\n"));
    let (v, body) = curl(&s, port, "localhost", "a.pem", "--http2");
    assert_eq!((v.as_str(), body.as_str()), ("2", "hello from moltd\n"));
    // b.test's own certificate (curl trusts only it), its own root, and
    // its own ALPN list: it turned HTTP/2 off, the other server did not.
    let (v, body) = curl(&s, port, "b.test", "b.pem", "--http2");
    assert_eq!((v.as_str(), body.as_str()), ("1.1", "hello from b\n"));
    // The access log is written as for plain HTTP (buffered: wait for it).
    wait_for("HTTP/2.0 and HTTP/1.1 lines in the access log", || {
        let log = std::fs::read_to_string(s.path("logs/access.log")).unwrap_or_default();
        (log.contains("\"GET / HTTP/2.0\" 200") && log.contains("\"GET / HTTP/1.1\" 200"))
            .then_some(())
    });
}

/// A self-signed certificate for localhost valid only between two dates.
fn cert_dated(s: &Server, file: &str, from: (i32, u8, u8), to: (i32, u8, u8)) {
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).expect("params");
    params.not_before = rcgen::date_time_ymd(from.0, from.1, from.2);
    params.not_after = rcgen::date_time_ymd(to.0, to.1, to.2);
    let key = rcgen::KeyPair::generate().expect("key");
    let c = params.self_signed(&key).expect("certificate");
    std::fs::write(s.path(&format!("{file}.pem")), c.pem()).expect("write cert");
    std::fs::write(s.path(&format!("{file}.key")), key.serialize_pem()).expect("write key");
}

#[test]
fn bad_certificates_fail_the_test_with_file_and_reason() {
    let port = free_port();
    let s = Server::new();
    cert(&s, "a", &["localhost"]);
    cert(&s, "b", &["b.test"]);
    cert_dated(&s, "old", (2001, 1, 1), (2002, 1, 1));
    cert_dated(&s, "future", (2090, 1, 1), (2091, 1, 1));
    std::fs::create_dir_all(s.path("html_b")).expect("html_b");
    let dated = |name: &str| {
        config(port)
            .replace("\"a.pem\"", &format!("\"{name}.pem\""))
            .replace("\"a.key\"", &format!("\"{name}.key\""))
    };
    let cases = [
        (dated("old"), "expired on 2002-01-01"),
        (dated("future"), "not valid before 2090-01-01"),
        (
            config(port).replace("\"a.key\"", "\"missing.key\""),
            "missing.key",
        ),
        (
            config(port).replace("\"a.key\"", "\"b.key\""),
            "does not belong",
        ),
        (
            config(port).replace("\"a.pem\"", "\"a.key\""),
            "no CERTIFICATE",
        ),
        (
            config(port).replace("ssl_certificate = \"a.pem\"\n", ""),
            "needs \"ssl_certificate\"",
        ),
    ];
    for (text, want) in cases {
        s.config(&text);
        let out = s.run(&["-t"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(want), "{want}: {err}");
    }
}

#[test]
fn https_survives_an_upgrade() {
    let (mut s, port, old) = started();
    install_binary(&support::moltd_bin(), &s.bin);
    s.upgrade_from(old);
    s.signal(old, Signal::SIGQUIT);
    s.wait_gone(old);
    let (v, body) = curl(&s, port, "localhost", "a.pem", "--http2");
    assert_eq!((v.as_str(), body.as_str()), ("2", "hello from moltd\n"));
}

#[test]
fn the_effective_configuration_keeps_the_tls_keys() {
    let port = free_port();
    let s = Server::new();
    cert(&s, "a", &["localhost"]);
    cert(&s, "b", &["b.test"]);
    std::fs::create_dir_all(s.path("html_b")).expect("html_b");
    s.config(&config(port));
    let out = s.run(&["-T"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let at = text
        .rfind("# effective configuration")
        .expect("effective part");
    let effective = &text[at..];
    assert!(
        effective.contains(&format!("\"127.0.0.1:{port} ssl\"")),
        "{effective}"
    );
    assert!(effective.contains("ssl_certificate_key = "), "{effective}");
    std::fs::write(s.path("conf/effective.toml"), effective).expect("write");
    let again = s.run(&[
        "-t",
        "-c",
        &s.path("conf/effective.toml").display().to_string(),
    ]);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
}

#[test]
fn plain_http_can_redirect_to_https_keeping_host_path_and_query() {
    let (tls_port, plain) = (free_port(), free_port());
    let mut s = Server::new();
    cert(&s, "a", &["localhost"]);
    s.config(&format!(
        r#"worker_processes = 1

[[server]]
listen = ["127.0.0.1:{plain}", "127.0.0.1:{tls_port} ssl"]
server_name = ["localhost"]
root = "html"
ssl_certificate = "a.pem"
ssl_certificate_key = "a.key"
redirect_https = {tls_port}
add_header = {{ "Strict-Transport-Security" = "max-age=31536000" }}
"#
    ));
    s.spawn(&[]);
    s.wait_master();
    wait_for("the plain port", || support::connects(plain).then_some(()));
    let r = crate::support::http::request_with(
        plain,
        "GET",
        "/other/page.txt?x=1",
        &[("host", "localhost")],
    )
    .expect("plain request");
    assert_eq!(r.status, 301);
    assert_eq!(
        r.header("location"),
        Some(format!("https://localhost:{tls_port}/other/page.txt?x=1").as_str())
    );
    // Over HTTPS the same server serves, HSTS header and all.
    let head = tls::curl_head(&s, tls_port, "--http1.1", "/");
    assert!(
        head.contains(" 200") && head.contains("strict-transport-security: max-age=31536000"),
        "{head}"
    );
}

#[test]
fn a_directory_redirect_on_an_ssl_listen_says_https() {
    let (tls_port, plain) = (free_port(), free_port());
    let mut s = Server::new();
    cert(&s, "a", &["localhost"]);
    std::fs::create_dir_all(s.path("html/docs")).expect("docs dir");
    s.config(&format!(
        r#"worker_processes = 1

[[server]]
listen = ["127.0.0.1:{plain}", "127.0.0.1:{tls_port} ssl"]
server_name = ["localhost"]
root = "html"
ssl_certificate = "a.pem"
ssl_certificate_key = "a.key"
"#
    ));
    s.spawn(&[]);
    s.wait_master();
    wait_for("the TLS port", || support::connects(tls_port).then_some(()));
    for http in ["--http1.1", "--http2"] {
        let head = tls::curl_head(&s, tls_port, http, "/docs?x=1");
        let want = format!("location: https://localhost:{tls_port}/docs/?x=1\r\n");
        assert!(
            head.contains(" 301") && head.contains(&want),
            "{http}: {head}"
        );
    }
    // The same server's plain listen still redirects to plain HTTP.
    let r = crate::support::http::request_with(plain, "GET", "/docs", &[("host", "localhost")])
        .expect("plain request");
    assert_eq!(r.status, 301);
    assert_eq!(
        r.header("location"),
        Some(format!("http://localhost:{plain}/docs/").as_str())
    );
}

#[test]
fn plain_http_on_an_ssl_listen_gets_a_readable_400() {
    use std::io::{Read, Write};
    let (s, port, _) = started();
    let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    c.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .expect("send");
    let mut got = String::new();
    c.read_to_string(&mut got).expect("read to the close");
    assert!(got.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{got}");
    assert!(got.contains("Connection: close\r\n"), "{got}");
    assert!(got.contains("<title>400 Bad Request</title>"), "{got}");
    // Logged as nginx logs input that never became a request, with the
    // body bytes that went out.
    let body = got.split("\r\n\r\n").nth(1).expect("a body").len();
    wait_for("the 400 in the access log", || {
        let log = std::fs::read_to_string(s.path("logs/access.log")).unwrap_or_default();
        log.contains(&format!("\"-\" 400 {body} ")).then_some(())
    });
    // And TLS still works on the same port.
    let (v, body) = curl(&s, port, "localhost", "a.pem", "--http1.1");
    assert_eq!((v.as_str(), body.as_str()), ("1.1", "hello from moltd\n"));
}

/// A TLS client trusting `ca` (PEM), over a blocking socket, offering
/// HTTP/1.1.
fn tls_client(
    s: &Server,
    ca: &str,
    host: &str,
    port: u16,
) -> rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream> {
    tls_client_alpn(s, ca, host, port, b"http/1.1")
}

#[test]
fn an_idle_https_connection_is_closed_after_keepalive_timeout() {
    use std::io::{Read, Write};
    let port = free_port();
    let mut s = Server::new();
    cert(&s, "a", &["localhost"]);
    s.config(&format!(
        "worker_processes = 1\nkeepalive_timeout = \"1s\"\n\n[[server]]\nlisten = [\"127.0.0.1:{port} ssl\"]\nroot = \"html\"\nssl_certificate = \"a.pem\"\nssl_certificate_key = \"a.key\"\n"
    ));
    s.spawn(&[]);
    s.wait_master();
    wait_for("the TLS port", || support::connects(port).then_some(()));
    let mut c = tls_client(&s, "a.pem", "localhost", port);
    c.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .expect("request");
    let mut buf = [0u8; 4096];
    let n = c.read(&mut buf).expect("response");
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    let started = std::time::Instant::now();
    // Read what remains of the body, then the close.
    let mut closed = false;
    while started.elapsed() < std::time::Duration::from_secs(8) {
        match c.read(&mut buf) {
            Ok(0) | Err(_) => {
                closed = true;
                break;
            }
            Ok(_) => {}
        }
    }
    assert!(closed, "the idle connection stayed open");
    assert!(started.elapsed() >= std::time::Duration::from_millis(500));
}

#[test]
fn a_reload_with_a_bad_certificate_keeps_the_old_one_and_says_why() {
    let (s, port, master) = started();
    // The key no longer matches: the reload is refused, HTTPS serves on.
    std::fs::copy(s.path("b.key"), s.path("a.key")).expect("swap key");
    s.signal(master, Signal::SIGHUP);
    s.wait_log("does not belong to the certificate");
    let (v, body) = curl(&s, port, "localhost", "a.pem", "--http2");
    assert_eq!((v.as_str(), body.as_str()), ("2", "hello from moltd\n"));
    assert!(!s.log().contains("reload complete"), "{}", s.log());
}

#[test]
fn a_silent_http2_client_does_not_keep_its_slot() {
    use std::io::{Read, Write};
    let port = free_port();
    let mut s = Server::new();
    cert(&s, "a", &["localhost"]);
    s.config(&format!(
        "worker_processes = 1\nkeepalive_timeout = \"1s\"\n\n[[server]]\nlisten = [\"127.0.0.1:{port} ssl\"]\nroot = \"html\"\nssl_certificate = \"a.pem\"\nssl_certificate_key = \"a.key\"\n"
    ));
    s.spawn(&[]);
    s.wait_master();
    wait_for("the TLS port", || support::connects(port).then_some(()));
    let mut c = tls_client_alpn(&s, "a.pem", "localhost", port, b"h2");
    // The preface and an empty SETTINGS frame, then silence: never an ACK.
    c.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .expect("preface");
    let started = std::time::Instant::now();
    let mut buf = [0u8; 4096];
    let mut closed = false;
    while started.elapsed() < std::time::Duration::from_secs(10) {
        match c.read(&mut buf) {
            Ok(0) | Err(_) => {
                closed = true;
                break;
            }
            Ok(_) => {}
        }
    }
    assert!(closed, "a silent HTTP/2 client kept its connection");
}

/// A TLS client offering one ALPN protocol.
fn tls_client_alpn(
    s: &Server,
    ca: &str,
    host: &str,
    port: u16,
    alpn: &[u8],
) -> rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream> {
    let config = tls::client_config(s, ca, alpn);
    let name = rustls::pki_types::ServerName::try_from(host.to_string()).expect("name");
    let conn = rustls::ClientConnection::new(std::sync::Arc::new(config), name).expect("client");
    let sock = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    sock.set_read_timeout(Some(std::time::Duration::from_secs(2)))
        .expect("timeout");
    rustls::StreamOwned::new(conn, sock)
}

#[test]
fn https_keeps_the_http1_framing_rules() {
    use std::io::{Read, Write};
    let (s, port, _) = started();
    let cases: [(&[u8], &str); 3] = [
        (
            b"GET / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 99999999999\r\n\r\n",
            "HTTP/1.1 413",
        ),
        (
            b"GET / HTTP/1.1\r\nHost: localhost\r\nHost: b.test\r\n\r\n",
            "HTTP/1.1 400",
        ),
        (
            b"GET / HTTP/1.1\r\nHost: localhost\r\nExpect: foo\r\n\r\n",
            "HTTP/1.1 417",
        ),
    ];
    for (req, want) in cases {
        let mut c = tls_client_alpn(&s, "a.pem", "localhost", port, b"http/1.1");
        c.write_all(req).expect("request");
        let mut buf = [0u8; 256];
        let n = c.read(&mut buf).unwrap_or(0);
        let got = String::from_utf8_lossy(&buf[..n]);
        assert!(got.starts_with(want), "{want}: {got}");
    }
}
