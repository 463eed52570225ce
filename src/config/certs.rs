//! A server's certificate chain and key: read from PEM files (by the
//! master, as root, when it loads the configuration, so `-t`, a start and
//! a HUP fail on a bad one), checked to belong together, kept in memory
//! for the workers.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::ring::sign::any_supported_type;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;

/// A server's TLS identity.
#[derive(Debug, Clone)]
pub struct ServerTls {
    /// `ssl_certificate`.
    pub certificate: PathBuf,
    /// `ssl_certificate_key`.
    pub key: PathBuf,
    /// The chain and signing key, loaded.
    pub certified: Arc<CertifiedKey>,
}

/// Two configurations are the same if they name the same files (what
/// `-T` prints and reads back).
impl PartialEq for ServerTls {
    fn eq(&self, other: &Self) -> bool {
        self.certificate == other.certificate && self.key == other.key
    }
}

/// Why a certificate or key cannot be used; each names the file.
#[derive(Debug)]
pub enum CertError {
    /// A file could not be read.
    Read(PathBuf, std::io::Error),
    /// A file holds no certificate / no private key, or bad PEM.
    Pem(PathBuf, String),
    /// The key's type is not one TLS can sign with.
    Key(PathBuf, String),
    /// The key does not belong to the certificate.
    Mismatch(PathBuf, PathBuf),
    /// The certificate is expired or not valid yet.
    Validity(PathBuf, String),
}

impl fmt::Display for CertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CertError::Read(p, e) => write!(f, "cannot read \"{}\": {e}", p.display()),
            CertError::Pem(p, why) => write!(f, "\"{}\": {why}", p.display()),
            CertError::Key(p, why) => write!(f, "\"{}\": unusable private key: {why}", p.display()),
            CertError::Validity(p, why) => write!(f, "\"{}\": {why}", p.display()),
            CertError::Mismatch(c, k) => write!(
                f,
                "the private key \"{}\" does not belong to the certificate \"{}\"",
                k.display(),
                c.display()
            ),
        }
    }
}

impl std::error::Error for CertError {}

fn read(path: &Path) -> Result<Vec<u8>, CertError> {
    std::fs::read(path).map_err(|e| CertError::Read(path.to_path_buf(), e))
}

/// Loads and checks a certificate chain and its key.
pub fn load(certificate: &Path, key: &Path) -> Result<ServerTls, CertError> {
    let pem = read(certificate)?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| CertError::Pem(certificate.to_path_buf(), format!("bad PEM ({e})")))?;
    if chain.is_empty() {
        return Err(CertError::Pem(
            certificate.to_path_buf(),
            "no CERTIFICATE block".into(),
        ));
    }
    check_validity(certificate, &chain[0])?;
    let key_pem = read(key)?;
    let der = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| CertError::Pem(key.to_path_buf(), format!("no private key ({e})")))?;
    let signer =
        any_supported_type(&der).map_err(|e| CertError::Key(key.to_path_buf(), e.to_string()))?;
    let certified = CertifiedKey::new(chain, signer);
    certified
        .keys_match()
        .map_err(|_| CertError::Mismatch(certificate.to_path_buf(), key.to_path_buf()))?;
    Ok(ServerTls {
        certificate: certificate.to_path_buf(),
        key: key.to_path_buf(),
        certified: Arc::new(certified),
    })
}

/// A certificate that is expired or not valid yet fails now, not at the
/// first client.
fn check_validity(path: &Path, cert: &CertificateDer<'_>) -> Result<(), CertError> {
    use super::cert_validity::{now, show, validity};
    let Some((before, after)) = validity(cert.as_ref()) else {
        return Err(CertError::Pem(
            path.to_path_buf(),
            "the certificate's validity dates cannot be read".into(),
        ));
    };
    let now = now();
    if now > after {
        return Err(CertError::Validity(
            path.to_path_buf(),
            format!("the certificate expired on {}", show(after)),
        ));
    }
    if now < before {
        return Err(CertError::Validity(
            path.to_path_buf(),
            format!("the certificate is not valid before {}", show(before)),
        ));
    }
    Ok(())
}
