//! Thin wrappers over crate-internal items for the benchmarks in `benches/`. Not part of the
//! API: hidden from the docs and free to change.
//!
//! [`SendHarness`] builds the producer's shared state exactly as a [`Producer`](crate::Producer)
//! does ([`build_shared`](crate::producer::build_shared)), seeds a metadata snapshot with one
//! topic, and starts no I/O thread, so `send` runs without a network. Full batches stay in
//! their queues until [`SendHarness::recycle`] completes them (successfully) on the caller's
//! thread, which gives their buffers back to the pool as the I/O thread would.

use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;

use crate::accumulator::{Ack, DeliveryFuture, PartitionQueue, ProducerBatch, RecordRef};
use crate::config::ProducerConfig;
use crate::error::{Error, KafkaCode, Result};
use crate::metadata::{BrokerInfo, Cluster, PartitionInfo, TopicInfo};
use crate::partitioner::{self, PartitionSource};
use crate::producer::{build_shared, validate_topic};
use crate::protocol::record_batch::{self, BatchBuilder, RecordHeader};
use crate::record::Record;
use crate::sender::Shared;

/// A producer's shared state with a seeded topic and no I/O thread.
pub struct SendHarness {
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
    /// The state for `cfg` (validated here) with `topic` of `partitions` partitions, all led by
    /// broker 0, in the metadata snapshot.
    pub fn new(mut cfg: ProducerConfig, topic: &str, partitions: i32) -> Result<SendHarness> {
        cfg.validate()?;
        let (shared, _sender_cfg) = build_shared(&cfg, Vec::new())?;
        let info = Arc::new(TopicInfo {
            name: Arc::from(topic),
            id: 1,
            error: KafkaCode::NONE,
            internal: false,
            partitions: (0..partitions)
                .map(|p| PartitionInfo {
                    partition: p,
                    leader: Some(0),
                    leader_epoch: 0,
                    replicas: vec![0],
                    isr: vec![0],
                    error: KafkaCode::NONE,
                })
                .collect(),
        });
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
        *shared.cluster.write() = Arc::new(cluster);
        let queues = (0..partitions)
            .map(|p| shared.acc.queue(&info.name, p, partitions))
            .collect();
        Ok(SendHarness {
            shared,
            cfg,
            topic: info,
            queues,
            scratch: Mutex::new(Vec::new()),
        })
    }

    /// `Producer::send` without the I/O thread: the same steps, in the same order, as
    /// `send_blocking` → `prepare`, `wait_for_topic` (metadata known), `append`, `after_append`
    /// in producer.rs. Keep it in step with that file.
    pub fn send(&self, mut record: Record<'_>) -> Result<DeliveryFuture> {
        let shared = &self.shared;
        let start = Instant::now();
        // prepare
        if let Some(e) = shared.fatal.lock().as_ref() {
            return Err(e.clone());
        }
        if shared.acc.is_closed() {
            return Err(Error::Closed("send after close"));
        }
        if !shared.interceptors.is_empty() {
            shared.interceptors.on_send(&mut record);
        }
        validate_topic(&record.topic)?;
        let deadline = start + self.cfg.max_block;
        // wait_for_topic → topic_or_request, metadata known
        let _seen = shared.metadata_changed.generation();
        let topic = {
            let _gen = shared.metadata_changed.generation();
            let cluster = shared.cluster.read();
            match cluster.topics.get(&*record.topic) {
                Some(t) if t.error.is_ok() && !t.partitions.is_empty() => t.clone(),
                _ => {
                    return Err(Error::UnknownTopic {
                        topic: record.topic.to_string(),
                        after: self.cfg.max_block,
                    })
                }
            }
        };
        // append
        let headers: Vec<RecordHeader<'_>> = record
            .headers
            .iter()
            .map(|h| RecordHeader {
                key: &h.key,
                value: h.value.as_ref().map(|v| v.as_bytes()),
            })
            .collect();
        let (key, value) = (
            record.key.as_ref().map(|k| k.as_bytes()),
            record.value.as_ref().map(|v| v.as_bytes()),
        );
        let size = record_batch::RECORD_BATCH_OVERHEAD
            + BatchBuilder::record_size_upper_bound(
                key.map(<[u8]>::len),
                value.map(<[u8]>::len),
                &headers,
            );
        if size > self.cfg.max_request_size || size > self.cfg.buffer_memory {
            return Err(Error::RecordTooLarge {
                size,
                limit: self.cfg.max_request_size,
                limit_key: "max.request.size",
            });
        }
        let chosen = partitioner::choose_partition_with_source(
            record.partition,
            key,
            value,
            self.cfg.partitioner_ignore_keys,
            &topic,
            None,
            &shared.sticky,
        )?;
        if let Some(t) = &shared.txn {
            t.lock()
                .maybe_add_partition(&topic.name, chosen.partition)?;
        }
        let timestamp = record.timestamp.unwrap_or_else(now_ms);
        let rec = RecordRef {
            timestamp,
            key,
            value,
            headers: &headers,
        };
        let acc = &shared.acc;
        let q = acc.queue(&topic.name, chosen.partition, topic.partition_count());
        let want = !shared.interceptors.is_empty();
        let a = acc.append(&q, &rec, None, want, deadline, self.cfg.max_block, start)?;
        // after_append
        if chosen.source == PartitionSource::Sticky {
            shared
                .sticky
                .on_append(&topic, chosen.partition, a.appended_bytes, a.batch_full);
        }
        if a.wake_sender {
            acc.wakeup.notify_one();
        }
        Ok(a.future)
    }

    /// `Accumulator::append` alone, into `partition` (no partitioner, no metadata, no clock
    /// read: `now` is passed in).
    pub fn append(
        &self,
        partition: i32,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        now: Instant,
    ) -> Result<DeliveryFuture> {
        let rec = RecordRef {
            timestamp,
            key,
            value,
            headers: &[],
        };
        let q = &self.queues[partition as usize];
        self.shared
            .acc
            .append(
                q,
                &rec,
                None,
                false,
                now + self.cfg.max_block,
                self.cfg.max_block,
                now,
            )
            .map(|a| a.future)
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
                    &|_, _| {},
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

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
