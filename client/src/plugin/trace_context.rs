//! The W3C trace context (<https://www.w3.org/TR/trace-context/>) as rpcx metadata carries
//! it: `traceparent` and `tracestate`, the keys rpcx-go's OpenTelemetry plugin and Go's
//! `propagation.TraceContext` read and write.
//!
//! What it owns: parsing and writing `traceparent`, and the bounds a passed-on
//! `tracestate` must meet. What it never does: decide which span is the parent (the
//! [`Tracing`](super::Tracing) plugin does).
//!
//! `traceparent` is `version "-" trace-id "-" parent-id "-" trace-flags`, lower-case hex
//! of 2, 32, 16 and 2 digits: `00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01`.
//! Parsing follows the specification's rules for a receiver: version `ff` is invalid;
//! version `00` is exactly 55 characters; a later version may append fields after a `-`,
//! which are ignored; upper-case hex is invalid; an all-zero trace id or parent id is
//! invalid. Anything invalid is ignored (a new trace starts), never an error.

use std::fmt;

/// The metadata key of the W3C trace parent.
pub const TRACEPARENT_KEY: &str = "traceparent";
/// The metadata key of the W3C trace state.
pub const TRACESTATE_KEY: &str = "tracestate";
/// Longest `tracestate` passed on, in bytes (the specification's minimum to propagate).
pub const TRACESTATE_LEN_MAX_BYTES: usize = 512;
/// Most list members a `tracestate` may have.
pub const TRACESTATE_MEMBERS_MAX: usize = 32;

/// Length of a version-00 `traceparent`.
const TRACEPARENT_LEN: usize = 55;

/// A `traceparent`: the trace, the span that is the parent of the receiver's span, and
/// the trace flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceParent {
    /// The trace's 16-byte id (never zero).
    pub trace_id: u128,
    /// The sender's span id (never zero).
    pub span_id: u64,
    /// Trace flags; bit 0 is "sampled".
    pub flags: u8,
}

impl TraceParent {
    /// Flag bit 0: the caller records this trace.
    pub const SAMPLED: u8 = 0x01;

    /// A context for `trace_id` and `span_id`; `None` if either is zero (invalid).
    pub fn new(trace_id: u128, span_id: u64, flags: u8) -> Option<Self> {
        (trace_id != 0 && span_id != 0).then_some(Self {
            trace_id,
            span_id,
            flags,
        })
    }

    /// A new trace (random trace id and span id), sampled.
    pub fn new_root(rng: &mut fastrand::Rng) -> Self {
        Self {
            trace_id: rng.u128(1..),
            span_id: rng.u64(1..),
            flags: Self::SAMPLED,
        }
    }

    /// A child in the same trace: a new random span id, the same flags.
    pub fn child(&self, rng: &mut fastrand::Rng) -> Self {
        Self {
            span_id: rng.u64(1..),
            ..*self
        }
    }

    /// Parses a `traceparent` value; `None` when the specification says to ignore it.
    pub fn parse(value: &str) -> Option<Self> {
        let bytes = value.as_bytes();
        let version = hex_field(bytes, 0, 2)?;
        let valid_length = match version {
            0xff => false,
            0x00 => bytes.len() == TRACEPARENT_LEN,
            _ => bytes.len() == TRACEPARENT_LEN || bytes.get(TRACEPARENT_LEN) == Some(&b'-'),
        };
        let dashes = [2, 35, 52].iter().all(|&at| bytes.get(at) == Some(&b'-'));
        if !valid_length || !dashes {
            return None;
        }
        let trace_id = hex_field(bytes, 3, 32)?;
        let span_id = u64::try_from(hex_field(bytes, 36, 16)?).ok()?;
        let flags = u8::try_from(hex_field(bytes, 53, 2)?).ok()?;
        Self::new(trace_id, span_id, flags)
    }

    /// Whether the caller records this trace.
    pub fn is_sampled(&self) -> bool {
        self.flags & Self::SAMPLED != 0
    }

    /// The trace id as 32 lower-case hex digits.
    pub fn trace_id_hex(&self) -> String {
        format!("{:032x}", self.trace_id)
    }

    /// The span id as 16 lower-case hex digits.
    pub fn span_id_hex(&self) -> String {
        format!("{:016x}", self.span_id)
    }
}

