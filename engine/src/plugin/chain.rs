//! [`Plugins`]: one shard's plugins in registration order, and the rules that call them
//! (first refusal wins, every before-hook paired with its after-hook). [`Watch`]: a started
//! request's pairing, carried by its call until it ends or is dropped.

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use ringrpc_codec::Frame;

use super::{
    ConnInfo, Handled, Incoming, Outgoing, OutgoingKind, Plugin, Refusal, Status, Verdict,
};
use crate::services::Services;

/// The plugins of one shard, called in the order they were registered. Built by
/// [`Services::plugin`]; read-only once the shard runs.
pub struct Plugins {
    list: Vec<Box<dyn Plugin>>,
    shard: usize,
    clock: fn() -> Instant,
}

impl Default for Plugins {
    fn default() -> Self {
        Self {
            list: Vec::new(),
            shard: 0,
            clock: Instant::now,
        }
    }
}

impl Plugins {
    pub(crate) fn for_shard(shard: usize) -> Self {
        Self {
            shard,
            ..Self::default()
        }
    }

    pub(crate) fn push(&mut self, plugin: Box<dyn Plugin>) {
        self.list.push(plugin);
    }

    /// Replaces the clock hooks are timed with (`Instant::now` by default): tests drive it.
    pub(crate) fn set_clock(&mut self, clock: fn() -> Instant) {
        self.clock = clock;
    }

    /// Whether no plugin is registered: then no hook point does anything.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// How many plugins are registered.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub(crate) fn now(&self) -> Instant {
        (self.clock)()
    }

    fn conn(&self, peer: Option<SocketAddr>) -> ConnInfo {
        ConnInfo {
            shard: self.shard,
            peer,
            now: self.now(),
        }
    }

    /// `on_accept` in order until one refuses; the plugins that had passed it (and the
    /// refuser) hear `on_close` with the refusal.
    pub(crate) fn accept(&self, peer: Option<SocketAddr>) -> Result<(), Refusal> {
        let conn = self.conn(peer);
        for (i, plugin) in self.list.iter().enumerate() {
            if let Err(refusal) = plugin.on_accept(&conn) {
                for earlier in &self.list[..=i] {
                    earlier.on_close(&conn, Some(&refusal));
                }
                return Err(refusal);
            }
        }
        Ok(())
    }

    /// A connection every `on_accept` passed is gone (or refused afterwards, `refused`).
    pub(crate) fn close(&self, peer: Option<SocketAddr>, refused: Option<&Refusal>) {
        let conn = self.conn(peer);
        for plugin in &self.list {
            plugin.on_close(&conn, refused);
        }
    }

    /// `before_handle` in order until one refuses; a refusal comes back with the count of
    /// plugins that saw the request (the refuser included), for [`Plugins::refused`].
    pub(crate) fn before_handle<'a>(
        &'a self,
        request: &mut Incoming<'a>,
    ) -> Result<(), (Refusal, usize)> {
        for (i, plugin) in self.list.iter().enumerate() {
            if let Err(refusal) = plugin.before_handle(request) {
                return Err((refusal, i + 1));
            }
        }
        Ok(())
    }

    /// A request refused by `before_handle` was answered: the `seen` plugins that saw it
    /// hear `after_handle` with [`Status::Refused`].
    pub(crate) fn refused(&self, frame: &Frame, refusal: &Refusal, seen: usize) {
        let handled = Handled {
            frame,
            status: Status::Refused(refusal.limit()),
            duration: Duration::ZERO,
            shard: self.shard,
        };
        for plugin in self.list.iter().take(seen) {
            plugin.after_handle(&handled);
        }
    }

    fn after_handle(&self, frame: &Frame, status: Status, started: Instant) {
        let handled = Handled {
            frame,
            status,
            duration: self.now().saturating_duration_since(started),
            shard: self.shard,
        };
        for plugin in &self.list {
            plugin.after_handle(&handled);
        }
    }

    /// An encoded reply or push is about to be sent: `before_write` in order until one
    /// refuses; what they decided.
    pub(crate) fn before_write(
        &self,
        kind: OutgoingKind,
        seq: u64,
        bytes: &[u8],
        http: bool,
    ) -> Verdict {
        let mut outgoing = Outgoing::new(kind, seq, bytes, http, self.shard);
        for plugin in &self.list {
            if let Err(refusal) = plugin.before_write(&mut outgoing) {
                return Verdict::Refuse(refusal);
            }
        }
        if outgoing.added.is_empty() {
            Verdict::Send
        } else {
            Verdict::Edit(outgoing.added)
        }
    }
}

impl std::fmt::Debug for Plugins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugins")
            .field("shard", &self.shard)
            .field("count", &self.list.len())
            .finish()
    }
}

/// A request every `before_handle` passed: exactly one `after_handle` follows, from
/// [`Watch::finish`] or, if the request is dropped unanswered, with [`Status::Dropped`].
pub(crate) struct Watch {
    services: Rc<Services>,
    frame: Frame,
    started: Instant,
    done: bool,
}

impl Watch {
    pub(crate) fn new(services: Rc<Services>, frame: Frame, started: Instant) -> Self {
        Self {
            services,
            frame,
            started,
            done: false,
        }
    }

    pub(crate) fn plugins(&self) -> &Plugins {
        self.services.plugins()
    }

    /// The request ended with `status`.
    pub(crate) fn finish(mut self, status: Status) {
        self.done = true;
        self.plugins()
            .after_handle(&self.frame, status, self.started);
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if !self.done {
            self.plugins()
                .after_handle(&self.frame, Status::Dropped, self.started);
        }
    }
}
