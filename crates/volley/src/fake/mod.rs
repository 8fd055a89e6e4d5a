//! An in-process fake Kafka cluster for integration tests (the `fake-cluster` feature), in the
//! spirit of franz-go's `kfake` and librdkafka's mock cluster.
//!
//! [`FakeCluster`] listens on 127.0.0.1 (an ephemeral port per broker by default) and speaks
//! the real wire protocol, so any Kafka producer can write to it: Volley's own, Java's,
//! librdkafka. It answers ApiVersions, Metadata, Produce (v3+, record batch v2),
//! InitProducerId, FindCoordinator, AddPartitionsToTxn (v3 or below), AddOffsetsToTxn, EndTxn
//! and TxnOffsetCommit. What the brokers decide (partition leaders, offsets, idempotent
//! deduplication by producer id, epoch and sequence, producer fencing, the transaction
//! coordinator's state, commit and abort markers, offsets committed in a transaction) is the
//! broker model the simulator of Volley's own tests uses, so both behave the same.
//!
//! A test reads back what was stored ([`FakeCluster::records`],
//! [`FakeCluster::committed_records`], [`FakeCluster::committed_offsets`]) and injects faults:
//! error codes for the next requests of an API ([`FakeCluster::fail_next`]) or of a partition
//! ([`FakeCluster::fail_produce`]), response delays, dropped connections, leader moves, and
//! stopped brokers.
//!
//! The network side runs on its own thread (a single-threaded tokio runtime the cluster owns),
//! so the cluster works from synchronous and asynchronous tests alike. Dropping it (or
//! [`FakeCluster::shutdown`]) closes every listener and connection and joins the thread.
//!
//! Not modelled: consumers (Fetch, ListOffsets, group membership), SASL and TLS, replication
//! (each partition has one replica, its leader), compaction and retention, quotas, and
//! `transaction.version` 2 (clients use transaction protocol version 1).
//!
//! ```
//! use volley::fake::FakeCluster;
//! use volley::{Producer, Record};
//!
//! # fn main() -> volley::Result<()> {
//! let cluster = FakeCluster::builder().topic("orders", 3).start()?;
//! let producer = Producer::from_properties([
//!     ("bootstrap.servers", cluster.bootstrap_servers().as_str()),
//! ])?;
//! let md = producer.send(Record::new("orders").partition(1).key("k").value("v"))?.wait()?;
//! producer.close()?;
//! let stored = cluster.records("orders", 1);
//! assert_eq!(stored[md.offset as usize].value.as_deref(), Some(&b"v"[..]));
//! # Ok(())
//! # }
//! ```

#[cfg_attr(not(test), allow(dead_code))] // (the simulator uses all of it; the fake cluster most)
pub(crate) mod model;
#[cfg(feature = "fake-cluster")]
mod server;
#[cfg(all(test, feature = "fake-cluster"))]
mod server_tests;

#[cfg(feature = "fake-cluster")]
pub use server::{Api, FakeCluster, FakeClusterBuilder, StoredRecord, TxnMarker, TxnOutcome};
