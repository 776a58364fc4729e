//! The pending table: seq → waiter for every call sent and not yet answered, with the
//! deadlines of those that have one.
//!
//! Deadlines sit in a min-heap that is cleaned lazily: completing or cancelling a call
//! leaves its heap entry behind, and entries whose seq is no longer pending are skipped
//! when they reach the top (a seq is never reused, so this is exact). The heap is rebuilt
//! when stale entries outnumber live ones, so it stays proportional to what is in flight.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::time::Instant;

/// A call waiting for its reply.
#[derive(Debug)]
pub(crate) struct Entry<W> {
    pub waiter: W,
    pub deadline: Option<Instant>,
    /// The timeout the deadline stands for, for the error message.
    pub timeout_ms: u64,
}

#[derive(Debug)]
pub(crate) struct Pending<W> {
    calls: HashMap<u64, Entry<W>, BuildHasherDefault<SeqHasher>>,
    deadlines: BinaryHeap<Reverse<(Instant, u64)>>,
}

impl<W> Default for Pending<W> {
    fn default() -> Self {
        Self {
            calls: HashMap::default(),
            deadlines: BinaryHeap::new(),
        }
    }
}

/// Rebuild the heap when it holds more than this many entries beyond twice the live ones.
const STALE_SLACK: usize = 1024;

impl<W> Pending<W> {
    pub fn len(&self) -> usize {
        self.calls.len()
    }

    pub fn insert(&mut self, seq: u64, entry: Entry<W>) {
        if let Some(deadline) = entry.deadline {
            self.deadlines.push(Reverse((deadline, seq)));
        }
        let previous = self.calls.insert(seq, entry);
        // Seqs come from a u64 counter and are never reused on one connection.
        debug_assert!(previous.is_none(), "seq {seq} reused");
        if self.deadlines.len() > 2 * self.calls.len() + STALE_SLACK {
            let calls = &self.calls;
            self.deadlines
                .retain(|Reverse((_, seq))| calls.contains_key(seq));
        }
    }

    pub fn contains(&self, seq: u64) -> bool {
        self.calls.contains_key(&seq)
    }

    pub fn remove(&mut self, seq: u64) -> Option<Entry<W>> {
        self.calls.remove(&seq)
    }

    /// The earliest deadline of a call still pending.
    pub fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(Reverse((deadline, seq))) = self.deadlines.peek() {
            if self.calls.contains_key(seq) {
                return Some(*deadline);
            }
            self.deadlines.pop();
        }
        None
    }

    /// Removes and returns one call whose deadline is at or before `now`.
    pub fn pop_expired(&mut self, now: Instant) -> Option<Entry<W>> {
        while let Some(Reverse((deadline, seq))) = self.deadlines.peek().copied() {
            if deadline > now {
                return None;
            }
            self.deadlines.pop();
            if let Some(entry) = self.calls.remove(&seq) {
                return Some(entry);
            }
        }
        None
    }

    /// Removes every call.
    pub fn drain(&mut self) -> impl Iterator<Item = Entry<W>> + '_ {
        self.deadlines.clear();
        self.calls.drain().map(|(_, entry)| entry)
    }
}

/// A hasher for seqs: one multiply (Fibonacci hashing). Seqs are sequential counters, not
/// attacker-chosen keys (a server only picks which of our seqs to answer), so SipHash's
/// flood resistance buys nothing here.
#[derive(Default)]
pub(crate) struct SeqHasher(u64);

impl Hasher for SeqHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u64(self.0.rotate_left(8) ^ u64::from(byte));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn entry(id: u32, deadline: Option<Instant>) -> Entry<u32> {
        Entry {
            waiter: id,
            deadline,
            timeout_ms: 0,
        }
    }

    #[test]
    fn expires_in_deadline_order_and_skips_finished_calls() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut pending = Pending::default();
        pending.insert(0, entry(0, Some(t0 + ms(30))));
        pending.insert(1, entry(1, Some(t0 + ms(10))));
        pending.insert(2, entry(2, None));
        pending.insert(3, entry(3, Some(t0 + ms(20))));
        assert_eq!(pending.next_deadline(), Some(t0 + ms(10)));

        assert_eq!(pending.remove(1).map(|e| e.waiter), Some(1));
        assert_eq!(
            pending.next_deadline(),
            Some(t0 + ms(20)),
            "finished call is skipped"
        );
        assert!(pending.pop_expired(t0 + ms(19)).is_none());
        assert_eq!(pending.pop_expired(t0 + ms(30)).map(|e| e.waiter), Some(3));
        assert_eq!(pending.pop_expired(t0 + ms(30)).map(|e| e.waiter), Some(0));
        assert!(pending.pop_expired(t0 + ms(1000)).is_none());
        assert_eq!(pending.len(), 1, "the call without deadline stays");
        assert_eq!(pending.next_deadline(), None);
    }

    #[test]
    fn stale_deadlines_do_not_pile_up() {
        let t0 = Instant::now();
        let mut pending = Pending::default();
        for seq in 0..100_000u64 {
            pending.insert(seq, entry(0, Some(t0 + Duration::from_secs(60))));
            pending.remove(seq);
        }
        assert!(
            pending.deadlines.len() <= STALE_SLACK + 1,
            "{}",
            pending.deadlines.len()
        );
    }
}
