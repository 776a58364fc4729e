//! Handler tasks: the calls that did not finish on their first poll and run as tasks of
//! their own, on either driver. Two rules, each written once here:
//!
//! - **A per-shard cap** ([`HandlerTasks`], `ServerConfig::max_handler_tasks_per_shard`). A
//!   task holds a [`TaskPermit`] for as long as it runs. At the cap the shard starts no new
//!   call at all: connections that have requests waiting stop taking them off their receive
//!   buffer and stop reading (so their memory stays bounded too) until a running handler
//!   finishes, which wakes them ([`HandlerTasks::poll_room`]). Requests are delayed, never
//!   refused: rpcx has no "busy" reply a Go client would understand.
//! - **Closed connections take their handlers with them** ([`Hangup`]). When a connection
//!   closes, its driver calls [`Hangup::fire`]; every task still running a call of that
//!   connection is woken, drops the handler's future at once and ends (counted as
//!   `handlers_cancelled`). Nobody waits for a reply that can no longer be sent.
//!
//! What it never does: poll a handler (that is `run_call.rs`), or choose a driver.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use super::ShardCounters;

/// The shard's running handler tasks and their cap.
#[derive(Debug)]
pub(crate) struct HandlerTasks {
    running: Cell<usize>,
    max: usize,
    /// Connections waiting for a task to finish (each at most once).
    waiters: RefCell<Vec<Waker>>,
    counters: Arc<ShardCounters>,
}

/// One running handler task's place under the cap; dropping it frees the place.
#[derive(Debug)]
pub(crate) struct TaskPermit {
    tasks: Rc<HandlerTasks>,
}

impl HandlerTasks {
    /// A cap of `max` tasks (at least 1).
    pub(crate) fn new(max: usize, counters: Arc<ShardCounters>) -> Self {
        Self {
            running: Cell::new(0),
            max: max.max(1),
            waiters: RefCell::default(),
            counters,
        }
    }

    /// Ready while a new task may start; at the cap, registers `cx`'s waker, woken when a
    /// task ends.
    pub(crate) fn poll_room(&self, cx: &Context<'_>) -> Poll<()> {
        if self.running.get() < self.max {
            return Poll::Ready(());
        }
        let mut waiters = self.waiters.borrow_mut();
        if !waiters.iter().any(|w| w.will_wake(cx.waker())) {
            waiters.push(cx.waker().clone());
        }
        Poll::Pending
    }

    /// Takes a place for a task that is about to start. The caller checked
    /// [`HandlerTasks::poll_room`] just before it polled the call, so the cap holds.
    pub(crate) fn permit(self: &Rc<Self>) -> TaskPermit {
        self.running.set(self.running.get() + 1);
        self.counters.handler_tasks.fetch_add(1, Ordering::Relaxed);
        TaskPermit {
            tasks: self.clone(),
        }
    }

    #[cfg(test)]
    pub(crate) fn running(&self) -> usize {
        self.running.get()
    }

    #[cfg(test)]
    pub(crate) fn cancelled(&self) -> u64 {
        self.counters.handlers_cancelled.load(Ordering::Relaxed)
    }
}

impl TaskPermit {
    /// The task's call was dropped because its connection closed.
    pub(crate) fn count_cancelled(&self) {
        let counters = &self.tasks.counters;
        counters.handlers_cancelled.fetch_add(1, Ordering::Relaxed);
    }
}

impl Drop for TaskPermit {
    fn drop(&mut self) {
        let tasks = &self.tasks;
        tasks.running.set(tasks.running.get() - 1);
        tasks.counters.handler_tasks.fetch_sub(1, Ordering::Relaxed);
        if tasks.running.get() < tasks.max {
            let waiters = std::mem::take(&mut *tasks.waiters.borrow_mut());
            waiters.into_iter().for_each(Waker::wake);
        }
    }
}

/// One connection's "I am gone" signal for the tasks running its calls.
#[derive(Debug, Default)]
pub(crate) struct Hangup {
    fired: Cell<bool>,
    /// The wakers of the tasks running this connection's calls, by [`Watch`] key.
    wakers: RefCell<Vec<Option<Waker>>>,
    free: RefCell<Vec<usize>>,
}

