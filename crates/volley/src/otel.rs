//! OpenTelemetry context propagation (cargo feature `opentelemetry`): an [`Interceptor`] that
//! writes the current OpenTelemetry context into each record's headers, as the OpenTelemetry
//! messaging semantic conventions for Kafka describe (the producer injects the context of the
//! span the record is sent in; a consumer extracts it and links or parents its own span).
//!
//! With the W3C Trace Context propagator (`opentelemetry_sdk::propagation::TraceContextPropagator`,
//! the usual choice) the headers are `traceparent` (`00-<trace id>-<span id>-<flags>`) and, when
//! the context carries one, `tracestate`, their values UTF-8 bytes. A header of the same name
//! already on the record is replaced; an empty value (an empty `tracestate`) is not written.
//! Without an active span the propagator writes nothing.

use std::panic::{catch_unwind, AssertUnwindSafe};

use opentelemetry::propagation::{Injector, TextMapPropagator};
use opentelemetry::{global, Context};

use crate::interceptor::Interceptor;
use crate::record::{Header, Record};

/// Injects the current OpenTelemetry context into every record sent (see the module docs).
///
/// Install it with `ProducerBuilder::interceptor`. It uses the global text-map propagator
/// (`opentelemetry::global::set_text_map_propagator`) unless built
/// [`with_propagator`](TraceContextInterceptor::with_propagator). A propagator that panics or
/// fails is caught: the record is sent without the headers and a warning is logged, like any
/// interceptor's failure.
pub struct TraceContextInterceptor {
    propagator: Option<Box<dyn TextMapPropagator + Send + Sync>>,
}

impl std::fmt::Debug for TraceContextInterceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceContextInterceptor")
            .field("global_propagator", &self.propagator.is_none())
            .finish()
    }
}

impl Default for TraceContextInterceptor {
    fn default() -> Self {
        Self::new()
    }
}

impl TraceContextInterceptor {
    /// Uses the global propagator at each send.
    pub fn new() -> TraceContextInterceptor {
        TraceContextInterceptor { propagator: None }
    }

    /// Uses `propagator` (e.g. a `TraceContextPropagator`) rather than the global one.
    pub fn with_propagator(
        propagator: impl TextMapPropagator + Send + Sync + 'static,
    ) -> TraceContextInterceptor {
        TraceContextInterceptor {
            propagator: Some(Box::new(propagator)),
        }
    }
}

/// Collects what the propagator injects.
struct Collected(Vec<(String, String)>);

impl Injector for Collected {
    fn set(&mut self, key: &str, value: String) {
        self.0.push((key.to_string(), value));
    }
}

impl Interceptor for TraceContextInterceptor {
    fn on_send(
        &self,
        record: &mut Record<'_>,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let cx = Context::current();
        let mut collected = Collected(Vec::new());
        let injected = catch_unwind(AssertUnwindSafe(|| match &self.propagator {
            Some(p) => p.inject_context(&cx, &mut collected),
            None => global::get_text_map_propagator(|p| p.inject_context(&cx, &mut collected)),
        }));
        if injected.is_err() {
            return Err("the OpenTelemetry propagator panicked; no trace context injected".into());
        }
        for (key, value) in collected.0.into_iter().filter(|(_, v)| !v.is_empty()) {
            record.headers.retain(|h| h.key != key.as_str());
            record.headers.push(Header::new(key, value.into_bytes()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry::propagation::text_map_propagator::FieldIter;
    use opentelemetry::propagation::Extractor;
    use opentelemetry::trace::{
        SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState,
    };
    use opentelemetry_sdk::propagation::TraceContextPropagator;

    use super::*;

    fn header(r: &Record<'_>, key: &str) -> Option<String> {
        r.headers
            .iter()
            .find(|h| h.key == key)
            .and_then(|h| h.value.as_ref())
            .map(|v| String::from_utf8(v.as_bytes().to_vec()).unwrap())
    }

    #[test]
    fn injects_traceparent_and_tracestate_replacing_old_ones() {
        let sc = SpanContext::new(
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
            SpanId::from_hex("00f067aa0ba902b7").unwrap(),
            TraceFlags::SAMPLED,
            true,
            TraceState::from_key_value([("vendor", "v1")]).unwrap(),
        );
        let cx = Context::new().with_remote_span_context(sc);
        let i = TraceContextInterceptor::with_propagator(TraceContextPropagator::new());
        let mut r = Record::new("t").header(Header::new("traceparent", "stale"));
        let _guard = cx.attach();
        i.on_send(&mut r).unwrap();
        assert_eq!(
            header(&r, "traceparent").as_deref(),
            Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        );
        assert_eq!(header(&r, "tracestate").as_deref(), Some("vendor=v1"));
        assert_eq!(r.headers.len(), 2);
    }

    #[test]
    fn no_span_no_header() {
        let i = TraceContextInterceptor::with_propagator(TraceContextPropagator::new());
        let mut r = Record::new("t");
        i.on_send(&mut r).unwrap();
        assert!(r.headers.is_empty());
    }

    #[derive(Debug)]
    struct Panicking;

    impl TextMapPropagator for Panicking {
        fn inject_context(&self, _: &Context, _: &mut dyn Injector) {
            panic!("propagator bug");
        }
        fn extract_with_context(&self, cx: &Context, _: &dyn Extractor) -> Context {
            cx.clone()
        }
        fn fields(&self) -> FieldIter<'_> {
            FieldIter::new(&[])
        }
    }

    #[test]
    fn a_panicking_propagator_is_caught() {
        let i = TraceContextInterceptor::with_propagator(Panicking);
        let mut r = Record::new("t");
        let e = i.on_send(&mut r).unwrap_err();
        assert!(e.to_string().contains("panicked"), "{e}");
        assert!(r.headers.is_empty());
    }
}
