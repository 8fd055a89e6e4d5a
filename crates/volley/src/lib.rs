//! Volley: a pure-Rust Apache Kafka producer.
//!
//! A [`Producer`] sends [`Record`]s to Kafka topics. It is cheap to clone and meant to be shared
//! by every thread of a process: [`Producer::send`] encodes the record straight into its
//! partition's batch and returns a [`DeliveryFuture`]; a background I/O thread sends batches when
//! they are full or have waited `linger.ms`, retries what can be retried within
//! `delivery.timeout.ms`, and resolves every record exactly once.
//!
//! ```no_run
//! use volley::{Producer, Record};
//!
//! # fn main() -> volley::Result<()> {
//! let producer = Producer::from_properties([("bootstrap.servers", "127.0.0.1:9092")])?;
//! let md = producer.send(Record::new("events").key("k").value("v"))?.wait()?;
//! println!("offset {}", md.offset);
//! producer.close()?;
//! # Ok(()) }
//! ```
//!
//! # Guarantees
//! - `acks=0`: fire and forget; the future resolves when the request is written (offset -1).
//! - `acks=1`: the leader has the record; it is lost if the leader fails before replicating.
//! - `acks=all` (the default): every in-sync replica has it.
//! - Idempotence (on by default, with `acks=all`): retries never duplicate a record and keep
//!   per-partition order, using a producer id and per-partition sequence numbers.
//! - Without idempotence, order across retries holds only with
//!   `max.in.flight.requests.per.connection=1`.
//!
//! # Errors
//! Every error is a [`volley::Error`](Error); [`Error::is_retriable`] says whether trying again
//! may help, and [`Error::is_fatal`] whether the producer must be closed.
//!
//! # Cargo features
//! - `json`: `serializer::JsonSerializer` through serde.
//! - `oauth-oidc`: SASL/OAUTHBEARER tokens from an OAuth 2 token endpoint (the client-credentials
//!   flow of Kafka's `OAuthBearerLoginCallbackHandler`, KIP-768), through `ureq`.
//! - `aws-lc-rs`: TLS through AWS-LC instead of ring (see DESIGN.md).
//! - `fake-cluster`: `fake::FakeCluster`, an in-process fake Kafka cluster on loopback for
//!   integration tests of code that produces.
//! - `metrics-exporter`: the metrics under Java's names published through the `metrics` facade
//!   crate (`metrics::publish`, `metrics::MetricsPublisher`), for any Prometheus or StatsD
//!   exporter.
//! - `opentelemetry`: `otel::TraceContextInterceptor`, the current OpenTelemetry context as W3C
//!   `traceparent`/`tracestate` record headers.
//! - `gzip`, `snappy`, `lz4`, `zstd` (all default): the compression codecs. `zstd` compiles C
//!   (zstd-sys); `default-features = false` and a pick of the others leaves it out. A
//!   `compression.type` whose feature is off fails `Producer::new` with `Error::Config`.
//!
//! # Stability
//! The modules and items hidden from this documentation (`protocol`, `io`, and the helpers for
//! benchmarks and fuzzing) are Volley's wire layer, public only for its own benchmarks, fuzz
//! targets and tests: they carry no semver promise and may change in any release.

#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod config;
pub mod error;
#[cfg(any(test, feature = "fake-cluster"))]
#[cfg_attr(docsrs, doc(cfg(feature = "fake-cluster")))]
pub mod fake;
pub mod interceptor;
#[doc(hidden)]
pub mod io;
mod lifecycle;
pub mod metadata;
pub mod metrics;
pub mod mock;
#[cfg(feature = "opentelemetry")]
#[cfg_attr(docsrs, doc(cfg(feature = "opentelemetry")))]
pub mod otel;
pub mod partitioner;
#[doc(hidden)]
pub mod protocol;
pub mod record;
pub mod security;
pub mod serializer;

pub(crate) mod accumulator;
#[doc(hidden)]
pub mod bench_support;
mod delivery_error;
#[cfg(any(fuzzing, test))]
#[doc(hidden)]
pub mod fuzzing;
mod producer;
mod producer_api;
pub(crate) mod sender;
mod shared;
pub(crate) mod telemetry;
mod txn;
mod util;

pub use accumulator::batch::{Callback, DeliveryFuture};
pub use config::{
    Acks, CompressionType, MetadataRecoveryStrategy, ProducerConfig, ProducerConfigBuilder,
};
pub use delivery_error::DeliveryError;
pub use error::{Error, KafkaCode, ProtocolError, Result, TlsErrorKind};
pub use interceptor::{DeliveryHandler, Interceptor};
pub use metrics::Metrics;
pub use partitioner::Partitioner;
pub use producer::{Producer, ProducerBuilder};
pub use producer_api::{BoxFuture, ProducerApi, SendResult, TxnOffsets};
pub use record::{Header, Payload, Record, RecordMetadata};
pub use txn::{ConsumerGroupMetadata, OffsetAndMetadata, TxnProtocol, TxnState};

// The README's examples are compiled as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;

#[cfg(test)]
mod readme_tests {
    // The README's configuration table must list every supported key with its default, so that
    // what users read is what `ProducerConfig` does.
    #[test]
    fn readme_config_table_matches_the_keys() {
        let readme = include_str!("../../../README.md");
        let start = readme
            .find("<!-- config-table")
            .expect("table start marker");
        let end = readme
            .find("<!-- end config-table")
            .expect("table end marker");
        let rows: Vec<(String, String)> = readme[start..end]
            .lines()
            .filter(|l| l.starts_with("| `"))
            .map(|l| {
                let cells: Vec<&str> = l.split('|').map(str::trim).collect();
                let default = cells[2].trim_matches('`');
                let default = if default == "(empty)" { "" } else { default };
                (cells[1].trim_matches('`').to_string(), default.to_string())
            })
            .collect();
        let keys: Vec<(String, String)> = crate::config::KEYS
            .iter()
            .map(|k| (k.name.to_string(), k.default.to_string()))
            .collect();
        assert_eq!(rows, keys);
    }
}
