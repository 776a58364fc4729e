//! The connections of a shard by [`ConnId`]: a slab whose keys are reused with a new
//! generation, so a completion or wake-up for a connection that is gone finds nothing.

use super::conn::ConnSlot;
use super::executor::ConnId;
use super::ops;

/// The shard's connections by [`ConnId`]: a slab whose keys are reused with a new generation.
#[derive(Default)]
pub(super) struct Slots {
    pub(super) slots: Vec<Option<ConnSlot>>,
    generations: Vec<u32>,
    free: Vec<u32>,
    len: usize,
}

impl Slots {
    pub(super) fn get_mut(&mut self, id: ConnId) -> Option<&mut ConnSlot> {
        if self.generations.get(id.key as usize) != Some(&id.generation) {
            return None;
        }
        self.slots.get_mut(id.key as usize)?.as_mut()
    }

    /// The id the next connection gets (fill it with [`Slots::fill`]).
    pub(super) fn vacant(&mut self) -> ConnId {
        let key = self.free.pop().unwrap_or_else(|| {
            self.slots.push(None);
            self.generations.push(0);
            (self.slots.len() - 1) as u32
        });
        ConnId {
            key,
            generation: self.generations[key as usize],
        }
    }

    pub(super) fn fill(&mut self, id: ConnId, slot: ConnSlot) {
        debug_assert!(self.slots[id.key as usize].is_none());
        self.slots[id.key as usize] = Some(slot);
        self.len += 1;
    }

    pub(super) fn remove(&mut self, id: ConnId) -> bool {
        if self.get_mut(id).is_none() {
            return false;
        }
        let key = id.key as usize;
        self.slots[key] = None;
        self.generations[key] = ops::next_generation(self.generations[key]);
        self.free.push(id.key);
        self.len -= 1;
        true
    }

    pub(super) fn iter_mut(&mut self) -> impl Iterator<Item = &mut ConnSlot> {
        self.slots.iter_mut().flatten()
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }
}
