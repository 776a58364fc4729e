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
