//! Typed errors.
//!
//! Every fallible call in Volley returns [`Error`]. Errors are `Clone`, because one broker error
//! resolves every record of a batch, and each record's future gets its own copy.
//!
//! [`Error::is_retriable`] tells whether the same operation may succeed if tried again (the
//! producer already retries such errors internally until `delivery.timeout.ms`; a delivery that
//! still ends with one has run out of time). Fatal errors ([`Error::is_fatal`]) mean the producer
//! instance can no longer be used and must be closed.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::ResponseError;

/// A Kafka protocol error code as sent by a broker (`Errors.java` in the Java client).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KafkaCode(pub i16);

impl KafkaCode {
    /// No error.
    pub const NONE: KafkaCode = KafkaCode(0);
    /// UNKNOWN_SERVER_ERROR (-1).
    pub const UNKNOWN_SERVER_ERROR: KafkaCode = KafkaCode(-1);
    /// CORRUPT_MESSAGE (2).
    pub const CORRUPT_MESSAGE: KafkaCode = KafkaCode(2);
    /// UNKNOWN_TOPIC_OR_PARTITION (3).
    pub const UNKNOWN_TOPIC_OR_PARTITION: KafkaCode = KafkaCode(3);
    /// LEADER_NOT_AVAILABLE (5).
    pub const LEADER_NOT_AVAILABLE: KafkaCode = KafkaCode(5);
    /// NOT_LEADER_OR_FOLLOWER (6).
    pub const NOT_LEADER_OR_FOLLOWER: KafkaCode = KafkaCode(6);
    /// REQUEST_TIMED_OUT (7).
    pub const REQUEST_TIMED_OUT: KafkaCode = KafkaCode(7);
    /// MESSAGE_TOO_LARGE (10).
    pub const MESSAGE_TOO_LARGE: KafkaCode = KafkaCode(10);
    /// NETWORK_EXCEPTION (13).
    pub const NETWORK_EXCEPTION: KafkaCode = KafkaCode(13);
    /// COORDINATOR_LOAD_IN_PROGRESS (14).
    pub const COORDINATOR_LOAD_IN_PROGRESS: KafkaCode = KafkaCode(14);
    /// COORDINATOR_NOT_AVAILABLE (15).
    pub const COORDINATOR_NOT_AVAILABLE: KafkaCode = KafkaCode(15);
    /// NOT_COORDINATOR (16).
    pub const NOT_COORDINATOR: KafkaCode = KafkaCode(16);
    /// INVALID_TOPIC_EXCEPTION (17).
    pub const INVALID_TOPIC_EXCEPTION: KafkaCode = KafkaCode(17);
    /// RECORD_LIST_TOO_LARGE (18).
    pub const RECORD_LIST_TOO_LARGE: KafkaCode = KafkaCode(18);
    /// NOT_ENOUGH_REPLICAS (19).
    pub const NOT_ENOUGH_REPLICAS: KafkaCode = KafkaCode(19);
    /// NOT_ENOUGH_REPLICAS_AFTER_APPEND (20).
    pub const NOT_ENOUGH_REPLICAS_AFTER_APPEND: KafkaCode = KafkaCode(20);
    /// TOPIC_AUTHORIZATION_FAILED (29).
    pub const TOPIC_AUTHORIZATION_FAILED: KafkaCode = KafkaCode(29);
    /// GROUP_AUTHORIZATION_FAILED (30).
    pub const GROUP_AUTHORIZATION_FAILED: KafkaCode = KafkaCode(30);
    /// CLUSTER_AUTHORIZATION_FAILED (31).
    pub const CLUSTER_AUTHORIZATION_FAILED: KafkaCode = KafkaCode(31);
    /// UNSUPPORTED_SASL_MECHANISM (33).
    pub const UNSUPPORTED_SASL_MECHANISM: KafkaCode = KafkaCode(33);
    /// ILLEGAL_SASL_STATE (34).
    pub const ILLEGAL_SASL_STATE: KafkaCode = KafkaCode(34);
    /// UNSUPPORTED_VERSION (35).
    pub const UNSUPPORTED_VERSION: KafkaCode = KafkaCode(35);
    /// INVALID_REQUEST (42).
    pub const INVALID_REQUEST: KafkaCode = KafkaCode(42);
    /// OUT_OF_ORDER_SEQUENCE_NUMBER (45).
    pub const OUT_OF_ORDER_SEQUENCE_NUMBER: KafkaCode = KafkaCode(45);
    /// DUPLICATE_SEQUENCE_NUMBER (46).
    pub const DUPLICATE_SEQUENCE_NUMBER: KafkaCode = KafkaCode(46);
    /// INVALID_PRODUCER_EPOCH (47).
    pub const INVALID_PRODUCER_EPOCH: KafkaCode = KafkaCode(47);
    /// INVALID_TXN_STATE (48).
    pub const INVALID_TXN_STATE: KafkaCode = KafkaCode(48);
    /// INVALID_PRODUCER_ID_MAPPING (49).
    pub const INVALID_PRODUCER_ID_MAPPING: KafkaCode = KafkaCode(49);
    /// INVALID_TRANSACTION_TIMEOUT (50).
    pub const INVALID_TRANSACTION_TIMEOUT: KafkaCode = KafkaCode(50);
    /// CONCURRENT_TRANSACTIONS (51).
    pub const CONCURRENT_TRANSACTIONS: KafkaCode = KafkaCode(51);
    /// TRANSACTION_COORDINATOR_FENCED (52).
    pub const TRANSACTION_COORDINATOR_FENCED: KafkaCode = KafkaCode(52);
    /// TRANSACTIONAL_ID_AUTHORIZATION_FAILED (53).
    pub const TRANSACTIONAL_ID_AUTHORIZATION_FAILED: KafkaCode = KafkaCode(53);
    /// SASL_AUTHENTICATION_FAILED (58).
    pub const SASL_AUTHENTICATION_FAILED: KafkaCode = KafkaCode(58);
    /// UNKNOWN_PRODUCER_ID (59).
    pub const UNKNOWN_PRODUCER_ID: KafkaCode = KafkaCode(59);
    /// KAFKA_STORAGE_ERROR (56).
    pub const KAFKA_STORAGE_ERROR: KafkaCode = KafkaCode(56);
    /// FENCED_LEADER_EPOCH (74).
    pub const FENCED_LEADER_EPOCH: KafkaCode = KafkaCode(74);
    /// UNKNOWN_LEADER_EPOCH (75).
    pub const UNKNOWN_LEADER_EPOCH: KafkaCode = KafkaCode(75);
    /// UNSUPPORTED_COMPRESSION_TYPE (76).
    pub const UNSUPPORTED_COMPRESSION_TYPE: KafkaCode = KafkaCode(76);
    /// INVALID_RECORD (87).
    pub const INVALID_RECORD: KafkaCode = KafkaCode(87);
    /// PRODUCER_FENCED (90).
    pub const PRODUCER_FENCED: KafkaCode = KafkaCode(90);
    /// THROTTLING_QUOTA_EXCEEDED (89).
    pub const THROTTLING_QUOTA_EXCEEDED: KafkaCode = KafkaCode(89);
    /// UNKNOWN_SUBSCRIPTION_ID (117): a PushTelemetry named a client telemetry subscription
    /// the broker no longer has (KIP-714).
    pub const UNKNOWN_SUBSCRIPTION_ID: KafkaCode = KafkaCode(117);
    /// TELEMETRY_TOO_LARGE (118): a PushTelemetry payload over the broker's limit (KIP-714).
    pub const TELEMETRY_TOO_LARGE: KafkaCode = KafkaCode(118);
    /// TRANSACTION_ABORTABLE (120).
    pub const TRANSACTION_ABORTABLE: KafkaCode = KafkaCode(120);
    /// REBOOTSTRAP_REQUIRED (129): the client's metadata is stale, it must bootstrap again
    /// (KIP-1102; the top-level error of Metadata v13+).
    pub const REBOOTSTRAP_REQUIRED: KafkaCode = KafkaCode(129);

