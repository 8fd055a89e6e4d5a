//! The wire protocol against real Kafka: ApiVersions negotiation, Metadata, and hand-built
//! record batches (every codec) produced with raw Produce requests, then read back with Kafka's
//! own console consumer and log dump.
//!
//! Needs the one-node and the three-node test clusters (`scripts/test` starts them).

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{Cluster as TestCluster, Consumed};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::produce_response::PartitionProduceResponse;
use kafka_protocol::messages::{ApiKey, ProduceRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use volley::io::connection::{ConnectOptions, Connection};
use volley::metadata::{metadata_request, Cluster};
use volley::protocol::compression::{Compression, CompressionCodec};
use volley::protocol::frame::CLIENT_VERSIONS;
use volley::protocol::record_batch::{BatchBuilder, BatchParams, RecordHeader};
use volley::KafkaCode;

fn options() -> ConnectOptions {
    ConnectOptions {
        client_id: "volley-protocol-broker-test".into(),
        connect_timeout: Duration::from_secs(10),
        request_timeout: Duration::from_secs(30),
        ..ConnectOptions::default()
    }
}

fn addresses(bootstrap: &str) -> Vec<String> {
    bootstrap
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

fn port_of(addr: &str) -> u16 {
    addr.rsplit_once(':').unwrap().1.parse().unwrap()
}

async fn connect(addr: &str) -> Connection {
    Connection::connect(addr, &options())
        .await
        .unwrap_or_else(|e| panic!("connect to {addr}: {e}"))
}

async fn metadata(conn: &mut Connection, topics: &[&str]) -> Cluster {
    let topics: Vec<Arc<str>> = topics.iter().map(|t| Arc::from(*t)).collect();
    let resp = conn
        .request(&metadata_request(&topics, false))
        .await
        .expect("metadata request");
    Cluster::from_response(&resp)
}

/// Polls metadata until `topic` has `partitions` partitions, each with a leader (a topic just
/// created with the topic command may take a moment to reach every broker's metadata cache).
async fn wait_for_leaders(conn: &mut Connection, topic: &str, partitions: usize) -> Cluster {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let c = metadata(conn, &[topic]).await;
        let ready = c.topic(topic).is_some_and(|t| {
            t.partitions.len() == partitions && t.partitions.iter().all(|p| p.leader.is_some())
        });
        if ready {
            return c;
        }
        assert!(
            Instant::now() < deadline,
            "topic {topic} has no leader for every partition after 30 s: {:?}",
            c.topics.get(topic)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Checks the negotiated versions of one connection against the broker's announced ranges.
/// A broker lists the client telemetry APIs (KIP-714) only with a metrics reporter that takes
/// client telemetry (the test bed's receiver: 1-node clusters of Kafka 4.x), and Volley then
/// pushes nothing, so those two may be missing; every other API must be listed.
fn check_negotiation(conn: &Connection) {
    let v = conn.versions();
    for &(key, cmin, cmax) in CLIENT_VERSIONS {
        let optional = matches!(
            key,
            ApiKey::GetTelemetrySubscriptions | ApiKey::PushTelemetry
        );
        let Some((bmin, bmax)) = v.range(key) else {
            assert!(optional, "{} broker does not list {key:?}", conn.addr());
            continue;
        };
        let got = v
            .negotiate(key)
            .unwrap_or_else(|e| panic!("{}: {key:?} does not negotiate: {e}", conn.addr()));
        assert!(
            (cmin..=cmax).contains(&got) && (bmin..=bmax).contains(&got),
            "{key:?}: negotiated {got} outside client {cmin}..={cmax} or broker {bmin}..={bmax}"
        );
        assert_eq!(
            got,
            cmax.min(bmax),
            "{key:?}: not the highest common version"
        );
    }
    let (_, produce_max) = v.range(ApiKey::Produce).unwrap();
    let produce = v.negotiate(ApiKey::Produce).unwrap();
    assert!((3..=12).contains(&produce), "Produce v{produce}");
    assert_eq!(produce, 12.min(produce_max));
    let (_, metadata_max) = v.range(ApiKey::Metadata).unwrap();
    let meta = v.negotiate(ApiKey::Metadata).unwrap();
    assert!((4..=13).contains(&meta), "Metadata v{meta}");
    assert_eq!(meta, 13.min(metadata_max));
}

// Pins: ApiVersions negotiation against the one-node cluster picks min(client max, broker max)
// for every API the client speaks (Produce and Metadata in particular).
#[tokio::test]
async fn api_versions_negotiate_on_one_node() {
    let addr = addresses(&common::bootstrap()).remove(0);
    let conn = connect(&addr).await;
    assert_eq!(conn.addr(), addr);
    check_negotiation(&conn);
}

// Pins: both clusters run the Kafka version the test bed recorded, as the brokers' own
// ApiVersions answers show it (so that the compatibility pass of scripts/test really runs on
// 3.9): Kafka 3.9 stops at Produce v11 (no transaction protocol v2, KIP-890), 4.x serves v12
// and up, and Volley negotiates v11 or v12 accordingly.
#[tokio::test]
async fn brokers_run_the_kafka_version_the_test_bed_records() {
    for (cluster, bs) in [
        (TestCluster::One, common::bootstrap()),
        (TestCluster::Three, common::bootstrap3()),
    ] {
        let version = common::kafka_version_on(cluster);
        for addr in addresses(&bs) {
            let conn = connect(&addr).await;
            let (_, produce_max) = conn.versions().range(ApiKey::Produce).unwrap();
            let produce = conn.versions().negotiate(ApiKey::Produce).unwrap();
            match version {
                (3, 9, _) => {
                    assert_eq!(produce_max, 11, "{addr} (Kafka {version:?})");
                    assert_eq!(produce, 11, "{addr} (Kafka {version:?})");
                }
                (4.., _, _) => {
                    assert!(
                        produce_max >= 12,
                        "{addr} (Kafka {version:?}): Produce v{produce_max}"
                    );
                    assert_eq!(produce, 12, "{addr} (Kafka {version:?})");
                }
                other => panic!("the test bed runs Kafka {other:?}, which the suite does not know"),
            }
        }
    }
}

// Pins: ApiVersions negotiation works against every broker of the three-node cluster.
#[tokio::test]
async fn api_versions_negotiate_on_three_nodes() {
    let addrs = addresses(&common::bootstrap3());
    assert_eq!(addrs.len(), 3, "VOLLEY_BOOTSTRAP_3 should list 3 brokers");
    for addr in &addrs {
        let conn = connect(addr).await;
        check_negotiation(&conn);
    }
}

// Pins: Metadata on the one-node cluster: a new 3-partition topic has 3 partitions led by
// broker 1, and the broker list is that one broker at the bootstrap port.
#[tokio::test]
async fn metadata_one_node_new_topic() {
    let addr = addresses(&common::bootstrap()).remove(0);
    let topic = common::unique_topic("pb-meta1");
    common::create_topic(&topic, 3, &[]);
    let mut conn = connect(&addr).await;
    let c = wait_for_leaders(&mut conn, &topic, 3).await;

    assert_eq!(c.brokers.len(), 1, "brokers: {:?}", c.brokers);
    let b = &c.brokers[&1];
    assert_eq!(b.port, port_of(&addr));
    assert_eq!(b.address(), addr);
    assert!(c.controller.is_some(), "a controller is named");
    assert!(c.cluster_id.as_deref().is_some_and(|id| !id.is_empty()));

    let t = c.topic(&topic).expect("topic in metadata");
    assert_eq!(t.error, KafkaCode::NONE);
    assert!(!t.internal);
    assert_ne!(t.id, 0, "topic id is set");
    assert_eq!(t.partition_count(), 3);
    for (i, p) in t.partitions.iter().enumerate() {
        assert_eq!(p.partition, i as i32);
        assert_eq!(p.leader, Some(1));
        assert_eq!(p.replicas, vec![1]);
        assert_eq!(p.isr, vec![1]);
        assert_eq!(p.error, KafkaCode::NONE);
        assert_eq!(c.leader_for(&topic, i as i32), Some(b));
    }
}

// Pins: Metadata on the three-node cluster: a new 6-partition topic with replication factor 3
// has a leader for every partition, 3 replicas each, and 3 brokers are listed.
#[tokio::test]
async fn metadata_three_nodes_replicated_topic() {
    let addrs = addresses(&common::bootstrap3());
    let topic = common::unique_topic("pb-meta3");
    common::create_topic_on(TestCluster::Three, &topic, 6, 3, &[]);
    let mut conn = connect(&addrs[0]).await;
    let c = wait_for_leaders(&mut conn, &topic, 6).await;

    assert_eq!(c.brokers.len(), 3, "brokers: {:?}", c.brokers);
    let mut ports: Vec<u16> = c.brokers.values().map(|b| b.port).collect();
    ports.sort_unstable();
    let mut want: Vec<u16> = addrs.iter().map(|a| port_of(a)).collect();
    want.sort_unstable();
    assert_eq!(ports, want);
    let mut ids: Vec<i32> = c.brokers.keys().copied().collect();
    ids.sort_unstable();
    assert_eq!(ids, vec![1, 2, 3]);

    let t = c.topic(&topic).expect("topic in metadata");
    assert_eq!(t.partition_count(), 6);
    for p in &t.partitions {
        let leader = p.leader.expect("leader");
        assert!(
            c.brokers.contains_key(&leader),
            "leader {leader} not a listed broker"
        );
        let mut replicas = p.replicas.clone();
        replicas.sort_unstable();
        assert_eq!(replicas, vec![1, 2, 3], "partition {}", p.partition);
        assert!(p.replicas.contains(&leader));
        assert!(!p.isr.is_empty() && p.isr.contains(&leader));
        assert!(c.leader_for(&topic, p.partition).is_some());
    }
    // Every broker answers the same about the topic.
    for addr in &addrs[1..] {
        let mut other = connect(addr).await;
        let oc = wait_for_leaders(&mut other, &topic, 6).await;
        assert_eq!(oc.topic(&topic).unwrap().partition_count(), 6);
        assert_eq!(oc.brokers.len(), 3);
    }
}

// Pins: asking for a topic that does not exist (auto-create is off on the test bed) gives
// UNKNOWN_TOPIC_OR_PARTITION for it, on both clusters, and `Cluster::topic` hides it.
#[tokio::test]
async fn metadata_unknown_topic() {
    for bootstrap in [common::bootstrap(), common::bootstrap3()] {
        let addr = addresses(&bootstrap).remove(0);
        let topic = common::unique_topic("pb-no-such-topic");
        let mut conn = connect(&addr).await;
        let c = metadata(&mut conn, &[&topic]).await;
        let t = c
            .topics
            .get(topic.as_str())
            .expect("the topic is in the answer");
        assert_eq!(t.error, KafkaCode::UNKNOWN_TOPIC_OR_PARTITION, "{addr}");
        assert!(t.partitions.is_empty());
        assert!(c.topic(&topic).is_none());
        assert!(c.leader_for(&topic, 0).is_none());
        assert!(!c.brokers.is_empty());
        // Still unknown a moment later: the request did not create it.
        let again = metadata(&mut conn, &[&topic]).await;
        assert_eq!(
            again.topics[topic.as_str()].error,
            KafkaCode::UNKNOWN_TOPIC_OR_PARTITION
        );
    }
}

// --- hand-built batches ------------------------------------------------------------------

/// Fixed CreateTime timestamps (2023-11-14T22:13:20Z and around). Topics are created with
/// `retention.ms=-1` so that time retention never deletes these old records mid-test.
const T0: i64 = 1_700_000_000_000;

struct Rec {
    ts: i64,
    key: Option<&'static str>,
    value: Option<&'static str>,
    headers: Vec<(&'static str, Option<&'static str>)>,
}

/// Five records: distinct keys and values, one null key, one record with two headers, one
/// null-valued header, one record without headers, and a timestamp below the batch's base
/// timestamp (a negative delta).
fn five_records() -> Vec<Rec> {
    vec![
        Rec {
            ts: T0,
            key: Some("key-0"),
            value: Some("value-0"),
            headers: vec![("trace", Some("abc"))],
        },
        Rec {
            ts: T0 + 1_000,
            key: Some("key-1"),
            value: Some("value-1"),
            headers: vec![("h1", Some("one")), ("h2", Some("two"))],
        },
        Rec {
            ts: T0 + 2_500,
            key: None,
            value: Some("value-2 null key"),
            headers: vec![],
        },
        Rec {
            ts: T0 + 60_000,
            key: Some("key-3"),
            value: Some("value-3"),
            headers: vec![("nullh", None)],
        },
        Rec {
            ts: T0 - 5_000,
            key: Some("key-4"),
            value: Some("value-4 earlier timestamp"),
            headers: vec![("h", Some("x")), ("empty", Some(""))],
        },
    ]
}

fn build_batch(recs: &[Rec], compression: Compression) -> Bytes {
    let mut b = BatchBuilder::new(Vec::new(), recs[0].ts);
    for (i, r) in recs.iter().enumerate() {
        let headers: Vec<RecordHeader<'_>> = r
            .headers
            .iter()
            .map(|(k, v)| RecordHeader {
                key: k,
                value: v.map(str::as_bytes),
            })
            .collect();
        let delta = b.append(
            r.ts,
            r.key.map(str::as_bytes),
            r.value.map(str::as_bytes),
            &headers,
        );
        assert_eq!(delta, i as i32);
    }
    let closed = b
        .close(&BatchParams::NONE, &compression)
        .expect("close batch");
    assert_eq!(closed.record_count(), recs.len() as i32);
    assert_eq!(closed.codec(), compression.codec());
    Bytes::copy_from_slice(closed.as_bytes())
}

async fn produce(
    conn: &mut Connection,
    topic: &str,
    partition: i32,
    acks: i16,
    batch: Bytes,
) -> PartitionProduceResponse {
    let req = ProduceRequest::default()
        .with_transactional_id(None)
        .with_acks(acks)
        .with_timeout_ms(15_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(batch))])]);
    // A new topic's leader may be in the metadata a moment before the broker acts as leader
    // (seen on a loaded machine with Kafka 3.9): NOT_LEADER_OR_FOLLOWER and its kin write
    // nothing, so the same request is sent again, for up to 30 s.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let resp = conn.request(&req).await.expect("produce request");
        assert_eq!(resp.responses.len(), 1, "{resp:?}");
        let t = &resp.responses[0];
        assert_eq!(t.name.0.as_str(), topic);
        assert_eq!(t.partition_responses.len(), 1, "{resp:?}");
        let p = t.partition_responses[0].clone();
        let not_yet = [
            KafkaCode::NOT_LEADER_OR_FOLLOWER,
            KafkaCode::LEADER_NOT_AVAILABLE,
            KafkaCode::UNKNOWN_TOPIC_OR_PARTITION,
        ]
        .contains(&KafkaCode(p.error_code));
        if !not_yet || Instant::now() >= deadline {
            return p;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn check_produced(p: &PartitionProduceResponse, partition: i32) {
    assert_eq!(p.index, partition);
    assert_eq!(
        KafkaCode(p.error_code),
        KafkaCode::NONE,
        "produce failed: {:?} {:?}",
        p.error_message,
        p.record_errors
    );
    assert_eq!(p.base_offset, 0, "first batch of a new partition");
    assert_eq!(p.log_append_time_ms, -1, "CreateTime topic");
    assert!(p.record_errors.is_empty());
}

fn expected(recs: &[Rec], partition: i32) -> Vec<Consumed> {
    recs.iter()
        .enumerate()
        .map(|(i, r)| Consumed {
            timestamp_type: "CreateTime".into(),
            timestamp: r.ts,
            partition,
            offset: i as i64,
            headers: r
                .headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
                .collect(),
            key: r.key.map(str::to_string),
            value: r.value.map(str::to_string),
        })
        .collect()
}

fn sorted(mut v: Vec<Consumed>) -> Vec<Consumed> {
    v.sort_by_key(|c| (c.partition, c.offset));
    v
}

/// The record-batch lines of a log dump (those that carry `baseOffset:`).
fn batch_lines(dump: &str) -> Vec<&str> {
    dump.lines().filter(|l| l.contains("baseOffset:")).collect()
}

fn check_dump(dump: &str, codec_name: &str, recs: &[Rec]) {
    let batches = batch_lines(dump);
    assert_eq!(batches.len(), 1, "one batch expected in the dump:\n{dump}");
    let line = batches[0];
    for want in [
        "baseOffset: 0 ".to_string(),
        format!("lastOffset: {} ", recs.len() - 1),
        format!("count: {} ", recs.len()),
        "baseSequence: -1 ".to_string(),
        "producerId: -1 ".to_string(),
        "isTransactional: false".to_string(),
        "isControl: false".to_string(),
        format!("CreateTime: {} ", recs.iter().map(|r| r.ts).max().unwrap()),
        "magic: 2 ".to_string(),
        format!("compresscodec: {codec_name} "),
        "isvalid: true".to_string(),
    ] {
        assert!(
            line.contains(&want),
            "dump batch line lacks {want:?}:\n{line}"
        );
    }
    // Record lines: one per record, with the key and payload printed by --print-data-log.
    let record_lines: Vec<&str> = dump
        .lines()
        .filter(|l| l.trim_start().starts_with("| offset:"))
        .collect();
    assert_eq!(record_lines.len(), recs.len(), "{dump}");
    for (i, (line, r)) in record_lines.iter().zip(recs).enumerate() {
        assert!(line.contains(&format!("offset: {i} ")), "{line}");
        assert!(line.contains(&format!("CreateTime: {} ", r.ts)), "{line}");
        if let Some(v) = r.value {
            assert!(line.contains(&format!("payload: {v}")), "{line}");
        }
        match r.key {
            Some(k) => assert!(line.contains(&format!("key: {k} ")), "{line}"),
            None => assert!(line.contains("keySize: -1 "), "{line}"),
        }
        let keys: Vec<&str> = r.headers.iter().map(|(k, _)| *k).collect();
        assert!(
            line.contains(&format!("headerKeys: [{}]", keys.join(","))),
            "{line}"
        );
    }
}

// Pins: an uncompressed hand-built batch (BatchParams::NONE) is accepted by a real broker with
// acks=1 and acks=-1, lands at offset 0, reads back through Kafka's console consumer with
// exact keys, values, headers, CreateTime timestamps and offsets, and Kafka's log dump sees a
// valid magic-2 batch of 5 records without compression.
#[tokio::test]
async fn hand_built_batch_uncompressed_acks_1_and_all() {
    let addr = addresses(&common::bootstrap()).remove(0);
    let topic = common::unique_topic("pb-batch-none");
    common::create_topic(&topic, 2, &["retention.ms=-1"]);
    let mut conn = connect(&addr).await;
    wait_for_leaders(&mut conn, &topic, 2).await;

    let recs = five_records();
    let batch = build_batch(&recs, Compression::None);
    check_produced(&produce(&mut conn, &topic, 0, 1, batch.clone()).await, 0);
    check_produced(&produce(&mut conn, &topic, 1, -1, batch).await, 1);

    let got = sorted(common::consume(&topic, 2 * recs.len()));
    let mut want = expected(&recs, 0);
    want.extend(expected(&recs, 1));
    assert_eq!(got, want);

    for partition in [0, 1] {
        let dump = common::dump_log(&topic, partition);
        check_dump(&dump, "none", &recs);
    }
}

async fn codec_round_trip(codec: CompressionCodec) {
    let addr = addresses(&common::bootstrap()).remove(0);
    let topic = common::unique_topic(&format!("pb-batch-{}", codec.name()));
    common::create_topic(&topic, 1, &["retention.ms=-1"]);
    let mut conn = connect(&addr).await;
    wait_for_leaders(&mut conn, &topic, 1).await;

    let recs = five_records();
    let batch = build_batch(&recs, Compression::from_codec(codec));
    check_produced(&produce(&mut conn, &topic, 0, -1, batch).await, 0);

    let got = sorted(common::consume(&topic, recs.len()));
    assert_eq!(got, expected(&recs, 0), "{codec:?}");

    let dump = common::dump_log(&topic, 0);
    eprintln!(
        "{codec:?}: Kafka's dump says: {}",
        batch_lines(&dump)
            .first()
            .copied()
            .unwrap_or("(no batch line)")
    );
    check_dump(&dump, codec.name(), &recs);
}

// Pins: a gzip batch built by Volley is read by Kafka (consumer and log dump, compresscodec: gzip).
#[tokio::test]
async fn hand_built_batch_gzip() {
    codec_round_trip(CompressionCodec::Gzip).await;
}

// Pins: a snappy (xerial framing) batch built by Volley is read by Kafka (compresscodec: snappy).
#[tokio::test]
async fn hand_built_batch_snappy() {
    codec_round_trip(CompressionCodec::Snappy).await;
}

// Pins: an LZ4 frame batch built by Volley is read by Kafka (compresscodec: lz4).
#[tokio::test]
async fn hand_built_batch_lz4() {
    codec_round_trip(CompressionCodec::Lz4).await;
}

// Pins: a zstd batch built by Volley is read by Kafka (compresscodec: zstd).
#[tokio::test]
async fn hand_built_batch_zstd() {
    codec_round_trip(CompressionCodec::Zstd).await;
}
