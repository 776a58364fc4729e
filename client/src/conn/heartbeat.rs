//! Heartbeats as rpcx-go sends them (PROTOCOL.md §6.6, §14 (d)): empty service path and
//! method, the heartbeat bit, serialize type MsgPack, and the current time as a MsgPack
//! int64 of nanoseconds since the Unix epoch (`d3` + 8 bytes). The server echoes the frame.
//!
//! Every `interval` a heartbeat is due. If the previous one has had no reply by then, that
//! is a miss; `misses_max` misses in a row fail the connection. Any heartbeat reply resets
//! the count.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// MsgPack's marker for a full-width int64, which Go writes for `int64`.
const MSGPACK_INT64: u8 = 0xd3;

/// Payload of a heartbeat: a MsgPack int64.
pub(crate) type HeartbeatPayload = [u8; 9];

/// What is due when the heartbeat timer fires.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Due {
    Nothing,
    Send(HeartbeatPayload),
    Fail { misses: u32 },
}

#[derive(Debug)]
pub(crate) struct Heartbeat {
    interval: Duration,
    misses_max: u32,
    /// When the next heartbeat is due; `None` once the interval no longer fits the clock.
    next_at: Option<Instant>,
    /// Sent and unanswered: seq and payload, oldest first.
    outstanding: VecDeque<(u64, HeartbeatPayload)>,
    misses: u32,
    pub sent: u64,
    pub answered: u64,
}

impl Heartbeat {
    /// `None` if `interval` is beyond the clock's range (`Duration::MAX`): no heartbeat.
    pub fn new(interval: Duration, misses_max: u32, now: Instant) -> Option<Self> {
        Some(Self {
            interval,
            misses_max: misses_max.max(1),
            next_at: Some(now.checked_add(interval)?),
            outstanding: VecDeque::new(),
            misses: 0,
            sent: 0,
            answered: 0,
        })
    }

    pub fn next_at(&self) -> Option<Instant> {
        self.next_at
    }

    /// Whether `seq` is a heartbeat of ours still waiting for its echo.
    pub fn is_outstanding(&self, seq: u64) -> bool {
        self.outstanding.iter().any(|(s, _)| *s == seq)
    }

    pub fn misses(&self) -> u32 {
        self.misses
    }

    /// Decides what the timer firing at `now` means. `unix_nanos` is the wall-clock time of
    /// `now`, which goes into the payload.
    pub fn poll_due(&mut self, now: Instant, unix_nanos: i64) -> Due {
        if self.next_at.is_none_or(|at| now < at) {
            return Due::Nothing;
        }
        if !self.outstanding.is_empty() {
            self.misses += 1;
            if self.misses >= self.misses_max {
                return Due::Fail {
                    misses: self.misses,
                };
            }
        }
        self.next_at = now.checked_add(self.interval);
        let mut payload = [0u8; 9];
        payload[0] = MSGPACK_INT64;
        payload[1..].copy_from_slice(&unix_nanos.to_be_bytes());
        Due::Send(payload)
    }

    /// Records the heartbeat just queued with `seq`.
    pub fn handle_sent(&mut self, seq: u64, payload: HeartbeatPayload) {
        if self.outstanding.len() >= self.misses_max as usize {
            self.outstanding.pop_front();
        }
        self.outstanding.push_back((seq, payload));
        self.sent += 1;
    }

    /// Takes a frame with the heartbeat bit. Returns false if it answers none of ours.
    pub fn handle_reply(&mut self, seq: u64, payload: &[u8]) -> bool {
        let Some(at) = self.outstanding.iter().position(|(s, _)| *s == seq) else {
            return false;
        };
        let (_, sent) = self.outstanding[at];
        if payload != sent {
            // rpcx-go only logs a mismatching echo; the server is alive all the same.
            tracing::debug!(seq, "heartbeat echo differs from what was sent");
        }
        self.outstanding.drain(..=at);
        self.misses = 0;
        self.answered += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn payload_is_go_msgpack_int64() {
        let t0 = Instant::now();
        let mut hb = Heartbeat::new(10 * MS, 3, t0).unwrap();
        assert_eq!(hb.poll_due(t0 + 9 * MS, 0), Due::Nothing);
        // PROTOCOL.md §14 (d): 1700000000000000000 ns.
        let Due::Send(payload) = hb.poll_due(t0 + 10 * MS, 1_700_000_000_000_000_000) else {
            panic!("a heartbeat is due");
        };
        assert_eq!(
            payload,
            [0xd3, 0x17, 0x97, 0x9c, 0xfe, 0x36, 0x2a, 0x00, 0x00]
        );
        assert_eq!(hb.next_at(), Some(t0 + 20 * MS));
    }

    #[test]
    fn fails_after_misses_in_a_row_and_a_reply_resets() {
        let t0 = Instant::now();
        let mut hb = Heartbeat::new(10 * MS, 2, t0).unwrap();
        let mut at = t0;
        let mut send = |hb: &mut Heartbeat, seq| {
            at += 10 * MS;
            match hb.poll_due(at, seq as i64) {
                Due::Send(payload) => {
                    hb.handle_sent(seq, payload);
                    payload
                }
                other => panic!("expected a send, got {other:?}"),
            }
        };
        let first = send(&mut hb, 1);
        let _second = send(&mut hb, 2); // first unanswered: one miss
        assert_eq!(hb.misses(), 1);
        assert!(
            hb.handle_reply(1, &first),
            "a late reply still proves liveness"
        );
        assert_eq!(hb.misses(), 0);
        assert!(!hb.handle_reply(99, &first), "not one of ours");
        let _third = send(&mut hb, 3); // second unanswered: one miss
        assert_eq!(hb.poll_due(t0 + 40 * MS, 0), Due::Fail { misses: 2 });
    }
}