/// A task's registration with its connection's [`Hangup`]; dropping it unregisters.
#[derive(Debug)]
pub(crate) struct Watch {
    hangup: Rc<Hangup>,
    key: usize,
}

impl Hangup {
    /// The connection closed: wakes every task still running one of its calls.
    pub(crate) fn fire(&self) {
        if self.fired.replace(true) {
            return;
        }
        let wakers = std::mem::take(&mut *self.wakers.borrow_mut());
        self.free.borrow_mut().clear();
        wakers.into_iter().flatten().for_each(Waker::wake);
    }

    pub(crate) fn is_fired(&self) -> bool {
        self.fired.get()
    }

    /// Registers a task (its waker is set on each poll with [`Watch::poll_fired`]).
    pub(crate) fn watch(self: &Rc<Self>) -> Watch {
        let key = self.free.borrow_mut().pop().unwrap_or_else(|| {
            let mut wakers = self.wakers.borrow_mut();
            wakers.push(None);
            wakers.len() - 1
        });
        Watch {
            hangup: self.clone(),
            key,
        }
    }
}

impl Watch {
    /// Ready once the connection is gone; else keeps `cx`'s waker for [`Hangup::fire`].
    pub(crate) fn poll_fired(&self, cx: &Context<'_>) -> Poll<()> {
        if self.hangup.is_fired() {
            return Poll::Ready(());
        }
        if let Some(slot) = self.hangup.wakers.borrow_mut().get_mut(self.key) {
            if !slot.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *slot = Some(cx.waker().clone());
            }
        }
        Poll::Pending
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if self.hangup.is_fired() {
            return;
        }
        if let Some(slot) = self.hangup.wakers.borrow_mut().get_mut(self.key) {
            *slot = None;
            self.hangup.free.borrow_mut().push(self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    struct CountingWaker(AtomicUsize);

    impl std::task::Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counting_waker() -> (Arc<CountingWaker>, Waker) {
        let inner = Arc::new(CountingWaker(AtomicUsize::new(0)));
        (inner.clone(), Waker::from(inner))
    }

    #[test]
    fn the_cap_stops_new_tasks_until_one_ends_and_wakes_waiters_once() {
        let counters = Arc::new(ShardCounters::default());
        let tasks = Rc::new(HandlerTasks::new(2, counters.clone()));
        let (woken, waker) = counting_waker();
        let cx = Context::from_waker(&waker);
        assert!(tasks.poll_room(&cx).is_ready());
        let first = tasks.permit();
        let second = tasks.permit();
        assert_eq!(counters.handler_tasks.load(Ordering::Relaxed), 2);
        assert!(tasks.poll_room(&cx).is_pending());
        assert!(tasks.poll_room(&cx).is_pending(), "registered once");
        drop(first);
        assert_eq!(woken.0.load(Ordering::SeqCst), 1);
        assert!(tasks.poll_room(&cx).is_ready());
        drop(second);
        assert_eq!(tasks.running(), 0);
        assert_eq!(woken.0.load(Ordering::SeqCst), 1, "nobody was waiting");
    }

    #[test]
    fn a_hangup_wakes_the_tasks_still_watching_and_reuses_keys() {
        let hangup = Rc::new(Hangup::default());
        let (woken, waker) = counting_waker();
        let cx = Context::from_waker(&waker);
        let done = hangup.watch();
        assert!(done.poll_fired(&cx).is_pending());
        drop(done);
        let running = hangup.watch();
        assert_eq!(running.key, 0, "the key of a finished task is reused");
        assert!(running.poll_fired(&cx).is_pending());
        hangup.fire();
        hangup.fire();
        assert_eq!(woken.0.load(Ordering::SeqCst), 1);
        assert!(running.poll_fired(&cx).is_ready());
        assert!(
            hangup.watch().poll_fired(&cx).is_ready(),
            "late tasks see it"
        );
    }
}
