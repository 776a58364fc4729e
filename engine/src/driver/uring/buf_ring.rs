//! The provided-buffer ring of one shard: the receive buffers the kernel picks from.
//!
//! One [`BufRing`] per shard, registered once (`IORING_REGISTER_PBUF_RING`). Every multishot
//! recv of the shard names its buffer group; the kernel takes the next buffer from the ring,
//! fills it and reports its id in the completion. From then on the buffer belongs to user
//! space until [`BufRing::recycle`] (or [`BufRing::reclaim`], once the [`Bytes`] from
//! [`BufRing::hold`] are all dropped) puts it back at the ring's tail. A buffer that is never
//! put back is lost for good: once all are lost, every recv of the shard ends with `ENOBUFS`.
//! Hence the ownership rule, enforced by the types: [`BufRing::take`] turns a completion into
//! a [`Taken`], which is not `Clone` and must be consumed by exactly one of `recycle` or
//! `hold`.
//!
//! No allocation per received buffer: each buffer is a `BytesMut` made once, with its shared
//! header already allocated, that stays in its slot for the ring's whole life. Holding a
//! buffer splits the filled bytes off it as a frozen `Bytes` (a reference count, no
//! allocation); `reclaim` finds a held buffer free again when its slot is the only handle
//! left (`BytesMut::try_reclaim`, which rewinds it to the start of its memory without
//! allocating). Nothing calls back when a `Bytes` is dropped, so the shard looks: `reclaim`
//! walks the held ids (at most `count`, one atomic load each), and a shard whose recvs ran out
//! of buffers parks with a short timeout instead of waiting for a buffer to be dropped on
//! another thread (`shard.rs`).
//!
//! Memory: `count * size` bytes of buffers plus `16 * count` bytes of ring entries. A held
//! buffer's memory belongs to its `Bytes` as much as to its slot, so it stays valid even if
//! the shard ends first.
//!
//! This module holds all the unsafe code of buffer bookkeeping; its tests drive it without
//! io_uring, playing the kernel's part by hand.

use std::alloc::{self, Layout};
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicU16, Ordering};

use bytes::{Bytes, BytesMut};

/// The kernel's `struct io_uring_buf`. The `resv` field of entry 0 doubles as the ring's
/// tail, which the kernel reads concurrently, so entries are written field by field through
/// raw pointers and never through a reference to a whole entry.
#[repr(C)]
struct RawEntry {
    addr: u64,
    len: u32,
    bid: u16,
    resv: u16,
}

const _: () = assert!(std::mem::size_of::<RawEntry>() == 16);
const _: () = assert!(std::mem::size_of::<io_uring::types::BufRingEntry>() == 16);

const PAGE: usize = 4096;

/// Why a completion's buffer could not be taken. Either means a bookkeeping bug or a kernel
/// that broke its contract; the shard treats it as fatal for the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum BufError {
    #[error("buffer id {bid} is out of range (ring of {count})")]
    OutOfRange { bid: u16, count: u16 },
    #[error("buffer id {bid} reported filled twice without being returned")]
    NotInRing { bid: u16 },
    #[error("{len} bytes reported in a buffer of {size}")]
    TooLong { len: usize, size: usize },
}

/// A buffer the kernel filled, owned by user space until consumed by [`BufRing::recycle`] or
/// [`BufRing::hold`].
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a taken buffer must go back to the ring (recycle or hold), or the ring runs dry"]
pub(crate) struct Taken {
    bid: u16,
    len: usize,
}

