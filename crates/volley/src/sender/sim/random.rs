//! Randomized deterministic simulation: one `u64` seed decides a whole run.
//!
//! [`Scenario::generate`] draws, from the seed alone, the cluster's shape (brokers, topics,
//! partitions, leaders), the producer's configuration (acks, idempotence or transactions,
//! linger, batch size, retries and backoffs, timeouts, in-flight limit, a `buffer.memory` small
//! enough to run out sometimes, adaptive partitioning) and a list of [`Step`]s: sends by several
//! logical threads (explicit partitions, keyed and keyless records through the real partitioners,
//! sizes from a few bytes to beyond a batch), flushes, transactions begun, committed and aborted,
//! simulated time passing, and faults drawn from everything the simulator can do (error codes
//! on produce and on the coordinators' APIs, lost requests and responses, slow and paused
//! brokers, disconnects, refused connections, leader and coordinator moves with epochs and
//! KIP-951 hints, throttling, stalls of the I/O thread); then a close, graceful or forced.
//!
//! [`run`] plays a scenario's steps against [`Sim`] and checks the invariants of
//! [`super::invariants`] after every step and at the end. The scenario never changes while a
//! failing run is shrunk ([`shrink`]): only the step list does, so a failure is the seed plus
//! the indices of the steps kept, and `--seed S` replays it exactly.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use fastrand::Rng;
use kafka_protocol::messages::ApiKey;

use super::invariants::{Checker, TxnFate};
use super::{RecordRef, SentRecord, Sim};
use crate::accumulator::{Append, Delivery};
use crate::config::{Acks, ProducerConfig};
use crate::error::{Error, KafkaCode};
use crate::partitioner::{self, PartitionSource};
use crate::protocol::record_batch::BatchBuilder;
use crate::txn::{TxnOp, TxnState};

/// What kind of producer a run drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// `enable.idempotence=false` with these acks (0, 1 or all): retries may duplicate.
    Plain(Acks),
    /// The idempotent producer (acks=all).
    Idempotent,
    /// A transactional producer.
    Transactional,
}

/// The seed's cluster and configuration (fixed for a seed; shrinking never changes it).
#[derive(Debug, Clone)]
pub(crate) struct Scenario {
    pub seed: u64,
    pub brokers: Vec<i32>,
    /// `(name, leader of each partition)`.
    pub topics: Vec<(String, Vec<i32>)>,
    pub mode: Mode,
    pub threads: u8,
    pub linger_ms: u64,
    pub batch_size: usize,
    pub buffer_memory: usize,
    pub max_block_ms: u64,
    pub retries: u32,
    pub retry_backoff_ms: u64,
    pub retry_backoff_max_ms: u64,
    pub request_timeout_ms: u64,
    pub delivery_timeout_ms: u64,
    pub max_in_flight: usize,
    pub adaptive: bool,
    pub steps: Vec<Step>,
}

/// Where a send's partition comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    Explicit(i32),
    /// A key `k<n>` (murmur2).
    Key(u16),
    /// No key: the sticky partitioner.
    Keyless,
}

/// One step of a run's workload or fault schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    Send {
        thread: u8,
        topic: u8,
        target: Target,
        size: u16,
    },
    /// Simulated time passes (ms).
    Run(u32),
    /// `flush`: every record sent so far resolves.
    Flush,
    Begin,
    Commit,
    Abort,
    Fault(Fault),
    /// The end: close (gracefully after healing every fault, gracefully as things are, or
    /// forced after `ms`).
    Close(End),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    HealThenClose,
    Close,
    ForceAfter(u32),
}

