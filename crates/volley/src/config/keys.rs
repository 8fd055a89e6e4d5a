//! Every configuration key, declared once.
//!
//! One [`declare_keys!`] entry per key gives its `ProducerConfig` field (name, Rust type, extra
//! documentation), its Java name, Java type, default, validator, importance and one-line
//! documentation. From that the macro generates the `ProducerConfig` struct and its `Default`,
//! the [`KEYS`] table (which drives [`ProducerConfig::set`], [`ProducerConfig::get`],
//! [`ProducerConfig::to_properties`], the per-key part of [`ProducerConfig::validate`] and the
//! README's configuration table), and one `ProducerConfigBuilder` method per key. Setting a key
//! from a string and from the builder both end in the same `ProducerConfig::assign`, which runs
//! the key's validator, so the two paths cannot disagree.
//!
//! Adding a key is adding an entry here (plus a `ConfigValue` impl if its Rust type is new).
//! Optional parts of an entry, in this order: `init` (the field's initial value, when it is not
//! the parsed `default`), `get` (how the key is shown, when not the field's own string form) and
//! `on_set` (a hook run after the key was set from a string).

use std::time::Duration;

use super::value::Password;
use super::value::{ConfigValue, Importance, IntoConfig, Kind, Validator, I32_MAX, I64_MAX};
use super::{
    check_bootstrap_servers, check_serializer, Acks, CompressionType, ConfigKey, JavaSerializer,
    KeyOps, KeySet, MetadataRecoveryStrategy, PartitionerClass, ProducerConfigBuilder,
    SecurityProtocol, UNIFORM_STICKY_CLASS,
};
use crate::security::{
    check_login_handler, check_refresh_factor, check_refresh_jitter, check_tls_versions,
};

/// Java's `atLeast(min)` (bounded above by the key's [`Kind`]).
const fn at_least(min: i64) -> Validator {
    Validator::Range { min, max: I64_MAX }
}

/// Java's `between(min, max)`.
const fn between(min: i64, max: i64) -> Validator {
    Validator::Range { min, max }
}

/// `special` (meaning `meaning`), or `min..=max`.
const fn or_between(special: i64, meaning: &'static str, min: i64, max: i64) -> Validator {
    Validator::RangeOr {
        special,
        meaning,
        min,
        max,
    }
}

/// The validator of `key.serializer` and `value.serializer`.
const SERIALIZER_CLASS: Validator = Validator::Custom {
    check: check_serializer,
    valid: "empty or a byte-preserving Java serializer",
};

/// The first expression if there is one, else the second.
macro_rules! first_or {
    ($given:expr; $otherwise:expr) => {
        $given
    };
    (; $otherwise:expr) => {
        $otherwise
    };
}

