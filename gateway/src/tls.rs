//! TLS to `https://` upstreams: rustls (ring provider) trusting the platform's roots plus an
//! optional extra CA, and the connectors built on it.

use std::sync::Arc;
use std::time::Duration;

use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

/// The connector of the relay: plain HTTP or TLS, by the URL's scheme.
pub type UpstreamConnector = HttpsConnector<HttpConnector>;

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("extra CA certificate: {0}")]
    BadCa(String),
    #[error("TLS setup: {0}")]
    Setup(String),
}

/// Which roots to trust.
#[derive(Debug, Clone, Default)]
pub struct TlsRoots {
    /// Load the platform's trusted roots (ignored when none can be read).
    pub platform: bool,
    /// PEM with one or more extra CA certificates (e.g. a private CA of the operator's nodes).
    pub extra_ca_pem: Option<Vec<u8>>,
}

impl TlsRoots {
    /// The platform's roots and, if given, an extra CA.
    pub fn platform_and(extra_ca_pem: Option<Vec<u8>>) -> Self {
        TlsRoots {
            platform: true,
            extra_ca_pem,
        }
    }
}

/// A rustls client config trusting `roots`.
pub fn client_config(roots: &TlsRoots) -> Result<rustls::ClientConfig, TlsError> {
    let mut store = RootCertStore::empty();
    if roots.platform {
        let loaded = rustls_native_certs::load_native_certs();
        for e in &loaded.errors {
            tracing::debug!("platform root certificates: {e}");
        }
        let (added, ignored) = store.add_parsable_certificates(loaded.certs);
        tracing::debug!(added, ignored, "platform root certificates loaded");
    }
    if let Some(pem) = &roots.extra_ca_pem {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<_, _>>()
            .map_err(|e| TlsError::BadCa(format!("not valid PEM: {e}")))?;
        if certs.is_empty() {
            return Err(TlsError::BadCa(
                "no CERTIFICATE block found in the PEM".into(),
            ));
        }
        for cert in certs {
            store
                .add(cert)
                .map_err(|e| TlsError::BadCa(format!("not a usable CA certificate: {e}")))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Setup(e.to_string()))?
        .with_root_certificates(store)
        .with_no_client_auth())
}

/// A connector for HTTP/1.1 (`http2 = false`, JSON) or HTTP/2 (`http2 = true`, gRPC: h2c on
/// `http://`, ALPN `h2` on `https://`).
pub fn connector(
    roots: &TlsRoots,
    http2: bool,
    connect_timeout: Duration,
) -> Result<UpstreamConnector, TlsError> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(connect_timeout));
    let builder = HttpsConnectorBuilder::new()
        .with_tls_config(client_config(roots)?)
        .https_or_http();
    Ok(if http2 {
        builder.enable_http2().wrap_connector(http)
    } else {
        builder.enable_http1().wrap_connector(http)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_extra_ca_is_named() {
        let roots = TlsRoots {
            platform: false,
            extra_ca_pem: Some(b"hello".to_vec()),
        };
        let e = client_config(&roots).unwrap_err().to_string();
        assert!(e.contains("no CERTIFICATE block"), "{e}");
        let roots = TlsRoots {
            platform: false,
            extra_ca_pem: Some(
                b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".to_vec(),
            ),
        };
        let e = client_config(&roots).unwrap_err().to_string();
        assert!(e.starts_with("extra CA certificate:"), "{e}");
    }

    #[test]
    fn platform_roots_alone_build() {
        assert!(client_config(&TlsRoots::default()).is_ok());
        assert!(connector(&TlsRoots::platform_and(None), true, Duration::from_secs(1)).is_ok());
    }
}