/// A fault from the simulator's repertoire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fault {
    FailProduce {
        topic: u8,
        partition: i32,
        n: u8,
        code: i16,
    },
    DropProduceResponses {
        broker: i32,
        n: u8,
    },
    LoseProduceRequests {
        broker: i32,
        n: u8,
    },
    /// Responses arrive late (0: back to normal). A long delay is a paused broker.
    Delay {
        broker: i32,
        ms: u32,
    },
    Disconnect {
        broker: i32,
    },
    RefuseConnections {
        broker: i32,
        ms: u32,
    },
    Unresponsive {
        broker: i32,
        on: bool,
    },
    MoveLeader {
        topic: u8,
        partition: i32,
        leader: Option<i32>,
    },
    LeaderHints(bool),
    MoveTxnCoordinator {
        broker: i32,
    },
    FailRequests {
        api: i16,
        n: u8,
        code: i16,
    },
    DropResponses {
        api: i16,
        n: u8,
    },
    ThrottleProduce {
        broker: i32,
        ms: u16,
    },
    /// The I/O thread is not scheduled for `ms` (a GC pause, a suspended VM): the clock jumps
    /// without a poll, then everything due is delivered.
    Stall {
        ms: u32,
    },
}

/// Retriable produce errors a broker answers (Java's `RetriableException` subclasses).
const RETRIABLE_PRODUCE: &[KafkaCode] = &[
    KafkaCode::NOT_LEADER_OR_FOLLOWER,
    KafkaCode::NOT_ENOUGH_REPLICAS,
    KafkaCode::NOT_ENOUGH_REPLICAS_AFTER_APPEND,
    KafkaCode::REQUEST_TIMED_OUT,
    KafkaCode::KAFKA_STORAGE_ERROR,
    KafkaCode::UNKNOWN_TOPIC_OR_PARTITION,
    KafkaCode::CORRUPT_MESSAGE,
];

/// Produce errors that fail the batch at once.
const FATAL_PRODUCE: &[KafkaCode] = &[
    KafkaCode::INVALID_RECORD,
    KafkaCode::RECORD_LIST_TOO_LARGE,
    KafkaCode::TOPIC_AUTHORIZATION_FAILED,
];

/// Errors the coordinators answer (retriable, or a moved coordinator).
const COORDINATOR_CODES: &[KafkaCode] = &[
    KafkaCode::COORDINATOR_NOT_AVAILABLE,
    KafkaCode::NOT_COORDINATOR,
    KafkaCode::COORDINATOR_LOAD_IN_PROGRESS,
    KafkaCode::CONCURRENT_TRANSACTIONS,
];

const TXN_APIS: &[ApiKey] = &[
    ApiKey::FindCoordinator,
    ApiKey::AddPartitionsToTxn,
    ApiKey::EndTxn,
    ApiKey::InitProducerId,
];

impl Scenario {
    /// Everything a seed decides.
    pub(crate) fn generate(seed: u64) -> Scenario {
        let mut r = Rng::with_seed(seed);
        let broker_count = r.i32(1..=3);
        let brokers: Vec<i32> = (1..=broker_count).collect();
        let topics = (0..r.usize(1..=2))
            .map(|t| {
                let leaders = (0..r.usize(1..=4))
                    .map(|_| r.i32(1..=broker_count))
                    .collect();
                (format!("topic{t}"), leaders)
            })
            .collect::<Vec<_>>();
        let mode = match r.u8(0..10) {
            0 => Mode::Plain(Acks::None),
            1 => Mode::Plain(Acks::Leader),
            2 => Mode::Plain(Acks::All),
            3..=6 => Mode::Idempotent,
            _ => Mode::Transactional,
        };
        let batch_size = *r
            .choice(&[64usize, 200, 512, 1024, 4096, 16384])
            .expect("choice");
        let request_timeout_ms = *r.choice(&[200u64, 1000, 5000, 30_000]).expect("choice");
        let linger_ms = *r.choice(&[0u64, 0, 5, 50, 500]).expect("choice");
        let mut sc = Scenario {
            seed,
            brokers,
            topics,
            mode,
            threads: r.u8(1..=4),
            linger_ms,
            batch_size,
            buffer_memory: batch_size.max(300) * r.usize(2..=40),
            max_block_ms: *r.choice(&[0u64, 100, 1000, 60_000]).expect("choice"),
            retries: *r.choice(&[0u32, 1, 3, i32::MAX as u32]).expect("choice"),
            retry_backoff_ms: *r.choice(&[1u64, 10, 100, 1000]).expect("choice"),
            retry_backoff_max_ms: *r.choice(&[100u64, 1000, 5000]).expect("choice"),
            request_timeout_ms,
            delivery_timeout_ms: linger_ms
                + request_timeout_ms
                + *r.choice(&[0u64, 1000, 10_000, 30_000]).expect("choice"),
            max_in_flight: r.usize(1..=5),
            adaptive: r.bool(),
            steps: Vec::new(),
        };
        if sc.mode != Mode::Plain(Acks::None) && sc.mode != Mode::Plain(Acks::Leader) {
            // acks=all producers may also be the idempotent kind only with retries > 0.
            if sc.mode != Mode::Plain(Acks::All) && sc.retries == 0 {
                sc.retries = i32::MAX as u32;
            }
        }
        sc.steps = sc.generate_steps(&mut r);
        sc
    }

