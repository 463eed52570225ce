//! TLS for tests: certificates made on the spot and clients that trust
//! exactly one of them, so a test that gets the wrong certificate fails.

use std::process::Command;

use super::Server;

/// A self-signed certificate for `names`, written as `NAME.pem` and
/// `NAME.key` in the prefix.
pub fn cert(s: &Server, file: &str, names: &[&str]) {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let c = rcgen::generate_simple_self_signed(names).expect("certificate");
    std::fs::write(s.path(&format!("{file}.pem")), c.cert.pem()).expect("write cert");
    std::fs::write(s.path(&format!("{file}.key")), c.key_pair.serialize_pem()).expect("write key");
}

/// `curl` over HTTPS trusting `ca`; returns (HTTP version, body).
pub fn curl(s: &Server, port: u16, host: &str, ca: &str, version: &str) -> (String, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", version, "--cacert"])
        .arg(s.path(ca))
        .args(["--resolve", &format!("{host}:{port}:127.0.0.1")])
        .args(["-w", "\n%{http_version}"])
        .arg(format!("https://{host}:{port}/"))
        .output()
        .expect("run curl");
    assert!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, v) = text.rsplit_once('\n').expect("version line");
    (v.to_string(), format!("{body}\n").replace("\n\n", "\n"))
}

/// The response head (lowercased) curl gets for `path` from
/// `https://localhost:port`, trusting `a.pem`, speaking `version`.
pub fn curl_head(s: &Server, port: u16, version: &str, path: &str) -> String {
    let out = Command::new("curl")
        .args(["-sS", "-D", "-", "-o", "/dev/null", version, "--cacert"])
        .arg(s.path("a.pem"))
        .args(["--resolve", &format!("localhost:{port}:127.0.0.1")])
        .arg(format!("https://localhost:{port}{path}"))
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout).to_ascii_lowercase()
}

/// A rustls client configuration trusting only the certificate in the
/// prefix's `ca` file and offering the one ALPN protocol `alpn`.
pub fn client_config(s: &Server, ca: &str, alpn: &[u8]) -> rustls::ClientConfig {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::CertificateDer::pem_file_iter(s.path(ca)).expect("ca") {
        roots.add(c.expect("cert")).expect("add root");
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    config
}
