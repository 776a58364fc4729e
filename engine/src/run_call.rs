//! Running one handler call that did not finish on its first poll, on either driver: to its
//! end or to its `__ServerTimeout` deadline, whichever comes first (PROTOCOL.md §4.6), then
//! handing the completion to the connection through its link. The deadline timer is the
//! shard's timer queue (`runtime/timers.rs`), whichever driver fires it.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;

use crate::conn::{Call, Link};
use crate::runtime::timers::Sleep;

/// Polls a call to the end or to its deadline, whichever comes first, and delivers the
/// completion through the connection's link.
pub(crate) async fn run_call(mut call: Call, link: Rc<Link>) {
    let mut deadline = call.deadline().map(Sleep::until);
    let finished = poll_fn(|cx| {
        if call.poll(cx).is_ready() {
            return Poll::Ready(true);
        }
        match &mut deadline {
            Some(timer) => Pin::new(timer).poll(cx).map(|()| false),
            None => Poll::Pending,
        }
    })
    .await;
    link.complete(if finished {
        call.finish()
    } else {
        call.expire()
    });
}