impl Taken {
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

/// A shard's provided-buffer ring. See the module docs.
pub(crate) struct BufRing {
    /// `slots[bid]`: the buffer's memory, empty and rewound to its start while the buffer
    /// is in the ring or taken; the rest of it (after the split-off bytes) while held.
    slots: Vec<BytesMut>,
    size: usize,
    entries: NonNull<RawEntry>,
    entries_layout: Layout,
    count: u16,
    /// Our copy of the tail; the kernel sees it after [`BufRing::publish`].
    tail: u16,
    published: u16,
    /// `in_user[bid]`: the buffer is out of the ring (taken or held).
    in_user: Vec<bool>,
    in_user_count: usize,
    /// Ids of held buffers, checked by [`BufRing::reclaim`].
    held: Vec<u16>,
}

impl BufRing {
    /// `count` buffers of `size` bytes, all in the ring. `count` must be a power of two
    /// (the kernel's rule) no larger than 32768; `size` is rounded up to a multiple of 64.
    pub(crate) fn new(count: u16, size: usize) -> Result<Self, String> {
        if !count.is_power_of_two() || count > 1 << 15 {
            return Err(format!(
                "the buffer count must be a power of two <= 32768, not {count}"
            ));
        }
        let size = size.max(64).next_multiple_of(64);
        if u32::try_from(size).is_err() {
            return Err(format!("buffer size {size} does not fit in 32 bits"));
        }
        usize::from(count)
            .checked_mul(size)
            .filter(|total| isize::try_from(*total).is_ok())
            .ok_or_else(|| format!("{count} buffers of {size} bytes overflow memory"))?;
        let entries_layout = Layout::array::<RawEntry>(usize::from(count))
            .and_then(|l| l.align_to(PAGE))
            .map_err(|e| e.to_string())?;
        // SAFETY: the layout has a non-zero size (count >= 1).
        let entries = unsafe { alloc::alloc_zeroed(entries_layout).cast::<RawEntry>() };
        let Some(entries) = NonNull::new(entries) else {
            return Err("cannot allocate the buffer ring entries".into());
        };
        let slots = (0..count).map(|_| new_slot(size)).collect();
        let mut ring = Self {
            slots,
            size,
            entries,
            entries_layout,
            count,
            tail: 0,
            published: 0,
            in_user: vec![false; count.into()],
            in_user_count: 0,
            held: Vec::with_capacity(count.into()),
        };
        for bid in 0..count {
            ring.put_back(bid);
        }
        ring.publish();
        Ok(ring)
    }

    /// Address of the ring entries, for `IORING_REGISTER_PBUF_RING`.
    pub(crate) fn ring_addr(&self) -> u64 {
        self.entries.as_ptr() as u64
    }

    pub(crate) fn count(&self) -> u16 {
        self.count
    }

    #[cfg(test)]
    pub(crate) fn buffer_size(&self) -> usize {
        self.size
    }

    /// Buffers the kernel can fill now (counting those put back but not yet published).
    pub(crate) fn available(&self) -> usize {
        usize::from(self.count) - self.in_user_count
    }

    /// Claims the buffer a completion reported (`bid` from the CQE flags, `len` = its result).
    pub(crate) fn take(&mut self, bid: u16, len: usize) -> Result<Taken, BufError> {
        let Some(in_user) = self.in_user.get_mut(usize::from(bid)) else {
            return Err(BufError::OutOfRange {
                bid,
                count: self.count,
            });
        };
        if *in_user {
            return Err(BufError::NotInRing { bid });
        }
        if len > self.size {
            return Err(BufError::TooLong {
                len,
                size: self.size,
            });
        }
        *in_user = true;
        self.in_user_count += 1;
        Ok(Taken { bid, len })
    }

    /// The bytes of a taken buffer, to parse or copy before recycling it.
    pub(crate) fn data(&self, taken: &Taken) -> &[u8] {
        let slot = &self.slots[usize::from(taken.bid)];
        debug_assert!(slot.is_empty() && slot.capacity() >= taken.len);
        // SAFETY: `taken` came from `take`, which checked bid and len (<= size <= the slot's
        // capacity: the slot is rewound whenever its buffer is in the ring) and marked the
        // buffer as owned by user space. The kernel wrote those `len` bytes at the slot's
        // start, where the ring entry pointed (`put_back`), so they are initialized. The
        // buffer goes back to the ring only when `taken` is consumed, which the borrow of
        // `taken` prevents while this slice lives.
        unsafe { std::slice::from_raw_parts(slot.as_ptr(), taken.len) }
    }

    /// Puts a buffer back at once (its bytes were parsed or copied).
    pub(crate) fn recycle(&mut self, taken: Taken) {
        self.return_owned(taken.bid);
    }

    /// Turns a buffer into `Bytes` that keep it out of the ring until their last clone is
    /// dropped (on any thread); [`BufRing::reclaim`] then puts it back. Allocates nothing.
    pub(crate) fn hold(&mut self, taken: Taken) -> Bytes {
        let slot = &mut self.slots[usize::from(taken.bid)];
        debug_assert!(slot.is_empty() && slot.capacity() >= taken.len);
        // SAFETY: as in `data`: the kernel initialized the first `taken.len` bytes of the
        // slot's memory, and `take` checked `taken.len <= size <= capacity`.
        unsafe { slot.set_len(taken.len) };
        self.held.push(taken.bid);
        slot.split().freeze()
    }

    /// Puts back every held buffer whose `Bytes` are all gone. Returns how many.
    pub(crate) fn reclaim(&mut self) -> usize {
        let mut n = 0;
        let mut i = 0;
        while let Some(&bid) = self.held.get(i) {
            let slot = &mut self.slots[usize::from(bid)];
            // True only if no `Bytes` shares the slot's memory any more; then the slot is
            // rewound (no allocation: `try_reclaim` never allocates).
            if slot.try_reclaim(self.size) && slot.capacity() >= self.size {
                self.held.swap_remove(i);
                self.return_owned(bid);
                n += 1;
            } else {
                i += 1;
            }
        }
        n
    }

