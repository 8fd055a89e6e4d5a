//! One decoder per response, field by field as in Kafka's `*Response.json` definitions.
//!
//! Each array is read with the smallest encoded size of its element at the version (fixed-width
//! fields, plus the shortest length prefix of each string and array, plus one byte for a
//! flexible version's tagged-field section), so that a count the remaining bytes cannot hold is
//! refused before anything is reserved for it.

use std::ops::RangeInclusive;

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

use super::{DecodeResponse, Reader, Result};

// --- Produce ------------------------------------------------------------------------------------

/// ProduceResponse v3..=12 (flexible from v9). v10+ carries two known tagged fields: tag 0 of a
/// partition is `CurrentLeader`, tag 0 of the body is `NodeEndpoints`. v12 is v11 again
/// (KIP-890); v13 names topics by id and is not decoded.
impl DecodeResponse for ProduceResponse {
    const API: &'static str = "Produce response";
    const VERSIONS: RangeInclusive<i16> = 3..=12;
    const FIRST_FLEXIBLE: i16 = 9;

    fn decode_fields(r: &mut Reader<'_>, v: i16) -> Result<Self> {
        let (s, a, t) = (r.min_string(), r.min_array(), r.min_tags());
        // index, error code, base offset, log append time (v2+), log start offset (v5+),
        // record errors and error message (v8+).
        let partition_min =
            4 + 2 + 8 + 8 + if v >= 5 { 8 } else { 0 } + if v >= 8 { a + s } else { 0 } + t;
        let mut resp = ProduceResponse::default();
        resp.responses = r.array("responses", s + a + t, |r| {
            let mut topic = TopicProduceResponse::default();
            topic.name = TopicName(r.string("responses.name")?);
            topic.partition_responses = r.array("partition_responses", partition_min, |r| {
                produce_partition(r, v)
            })?;
            r.skip_tagged_fields("responses tagged fields")?;
            Ok(topic)
        })?;
        resp.throttle_time_ms = r.i32("throttle_time_ms")?;
        r.tagged_fields("tagged fields", |tag, r| match tag {
            0 if v >= 10 => {
                resp.node_endpoints = r.array("node_endpoints", 4 + s + 4 + s + t, |r| {
                    let mut e = NodeEndpoint::default();
                    e.node_id = BrokerId(r.i32("node_endpoints.node_id")?);
                    e.host = r.string("node_endpoints.host")?;
                    e.port = r.i32("node_endpoints.port")?;
                    e.rack = r.nullable_string("node_endpoints.rack")?;
                    r.skip_tagged_fields("node_endpoints tagged fields")?;
                    Ok(e)
                })?;
                Ok(true)
            }
            _ => Ok(false),
        })?;
        Ok(resp)
    }
}

fn produce_partition(r: &mut Reader<'_>, v: i16) -> Result<PartitionProduceResponse> {
    let mut p = PartitionProduceResponse::default();
    p.index = r.i32("partition_responses.index")?;
    p.error_code = r.i16("partition_responses.error_code")?;
    p.base_offset = r.i64("partition_responses.base_offset")?;
    p.log_append_time_ms = r.i64("partition_responses.log_append_time_ms")?;
    if v >= 5 {
        p.log_start_offset = r.i64("partition_responses.log_start_offset")?;
    }
    if v >= 8 {
        let s = r.min_string();
        p.record_errors = r.array("record_errors", 4 + s + r.min_tags(), |r| {
            let mut e = BatchIndexAndErrorMessage::default();
            e.batch_index = r.i32("record_errors.batch_index")?;
            e.batch_index_error_message =
                r.nullable_string("record_errors.batch_index_error_message")?;
            r.skip_tagged_fields("record_errors tagged fields")?;
            Ok(e)
        })?;
        p.error_message = r.nullable_string("partition_responses.error_message")?;
    }
    r.tagged_fields("partition_responses tagged fields", |tag, r| match tag {
        0 if v >= 10 => {
            let mut l = LeaderIdAndEpoch::default();
            l.leader_id = BrokerId(r.i32("current_leader.leader_id")?);
            l.leader_epoch = r.i32("current_leader.leader_epoch")?;
            r.skip_tagged_fields("current_leader tagged fields")?;
            p.current_leader = l;
            Ok(true)
        }
        _ => Ok(false),
    })?;
    Ok(p)
}

// --- Metadata -----------------------------------------------------------------------------------

