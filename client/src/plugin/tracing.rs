//! [`Tracing`]: a `tracing` span per client call, and the W3C trace context of that call
//! in the request metadata, where rpcx-go's OpenTelemetry plugin (and any Go server using
//! `propagation.TraceContext`) reads it.

use tracing::field::Empty;
use tracing::Span;

use super::trace_context::{tracestate_is_valid, TraceParent, TRACEPARENT_KEY, TRACESTATE_KEY};
use super::{CallOutcome, ClientPlugin, OutgoingCall, Refusal};

/// Runs every call in an `info`-level `rpc_client` span (fields `service_path`,
/// `service_method`, `server`, `trace_id`, `span_id`, `parent_span_id`, `status`,
/// `duration_us`) and writes the call's `traceparent` (and a valid `tracestate`) into
/// the request metadata.
///
/// The call's trace context:
/// - if the call's metadata already carries a valid `traceparent` (e.g. copied from the
///   request a server is handling), the call is its child: same trace id and flags, a new
///   span id; its `tracestate` is passed on;
/// - else, with the cargo feature `otel` and a `tracing-opentelemetry` layer installed,
///   it is the OpenTelemetry context of the call's span (whose parent is the caller's
///   current span), so exported spans and the server's parent agree;
/// - else a new sampled trace with random ids.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tracing;

impl ClientPlugin for Tracing {
    fn call_span(&self, call: &OutgoingCall<'_>) -> Option<Span> {
        Some(tracing::info_span!(
            "rpc_client",
            service_path = call.service_path(),
            service_method = call.service_method(),
            server = %call.server(),
            trace_id = Empty,
            span_id = Empty,
            parent_span_id = Empty,
            status = Empty,
            duration_us = Empty,
        ))
    }

    fn before_call(&self, call: &mut OutgoingCall<'_>) -> Result<(), Refusal> {
        let span = Span::current();
        let mut rng = fastrand::Rng::new();
        let given = call
            .metadata_value(TRACEPARENT_KEY)
            .and_then(TraceParent::parse);
        let (context, state) = match given {
            Some(parent) => {
                span.record("parent_span_id", parent.span_id_hex());
                let state = call.metadata_value(TRACESTATE_KEY).map(str::to_owned);
                (parent.child(&mut rng), state)
            }
            None => match super::otel::current(&span) {
                Some((context, state)) => (context, state),
                None => (TraceParent::new_root(&mut rng), None),
            },
        };
        span.record("trace_id", context.trace_id_hex());
        span.record("span_id", context.span_id_hex());
        call.set_metadata(TRACEPARENT_KEY, context.to_string());
        match state.filter(|s| !s.is_empty() && tracestate_is_valid(s)) {
            Some(state) => call.set_metadata(TRACESTATE_KEY, state),
            None => call.remove_metadata(TRACESTATE_KEY),
        }
        Ok(())
    }

    fn after_call(&self, _call: &OutgoingCall<'_>, outcome: &CallOutcome<'_>) {
        let span = Span::current();
        span.record("status", tracing::field::debug(outcome.status()));
        let micros = u64::try_from(outcome.duration().as_micros()).unwrap_or(u64::MAX);
        span.record("duration_us", micros);
    }
}