    /// Whether some buffers are held (a `Bytes` of theirs may be dropped at any time).
    pub(crate) fn has_held(&self) -> bool {
        !self.held.is_empty()
    }

    /// Makes the buffers put back since the last call visible to the kernel.
    pub(crate) fn publish(&mut self) {
        if self.published == self.tail {
            return;
        }
        // SAFETY: `entries` points to `count >= 1` entries we allocated, and the tail word is
        // the `resv` field of entry 0 (the kernel's `struct io_uring_buf_ring` layout). It is
        // 2-byte aligned inside a page-aligned allocation. The kernel reads it with an acquire
        // load, so this release store publishes the entries written before it.
        let tail = unsafe { AtomicU16::from_ptr(ptr::addr_of_mut!((*self.entries.as_ptr()).resv)) };
        tail.store(self.tail, Ordering::Release);
        self.published = self.tail;
    }

    fn return_owned(&mut self, bid: u16) {
        let slot = self.in_user.get_mut(usize::from(bid));
        debug_assert!(
            slot.as_deref() == Some(&true),
            "buffer {bid} returned while in the ring"
        );
        if let Some(in_user) = slot.filter(|in_user| **in_user) {
            *in_user = false;
            self.in_user_count -= 1;
            self.put_back(bid);
        }
    }

    /// Writes the entry for `bid` at the tail. The caller checked `bid` was out of the ring,
    /// so at most `count` entries are ever pending and the kernel's unread ones are never
    /// overwritten.
    fn put_back(&mut self, bid: u16) {
        let index = usize::from(self.tail & (self.count - 1));
        let slot = &mut self.slots[usize::from(bid)];
        debug_assert!(slot.is_empty() && slot.capacity() >= self.size);
        // The kernel writes here, into the slot's spare capacity, which no `Bytes` shares
        // (the slot was unique when it was rewound, or never held since).
        let addr = slot.as_mut_ptr() as u64;
        // Checked to fit in `new`.
        let len = self.size as u32;
        // SAFETY: `index < count`, so the entry is inside the allocation. The kernel does not
        // read this entry until the tail is published past it, and it already consumed the
        // entry that was here before: at most `count` buffers are in the ring and this one
        // was not. The fields are written through raw pointers so entry 0's tail is not
        // touched.
        unsafe {
            let entry = self.entries.as_ptr().add(index);
            ptr::addr_of_mut!((*entry).addr).write(addr);
            ptr::addr_of_mut!((*entry).len).write(len);
            ptr::addr_of_mut!((*entry).bid).write(bid);
        }
        self.tail = self.tail.wrapping_add(1);
    }
}

/// One buffer's memory, `size` bytes, with its shared header allocated now (the first
/// split promotes a `BytesMut` to shared), so holding it later allocates nothing.
fn new_slot(size: usize) -> BytesMut {
    let mut slot = BytesMut::with_capacity(size);
    drop(slot.split());
    slot
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // The shard drops its io_uring before its buffer ring (field order), so the kernel no
        // longer reads the entries. Buffer memory lives on in the `Bytes` that hold it.
        // SAFETY: allocated with exactly this layout in `new`, freed once, here.
        unsafe { alloc::dealloc(self.entries.as_ptr().cast(), self.entries_layout) }
    }
}

