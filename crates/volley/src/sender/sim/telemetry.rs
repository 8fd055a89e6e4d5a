//! The simulated cluster's client telemetry receiver (KIP-714), off unless a test turns it on
//! with [`Sim::enable_telemetry`]: only then do the brokers advertise GetTelemetrySubscriptions
//! and PushTelemetry in ApiVersions. Every broker shares one subscription (as a Kafka cluster
//! does), assigns one client instance id, checks pushes the way Kafka's `ClientMetricsManager`
//! does (subscription id, compression type), and keeps what each push carried, decoded.

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;
use kafka_protocol::messages::{
    ApiKey, GetTelemetrySubscriptionsRequest, GetTelemetrySubscriptionsResponse,
    PushTelemetryRequest, PushTelemetryResponse,
};
use kafka_protocol::protocol::StrBytes;
use prost::Message;
use uuid::Uuid;

use super::{encode_response, RequestLog, Sim};
use crate::error::KafkaCode;
use crate::protocol::compression::{decompress, CompressionCodec};
use crate::telemetry::otlp::MetricsData;

/// A subscription the simulated brokers hand out.
#[derive(Debug, Clone)]
pub(crate) struct SimSubscription {
    pub requested: Vec<String>,
    pub interval_ms: i32,
    pub delta: bool,
    /// `AcceptedCompressionTypes`, by preference.
    pub accepted: Vec<i8>,
    pub max_bytes: i32,
}

impl Default for SimSubscription {
    fn default() -> Self {
        SimSubscription {
            requested: vec!["org.apache.kafka.producer.".into()],
            interval_ms: 1000,
            delta: true,
            accepted: vec![4, 3, 1, 2],
            max_bytes: 1 << 20,
        }
    }
}

/// A push as the receiver saw it.
#[derive(Debug, Clone)]
pub(crate) struct SimPush {
    pub at: Instant,
    pub client_instance_id: Uuid,
    pub subscription_id: i32,
    pub terminating: bool,
    pub compression: i8,
    pub code: KafkaCode,
    /// The payload, decompressed and decoded (`None` if it was refused before that).
    pub data: Option<MetricsData>,
}

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct TelemetryBroker {
    pub subscription: SimSubscription,
    pub subscription_id: i32,
    pub instance_id: Uuid,
    /// Error codes to answer the next requests of an API with, in order.
    pub faults: VecDeque<(ApiKey, KafkaCode)>,
    /// When each GetTelemetrySubscriptions arrived, with the client instance id it carried.
    pub gets: Vec<(Instant, Uuid)>,
    pub pushes: Vec<SimPush>,
}

impl Sim {
    /// Turns the brokers' telemetry receiver on (they advertise the telemetry APIs on the
    /// connections made from now on) with `subscription`.
    pub(crate) fn enable_telemetry(&mut self, subscription: SimSubscription) {
        self.telemetry = Some(TelemetryBroker {
            subscription,
            subscription_id: 7,
            instance_id: Uuid::from_u128(0x714_714),
            ..TelemetryBroker::default()
        });
    }

    /// The receiver (panics if it is off).
    pub(crate) fn telemetry(&mut self) -> &mut TelemetryBroker {
        self.telemetry
            .as_mut()
            .expect("Sim::enable_telemetry first")
    }

    /// A new subscription (a new id, as Kafka gives when the client metrics configs change).
    pub(crate) fn change_subscription(&mut self, subscription: SimSubscription) {
        let t = self.telemetry();
        t.subscription = subscription;
        t.subscription_id += 1;
    }

    pub(super) fn handle_telemetry_request(
        &mut self,
        api: ApiKey,
        version: i16,
        body: &mut Bytes,
        log: &mut RequestLog,
    ) -> (i32, Option<Bytes>) {
        let now = self.now;
        let t = self
            .telemetry
            .as_mut()
            .expect("telemetry requests only go to brokers that advertise them");
        let fault = match t.faults.front() {
            Some(&(a, code)) if a == api => {
                t.faults.pop_front();
                Some(code)
            }
            _ => None,
        };
        match api {
            ApiKey::GetTelemetrySubscriptions => {
                let (corr, req) =
                    crate::fake::model::txn::decode::<GetTelemetrySubscriptionsRequest>(
                        body, version,
                    )
                    .expect("telemetry request");
                t.gets.push((now, req.client_instance_id));
                let s = &t.subscription;
                let resp = match fault {
                    Some(code) => {
                        GetTelemetrySubscriptionsResponse::default().with_error_code(code.0)
                    }
                    None => GetTelemetrySubscriptionsResponse::default()
                        .with_client_instance_id(if req.client_instance_id.is_nil() {
                            t.instance_id
                        } else {
                            req.client_instance_id
                        })
                        .with_subscription_id(t.subscription_id)
                        .with_accepted_compression_types(s.accepted.clone())
                        .with_push_interval_ms(s.interval_ms)
                        .with_telemetry_max_bytes(s.max_bytes)
                        .with_delta_temporality(s.delta)
                        .with_requested_metrics(
                            s.requested
                                .iter()
                                .map(|m| StrBytes::from(m.clone()))
                                .collect(),
                        ),
                };
                log.code = KafkaCode(resp.error_code);
                (corr, Some(encode_response(corr, version, &resp)))
            }
            _ => {
                let (corr, req) =
                    crate::fake::model::txn::decode::<PushTelemetryRequest>(body, version)
                        .expect("telemetry request");
                let codec = u8::try_from(req.compression_type)
                    .ok()
                    .and_then(CompressionCodec::from_id);
                let code = if let Some(f) = fault {
                    f
                } else if req.subscription_id != t.subscription_id {
                    KafkaCode::UNKNOWN_SUBSCRIPTION_ID
                } else if codec.is_none() {
                    KafkaCode::UNSUPPORTED_COMPRESSION_TYPE
                } else {
                    KafkaCode::NONE
                };
                let data = codec.filter(|_| code.is_ok()).map(|c| {
                    let raw = decompress(c, &req.metrics, 1 << 24).expect("decompressible payload");
                    MetricsData::decode(raw.as_slice()).expect("an OTLP MetricsData")
                });
                t.pushes.push(SimPush {
                    at: now,
                    client_instance_id: req.client_instance_id,
                    subscription_id: req.subscription_id,
                    terminating: req.terminating,
                    compression: req.compression_type,
                    code,
                    data,
                });
                log.code = code;
                let resp = PushTelemetryResponse::default().with_error_code(code.0);
                (corr, Some(encode_response(corr, version, &resp)))
            }
        }
    }
}