    fn generate_steps(&self, r: &mut Rng) -> Vec<Step> {
        let n = r.usize(5..=60);
        let mut steps = Vec::with_capacity(n + 1);
        for _ in 0..n {
            let step = match r.u8(0..100) {
                0..=54 => {
                    let topic = r.u8(0..self.topics.len() as u8);
                    let count = self.topics[topic as usize].1.len() as i32;
                    let target = match r.u8(0..5) {
                        0 => Target::Explicit(r.i32(0..count)),
                        1 | 2 => Target::Key(r.u16(0..16)),
                        _ => Target::Keyless,
                    };
                    let size = match r.u8(0..10) {
                        0 => r.u16(300..2000),
                        _ => r.u16(1..120),
                    };
                    Step::Send {
                        thread: r.u8(0..self.threads),
                        topic,
                        target,
                        size,
                    }
                }
                55..=69 => Step::Run(match r.u8(0..4) {
                    0 => r.u32(1000..15_000),
                    _ => r.u32(0..300),
                }),
                70..=72 => Step::Flush,
                73..=79 if self.mode == Mode::Transactional => match r.u8(0..3) {
                    0 => Step::Begin,
                    1 => Step::Commit,
                    _ => Step::Abort,
                },
                _ => Step::Fault(self.fault(r)),
            };
            steps.push(step);
        }
        steps.push(Step::Close(match r.u8(0..4) {
            0 | 1 => End::HealThenClose,
            2 => End::Close,
            _ => End::ForceAfter(r.u32(0..2000)),
        }));
        steps
    }

    fn fault(&self, r: &mut Rng) -> Fault {
        let broker = r.i32(1..=self.brokers.len() as i32);
        let topic = r.u8(0..self.topics.len() as u8);
        let partition = r.i32(0..self.topics[topic as usize].1.len() as i32);
        match r.u8(0..16) {
            0 | 1 => Fault::FailProduce {
                topic,
                partition,
                n: r.u8(1..4),
                code: if r.u8(0..4) == 0 {
                    r.choice(FATAL_PRODUCE).expect("codes").0
                } else {
                    r.choice(RETRIABLE_PRODUCE).expect("codes").0
                },
            },
            2 => Fault::DropProduceResponses {
                broker,
                n: r.u8(1..3),
            },
            3 => Fault::LoseProduceRequests {
                broker,
                n: r.u8(1..3),
            },
            4 => Fault::Delay {
                broker,
                ms: *r.choice(&[0u32, 0, 20, 300, 3000, 20_000]).expect("delay"),
            },
            5 => Fault::Disconnect { broker },
            6 => Fault::RefuseConnections {
                broker,
                ms: r.u32(10..5000),
            },
            7 => Fault::Unresponsive {
                broker,
                on: r.bool(),
            },
            8 | 9 => Fault::MoveLeader {
                topic,
                partition,
                leader: (r.u8(0..6) != 0).then_some(broker),
            },
            10 => Fault::LeaderHints(r.u8(0..3) != 0),
            11 => Fault::MoveTxnCoordinator { broker },
            12 => Fault::FailRequests {
                api: *r.choice(TXN_APIS).expect("apis") as i16,
                n: r.u8(1..3),
                code: r.choice(COORDINATOR_CODES).expect("codes").0,
            },
            13 => Fault::DropResponses {
                api: *r.choice(TXN_APIS).expect("apis") as i16,
                n: r.u8(1..3),
            },
            14 => Fault::ThrottleProduce {
                broker,
                ms: *r.choice(&[0u16, 0, 50, 2000]).expect("throttle"),
            },
            _ => Fault::Stall {
                ms: r.u32(0..20_000),
            },
        }
    }

