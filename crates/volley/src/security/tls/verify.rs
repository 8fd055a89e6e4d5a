//! Server certificate checks and what TLS failures are called.
//!
//! - [`SkipNameCheck`] verifies the broker's chain and validity dates but not its host name
//!   (`ssl.endpoint.identification.algorithm` empty).
//! - [`handshake_error`] and [`stream_error`] turn rustls and socket errors into
//!   `Error::Tls` with the [`TlsErrorKind`] a caller can act on.

use std::io;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{AlertDescription, CertificateError, DigitallySignedStruct, SignatureScheme};

use crate::error::{Error, TlsErrorKind};

/// Rustls's WebPKI verifier minus the host name check: the chain, its signatures and the
/// validity dates are verified as usual, and only a certificate not issued for the name
/// connected to is accepted (Java's empty `ssl.endpoint.identification.algorithm`).
#[derive(Debug)]
pub(crate) struct SkipNameCheck {
    inner: Arc<WebPkiServerVerifier>,
}

impl SkipNameCheck {
    pub(crate) fn new(inner: Arc<WebPkiServerVerifier>) -> SkipNameCheck {
        SkipNameCheck { inner }
    }
}

impl ServerCertVerifier for SkipNameCheck {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // WebPKI checks the name last, after the chain and the dates: a name error means all
        // else passed.
        match self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }

    fn root_hint_subjects(&self) -> Option<&[rustls::DistinguishedName]> {
        self.inner.root_hint_subjects()
    }
}

/// The rustls error an I/O error of a TLS stream carries, if any.
fn rustls_error(e: &io::Error) -> Option<&rustls::Error> {
    e.get_ref()?.downcast_ref::<rustls::Error>()
}

/// Whether a client certificate was configured, when known: it words the hint of a rejection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientCert {
    /// A client certificate is configured.
    Configured,
    /// No client certificate is configured.
    Missing,
    /// Not known where the error is built.
    Unknown,
}

/// The `Error::Tls` for a failed handshake with `broker`. `received` tells whether the broker
/// sent any byte: a connection closed before that is most likely a PLAINTEXT listener that
/// dropped the TLS ClientHello as an oversized Kafka request.
pub(crate) fn handshake_error(
    broker: &str,
    e: &io::Error,
    received: bool,
    client_cert: ClientCert,
) -> Error {
    if let Some(tls) = rustls_error(e) {
        return from_rustls(broker, tls, client_cert);
    }
    let closed = matches!(
        e.kind(),
        io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
    );
    if closed && !received {
        // Most likely a PLAINTEXT listener; a ProtocolMismatch, which is not an authentication
        // failure (a broker at its connection limit looks the same).
        return tls(
            broker,
            TlsErrorKind::ProtocolMismatch,
            format!(
                "the broker closed the connection during the TLS handshake without sending \
                 anything ({e}): is this a PLAINTEXT listener? (security.protocol SSL and \
                 SASL_SSL need a TLS listener)"
            ),
        );
    }
    // Any other socket failure is the network's, retried as in Java (an IOException during
    // the handshake is not an SslAuthenticationException there).
    Error::Network {
        broker: broker.to_string(),
        message: if closed {
            format!("the broker closed the connection during the TLS handshake ({e})")
        } else {
            format!("the TLS handshake failed: {e}")
        },
        source: None,
    }
}

/// The `Error::Tls` for an I/O error of an established TLS stream that carries a TLS error
/// (with TLS 1.3 a broker refuses a missing client certificate only after the handshake, in an
/// alert the first read receives); `None` for a plain I/O error.
pub(crate) fn stream_error(broker: &str, e: &io::Error, client_cert: ClientCert) -> Option<Error> {
    rustls_error(e).map(|tls| from_rustls(broker, tls, client_cert))
}

fn tls(broker: &str, kind: TlsErrorKind, message: String) -> Error {
    Error::Tls {
        broker: broker.to_string(),
        kind,
        message,
    }
}