    /// Whether the code is 0 (no error).
    pub fn is_ok(self) -> bool {
        self.0 == 0
    }

    /// The protocol's name for this code, such as `NOT_LEADER_OR_FOLLOWER`; `UNKNOWN(n)` style
    /// codes this client does not know are shown by number in [`fmt::Display`].
    pub fn name(self) -> String {
        match ResponseError::try_from_code(self.0) {
            None => "NONE".to_string(),
            Some(ResponseError::Unknown(c)) => format!("UNKNOWN_CODE_{c}"),
            Some(e) => camel_to_screaming(&e.to_string()),
        }
    }

    /// Whether the protocol classes this code as retriable (Java's `RetriableException`).
    /// An unknown code is not retriable.
    pub fn is_retriable(self) -> bool {
        match ResponseError::try_from_code(self.0) {
            None => false,
            Some(e) => e.is_retriable(),
        }
    }

    /// Whether a metadata refresh should follow this error (the leader may have moved).
    pub fn invalidates_metadata(self) -> bool {
        matches!(
            self,
            KafkaCode::UNKNOWN_TOPIC_OR_PARTITION
                | KafkaCode::LEADER_NOT_AVAILABLE
                | KafkaCode::NOT_LEADER_OR_FOLLOWER
                | KafkaCode::KAFKA_STORAGE_ERROR
                | KafkaCode::FENCED_LEADER_EPOCH
                | KafkaCode::UNKNOWN_LEADER_EPOCH
                | KafkaCode::NETWORK_EXCEPTION
        )
    }
}

