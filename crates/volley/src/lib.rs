//! Volley: a pure-Rust Apache Kafka producer.

pub mod config;
pub mod error;
pub mod interceptor;
pub mod io;
pub mod metadata;
pub mod metrics;
pub mod partitioner;
pub mod protocol;
pub mod record;
pub mod serializer;

pub(crate) mod accumulator;
mod producer;
mod sender;
mod util;

pub use accumulator::batch::{Callback, DeliveryFuture};
pub use config::{Acks, CompressionType, ProducerConfig, ProducerConfigBuilder};
pub use error::{Error, KafkaCode, ProtocolError, Result};
pub use interceptor::Interceptor;
pub use metrics::Metrics;
pub use partitioner::Partitioner;
pub use producer::{Producer, ProducerBuilder};
pub use record::{Header, Payload, Record, RecordMetadata};
