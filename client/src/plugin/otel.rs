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
