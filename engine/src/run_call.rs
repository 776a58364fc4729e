//! Running one handler call that did not finish on its first poll, on either driver: to its
//! end or to its `__ServerTimeout` deadline, whichever comes first (PROTOCOL.md §4.6), then
//! handing the completion to the connection through its link.

use std::future::poll_fn;
use std::rc::Rc;
use std::time::Instant;

use futures_lite::future::or;

use crate::conn::{Call, Link};

/// Polls a call to the end or to its deadline, whichever comes first, and delivers the
/// completion through the connection's link. The timer is the shard's own
/// ([`crate::time::sleep`] picks the driver's).
pub(crate) async fn run_call(mut call: Call, link: Rc<Link>) {
    let completion = match call.deadline() {
        None => {
            poll_fn(|cx| call.poll(cx)).await;
            call.finish()
        }
        Some(deadline) => {
            let handler = async {
                poll_fn(|cx| call.poll(cx)).await;
                true
            };
            let timer = async {
                crate::time::sleep(deadline.saturating_duration_since(Instant::now())).await;
                false
            };
            if or(handler, timer).await {
                call.finish()
            } else {
                call.expire()
            }
        }
    };
    link.complete(completion);
}
