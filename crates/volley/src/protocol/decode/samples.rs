//! Random, fully populated responses for the decoder tests: every field the version carries gets
//! a random value, every other field keeps its default (as a decoder leaves it).

use std::collections::BTreeMap;
use std::fmt::Debug;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::api_versions_response::{
    ApiVersion, FinalizedFeatureKey, SupportedFeatureKey,
};
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, LeaderIdAndEpoch, NodeEndpoint, PartitionProduceResponse,
    TopicProduceResponse,
};
use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{
    AddOffsetsToTxnResponse, AddPartitionsToTxnResponse, ApiVersionsResponse, BrokerId,
    EndTxnResponse, FindCoordinatorResponse, GetTelemetrySubscriptionsResponse,
    InitProducerIdResponse, MetadataResponse, ProduceResponse, ProducerId, PushTelemetryResponse,
    SaslAuthenticateResponse, SaslHandshakeResponse, TopicName, TransactionalId,
    TxnOffsetCommitResponse,
};
use kafka_protocol::protocol::{Encodable, StrBytes};

use super::DecodeResponse;

/// A generator of sample values. With `unknown` set, flexible versions also get unknown tagged
/// fields (tags 10..=12, which no decoded response knows), drawn from that second generator so
/// that the known fields come out the same as without it.
pub(crate) struct Gen {
    rng: fastrand::Rng,
    unknown: Option<fastrand::Rng>,
    flexible: bool,
    /// No arrays of more than four elements.
    small: bool,
}

impl Gen {
    pub(crate) fn new(seed: u64, unknown_tags: bool) -> Gen {
        Gen {
            rng: fastrand::Rng::with_seed(seed),
            unknown: unknown_tags.then(|| fastrand::Rng::with_seed(seed ^ 0x5555)),
            flexible: false,
            small: false,
        }
    }

    /// Like [`Gen::new`], for smaller samples (no arrays of more than four elements).
    pub(crate) fn small(seed: u64, unknown_tags: bool) -> Gen {
        Gen {
            small: true,
            ..Gen::new(seed, unknown_tags)
        }
    }

    fn i16(&mut self) -> i16 {
        self.rng.i16(..)
    }

    fn i32(&mut self) -> i32 {
        self.rng.i32(..)
    }

    fn i64(&mut self) -> i64 {
        self.rng.i64(..)
    }

    fn bool(&mut self) -> bool {
        self.rng.bool()
    }

    /// A count: mostly small, sometimes zero, now and then past 127 (two-byte compact counts)
    /// when `big` allows.
    fn count(&mut self, big: bool) -> usize {
        match self.rng.u8(..) {
            0..=39 => 0,
            40..=249 => self.rng.usize(1..4),
            _ if big && !self.small => self.rng.usize(127..300),
            _ => 4,
        }
    }

    fn vec<T>(&mut self, big: bool, mut f: impl FnMut(&mut Gen) -> T) -> Vec<T> {
        let n = self.count(big);
        (0..n).map(|_| f(self)).collect()
    }

    fn string(&mut self) -> StrBytes {
        let s = match self.rng.u8(..4) {
            0 => String::new(),
            1 => "topic-1".to_owned(),
            2 => "ünïcødé ✓ 名前".to_owned(),
            _ => {
                let n = self.rng.usize(1..300);
                (0..n).map(|_| self.rng.alphanumeric()).collect()
            }
        };
        StrBytes::from_string(s)
    }

    fn nullable_string(&mut self) -> Option<StrBytes> {
        if self.rng.u8(..3) == 0 {
            None
        } else {
            Some(self.string())
        }
    }

    fn uuid<U: TryFrom<Vec<u8>>>(&mut self) -> U {
        let bytes: Vec<u8> = (0..16).map(|_| self.rng.u8(..)).collect();
        U::try_from(bytes).ok().expect("16 bytes make a uuid")
    }

    /// Unknown tagged fields for one struct (none unless asked for, or not flexible).
    fn tags(&mut self) -> BTreeMap<i32, Bytes> {
        let mut out = BTreeMap::new();
        if let (true, Some(rng)) = (self.flexible, self.unknown.as_mut()) {
            for tag in 10..=12 {
                if rng.bool() {
                    let n = if rng.u8(..8) == 0 {
                        200
                    } else {
                        rng.usize(0..5)
                    };
                    out.insert(tag, (0..n).map(|_| rng.u8(..)).collect::<Vec<u8>>().into());
                }
            }
        }
        out
    }
}

