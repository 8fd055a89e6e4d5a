//! Framing: size-prefixed requests and responses, request and response headers, and the table of
//! API versions this client speaks.
//!
//! A request on the wire is `i32 size | request header | body`; a response is
//! `i32 size | response header | body`. The header versions depend on the API and its version
//! (flexible versions carry tagged fields); the `kafka-protocol` crate knows that mapping.
//! Requests are encoded by `kafka-protocol`, and its `anyhow` errors are turned into
//! [`ProtocolError`] here, at the boundary. Responses are decoded by this crate's bounded
//! decoders ([`super::decode`]), never by `kafka-protocol`'s `Decodable`, which allocates for an
//! array count read from the wire before checking it against the bytes that are there.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages as m;
use kafka_protocol::messages::{ApiKey, RequestHeader};
use kafka_protocol::protocol::{Encodable, HeaderVersion, StrBytes};

use super::decode::{decode_body, DecodeResponse, Reader};
use crate::error::ProtocolError;

/// Largest response a broker may send, unless configured otherwise
/// (`receive.message.max.bytes`, as librdkafka names it). A frame that announces more is
/// rejected before anything is allocated for it.
pub const DEFAULT_MAX_RESPONSE_SIZE: usize = 100_000_000;

/// The versions of each API this client speaks: `(api, min, max)`.
///
/// Produce v3 (record batch v2) is the floor; a broker that cannot speak it is too old.
/// Produce stops at v12: v13 identifies topics by id only, which buys a producer nothing.
/// Metadata v13 is v12 plus the response's top-level error code (KIP-1102).
pub const CLIENT_VERSIONS: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 3, 12),
    (ApiKey::Metadata, 4, 13),
    (ApiKey::ApiVersions, 0, 3),
    (ApiKey::InitProducerId, 0, 5),
    (ApiKey::FindCoordinator, 0, 6),
    (ApiKey::AddPartitionsToTxn, 0, 3),
    (ApiKey::AddOffsetsToTxn, 0, 4),
    // EndTxn v5 and TxnOffsetCommit v5 are transaction protocol version 2 (KIP-890 part 2):
    // the sender caps them at v4 (and Produce at v11) for a transaction of version 1.
    (ApiKey::EndTxn, 0, 5),
    (ApiKey::TxnOffsetCommit, 0, 5),
    // v0 of SaslHandshake carries the tokens unframed (Kafka 0.10); v1 + SaslAuthenticate is
    // what every broker since 1.0 speaks.
    (ApiKey::SaslHandshake, 1, 1),
    (ApiKey::SaslAuthenticate, 0, 2),
    // KIP-714 client telemetry.
    (ApiKey::GetTelemetrySubscriptions, 0, 0),
    (ApiKey::PushTelemetry, 0, 0),
];

/// A request this client sends, with its response type.
///
/// (`kafka-protocol`'s own `Request` trait needs its broker-side feature too; this one needs only
/// what a client encodes and decodes.)
pub trait Request: Encodable + HeaderVersion {
    /// The API key.
    const KEY: ApiKey;
    /// The matching response, decoded by [`super::decode`].
    type Response: DecodeResponse + HeaderVersion;
}

macro_rules! requests {
    ($($req:ident => $resp:ident, $key:ident;)*) => {
        $(impl Request for m::$req {
            const KEY: ApiKey = ApiKey::$key;
            type Response = m::$resp;
        })*
    };
}

requests! {
    ProduceRequest => ProduceResponse, Produce;
    MetadataRequest => MetadataResponse, Metadata;
    ApiVersionsRequest => ApiVersionsResponse, ApiVersions;
    InitProducerIdRequest => InitProducerIdResponse, InitProducerId;
    FindCoordinatorRequest => FindCoordinatorResponse, FindCoordinator;
    AddPartitionsToTxnRequest => AddPartitionsToTxnResponse, AddPartitionsToTxn;
    AddOffsetsToTxnRequest => AddOffsetsToTxnResponse, AddOffsetsToTxn;
    EndTxnRequest => EndTxnResponse, EndTxn;
    TxnOffsetCommitRequest => TxnOffsetCommitResponse, TxnOffsetCommit;
    SaslHandshakeRequest => SaslHandshakeResponse, SaslHandshake;
    SaslAuthenticateRequest => SaslAuthenticateResponse, SaslAuthenticate;
    GetTelemetrySubscriptionsRequest => GetTelemetrySubscriptionsResponse, GetTelemetrySubscriptions;
    PushTelemetryRequest => PushTelemetryResponse, PushTelemetry;
}

