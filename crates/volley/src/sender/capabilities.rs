//! What a broker's API versions leave out (issue 10's "say so, never misbehave"): the features
//! that need a newer broker than one this producer connected to are named once per producer in
//! an `info` log line, with what Volley does instead. Everything here only logs: each feature
//! already falls back on its own (no hint: wait for metadata; no telemetry APIs: push nothing;
//! no Metadata v13: no REBOOTSTRAP_REQUIRED, the other rebootstrap triggers still apply).

use kafka_protocol::messages::ApiKey;

use super::Sender;
use crate::protocol::frame::BrokerVersions;

/// A feature that needs a newer broker.
struct Feature {
    name: &'static str,
    needs: &'static str,
    /// What Volley does without it.
    instead: &'static str,
    /// Only missed when the producer pushes metrics (`enable.metrics.push`).
    telemetry: bool,
    /// Whether the broker's versions have it.
    has: fn(&BrokerVersions) -> bool,
}

const FEATURES: &[Feature] = &[
    Feature {
        name: "leader discovery (KIP-951)",
        needs: "Kafka 3.7 (Produce v10)",
        instead: "a moved partition waits for a metadata refresh",
        telemetry: false,
        has: |v| v.range(ApiKey::Produce).is_some_and(|(_, hi)| hi >= 10),
    },
    Feature {
        name: "REBOOTSTRAP_REQUIRED (KIP-1102)",
        needs: "Kafka 4.0 (Metadata v13)",
        instead: "re-bootstrap only when no broker is reachable or metadata is stale",
        telemetry: false,
        has: |v| v.range(ApiKey::Metadata).is_some_and(|(_, hi)| hi >= 13),
    },
    Feature {
        name: "client telemetry (KIP-714)",
        needs: "Kafka 3.7 with a client telemetry receiver",
        instead: "no metrics are pushed to it",
        telemetry: true,
        has: |v| {
            v.range(ApiKey::GetTelemetrySubscriptions).is_some()
                && v.range(ApiKey::PushTelemetry).is_some()
        },
    },
];

/// The features of [`FEATURES`] `versions` lacks (their indexes), leaving out telemetry when
/// the producer does not push metrics.
pub(super) fn missing_features(versions: &BrokerVersions, metrics_push: bool) -> Vec<usize> {
    FEATURES
        .iter()
        .enumerate()
        .filter(|(_, f)| (metrics_push || !f.telemetry) && !(f.has)(versions))
        .map(|(i, _)| i)
        .collect()
}

impl Sender {
    /// Logs, once per producer and feature, what `node`'s versions leave out.
    pub(super) fn report_missing_features(&mut self, node: i32, versions: &BrokerVersions) {
        for i in missing_features(versions, self.telemetry.is_some()) {
            let bit = 1u8 << i;
            if self.missing_reported & bit != 0 {
                continue;
            }
            self.missing_reported |= bit;
            let Feature {
                name: feature,
                needs,
                instead,
                ..
            } = &FEATURES[i];
            tracing::info!(
                node,
                feature,
                needs,
                "a broker lacks {feature} (needs {needs}): {instead}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn versions(produce: i16, metadata: i16, telemetry: bool) -> BrokerVersions {
        let mut v = vec![(0, 3, produce), (3, 4, metadata)];
        if telemetry {
            v.extend([(71, 0, 0), (72, 0, 0)]);
        }
        BrokerVersions::new(v)
    }

    // Failure: a missing capability is silent (the user cannot tell why failover is slow or no
    // metrics arrive), or a present one is reported. Invariant: exactly the missing ones.
    #[test]
    fn missing_features_are_the_ones_the_versions_lack() {
        assert!(missing_features(&versions(12, 13, true), true).is_empty());
        assert_eq!(missing_features(&versions(11, 12, false), true), vec![1, 2]);
        assert_eq!(
            missing_features(&versions(9, 12, false), true),
            vec![0, 1, 2]
        );
        assert_eq!(
            missing_features(&versions(12, 13, false), false),
            Vec::<usize>::new(),
            "telemetry is not missed when the producer does not push"
        );
    }
}