/// A response type the tests can sample, encode (with `kafka-protocol`) and decode (with ours).
pub(crate) trait Sample: DecodeResponse + Encodable + PartialEq + Debug + Clone {
    fn sample(g: &mut Gen, v: i16) -> Self;
}

/// Encodes with `kafka-protocol`.
pub(crate) fn encode<T: Encodable>(value: &T, v: i16) -> Vec<u8> {
    let mut out = BytesMut::new();
    value.encode(&mut out, v).expect("kafka-protocol encodes");
    out.to_vec()
}

/// A sample of `T` at `v`, encoded.
pub(crate) fn encoded_sample<T: Sample>(g: &mut Gen, v: i16) -> Vec<u8> {
    encode(&T::sample(g, v), v)
}

impl Sample for ProduceResponse {
    fn sample(g: &mut Gen, v: i16) -> Self {
        g.flexible = v >= Self::FIRST_FLEXIBLE;
        let mut r = ProduceResponse::default();
        r.responses = g.vec(false, |g| {
            let mut t = TopicProduceResponse::default();
            t.name = TopicName(g.string());
            t.partition_responses = g.vec(true, |g| {
                let mut p = PartitionProduceResponse::default();
                p.index = g.i32();
                p.error_code = g.i16();
                p.base_offset = g.i64();
                p.log_append_time_ms = g.i64();
                if v >= 5 {
                    p.log_start_offset = g.i64();
                }
                if v >= 8 {
                    p.record_errors = g.vec(false, |g| {
                        let mut e = BatchIndexAndErrorMessage::default();
                        e.batch_index = g.i32();
                        e.batch_index_error_message = g.nullable_string();
                        e.unknown_tagged_fields = g.tags();
                        e
                    });
                    p.error_message = g.nullable_string();
                }
                if v >= 10 && g.bool() {
                    let mut l = LeaderIdAndEpoch::default();
                    l.leader_id = BrokerId(g.i32());
                    l.leader_epoch = g.i32();
                    l.unknown_tagged_fields = g.tags();
                    p.current_leader = l;
                }
                p.unknown_tagged_fields = g.tags();
                p
            });
            t.unknown_tagged_fields = g.tags();
            t
        });
        r.throttle_time_ms = g.i32();
        if v >= 10 {
            r.node_endpoints = g.vec(false, |g| {
                let mut e = NodeEndpoint::default();
                e.node_id = BrokerId(g.i32());
                e.host = g.string();
                e.port = g.i32();
                e.rack = g.nullable_string();
                e.unknown_tagged_fields = g.tags();
                e
            });
        }
        r.unknown_tagged_fields = g.tags();
        r
    }
}

impl Sample for MetadataResponse {
    fn sample(g: &mut Gen, v: i16) -> Self {
        g.flexible = v >= Self::FIRST_FLEXIBLE;
        let mut r = MetadataResponse::default();
        if v >= 3 {
            r.throttle_time_ms = g.i32();
        }
        r.brokers = g.vec(false, |g| {
            let mut b = MetadataResponseBroker::default();
            b.node_id = BrokerId(g.i32());
            b.host = g.string();
            b.port = g.i32();
            if v >= 1 {
                b.rack = g.nullable_string();
            }
            b.unknown_tagged_fields = g.tags();
            b
        });
        if v >= 2 {
            r.cluster_id = g.nullable_string();
        }
        if v >= 1 {
            r.controller_id = BrokerId(g.i32());
        }
        r.topics = g.vec(false, |g| {
            let mut t = MetadataResponseTopic::default();
            t.error_code = g.i16();
            t.name = if v >= 12 {
                g.nullable_string().map(TopicName)
            } else {
                Some(TopicName(g.string()))
            };
            if v >= 10 {
                t.topic_id = g.uuid();
            }
            if v >= 1 {
                t.is_internal = g.bool();
            }
            t.partitions = g.vec(false, |g| {
                let mut p = MetadataResponsePartition::default();
                p.error_code = g.i16();
                p.partition_index = g.i32();
                p.leader_id = BrokerId(g.i32());
                if v >= 7 {
                    p.leader_epoch = g.i32();
                }
                p.replica_nodes = g.vec(true, |g| BrokerId(g.i32()));
                p.isr_nodes = g.vec(true, |g| BrokerId(g.i32()));
                if v >= 5 {
                    p.offline_replicas = g.vec(true, |g| BrokerId(g.i32()));
                }
                p.unknown_tagged_fields = g.tags();
                p
            });
            if v >= 8 {
                t.topic_authorized_operations = g.i32();
            }
            t.unknown_tagged_fields = g.tags();
            t
        });
        if (8..=10).contains(&v) {
            r.cluster_authorized_operations = g.i32();
        }
        if v >= 13 {
            r.error_code = g.i16();
        }
        r.unknown_tagged_fields = g.tags();
        r
    }
}

