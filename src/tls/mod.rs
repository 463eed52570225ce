//! HTTPS: certificates are read and checked when the configuration is
//! loaded (by the master, as root, before workers drop privileges: `-t`,
//! a start and a HUP fail on a bad one; `config/certs.rs`), and each worker
//! builds one rustls acceptor per `ssl` listen address from them, choosing
//! the certificate by SNI (`sni.rs`). The connections themselves are the
//! worker's (`worker/tls_conn.rs`).

pub mod sni;
