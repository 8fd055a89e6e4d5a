//! The boundary between the user's threads and the I/O thread.
//!
//! Three things cross it, each in one way only:
//! * [`Shared`]: what the lock-free send path reads and writes: the cluster snapshot, the
//!   partition queues (the accumulator), the sticky partitioner; with the interceptors and the
//!   transaction manager's send-side check that the send path calls, and the metric counters.
//! * [`Command`]s: everything else the user side asks of the I/O side (a topic to look up, a
//!   close, a forced close, a transactional call). The driver turns each into a `Sender::handle_*` call, so the sender
//!   changes only through events and `poll(now)`.
//! * The [`Lifecycle`]: the producer's state, its fatal error and the one signal that every
//!   wait selects on.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use arc_swap::ArcSwap;
use parking_lot::Mutex;
use tokio::sync::mpsc;

use crate::accumulator::{Accumulator, AccumulatorConfig};
use crate::config::{CompressionType, ProducerConfig};
use crate::error::{Error, Result};
use crate::interceptor::{DeliveryHandler, Interceptor, Interceptors};
use crate::lifecycle::Lifecycle;
use crate::metadata::Cluster;
use crate::metrics::stats::SenderStats;
use crate::metrics::Counters;
use crate::partitioner::StickyPartitioner;
use crate::protocol::compression::{Compression, CompressionCodec};
use crate::txn::{TxnManager, TxnOp, TxnResult};

/// What a user thread asks of the I/O thread.
#[derive(Debug, Clone)]
pub(crate) enum Command {
    /// A send waits for this topic's metadata (`Sender::handle_want_topic`).
    WantTopic(Arc<str>),
    /// `close`: deliver what is queued and in flight, then stop (`Sender::handle_close`).
    Close,
    /// A close whose timeout passed: fail everything left, then stop
    /// (`Sender::handle_force_close`).
    ForceClose,
    /// A transactional call (`init_transactions`, `send_offsets_to_transaction`,
    /// `commit_transaction`, `abort_transaction`), ending with this result
    /// (`Sender::handle_txn_command`).
    Txn(TxnOp, Arc<TxnResult>),
}

/// The I/O thread's end of the command queue.
pub(crate) type Commands = mpsc::UnboundedReceiver<Command>;

/// See the module docs.
pub(crate) struct Shared {
    pub lifecycle: Arc<Lifecycle>,
    pub acc: Accumulator,
    /// The metadata snapshot, read without a lock by every send.
    pub cluster: ArcSwap<Cluster>,
    /// Increases with every new snapshot in `cluster` (senders cache topics per thread, and a
    /// send waiting for a topic asks again when fresh metadata still lacks it).
    pub cluster_generation: AtomicU64,
    pub sticky: StickyPartitioner,
    pub interceptors: Interceptors,
    /// The transaction manager, with a `transactional.id`: the send path checks the state and
    /// records the partitions of the open transaction (`begin_transaction` and
    /// `maybe_add_partition`, synchronous as in Java); every other call is a `Command::Txn`.
    pub txn: Option<Mutex<TxnManager>>,
    pub counters: Counters,
    /// The windowed metrics and per-topic and per-broker counts, recorded by the I/O thread.
    pub stats: Mutex<SenderStats>,
    commands: mpsc::UnboundedSender<Command>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").finish_non_exhaustive()
    }
}

fn compression_of(cfg: &ProducerConfig) -> Result<Compression> {
    let codec = match cfg.compression_type {
        CompressionType::None => CompressionCodec::None,
        CompressionType::Gzip => CompressionCodec::Gzip,
        CompressionType::Snappy => CompressionCodec::Snappy,
        CompressionType::Lz4 => CompressionCodec::Lz4,
        CompressionType::Zstd => CompressionCodec::Zstd,
    };
    if !codec.is_enabled() {
        // Checked when the producer is built, not when the configuration is parsed, so that a
        // configuration file stays readable by any build.
        return Err(Error::config(
            "compression.type",
            crate::protocol::compression::CompressionError::Disabled(codec).to_string(),
        ));
    }
    Compression::with_level(codec, cfg.compression_level())
        .map_err(|m| Error::config("compression.type", m))
}

impl Shared {
    /// The shared state for a validated `cfg`, and the I/O thread's end of the command queue
    /// (the part of starting a producer that needs no thread; the simulated-cluster tests build
    /// a `Sender` on it too).
    pub(crate) fn new(
        cfg: &ProducerConfig,
        interceptors: Vec<Arc<dyn Interceptor>>,
        delivery_handler: Option<Arc<dyn DeliveryHandler>>,
    ) -> Result<(Arc<Shared>, Commands)> {
        let lifecycle = Arc::new(Lifecycle::default());
        let mut acc = Accumulator::new(
            AccumulatorConfig {
                batch_size: cfg.batch_size.max(1),
                linger: cfg.linger,
                compression: compression_of(cfg)?,
                delivery_timeout: cfg.delivery_timeout,
                buffer_memory: cfg.buffer_memory,
                transactional: cfg.transactional_id.is_some(),
            },
            lifecycle.clone(),
        );
        acc.delivery_handler = delivery_handler;
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            txn: cfg.transactional_id.as_ref().map(|id| {
                Mutex::new(TxnManager::new(
                    id.clone(),
                    cfg.transaction_timeout,
                    cfg.retry_backoff,
                    lifecycle.clone(),
                ))
            }),
            lifecycle,
            acc,
            cluster: ArcSwap::from_pointee(Cluster::default()),
            cluster_generation: AtomicU64::new(0),
            sticky: StickyPartitioner::new(
                cfg.batch_size.max(1),
                cfg.partitioner_adaptive_partitioning,
            ),
            interceptors: Interceptors::new(interceptors),
            counters: Counters::default(),
            stats: Mutex::default(),
            commands: tx,
        });
        Ok((shared, rx))
    }

    /// The current metadata snapshot.
    pub(crate) fn cluster(&self) -> Arc<Cluster> {
        self.cluster.load_full()
    }

    /// Queues a command for the I/O thread and wakes it. A command sent after the I/O thread
    /// has exited is dropped (there is nothing left to do).
    pub(crate) fn command(&self, c: Command) {
        let _ = self.commands.send(c);
    }
}