impl Sample for ApiVersionsResponse {
    fn sample(g: &mut Gen, v: i16) -> Self {
        g.flexible = v >= Self::FIRST_FLEXIBLE;
        let mut r = ApiVersionsResponse::default();
        r.error_code = g.i16();
        r.api_keys = g.vec(true, |g| {
            let mut k = ApiVersion::default();
            k.api_key = g.i16();
            k.min_version = g.i16();
            k.max_version = g.i16();
            k.unknown_tagged_fields = g.tags();
            k
        });
        if v >= 1 {
            r.throttle_time_ms = g.i32();
        }
        if v >= 3 {
            r.supported_features = g.vec(false, |g| {
                let mut f = SupportedFeatureKey::default();
                f.name = g.string();
                f.min_version = g.i16();
                f.max_version = g.i16();
                f.unknown_tagged_fields = g.tags();
                f
            });
            if g.bool() {
                r.finalized_features_epoch = g.i64();
            }
            r.finalized_features = g.vec(false, |g| {
                let mut f = FinalizedFeatureKey::default();
                f.name = g.string();
                f.max_version_level = g.i16();
                f.min_version_level = g.i16();
                f.unknown_tagged_fields = g.tags();
                f
            });
            r.zk_migration_ready = g.bool();
        }
        r.unknown_tagged_fields = g.tags();
        r
    }
}

impl Sample for InitProducerIdResponse {
    fn sample(g: &mut Gen, v: i16) -> Self {
        g.flexible = v >= Self::FIRST_FLEXIBLE;
        let mut r = InitProducerIdResponse::default();
        r.throttle_time_ms = g.i32();
        r.error_code = g.i16();
        r.producer_id = ProducerId(g.i64());
        r.producer_epoch = g.i16();
        r.unknown_tagged_fields = g.tags();
        r
    }
}

impl Sample for FindCoordinatorResponse {
    fn sample(g: &mut Gen, v: i16) -> Self {
        g.flexible = v >= Self::FIRST_FLEXIBLE;
        let mut r = FindCoordinatorResponse::default();
        if v >= 1 {
            r.throttle_time_ms = g.i32();
        }
        if v <= 3 {
            r.error_code = g.i16();
            if v >= 1 {
                r.error_message = g.nullable_string();
            }
            r.node_id = BrokerId(g.i32());
            r.host = g.string();
            r.port = g.i32();
        } else {
            r.coordinators = g.vec(false, |g| {
                let mut c = Coordinator::default();
                c.key = g.string();
                c.node_id = BrokerId(g.i32());
                c.host = g.string();
                c.port = g.i32();
                c.error_code = g.i16();
                c.error_message = g.nullable_string();
                c.unknown_tagged_fields = g.tags();
                c
            });
        }
        r.unknown_tagged_fields = g.tags();
        r
    }
}

fn add_partitions_topics(g: &mut Gen) -> Vec<AddPartitionsToTxnTopicResult> {
    g.vec(false, |g| {
        let mut t = AddPartitionsToTxnTopicResult::default();
        t.name = TopicName(g.string());
        t.results_by_partition = g.vec(true, |g| {
            let mut p = AddPartitionsToTxnPartitionResult::default();
            p.partition_index = g.i32();
            p.partition_error_code = g.i16();
            p.unknown_tagged_fields = g.tags();
            p
        });
        t.unknown_tagged_fields = g.tags();
        t
    })
}