    /// The producer configuration the scenario asks for.
    fn configure(&self, c: &mut ProducerConfig) {
        c.linger = Duration::from_millis(self.linger_ms);
        c.batch_size = self.batch_size;
        c.buffer_memory = self.buffer_memory;
        c.max_block = Duration::from_millis(self.max_block_ms);
        c.retries = self.retries;
        c.retry_backoff = Duration::from_millis(self.retry_backoff_ms);
        c.retry_backoff_max = Duration::from_millis(self.retry_backoff_max_ms);
        c.request_timeout = Duration::from_millis(self.request_timeout_ms);
        c.delivery_timeout = Duration::from_millis(self.delivery_timeout_ms);
        c.max_in_flight = self.max_in_flight;
        c.partitioner_adaptive_partitioning = self.adaptive;
        c.metadata_max_age = Duration::from_secs(30);
        match self.mode {
            Mode::Plain(acks) => {
                c.acks = acks;
                c.enable_idempotence = Some(false);
            }
            Mode::Idempotent => c.enable_idempotence = Some(true),
            Mode::Transactional => {
                c.enable_idempotence = Some(true);
                c.transactional_id = Some("sim-txn".into());
            }
        }
    }

    /// A bound on how long every record sent so far may take to resolve once nothing blocks
    /// the sender for ever: `delivery.timeout.ms`, plus a request that was sent just before
    /// its deadline (Java lets it finish), plus backoffs and slack.
    pub(crate) fn resolve_bound(&self) -> Duration {
        Duration::from_millis(
            self.delivery_timeout_ms + self.request_timeout_ms + self.retry_backoff_max_ms * 2,
        ) + Duration::from_secs(30)
    }
}

/// What a run saw, for the summary.
#[derive(Debug, Default, Clone)]
pub(crate) struct Outcome {
    pub sent: usize,
    pub acked: usize,
    pub failed: usize,
    pub refused: usize,
    pub simulated: Duration,
}

/// A violated invariant (or a panic in the sender or the simulator) at a step.
#[derive(Debug, Clone)]
pub(crate) struct Violation {
    pub step: Option<usize>,
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.step {
            Some(i) => write!(f, "after step {i}: {}", self.message),
            None => write!(f, "{}", self.message),
        }
    }
}

/// Plays the scenario's steps, keeping only those whose index is in `keep` (all if `None`).
pub(crate) fn run(sc: &Scenario, keep: Option<&[usize]>) -> Result<Outcome, Violation> {
    let steps: Vec<(usize, &Step)> = match keep {
        None => sc.steps.iter().enumerate().collect(),
        Some(k) => k.iter().map(|&i| (i, &sc.steps[i])).collect(),
    };
    let at = std::cell::Cell::new(None);
    let result = catch_unwind(AssertUnwindSafe(|| Runner::new(sc).play(&steps, &at)));
    match result {
        Ok(r) => r,
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panic".into());
            Err(Violation {
                step: at.get(),
                message: format!("panic: {message}"),
            })
        }
    }
}

