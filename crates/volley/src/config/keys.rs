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

use super::value::{ConfigValue, Importance, IntoConfig, Kind, Validator, I32_MAX, I64_MAX};
use super::{
    check_bootstrap_servers, check_serializer, Acks, CompressionType, ConfigKey, JavaSerializer,
    KeyOps, KeySet, PartitionerClass, ProducerConfigBuilder, SecurityProtocol,
    UNIFORM_STICKY_CLASS,
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
    /// included. If set explicitly (or assigned a value other than the default) it must be at
    /// least `linger.ms + request.timeout.ms`; otherwise `validate` raises it to that sum.
    delivery_timeout: Duration = "delivery.timeout.ms" {
        kind: Int,
        default: "120000",
        valid: at_least(0),
        importance: Medium,
        doc: "Bound on the time from send() to success or failure, retries included.",
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
    /// this long is skipped; `0` turns this off.
    partitioner_availability_timeout: Duration = "partitioner.availability.timeout.ms" {
        kind: Long,
        default: "0",
        valid: at_least(0),
        importance: Low,
        doc: "Skip partitions whose leader has not accepted a batch for this long; 0 disables.",
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
    /// Asks brokers to auto-create unknown topics when fetching metadata (the broker's
    /// `auto.create.topics.enable` must also allow it).
    allow_auto_create_topics: bool = "allow.auto.create.topics" {
        kind: Boolean,
        default: "true",
        valid: Validator::Any,
        importance: Low,
        doc: "Let brokers auto-create a topic on metadata request (if they allow it).",
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
    /// `SSL`, `SASL_PLAINTEXT` and `SASL_SSL` are rejected as not supported yet.
    security_protocol: SecurityProtocol = "security.protocol" {
        kind: String,
        default: "PLAINTEXT",
        valid: Validator::OneOf(&["PLAINTEXT"]),
        importance: Medium,
        doc: "Only PLAINTEXT is supported so far.",
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