fn camel_to_screaming(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for (i, ch) in s.chars().enumerate() {
        if ch.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(ch.to_ascii_uppercase());
    }
    out
}

impl fmt::Debug for KafkaCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.name(), self.0)
    }
}

impl fmt::Display for KafkaCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.0)
    }
}

/// Errors of the wire protocol: what a broker sent could not be understood.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A response frame announced more bytes than the configured cap.
    #[error("response of {size} bytes exceeds the limit of {limit} bytes")]
    FrameTooLarge {
        /// The size the frame announced.
        size: i64,
        /// The configured cap.
        limit: usize,
    },
    /// A response's correlation id did not match the request it answers.
    #[error("correlation id mismatch: expected {expected}, got {got}")]
    CorrelationMismatch {
        /// The id of the oldest request in flight.
        expected: i32,
        /// The id in the response.
        got: i32,
    },
    /// A message could not be decoded.
    #[error("cannot decode {what}: {reason}")]
    Decode {
        /// What was being decoded.
        what: &'static str,
        /// Why it failed.
        reason: String,
    },
    /// A message could not be encoded.
    #[error("cannot encode {what}: {reason}")]
    Encode {
        /// What was being encoded.
        what: &'static str,
        /// Why it failed.
        reason: String,
    },
    /// The broker does not support a version of an API that this client can speak.
    #[error(
        "broker does not support {api} in a version this client speaks \
         (client {client_min}..={client_max}, broker {broker})"
    )]
    UnsupportedVersion {
        /// The API name.
        api: &'static str,
        /// The lowest version this client speaks.
        client_min: i16,
        /// The highest version this client speaks.
        client_max: i16,
        /// The broker's range, or "none".
        broker: String,
    },
}

