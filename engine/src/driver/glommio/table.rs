//! The open connections of a glommio shard, by key: what the idle sweep and the drain walk
//! over, and what wakes the drain when a connection leaves.

use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use crate::conn::Link;
use std::time::Instant;

use crate::runtime::watch::ConnWatch;

#[derive(Default)]
pub(super) struct ConnTable {
    entries: Vec<Option<Entry>>,
    free: Vec<usize>,
    len: usize,
    /// A connection left since the drain last looked, and the drain's waker.
    removed: bool,
    drain_waker: Option<Waker>,
}

struct Entry {
    link: Rc<Link>,
    watch: ConnWatch,
}

impl ConnTable {
    pub fn insert(&mut self, link: Rc<Link>) -> usize {
        let entry = Some(Entry {
            watch: ConnWatch::new(&link),
            link,
        });
        self.len += 1;
        match self.free.pop() {
            Some(key) => {
                self.entries[key] = entry;
                key
            }
            None => {
                self.entries.push(entry);
                self.entries.len() - 1
            }
        }
    }

    pub fn remove(&mut self, key: usize) {
        if let Some(slot) = self.entries.get_mut(key) {
            if slot.take().is_some() {
                self.len -= 1;
                self.free.push(key);
                self.removed = true;
                self.drain_waker.take().into_iter().for_each(Waker::wake);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn links(&self) -> Vec<Rc<Link>> {
        self.entries
            .iter()
            .flatten()
            .map(|entry| entry.link.clone())
            .collect()
    }

    /// One sweep over every connection at `now` (`ConnWatch`).
    pub fn sweep(&mut self, now: Instant) {
        for entry in self.entries.iter_mut().flatten() {
            entry.watch.sweep(&entry.link, now);
        }
    }

    /// Ready once a connection left since the last `Ready`.
    pub fn poll_removed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if std::mem::take(&mut self.removed) {
            return Poll::Ready(());
        }
        self.drain_waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_reused_and_len_tracks_inserts() {
        let mut table = ConnTable::default();
        let a = table.insert(Link::detached());
        let b = table.insert(Link::detached());
        assert_eq!(table.len(), 2);
        table.remove(a);
        table.remove(a);
        assert_eq!(table.len(), 1);
        let c = table.insert(Link::detached());
        assert_eq!(c, a);
        assert_ne!(b, c);
        assert_eq!(table.links().len(), 2);
        let mut cx = Context::from_waker(Waker::noop());
        assert!(table.poll_removed(&mut cx).is_ready(), "a removal happened");
        assert!(table.poll_removed(&mut cx).is_pending());
        table.remove(b);
        assert!(table.poll_removed(&mut cx).is_ready());
    }
}
