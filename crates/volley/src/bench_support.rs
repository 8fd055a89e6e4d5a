//! Thin wrappers over crate-internal items for the benchmarks in `benches/`. Not part of the
//! API: hidden from the docs and free to change.
//!
//! [`SendHarness`] builds the producer's shared state exactly as a [`Producer`](crate::Producer)
//! does (`Shared::new`), seeds a metadata snapshot with one
//! topic, and starts no I/O thread, so `send` runs without a network. Full batches stay in
//! their queues until [`SendHarness::recycle`] completes them (successfully) on the caller's
//! thread, which gives their buffers back to the pool as the I/O thread would.

use std::sync::Arc;

use parking_lot::Mutex;

use crate::accumulator::{Ack, Append, DeliveryFuture, PartitionQueue, ProducerBatch, RecordRef};
use crate::config::ProducerConfig;
use crate::error::Result;
use crate::metadata::{BrokerInfo, Cluster, TopicInfo};
use crate::producer::Producer;
use crate::protocol::record_batch::BatchBuilder;
use crate::record::Record;
use crate::shared::Shared;

/// The wall clock in milliseconds since the Unix epoch, as the producer reads it for a record's
/// default timestamp (`System.currentTimeMillis()` in Java's perf tool): for `volley perf`,
/// which reads it twice per record.
pub use crate::util::time::wall_clock_ms;

/// A real [`Producer`] with a seeded topic and no I/O thread.
pub struct SendHarness {
    producer: Producer,
    shared: Arc<Shared>,
    cfg: ProducerConfig,
    topic: Arc<TopicInfo>,
    queues: Vec<Arc<PartitionQueue>>,
    /// Reused by `recycle`, so that the harness itself does not allocate.
    scratch: Mutex<Vec<ProducerBatch>>,
}

impl std::fmt::Debug for SendHarness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendHarness")
            .field("topic", &self.topic.name)
            .finish_non_exhaustive()
    }
}

impl SendHarness {
    /// A producer for `cfg` (validated here) with `topic` of `partitions` partitions, all led
    /// by broker 0, in its metadata snapshot.
    pub fn new(cfg: ProducerConfig, topic: &str, partitions: i32) -> Result<SendHarness> {
        let producer = Producer::detached(cfg)?;
        let shared = producer.shared().clone();
        let cfg = producer.config().clone();
        let info = Arc::new(TopicInfo::led_by(topic, 1, partitions, 0));
        let mut cluster = Cluster::default();
        cluster.brokers.insert(
            0,
            BrokerInfo {
                id: 0,
                host: "127.0.0.1".into(),
                port: 9,
                rack: None,
            },
        );
        cluster.topics.insert(info.name.clone(), info.clone());
        shared.cluster.store(Arc::new(cluster));
        shared
            .cluster_generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        let queues = (0..partitions)
            .map(|p| shared.acc.queue(&info.name, p, partitions))
            .collect();
        Ok(SendHarness {
            producer,
            shared,
            cfg,
            topic: info,
            queues,
            scratch: Mutex::new(Vec::new()),
        })
    }

    /// The real `Producer::send` (the I/O thread is absent: nothing is sent).
    pub fn send(&self, record: Record<'_>) -> Result<DeliveryFuture, crate::DeliveryError> {
        self.producer.send(record)
    }

    /// The real `Producer::send_with_callback`.
    pub fn send_with_callback(
        &self,
        record: Record<'_>,
        callback: impl FnOnce(Result<crate::RecordMetadata, crate::DeliveryError>) + Send + 'static,
    ) -> Result<(), crate::DeliveryError> {
        self.producer.send_with_callback(record, callback)
    }

    /// `Accumulator::append_at` alone, into `partition`'s queue (no partitioner, no metadata,
    /// no lookup; the clock is read only when a new batch starts).
    pub fn append(
        &self,
        partition: i32,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
    ) -> Result<DeliveryFuture> {
        let size_bound = BatchBuilder::record_size_upper_bound(
            key.map(<[u8]>::len),
            value.map(<[u8]>::len),
            &[],
        );
        let a = Append {
            topic: &self.topic.name,
            partition,
            partition_count: self.topic.partition_count(),
            record: RecordRef {
                timestamp,
                key,
                value,
                headers: &[],
            },
            size_bound,
            delivery: crate::accumulator::Delivery::Future,
            want_thunk: false,
            now: None,
        };
        // The queue in hand, as the send path has it from its per-thread topic cache.
        self.shared
            .acc
            .append_at(
                &self.queues[partition as usize],
                a,
                None,
                self.cfg.max_block,
            )
            .map(|a| a.future.expect("asked for a future"))
    }

    /// The accumulator's queue lookup alone (topic map and partition list read locks, `Arc`
    /// clone).
    pub fn queue_lookup(&self, partition: i32) -> usize {
        let q = self
            .shared
            .acc
            .queue(&self.topic.name, partition, self.topic.partition_count());
        q.partition as usize
    }

    /// The seeded topic.
    pub fn topic(&self) -> &Arc<TopicInfo> {
        &self.topic
    }

    /// Completes queued batches successfully (as if acknowledged), on this thread, returning
    /// their buffers to the pool: every batch but each queue's last (still open) one, or every
    /// batch with `all`. Returns how many were completed.
    pub fn recycle(&self, all: bool) -> usize {
        let keep = usize::from(!all);
        let mut n = 0;
        let mut taken = self.scratch.lock();
        for q in &self.queues {
            {
                let mut d = q.batches.lock();
                while d.len() > keep {
                    taken.extend(d.pop_front());
                }
            }
            for b in taken.drain(..) {
                self.shared.acc.complete(
                    b,
                    Ok(Ack {
                        base_offset: 0,
                        log_append_time: -1,
                    }),
                    &self.shared.interceptors,
                );
                n += 1;
            }
        }
        n
    }

    /// Bytes the buffer pool can hand out without waiting.
    pub fn pool_available(&self) -> usize {
        self.shared.acc.pool.available()
    }
}