/// The error type of every Volley operation.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration key has an invalid value, is unknown, or conflicts with another key
    /// (or a file it names, such as a trust store, cannot be read).
    #[error("invalid configuration for `{key}`: {message}")]
    Config {
        /// The key (or keys, joined with `, `) at fault; for a properties file that cannot be
        /// read, its path; `(producer)` when the I/O thread could not be started.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A topic name that Kafka would reject.
    #[error("invalid topic name {topic:?}: {reason}")]
    InvalidTopic {
        /// The name.
        topic: String,
        /// Why it is invalid.
        reason: &'static str,
    },
    /// The topic does not exist (and the broker did not create it) within `max.block.ms`, or
    /// no broker could be reached to ask (then `cause` is the last connection error). When the
    /// brokers answered, `cause` is their answer for the topic: an [`Error::Request`] of
    /// `Metadata` (`UNKNOWN_TOPIC_OR_PARTITION`: the topic does not exist; create it).
    #[error(
        "topic {topic:?} not present in metadata after {after:?}{}",
        caused(cause)
    )]
    UnknownTopic {
        /// The topic.
        topic: String,
        /// How long the producer waited.
        after: Duration,
        /// The last connection error, when the last attempt to reach a broker failed; else the
        /// brokers' Metadata error for the topic, if they gave one.
        #[source]
        cause: Option<Box<Error>>,
    },
    /// An explicit partition outside the topic's partition range.
    #[error("partition {partition} of topic {topic:?} is out of range (topic has {partitions} partitions)")]
    PartitionOutOfRange {
        /// The topic.
        topic: String,
        /// The partition asked for.
        partition: i32,
        /// The topic's partition count.
        partitions: i32,
    },
    /// A record that can never be sent: larger than `max.request.size` or `buffer.memory`.
    #[error("record of {size} bytes is larger than {limit_key} ({limit} bytes)")]
    RecordTooLarge {
        /// The record's serialized size.
        size: usize,
        /// The limit it broke.
        limit: usize,
        /// The configuration key of that limit.
        limit_key: &'static str,
    },
    /// A blocking call did not complete within its bound (`max.block.ms` for `send`, `flush`
    /// waits, metadata and buffer-pool waits; the given timeout for `close`).
    #[error("{operation} timed out after {after:?}{}", caused(cause))]
    Timeout {
        /// What timed out.
        operation: &'static str,
        /// The bound that passed.
        after: Duration,
        /// The last connection error, when the last attempt to reach a broker failed (the
        /// likely reason nothing moved).
        #[source]
        cause: Option<Box<Error>>,
    },
    /// A record was not acknowledged within `delivery.timeout.ms`.
    #[error("delivery to {topic}-{partition} timed out after {after:?}{}", last_error.as_ref().map(|e| format!(" (last error: {e})")).unwrap_or_default())]
    DeliveryTimeout {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// `delivery.timeout.ms`.
        after: Duration,
        /// The last retriable error seen, if any.
        last_error: Option<Box<Error>>,
    },
    /// A broker answered a request for a partition with an error.
    #[error("broker error for {topic}-{partition}: {code}{}", message.as_ref().map(|m| format!(": {m}")).unwrap_or_default())]
    Broker {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The error code.
        code: KafkaCode,
        /// The broker's error message, if it sent one.
        message: Option<String>,
    },
    /// A broker answered a non-partition request (metadata, coordinator, transactions) with an error.
    #[error("{api} failed: {code}{}", message.as_ref().map(|m| format!(": {m}")).unwrap_or_default())]
    Request {
        /// The API.
        api: &'static str,
        /// The error code.
        code: KafkaCode,
        /// The broker's error message, if it sent one.
        message: Option<String>,
    },
    /// A network failure talking to a broker.
    #[error("network error with {broker}: {message}")]
    Network {
        /// The broker's address.
        broker: String,
        /// What happened.
        message: String,
        /// The underlying I/O error, when there is one.
        #[source]
        source: Option<Arc<std::io::Error>>,
    },
    /// No broker of `bootstrap.servers` could be reached or resolved.
    #[error("could not bootstrap from {servers}: {message}")]
    Bootstrap {
        /// The servers tried.
        servers: String,
        /// What failed.
        message: String,
    },
    /// A broker answered metadata for another cluster than the producer's (the cluster id
    /// of the producer's first metadata). Its metadata is refused, the connection closed, and
    /// the producer keeps looking for its own cluster (other bootstrap servers and brokers);
    /// a send or record that times out meanwhile carries this as its cause. Retriable: the
    /// producer's cluster may answer there again.
    #[error(
        "{broker} answered for cluster {found}, not for this producer's cluster {expected}; \
         its metadata was refused (build a new producer to move to another cluster)"
    )]
    ClusterIdMismatch {
        /// The broker's address.
        broker: String,
        /// The producer's cluster id (the first one its metadata carried).
        expected: String,
        /// The cluster id the broker answered with.
        found: String,
    },
    /// A broker sent something this client could not understand.
    #[error("protocol error with {broker}: {source}")]
    Protocol {
        /// The broker's address.
        broker: String,
        /// What went wrong.
        #[source]
        source: ProtocolError,
    },
    /// The producer was closed; the record was not sent (or, after a forced close, not acknowledged).
    #[error("producer closed: {0}")]
    Closed(&'static str),
    /// An error in user code (serializer) that prevented a record from being sent.
    #[error("serialization failed: {0}")]
    Serialization(String),
    /// The producer has hit a fatal error and cannot be used any more.
    #[error("fatal producer error: {0}")]
    Fatal(Box<Error>),
    /// A record (or another argument) that Kafka's Java client refuses outright, such as a
    /// negative timestamp or partition; the message is Java's.
    #[error("invalid argument: {0}")]
    IllegalArgument(String),
    /// The operation is not valid in the producer's current (transaction) state.
    #[error("illegal state: {0}")]
    IllegalState(String),
    /// SASL authentication with a broker failed: wrong credentials, a mechanism the broker does
    /// not enable, or a token provider that failed (Java's `AuthenticationException`). Not
    /// retried blindly: sends, transactional calls and pending records fail with it until a
    /// later connection authenticates.
    #[error("authentication with {broker} failed ({mechanism}): {message}")]
    Authentication {
        /// The broker's address.
        broker: String,
        /// The SASL mechanism (`PLAIN`, `SCRAM-SHA-512`, ...).
        mechanism: String,
        /// What failed; never a secret.
        message: String,
    },
    /// The TLS connection to a broker could not be set up (Java's `SslAuthenticationException`).
    #[error("TLS error with {broker}: {kind}: {message}")]
    Tls {
        /// The broker's address.
        broker: String,
        /// What kind of failure.
        kind: TlsErrorKind,
        /// Details (rustls's message, the certificate's names, ...).
        message: String,
    },
    /// The broker refused the operation to this principal: TOPIC_AUTHORIZATION_FAILED,
    /// CLUSTER_AUTHORIZATION_FAILED or TRANSACTIONAL_ID_AUTHORIZATION_FAILED (Java's
    /// `AuthorizationException` subclasses). Not retriable.
    #[error("not authorized: {code} for {resource}{}", message.as_ref().map(|m| format!(": {m}")).unwrap_or_default())]
    Authorization {
        /// The error code, which says what kind of resource was refused.
        code: KafkaCode,
        /// The resource: `topic "t"`, `transactional id "x"` or `cluster`.
        resource: String,
        /// The broker's message, if it sent one.
        message: Option<String>,
    },
    /// A transactional operation failed and the transaction must be aborted.
    #[error("transaction must be aborted: {0}")]
    Abortable(Box<Error>),
}

