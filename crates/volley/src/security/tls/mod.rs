//! TLS for broker connections, through rustls, configured by Java's `ssl.*` keys.
//!
//! [`TlsConnector::from_config`] reads every file once, when the producer is built, and keeps
//! one rustls client configuration that all connections share:
//!
//! - trust ([`stores::trust_roots`]): `ssl.truststore.location` (PEM, PKCS12; JKS is refused
//!   with the keytool conversion), `ssl.truststore.certificates` (inline PEM), or the system's
//!   root certificates;
//! - the client certificate for mutual TLS ([`stores::client_identity`]):
//!   `ssl.keystore.location` (PKCS12 or PEM), or `ssl.keystore.certificate.chain` with
//!   `ssl.keystore.key`, an encrypted PKCS#8 key opened with `ssl.key.password`;
//! - `ssl.protocol` and `ssl.enabled.protocols` (TLS 1.2 and 1.3), `ssl.cipher.suites` (IANA
//!   names), `ssl.endpoint.identification.algorithm` (`https`, or empty: no host name check).
//!
//! The crypto provider is *ring* (a C compiler and no more to build); the `aws-lc-rs` cargo
//! feature swaps in AWS-LC (also only a C compiler on Linux and macOS). Neither is a FIPS
//! build: that would be aws-lc-rs's `fips` feature (CMake and Go to build), not offered yet.

mod stores;
#[cfg(any(test, fuzzing))]
pub(crate) use stores::fuzz_stores;
mod verify;

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::ServerName;
use rustls::{SupportedCipherSuite, SupportedProtocolVersion};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::config::ProducerConfig;
use crate::error::{Error, Result, TlsErrorKind};
use crate::io::stream::TlsTcp;

pub(crate) use verify::ClientCert;

/// One producer's TLS client settings: a rustls configuration built once from the `ssl.*` keys.
pub(crate) struct TlsConnector {
    config: Arc<rustls::ClientConfig>,
    client_cert: ClientCert,
}

/// The rustls crypto provider: *ring*, or AWS-LC with the `aws-lc-rs` feature.
pub(crate) fn crypto_provider() -> CryptoProvider {
    #[cfg(feature = "aws-lc-rs")]
    {
        rustls::crypto::aws_lc_rs::default_provider()
    }
    #[cfg(not(feature = "aws-lc-rs"))]
    {
        rustls::crypto::ring::default_provider()
    }
}

impl TlsConnector {
    /// Reads the trust material and client certificate the `ssl.*` keys name and builds the
    /// rustls configuration (see the module documentation for the keys).
    ///
    /// Errors: `Error::Config` naming the key at fault (a missing or unreadable file, a wrong
    /// password, a JKS store, an unknown cipher suite, no usable TLS version).
    pub(crate) fn from_config(cfg: &ProducerConfig) -> Result<TlsConnector> {
        let provider = Arc::new(select_cipher_suites(
            crypto_provider(),
            &cfg.ssl_cipher_suites,
        )?);
        let versions = protocol_versions(&cfg.ssl_protocol, &cfg.ssl_enabled_protocols)?;
        let roots = Arc::new(stores::trust_roots(cfg)?);
        let identity = stores::client_identity(cfg)?;
        let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
            .build()
            .map_err(|e| Error::config("ssl.truststore.location", e.to_string()))?;
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&versions)
            .map_err(|e| {
                Error::config(
                    "ssl.cipher.suites",
                    format!(
                        "{e}: none of the listed suites is usable with the enabled TLS versions \
                         ({})",
                        version_names(&versions)
                    ),
                )
            })?;
        let builder = if cfg.ssl_endpoint_identification_algorithm.is_empty() {
            tracing::warn!(
                "ssl.endpoint.identification.algorithm is empty: brokers' certificates are \
                 not checked against their host names (chains and dates still are)"
            );
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(verify::SkipNameCheck::new(webpki)))
        } else {
            builder.with_webpki_verifier(webpki)
        };
        let (config, client_cert) = match identity {
            Some(id) => {
                let (key, source) = id.source;
                let config = builder
                    .with_client_auth_cert(id.chain, id.key)
                    .map_err(|e| {
                        Error::config(key, format!("{source}: unusable client certificate: {e}"))
                    })?;
                (config, ClientCert::Configured)
            }
            None => (builder.with_no_client_auth(), ClientCert::Missing),
        };
        Ok(TlsConnector {
            config: Arc::new(config),
            client_cert,
        })
    }

    /// Runs the TLS handshake over `tcp` to `host` (the host part of `broker`; with `https`
    /// endpoint identification the certificate must carry that name or IP address).
    ///
    /// Errors: `Error::Tls` with the kind of failure: `UntrustedCertificate`,
    /// `HostnameMismatch`, `ExpiredCertificate`, `ClientCertificateRejected`,
    /// `ProtocolMismatch` (the connection closed before the broker sent anything: a PLAINTEXT
    /// listener), `HandshakeFailed`.
    pub(crate) async fn connect(
        &self,
        broker: &str,
        host: &str,
        tcp: TcpStream,
    ) -> Result<TlsStream<TlsTcp>> {
        let name = ServerName::try_from(host.to_string()).map_err(|e| Error::Tls {
            broker: broker.to_string(),
            kind: TlsErrorKind::HandshakeFailed,
            message: format!("invalid server name {host:?}: {e}"),
        })?;
        tokio_rustls::TlsConnector::from(self.config.clone())
            .connect(name, TlsTcp::new(tcp))
            .into_fallible()
            .await
            .map_err(|(e, tcp)| {
                verify::handshake_error(broker, &e, tcp.received(), self.client_cert)
            })
    }

    /// The `Error::Tls` an I/O error of an established stream of this connector carries, if
    /// any (with TLS 1.3, a refused client certificate shows at the first read).
    pub(crate) fn stream_error(&self, broker: &str, e: &std::io::Error) -> Option<Error> {
        verify::stream_error(broker, e, self.client_cert)
    }
}