impl Sample for AddPartitionsToTxnResponse {
    fn sample(g: &mut Gen, v: i16) -> Self {
        g.flexible = v >= Self::FIRST_FLEXIBLE;
        let mut r = AddPartitionsToTxnResponse::default();
        r.throttle_time_ms = g.i32();
        if v >= 4 {
            r.error_code = g.i16();
            r.results_by_transaction = g.vec(false, |g| {
                let mut x = AddPartitionsToTxnResult::default();
                x.transactional_id = TransactionalId(g.string());
                x.topic_results = add_partitions_topics(g);
                x.unknown_tagged_fields = g.tags();
                x
            });
        } else {
            r.results_by_topic_v3_and_below = add_partitions_topics(g);
        }
        r.unknown_tagged_fields = g.tags();
        r
    }
}

impl Sample for AddOffsetsToTxnResponse {
    fn sample(g: &mut Gen, v: i16) -> Self {
        g.flexible = v >= Self::FIRST_FLEXIBLE;
        let mut r = AddOffsetsToTxnResponse::default();
        r.throttle_time_ms = g.i32();
        r.error_code = g.i16();
        r.unknown_tagged_fields = g.tags();
        r
    }
}

impl Sample for EndTxnResponse {
    fn sample(g: &mut Gen, v: i16) -> Self {
        g.flexible = v >= Self::FIRST_FLEXIBLE;
        let mut r = EndTxnResponse::default();
        r.throttle_time_ms = g.i32();
        r.error_code = g.i16();
        if v >= 5 {
            r.producer_id = ProducerId(g.i64());
            r.producer_epoch = g.i16();
        }
        r.unknown_tagged_fields = g.tags();
        r
    }
}

impl Sample for TxnOffsetCommitResponse {
    fn sample(g: &mut Gen, v: i16) -> Self {
        g.flexible = v >= Self::FIRST_FLEXIBLE;
        let mut r = TxnOffsetCommitResponse::default();
        r.throttle_time_ms = g.i32();
        r.topics = g.vec(false, |g| {
            let mut t = TxnOffsetCommitResponseTopic::default();
            t.name = TopicName(g.string());
            t.partitions = g.vec(true, |g| {
                let mut p = TxnOffsetCommitResponsePartition::default();
                p.partition_index = g.i32();
                p.error_code = g.i16();
                p.unknown_tagged_fields = g.tags();
                p
            });
            t.unknown_tagged_fields = g.tags();
            t
        });
        r.unknown_tagged_fields = g.tags();
        r
    }
}

impl Sample for SaslHandshakeResponse {
    fn sample(g: &mut Gen, _v: i16) -> Self {
        g.flexible = false;
        let mut r = SaslHandshakeResponse::default();
        r.error_code = g.i16();
        r.mechanisms = g.vec(false, Gen::string);
        r
    }
}

impl Sample for SaslAuthenticateResponse {
    fn sample(g: &mut Gen, v: i16) -> Self {
        g.flexible = v >= Self::FIRST_FLEXIBLE;
        let mut r = SaslAuthenticateResponse::default();
        r.error_code = g.i16();
        r.error_message = g.nullable_string();
        r.auth_bytes = Bytes::from(g.string().as_str().as_bytes().to_vec());
        if v >= 1 {
            r.session_lifetime_ms = g.i64();
        }
        r.unknown_tagged_fields = g.tags();
        r
    }
}

impl Sample for GetTelemetrySubscriptionsResponse {
    fn sample(g: &mut Gen, _v: i16) -> Self {
        g.flexible = true;
        let mut r = GetTelemetrySubscriptionsResponse::default();
        r.throttle_time_ms = g.i32();
        r.error_code = g.i16();
        r.client_instance_id = g.uuid();
        r.subscription_id = g.i32();
        r.accepted_compression_types = g.vec(false, |g| g.i16() as i8);
        r.push_interval_ms = g.i32();
        r.telemetry_max_bytes = g.i32();
        r.delta_temporality = g.bool();
        r.requested_metrics = g.vec(false, Gen::string);
        r.unknown_tagged_fields = g.tags();
        r
    }
}

impl Sample for PushTelemetryResponse {
    fn sample(g: &mut Gen, _v: i16) -> Self {
        g.flexible = true;
        let mut r = PushTelemetryResponse::default();
        r.throttle_time_ms = g.i32();
        r.error_code = g.i16();
        r.unknown_tagged_fields = g.tags();
        r
    }
}