/// Shrinks a failing run: removes chunks of steps, then single steps, while the run still
/// fails (any violation). Returns the kept step indices (the final `Close` is always kept).
pub(crate) fn shrink(sc: &Scenario, budget: usize) -> Vec<usize> {
    let mut keep: Vec<usize> = (0..sc.steps.len()).collect();
    let mut tries = 0;
    let mut chunk = keep.len() / 2;
    while chunk >= 1 && tries < budget {
        let mut i = 0;
        while i + 1 < keep.len() && tries < budget {
            let end = (i + chunk).min(keep.len() - 1);
            let candidate: Vec<usize> = keep[..i].iter().chain(&keep[end..]).copied().collect();
            tries += 1;
            if end > i && run(sc, Some(&candidate)).is_err() {
                keep = candidate;
            } else {
                i += chunk;
            }
        }
        chunk /= 2;
    }
    keep
}

/// The state of one run.
struct Runner<'a> {
    sc: &'a Scenario,
    sim: Sim,
    check: Checker,
    /// Per logical thread, the number of its sends so far (values are unique).
    sent_by: Vec<u32>,
    /// The transaction each record was sent in (transactional runs).
    txn_of: Vec<Option<usize>>,
    txns: Vec<TxnFate>,
    refused: usize,
    initialized: bool,
}

impl<'a> Runner<'a> {
    fn new(sc: &'a Scenario) -> Self {
        let topics: Vec<(&str, &[i32])> = sc
            .topics
            .iter()
            .map(|(n, l)| (n.as_str(), l.as_slice()))
            .collect();
        let sim = Sim::with_seed(sc.seed, &sc.brokers, &topics, |c| sc.configure(c));
        let check = Checker::new(&sim, sc);
        Runner {
            sc,
            sim,
            check,
            sent_by: vec![0; usize::from(sc.threads)],
            txn_of: Vec::new(),
            txns: Vec::new(),
            refused: 0,
            initialized: false,
        }
    }

    fn max_block(&self) -> Duration {
        Duration::from_millis(self.sc.max_block_ms)
    }

    fn play(
        mut self,
        steps: &[(usize, &Step)],
        at: &std::cell::Cell<Option<usize>>,
    ) -> Result<Outcome, Violation> {
        if self.sc.mode == Mode::Transactional {
            self.init_transactions();
        }
        for &(i, step) in steps {
            at.set(Some(i));
            let fail = |message: String| Violation {
                step: Some(i),
                message,
            };
            self.step(step).map_err(fail)?;
            self.check.after_step(&self.sim).map_err(fail)?;
        }
        at.set(None);
        self.check
            .after_close(&mut self.sim, &self.txn_of, &self.txns)
            .map_err(|message| Violation {
                step: None,
                message,
            })?;
        let mut o = Outcome {
            sent: self.sim.records.len(),
            refused: self.refused,
            simulated: self.sim.elapsed(),
            ..Outcome::default()
        };
        for id in 0..o.sent {
            if self.sim.outcome(id).is_ok() {
                o.acked += 1;
            } else {
                o.failed += 1;
            }
        }
        Ok(o)
    }

    fn init_transactions(&mut self) {
        for _ in 0..5 {
            if self
                .sim
                .txn_call("init_transactions", Duration::from_secs(60), TxnOp::Init)
                .is_ok()
            {
                self.initialized = true;
                return;
            }
        }
    }

    fn step(&mut self, step: &Step) -> Result<(), String> {
        match step {
            Step::Send {
                thread,
                topic,
                target,
                size,
            } => {
                self.send(*thread, *topic, *target, *size);
                Ok(())
            }
            Step::Run(ms) => {
                self.sim.run_for(Duration::from_millis(u64::from(*ms)));
                Ok(())
            }
            Step::Flush => self.flush(),
            Step::Begin => {
                if self.initialized && self.sim.begin_transaction().is_ok() {
                    self.txns.push(TxnFate::Open);
                }
                Ok(())
            }
            Step::Commit => {
                self.end_txn(true);
                Ok(())
            }
            Step::Abort => {
                self.end_txn(false);
                Ok(())
            }
            Step::Fault(f) => {
                self.fault(f);
                Ok(())
            }
            Step::Close(end) => self.close(*end),
        }
    }

