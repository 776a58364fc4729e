//! A dispatched request ([`Call`]) and its result ([`Completion`]).

use std::task::{Context, Poll};
use std::time::Instant;

use ringrpc_codec::payload::SerializeType;
use ringrpc_codec::Frame;

use crate::inflight::InFlight;

/// A request whose handler has started. The driver polls it (once inline, then wherever it
/// likes), enforces its deadline, and turns it into a [`Completion`].
pub struct Call {
    pub(super) reply_to: Frame,
    pub(super) serialize_type: SerializeType,
    pub(super) slot: Box<dyn InFlight>,
    pub(super) deadline: Option<Instant>,
    pub(super) span: tracing::Span,
}

impl Call {
    /// When the handler must be finished (`__ServerTimeout`), if the client set one.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    pub fn seq(&self) -> u64 {
        self.reply_to.seq()
    }

    /// Polls the handler inside the request's span.
    pub fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let _entered = self.span.enter();
        self.slot.poll(cx)
    }

    /// The handler finished (`poll` returned `Ready`).
    pub fn finish(self) -> Completion {
        Completion {
            call: self,
            expired: false,
        }
    }

    /// The deadline passed first: the handler is dropped and the client gets an error.
    pub fn expire(mut self) -> Completion {
        self.slot.cancel();
        tracing::debug!(parent: &self.span, "deadline exceeded; handler dropped");
        Completion {
            call: self,
            expired: true,
        }
    }
}

impl std::fmt::Debug for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Call")
            .field("seq", &self.reply_to.seq())
            .field("service_path", &self.reply_to.service_path())
            .field("service_method", &self.reply_to.service_method())
            .field("deadline", &self.deadline)
            .finish()
    }
}

/// A finished (or expired) call, ready to be encoded as a reply.
pub struct Completion {
    pub(super) call: Call,
    pub(super) expired: bool,
}

impl Completion {
    pub fn seq(&self) -> u64 {
        self.call.seq()
    }

    pub fn is_expired(&self) -> bool {
        self.expired
    }
}

impl std::fmt::Debug for Completion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Completion")
            .field("call", &self.call)
            .field("expired", &self.expired)
            .finish()
    }
}
