//! [`Tracing`]: a `tracing` span per request, joined to the caller's trace by the W3C trace
//! context (`traceparent`, `tracestate`) the client put in the request metadata, where
//! rpcx-go's OpenTelemetry plugin (rpcx-plugins `opentelemetry`) and the Go
//! `propagation.TraceContext` propagator write it.

use std::fmt;

use super::{Incoming, Plugin, Refusal};

/// The metadata key of the W3C trace parent.
pub const TRACEPARENT_KEY: &str = "traceparent";
/// The metadata key of the W3C trace state.
pub const TRACESTATE_KEY: &str = "tracestate";

/// A parsed W3C `traceparent` (version 00): `00-<trace id>-<parent span id>-<flags>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    /// The trace's 16-byte id (never all zero).
    pub trace_id: u128,
    /// The caller's 8-byte span id (never zero): the parent of the server's span.
    pub parent_id: u64,
    /// Trace flags (bit 0: sampled).
    pub flags: u8,
}

impl TraceParent {
    /// Parses a `traceparent` value; `None` for anything the W3C spec says to ignore
    /// (wrong lengths, upper-case or non-hex digits, version ff, all-zero ids).
    pub fn parse(value: &str) -> Option<Self> {
        let mut parts = value.trim().split('-');
        let version = parts.next().filter(|v| v.len() == 2)?;
        let trace_id = parts.next().filter(|v| v.len() == 32)?;
        let parent_id = parts.next().filter(|v| v.len() == 16)?;
        let flags = parts.next().filter(|v| v.len() == 2)?;
        // Version 00 has exactly four fields; a later version may add more after them.
        if version == "ff" || (version == "00" && parts.next().is_some()) {
            return None;
        }
        let hex = |s: &str| {
            s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        if ![version, trace_id, parent_id, flags].into_iter().all(hex) {
            return None;
        }
        let parsed = Self {
            trace_id: u128::from_str_radix(trace_id, 16).ok()?,
            parent_id: u64::from_str_radix(parent_id, 16).ok()?,
            flags: u8::from_str_radix(flags, 16).ok()?,
        };
        (parsed.trace_id != 0 && parsed.parent_id != 0).then_some(parsed)
    }

    /// Whether the caller sampled this trace.
    pub fn is_sampled(&self) -> bool {
        self.flags & 1 == 1
    }
}

impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "00-{:032x}-{:016x}-{:02x}",
            self.trace_id, self.parent_id, self.flags
        )
    }
}

/// Runs every request's handler in an `info`-level `req` span carrying `seq`,
/// `service_path`, `service_method`, the shard, and, when the request carries a valid
/// `traceparent`, `trace_id` and `parent_span_id` (hex, as W3C writes them) and
/// `tracestate`. With the cargo feature `otel` and a `tracing-opentelemetry` layer
/// installed, the span's OpenTelemetry parent is the caller's span.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tracing;

impl Plugin for Tracing {
    fn before_handle<'a>(&'a self, request: &mut Incoming<'a>) -> Result<(), Refusal> {
        let metadata = request.metadata();
        let parent = metadata.get(TRACEPARENT_KEY).and_then(TraceParent::parse);
        let span = tracing::info_span!(
            "req",
            seq = request.frame().seq(),
            service_path = request.service_path(),
            service_method = request.service_method(),
            shard = request.shard(),
            trace_id = tracing::field::Empty,
            parent_span_id = tracing::field::Empty,
            tracestate = tracing::field::Empty,
        );
        if let Some(parent) = parent {
            span.record("trace_id", format_args!("{:032x}", parent.trace_id));
            span.record("parent_span_id", format_args!("{:016x}", parent.parent_id));
            if let Some(state) = metadata.get(TRACESTATE_KEY) {
                span.record("tracestate", state);
            }
            #[cfg(feature = "otel")]
            super::otel::set_parent(&span, &parent, metadata.get(TRACESTATE_KEY));
        }
        request.set_span(span);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_parses_as_w3c_says() {
        let text = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let parent = TraceParent::parse(text).expect("valid");
        assert_eq!(parent.trace_id, 0x4bf92f3577b34da6a3ce929d0e0e4736);
        assert_eq!(parent.parent_id, 0x00f067aa0ba902b7);
        assert!(parent.is_sampled());
        assert_eq!(parent.to_string(), text);
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e47zz-00f067aa0ba902b7-01",
        ] {
            assert_eq!(TraceParent::parse(bad), None, "{bad:?}");
        }
        let later = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-more";
        assert!(
            TraceParent::parse(later).is_some(),
            "a later version may add fields"
        );
    }
}
