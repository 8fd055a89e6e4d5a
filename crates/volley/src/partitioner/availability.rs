//! `partitioner.availability.timeout.ms`: excluding slow brokers' partitions from adaptive
//! partitioning.
//!
//! Java's `RecordAccumulator` keeps, per node, when the sender last found data ready for it
//! (`readyTimeMs`) and when it last could drain that data (`drainTimeMs`, i.e. the connection
//! was ready). When data has been waiting for a node longer than the timeout, the node's
//! partitions are left out of the queue sizes passed to
//! [`StickyPartitioner::update_load_stats`](super::StickyPartitioner::update_load_stats), so the
//! sticky partitioner stops choosing them until the node drains again. [`NodeLatency`] is that
//! per-node record; the sender owns one per node.

use std::time::{Duration, Instant};

/// Per-node ready/drain times (Java's `RecordAccumulator.NodeLatencyStats`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeLatency {
    /// The last time the sender had data ready for the node.
    pub ready: Instant,
    /// The last time the sender could drain data to the node.
    pub drain: Instant,
}

impl NodeLatency {
    /// A node first seen at `now`: ready and drained at `now`.
    pub fn new(now: Instant) -> Self {
        NodeLatency {
            ready: now,
            drain: now,
        }
    }

    /// Records a ready() pass that found data for the node at `now`; `can_drain` is whether the
    /// connection was ready so the data could be drained (Java `updateNodeLatencyStats`: the
    /// drain time is updated only when it could, the ready time always).
    pub fn record(&mut self, now: Instant, can_drain: bool) {
        if can_drain {
            self.drain = now;
        }
        self.ready = now;
    }

    /// Whether the node's partitions are to be left out of the load stats: the timeout is
    /// enabled (non-zero) and data has been ready but not drained for longer than it
    /// (Java: `readyTimeMs - drainTimeMs > partitionAvailabilityTimeoutMs`).
    pub fn is_unavailable(&self, timeout: Duration) -> bool {
        !timeout.is_zero() && self.ready.saturating_duration_since(self.drain) > timeout
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unavailable_after_timeout_without_drain() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut n = NodeLatency::new(t0);
        assert!(!n.is_unavailable(ms(100)));
        n.record(t0 + ms(50), true);
        n.record(t0 + ms(120), false);
        assert!(!n.is_unavailable(ms(100)), "70ms since the last drain");
        n.record(t0 + ms(151), false);
        assert!(n.is_unavailable(ms(100)), "101ms since the last drain");
        assert!(!n.is_unavailable(Duration::ZERO), "0 disables the check");
        n.record(t0 + ms(160), true);
        assert!(!n.is_unavailable(ms(100)));
    }
}