/// MetadataResponse v0..=13 (flexible from v9). The topic name is nullable from v12 (topics
/// asked for by id); `ClusterAuthorizedOperations` exists in v8..=10 only; v13 adds the
/// top-level `ErrorCode` (KIP-1102's REBOOTSTRAP_REQUIRED).
impl DecodeResponse for MetadataResponse {
    const API: &'static str = "Metadata response";
    const VERSIONS: RangeInclusive<i16> = 0..=13;
    const FIRST_FLEXIBLE: i16 = 9;

    fn decode_fields(r: &mut Reader<'_>, v: i16) -> Result<Self> {
        let (s, a, t) = (r.min_string(), r.min_array(), r.min_tags());
        let mut resp = MetadataResponse::default();
        if v >= 3 {
            resp.throttle_time_ms = r.i32("throttle_time_ms")?;
        }
        let broker_min = 4 + s + 4 + if v >= 1 { s } else { 0 } + t;
        resp.brokers = r.array("brokers", broker_min, |r| {
            let mut b = MetadataResponseBroker::default();
            b.node_id = BrokerId(r.i32("brokers.node_id")?);
            b.host = r.string("brokers.host")?;
            b.port = r.i32("brokers.port")?;
            if v >= 1 {
                b.rack = r.nullable_string("brokers.rack")?;
            }
            r.skip_tagged_fields("brokers tagged fields")?;
            Ok(b)
        })?;
        if v >= 2 {
            resp.cluster_id = r.nullable_string("cluster_id")?;
        }
        if v >= 1 {
            resp.controller_id = BrokerId(r.i32("controller_id")?);
        }
        let topic_min = 2
            + s
            + if v >= 10 { 16 } else { 0 }
            + if v >= 1 { 1 } else { 0 }
            + a
            + if v >= 8 { 4 } else { 0 }
            + t;
        let partition_min =
            2 + 4 + 4 + if v >= 7 { 4 } else { 0 } + 2 * a + if v >= 5 { a } else { 0 } + t;
        resp.topics = r.array("topics", topic_min, |r| {
            let mut topic = MetadataResponseTopic::default();
            topic.error_code = r.i16("topics.error_code")?;
            topic.name = if v >= 12 {
                r.nullable_string("topics.name")?.map(TopicName)
            } else {
                Some(TopicName(r.string("topics.name")?))
            };
            if v >= 10 {
                topic.topic_id = r.uuid("topics.topic_id")?;
            }
            if v >= 1 {
                topic.is_internal = r.bool("topics.is_internal")?;
            }
            topic.partitions = r.array("partitions", partition_min, |r| {
                let mut p = MetadataResponsePartition::default();
                p.error_code = r.i16("partitions.error_code")?;
                p.partition_index = r.i32("partitions.partition_index")?;
                p.leader_id = BrokerId(r.i32("partitions.leader_id")?);
                if v >= 7 {
                    p.leader_epoch = r.i32("partitions.leader_epoch")?;
                }
                p.replica_nodes = r.i32_array("partitions.replica_nodes")?;
                p.isr_nodes = r.i32_array("partitions.isr_nodes")?;
                if v >= 5 {
                    p.offline_replicas = r.i32_array("partitions.offline_replicas")?;
                }
                r.skip_tagged_fields("partitions tagged fields")?;
                Ok(p)
            })?;
            if v >= 8 {
                topic.topic_authorized_operations = r.i32("topics.topic_authorized_operations")?;
            }
            r.skip_tagged_fields("topics tagged fields")?;
            Ok(topic)
        })?;
        if (8..=10).contains(&v) {
            resp.cluster_authorized_operations = r.i32("cluster_authorized_operations")?;
        }
        if v >= 13 {
            resp.error_code = r.i16("error_code")?;
        }
        r.skip_tagged_fields("tagged fields")?;
        Ok(resp)
    }
}

// --- ApiVersions --------------------------------------------------------------------------------

/// ApiVersionsResponse v0..=4 (flexible from v3; v4 only fixes the meaning of a feature's
/// MinVersion 0). The features are tagged fields 0..=3 of the body. A broker that does not
/// speak the requested version answers in v0 (see `frame::decode_api_versions`).
impl DecodeResponse for ApiVersionsResponse {
    const API: &'static str = "ApiVersions response";
    const VERSIONS: RangeInclusive<i16> = 0..=4;
    const FIRST_FLEXIBLE: i16 = 3;