/// A readable name for an API key.
pub fn api_name(key: ApiKey) -> &'static str {
    match key {
        ApiKey::Produce => "Produce",
        ApiKey::Metadata => "Metadata",
        ApiKey::ApiVersions => "ApiVersions",
        ApiKey::InitProducerId => "InitProducerId",
        ApiKey::FindCoordinator => "FindCoordinator",
        ApiKey::AddPartitionsToTxn => "AddPartitionsToTxn",
        ApiKey::AddOffsetsToTxn => "AddOffsetsToTxn",
        ApiKey::EndTxn => "EndTxn",
        ApiKey::TxnOffsetCommit => "TxnOffsetCommit",
        ApiKey::SaslHandshake => "SaslHandshake",
        ApiKey::SaslAuthenticate => "SaslAuthenticate",
        ApiKey::GetTelemetrySubscriptions => "GetTelemetrySubscriptions",
        ApiKey::PushTelemetry => "PushTelemetry",
        _ => "other API",
    }
}

/// The version ranges a broker announced in its ApiVersions response, and the cluster's
/// finalized features it reported (ApiVersions v3+, tagged fields; KIP-584).
#[derive(Debug, Clone, Default)]
pub struct BrokerVersions {
    ranges: Vec<(i16, i16, i16)>,
    /// `(finalized features epoch, transaction.version's finalized max level)`: `(-1, 0)` when
    /// the broker reported none (before v3, or a broker without the feature).
    features: (i64, i16),
}

impl BrokerVersions {
    /// Builds the table from `(api key, min, max)` triples.
    pub fn new(ranges: impl IntoIterator<Item = (i16, i16, i16)>) -> BrokerVersions {
        BrokerVersions {
            ranges: ranges.into_iter().collect(),
            features: (-1, 0),
        }
    }

    /// The same table with the finalized features of the ApiVersions response:
    /// `(epoch, [(name, max version level)])`. Only `transaction.version` is kept.
    pub fn with_finalized_features<'a>(
        mut self,
        epoch: i64,
        features: impl IntoIterator<Item = (&'a str, i16)>,
    ) -> BrokerVersions {
        let tv = features
            .into_iter()
            .find(|(name, _)| *name == TRANSACTION_VERSION_FEATURE)
            .map_or(0, |(_, level)| level.max(0));
        self.features = (epoch, tv);
        self
    }

    /// `(finalized features epoch, transaction.version)`: the epoch orders reports from
    /// different brokers (the highest is the newest, as Java's `ApiVersions` keeps it);
    /// `transaction.version` is 0 when not finalized.
    pub fn transaction_version(&self) -> (i64, i16) {
        self.features
    }

    /// The broker's range for an API, if it supports it at all.
    pub fn range(&self, key: ApiKey) -> Option<(i16, i16)> {
        self.ranges
            .iter()
            .find(|(k, _, _)| *k == key as i16)
            .map(|&(_, lo, hi)| (lo, hi))
    }

    /// The highest version of `key` that both this client and the broker speak.
    pub fn negotiate(&self, key: ApiKey) -> Result<i16, ProtocolError> {
        let &(_, cmin, cmax) = CLIENT_VERSIONS
            .iter()
            .find(|(k, _, _)| *k == key)
            .expect("every API the client uses is listed in CLIENT_VERSIONS");
        let unsupported = |broker: String| ProtocolError::UnsupportedVersion {
            api: api_name(key),
            client_min: cmin,
            client_max: cmax,
            broker,
        };
        match self.range(key) {
            None => Err(unsupported("none".into())),
            Some((bmin, bmax)) => {
                let hi = cmax.min(bmax);
                if hi < cmin.max(bmin) {
                    Err(unsupported(format!("{bmin}..={bmax}")))
                } else {
                    Ok(hi)
                }
            }
        }
    }
}