    fn flush(&mut self) -> Result<(), String> {
        let shared = self.sim.shared.clone();
        let _flushing = shared.acc.begin_flush();
        let bound = self.sc.resolve_bound();
        if self.sim.run_until(bound, Sim::all_done) {
            Ok(())
        } else {
            let pending = (0..self.sim.records.len())
                .filter(|&i| !self.sim.is_done(i))
                .count();
            Err(format!(
                "flush: {pending} records unresolved after {bound:?}"
            ))
        }
    }

    /// Commit (`true`) or abort the open transaction, as a user thread would, waiting up to
    /// `max.block.ms`; a timed-out call goes on and a later call of the same kind joins it.
    fn end_txn(&mut self, commit: bool) {
        if !self.initialized {
            return;
        }
        let state = self.sim.txn().state();
        let (name, op) = if commit {
            ("commit_transaction", TxnOp::Commit)
        } else {
            ("abort_transaction", TxnOp::Abort)
        };
        let open = matches!(
            state,
            TxnState::InTransaction
                | TxnState::Committing
                | TxnState::Aborting
                | TxnState::AbortableError
        );
        let res = self.sim.txn_call(name, self.max_block(), op);
        if open {
            self.settle_txn(commit, &res);
        }
    }

    fn settle_txn(&mut self, commit: bool, res: &crate::error::Result<()>) {
        let Some(fate) = self.txns.last_mut() else {
            return;
        };
        match res {
            Ok(()) => {
                *fate = if commit {
                    TxnFate::Committed
                } else {
                    TxnFate::Aborted
                }
            }
            Err(Error::Timeout { .. }) => *fate = TxnFate::Unknown,
            Err(_) if commit => {
                // A failed commit wrote no commit marker (an abortable error) or is fatal:
                // the transaction will not be visible unless it had committed before.
                if *fate != TxnFate::Committed {
                    *fate = TxnFate::NotCommitted;
                }
            }
            Err(_) => {}
        }
    }

    fn send(&mut self, thread: u8, topic: u8, target: Target, size: u16) {
        let t = usize::from(thread).min(self.sent_by.len() - 1);
        let n = self.sent_by[t];
        self.sent_by[t] += 1;
        let mut value = format!("t{t}-{n}-");
        let pad = usize::from(size).saturating_sub(value.len());
        value.extend(std::iter::repeat_n('.', pad));
        let key = match target {
            Target::Key(k) => Some(format!("k{k}")),
            _ => None,
        };
        let explicit = match target {
            Target::Explicit(p) => Some(p),
            _ => None,
        };
        let topic = self.sc.topics[usize::from(topic)].0.clone();
        if self.sc.mode == Mode::Transactional
            && self.initialized
            && self.sim.txn().state() == TxnState::Ready
            && self.sim.begin_transaction().is_ok()
        {
            self.txns.push(TxnFate::Open);
        }
        match self
            .sim
            .send_record(&topic, explicit, key.as_deref(), &value, self.max_block())
        {
            Ok(_) => {
                let txn = (self.sc.mode == Mode::Transactional)
                    .then(|| self.txns.len().checked_sub(1))
                    .flatten();
                self.txn_of.push(txn);
            }
            Err(e) => {
                self.refused += 1;
                self.check.refused(&e);
            }
        }
    }