/// What kind of TLS failure an [`Error::Tls`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TlsErrorKind {
    /// The broker's certificate is not signed by a trusted CA.
    UntrustedCertificate,
    /// The broker's certificate is not issued for the host name (or address) connected to.
    HostnameMismatch,
    /// The broker's certificate (or one in its chain) has expired or is not yet valid.
    ExpiredCertificate,
    /// The broker does not speak TLS on this port (or speaks it where PLAINTEXT was expected).
    ProtocolMismatch,
    /// The broker refused the client's certificate (mutual TLS) or sent none was acceptable.
    ClientCertificateRejected,
    /// Any other handshake failure (no common version or cipher suite, a bad certificate).
    HandshakeFailed,
}

impl fmt::Display for TlsErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TlsErrorKind::UntrustedCertificate => "untrusted certificate",
            TlsErrorKind::HostnameMismatch => "host name mismatch",
            TlsErrorKind::ExpiredCertificate => "expired certificate",
            TlsErrorKind::ProtocolMismatch => "protocol mismatch",
            TlsErrorKind::ClientCertificateRejected => "client certificate rejected",
            TlsErrorKind::HandshakeFailed => "handshake failed",
        })
    }
}

fn caused(cause: &Option<Box<Error>>) -> String {
    match cause.as_deref() {
        Some(
            e @ Error::Request {
                api: "Metadata", ..
            },
        ) => format!(" ({e})"),
        Some(e) => format!(" (last connection error: {e})"),
        None => String::new(),
    }
}

impl Error {
    /// Whether a later retry of the same operation could succeed.
    pub fn is_retriable(&self) -> bool {
        match self {
            Error::Broker { code, .. } | Error::Request { code, .. } => code.is_retriable(),
            Error::Network { .. } | Error::Timeout { .. } | Error::DeliveryTimeout { .. } => true,
            Error::UnknownTopic { .. } | Error::Bootstrap { .. } => true,
            Error::ClusterIdMismatch { .. } => true,
            _ => false,
        }
    }

    /// Whether the producer instance is unusable after this error.
    pub fn is_fatal(&self) -> bool {
        matches!(self, Error::Fatal(_))
    }

    /// The broker error code, if this error carries one.
    pub fn code(&self) -> Option<KafkaCode> {
        match self {
            Error::Broker { code, .. }
            | Error::Request { code, .. }
            | Error::Authorization { code, .. } => Some(*code),
            Error::Fatal(e) | Error::Abortable(e) => e.code(),
            _ => None,
        }
    }

    /// A partition's error code from a broker: `Error::Authorization` for
    /// TOPIC_AUTHORIZATION_FAILED, `Error::Broker` otherwise.
    pub(crate) fn partition(
        topic: &str,
        partition: i32,
        code: KafkaCode,
        message: Option<String>,
    ) -> Error {
        if code == KafkaCode::TOPIC_AUTHORIZATION_FAILED {
            return Error::topic_authorization(topic, message);
        }
        Error::Broker {
            topic: topic.to_string(),
            partition,
            code,
            message,
        }
    }