macro_rules! declare_keys {
    ($(
        $(#[$meta:meta])*
        $field:ident: $ty:ty = $name:literal {
            kind: $kind:ident,
            default: $default:literal,
            valid: $valid:expr,
            importance: $importance:ident,
            doc: $doc:literal
            $(, init: $init:expr)?
            $(, get: $get:expr)?
            $(, on_set: $on_set:expr)?
            $(,)?
        }
    )*) => {
        /// The index of each key in [`KEYS`].
        #[allow(non_camel_case_types, clippy::enum_variant_names)]
        #[derive(Clone, Copy)]
        pub(crate) enum KeyIndex {
            $($field,)*
        }

        /// How many keys there are.
        pub(crate) const KEY_COUNT: usize = [$(KeyIndex::$field),*].len();

        /// The producer's configuration: one public field per key of [`KEYS`]. `Default` gives
        /// Java 4.x's defaults (with no `bootstrap.servers`, which is required, so a default
        /// config does not validate).
        ///
        /// Fields may be read and assigned directly; [`ProducerConfig::validate`] checks the
        /// result with the same per-key validators as [`ProducerConfig::set`] and the builder.
        /// Durations are whole milliseconds (as in Java) and may be as large as Java's `long`
        /// allows (`i64::MAX` ms): code adding one to an `Instant` must use checked arithmetic.
        #[derive(Debug, Clone)]
        pub struct ProducerConfig {
            $(
                #[doc = concat!("`", $name, "`: ", $doc)]
                #[doc = ""]
                $(#[$meta])*
                #[doc = ""]
                #[doc = concat!(
                    "Java type `", stringify!($kind), "`, default `", $default,
                    "`; the accepted values are listed in [`KEYS`] and the README."
                )]
                pub $field: $ty,
            )*
            /// Keys set through `set` or the builder.
            pub(super) explicit: KeySet,
        }

        impl Default for ProducerConfig {
            fn default() -> Self {
                ProducerConfig {
                    $($field: first_or!(
                        $($init)?;
                        default_value::<$ty>(KeyIndex::$field)
                    ),)*
                    explicit: KeySet::default(),
                }
            }
        }

        /// Every supported key, in the order of [`ProducerConfig::to_properties`] and of the
        /// README's configuration table.
        pub const KEYS: &[ConfigKey] = &[$(
            ConfigKey {
                name: $name,
                kind: Kind::$kind,
                default: $default,
                validator: $valid,
                importance: Importance::$importance,
                doc: $doc,
                ops: KeyOps {
                    set: |c: &mut ProducerConfig, text: &str| {
                        let key = &KEYS[KeyIndex::$field as usize];
                        let value: $ty = key.parse(text)?;
                        c.assign(KeyIndex::$field as usize, value, |c| &mut c.$field)?;
                        $(($on_set)(c, text);)?
                        Ok(())
                    },
                    get: first_or!(
                        $($get)?;
                        |c: &ProducerConfig| c.$field.render()
                    ),
                    raw: |c: &ProducerConfig| c.$field.render(),
                    check: |c: &ProducerConfig| KEYS[KeyIndex::$field as usize].check(&c.$field),
                },
            },
        )*];

        /// For each key of [`KEYS`] (tests only): sets a value given as a string through the
        /// key's generated builder method, converting it as a Rust caller would write it; `None`
        /// if a Rust caller could not write it.
        #[cfg(test)]
        pub(crate) const BUILDER_SETTERS: &[fn(ProducerConfigBuilder, &str) -> Option<ProducerConfigBuilder>] = &[$(
            |b: ProducerConfigBuilder, text: &str| {
                <$ty as super::table_tests::BuilderSample>::sample(text).map(|v| b.$field(v))
            },
        )*];

        /// One method per key of [`KEYS`], named after its `ProducerConfig` field.
        impl ProducerConfigBuilder {
            $(
                #[doc = concat!("Sets `", $name, "`: ", $doc)]
                #[doc = ""]
                #[doc = concat!(
                    "Default `", $default, "`. A value the key does not accept is reported by \
                     [`build`](Self::build) as `Error::Config` naming the key, exactly as \
                     `ProducerConfig::set` would report its string form."
                )]
                pub fn $field(self, value: impl IntoConfig<$ty>) -> Self {
                    self.assign(KeyIndex::$field as usize, value.into_config(), |c| &mut c.$field)
                }
            )*
        }
    };
}

/// The field value of a key's declared default (checked by a test for every key).
fn default_value<T: ConfigValue>(index: KeyIndex) -> T {
    let key = &KEYS[index as usize];
    key.parse(key.default)
        .unwrap_or_else(|e| panic!("the declared default of {} is invalid: {e}", key.name))
}