/// The finalized feature that selects Kafka's transaction protocol (KIP-890 part 2: level 2
/// adds partitions implicitly and bumps the epoch at every EndTxn).
pub const TRANSACTION_VERSION_FEATURE: &str = "transaction.version";

/// Appends one complete request frame (size prefix, header, body) to `out`.
pub fn encode_request<R: Request>(
    out: &mut BytesMut,
    version: i16,
    correlation_id: i32,
    client_id: &str,
    request: &R,
) -> Result<(), ProtocolError> {
    let header = RequestHeader::default()
        .with_request_api_key(R::KEY as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_string(client_id.to_owned())));
    let start = out.len();
    out.put_i32(0);
    header
        .encode(out, R::header_version(version))
        .map_err(|e| ProtocolError::Encode {
            what: "request header",
            reason: e.to_string(),
        })?;
    request
        .encode(out, version)
        .map_err(|e| ProtocolError::Encode {
            what: api_name_of::<R>(),
            reason: e.to_string(),
        })?;
    let size = out.len() - start - 4;
    let size = i32::try_from(size).map_err(|_| ProtocolError::Encode {
        what: api_name_of::<R>(),
        reason: format!("request of {size} bytes is too large"),
    })?;
    out[start..start + 4].copy_from_slice(&size.to_be_bytes());
    Ok(())
}

fn api_name_of<R: Request>() -> &'static str {
    api_name(R::KEY)
}

/// Reads the correlation id of a response frame (the frame without its size prefix).
pub fn response_correlation_id(frame: &[u8]) -> Result<i32, ProtocolError> {
    if frame.len() < 4 {
        return Err(ProtocolError::Decode {
            what: "response header",
            reason: format!("frame of {} bytes is shorter than a header", frame.len()),
        });
    }
    Ok(i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]))
}

/// Decodes a response frame (without its size prefix) for request type `R` at `version`.
///
/// The header is checked against `expected_correlation_id`. Trailing bytes after the body are
/// tolerated (a newer broker adds fields the client ignores only through tagged fields, so in
/// practice there are none).
pub fn decode_response<R: Request>(
    frame: Bytes,
    version: i16,
    expected_correlation_id: i32,
) -> Result<R::Response, ProtocolError> {
    let header_version = <R::Response as HeaderVersion>::header_version(version);
    let body = read_response_header(&frame, header_version, expected_correlation_id)?;
    decode_body::<R::Response>(body, version)
}

/// Reads a response header (v0: the correlation id; v1: then a tagged-field section), checks
/// the correlation id and returns the body that follows.
fn read_response_header(
    frame: &[u8],
    header_version: i16,
    expected_correlation_id: i32,
) -> Result<&[u8], ProtocolError> {
    let mut r = Reader::new(frame, "response header", header_version);
    let correlation_id = r.i32("correlation_id")?;
    if correlation_id != expected_correlation_id {
        return Err(ProtocolError::CorrelationMismatch {
            expected: expected_correlation_id,
            got: correlation_id,
        });
    }
    r.set_flexible(header_version >= 1);
    r.skip_tagged_fields("tagged fields")?;
    Ok(&frame[r.position()..])
}

/// Reads a frame's size prefix and checks it against `max` before anything is allocated.
pub fn check_frame_size(prefix: [u8; 4], max: usize) -> Result<usize, ProtocolError> {
    let size = i32::from_be_bytes(prefix);
    if size < 0 || size as usize > max {
        return Err(ProtocolError::FrameTooLarge {
            size: size as i64,
            limit: max,
        });
    }
    Ok(size as usize)
}

/// Decodes an ApiVersions response frame, which is special: its header is always version 0, and
/// a broker that does not speak the requested version answers in version 0 with
/// UNSUPPORTED_VERSION and its own range, so the caller can retry with a version it speaks.
pub fn decode_api_versions(
    frame: Bytes,
    version: i16,
    expected_correlation_id: i32,
) -> Result<m::ApiVersionsResponse, ProtocolError> {
    let body = read_response_header(&frame, 0, expected_correlation_id)?;
    // The error code is the first field in every version: peek it to pick the body version.
    let version = match body {
        [hi, lo, ..] if i16::from_be_bytes([*hi, *lo]) == UNSUPPORTED_VERSION => 0,
        _ => version,
    };
    decode_body::<m::ApiVersionsResponse>(body, version)
}