/// A certificate name as webpki presents it, `DnsName("kafka.example")`, without the wrapper.
fn plain_name(presented: &str) -> &str {
    presented
        .strip_prefix("DnsName(\"")
        .and_then(|n| n.strip_suffix("\")"))
        .unwrap_or(presented)
}

/// Whether an alert from the broker says it refused the client's certificate (or its lack).
fn rejects_client_cert(alert: AlertDescription) -> bool {
    matches!(
        alert,
        AlertDescription::CertificateRequired
            | AlertDescription::BadCertificate
            | AlertDescription::UnknownCA
            | AlertDescription::CertificateUnknown
            | AlertDescription::UnsupportedCertificate
            | AlertDescription::CertificateRevoked
            | AlertDescription::CertificateExpired
            | AlertDescription::AccessDenied
    )
}

fn from_rustls(broker: &str, err: &rustls::Error, client_cert: ClientCert) -> Error {
    use CertificateError as C;
    let (kind, message) = match err {
        rustls::Error::InvalidCertificate(cert) => match cert {
            C::NotValidForNameContext {
                expected,
                presented,
            } => (
                TlsErrorKind::HostnameMismatch,
                format!(
                    "the broker's certificate is not valid for {:?}; it is valid for {} \
                     (ssl.endpoint.identification.algorithm empty skips this check)",
                    expected.to_str(),
                    if presented.is_empty() {
                        "no name".to_string()
                    } else {
                        presented
                            .iter()
                            .map(|n| plain_name(n))
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                ),
            ),
            C::NotValidForName => (
                TlsErrorKind::HostnameMismatch,
                "the broker's certificate is not valid for the host name connected to \
                 (ssl.endpoint.identification.algorithm empty skips this check)"
                    .to_string(),
            ),
            C::Expired
            | C::ExpiredContext { .. }
            | C::NotValidYet
            | C::NotValidYetContext { .. } => (
                TlsErrorKind::ExpiredCertificate,
                format!("the broker's certificate is outside its validity period: {err}"),
            ),
            _ => (
                TlsErrorKind::UntrustedCertificate,
                format!(
                    "the broker's certificate is not trusted: {err} (the CA that signed it must \
                     be in the trust store, ssl.truststore.*)"
                ),
            ),
        },
        rustls::Error::AlertReceived(alert) if rejects_client_cert(*alert) => {
            let hint = match client_cert {
                ClientCert::Missing => {
                    "it requires a client certificate (mutual TLS) and none is configured \
                     (ssl.keystore.location, or ssl.keystore.certificate.chain and \
                     ssl.keystore.key)"
                }
                ClientCert::Configured => {
                    "it does not accept the configured client certificate (is it signed by a CA \
                     the broker trusts, and still valid?)"
                }
                ClientCert::Unknown => {
                    "it requires a client certificate (mutual TLS) signed by a CA it trusts \
                     (ssl.keystore.*)"
                }
            };
            (
                TlsErrorKind::ClientCertificateRejected,
                format!("the broker refused the client with alert {alert:?}: {hint}"),
            )
        }
        rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType) => (
            TlsErrorKind::ProtocolMismatch,
            format!(
                "the broker did not answer with TLS ({err}): is this a PLAINTEXT listener? \
                 (security.protocol SSL and SASL_SSL need a TLS listener)"
            ),
        ),
        _ => (TlsErrorKind::HandshakeFailed, err.to_string()),
    };
    tls(broker, kind, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(e: &Error) -> TlsErrorKind {
        match e {
            Error::Tls { kind, .. } => *kind,
            other => panic!("expected a TLS error, got {other}"),
        }
    }

    fn wrapped(err: rustls::Error) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, err)
    }

    #[test]
    fn certificate_errors_have_their_kinds() {
        use CertificateError as C;
        let cases = [
            (C::UnknownIssuer, TlsErrorKind::UntrustedCertificate),
            (C::BadSignature, TlsErrorKind::UntrustedCertificate),
            (C::NotValidForName, TlsErrorKind::HostnameMismatch),
            (C::Expired, TlsErrorKind::ExpiredCertificate),
            (C::NotValidYet, TlsErrorKind::ExpiredCertificate),
        ];
        for (cert, want) in cases {
            let e = wrapped(rustls::Error::InvalidCertificate(cert));
            let got = handshake_error("b:1", &e, true, ClientCert::Unknown);
            assert_eq!(kind(&got), want, "{got}");
        }
    }

    #[test]
    fn host_mismatch_names_the_certificate_names() {
        let e = wrapped(rustls::Error::InvalidCertificate(
            CertificateError::NotValidForNameContext {
                expected: ServerName::try_from("127.0.0.1").unwrap(),
                presented: vec![
                    "DnsName(\"wrong.invalid\")".into(),
                    "IpAddress(10.0.0.1)".into(),
                ],
            },
        ));
        let got = handshake_error("b:1", &e, true, ClientCert::Unknown);
        assert_eq!(kind(&got), TlsErrorKind::HostnameMismatch);
        let text = got.to_string();
        assert!(
            text.contains("valid for wrong.invalid, IpAddress(10.0.0.1)")
                && text.contains("\"127.0.0.1\""),
            "{text}"
        );
    }

    #[test]
    fn client_certificate_alerts_are_rejections() {
        for alert in [
            AlertDescription::CertificateRequired,
            AlertDescription::BadCertificate,
            AlertDescription::UnknownCA,
        ] {
            let e = wrapped(rustls::Error::AlertReceived(alert));
            let got = stream_error("b:1", &e, ClientCert::Missing).expect("a TLS error");
            assert_eq!(kind(&got), TlsErrorKind::ClientCertificateRejected);
            assert!(got.to_string().contains("none is configured"), "{got}");
        }
        let e = wrapped(rustls::Error::AlertReceived(
            AlertDescription::HandshakeFailure,
        ));
        let got = handshake_error("b:1", &e, true, ClientCert::Configured);
        assert_eq!(kind(&got), TlsErrorKind::HandshakeFailed);
    }

    #[test]
    fn closed_before_any_byte_is_a_protocol_mismatch() {
        let eof = io::Error::new(io::ErrorKind::UnexpectedEof, "tls handshake eof");
        let got = handshake_error("b:1", &eof, false, ClientCert::Unknown);
        assert_eq!(kind(&got), TlsErrorKind::ProtocolMismatch);
        assert!(got.to_string().contains("PLAINTEXT listener"), "{got}");
        let reset = io::Error::from(io::ErrorKind::ConnectionReset);
        let got = handshake_error("b:1", &reset, false, ClientCert::Unknown);
        assert_eq!(kind(&got), TlsErrorKind::ProtocolMismatch);
        let got = handshake_error("b:1", &eof, true, ClientCert::Unknown);
        assert!(matches!(got, Error::Network { .. }), "{got}");
    }

    #[test]
    fn a_connection_closed_during_the_handshake_is_not_an_authentication_failure() {
        // A broker at its connection limit (max.connections.per.ip), or shutting down, accepts
        // and closes; a connection may be reset or time out mid-handshake. Java retries these
        // as disconnects: they must not fail the records queued for the broker.
        for received in [false, true] {
            for kind in [
                io::ErrorKind::UnexpectedEof,
                io::ErrorKind::ConnectionReset,
                io::ErrorKind::TimedOut,
            ] {
                let e =
                    handshake_error("b:1", &io::Error::from(kind), received, ClientCert::Unknown);
                assert!(!e.is_authentication(), "{received} {kind:?}: {e}");
            }
        }
        // What rustls refuses is one.
        let e = wrapped(rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer,
        ));
        assert!(handshake_error("b:1", &e, true, ClientCert::Unknown).is_authentication());
    }

    #[test]
    fn plain_io_errors_are_not_tls_errors() {
        let e = io::Error::from(io::ErrorKind::ConnectionReset);
        assert!(stream_error("b:1", &e, ClientCert::Unknown).is_none());
    }
}