    fn fault(&mut self, f: &Fault) {
        let sim = &mut self.sim;
        let topic = |t: &u8| self.sc.topics[usize::from(*t)].0.clone();
        match f {
            Fault::FailProduce {
                topic: t,
                partition,
                n,
                code,
            } => sim.fail_produce(&topic(t), *partition, usize::from(*n), KafkaCode(*code)),
            Fault::DropProduceResponses { broker, n } => {
                sim.drop_produce_responses(*broker, u32::from(*n));
            }
            Fault::LoseProduceRequests { broker, n } => {
                sim.lose_produce_requests(*broker, u32::from(*n));
            }
            Fault::Delay { broker, ms } => {
                sim.delay_responses(*broker, Duration::from_millis(u64::from(*ms)));
            }
            Fault::Disconnect { broker } => {
                let mut nodes: Vec<i32> = sim
                    .conns
                    .iter()
                    .filter(|(_, c)| c.broker == *broker)
                    .map(|(n, _)| *n)
                    .collect();
                nodes.sort_unstable();
                for node in nodes {
                    sim.disconnect(node);
                }
            }
            Fault::RefuseConnections { broker, ms } => {
                let until = sim.now + Duration::from_millis(u64::from(*ms));
                sim.refuse_connections(*broker, until);
            }
            Fault::Unresponsive { broker, on } => sim.set_unresponsive(*broker, *on),
            Fault::MoveLeader {
                topic: t,
                partition,
                leader,
            } => sim.set_leader(&topic(t), *partition, *leader),
            Fault::LeaderHints(on) => sim.set_leader_hints(*on),
            Fault::MoveTxnCoordinator { broker } => {
                sim.move_txn_coordinator(*broker);
            }
            Fault::FailRequests { api, n, code } => {
                if let Ok(api) = ApiKey::try_from(*api) {
                    sim.fail_requests(api, usize::from(*n), KafkaCode(*code));
                }
            }
            Fault::DropResponses { api, n } => {
                if let Ok(api) = ApiKey::try_from(*api) {
                    sim.drop_responses(api, u32::from(*n));
                }
            }
            Fault::ThrottleProduce { broker, ms } => sim.throttle_produce(*broker, i32::from(*ms)),
            Fault::Stall { ms } => {
                let to = sim.now + Duration::from_millis(u64::from(*ms));
                sim.set_now(to);
                sim.deliver_due();
            }
        }
    }

    /// Every fault lifted: brokers answer at once, connections are accepted, every partition
    /// has a leader, no error codes are pending.
    fn heal(&mut self) {
        let sim = &mut self.sim;
        for b in self.sc.brokers.iter().copied() {
            sim.set_unresponsive(b, false);
            sim.delay_responses(b, Duration::ZERO);
            sim.throttle_produce(b, 0);
            let m = sim.broker_mut(b);
            m.refuse_until = None;
            m.drop_produce_responses = 0;
            m.lose_produce_requests = 0;
        }
        sim.set_leader_hints(true);
        sim.model.coordinators.clear_faults();
        for (i, (name, leaders)) in self.sc.topics.iter().enumerate() {
            for p in 0..leaders.len() as i32 {
                sim.clear_faults(name, p);
                if sim.model.topics[name].partitions[p as usize]
                    .leader
                    .is_none()
                {
                    let leader = self.sc.brokers[(i + p as usize) % self.sc.brokers.len()];
                    sim.set_leader(name, p, Some(leader));
                }
            }
        }
    }

    fn close(&mut self, end: End) -> Result<(), String> {
        let bound = self.sc.resolve_bound();
        match end {
            End::ForceAfter(ms) => {
                self.sim.close();
                self.sim.run_for(Duration::from_millis(u64::from(ms)));
                if !self.sim.sender.is_finished() {
                    self.sim.force_close();
                    self.sim.poll();
                }
            }
            End::HealThenClose | End::Close => {
                if end == End::HealThenClose {
                    self.heal();
                    // An open transaction is ended as the user would before closing.
                    if self.sc.mode == Mode::Transactional {
                        let open = self.sim.txn().state() == TxnState::InTransaction;
                        if open {
                            self.end_txn(self.sc.seed.is_multiple_of(2));
                        }
                    }
                }
                self.sim.close();
                let finished = self.sim.run_until(bound, |s| s.sender.is_finished());
                if !finished {
                    if end == End::HealThenClose {
                        return Err(format!(
                            "close did not finish within {bound:?} with every fault healed"
                        ));
                    }
                    // close_timeout expired: Producer forces the close.
                    self.sim.force_close();
                    self.sim.poll();
                }
            }
        }
        Ok(())
    }
}

