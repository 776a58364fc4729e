//! The open connections of a shard, by key: what the idle sweep and the drain walk over.

use std::rc::Rc;

use crate::conn::{Control, Link};

#[derive(Default)]
pub(super) struct ConnTable {
    entries: Vec<Option<Entry>>,
    free: Vec<usize>,
    len: usize,
}

struct Entry {
    link: Rc<Link>,
    /// The link's activity count at the previous sweep.
    seen: u64,
}

impl ConnTable {
    pub fn insert(&mut self, link: Rc<Link>) -> usize {
        let entry = Some(Entry {
            seen: link.activity(),
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

    /// Asks every connection that received nothing since the previous sweep to close if it
    /// is idle (the connection itself knows whether requests are in flight).
    pub fn sweep_idle(&mut self) {
        for entry in self.entries.iter_mut().flatten() {
            let activity = entry.link.activity();
            if activity == entry.seen {
                entry.link.request(Control::IdleCheck);
            }
            entry.seen = activity;
        }
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
    }
}
