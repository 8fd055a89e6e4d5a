//! TLS for broker connections, through rustls.

use std::sync::Arc;

use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::config::ProducerConfig;
use crate::error::{Error, Result, TlsErrorKind};

/// One producer's TLS client settings: a rustls configuration built once from the `ssl.*` keys.
pub(crate) struct TlsConnector {
    config: Arc<rustls::ClientConfig>,
}

impl TlsConnector {
    /// Reads the trust material and client certificate the `ssl.*` keys name.
    ///
    /// Errors: `Error::Config` naming the key at fault.
    pub(crate) fn from_config(cfg: &ProducerConfig) -> Result<TlsConnector> {
        let mut roots = rustls::RootCertStore::empty();
        let path = cfg
            .ssl_truststore_location
            .as_deref()
            .ok_or_else(|| Error::config("ssl.truststore.location", "required (for now)"))?;
        use rustls::pki_types::pem::PemObject;
        for cert in rustls::pki_types::CertificateDer::pem_file_iter(path)
            .map_err(|e| Error::config("ssl.truststore.location", format!("{path}: {e}")))?
        {
            let cert =
                cert.map_err(|e| Error::config("ssl.truststore.location", format!("{path}: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| Error::config("ssl.truststore.location", format!("{path}: {e}")))?;
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::config("ssl.enabled.protocols", e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        Ok(TlsConnector {
            config: Arc::new(config),
        })
    }

    /// Runs the TLS handshake over `tcp` to `host` (the name the certificate must carry).
    ///
    /// Errors: `Error::Tls` with the kind of failure.
    pub(crate) async fn connect(
        &self,
        broker: &str,
        host: &str,
        tcp: TcpStream,
    ) -> Result<TlsStream<TcpStream>> {
        let name = ServerName::try_from(host.to_string()).map_err(|e| Error::Tls {
            broker: broker.to_string(),
            kind: TlsErrorKind::HandshakeFailed,
            message: format!("invalid server name {host:?}: {e}"),
        })?;
        tokio_rustls::TlsConnector::from(self.config.clone())
            .connect(name, tcp)
            .await
            .map_err(|e| Error::Tls {
                broker: broker.to_string(),
                kind: TlsErrorKind::HandshakeFailed,
                message: e.to_string(),
            })
    }
}
