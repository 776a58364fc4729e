//! Single-threaded wake-ups for the glommio driver: a oneshot for call replies and a
//! notify for the connection's tasks. Plain `Rc`/`Cell`, no atomics.

use std::cell::{Cell, RefCell};
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

struct Slot<T> {
    value: Option<T>,
    waker: Option<Waker>,
    sender_gone: bool,
}

/// Completes one [`Receiver`].
pub(crate) struct Sender<T>(Rc<RefCell<Slot<T>>>);

/// Resolves to the sent value, or `Err(())` if the sender was dropped without sending.
pub(crate) struct Receiver<T>(Rc<RefCell<Slot<T>>>);

pub(crate) fn oneshot<T>() -> (Sender<T>, Receiver<T>) {
    let slot = Rc::new(RefCell::new(Slot {
        value: None,
        waker: None,
        sender_gone: false,
    }));
    (Sender(slot.clone()), Receiver(slot))
}

impl<T> Sender<T> {
    pub fn send(self, value: T) {
        self.0.borrow_mut().value = Some(value);
        // Drop wakes the receiver.
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let waker = {
            let mut slot = self.0.borrow_mut();
            slot.sender_gone = true;
            slot.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<T> Future for Receiver<T> {
    type Output = Result<T, ()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut slot = self.0.borrow_mut();
        if let Some(value) = slot.value.take() {
            return Poll::Ready(Ok(value));
        }
        if slot.sender_gone {
            return Poll::Ready(Err(()));
        }
        slot.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// Wakes one waiting task; a notify with nobody waiting is kept for the next wait, so a
/// wake-up between "nothing to do" and "wait" is never lost.
#[derive(Default)]
pub(crate) struct Notify {
    permit: Cell<bool>,
    waker: Cell<Option<Waker>>,
}

impl Notify {
    pub fn notify(&self) {
        self.permit.set(true);
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }

    pub async fn notified(&self) {
        poll_fn(|cx| {
            if self.permit.replace(false) {
                return Poll::Ready(());
            }
            self.waker.set(Some(cx.waker().clone()));
            Poll::Pending
        })
        .await
    }
}

/// A flag that, once set, releases every task waiting for it.
#[derive(Default)]
pub(crate) struct Done {
    done: Cell<bool>,
    wakers: RefCell<Vec<Waker>>,
}

impl Done {
    pub fn set(&self) {
        self.done.set(true);
        let wakers = std::mem::take(&mut *self.wakers.borrow_mut());
        wakers.into_iter().for_each(Waker::wake);
    }

    pub async fn wait(&self) {
        poll_fn(|cx| {
            if self.done.get() {
                return Poll::Ready(());
            }
            self.wakers.borrow_mut().push(cx.waker().clone());
            Poll::Pending
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use futures_lite::future::{block_on, poll_once};

    use super::*;

    #[test]
    fn oneshot_delivers_or_reports_a_dropped_sender() {
        let (tx, mut rx) = oneshot::<u32>();
        assert!(block_on(poll_once(&mut rx)).is_none());
        tx.send(7);
        assert_eq!(block_on(rx), Ok(7));
        let (tx, rx) = oneshot::<u32>();
        drop(tx);
        assert_eq!(block_on(rx), Err(()));
    }

    #[test]
    fn notify_before_wait_is_not_lost() {
        let notify = Notify::default();
        notify.notify();
        block_on(notify.notified());
        assert!(block_on(poll_once(notify.notified())).is_none());
    }
}