declare_keys! {
    /// `host:port` (or `[ipv6]:port`) entries to fetch the first metadata from. A `PLAINTEXT://`
    /// style prefix is stripped by `validate`, as Java tolerates it. Empty fails `validate`.
    bootstrap_servers: Vec<String> = "bootstrap.servers" {
        kind: List,
        default: "",
        valid: Validator::Custom {
            check: check_bootstrap_servers,
            valid: "host:port, ...",
        },
        importance: High,
        doc: "Required. Comma-separated host:port list of brokers to bootstrap from.",
    }
    /// Sent in every request header. Empty means the producer names itself, as Java does:
    /// `producer-<transactional.id>`, or `producer-<n>`.
    client_id: String = "client.id" {
        kind: String,
        default: "",
        valid: Validator::Any,
        importance: Medium,
        doc: "Client name sent to brokers; empty: `producer-<transactional.id>` or `producer-<n>`.",
    }
    /// Anything but [`Acks::All`] conflicts with `enable.idempotence`.
    acks: Acks = "acks" {
        kind: String,
        default: "all",
        valid: Validator::OneOf(&["all", "-1", "0", "1"]),
        importance: Low,
        doc: "Acknowledgements required: all (-1), 1 (leader only) or 0 (none).",
    }
    /// `linger.ms + request.timeout.ms` must not exceed `delivery.timeout.ms`.
    linger: Duration = "linger.ms" {
        kind: Long,
        default: "5",
        valid: at_least(0),
        importance: Medium,
        doc: "How long a batch may wait for more records before it is sent.",
    }
    /// The size in bytes a partition's batch may reach before it is sent (a larger single record
    /// still gets a batch of its own). `0` disables batching: every batch holds one record.
    batch_size: usize = "batch.size" {
        kind: Int,
        default: "16384",
        valid: at_least(0),
        importance: Medium,
        doc: "Target batch size in bytes per partition; 0 disables batching.",
    }
    /// Bytes of records waiting to be sent before `send` blocks (up to `max.block.ms`). A record
    /// larger than this can never be sent; `send` reports it.
    buffer_memory: usize = "buffer.memory" {
        kind: Long,
        default: "33554432",
        valid: at_least(1),
        importance: High,
        doc: "Bytes of records that may wait to be sent before send() blocks.",
    }
    /// Bound on how long `send` (metadata, buffer space), `flush` waits and transactional calls
    /// block.
    max_block: Duration = "max.block.ms" {
        kind: Long,
        default: "60000",
        valid: at_least(0),
        importance: Medium,
        doc: "Bound on how long send() waits for metadata or buffer space.",
    }
    /// Bound on the time between `send` returning and the record's success or failure, retries
    /// included, but for a record in flight then: it resolves when its request ends, at most
    /// `request.timeout.ms` later (Java fails it at once; see DESIGN.md, "Delivery timeout").
    /// If set explicitly (or assigned a value other than the default) it must be at
    /// least `linger.ms + request.timeout.ms`; otherwise `validate` raises it to that sum.
    delivery_timeout: Duration = "delivery.timeout.ms" {
        kind: Int,
        default: "120000",
        valid: at_least(0),
        importance: Medium,
        doc: "Bound on the time from send() to success or failure, retries included (a request in flight then may take up to request.timeout.ms more).",
    }
    /// How long to wait for a response before the request fails (and its batches are retried).
    request_timeout: Duration = "request.timeout.ms" {
        kind: Int,
        default: "30000",
        valid: at_least(0),
        importance: Medium,
        doc: "How long to wait for a broker's response to a request.",
    }
    /// `delivery.timeout.ms` usually ends retrying first. `0` conflicts with idempotence.
    retries: u32 = "retries" {
        kind: Int,
        default: "2147483647",
        valid: between(0, I32_MAX),
        importance: High,
        doc: "How many times a failed batch is retried (within delivery.timeout.ms).",
    }
    /// Doubles per retry up to `retry.backoff.max.ms`. If larger than the max, `validate` lowers
    /// it to the max (a static backoff, as in Java).
    retry_backoff: Duration = "retry.backoff.ms" {
        kind: Long,
        default: "100",
        valid: at_least(0),
        importance: Low,
        doc: "Initial wait before retrying a failed request.",
    }
    /// Upper bound of the retry backoff.
    retry_backoff_max: Duration = "retry.backoff.max.ms" {
        kind: Long,
        default: "1000",
        valid: at_least(0),
        importance: Low,
        doc: "Upper bound of the exponential retry backoff.",
    }
    /// Doubles per failure up to `reconnect.backoff.max.ms`. If this is set and the max is not,
    /// the max is set to this value (a static backoff, as in Java); if larger than the max, it is
    /// lowered to it.
    reconnect_backoff: Duration = "reconnect.backoff.ms" {
        kind: Long,
        default: "50",
        valid: at_least(0),
        importance: Low,
        doc: "Initial wait before reconnecting to a broker.",
    }
    /// Upper bound of the reconnect backoff.
    reconnect_backoff_max: Duration = "reconnect.backoff.max.ms" {
        kind: Long,
        default: "1000",
        valid: at_least(0),
        importance: Low,
        doc: "Upper bound of the exponential reconnect backoff.",
    }
    /// More than [`MAX_IN_FLIGHT_FOR_IDEMPOTENCE`](super::MAX_IN_FLIGHT_FOR_IDEMPOTENCE)
    /// conflicts with idempotence.
    max_in_flight: usize = "max.in.flight.requests.per.connection" {
        kind: Int,
        default: "5",
        valid: at_least(1),
        importance: Low,
        doc: "Unacknowledged requests allowed per broker connection.",
    }
    /// The largest Produce request in bytes; `send` rejects a record larger than this (so with
    /// `0`, as Java allows, every record).
    max_request_size: usize = "max.request.size" {
        kind: Int,
        default: "1048576",
        valid: at_least(0),
        importance: Medium,
        doc: "Largest Produce request, and so the largest record, in bytes.",
    }
    /// The codec of produced batches; its level is the matching `compression.*.level`.
    compression_type: CompressionType = "compression.type" {
        kind: String,
        default: "none",
        valid: Validator::OneOf(&["none", "gzip", "snappy", "lz4", "zstd"]),
        importance: High,
        doc: "Batch compression: none, gzip, snappy, lz4 or zstd.",
    }
    /// `-1` is the codec's default level.
    compression_gzip_level: i32 = "compression.gzip.level" {
        kind: Int,
        default: "-1",
        valid: or_between(-1, "the codec default", 1, 9),
        importance: Medium,
        doc: "gzip level: 1..9, or -1 for the codec default.",
    }
    /// Validated, but the pure-Rust lz4 encoder has a single level.
    compression_lz4_level: i32 = "compression.lz4.level" {
        kind: Int,
        default: "9",
        valid: between(1, 17),
        importance: Medium,
        doc: "lz4 level: 1..17.",
    }
    /// Negative levels are zstd's fast modes.
    compression_zstd_level: i32 = "compression.zstd.level" {
        kind: Int,
        default: "3",
        valid: between(-131072, 22),
        importance: Medium,
        doc: "zstd level: -131072..22.",
    }
    /// `None` (the initial value) means not set: on unless `acks` is not `all` or `retries` is
    /// 0, in which case it is turned off with a log line. Set explicitly to `true`, those
    /// settings, and `max.in.flight.requests.per.connection` > 5, are errors. Not set,
    /// `max.in.flight.requests.per.connection` > 5 is an error as in Java 4.x (set this to
    /// `false` to allow it). `Some(false)` with a `transactional.id` is an error. `get` shows
    /// [`ProducerConfig::effective_idempotence`].
    enable_idempotence: Option<bool> = "enable.idempotence" {
        kind: Boolean,
        default: "true",
        valid: Validator::Any,
        importance: Low,
        doc: "Exactly one copy of each record per partition; turned off by acks != all or retries=0 unless set explicitly.",
        init: None,
        get: |c: &ProducerConfig| c.effective_idempotence().to_string(),
    }
    /// `None` (or empty) means none. Enables transactions, and requires idempotence.
    transactional_id: Option<String> = "transactional.id" {
        kind: String,
        default: "",
        valid: Validator::Any,
        importance: Low,
        doc: "Enables transactions under this id (implies idempotence).",
    }
    /// How long a transaction may stay open before the coordinator aborts it (the broker caps it
    /// with `transaction.max.timeout.ms`).
    transaction_timeout: Duration = "transaction.timeout.ms" {
        kind: Int,
        default: "60000",
        valid: at_least(1),
        importance: Low,
        doc: "How long a transaction may stay open before the coordinator aborts it.",
    }
    /// As a string: empty for [`PartitionerClass::BuiltIn`], Java's `DefaultPartitioner` also
    /// maps to it, and `UniformStickyPartitioner` maps to it and sets
    /// `partitioner.ignore.keys=true` (a later `partitioner.ignore.keys` overrides it). Other
    /// class names are errors: custom partitioners are given in code to the producer builder.
    partitioner: PartitionerClass = "partitioner.class" {
        kind: Class,
        default: "",
        valid: Validator::Any,
        importance: Medium,
        doc: "Empty for the built-in partitioner, or org.apache.kafka.clients.producer.RoundRobinPartitioner.",
        on_set: |c: &mut ProducerConfig, text: &str| {
            if text == UNIFORM_STICKY_CLASS {
                tracing::info!(
                    "partitioner.class UniformStickyPartitioner: using the built-in partitioner \
                     with partitioner.ignore.keys=true"
                );
                c.partitioner_ignore_keys = true;
            }
        },
    }
    /// The built-in sticky partitioner switches less often to partitions whose brokers are slow.
    partitioner_adaptive_partitioning: bool = "partitioner.adaptive.partitioning.enable" {
        kind: Boolean,
        default: "true",
        valid: Validator::Any,
        importance: Low,
        doc: "Sticky partitioning favours faster brokers.",
    }
    /// With adaptive partitioning, a partition whose leader has had no working connection for
    /// this long is skipped; `0` turns this off. (Java measures how long the leader had batches
    /// ready that it could not send; a leader without a connection is Volley's measure of it.)
    partitioner_availability_timeout: Duration = "partitioner.availability.timeout.ms" {
        kind: Long,
        default: "0",
        valid: at_least(0),
        importance: Low,
        doc: "Skip partitions whose leader has had no working connection for this long; 0 disables.",
    }
    /// The built-in partitioner treats keyed records like unkeyed ones instead of hashing the
    /// key.
    partitioner_ignore_keys: bool = "partitioner.ignore.keys" {
        kind: Boolean,
        default: "false",
        valid: Validator::Any,
        importance: Medium,
        doc: "Partition keyed records like unkeyed ones (sticky) instead of by key hash.",
    }
    /// Metadata is refreshed at least this often.
    metadata_max_age: Duration = "metadata.max.age.ms" {
        kind: Long,
        default: "300000",
        valid: at_least(0),
        importance: Low,
        doc: "Refresh metadata at least this often.",
    }
    /// A topic not produced to for this long is dropped from the metadata the producer fetches.
    metadata_max_idle: Duration = "metadata.max.idle.ms" {
        kind: Long,
        default: "300000",
        valid: at_least(5000),
        importance: Low,
        doc: "Forget a topic's metadata after it has not been produced to for this long.",
    }
    /// KIP-899: when the brokers of the last metadata cannot give new metadata, `rebootstrap`
    /// forgets them and bootstraps again from `bootstrap.servers`; `none` keeps retrying them.
    metadata_recovery_strategy: MetadataRecoveryStrategy = "metadata.recovery.strategy" {
        kind: String,
        default: "rebootstrap",
        valid: Validator::OneOf(&["none", "rebootstrap"]),
        importance: Low,
        doc: "When no known broker can give metadata: rebootstrap from bootstrap.servers, or none.",
    }
    /// KIP-1102: with `metadata.recovery.strategy=rebootstrap`, a producer whose due metadata
    /// refresh has not succeeded for this long bootstraps again.
    metadata_recovery_rebootstrap_trigger: Duration = "metadata.recovery.rebootstrap.trigger.ms" {
        kind: Long,
        default: "300000",
        valid: at_least(0),
        importance: Low,
        doc: "Rebootstrap when no metadata could be fetched from a known broker for this long.",
    }
    /// `None` (`-1`) means never.
    connections_max_idle: Option<Duration> = "connections.max.idle.ms" {
        kind: Long,
        default: "540000",
        valid: or_between(-1, "never", 0, I64_MAX),
        importance: Medium,
        doc: "Close connections idle for this long; -1 never.",
    }
    /// Doubles per consecutive failure up to the max. If larger than the max, lowered to it.
    socket_connection_setup_timeout: Duration = "socket.connection.setup.timeout.ms" {
        kind: Long,
        default: "10000",
        valid: at_least(0),
        importance: Medium,
        doc: "Initial bound on establishing a connection.",
    }
    /// Upper bound of the connection setup timeout.
    socket_connection_setup_timeout_max: Duration = "socket.connection.setup.timeout.max.ms" {
        kind: Long,
        default: "30000",
        valid: at_least(0),
        importance: Medium,
        doc: "Upper bound of the exponentially growing connection setup timeout.",
    }
    /// SO_SNDBUF in bytes; `None` (`-1`) leaves the OS default.
    send_buffer_bytes: Option<usize> = "send.buffer.bytes" {
        kind: Int,
        default: "131072",
        valid: or_between(-1, "the OS default", 1, I32_MAX),
        importance: Medium,
        doc: "TCP send buffer (SO_SNDBUF); -1 for the OS default.",
    }
    /// SO_RCVBUF in bytes; `None` (`-1`) leaves the OS default.
    receive_buffer_bytes: Option<usize> = "receive.buffer.bytes" {
        kind: Int,
        default: "32768",
        valid: or_between(-1, "the OS default", 1, I32_MAX),
        importance: Medium,
        doc: "TCP receive buffer (SO_RCVBUF); -1 for the OS default.",
    }
    /// KIP-714 client telemetry: with `true` the producer asks the broker for a telemetry
    /// subscription (GetTelemetrySubscriptions) and pushes the subscribed metrics as OTLP
    /// (PushTelemetry) at the interval the broker sets, with a last push on close. A broker
    /// without a client telemetry receiver does not advertise the APIs, and then nothing is
    /// sent. See the `telemetry` section of DESIGN.md.
    enable_metrics_push: bool = "enable.metrics.push" {
        kind: Boolean,
        default: "true",
        valid: Validator::Any,
        importance: Low,
        doc: "Push the producer's metrics to brokers that subscribe to them (KIP-714 client telemetry).",
    }
    /// Asks brokers to auto-create unknown topics when fetching metadata (the broker's
    /// `auto.create.topics.enable` must also allow it).
    allow_auto_create_topics: bool = "allow.auto.create.topics" {
        kind: Boolean,
        default: "true",
        valid: Validator::Any,
        importance: Low,
        doc: "Volley extension (the consumer's name; Java's producer always asks): let brokers auto-create a topic on metadata request (if they allow it).",
    }
    /// Recorded only; see [`JavaSerializer`].
    key_serializer: Option<JavaSerializer> = "key.serializer" {
        kind: Class,
        default: "",
        valid: SERIALIZER_CLASS,
        importance: High,
        doc: "Accepted Java serializer class name, recorded only; Rust types serialize keys.",
    }
    /// Recorded only; see [`JavaSerializer`].
    value_serializer: Option<JavaSerializer> = "value.serializer" {
        kind: Class,
        default: "",
        valid: SERIALIZER_CLASS,
        importance: High,
        doc: "Accepted Java serializer class name, recorded only; Rust types serialize values.",
    }
    /// `SSL` and `SASL_SSL` wrap every connection in TLS (rustls) configured by the `ssl.*` keys;
    /// `SASL_PLAINTEXT` and `SASL_SSL` authenticate every connection with `sasl.mechanism`.
    security_protocol: SecurityProtocol = "security.protocol" {
        kind: String,
        default: "PLAINTEXT",
        valid: Validator::OneOf(&["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]),
        importance: Medium,
        doc: "How brokers are reached: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.",
    }
    /// Java's SSLContext protocol. `TLSv1.2` allows only TLS 1.2; `TLSv1.3` and `TLS` allow
    /// whatever `ssl.enabled.protocols` lists.
    ssl_protocol: String = "ssl.protocol" {
        kind: String,
        default: "TLSv1.3",
        valid: Validator::OneOf(&["TLSv1.3", "TLSv1.2", "TLS"]),
        importance: Medium,
        doc: "TLS protocol of the SSL context; TLSv1.2 caps the version at 1.2.",
    }
    /// TLS versions offered; rustls implements TLS 1.2 and 1.3 only, so older names are refused.
    ssl_enabled_protocols: Vec<String> = "ssl.enabled.protocols" {
        kind: List,
        default: "TLSv1.2,TLSv1.3",
        valid: Validator::Custom {
            check: check_tls_versions,
            valid: "TLSv1.2, TLSv1.3",
        },
        importance: Medium,
        doc: "TLS versions enabled for connections.",
    }
    /// Cipher suites offered, by IANA name (as Java names them: `TLS_AES_128_GCM_SHA256`,
    /// `TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384`, ...), in order of preference; empty offers the
    /// TLS provider's defaults. A name the provider does not implement is an `Error::Config`
    /// listing those it does, when the producer is built.
    ssl_cipher_suites: Vec<String> = "ssl.cipher.suites" {
        kind: List,
        default: "",
        valid: Validator::Any,
        importance: Low,
        doc: "TLS cipher suites to offer (IANA names); empty for the library's defaults.",
    }
    /// `https` checks that the broker's certificate is issued for the host name (or IP address)
    /// the producer connected to (the host part of the broker's address); empty turns only that
    /// check off (logged as a warning when the producer is built): the certificate chain, its
    /// signatures and validity dates are still verified.
    ssl_endpoint_identification_algorithm: String = "ssl.endpoint.identification.algorithm" {
        kind: String,
        default: "https",
        valid: Validator::OneOf(&["https", ""]),
        importance: Low,
        doc: "https verifies the broker's host name against its certificate; empty disables it.",
    }
    /// A trust store file: PEM certificates, or PKCS12 (its trusted-certificate entries, as
    /// keytool writes them; for a store without that attribute, its certificates not tied to
    /// a key). Read once, when the producer is built. Without one (and without
    /// `ssl.truststore.certificates`) the system's root certificates are trusted (an error if
    /// the system has none).
    ssl_truststore_location: Option<String> = "ssl.truststore.location" {
        kind: String,
        default: "",
        valid: Validator::Any,
        importance: High,
        doc: "Trust store file of the CA certificates to trust.",
    }
    /// `PEM` (certificates), `PKCS12`, or `JKS`. The file is read as what its content is (PEM
    /// text, PKCS12, or the JKS magic number), a type that disagrees being logged: Java 9+
    /// reads PKCS12 through the default `JKS` type too. A real JKS file is refused with the
    /// `keytool -importkeystore ... -deststoretype PKCS12` command that converts it (no
    /// well-kept pure-Rust JKS reader exists).
    ssl_truststore_type: String = "ssl.truststore.type" {
        kind: String,
        default: "JKS",
        valid: Validator::OneOf(&["JKS", "PKCS12", "PEM"]),
        importance: Medium,
        doc: "Format of the trust store file: JKS, PKCS12 or PEM.",
    }
    /// Password of a PKCS12 trust store. Java refuses it for a `PEM` trust store.
    ssl_truststore_password: Option<Password> = "ssl.truststore.password" {
        kind: Password,
        default: "",
        valid: Validator::Any,
        importance: High,
        doc: "Password of the trust store file.",
    }
    /// PEM certificates given inline, instead of a file. As in Java, it needs
    /// `ssl.truststore.type=PEM` and excludes `ssl.truststore.location`.
    ssl_truststore_certificates: Option<Password> = "ssl.truststore.certificates" {
        kind: Password,
        default: "",
        valid: Validator::Any,
        importance: High,
        doc: "Trusted certificates in PEM, inline.",
    }
    /// A key store file with the client's certificate chain and private key, for mutual TLS:
    /// PKCS12 (its first key entry), or PEM (the chain and a PKCS#8 key, encrypted or not, in
    /// one file). Read once, when the producer is built.
    ssl_keystore_location: Option<String> = "ssl.keystore.location" {
        kind: String,
        default: "",
        valid: Validator::Any,
        importance: High,
        doc: "Key store file with the client certificate and key (mutual TLS).",
    }
    /// `PEM` (chain and PKCS#8 key in one file), `PKCS12`, or `JKS`: the file is read as what
    /// its content is, as for `ssl.truststore.type` (a JKS file is refused with the keytool
    /// command that converts it).
    ssl_keystore_type: String = "ssl.keystore.type" {
        kind: String,
        default: "JKS",
        valid: Validator::OneOf(&["JKS", "PKCS12", "PEM"]),
        importance: Medium,
        doc: "Format of the key store file: JKS, PKCS12 or PEM.",
    }
    /// Password of a PKCS12 key store: required with one (as in Java), refused for a `PEM` one.
    /// A wrong password is an `Error::Config` ("wrong password or corrupt key store") that never
    /// shows it.
    ssl_keystore_password: Option<Password> = "ssl.keystore.password" {
        kind: Password,
        default: "",
        valid: Validator::Any,
        importance: High,
        doc: "Password of the key store file.",
    }
    /// Password of an encrypted PKCS#8 PEM key (`BEGIN ENCRYPTED PRIVATE KEY`: PBES2, or the
    /// legacy PBES1 3DES). Java also requires it for a PEM key store file; Volley takes an
    /// unencrypted key there without it. A PKCS12 key entry must share the store's password
    /// (keytool and openssl write them so).
    ssl_key_password: Option<Password> = "ssl.key.password" {
        kind: Password,
        default: "",
        valid: Validator::Any,
        importance: High,
        doc: "Password of the private key (encrypted PKCS#8 or key store entry).",
    }
    /// The client's certificate chain in PEM, inline (with `ssl.keystore.key`, and
    /// `ssl.keystore.type=PEM`, as in Java).
    ssl_keystore_certificate_chain: Option<Password> = "ssl.keystore.certificate.chain" {
        kind: Password,
        default: "",
        valid: Validator::Any,
        importance: High,
        doc: "Client certificate chain in PEM, inline.",
    }
    /// The client's private key in PKCS#8 PEM, inline (encrypted if `ssl.key.password` is set).
    ssl_keystore_key: Option<Password> = "ssl.keystore.key" {
        kind: Password,
        default: "",
        valid: Validator::Any,
        importance: High,
        doc: "Client private key in PKCS#8 PEM, inline.",
    }
    /// `PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512` or `OAUTHBEARER`. Java's default `GSSAPI`
    /// (Kerberos) is accepted as a value but refused by `validate` under a SASL protocol.
    sasl_mechanism: String = "sasl.mechanism" {
        kind: String,
        default: "GSSAPI",
        valid: Validator::OneOf(&["GSSAPI", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"]),
        importance: Medium,
        doc: "SASL mechanism: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER.",
    }
    /// JAAS login context, parsed as Java parses it: `PlainLoginModule` or `ScramLoginModule`
    /// with `username` and `password`, or `OAuthBearerLoginModule` with its options.
    sasl_jaas_config: Option<Password> = "sasl.jaas.config" {
        kind: Password,
        default: "",
        valid: Validator::Any,
        importance: Medium,
        doc: "JAAS login configuration (login module and its options).",
    }
    /// A Volley extension (librdkafka's name): the SASL user name for PLAIN and SCRAM when
    /// `sasl.jaas.config` is not set.
    sasl_username: Option<String> = "sasl.username" {
        kind: String,
        default: "",
        valid: Validator::Any,
        importance: Medium,
        doc: "Volley extension (librdkafka's name): SASL user name, instead of sasl.jaas.config.",
    }
    /// A Volley extension (librdkafka's name): the SASL password for PLAIN and SCRAM when
    /// `sasl.jaas.config` is not set.
    sasl_password: Option<Password> = "sasl.password" {
        kind: Password,
        default: "",
        valid: Validator::Any,
        importance: Medium,
        doc: "Volley extension (librdkafka's name): SASL password, instead of sasl.jaas.config.",
    }
    /// Only Kafka's OIDC handler (`...oauthbearer.OAuthBearerLoginCallbackHandler`, KIP-768) is
    /// accepted by name; it needs the `oauth-oidc` cargo feature. Other token sources are set in
    /// code with a `TokenProvider`.
    sasl_login_callback_handler_class: Option<String> = "sasl.login.callback.handler.class" {
        kind: Class,
        default: "",
        valid: Validator::Custom {
            check: check_login_handler,
            valid: "empty or org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler",
        },
        importance: Medium,
        doc: "Login callback handler; only Kafka's OIDC client-credentials handler by name.",
    }
    /// The OAuth token endpoint (`https://` or `http://`; a `file:` URL reads a token from a
    /// file, as in Java) of the OIDC client-credentials flow.
    sasl_oauthbearer_token_endpoint_url: Option<String> = "sasl.oauthbearer.token.endpoint.url" {
        kind: String,
        default: "",
        valid: Validator::Any,
        importance: Medium,
        doc: "OAuth/OIDC token endpoint URL for the client-credentials flow.",
    }
    /// The client id of the client-credentials flow (KIP-1139); the JAAS option `clientId`
    /// is used when this is empty.
    sasl_oauthbearer_client_credentials_client_id: Option<String> = "sasl.oauthbearer.client.credentials.client.id" {
        kind: String,
        default: "",
        valid: Validator::Any,
        importance: Medium,
        doc: "OAuth client id (or JAAS option clientId).",
    }
    /// The client secret of the client-credentials flow; the JAAS option `clientSecret` is used
    /// when this is empty.
    sasl_oauthbearer_client_credentials_client_secret: Option<Password> = "sasl.oauthbearer.client.credentials.client.secret" {
        kind: Password,
        default: "",
        valid: Validator::Any,
        importance: Medium,
        doc: "OAuth client secret (or JAAS option clientSecret).",
    }
    /// The scope asked for; the JAAS option `scope` is used when this is empty.
    sasl_oauthbearer_scope: Option<String> = "sasl.oauthbearer.scope" {
        kind: String,
        default: "",
        valid: Validator::Any,
        importance: Medium,
        doc: "OAuth scope to request (or JAAS option scope).",
    }
    /// Whether the client id and secret are URL-encoded (`application/x-www-form-urlencoded`,
    /// as Java's `URLEncoder`) before the HTTP Basic authorization header of the token request
    /// is made from them (KIP-1025; RFC 6749 §2.3.1 asks for it, Java's default does not).
    sasl_oauthbearer_header_urlencode: bool = "sasl.oauthbearer.header.urlencode" {
        kind: Boolean,
        default: "false",
        valid: Validator::Any,
        importance: Low,
        doc: "URL-encode the OAuth client id and secret in the token request's Basic authorization header.",
    }
    /// The claim of the token naming its scopes. Accepted for Java's sake, with no effect: the
    /// scopes are the broker's to check, and Volley does not read them from the token (Java's
    /// client only parses them).
    sasl_oauthbearer_scope_claim_name: String = "sasl.oauthbearer.scope.claim.name" {
        kind: String,
        default: "scope",
        valid: Validator::Any,
        importance: Low,
        doc: "Token claim holding the scopes; no effect in Volley (the broker checks scopes).",
    }
    /// The claim of the token naming its principal.
    sasl_oauthbearer_sub_claim_name: String = "sasl.oauthbearer.sub.claim.name" {
        kind: String,
        default: "sub",
        valid: Validator::Any,
        importance: Low,
        doc: "Token claim holding the principal name.",
    }
    /// A token is refreshed when this fraction of its lifetime has passed (plus jitter).
    sasl_login_refresh_window_factor: f64 = "sasl.login.refresh.window.factor" {
        kind: Double,
        default: "0.8",
        valid: Validator::Custom {
            check: check_refresh_factor,
            valid: "[0.5,...,1.0]",
        },
        importance: Low,
        doc: "Fraction of a token's lifetime after which it is refreshed.",
    }
    /// Random extra fraction of the lifetime added to the refresh time.
    sasl_login_refresh_window_jitter: f64 = "sasl.login.refresh.window.jitter" {
        kind: Double,
        default: "0.05",
        valid: Validator::Custom {
            check: check_refresh_jitter,
            valid: "[0.0,...,0.25]",
        },
        importance: Low,
        doc: "Random jitter added to the token refresh time, as a fraction of its lifetime.",
    }
    /// Seconds to wait at least between two token refreshes.
    sasl_login_refresh_min_period_seconds: u32 = "sasl.login.refresh.min.period.seconds" {
        kind: Short,
        default: "60",
        valid: between(0, 900),
        importance: Low,
        doc: "Least seconds between two token refreshes.",
    }
    /// Seconds before a token's expiry that a refresh must happen by.
    sasl_login_refresh_buffer_seconds: u32 = "sasl.login.refresh.buffer.seconds" {
        kind: Short,
        default: "300",
        valid: between(0, 3600),
        importance: Low,
        doc: "Seconds before expiry by which a token is refreshed.",
    }
    /// Bound on connecting to the token endpoint; `None` (`-1`): `socket.connection.setup.timeout.ms`.
    sasl_login_connect_timeout: Option<Duration> = "sasl.login.connect.timeout.ms" {
        kind: Int,
        default: "-1",
        valid: or_between(-1, "not set", 0, I32_MAX),
        importance: Low,
        doc: "Connect timeout to the OAuth token endpoint.",
    }
    /// Bound on reading the token endpoint's answer; `None` (`-1`): `request.timeout.ms`.
    sasl_login_read_timeout: Option<Duration> = "sasl.login.read.timeout.ms" {
        kind: Int,
        default: "-1",
        valid: or_between(-1, "not set", 0, I32_MAX),
        importance: Low,
        doc: "Read timeout of the OAuth token endpoint.",
    }
    /// First backoff between failed token requests (doubled per failure).
    sasl_login_retry_backoff: Duration = "sasl.login.retry.backoff.ms" {
        kind: Long,
        default: "100",
        valid: at_least(0),
        importance: Low,
        doc: "Initial backoff between failed token requests.",
    }
    /// Largest backoff between failed token requests.
    sasl_login_retry_backoff_max: Duration = "sasl.login.retry.backoff.max.ms" {
        kind: Long,
        default: "10000",
        valid: at_least(0),
        importance: Low,
        doc: "Largest backoff between failed token requests.",
    }
    /// A Volley extension (librdkafka's name): the largest response frame accepted from a broker,
    /// checked before anything is allocated for it.
    receive_message_max_bytes: usize = "receive.message.max.bytes" {
        kind: Int,
        default: "100000000",
        valid: between(1000, I32_MAX),
        importance: Low,
        doc: "Volley extension (librdkafka's name): largest response frame accepted.",
    }
}
