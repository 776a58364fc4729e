//! The OpenTelemetry side of [`super::Tracing`] (feature `otel`): the request span's
//! OpenTelemetry parent is the caller's span from its W3C `traceparent`, so an exporter
//! behind a `tracing-opentelemetry` layer reports the server span inside the caller's trace.

use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use opentelemetry::Context;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::TraceParent;

/// Makes the caller's span (remote) the OpenTelemetry parent of `span`.
pub(super) fn set_parent(span: &tracing::Span, parent: &TraceParent, state: Option<&str>) {
    let state = state
        .and_then(|state| state.parse::<TraceState>().ok())
        .unwrap_or_default();
    let context = SpanContext::new(
        TraceId::from_bytes(parent.trace_id.to_be_bytes()),
        SpanId::from_bytes(parent.parent_id.to_be_bytes()),
        TraceFlags::new(parent.flags),
        true,
        state,
    );
    let _ = span.set_parent(Context::new().with_remote_span_context(context));
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use bytes::BytesMut;
    use opentelemetry::trace::{SpanId, TraceId, TracerProvider as _};
    use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
    use ringrpc_codec::payload::SerializeType;
    use ringrpc_codec::{decode, encode_frame, Header, Limits};
    use tracing_subscriber::layer::SubscriberExt;

    use crate::plugin::{Incoming, Plugin, TraceParent, Tracing};

    #[test]
    fn the_request_span_is_exported_as_a_child_of_the_callers_span() {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("ringrpc")));
        let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let mut bytes = BytesMut::new();
        let header = Header::request(1, SerializeType::None);
        let metadata = [("traceparent", traceparent), ("tracestate", "go=1")];
        encode_frame(&mut bytes, &header, "Echo", "Echo", metadata, b"").unwrap();
        let frame = decode(&mut bytes, &Limits::default()).unwrap().unwrap();

        tracing::subscriber::with_default(subscriber, || {
            let mut request = Incoming::new(&frame, None, 0, Instant::now());
            Tracing.before_handle(&mut request).unwrap();
            let span = request.span.take().expect("the plugin set the span");
            span.in_scope(|| tracing::info!("handled"));
        });

        let spans = exporter.get_finished_spans().unwrap();
        assert_eq!(spans.len(), 1, "{spans:?}");
        let parent = TraceParent::parse(traceparent).unwrap();
        let span = &spans[0];
        assert_eq!(
            span.span_context.trace_id(),
            TraceId::from_bytes(parent.trace_id.to_be_bytes()),
            "the caller's trace"
        );
        assert_eq!(
            span.parent_span_id,
            SpanId::from_bytes(parent.parent_id.to_be_bytes()),
            "the caller's span is the parent"
        );
        assert_ne!(
            span.span_context.span_id(),
            span.parent_span_id,
            "a span of its own"
        );
    }
}
