//! The simulated cluster's transactions: the test's controls of the coordinators (moves,
//! faults, fencing, `transaction.version`), inspection of their state, and the user's side of
//! the transactional calls. The coordinators themselves are the broker model's
//! ([`crate::fake::model::txn`]), shared with the fake cluster.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::ApiKey;

use super::{LogRecord, Marker, Sim};
use crate::error::{Error, KafkaCode, Result};
use crate::fake::model::TxnEntry;
use crate::shared::Command;
use crate::txn::{TxnManager, TxnOp, TxnResult};

impl Sim {
    // ------------------------------------------------------------------ faults, changes

    /// Moves the transaction coordinator: `broker` answers for every transactional id from now
    /// on (with the state the old one had), the old one answers NOT_COORDINATOR.
    pub(crate) fn move_txn_coordinator(&mut self, broker: i32) {
        self.model.coordinators.txn_coordinator = broker;
    }

    /// Finalizes `transaction.version` at `level` (0: not finalized; 2: KIP-890 part 2), as
    /// Kafka's `FeatureCommand` does: the features epoch moves on, and connections made from now
    /// on report it.
    pub(crate) fn set_transaction_version(&mut self, level: i16) {
        self.model.coordinators.transaction_version = level;
        self.model.coordinators.features_epoch += 1;
    }

    /// Bad input: from now on a successful EndTxn v5 answers with producer id and epoch -1,
    /// although the coordinator bumped the epoch.
    pub(crate) fn answer_end_txn_without_epoch(&mut self) {
        self.model.coordinators.end_txn_without_epoch = true;
    }

    /// The coordinator's entry for `transactional_id` starts at `epoch` (as after that many
    /// transactions), with a new producer id: for epoch exhaustion. Before `init_transactions`.
    pub(crate) fn preset_txn_epoch(&mut self, transactional_id: &str, epoch: i16) -> i64 {
        self.model.new_txn_entry(transactional_id, epoch)
    }

    /// Moves the group coordinator (as [`Sim::move_txn_coordinator`]).
    pub(crate) fn move_group_coordinator(&mut self, broker: i32) {
        self.model.coordinators.group_coordinator = broker;
    }

    /// The next `n` requests of `api` (any non-produce API, from any broker) are answered with
    /// `code` and not handled.
    pub(crate) fn fail_requests(&mut self, api: ApiKey, n: usize, code: KafkaCode) {
        assert_ne!(api, ApiKey::Produce, "use fail_produce");
        self.model
            .coordinators
            .faults
            .entry(api)
            .or_default()
            .extend(std::iter::repeat_n(code, n));
    }

    /// The next `n` requests of `api` are handled but their responses are lost.
    pub(crate) fn drop_responses(&mut self, api: ApiKey, n: u32) {
        *self.model.coordinators.drops.entry(api).or_default() += n;
    }

    /// Another producer with the same transactional id calls `init_transactions` (as a
    /// restarted instance would): the epoch is bumped, fencing this one, and its open
    /// transaction aborted. Returns the new producer id and epoch.
    pub(crate) fn fence(&mut self, transactional_id: &str) -> (i64, i16) {
        loop {
            match self.model.init_txn(transactional_id, None) {
                (KafkaCode::NONE, pid, epoch) => return (pid, epoch),
                (KafkaCode::CONCURRENT_TRANSACTIONS, _, _) => continue,
                (code, _, _) => panic!("fencing {transactional_id}: {code:?}"),
            }
        }
    }

    // ------------------------------------------------------------------ inspection

    /// The coordinator's state of a transactional id.
    pub(crate) fn txn_entry(&self, transactional_id: &str) -> Option<&TxnEntry> {
        self.model.coordinators.txns.get(transactional_id)
    }

    /// The group's committed offsets: `(topic, partition) → offset`.
    pub(crate) fn committed_offsets(&self, group: &str) -> BTreeMap<(String, i32), i64> {
        self.model.committed_offsets(group)
    }

    /// What a partition leader answers a transactional batch of `producer`, once the rest of
    /// its checks pass (for checking the model itself).
    pub(crate) fn verify_transactional_batch(
        &self,
        transactional_id: &str,
        topic: &str,
        partition: i32,
        producer: (i64, i16),
    ) -> KafkaCode {
        let (pid, epoch) = producer;
        self.model
            .coordinators
            .verify(Some(transactional_id), topic, partition, pid, epoch)
    }

    /// The transaction markers in the partition's log.
    pub(crate) fn markers(&self, topic: &str, partition: i32) -> Vec<LogRecord> {
        self.log(topic, partition)
            .iter()
            .filter(|r| r.control.is_some())
            .cloned()
            .collect()
    }

    /// `(marker, epoch)` of each transaction marker in the partition's log.
    pub(crate) fn marker_epochs(&self, topic: &str, partition: i32) -> Vec<(Option<Marker>, i16)> {
        self.markers(topic, partition)
            .iter()
            .map(|m| (m.control, m.epoch))
            .collect()
    }

    /// The values a `read_committed` consumer reads from the partition (see
    /// [`Model::read_committed`]).
    pub(crate) fn read_committed(&self, topic: &str, partition: i32) -> Vec<String> {
        self.model
            .read_committed(topic, partition)
            .into_iter()
            .map(|r| r.value.clone())
            .collect()
    }

    // ------------------------------------------------------------------ the user's side

    /// The transaction manager.
    pub(crate) fn txn(&self) -> parking_lot::MutexGuard<'_, TxnManager> {
        self.shared
            .txn
            .as_ref()
            .expect("a transactional producer")
            .lock()
    }

    /// `Producer::begin_transaction`: refused after a fatal error, else the manager's
    /// (local) transition.
    pub(crate) fn begin_transaction(&mut self) -> Result<()> {
        if let Some(e) = self.shared.lifecycle.fatal() {
            return Err(e.clone());
        }
        self.txn().begin_transaction()
    }

    /// Runs until the result is in or `max` has passed; the result, if in.
    pub(crate) fn wait_txn(&mut self, r: &Arc<TxnResult>, max: Duration) -> Option<Result<()>> {
        self.run_until(max, |_| r.is_done());
        r.is_done().then(|| r.try_get().expect("done"))
    }

    /// A transactional call as `Producer` makes it (`txn_call`): refused after a fatal error,
    /// otherwise the pending result of the same call, or a new one handed to the sender as a
    /// `Command::Txn`, waited for up to `max_block` of simulated time (then `Error::Timeout`,
    /// the work going on).
    pub(crate) fn txn_call(
        &mut self,
        operation: &'static str,
        max_block: Duration,
        op: TxnOp,
    ) -> Result<()> {
        if let Some(e) = self.shared.lifecycle.fatal() {
            return Err(e.clone());
        }
        let pending = self.txn().pending(op.kind());
        let r = pending.unwrap_or_else(|| {
            let r = Arc::new(TxnResult::new(self.shared.lifecycle.clone()));
            self.shared.command(Command::Txn(op, r.clone()));
            r
        });
        match self.wait_txn(&r, max_block) {
            Some(res) => res,
            None => Err(Error::Timeout {
                operation,
                after: max_block,
                cause: None,
            }),
        }
    }
}
