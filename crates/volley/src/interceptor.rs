//! Interceptors: see (and may change) each record before it is sent, and see each outcome.
//!
//! An interceptor's error or panic is caught and logged; it never reaches the caller of `send`
//! and never stops the other interceptors (as in Java, where `ProducerInterceptors` logs and
//! carries on).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use crate::delivery_error::DeliveryError;
use crate::error::Error;
use crate::record::{Record, RecordMetadata};

/// A producer interceptor (Java's `ProducerInterceptor`).
pub trait Interceptor: Send + Sync + 'static {
    /// Called in `send`, before the record is serialized and partitioned. It may change the
    /// record in place. An `Err` is logged and the record goes on as it stands.
    fn on_send(
        &self,
        record: &mut Record<'_>,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let _ = record;
        Ok(())
    }

    /// Called once for every record that `send` accepted or rejected: with the broker's
    /// metadata on success, or with the error (the metadata then has offset -1, and partition
    /// -1 if none was chosen yet). Runs on the I/O thread for acknowledged records, so it must
    /// be quick.
    fn on_acknowledgement(&self, metadata: &RecordMetadata, error: Option<&Error>) {
        let _ = (metadata, error);
    }

    /// Called when the producer closes.
    fn close(&self) {}
}

/// A producer-wide delivery handler (librdkafka's delivery report callback): called on the I/O
/// thread once for every record sent with [`Producer::send_with_opaque`](crate::Producer::send_with_opaque),
/// with the record's outcome and the opaque value given at send. Unlike a per-record callback,
/// it costs no allocation per record. Keep it quick; a panic in it is caught and logged.
pub trait DeliveryHandler: Send + Sync + 'static {
    /// The record acknowledged (`Ok`), or the error that ended its delivery with the record
    /// handed back ([`DeliveryError::record`]; read back from its batch's bytes).
    fn on_delivery(&self, result: Result<&RecordMetadata, &DeliveryError>, opaque: u64);
}

impl std::fmt::Debug for dyn DeliveryHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeliveryHandler")
    }
}

/// The configured interceptors, run in order, each one guarded.
#[derive(Clone, Default)]
pub(crate) struct Interceptors {
    list: Arc<[Arc<dyn Interceptor>]>,
}

impl std::fmt::Debug for Interceptors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Interceptors({})", self.list.len())
    }
}

impl Interceptors {
    pub(crate) fn new(list: Vec<Arc<dyn Interceptor>>) -> Interceptors {
        Interceptors { list: list.into() }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub(crate) fn on_send(&self, record: &mut Record<'_>) {
        for i in self.list.iter() {
            match catch_unwind(AssertUnwindSafe(|| i.on_send(record))) {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "interceptor on_send failed; record sent as it stands")
                }
                Err(_) => tracing::warn!("interceptor on_send panicked; record sent as it stands"),
            }
        }
    }

    pub(crate) fn on_acknowledgement(&self, metadata: &RecordMetadata, error: Option<&Error>) {
        for i in self.list.iter() {
            if catch_unwind(AssertUnwindSafe(|| i.on_acknowledgement(metadata, error))).is_err() {
                tracing::warn!("interceptor on_acknowledgement panicked");
            }
        }
    }

    pub(crate) fn close(&self) {
        for i in self.list.iter() {
            if catch_unwind(AssertUnwindSafe(|| i.close())).is_err() {
                tracing::warn!("interceptor close panicked");
            }
        }
    }
}
