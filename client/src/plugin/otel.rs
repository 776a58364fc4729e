//! The OpenTelemetry context of a call's span (cargo feature `otel`): what a
//! `tracing-opentelemetry` layer assigned to it. Without the feature, or without the
//! layer, there is none and [`Tracing`](super::Tracing) starts or continues a W3C trace
//! of its own.

use tracing::Span;

use super::trace_context::TraceParent;

/// The span's OpenTelemetry context as a `traceparent` and its `tracestate`, if valid.
#[cfg(feature = "otel")]
pub(super) fn current(span: &Span) -> Option<(TraceParent, Option<String>)> {
    use opentelemetry::trace::TraceContextExt;
    use tracing_opentelemetry::OpenTelemetrySpanExt;

    let context = span.context();
    let otel_span = context.span();
    let span_context = otel_span.span_context();
    if !span_context.is_valid() {
        return None;
    }
    let parent = TraceParent::new(
        u128::from_be_bytes(span_context.trace_id().to_bytes()),
        u64::from_be_bytes(span_context.span_id().to_bytes()),
        span_context.trace_flags().to_u8(),
    )?;
    Some((parent, Some(span_context.trace_state().header())))
}

/// Without the `otel` feature there is no OpenTelemetry context.
#[cfg(not(feature = "otel"))]
pub(super) fn current(_span: &Span) -> Option<(TraceParent, Option<String>)> {
    None
}

#[cfg(all(test, feature = "otel"))]
mod tests {
    use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    use tracing_subscriber::layer::SubscriberExt;

    use crate::plugin::trace_context::{TraceParent, TRACEPARENT_KEY};
    use crate::plugin::{OutgoingCall, Plugins, Tracing};
    use crate::{Request, ServerAddr};

    fn ids(span: &tracing::Span) -> (u128, u64) {
        let context = span.context();
        let span_context = context.span().span_context().clone();
        (
            u128::from_be_bytes(span_context.trace_id().to_bytes()),
            u64::from_be_bytes(span_context.span_id().to_bytes()),
        )
    }

    #[test]
    fn the_call_span_is_what_goes_out_and_the_callers_span_is_its_parent() {
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("test"));
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            let caller = tracing::info_span!("caller");
            let _entered = caller.enter();
            let (caller_trace, caller_span) = ids(&caller);
            assert_ne!(
                caller_trace, 0,
                "the layer gave the caller's span a context"
            );

            let addr = ServerAddr::parse("tcp@127.0.0.1:1").expect("address");
            let request = Request::new("Arith", "Mul", b"");
            let mut call = OutgoingCall::new(&addr, &request, false);
            let plugins = Plugins::new().with(Tracing);
            let (hooks, allowed) = plugins.before_call(&mut call);
            allowed.expect("not refused");

            let sent = call
                .metadata_value(TRACEPARENT_KEY)
                .and_then(TraceParent::parse);
            let sent = sent.expect("a valid traceparent");
            let (call_trace, call_span) = ids(&hooks.span);
            assert_eq!((sent.trace_id, sent.span_id), (call_trace, call_span));
            assert_eq!(sent.trace_id, caller_trace, "the caller's trace");
            assert_ne!(sent.span_id, caller_span, "a span of its own");
        });
    }
}
