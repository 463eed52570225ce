//! SNI and Host share one matcher: overlapping wildcards and `name.*`
//! patterns show the certificate of the very server that then answers.

use crate::support::tls::{cert, curl};
use crate::support::{self, Server, free_port, wait_for};

#[test]
fn sni_picks_the_certificate_of_the_server_that_answers() {
    let port = free_port();
    let mut s = Server::new();
    cert(&s, "a", &["*.example.com"]);
    cert(&s, "b", &["*.www.example.com"]);
    cert(&s, "c", &["example.org"]);
    for (dir, body) in [("html_b", "b\n"), ("html_c", "c\n")] {
        std::fs::create_dir_all(s.path(dir)).expect("root");
        std::fs::write(s.path(&format!("{dir}/index.html")), body).expect("index");
    }
    s.use_private_binary();
    // The shorter wildcard comes first in the file: a first-match SNI
    // would show a.pem for x.www.example.com, whose requests b answers.
    s.config(&format!(
        r#"worker_processes = 1

[[server]]
listen = ["127.0.0.1:{port} ssl"]
server_name = ["*.example.com"]
root = "html"
ssl_certificate = "a.pem"
ssl_certificate_key = "a.key"

[[server]]
listen = ["127.0.0.1:{port} ssl"]
server_name = ["*.www.example.com"]
root = "html_b"
ssl_certificate = "b.pem"
ssl_certificate_key = "b.key"

[[server]]
listen = ["127.0.0.1:{port} ssl"]
server_name = ["example.*"]
root = "html_c"
ssl_certificate = "c.pem"
ssl_certificate_key = "c.key"
"#
    ));
    s.spawn(&[]);
    s.wait_master();
    wait_for("the TLS port", || support::connects(port).then_some(()));
    // curl trusts only the certificate given, so a wrong one fails.
    for v in ["--http1.1", "--http2"] {
        let (_, body) = curl(&s, port, "x.www.example.com", "b.pem", v);
        assert_eq!(body, "b\n", "{v}");
        let (_, body) = curl(&s, port, "x.example.com", "a.pem", v);
        assert_eq!(body, "hello from moltd\n", "{v}");
        let (_, body) = curl(&s, port, "example.org", "c.pem", v);
        assert_eq!(body, "c\n", "{v}");
        // Case does not matter, as for Host.
        let (_, body) = curl(&s, port, "X.WWW.Example.COM", "b.pem", v);
        assert_eq!(body, "b\n", "{v}");
    }
}
