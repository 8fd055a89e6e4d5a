//! Kafka's transaction protocol versions (KIP-890) and the rules that tell them apart.
//!
//! - **Version 1**: a partition is added with AddPartitionsToTxn before its first batch,
//!   offsets with AddOffsetsToTxn before TxnOffsetCommit; Produce ≤ v11, EndTxn ≤ v4,
//!   TxnOffsetCommit ≤ v4. The epoch changes only when the client asks (InitProducerId).
//! - **Version 2** (KIP-890 part 2, Kafka 4.0+ when the cluster finalizes the
//!   `transaction.version` feature at level 2): the partition leader adds a partition to the
//!   transaction when a transactional Produce v12+ reaches it, the group coordinator adds the
//!   group when TxnOffsetCommit v5 reaches it, and the coordinator bumps the producer epoch at
//!   every EndTxn (v5), answering with the producer id and epoch the next transaction uses (a
//!   new producer id at epoch 0 once the epoch is exhausted).
//!
//! As Java's `TransactionManager`, the version is read from the finalized features the brokers
//! report in ApiVersions (the report with the highest features epoch wins), chosen when
//! `init_transactions` gets its producer id, and looked at again when each transaction ends, so
//! it never changes in the middle of a transaction.

use std::ops::RangeInclusive;

/// The transaction protocol a producer speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnProtocol {
    /// Kafka's transaction version 1 (explicit AddPartitionsToTxn / AddOffsetsToTxn).
    V1,
    /// Kafka's transaction version 2 (KIP-890 part 2: implicit additions, an epoch bump at
    /// every EndTxn).
    V2,
}

impl TxnProtocol {
    /// The protocol for a cluster whose finalized `transaction.version` is `level` (0 when the
    /// brokers report none).
    pub fn for_feature_level(level: i16) -> TxnProtocol {
        if level >= 2 {
            TxnProtocol::V2
        } else {
            TxnProtocol::V1
        }
    }

    /// The protocol's number (1 or 2), as Kafka's `transaction.version` names it.
    pub fn number(self) -> u8 {
        match self {
            TxnProtocol::V1 => 1,
            TxnProtocol::V2 => 2,
        }
    }

    /// The highest Produce version a transactional batch may use: v12 tells a 4.x broker the
    /// client speaks version 2, so version 1 stops at v11. (A broker that finalizes version 2
    /// speaks Produce v12: Kafka 4.0+.)
    pub fn produce_max(self) -> i16 {
        match self {
            TxnProtocol::V1 => 11,
            TxnProtocol::V2 => i16::MAX,
        }
    }

    /// The EndTxn versions of the protocol (v5 is version 2's, with the bumped epoch in the
    /// answer).
    pub fn end_txn_versions(self) -> RangeInclusive<i16> {
        match self {
            TxnProtocol::V1 => 0..=4,
            TxnProtocol::V2 => 5..=5,
        }
    }

    /// The TxnOffsetCommit versions (v5 adds the group to the transaction implicitly).
    pub fn txn_offset_commit_versions(self) -> RangeInclusive<i16> {
        match self {
            TxnProtocol::V1 => 0..=4,
            TxnProtocol::V2 => 5..=5,
        }
    }
}

/// What a successful EndTxn v5 answer says of the producer id and epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EndTxnEpoch {
    /// The coordinator bumped the epoch (or, the epoch exhausted, handed out a new producer
    /// id): the next transaction uses this id and epoch.
    Bumped(i64, i16),
    /// The answer carries no usable id and epoch (`-1`, an epoch not above the current one for
    /// the same id, or a negative one): the broker is broken. The producer must not guess the
    /// epoch the coordinator now holds, so it gets a fresh one with InitProducerId.
    Missing,
}

/// Reads the producer id and epoch of a successful EndTxn v5 answer, for a producer that sent
/// it with `current` (id, epoch). Kafka's coordinator answers either `(id, epoch + 1)` or,
/// when the epoch is exhausted, `(new id, 0)`.
pub(crate) fn end_txn_epoch(current: (i64, i16), answered: (i64, i16)) -> EndTxnEpoch {
    let (pid, epoch) = answered;
    if pid < 0 || epoch < 0 {
        return EndTxnEpoch::Missing;
    }
    if pid == current.0 && epoch <= current.1 {
        return EndTxnEpoch::Missing;
    }
    EndTxnEpoch::Bumped(pid, epoch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feature_level_selects_the_protocol() {
        assert_eq!(TxnProtocol::for_feature_level(0), TxnProtocol::V1);
        assert_eq!(TxnProtocol::for_feature_level(1), TxnProtocol::V1);
        assert_eq!(TxnProtocol::for_feature_level(2), TxnProtocol::V2);
        assert_eq!(TxnProtocol::for_feature_level(3), TxnProtocol::V2);
    }

    #[test]
    fn end_txn_epoch_accepts_a_bump_or_a_new_id_only() {
        assert_eq!(end_txn_epoch((7, 3), (7, 4)), EndTxnEpoch::Bumped(7, 4));
        assert_eq!(end_txn_epoch((7, 32766), (8, 0)), EndTxnEpoch::Bumped(8, 0));
        assert_eq!(end_txn_epoch((7, 3), (-1, -1)), EndTxnEpoch::Missing);
        assert_eq!(end_txn_epoch((7, 3), (7, 3)), EndTxnEpoch::Missing);
        assert_eq!(end_txn_epoch((7, 3), (7, 2)), EndTxnEpoch::Missing);
        assert_eq!(end_txn_epoch((7, 3), (7, -1)), EndTxnEpoch::Missing);
    }
}
