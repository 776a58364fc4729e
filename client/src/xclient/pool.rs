//! The XClient's connections: one cached connection per server, and the dials in progress
//! (a second call to a server being dialled waits for that dial instead of dialling too).
//! Plain state; the XClient performs the dials.

use std::collections::HashMap;
use std::task::Waker;

/// What a call finds for a server.
pub(super) enum Lookup<C> {
    /// A usable cached connection.
    Ready(C),
    /// No connection and no dial: the caller dials (it now owns the dial).
    Dial,
    /// Another call is dialling: wait for it.
    Wait,
}

pub(super) struct Pool<C> {
    conns: HashMap<String, C>,
    /// Servers being dialled, with the calls waiting for the dial.
    dialing: HashMap<String, Vec<Waker>>,
}

impl<C> Default for Pool<C> {
    fn default() -> Self {
        Self {
            conns: HashMap::new(),
            dialing: HashMap::new(),
        }
    }
}

impl<C: Clone> Pool<C> {
    /// The connection to `key` if it is `usable` (an unusable one is dropped); otherwise
    /// whether to dial or wait for the dial in progress.
    pub(super) fn lookup(&mut self, key: &str, usable: impl Fn(&C) -> bool) -> Lookup<C> {
        match self.conns.get(key) {
            Some(conn) if usable(conn) => return Lookup::Ready(conn.clone()),
            Some(_) => drop(self.conns.remove(key)),
            None => {}
        }
        if self.dialing.contains_key(key) {
            return Lookup::Wait;
        }
        self.dialing.insert(key.to_owned(), Vec::new());
        Lookup::Dial
    }

    /// Parks `waker` on the dial to `key`; `false` if that dial is over.
    pub(super) fn wait_dial(&mut self, key: &str, waker: &Waker) -> bool {
        match self.dialing.get_mut(key) {
            Some(waiters) => {
                waiters.push(waker.clone());
                true
            }
            None => false,
        }
    }

    /// The dial to `key` is over: the calls waiting for it, to wake.
    pub(super) fn end_dial(&mut self, key: &str) -> Vec<Waker> {
        self.dialing.remove(key).unwrap_or_default()
    }

    pub(super) fn insert(&mut self, key: &str, conn: C) {
        self.conns.insert(key.to_owned(), conn);
    }

    /// Drops the connection to `key` (it failed): the next call dials again.
    pub(super) fn remove(&mut self, key: &str) {
        self.conns.remove(key);
    }
}
