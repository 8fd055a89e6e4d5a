//! The fake brokers' answers to bad input, request by request (no client in between).

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    AddPartitionsToTxnRequest, ApiKey, ApiVersionsResponse, MetadataRequest, MetadataResponse,
    ProduceRequest, ProduceResponse, RequestHeader, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};

use super::server::{FakeCluster, Reply};
use crate::error::KafkaCode;
use crate::protocol::compression::Compression;
use crate::protocol::record_batch::{BatchBuilder, BatchParams};

fn frame<R: Encodable + HeaderVersion>(api: ApiKey, version: i16, req: &R) -> Bytes {
    let mut buf = BytesMut::new();
    RequestHeader::default()
        .with_request_api_key(api as i16)
        .with_request_api_version(version)
        .with_correlation_id(7)
        .with_client_id(Some(StrBytes::from_static_str("t")))
        .encode(&mut buf, R::header_version(version))
        .unwrap();
    req.encode(&mut buf, version).unwrap();
    buf.freeze()
}

fn answer<R: Decodable>(cluster: &FakeCluster, api: ApiKey, version: i16, f: Bytes) -> R {
    match cluster.handle_for_test(1, f) {
        Reply::Frame(mut resp, _) => {
            let hv = api.response_header_version(version);
            let h = ResponseHeader::decode(&mut resp, hv).unwrap();
            assert_eq!(h.correlation_id, 7);
            R::decode(&mut resp, version).unwrap()
        }
        _ => panic!("no answer"),
    }
}

fn batch() -> Bytes {
    let mut b = BatchBuilder::new(Vec::new(), 0);
    b.append(0, None, Some(b"v"), &[]);
    let closed = b.close(&BatchParams::NONE, &Compression::None).unwrap();
    Bytes::copy_from_slice(closed.as_bytes())
}

fn produce(cluster: &FakeCluster, topic: &str, partition: i32, records: Bytes) -> KafkaCode {
    let req = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(1000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_string(topic.into())))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(records))])]);
    let resp: ProduceResponse =
        answer(cluster, ApiKey::Produce, 9, frame(ApiKey::Produce, 9, &req));
    KafkaCode(resp.responses[0].partition_responses[0].error_code)
}

fn metadata_code(cluster: &FakeCluster, topic: &str) -> KafkaCode {
    let req = MetadataRequest::default()
        .with_allow_auto_topic_creation(true)
        .with_topics(Some(vec![MetadataRequestTopic::default()
            .with_name(Some(TopicName(StrBytes::from_string(topic.into()))))]));
    let resp: MetadataResponse = answer(
        cluster,
        ApiKey::Metadata,
        12,
        frame(ApiKey::Metadata, 12, &req),
    );
    KafkaCode(resp.topics[0].error_code)
}

#[test]
fn unknown_topics_partitions_and_bad_batches_get_a_brokers_errors() {
    let c = FakeCluster::builder()
        .auto_create_topics(false)
        .topic("t", 1)
        .start()
        .unwrap();
    assert_eq!(produce(&c, "t", 0, batch()), KafkaCode::NONE);
    assert_eq!(
        produce(&c, "nope", 0, batch()),
        KafkaCode::UNKNOWN_TOPIC_OR_PARTITION
    );
    for p in [1, 5, -1, i32::MAX] {
        assert_eq!(
            produce(&c, "t", p, batch()),
            KafkaCode::UNKNOWN_TOPIC_OR_PARTITION
        );
    }
    let garbage = Bytes::from_static(&[0; 70]);
    assert_eq!(produce(&c, "t", 0, garbage), KafkaCode::CORRUPT_MESSAGE);
    assert_eq!(
        metadata_code(&c, "nope"),
        KafkaCode::UNKNOWN_TOPIC_OR_PARTITION
    );
    assert_eq!(c.records("t", 0).len(), 1);
}

#[test]
fn bad_topic_names_and_versions() {
    let c = FakeCluster::new().unwrap();
    assert_eq!(metadata_code(&c, "a/b"), KafkaCode::INVALID_TOPIC_EXCEPTION);
    assert_eq!(c.partitions("a/b"), None);
    assert_eq!(metadata_code(&c, "fresh"), KafkaCode::NONE);
    assert_eq!(c.partitions("fresh"), Some(1));
    // An ApiVersions version it does not know: the v0 answer with the ranges (KIP-511).
    let mut f = BytesMut::new();
    f.extend_from_slice(&[0, 18, 0, 9, 0, 0, 0, 7, 0, 0]);
    let resp: ApiVersionsResponse = answer(&c, ApiKey::ApiVersions, 0, f.freeze());
    assert_eq!(KafkaCode(resp.error_code), KafkaCode::UNSUPPORTED_VERSION);
    assert!(resp
        .api_keys
        .iter()
        .any(|k| k.api_key == 0 && k.max_version == 12));
    // A version outside the announced range, and the brokers' form of AddPartitionsToTxn.
    // (Produce v2: api key 0, version 2, correlation id 7, client id "t", no body.)
    let old = Bytes::from_static(&[0, 0, 0, 2, 0, 0, 0, 7, 0, 1, b't']);
    assert!(matches!(c.handle_for_test(1, old), Reply::Close));
    let req = AddPartitionsToTxnRequest::default();
    assert!(matches!(
        c.handle_for_test(1, frame(ApiKey::AddPartitionsToTxn, 4, &req)),
        Reply::Close
    ));
}
