//! Volley: a pure-Rust Apache Kafka producer.

pub mod protocol;
pub mod partitioner;
