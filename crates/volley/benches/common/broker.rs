//! A minimal in-process Kafka broker on loopback for the benchmarks that drive the real
//! `Producer`: it answers ApiVersions, Metadata (every asked topic exists with
//! [`super::PARTITIONS`] partitions led by itself), InitProducerId and Produce (success,
//! increasing offsets; no response for acks=0), and keeps nothing. Not a test double for
//! correctness: it exists so that `Producer::send` runs end to end without a real broker.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, BrokerId, InitProducerIdResponse, MetadataRequest,
    MetadataResponse, ProduceRequest, ProduceResponse, ProducerId, RequestHeader, ResponseHeader,
    TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use volley::protocol::frame::CLIENT_VERSIONS;

/// A running mock broker.
pub struct MockBroker {
    /// `127.0.0.1:port`.
    pub addr: String,
    /// Records acknowledged so far (by record count in the batch headers).
    pub records: Arc<AtomicU64>,
}

impl MockBroker {
    /// Starts listening on an ephemeral loopback port; each connection gets a thread.
    pub fn start() -> MockBroker {
        MockBroker::start_with(|| {})
    }

    /// [`MockBroker::start`], running `init` first on each of the broker's threads.
    pub fn start_with(init: fn()) -> MockBroker {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let records = Arc::new(AtomicU64::new(0));
        let counter = records.clone();
        std::thread::Builder::new()
            .name("mock-broker".into())
            .spawn(move || {
                init();
                for conn in listener.incoming() {
                    let Ok(conn) = conn else { continue };
                    let counter = counter.clone();
                    std::thread::spawn(move || {
                        init();
                        let _ = serve(conn, port, &counter);
                    });
                }
            })
            .expect("spawn");
        MockBroker {
            addr: format!("127.0.0.1:{port}"),
            records,
        }
    }
}

fn serve(mut conn: TcpStream, port: u16, records: &AtomicU64) -> std::io::Result<()> {
    conn.set_nodelay(true)?;
    let mut offsets: HashMap<(String, i32), i64> = HashMap::new();
    let mut out = BytesMut::new();
    loop {
        let mut size = [0u8; 4];
        conn.read_exact(&mut size)?;
        let mut body = vec![0u8; i32::from_be_bytes(size) as usize];
        conn.read_exact(&mut body)?;
        let mut buf = Bytes::from(body);
        let key = i16::from_be_bytes([buf[0], buf[1]]);
        let version = i16::from_be_bytes([buf[2], buf[3]]);
        let api = ApiKey::try_from(key).map_err(|_| bad("unknown api key"))?;
        let header = RequestHeader::decode(&mut buf, api.request_header_version(version))
            .map_err(|_| bad("request header"))?;
        out.clear();
        out.extend_from_slice(&[0; 4]);
        let resp_header = ResponseHeader::default().with_correlation_id(header.correlation_id);
        let header_version = if api == ApiKey::ApiVersions {
            0
        } else {
            api.response_header_version(version)
        };
        resp_header
            .encode(&mut out, header_version)
            .map_err(|_| bad("encode header"))?;
        match api {
            ApiKey::ApiVersions => {
                let keys = CLIENT_VERSIONS
                    .iter()
                    .map(|&(k, min, max)| {
                        ApiVersion::default()
                            .with_api_key(k as i16)
                            .with_min_version(min)
                            .with_max_version(max)
                    })
                    .collect();
                ApiVersionsResponse::default()
                    .with_api_keys(keys)
                    .encode(&mut out, version)
            }
            ApiKey::Metadata => {
                let req =
                    MetadataRequest::decode(&mut buf, version).map_err(|_| bad("metadata"))?;
                let names: Vec<String> = req
                    .topics
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|t| t.name.map(|n| n.0.to_string()))
                    .collect();
                let topics = names
                    .into_iter()
                    .map(|name| {
                        MetadataResponseTopic::default()
                            .with_name(Some(TopicName(StrBytes::from_string(name))))
                            .with_partitions(
                                (0..super::PARTITIONS)
                                    .map(|p| {
                                        MetadataResponsePartition::default()
                                            .with_partition_index(p)
                                            .with_leader_id(BrokerId(0))
                                            .with_replica_nodes(vec![BrokerId(0)])
                                            .with_isr_nodes(vec![BrokerId(0)])
                                    })
                                    .collect(),
                            )
                    })
                    .collect();
                MetadataResponse::default()
                    .with_brokers(vec![MetadataResponseBroker::default()
                        .with_node_id(BrokerId(0))
                        .with_host(StrBytes::from_static_str("127.0.0.1"))
                        .with_port(i32::from(port))])
                    .with_cluster_id(Some(StrBytes::from_static_str("bench")))
                    .with_controller_id(BrokerId(0))
                    .with_topics(topics)
                    .encode(&mut out, version)
            }
            ApiKey::InitProducerId => InitProducerIdResponse::default()
                .with_producer_id(ProducerId(1000))
                .with_producer_epoch(0)
                .encode(&mut out, version),
            ApiKey::Produce => {
                let req = ProduceRequest::decode(&mut buf, version).map_err(|_| bad("produce"))?;
                let mut responses = Vec::new();
                for t in req.topic_data {
                    let name = t.name.0.to_string();
                    let mut parts = Vec::new();
                    for p in t.partition_data {
                        let count = p.records.as_ref().map_or(0, |r| record_count(r.clone()));
                        records.fetch_add(count as u64, Ordering::Relaxed);
                        let next = offsets.entry((name.clone(), p.index)).or_insert(0);
                        let base = *next;
                        *next += count;
                        parts.push(
                            PartitionProduceResponse::default()
                                .with_index(p.index)
                                .with_base_offset(base)
                                .with_log_append_time_ms(-1),
                        );
                    }
                    responses.push(
                        TopicProduceResponse::default()
                            .with_name(t.name)
                            .with_partition_responses(parts),
                    );
                }
                if req.acks == 0 {
                    continue;
                }
                ProduceResponse::default()
                    .with_responses(responses)
                    .encode(&mut out, version)
            }
            _ => return Err(bad("unexpected request")),
        }
        .map_err(|_| bad("encode response"))?;
        let n = (out.len() - 4) as i32;
        out[..4].copy_from_slice(&n.to_be_bytes());
        conn.write_all(&out)?;
    }
}

/// Sums the record counts of the v2 batches in a records field.
fn record_count(mut records: Bytes) -> i64 {
    let mut n = 0i64;
    while records.len() >= 61 {
        let len = i32::from_be_bytes([records[8], records[9], records[10], records[11]]) as usize;
        n += i64::from(i32::from_be_bytes([
            records[57],
            records[58],
            records[59],
            records[60],
        ]));
        if records.len() < 12 + len {
            break;
        }
        records.advance(12 + len);
    }
    n
}

fn bad(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string())
}
