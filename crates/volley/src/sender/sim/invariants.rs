//! The invariants a randomized run ([`super::random`]) must keep, checked after every step
//! ([`Checker::after_step`]) and once the producer is closed ([`Checker::after_close`]).
//!
//! After each step: buffer accounting (the pool never hands out more than `buffer.memory`), no
//! record resolved twice, and every refused send refused with a sensible error.
//!
//! After the close:
//! - the sender has finished, nothing is queued or in flight, every byte of `buffer.memory` is
//!   back in the pool, and after a forced close no connection is left open;
//! - every record resolved exactly once (callback and future agree), with a sensible error if
//!   it failed (no internal or protocol errors, no UNKNOWN_SERVER_ERROR the brokers never sent),
//!   and a failed record's error hands the record back, read from its batch's bytes;
//! - acks ≠ 0: every acknowledged record is in its partition's log at the offset it was
//!   acknowledged with;
//! - idempotent and transactional producers: no record is in the log twice, and per partition
//!   the acknowledged records' log order is their send order;
//! - transactional: a `read_committed` reader sees every record of the committed transactions
//!   and none of the aborted ones (nor of transactions whose commit failed).

use std::collections::{BTreeMap, HashMap};

use super::random::{Mode, Scenario};
use super::{SentRecord, Sim};
use crate::config::Acks;
use crate::delivery_error::DeliveryError;
use crate::error::{Error, KafkaCode};

/// What became of a transaction, as far as the user could tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TxnFate {
    Open,
    Committed,
    Aborted,
    /// Its commit failed: it must not become visible.
    NotCommitted,
    /// Its end call timed out: either outcome is possible.
    Unknown,
}

pub(crate) struct Checker {
    mode: Mode,
    buffer_memory: usize,
    /// Bad errors of refused sends, reported at the next check.
    bad_refusals: Vec<String>,
}

/// Whether a record's (or a send's) error is one a user can act on: not an internal or
/// protocol error, not a broker code no broker sent.
fn sensible(e: &Error) -> bool {
    match e {
        Error::Fatal(inner) | Error::Abortable(inner) => sensible(inner),
        Error::Broker { .. } | Error::Request { .. } => {
            e.code() != Some(KafkaCode::UNKNOWN_SERVER_ERROR)
        }
        Error::DeliveryTimeout { .. }
        | Error::Timeout { .. }
        | Error::Network { .. }
        | Error::Closed(_)
        | Error::RecordTooLarge { .. }
        | Error::Authorization { .. }
        | Error::UnknownTopic { .. }
        | Error::PartitionOutOfRange { .. } => true,
        // A send refused by the transaction manager (outside a transaction, during a commit).
        Error::IllegalState(_) => true,
        _ => false,
    }
}

impl Checker {
    pub(crate) fn new(_sim: &Sim, sc: &Scenario) -> Checker {
        Checker {
            mode: sc.mode,
            buffer_memory: sc.buffer_memory,
            bad_refusals: Vec::new(),
        }
    }

    pub(crate) fn refused(&mut self, e: &Error) {
        if !sensible(e) {
            self.bad_refusals.push(format!("{e:?}"));
        }
    }

    pub(crate) fn after_step(&mut self, sim: &Sim) -> Result<(), String> {
        if let Some(e) = self.bad_refusals.first() {
            return Err(format!("a send was refused with an unexpected error: {e}"));
        }
        let available = sim.shared.acc.pool.available();
        if available > self.buffer_memory {
            return Err(format!(
                "buffer pool holds {available} bytes, more than buffer.memory {}",
                self.buffer_memory
            ));
        }
        let mut seen = HashMap::new();
        for (id, _, _) in sim.resolutions.lock().iter() {
            if seen.insert(*id, ()).is_some() {
                return Err(format!("record {id} resolved twice"));
            }
        }
        Ok(())
    }

