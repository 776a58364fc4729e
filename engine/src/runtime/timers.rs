//! The shard's timer queue: handler sleeps and request deadlines, on either driver. The
//! driver fires due timers ([`Timers::fire`]) and waits no longer than the earliest one
//! ([`Timers::next_deadline`]); the io_uring driver does that on every loop turn, the glommio
//! driver from one task that [`Timers::poll_earlier`] wakes when an earlier timer arrives.
//!
//! A binary heap of `(when, slot, generation)`; a cancelled timer frees its slot at once and
//! leaves a stale heap entry that is skipped (and, when stale entries outnumber live ones,
//! compacted away), so neither `insert` nor `cancel` searches. The queue lives in a
//! thread-local of the shard thread, which is what lets a handler's [`Sleep`] find it.
//! The queue takes `now` from the driver (only a [`Sleep`] checks the clock, once per poll,
//! to finish at once when already due); it never knows which driver fires it.

use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

/// A registered timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimerKey {
    slot: u32,
    generation: u32,
}

#[derive(Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Reverse<(Instant, u32, u32)>>,
    slots: Vec<Slot>,
    free: Vec<u32>,
    live: usize,
    /// The driver task waiting in [`Timers::poll_earlier`], woken by an earlier insert.
    driver: Option<Waker>,
}

#[derive(Default)]
struct Slot {
    generation: u32,
    waker: Option<Waker>,
}

impl Timers {
    pub(crate) fn insert(&mut self, at: Instant, waker: Waker) -> TimerKey {
        let slot = self.free.pop().unwrap_or_else(|| {
            self.slots.push(Slot::default());
            (self.slots.len() - 1) as u32
        });
        let entry = &mut self.slots[slot as usize];
        entry.waker = Some(waker);
        let generation = entry.generation;
        if self.driver.is_some() && self.next_deadline().is_none_or(|next| at < next) {
            self.driver.take().into_iter().for_each(Waker::wake);
        }
        self.live += 1;
        self.heap.push(Reverse((at, slot, generation)));
        TimerKey { slot, generation }
    }

    /// Replaces the waker of a live timer (a future polled from another task). False if the
    /// timer is no longer live: it fired (or was cancelled).
    pub(crate) fn set_waker(&mut self, key: TimerKey, waker: &Waker) -> bool {
        let Some(slot) = self.live_slot(key) else {
            return false;
        };
        if !slot.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
            slot.waker = Some(waker.clone());
        }
        true
    }

    pub(crate) fn cancel(&mut self, key: TimerKey) {
        if self.live_slot(key).is_some() {
            self.release(key.slot);
        }
        if self.heap.len() > 64 && self.heap.len() > 2 * self.live {
            let slots = &self.slots;
            self.heap.retain(|Reverse((_, slot, generation))| {
                slots[*slot as usize].generation == *generation
            });
        }
    }

    /// Moves the wakers of every timer due at `now` to `due` (to be woken once the queue is
    /// no longer borrowed). Returns how many.
    pub(crate) fn fire(&mut self, now: Instant, due: &mut Vec<Waker>) -> usize {
        let mut fired = 0;
        while let Some(&Reverse((at, slot, generation))) = self.heap.peek() {
            if at > now {
                break;
            }
            self.heap.pop();
            if self.slots[slot as usize].generation == generation {
                due.extend(self.slots[slot as usize].waker.take());
                self.release(slot);
                fired += 1;
            }
        }
        fired
    }

    /// When the earliest live timer is due.
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(&Reverse((at, slot, generation))) = self.heap.peek() {
            if self.slots[slot as usize].generation == generation {
                return Some(at);
            }
            self.heap.pop();
        }
        None
    }

    /// Ready once the earliest deadline is earlier than `known` (what the driver waits for
    /// now); until then the driver's waker is kept and woken by the insert that makes it so.
    pub(crate) fn poll_earlier(
        &mut self,
        cx: &mut Context<'_>,
        known: Option<Instant>,
    ) -> Poll<()> {
        let next = self.next_deadline();
        if next.is_some_and(|next| known.is_none_or(|known| next < known)) {
            return Poll::Ready(());
        }
        self.driver = Some(cx.waker().clone());
        Poll::Pending
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.live
    }

    fn live_slot(&mut self, key: TimerKey) -> Option<&mut Slot> {
        self.slots
            .get_mut(key.slot as usize)
            .filter(|slot| slot.generation == key.generation)
    }

    fn release(&mut self, slot: u32) {
        let entry = &mut self.slots[slot as usize];
        entry.generation = entry.generation.wrapping_add(1);
        entry.waker = None;
        self.live -= 1;
        self.free.push(slot);
    }
}

