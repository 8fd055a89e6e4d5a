//! [`DeliveryError`]: the error of a record that was not delivered, with the record handed back
//! (for a dead-letter topic, a log, or a later retry by the application).

use std::fmt;

use crate::error::Error;
use crate::record::Record;

/// Why a record was not delivered ([`error`](DeliveryError::error)), and the record itself
/// ([`record`](DeliveryError::record)) when it could be handed back.
///
/// Every way a record can fail carries one: `send` refusing it (then nothing was queued and
/// the record is the caller's, as the interceptors left it, copied out of its borrows), and a
/// [`DeliveryFuture`](crate::DeliveryFuture), a send callback or the
/// [`DeliveryHandler`](crate::DeliveryHandler) once a queued record fails (a non-retriable
/// broker error, retries exhausted, `delivery.timeout.ms`, a forced close, a fenced or
/// otherwise fatal producer, an aborted transaction). A queued record is read back from its
/// batch's bytes when the batch fails (decompressed if need be), so the success path keeps no
/// copy of any record; it then has its partition and timestamp set to where and when it was
/// going to be written, so [`into_record`](DeliveryError::into_record) can be sent again as it
/// is, or to another topic with [`Record::topic`](Record#structfield.topic) changed and the
/// partition cleared.
///
/// [`record`](DeliveryError::record) is `None` only when the record's bytes no longer exist:
/// its batch could not be closed (a compression failure), or the I/O thread ended abnormally
/// and the last-resort sweep failed what was left; or, for
/// [`TypedProducer`](crate::serializer::TypedProducer), when serialization failed (the typed
/// key and value are still the caller's). Each future of a failed batch hands its own record
/// out once (the batch's decoded records are kept while its futures are, on the failure path
/// only).
///
/// It dereferences to the [`Error`] (so `e.is_retriable()`, `e.code()` work on it), converts
/// into it (`?` in a function returning [`crate::Result`] drops the record), and prints as it.
/// To match on the error's kind: `match e.error() { Error::DeliveryTimeout { .. } => .. }`.
#[derive(Debug, Clone)]
pub struct DeliveryError {
    error: Error,
    record: Option<Box<Record<'static>>>,
}

impl DeliveryError {
    /// An error with the record it ended (`None`: see the type's docs).
    pub fn new(error: Error, record: Option<Record<'static>>) -> DeliveryError {
        DeliveryError {
            error,
            record: record.map(Box::new),
        }
    }

    /// The error.
    pub fn error(&self) -> &Error {
        &self.error
    }

    /// The record that was not delivered, if it could be handed back.
    pub fn record(&self) -> Option<&Record<'static>> {
        self.record.as_deref()
    }

    /// The record that was not delivered, if it could be handed back.
    pub fn into_record(self) -> Option<Record<'static>> {
        self.record.map(|r| *r)
    }

    /// The error alone.
    pub fn into_error(self) -> Error {
        self.error
    }

    /// The error and the record.
    pub fn into_parts(self) -> (Error, Option<Record<'static>>) {
        (self.error, self.record.map(|r| *r))
    }
}

impl std::ops::Deref for DeliveryError {
    type Target = Error;
    fn deref(&self) -> &Error {
        &self.error
    }
}

impl fmt::Display for DeliveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

impl std::error::Error for DeliveryError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.error)
    }
}

impl From<DeliveryError> for Error {
    fn from(e: DeliveryError) -> Error {
        e.error
    }
}

impl From<Error> for DeliveryError {
    /// An error with no record to hand back.
    fn from(error: Error) -> DeliveryError {
        DeliveryError {
            error,
            record: None,
        }
    }
}
