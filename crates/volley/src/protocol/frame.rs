//! Framing: size-prefixed requests and responses, request and response headers, and the table of
//! API versions this client speaks.
//!
//! A request on the wire is `i32 size | request header | body`; a response is
//! `i32 size | response header | body`. The header versions depend on the API and its version
//! (flexible versions carry tagged fields); the `kafka-protocol` crate knows that mapping, and its
//! `anyhow` errors are turned into [`ProtocolError`] here, at the boundary.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages as m;
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};

use crate::error::ProtocolError;

/// Largest response a broker may send, unless configured otherwise
/// (`receive.message.max.bytes`, as librdkafka names it). A frame that announces more is
/// rejected before anything is allocated for it.
pub const DEFAULT_MAX_RESPONSE_SIZE: usize = 100_000_000;

/// The versions of each API this client speaks: `(api, min, max)`.
///
/// Produce v3 (record batch v2) is the floor; a broker that cannot speak it is too old.
/// Produce stops at v12: v13 identifies topics by id only, which buys a producer nothing.
pub const CLIENT_VERSIONS: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 3, 12),
    (ApiKey::Metadata, 4, 12),
    (ApiKey::ApiVersions, 0, 3),
    (ApiKey::InitProducerId, 0, 5),
    (ApiKey::FindCoordinator, 0, 6),
    (ApiKey::AddPartitionsToTxn, 0, 3),
    (ApiKey::AddOffsetsToTxn, 0, 4),
    (ApiKey::EndTxn, 0, 4),
    (ApiKey::TxnOffsetCommit, 0, 3),
];

/// A request this client sends, with its response type.
///
/// (`kafka-protocol`'s own `Request` trait needs its broker-side feature too; this one needs only
/// what a client encodes and decodes.)
pub trait Request: Encodable + HeaderVersion {
    /// The API key.
    const KEY: ApiKey;
    /// The matching response.
    type Response: Decodable + HeaderVersion;
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
        _ => "other API",
    }
}

/// The version ranges a broker announced in its ApiVersions response.
#[derive(Debug, Clone, Default)]
pub struct BrokerVersions {
    ranges: Vec<(i16, i16, i16)>,
}

impl BrokerVersions {
    /// Builds the table from `(api key, min, max)` triples.
    pub fn new(ranges: impl IntoIterator<Item = (i16, i16, i16)>) -> BrokerVersions {
        BrokerVersions {
            ranges: ranges.into_iter().collect(),
        }
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
/// tolerated (a newer broker may add fields the client ignores only through tagged fields, so in
/// practice there are none).
pub fn decode_response<R: Request>(
    mut frame: Bytes,
    version: i16,
    expected_correlation_id: i32,
) -> Result<R::Response, ProtocolError> {
    let header_version = <R::Response as HeaderVersion>::header_version(version);
    let header = guarded_decode("response header", || {
        ResponseHeader::decode(&mut frame, header_version)
    })?;
    if header.correlation_id != expected_correlation_id {
        return Err(ProtocolError::CorrelationMismatch {
            expected: expected_correlation_id,
            got: header.correlation_id,
        });
    }
    guarded_decode(api_name_of::<R>(), || {
        <R::Response as Decodable>::decode(&mut frame, version)
    })
}

/// Runs a `kafka-protocol` decoder, turning its errors (and, defensively, a panic on hostile
/// input) into a typed [`ProtocolError`].
fn guarded_decode<T, E: std::fmt::Display>(
    what: &'static str,
    f: impl FnOnce() -> Result<T, E>,
) -> Result<T, ProtocolError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(ProtocolError::Decode {
            what,
            reason: e.to_string(),
        }),
        Err(_) => Err(ProtocolError::Decode {
            what,
            reason: "malformed message".into(),
        }),
    }
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
    mut frame: Bytes,
    version: i16,
    expected_correlation_id: i32,
) -> Result<kafka_protocol::messages::ApiVersionsResponse, ProtocolError> {
    use kafka_protocol::messages::ApiVersionsResponse;
    let header = guarded_decode("response header", || ResponseHeader::decode(&mut frame, 0))?;
    if header.correlation_id != expected_correlation_id {
        return Err(ProtocolError::CorrelationMismatch {
            expected: expected_correlation_id,
            got: header.correlation_id,
        });
    }
    // The error code is the first field in every version: peek it to pick the body version.
    if frame.len() >= 2 && (&frame[..2]).get_i16() == 35 {
        return guarded_decode("ApiVersions", || ApiVersionsResponse::decode(&mut frame, 0));
    }
    guarded_decode("ApiVersions", || {
        ApiVersionsResponse::decode(&mut frame, version)
    })
}

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
    fn negotiate_picks_highest_common_version() {
        let v = BrokerVersions::new([(0, 0, 11), (3, 0, 13)]);
        assert_eq!(v.negotiate(ApiKey::Produce).unwrap(), 11);
        assert_eq!(v.negotiate(ApiKey::Metadata).unwrap(), 12);
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
}