    pub(crate) fn after_close(
        &mut self,
        sim: &mut Sim,
        txn_of: &[Option<usize>],
        txns: &[TxnFate],
    ) -> Result<(), String> {
        self.after_step(sim)?;
        self.closed_cleanly(sim)?;
        sim.assert_each_resolved_once();
        let idempotent = matches!(self.mode, Mode::Idempotent | Mode::Transactional);
        let acks0 = self.mode == Mode::Plain(Acks::None);
        // value → (topic, partition, offsets in the log)
        let mut in_log: HashMap<String, Vec<(String, i32, i64)>> = HashMap::new();
        for (name, t) in &sim.model.topics {
            for (p, part) in t.partitions.iter().enumerate() {
                for r in part.log.iter().filter(|r| r.control.is_none()) {
                    in_log.entry(r.value.clone()).or_default().push((
                        name.clone(),
                        p as i32,
                        r.offset,
                    ));
                }
            }
        }
        // (topic, partition) → [(offset, record id)] of acknowledged records
        let mut acked: BTreeMap<(String, i32), Vec<(i64, usize)>> = BTreeMap::new();
        for id in 0..sim.records.len() {
            let (topic, partition, value) = {
                let r = &sim.records[id];
                (r.topic.clone(), r.partition, r.value.clone())
            };
            let copies = in_log.get(&value).map_or(0, Vec::len);
            if idempotent && copies > 1 {
                return Err(format!(
                    "record {id} ({value}) is in the log {copies} times"
                ));
            }
            match sim.outcome(id).clone() {
                Ok(md) => {
                    if (&*md.topic, md.partition) != (topic.as_str(), partition) {
                        return Err(format!("record {id} acknowledged for another partition"));
                    }
                    if acks0 {
                        continue;
                    }
                    let here = in_log.get(&value).is_some_and(|v| {
                        v.iter()
                            .any(|(t, p, o)| *t == topic && *p == partition && *o == md.offset)
                    });
                    if !here {
                        return Err(format!(
                            "record {id} ({value}) acknowledged at {topic}-{partition}@{} \
                             but not there in the log (log copies: {:?})",
                            md.offset,
                            in_log.get(&value)
                        ));
                    }
                    acked
                        .entry((topic, partition))
                        .or_default()
                        .push((md.offset, id));
                }
                Err(e) => {
                    if !sensible(&e) {
                        return Err(format!(
                            "record {id} failed with an unexpected error: {e:?}"
                        ));
                    }
                }
            }
        }
        if idempotent {
            for ((topic, partition), mut v) in acked {
                v.sort_unstable();
                if let Some(w) = v.windows(2).find(|w| w[0].1 > w[1].1) {
                    return Err(format!(
                        "{topic}-{partition}: record {} (sent later) is at offset {}, before \
                         record {} at offset {}",
                        w[0].1, w[0].0, w[1].1, w[1].0
                    ));
                }
            }
        }
        if self.mode == Mode::Transactional {
            self.transactions(sim, txn_of, txns)?;
        }
        Ok(())
    }

    /// Nothing left behind: the sender finished, no batch queued or in flight, the pool whole,
    /// and after a forced close no connection open.
    fn closed_cleanly(&self, sim: &Sim) -> Result<(), String> {
        if !sim.sender.is_finished() {
            return Err("the sender did not finish after close".into());
        }
        if !sim.all_done() {
            return Err("records unresolved after close".into());
        }
        if sim.shared.acc.has_incomplete() {
            return Err("batches left in the accumulator after close".into());
        }
        let in_flight: usize = sim
            .sender
            .net
            .nodes
            .values()
            .map(|n| n.produce_in_flight())
            .sum();
        if in_flight > 0 {
            return Err(format!(
                "{in_flight} produce requests in flight after close"
            ));
        }
        let available = sim.shared.acc.pool.available();
        if available != self.buffer_memory {
            return Err(format!(
                "buffer pool has {available} of {} bytes after close (memory leaked)",
                self.buffer_memory
            ));
        }
        if sim.shared.lifecycle.is_running() {
            return Err("lifecycle still running after close".into());
        }
        Ok(())
    }

    /// All or nothing for a `read_committed` reader.
    fn transactions(
        &self,
        sim: &Sim,
        txn_of: &[Option<usize>],
        txns: &[TxnFate],
    ) -> Result<(), String> {
        let mut visible: HashMap<String, ()> = HashMap::new();
        for (name, t) in &sim.model.topics {
            for p in 0..t.partitions.len() as i32 {
                for v in sim.read_committed(name, p) {
                    visible.insert(v, ());
                }
            }
        }
        for (id, txn) in txn_of.iter().enumerate() {
            let value = &sim.records[id].value;
            let shown = visible.contains_key(value);
            let fate = txn.and_then(|k| txns.get(k).copied());
            match fate {
                Some(TxnFate::Committed) if !shown => {
                    return Err(format!(
                        "record {id} ({value}) of committed transaction {txn:?} is not visible \
                         to read_committed"
                    ));
                }
                Some(TxnFate::Aborted | TxnFate::NotCommitted) if shown => {
                    return Err(format!(
                        "record {id} ({value}) of transaction {txn:?} ({fate:?}) is visible to \
                         read_committed"
                    ));
                }
                None if shown => {
                    return Err(format!(
                        "record {id} ({value}) sent outside a transaction is visible"
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// A failed record's error (from its callback) hands back the record that was sent: its topic,
/// partition and value, read back from its batch's bytes at failure time.
pub(crate) fn record_handed_back(id: usize, sent: &SentRecord, e: &DeliveryError) {
    let Some(r) = e.record() else {
        panic!("record {id} ({}) failed with {e} and no record", sent.value);
    };
    assert_eq!(
        (
            &*r.topic,
            r.partition,
            r.value.as_ref().map(|v| v.as_bytes())
        ),
        (
            sent.topic.as_str(),
            Some(sent.partition),
            Some(sent.value.as_bytes())
        ),
        "record {id}: the record handed back with {e}"
    );
    assert!(
        r.timestamp.is_some(),
        "record {id}: no timestamp handed back"
    );
}