    fn decode_fields(r: &mut Reader<'_>, v: i16) -> Result<Self> {
        let (s, t) = (r.min_string(), r.min_tags());
        let mut resp = ApiVersionsResponse::default();
        resp.error_code = r.i16("error_code")?;
        resp.api_keys = r.array("api_keys", 6 + t, |r| {
            let mut k = ApiVersion::default();
            k.api_key = r.i16("api_keys.api_key")?;
            k.min_version = r.i16("api_keys.min_version")?;
            k.max_version = r.i16("api_keys.max_version")?;
            r.skip_tagged_fields("api_keys tagged fields")?;
            Ok(k)
        })?;
        if v >= 1 {
            resp.throttle_time_ms = r.i32("throttle_time_ms")?;
        }
        r.tagged_fields("tagged fields", |tag, r| {
            match tag {
                0 => {
                    resp.supported_features = r.array("supported_features", s + 4 + t, |r| {
                        let mut f = SupportedFeatureKey::default();
                        f.name = r.string("supported_features.name")?;
                        f.min_version = r.i16("supported_features.min_version")?;
                        f.max_version = r.i16("supported_features.max_version")?;
                        r.skip_tagged_fields("supported_features tagged fields")?;
                        Ok(f)
                    })?
                }
                1 => resp.finalized_features_epoch = r.i64("finalized_features_epoch")?,
                2 => {
                    resp.finalized_features = r.array("finalized_features", s + 4 + t, |r| {
                        let mut f = FinalizedFeatureKey::default();
                        f.name = r.string("finalized_features.name")?;
                        f.max_version_level = r.i16("finalized_features.max_version_level")?;
                        f.min_version_level = r.i16("finalized_features.min_version_level")?;
                        r.skip_tagged_fields("finalized_features tagged fields")?;
                        Ok(f)
                    })?
                }
                3 => resp.zk_migration_ready = r.bool("zk_migration_ready")?,
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        Ok(resp)
    }
}

// --- InitProducerId -----------------------------------------------------------------------------

/// InitProducerIdResponse v0..=5 (flexible from v2); v3..=5 only add error codes.
impl DecodeResponse for InitProducerIdResponse {
    const API: &'static str = "InitProducerId response";
    const VERSIONS: RangeInclusive<i16> = 0..=5;
    const FIRST_FLEXIBLE: i16 = 2;

    fn decode_fields(r: &mut Reader<'_>, _v: i16) -> Result<Self> {
        let mut resp = InitProducerIdResponse::default();
        resp.throttle_time_ms = r.i32("throttle_time_ms")?;
        resp.error_code = r.i16("error_code")?;
        resp.producer_id = ProducerId(r.i64("producer_id")?);
        resp.producer_epoch = r.i16("producer_epoch")?;
        r.skip_tagged_fields("tagged fields")?;
        Ok(resp)
    }
}

// --- FindCoordinator ----------------------------------------------------------------------------

/// FindCoordinatorResponse v0..=6 (flexible from v3). v0..=3 answer for one key at the top
/// level; v4+ (KIP-699) answer in a `Coordinators` array instead.
impl DecodeResponse for FindCoordinatorResponse {
    const API: &'static str = "FindCoordinator response";
    const VERSIONS: RangeInclusive<i16> = 0..=6;
    const FIRST_FLEXIBLE: i16 = 3;

    fn decode_fields(r: &mut Reader<'_>, v: i16) -> Result<Self> {
        let (s, t) = (r.min_string(), r.min_tags());
        let mut resp = FindCoordinatorResponse::default();
        if v >= 1 {
            resp.throttle_time_ms = r.i32("throttle_time_ms")?;
        }
        if v <= 3 {
            resp.error_code = r.i16("error_code")?;
            if v >= 1 {
                resp.error_message = r.nullable_string("error_message")?;
            }
            resp.node_id = BrokerId(r.i32("node_id")?);
            resp.host = r.string("host")?;
            resp.port = r.i32("port")?;
        } else {
            let min = s + 4 + s + 4 + 2 + s + t;
            resp.coordinators = r.array("coordinators", min, |r| {
                let mut c = Coordinator::default();
                c.key = r.string("coordinators.key")?;
                c.node_id = BrokerId(r.i32("coordinators.node_id")?);
                c.host = r.string("coordinators.host")?;
                c.port = r.i32("coordinators.port")?;
                c.error_code = r.i16("coordinators.error_code")?;
                c.error_message = r.nullable_string("coordinators.error_message")?;
                r.skip_tagged_fields("coordinators tagged fields")?;
                Ok(c)
            })?;
        }
        r.skip_tagged_fields("tagged fields")?;
        Ok(resp)
    }
}

// --- AddPartitionsToTxn -------------------------------------------------------------------------

/// AddPartitionsToTxnResponse v0..=5 (flexible from v3). v0..=3 carry
/// `ResultsByTopicV3AndBelow`; v4+ (brokers batching transactions) a top-level error code and
/// `ResultsByTransaction` instead.
impl DecodeResponse for AddPartitionsToTxnResponse {
    const API: &'static str = "AddPartitionsToTxn response";
    const VERSIONS: RangeInclusive<i16> = 0..=5;
    const FIRST_FLEXIBLE: i16 = 3;

    fn decode_fields(r: &mut Reader<'_>, v: i16) -> Result<Self> {
        let (s, a, t) = (r.min_string(), r.min_array(), r.min_tags());
        let mut resp = AddPartitionsToTxnResponse::default();
        resp.throttle_time_ms = r.i32("throttle_time_ms")?;
        if v >= 4 {
            resp.error_code = r.i16("error_code")?;
            resp.results_by_transaction = r.array("results_by_transaction", s + a + t, |r| {
                let mut x = AddPartitionsToTxnResult::default();
                x.transactional_id =
                    TransactionalId(r.string("results_by_transaction.transactional_id")?);
                x.topic_results = add_partitions_topics(r, "topic_results")?;
                r.skip_tagged_fields("results_by_transaction tagged fields")?;
                Ok(x)
            })?;
        } else {
            resp.results_by_topic_v3_and_below =
                add_partitions_topics(r, "results_by_topic_v3_and_below")?;
        }
        r.skip_tagged_fields("tagged fields")?;
        Ok(resp)
    }
}

fn add_partitions_topics(
    r: &mut Reader<'_>,
    field: &'static str,
) -> Result<Vec<AddPartitionsToTxnTopicResult>> {
    let (s, a, t) = (r.min_string(), r.min_array(), r.min_tags());
    r.array(field, s + a + t, |r| {
        let mut topic = AddPartitionsToTxnTopicResult::default();
        topic.name = TopicName(r.string("topic_results.name")?);
        topic.results_by_partition = r.array("results_by_partition", 4 + 2 + t, |r| {
            let mut p = AddPartitionsToTxnPartitionResult::default();
            p.partition_index = r.i32("results_by_partition.partition_index")?;
            p.partition_error_code = r.i16("results_by_partition.partition_error_code")?;
            r.skip_tagged_fields("results_by_partition tagged fields")?;
            Ok(p)
        })?;
        r.skip_tagged_fields("topic_results tagged fields")?;
        Ok(topic)
    })
}

// --- AddOffsetsToTxn, EndTxn --------------------------------------------------------------------

/// AddOffsetsToTxnResponse v0..=4 (flexible from v3).
impl DecodeResponse for AddOffsetsToTxnResponse {
    const API: &'static str = "AddOffsetsToTxn response";
    const VERSIONS: RangeInclusive<i16> = 0..=4;
    const FIRST_FLEXIBLE: i16 = 3;

    fn decode_fields(r: &mut Reader<'_>, _v: i16) -> Result<Self> {
        let mut resp = AddOffsetsToTxnResponse::default();
        resp.throttle_time_ms = r.i32("throttle_time_ms")?;
        resp.error_code = r.i16("error_code")?;
        r.skip_tagged_fields("tagged fields")?;
        Ok(resp)
    }
}

/// EndTxnResponse v0..=5 (flexible from v3); v5 (KIP-890 part 2) adds the producer id and
/// epoch.
impl DecodeResponse for EndTxnResponse {
    const API: &'static str = "EndTxn response";
    const VERSIONS: RangeInclusive<i16> = 0..=5;
    const FIRST_FLEXIBLE: i16 = 3;

    fn decode_fields(r: &mut Reader<'_>, v: i16) -> Result<Self> {
        let mut resp = EndTxnResponse::default();
        resp.throttle_time_ms = r.i32("throttle_time_ms")?;
        resp.error_code = r.i16("error_code")?;
        if v >= 5 {
            resp.producer_id = ProducerId(r.i64("producer_id")?);
            resp.producer_epoch = r.i16("producer_epoch")?;
        }
        r.skip_tagged_fields("tagged fields")?;
        Ok(resp)
    }
}

// --- TxnOffsetCommit ----------------------------------------------------------------------------

/// TxnOffsetCommitResponse v0..=5 (flexible from v3); v4 and v5 only add error codes.
impl DecodeResponse for TxnOffsetCommitResponse {
    const API: &'static str = "TxnOffsetCommit response";
    const VERSIONS: RangeInclusive<i16> = 0..=5;
    const FIRST_FLEXIBLE: i16 = 3;

    fn decode_fields(r: &mut Reader<'_>, _v: i16) -> Result<Self> {
        let (s, a, t) = (r.min_string(), r.min_array(), r.min_tags());
        let mut resp = TxnOffsetCommitResponse::default();
        resp.throttle_time_ms = r.i32("throttle_time_ms")?;
        resp.topics = r.array("topics", s + a + t, |r| {
            let mut topic = TxnOffsetCommitResponseTopic::default();
            topic.name = TopicName(r.string("topics.name")?);
            topic.partitions = r.array("partitions", 4 + 2 + t, |r| {
                let mut p = TxnOffsetCommitResponsePartition::default();
                p.partition_index = r.i32("partitions.partition_index")?;
                p.error_code = r.i16("partitions.error_code")?;
                r.skip_tagged_fields("partitions tagged fields")?;
                Ok(p)
            })?;
            r.skip_tagged_fields("topics tagged fields")?;
            Ok(topic)
        })?;
        r.skip_tagged_fields("tagged fields")?;
        Ok(resp)
    }
}

// --- SaslHandshake, SaslAuthenticate ------------------------------------------------------------

/// SaslHandshakeResponse v0..=1 (never flexible).
impl DecodeResponse for SaslHandshakeResponse {
    const API: &'static str = "SaslHandshake response";
    const VERSIONS: RangeInclusive<i16> = 0..=1;
    const FIRST_FLEXIBLE: i16 = i16::MAX;

    fn decode_fields(r: &mut Reader<'_>, _v: i16) -> Result<Self> {
        let mut resp = SaslHandshakeResponse::default();
        resp.error_code = r.i16("error_code")?;
        let s = r.min_string();
        resp.mechanisms = r.array("mechanisms", s, |r| r.string("mechanisms"))?;
        Ok(resp)
    }
}

/// SaslAuthenticateResponse v0..=2 (flexible from v2); v1 adds the session lifetime (KIP-368).
impl DecodeResponse for SaslAuthenticateResponse {
    const API: &'static str = "SaslAuthenticate response";
    const VERSIONS: RangeInclusive<i16> = 0..=2;
    const FIRST_FLEXIBLE: i16 = 2;

    fn decode_fields(r: &mut Reader<'_>, v: i16) -> Result<Self> {
        let mut resp = SaslAuthenticateResponse::default();
        resp.error_code = r.i16("error_code")?;
        resp.error_message = r.nullable_string("error_message")?;
        resp.auth_bytes = r.bytes("auth_bytes")?;
        if v >= 1 {
            resp.session_lifetime_ms = r.i64("session_lifetime_ms")?;
        }
        r.skip_tagged_fields("tagged fields")?;
        Ok(resp)
    }
}

// --- GetTelemetrySubscriptions, PushTelemetry (KIP-714) -----------------------------------------

/// GetTelemetrySubscriptionsResponse v0 (flexible).
impl DecodeResponse for GetTelemetrySubscriptionsResponse {
    const API: &'static str = "GetTelemetrySubscriptions response";
    const VERSIONS: RangeInclusive<i16> = 0..=0;
    const FIRST_FLEXIBLE: i16 = 0;

    fn decode_fields(r: &mut Reader<'_>, _v: i16) -> Result<Self> {
        let mut resp = GetTelemetrySubscriptionsResponse::default();
        resp.throttle_time_ms = r.i32("throttle_time_ms")?;
        resp.error_code = r.i16("error_code")?;
        resp.client_instance_id = r.uuid("client_instance_id")?;
        resp.subscription_id = r.i32("subscription_id")?;
        resp.accepted_compression_types = r.array("accepted_compression_types", 1, |r| {
            r.i8("accepted_compression_types")
        })?;
        resp.push_interval_ms = r.i32("push_interval_ms")?;
        resp.telemetry_max_bytes = r.i32("telemetry_max_bytes")?;
        resp.delta_temporality = r.bool("delta_temporality")?;
        let s = r.min_string();
        resp.requested_metrics =
            r.array("requested_metrics", s, |r| r.string("requested_metrics"))?;
        r.skip_tagged_fields("tagged fields")?;
        Ok(resp)
    }
}

/// PushTelemetryResponse v0 (flexible).
impl DecodeResponse for PushTelemetryResponse {
    const API: &'static str = "PushTelemetry response";
    const VERSIONS: RangeInclusive<i16> = 0..=0;
    const FIRST_FLEXIBLE: i16 = 0;

    fn decode_fields(r: &mut Reader<'_>, _v: i16) -> Result<Self> {
        let mut resp = PushTelemetryResponse::default();
        resp.throttle_time_ms = r.i32("throttle_time_ms")?;
        resp.error_code = r.i16("error_code")?;
        r.skip_tagged_fields("tagged fields")?;
        Ok(resp)
    }
}