/// The UNSUPPORTED_VERSION error code.
const UNSUPPORTED_VERSION: i16 = 35;

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::{ApiVersionsRequest, MetadataRequest};

    #[test]
    fn request_frame_layout() {
        let mut out = BytesMut::new();
        encode_request(&mut out, 1, 7, "volley", &MetadataRequest::default()).unwrap();
        let size = i32::from_be_bytes(out[..4].try_into().unwrap()) as usize;
        assert_eq!(size, out.len() - 4);
        // api key 3 (Metadata), version 1, correlation 7, client id "volley"
        assert_eq!(&out[4..6], &3i16.to_be_bytes());
        assert_eq!(&out[6..8], &1i16.to_be_bytes());
        assert_eq!(&out[8..12], &7i32.to_be_bytes());
        assert_eq!(&out[12..14], &6i16.to_be_bytes());
        assert_eq!(&out[14..20], b"volley");
    }

    #[test]
    fn flexible_request_header_has_tagged_fields() {
        let mut out = BytesMut::new();
        encode_request(&mut out, 3, 1, "c", &ApiVersionsRequest::default()).unwrap();
        // header v2: key, version, correlation, client id (nullable string, i16 length), tags (0)
        assert_eq!(&out[4..6], &18i16.to_be_bytes());
        assert_eq!(&out[12..14], &1i16.to_be_bytes());
        assert_eq!(out[14], b'c');
        assert_eq!(out[15], 0, "empty tagged fields of the header");
    }

    #[test]
    fn transaction_version_is_read_from_the_finalized_features() {
        let v = BrokerVersions::new([(0, 0, 12)]);
        assert_eq!(v.transaction_version(), (-1, 0), "none reported");
        let v =
            v.with_finalized_features(7, [("metadata.version", 27), ("transaction.version", 2)]);
        assert_eq!(v.transaction_version(), (7, 2));
        let v = BrokerVersions::new([]).with_finalized_features(3, [("group.version", 1)]);
        assert_eq!(v.transaction_version(), (3, 0), "not finalized");
    }

    #[test]
    fn negotiate_picks_highest_common_version() {
        let v = BrokerVersions::new([(0, 0, 11), (3, 0, 14)]);
        assert_eq!(v.negotiate(ApiKey::Produce).unwrap(), 11);
        assert_eq!(v.negotiate(ApiKey::Metadata).unwrap(), 13);
        let old = BrokerVersions::new([(0, 0, 2)]);
        let err = old.negotiate(ApiKey::Produce).unwrap_err();
        assert!(matches!(err, ProtocolError::UnsupportedVersion { .. }));
        assert!(err.to_string().contains("Produce"), "{err}");
        assert!(BrokerVersions::default()
            .negotiate(ApiKey::InitProducerId)
            .is_err());
    }

    #[test]
    fn frame_size_cap() {
        assert_eq!(check_frame_size(100i32.to_be_bytes(), 1000).unwrap(), 100);
        assert!(matches!(
            check_frame_size(1001i32.to_be_bytes(), 1000),
            Err(ProtocolError::FrameTooLarge { size: 1001, .. })
        ));
        assert!(check_frame_size((-5i32).to_be_bytes(), 1000).is_err());
    }

    #[test]
    fn truncated_and_mismatched_responses_are_typed_errors() {
        use kafka_protocol::messages::MetadataResponse;
        // A valid v1 metadata response body, encoded by the crate, then cut short.
        let mut body = BytesMut::new();
        body.put_i32(42); // correlation id, header v0
        MetadataResponse::default().encode(&mut body, 4).unwrap();
        let full = body.freeze();
        let ok = decode_response::<MetadataRequest>(full.clone(), 4, 42);
        assert!(ok.is_ok());
        let wrong = decode_response::<MetadataRequest>(full.clone(), 4, 41);
        assert!(matches!(
            wrong,
            Err(ProtocolError::CorrelationMismatch {
                expected: 41,
                got: 42
            })
        ));
        for cut in 0..full.len() - 1 {
            let r = decode_response::<MetadataRequest>(full.slice(..cut), 4, 42);
            assert!(r.is_err(), "truncated at {cut} decoded");
        }
        assert!(response_correlation_id(&full[..3]).is_err());
    }

    /// A frame: the correlation id, for header v1 an empty tagged-field section, then `body`.
    fn response_frame(corr: i32, header_v1: bool, body: &[u8]) -> Bytes {
        let mut out = corr.to_be_bytes().to_vec();
        if header_v1 {
            out.push(0);
        }
        out.extend_from_slice(body);
        out.into()
    }

    #[test]
    fn flexible_response_header_and_hostile_bodies() {
        use kafka_protocol::messages::{MetadataResponse, ProduceRequest, ProduceResponse};
        let mut body = BytesMut::new();
        MetadataResponse::default()
            .with_throttle_time_ms(7)
            .encode(&mut body, 12)
            .unwrap();
        // Header v1 at v12: its tagged fields are read (here one unknown field, skipped).
        let mut frame = 5i32.to_be_bytes().to_vec();
        frame.extend_from_slice(&[1, 4, 2, 0xaa, 0xbb]);
        frame.extend_from_slice(&body);
        let r = decode_response::<MetadataRequest>(frame.into(), 12, 5).unwrap();
        assert_eq!(r.throttle_time_ms, 7);
        // A tagged-field count in the header that cannot fit.
        let frame = response_frame(5, false, &[0x7f]);
        assert!(matches!(
            decode_response::<MetadataRequest>(frame, 12, 5),
            Err(ProtocolError::Decode {
                what: "response header",
                ..
            })
        ));
        // The hostile Metadata body of tests/bad_input.rs: brokers count u32::MAX - 1.
        let frame = response_frame(5, true, &[0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f]);
        let err = decode_response::<MetadataRequest>(frame, 12, 5).unwrap_err();
        assert!(
            matches!(
                &err,
                ProtocolError::Decode {
                    what: "Metadata response",
                    reason
                } if reason.contains("brokers")
            ),
            "{err:?}"
        );
        // Produce v3 with i32::MAX topics, and at a version the decoder does not know.
        let frame = response_frame(1, false, &[0x7f, 0xff, 0xff, 0xff]);
        assert!(decode_response::<ProduceRequest>(frame, 3, 1).is_err());
        let mut body = BytesMut::new();
        ProduceResponse::default().encode(&mut body, 12).unwrap();
        let frame = response_frame(1, true, &body);
        assert!(decode_response::<ProduceRequest>(frame.clone(), 12, 1).is_ok());
        assert!(decode_response::<ProduceRequest>(frame, 13, 1).is_err());
    }

    #[test]
    fn api_versions_falls_back_to_v0_on_unsupported_version() {
        use kafka_protocol::messages::api_versions_response::ApiVersion;
        use kafka_protocol::messages::ApiVersionsResponse;
        let resp = ApiVersionsResponse::default()
            .with_error_code(35)
            .with_api_keys(vec![ApiVersion::default()
                .with_api_key(18)
                .with_max_version(2)]);
        let mut body = BytesMut::new();
        resp.encode(&mut body, 0).unwrap();
        // Asked at v3, answered in v0 (header v0 always).
        let r = decode_api_versions(response_frame(9, false, &body), 3, 9).unwrap();
        assert_eq!(r, resp);
        // A v3 answer decodes at v3.
        let ok = resp.clone().with_error_code(0).with_throttle_time_ms(3);
        let mut body = BytesMut::new();
        ok.encode(&mut body, 3).unwrap();
        let r = decode_api_versions(response_frame(9, false, &body), 3, 9).unwrap();
        assert_eq!(r, ok);
        assert!(matches!(
            decode_api_versions(response_frame(8, false, &body), 3, 9),
            Err(ProtocolError::CorrelationMismatch {
                expected: 9,
                got: 8
            })
        ));
        // UNSUPPORTED_VERSION with i32::MAX api keys (the v0 body of tests/bad_input.rs).
        let frame = response_frame(9, false, &[0, 35, 0x7f, 0xff, 0xff, 0xff]);
        assert!(matches!(
            decode_api_versions(frame, 3, 9),
            Err(ProtocolError::Decode { .. })
        ));
        // Shorter than a header.
        assert!(decode_api_versions(Bytes::from_static(&[0, 0, 9]), 3, 9).is_err());
    }
}