impl fmt::Display for TraceParent {
    /// Writes version `00`, the only version this side sends.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "00-{:032x}-{:016x}-{:02x}",
            self.trace_id, self.span_id, self.flags
        )
    }
}

/// `len` lower-case hex digits at `at`, as a number; `None` past the end or for any other
/// character.
fn hex_field(bytes: &[u8], at: usize, len: usize) -> Option<u128> {
    let field = bytes.get(at..at.checked_add(len)?)?;
    field.iter().try_fold(0u128, |value, &b| {
        let digit = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            _ => return None,
        };
        Some(value << 4 | u128::from(digit))
    })
}

/// Whether a `tracestate` may be passed on: at most [`TRACESTATE_LEN_MAX_BYTES`] bytes and
/// [`TRACESTATE_MEMBERS_MAX`] members, each `key=value` with printable ASCII. A value that
/// fails is dropped (the specification lets a vendor drop what it cannot propagate).
pub fn tracestate_is_valid(value: &str) -> bool {
    if value.len() > TRACESTATE_LEN_MAX_BYTES {
        return false;
    }
    let members: Vec<&str> = value
        .split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .collect();
    members.len() <= TRACESTATE_MEMBERS_MAX
        && members.iter().all(|member| {
            member.split_once('=').is_some_and(|(key, val)| {
                !key.is_empty()
                    && !val.is_empty()
                    && member
                        .bytes()
                        .all(|b| (0x20..=0x7e).contains(&b) && b != b',')
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn the_specification_example_round_trips() {
        let parent = TraceParent::parse(EXAMPLE).expect("valid");
        assert_eq!(parent.trace_id, 0x4bf92f3577b34da6a3ce929d0e0e4736);
        assert_eq!(parent.span_id, 0x00f067aa0ba902b7);
        assert_eq!(parent.flags, 1);
        assert!(parent.is_sampled());
        assert_eq!(parent.to_string(), EXAMPLE);
        assert_eq!(parent.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(parent.span_id_hex(), "00f067aa0ba902b7");
    }

    #[test]
    fn leading_zeros_are_written_in_full() {
        let parent = TraceParent::new(1, 2, 0).unwrap();
        assert_eq!(
            parent.to_string(),
            "00-00000000000000000000000000000001-0000000000000002-00"
        );
        assert_eq!(TraceParent::parse(&parent.to_string()), Some(parent));
    }

    #[test]
    fn invalid_values_are_ignored() {
        let invalid = [
            "",
            "00",
            // Upper case.
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",
            // Version ff.
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            // All-zero ids.
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            // Version 00 with extra fields, wrong lengths, wrong separators.
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-xx",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
            // A later version must separate what it appends.
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
            // Non-ASCII where a digit should be.
            "00-4bf92f3577b34da6a3ce929d0e0e473é-00f067aa0ba902b7-01",
        ];
        for value in invalid {
            assert_eq!(TraceParent::parse(value), None, "{value:?}");
        }
    }

    #[test]
    fn later_versions_are_read_as_far_as_version_00_goes() {
        let later = "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future";
        let parent = TraceParent::parse(later).expect("valid");
        assert_eq!(parent.to_string(), EXAMPLE);
        let exact = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
        assert!(!TraceParent::parse(exact).unwrap().is_sampled());
    }

    #[test]
    fn children_keep_the_trace_and_get_a_new_span() {
        let mut rng = fastrand::Rng::with_seed(9);
        let root = TraceParent::new_root(&mut rng);
        assert!(root.trace_id != 0 && root.span_id != 0 && root.is_sampled());
        let child = root.child(&mut rng);
        assert_eq!((child.trace_id, child.flags), (root.trace_id, root.flags));
        assert_ne!(child.span_id, root.span_id);
    }

    #[test]
    fn tracestate_bounds() {
        assert!(tracestate_is_valid(
            "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"
        ));
        assert!(tracestate_is_valid(""));
        assert!(!tracestate_is_valid("novalue"));
        assert!(!tracestate_is_valid("k=v\u{7f}"));
        let many: Vec<String> = (0..33).map(|i| format!("k{i}=v")).collect();
        assert!(!tracestate_is_valid(&many.join(",")));
        assert!(tracestate_is_valid(&many[..32].join(",")));
        let long = format!("k={}", "v".repeat(TRACESTATE_LEN_MAX_BYTES));
        assert!(!tracestate_is_valid(&long));
    }
}
