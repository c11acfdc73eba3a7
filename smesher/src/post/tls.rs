//! Mutual TLS for the post listener and the post-service: rustls (ring) configs from PEM files,
//! the server side requiring a client certificate that chains to the CA, both sides on ALPN `h2`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// A problem with a TLS file or setting; names the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsFileError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("TLS setup: {0}")]
    Setup(String),
}

/// The three PEM files of one side of a mutual-TLS connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// CA certificate(s) the peer's certificate must chain to.
    pub ca_cert: PathBuf,
    /// Our certificate chain.
    pub cert: PathBuf,
    /// Our private key.
    pub key: PathBuf,
}

fn read(path: &Path) -> Result<Vec<u8>, TlsFileError> {
    std::fs::read(path).map_err(|source| TlsFileError::Read {
        path: path.to_owned(),
        source,
    })
}

fn invalid(path: &Path, reason: impl Into<String>) -> TlsFileError {
    TlsFileError::Invalid {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsFileError> {
    let pem = read(path)?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| invalid(path, format!("not valid PEM: {e}")))?;
    if certs.is_empty() {
        return Err(invalid(path, "no CERTIFICATE block found"));
    }
    Ok(certs)
}

fn key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsFileError> {
    let pem = read(path)?;
    PrivateKeyDer::from_pem_slice(&pem)
        .map_err(|e| invalid(path, format!("no usable private key: {e}")))
}

fn roots(path: &Path) -> Result<RootCertStore, TlsFileError> {
    let mut store = RootCertStore::empty();
    for cert in certs(path)? {
        store
            .add(cert)
            .map_err(|e| invalid(path, format!("not a usable CA certificate: {e}")))?;
    }
    Ok(store)
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The listener's config: presents `cert`/`key`, requires a client certificate issued by `ca_cert`.
pub fn server_config(files: &TlsFiles) -> Result<rustls::ServerConfig, TlsFileError> {
    let roots = Arc::new(roots(&files.ca_cert)?);
    let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider())
        .build()
        .map_err(|e| invalid(&files.ca_cert, format!("client verifier: {e}")))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsFileError::Setup(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs(&files.cert)?, key(&files.key)?)
        .map_err(|e| {
            invalid(
                &files.key,
                format!("does not match {}: {e}", files.cert.display()),
            )
        })?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

/// The post-service's config: trusts `ca_cert` for the server, presents `cert`/`key`.
pub fn client_config(files: &TlsFiles) -> Result<rustls::ClientConfig, TlsFileError> {
    let roots = roots(&files.ca_cert)?;
    let mut config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsFileError::Setup(e.to_string()))?
        .with_root_certificates(roots)
        .with_client_auth_cert(certs(&files.cert)?, key(&files.key)?)
        .map_err(|e| {
            invalid(
                &files.key,
                format!("does not match {}: {e}", files.cert.display()),
            )
        })?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "hello").unwrap();
        let files = TlsFiles {
            ca_cert: dir.path().join("missing-ca.pem"),
            cert: junk.clone(),
            key: junk.clone(),
        };
        let err = server_config(&files).unwrap_err().to_string();
        assert!(err.contains("missing-ca.pem"), "{err}");
        let files = TlsFiles {
            ca_cert: junk.clone(),
            ..files
        };
        let err = client_config(&files).unwrap_err().to_string();
        assert!(
            err.contains("junk.pem") && err.contains("no CERTIFICATE"),
            "{err}"
        );
    }
}