thread_local! {
    static TIMERS: RefCell<Timers> = RefCell::new(Timers::default());
    static DRIVEN: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` on this thread's timer queue (the driver's access).
pub(crate) fn with<R>(f: impl FnOnce(&mut Timers) -> R) -> R {
    TIMERS.with(|timers| f(&mut timers.borrow_mut()))
}

/// Marks this thread as a shard whose driver fires the queue (or no longer does).
pub(crate) fn set_driven(driven: bool) {
    DRIVEN.with(|cell| cell.set(driven));
}

/// Whether a driver fires this thread's queue (a sleep elsewhere would never end).
pub(crate) fn is_driven() -> bool {
    DRIVEN.with(Cell::get)
}

/// A future ready at `at`: at once if `at` has passed when it is first polled, else once the
/// driver of the thread it is polled on fires it (so it follows the driver's clock).
#[derive(Debug)]
pub(crate) struct Sleep {
    at: Instant,
    key: Option<TimerKey>,
}

impl Sleep {
    pub(crate) fn until(at: Instant) -> Self {
        Self { at, key: None }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if let Some(key) = self.key {
            if with(|timers| timers.set_waker(key, cx.waker())) {
                return Poll::Pending;
            }
            self.key = None;
            return Poll::Ready(());
        }
        let at = self.at;
        if Instant::now() >= at {
            return Poll::Ready(());
        }
        self.key = Some(with(|timers| timers.insert(at, cx.waker().clone())));
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            // At thread exit the queue may already be gone; then there is nothing to cancel.
            let _ = TIMERS.try_with(|timers| {
                if let Ok(mut timers) = timers.try_borrow_mut() {
                    timers.cancel(key);
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;
    use std::time::Duration;

    use super::*;

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counter() -> (Arc<Count>, Waker) {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        (count.clone(), Waker::from(count))
    }

    #[test]
    fn fires_in_deadline_order_and_skips_cancelled() {
        let mut timers = Timers::default();
        let t0 = Instant::now();
        let (count, waker) = counter();
        let late = timers.insert(t0 + Duration::from_millis(30), waker.clone());
        let early = timers.insert(t0 + Duration::from_millis(10), waker.clone());
        let cancelled = timers.insert(t0 + Duration::from_millis(5), waker.clone());
        timers.cancel(cancelled);
        assert_eq!(timers.next_deadline(), Some(t0 + Duration::from_millis(10)));
        let mut due = Vec::new();
        assert_eq!(timers.fire(t0 + Duration::from_millis(20), &mut due), 1);
        due.drain(..).for_each(Waker::wake);
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        timers.cancel(early); // already fired: a no-op
        assert_eq!(timers.len(), 1);
        // The freed slot is reused with a new generation; the old key cannot touch it.
        let reused = timers.insert(t0 + Duration::from_millis(40), waker);
        timers.cancel(cancelled);
        assert_eq!(timers.len(), 2);
        assert_eq!(timers.fire(t0 + Duration::from_secs(1), &mut due), 2);
        due.drain(..).for_each(Waker::wake);
        assert_eq!(count.0.load(Ordering::SeqCst), 3);
        assert_eq!(timers.next_deadline(), None);
        let _ = (late, reused);
    }

    #[test]
    fn many_cancellations_do_not_grow_the_heap() {
        let mut timers = Timers::default();
        let (_, waker) = counter();
        let far = Instant::now() + Duration::from_secs(3600);
        for _ in 0..10_000 {
            let key = timers.insert(far, waker.clone());
            timers.cancel(key);
        }
        assert!(
            timers.heap.len() <= 130,
            "{} stale entries kept",
            timers.heap.len()
        );
        assert_eq!(timers.len(), 0);
    }

    #[test]
    fn the_driver_is_woken_only_by_an_earlier_timer() {
        let mut timers = Timers::default();
        let t0 = Instant::now();
        let (count, waker) = counter();
        let mut cx = Context::from_waker(&waker);
        assert!(timers.poll_earlier(&mut cx, None).is_pending());
        timers.insert(t0 + Duration::from_millis(20), waker.clone());
        assert_eq!(
            count.0.load(Ordering::SeqCst),
            1,
            "first timer wakes the driver"
        );
        let known = timers.next_deadline();
        assert!(timers.poll_earlier(&mut cx, known).is_pending());
        timers.insert(t0 + Duration::from_millis(30), waker.clone());
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "a later timer does not");
        timers.insert(t0 + Duration::from_millis(10), waker.clone());
        assert_eq!(count.0.load(Ordering::SeqCst), 2, "an earlier one does");
        assert!(timers.poll_earlier(&mut cx, known).is_ready());
    }

    #[test]
    fn sleep_registers_and_cancels_on_drop() {
        let (_, waker) = counter();
        let mut cx = Context::from_waker(&waker);
        let mut sleep = Box::pin(Sleep::until(Instant::now() + Duration::from_secs(60)));
        assert!(sleep.as_mut().poll(&mut cx).is_pending());
        assert_eq!(with(|t| t.len()), 1);
        drop(sleep);
        assert_eq!(with(|t| t.len()), 0);
        let mut due = Box::pin(Sleep::until(Instant::now()));
        assert!(due.as_mut().poll(&mut cx).is_ready());
    }

    #[test]
    fn a_registered_sleep_ends_when_the_driver_fires_it_not_before() {
        let (count, waker) = counter();
        let mut cx = Context::from_waker(&waker);
        // An hour ahead: only the driver's (virtual) clock can make it due.
        let at = Instant::now() + Duration::from_secs(3600);
        let mut sleep = Box::pin(Sleep::until(at));
        assert!(sleep.as_mut().poll(&mut cx).is_pending());
        let mut due = Vec::new();
        with(|t| t.fire(at - Duration::from_millis(1), &mut due));
        assert!(due.is_empty() && sleep.as_mut().poll(&mut cx).is_pending());
        with(|t| t.fire(at, &mut due));
        due.drain(..).for_each(Waker::wake);
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert!(sleep.as_mut().poll(&mut cx).is_ready());
        assert_eq!(with(|t| t.len()), 0);
    }
}