/// The `Error::Tls` an I/O error of a TLS stream carries, if any, without knowing the
/// connector (the pipelined reader and writer).
pub(crate) fn stream_error(broker: &str, e: &std::io::Error) -> Option<Error> {
    verify::stream_error(broker, e, ClientCert::Unknown)
}

/// The TLS versions `ssl.enabled.protocols` lists (both when empty), capped at 1.2 by
/// `ssl.protocol=TLSv1.2` as Java's SSLContext is.
///
/// Errors: `Error::Config` on `ssl.enabled.protocols` when no version is left.
fn protocol_versions(
    protocol: &str,
    enabled: &[String],
) -> Result<Vec<&'static SupportedProtocolVersion>> {
    let allow13 = protocol != "TLSv1.2";
    let mut names: Vec<&str> = enabled
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect();
    if names.is_empty() {
        names = vec!["TLSv1.2", "TLSv1.3"];
    }
    let mut versions = Vec::new();
    for name in names {
        let v = match name {
            "TLSv1.2" => &rustls::version::TLS12,
            "TLSv1.3" if allow13 => &rustls::version::TLS13,
            "TLSv1.3" => continue,
            other => {
                return Err(Error::config(
                    "ssl.enabled.protocols",
                    format!("{other:?} is not supported: TLSv1.2 and TLSv1.3 are"),
                ))
            }
        };
        if !versions.contains(&v) {
            versions.push(v);
        }
    }
    if versions.is_empty() {
        return Err(Error::config(
            "ssl.enabled.protocols",
            format!("no enabled version is allowed by ssl.protocol={protocol} (it allows TLSv1.2)"),
        ));
    }
    Ok(versions)
}

fn version_names(versions: &[&'static SupportedProtocolVersion]) -> String {
    versions
        .iter()
        .map(|v| match v.version {
            rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3",
            _ => "TLSv1.2",
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The IANA (and Java) name of a suite: `TLS_AES_128_GCM_SHA256`,
/// `TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384`, ... (rustls spells TLS 1.3 ones `TLS13_...`).
fn iana_name(suite: &SupportedCipherSuite) -> String {
    let name = suite
        .suite()
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| format!("{:?}", suite.suite()));
    match name.strip_prefix("TLS13_") {
        Some(rest) => format!("TLS_{rest}"),
        None => name,
    }
}

/// The provider with only the suites `names` lists, in that order (the client's preference);
/// all of its suites when `names` is empty. A name may be given as IANA spells it or as rustls
/// does.
///
/// Errors: `Error::Config` on `ssl.cipher.suites` for a name the provider does not implement,
/// listing those it does.
fn select_cipher_suites(mut provider: CryptoProvider, names: &[String]) -> Result<CryptoProvider> {
    let names: Vec<&str> = names
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect();
    if names.is_empty() {
        return Ok(provider);
    }
    let all = std::mem::take(&mut provider.cipher_suites);
    for name in names {
        let found = all
            .iter()
            .find(|s| iana_name(s) == name || s.suite().as_str() == Some(name));
        match found {
            Some(s)
                if provider
                    .cipher_suites
                    .iter()
                    .any(|c| c.suite() == s.suite()) => {}
            Some(s) => provider.cipher_suites.push(*s),
            None => {
                let supported: Vec<String> = all.iter().map(iana_name).collect();
                return Err(Error::config(
                    "ssl.cipher.suites",
                    format!(
                        "{name:?} is not supported; supported: {}",
                        supported.join(", ")
                    ),
                ));
            }
        }
    }
    Ok(provider)
}

#[cfg(test)]
mod tests;
