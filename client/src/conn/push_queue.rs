//! The server pushes a connection keeps until they are read, bounded in count and in bytes
//! (`ClientOptions::push_queue_max`, `push_queue_max_bytes`).
//!
//! A push is counted as the bytes it holds: its frame as received plus, for a gzip'ed one,
//! the inflated payload. Queued pushes own their allocation (the reader copies them out of
//! the receive buffer), so what is counted is what is held: a small queued push never pins
//! a large receive buffer.

use std::collections::VecDeque;

use ringrpc_codec::{CompressType, Frame};

use crate::message::Push;

#[derive(Debug)]
pub(crate) struct PushQueue {
    pushes: VecDeque<(Push, usize)>,
    bytes: usize,
    max_count: usize,
    max_bytes: usize,
}

/// The bytes a received push holds: its frame, plus its payload when it was inflated into
/// an allocation of its own.
pub(crate) fn held_bytes(frame: &Frame) -> usize {
    let inflated = match frame.header().compress_type() {
        Ok(CompressType::Gzip) => frame.payload().len(),
        _ => 0,
    };
    frame.as_bytes().len() + inflated
}

impl PushQueue {
    pub fn new(max_count: usize, max_bytes: usize) -> Self {
        Self {
            pushes: VecDeque::new(),
            bytes: 0,
            max_count,
            max_bytes,
        }
    }

    /// The bytes one more push may hold; `None` when the queue is full by count.
    pub fn room_bytes(&self) -> Option<usize> {
        (self.pushes.len() < self.max_count).then(|| self.max_bytes - self.bytes)
    }

    /// Queues `push` if it fits; returns whether it did.
    pub fn push(&mut self, push: Push) -> bool {
        let bytes = held_bytes(push.frame());
        if self.room_bytes().is_none_or(|room| bytes > room) {
            return false;
        }
        self.bytes += bytes;
        self.pushes.push_back((push, bytes));
        true
    }

    pub fn pop(&mut self) -> Option<Push> {
        let (push, bytes) = self.pushes.pop_front()?;
        self.bytes -= bytes;
        Some(push)
    }

    pub fn drain(&mut self) -> Vec<Push> {
        self.bytes = 0;
        self.pushes.drain(..).map(|(push, _)| push).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.pushes.is_empty()
    }

    /// Bytes the queued pushes hold.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}