impl Sim {
    /// `Producer::send` as a user thread makes it: the topic's metadata waited for up to
    /// `max_block`, the partition chosen by the real partitioners (explicit, murmur2 of the
    /// key, or sticky), the partition added to an open transaction, buffer memory waited for up
    /// to `max_block` (of simulated time, the sender running meanwhile). An `Err` is a refused
    /// send: the record was never accepted.
    pub(crate) fn send_record(
        &mut self,
        topic: &str,
        explicit: Option<i32>,
        key: Option<&str>,
        value: &str,
        max_block: Duration,
    ) -> crate::error::Result<usize> {
        if let Some(e) = self.shared.lifecycle.fatal() {
            return Err(e.clone());
        }
        let started = self.now;
        if self.shared.cluster().topic(topic).is_none()
            && !self.wait_for_topic_within(topic, max_block)
        {
            return Err(Error::Timeout {
                operation: "waiting for metadata",
                after: max_block,
                cause: None,
            });
        }
        let info = self.shared.cluster().topic(topic).expect("known").clone();
        let chosen = partitioner::choose_partition_with_source(
            explicit,
            key.map(str::as_bytes),
            Some(value.as_bytes()),
            false,
            &info,
            None,
            &self.shared.sticky,
        )?;
        if let Some(t) = self.shared.txn.as_ref() {
            t.lock().maybe_add_partition(&info.name, chosen.partition)?;
        }
        let size_bound =
            BatchBuilder::record_size_upper_bound(key.map(str::len), Some(value.len()), &[]);
        loop {
            let id = self.records.len();
            let callback = self.record_callback(id);
            let a = Append {
                topic: &info.name,
                partition: chosen.partition,
                partition_count: info.partition_count(),
                record: RecordRef {
                    timestamp: 1_700_000_000_000 + self.elapsed().as_millis() as i64,
                    key: key.map(str::as_bytes),
                    value: Some(value.as_bytes()),
                    headers: &[],
                },
                size_bound,
                delivery: Delivery::Callback(callback),
                want_thunk: false,
                now: Some(self.now),
            };
            // A deadline already passed: the pool answers at once; the wait happens here, in
            // simulated time.
            match self
                .shared
                .acc
                .append(a, Some(Instant::now()), Duration::ZERO)
            {
                Ok(appended) => {
                    if chosen.source == PartitionSource::Sticky {
                        self.shared.sticky.on_append(
                            &info,
                            chosen.partition,
                            appended.appended_bytes,
                            appended.batch_full,
                        );
                    }
                    self.records.push(SentRecord {
                        topic: topic.to_string(),
                        partition: chosen.partition,
                        value: value.to_string(),
                        sent_at: self.now,
                        future: appended.future.or_else(|| {
                            self.shared
                                .acc
                                .future_of_last_append(topic, chosen.partition)
                        }),
                        outcome: None,
                    });
                    return Ok(id);
                }
                Err(Error::Timeout { .. }) => {
                    let left = (started + max_block).saturating_duration_since(self.now);
                    if left.is_zero() {
                        return Err(Error::Timeout {
                            operation: "waiting for buffer memory",
                            after: max_block,
                            cause: None,
                        });
                    }
                    let available = self.shared.acc.pool.available();
                    self.run_until(left, |s| s.shared.acc.pool.available() > available);
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// The sticky partitioner's choices depend on the run's seed only.
#[cfg(test)]
pub(crate) fn sticky_choices(seed: u64) -> Vec<i32> {
    let sc = Scenario::generate(seed);
    let mut r = Runner::new(&sc);
    let topic = sc.topics[0].0.clone();
    (0..20)
        .filter_map(|i| {
            r.sim
                .send_record(
                    &topic,
                    None,
                    None,
                    &"x".repeat(400 + i),
                    Duration::from_secs(5),
                )
                .ok()
                .map(|id| r.sim.records[id].partition)
        })
        .collect()
}