    /// TOPIC_AUTHORIZATION_FAILED for `topic` (from a partition's answer or from metadata).
    pub(crate) fn topic_authorization(topic: &str, message: Option<String>) -> Error {
        Error::Authorization {
            code: KafkaCode::TOPIC_AUTHORIZATION_FAILED,
            resource: format!("topic {topic:?}"),
            message,
        }
    }

    /// The cause of an `UnknownTopic` when the brokers answered for the topic: their Metadata
    /// error for it, with what to do about it; `None` when they gave none.
    pub(crate) fn topic_metadata_answer(code: KafkaCode) -> Option<Error> {
        let hint = match code {
            KafkaCode::NONE => return None,
            KafkaCode::UNKNOWN_TOPIC_OR_PARTITION => Some(
                "the brokers do not have this topic and did not create it: create it (e.g. \
                 kafka-topics.sh --create), or check its name (auto-creation needs the brokers' \
                 auto.create.topics.enable and allow.auto.create.topics)",
            ),
            KafkaCode::LEADER_NOT_AVAILABLE => Some("the topic has no partition leader yet"),
            _ => None,
        };
        Some(Error::Request {
            api: "Metadata",
            code,
            message: hint.map(str::to_string),
        })
    }

    /// A non-partition request's error code: `Error::Authorization` for the authorization
    /// codes (naming the kind of resource refused), `Error::Request` otherwise.
    pub(crate) fn request(api: &'static str, code: KafkaCode, message: Option<String>) -> Error {
        let resource = match code {
            KafkaCode::TOPIC_AUTHORIZATION_FAILED => "a topic",
            KafkaCode::GROUP_AUTHORIZATION_FAILED => "the consumer group",
            KafkaCode::CLUSTER_AUTHORIZATION_FAILED => "the cluster",
            KafkaCode::TRANSACTIONAL_ID_AUTHORIZATION_FAILED => "the transactional id",
            _ => return Error::Request { api, code, message },
        };
        Error::Authorization {
            code,
            resource: format!("{resource} ({api})"),
            message,
        }
    }

    pub(crate) fn config(key: impl Into<String>, message: impl Into<String>) -> Error {
        Error::Config {
            key: key.into(),
            message: message.into(),
        }
    }

    /// Whether this is an authentication failure (SASL, or a TLS handshake the broker or the
    /// certificate check refused: Java's `SslAuthenticationException`), which ends waits for
    /// metadata instead of being retried quietly. A [`TlsErrorKind::ProtocolMismatch`] is not
    /// one: a connection closed before the broker said anything may just be a broker going
    /// down, and is retried like any network error (the typed error stays the cause a timed-out
    /// wait reports).
    pub fn is_authentication(&self) -> bool {
        match self {
            Error::Authentication { .. } => true,
            Error::Tls { kind, .. } => *kind != TlsErrorKind::ProtocolMismatch,
            Error::Fatal(e) | Error::Abortable(e) => e.is_authentication(),
            _ => false,
        }
    }

    pub(crate) fn network(broker: impl fmt::Display, e: std::io::Error) -> Error {
        Error::Network {
            broker: broker.to_string(),
            message: e.to_string(),
            source: Some(Arc::new(e)),
        }
    }

    pub(crate) fn protocol(broker: impl fmt::Display, source: ProtocolError) -> Error {
        Error::Protocol {
            broker: broker.to_string(),
            source,
        }
    }
}

/// Result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_names_and_classes() {
        assert_eq!(
            KafkaCode::NOT_LEADER_OR_FOLLOWER.name(),
            "NOT_LEADER_OR_FOLLOWER"
        );
        assert!(KafkaCode::NOT_LEADER_OR_FOLLOWER.is_retriable());
        assert!(!KafkaCode::MESSAGE_TOO_LARGE.is_retriable());
        assert_eq!(KafkaCode(12345).name(), "UNKNOWN_CODE_12345");
        assert!(!KafkaCode(12345).is_retriable());
        assert_eq!(KafkaCode::NONE.name(), "NONE");
        let e = Error::Broker {
            topic: "t".into(),
            partition: 3,
            code: KafkaCode::NOT_ENOUGH_REPLICAS,
            message: None,
        };
        assert!(e.is_retriable());
        assert_eq!(e.code(), Some(KafkaCode(19)));
        assert!(e.to_string().contains("t-3"));
    }
}