impl std::fmt::Debug for BufRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BufRing")
            .field("count", &self.count)
            .field("size", &self.size)
            .field("available", &self.available())
            .field("held", &self.held.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Plays the kernel: reads the entry at `head` and "fills" its buffer with `bytes`.
    fn kernel_fill(ring: &BufRing, head: u16, bytes: &[u8]) -> u16 {
        let index = usize::from(head & (ring.count - 1));
        // SAFETY: (test) reading entries we wrote; the test is single-threaded.
        let (addr, len, bid) = unsafe {
            let entry = ring.entries.as_ptr().add(index);
            ((*entry).addr, (*entry).len, (*entry).bid)
        };
        assert_eq!(len as usize, ring.buffer_size());
        assert!(bytes.len() <= len as usize);
        // SAFETY: (test) the entry names a buffer inside the pool, in the ring.
        unsafe { ptr::copy_nonoverlapping(bytes.as_ptr(), addr as *mut u8, bytes.len()) };
        bid
    }

    fn tail(ring: &BufRing) -> u16 {
        // SAFETY: (test) entry 0 exists; single-threaded.
        unsafe { (*ring.entries.as_ptr()).resv }
    }

    #[test]
    fn starts_full_and_publishes_every_buffer() {
        let ring = BufRing::new(8, 100).unwrap();
        assert_eq!(ring.buffer_size(), 128);
        assert_eq!(ring.available(), 8);
        assert_eq!(tail(&ring), 8);
        let bids: Vec<u16> = (0..8).map(|head| kernel_fill(&ring, head, b"")).collect();
        assert_eq!(bids, (0..8).collect::<Vec<_>>());
    }

    #[test]
    fn rejects_bad_shapes() {
        assert!(BufRing::new(6, 4096).is_err());
        assert!(BufRing::new(0, 4096).is_err());
    }

    #[test]
    fn take_recycle_round_trip_wraps_the_tail() {
        let mut ring = BufRing::new(4, 64).unwrap();
        let mut head = 0u16;
        for round in 0..10u8 {
            let bid = kernel_fill(&ring, head, &[round; 10]);
            head = head.wrapping_add(1);
            let taken = ring.take(bid, 10).unwrap();
            assert_eq!(ring.available(), 3);
            assert_eq!(ring.data(&taken), &[round; 10]);
            ring.recycle(taken);
            ring.publish();
            assert_eq!(ring.available(), 4);
            assert_eq!(tail(&ring), 4 + u16::from(round) + 1);
        }
    }

    #[test]
    fn bad_completions_are_errors_not_corruption() {
        let mut ring = BufRing::new(4, 64).unwrap();
        assert_eq!(
            ring.take(4, 1),
            Err(BufError::OutOfRange { bid: 4, count: 4 })
        );
        assert_eq!(
            ring.take(0, 65),
            Err(BufError::TooLong { len: 65, size: 64 })
        );
        let taken = ring.take(1, 1).unwrap();
        assert_eq!(ring.take(1, 1), Err(BufError::NotInRing { bid: 1 }));
        ring.recycle(taken);
        assert_eq!(ring.available(), 4);
    }

    #[test]
    fn held_buffers_return_when_the_last_clone_drops_on_any_thread() {
        let mut ring = BufRing::new(4, 64).unwrap();
        let bid = kernel_fill(&ring, 0, b"hello world");
        let taken = ring.take(bid, 11).unwrap();
        let bytes = ring.hold(taken);
        let slice = bytes.slice(6..);
        drop(bytes);
        assert_eq!(ring.reclaim(), 0, "a slice still holds the buffer");
        assert_eq!(ring.available(), 3);
        let other = std::thread::spawn(move || assert_eq!(&slice[..], b"world"));
        other.join().unwrap();
        assert_eq!(ring.reclaim(), 1);
        ring.publish();
        assert_eq!(ring.available(), 4);
        assert_eq!(tail(&ring), 5);
    }

    #[test]
    fn a_held_buffer_comes_back_to_the_same_memory_again_and_again() {
        let mut ring = BufRing::new(1, 64).unwrap();
        let mut addresses = Vec::new();
        for round in 0..100u16 {
            let bid = kernel_fill(&ring, round, &round.to_be_bytes());
            let taken = ring.take(bid, 2).unwrap();
            let bytes = ring.hold(taken);
            assert_eq!(&bytes[..], &round.to_be_bytes());
            assert!(ring.has_held());
            addresses.push(bytes.as_ptr() as usize);
            let part = bytes.slice(1..);
            drop(bytes);
            assert_eq!(ring.reclaim(), 0, "a slice still holds it");
            drop(part);
            assert_eq!(ring.reclaim(), 1);
            assert!(!ring.has_held());
            ring.publish();
        }
        addresses.dedup();
        assert_eq!(
            addresses.len(),
            1,
            "the buffer is rewound, never reallocated"
        );
    }

    #[test]
    fn held_bytes_outlive_the_ring() {
        let mut ring = BufRing::new(2, 64).unwrap();
        let bid = kernel_fill(&ring, 0, b"survivor");
        let taken = ring.take(bid, 8).unwrap();
        let bytes = ring.hold(taken);
        drop(ring);
        assert_eq!(&bytes[..], b"survivor");
    }

    #[test]
    fn every_buffer_can_be_out_at_once_and_all_come_back() {
        let mut ring = BufRing::new(16, 64).unwrap();
        let mut held = Vec::new();
        for head in 0..16u16 {
            let bid = kernel_fill(&ring, head, &head.to_le_bytes());
            let taken = ring.take(bid, 2).unwrap();
            if head % 2 == 0 {
                held.push(ring.hold(taken));
            } else {
                ring.recycle(taken);
            }
        }
        assert_eq!(ring.available(), 8);
        drop(held);
        assert_eq!(ring.reclaim(), 8);
        ring.publish();
        assert_eq!(ring.available(), 16);
        assert_eq!(tail(&ring), 32);
    }
}
