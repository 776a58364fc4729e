//! The glommio driver's side of the shard's timer queue (`runtime/timers.rs`): one task that
//! fires due timers and sleeps on one glommio timer until the earliest deadline, or until an
//! earlier timer is inserted. With no timer queued it waits without any glommio timer.

use std::future::poll_fn;
use std::task::Waker;
use std::time::Instant;

use futures_lite::future::or;

use crate::runtime::timers;

/// Fires the queue for as long as the shard runs (the shard cancels the task at exit).
pub(super) async fn fire_until_stopped() {
    let mut due: Vec<Waker> = Vec::new();
    loop {
        let now = Instant::now();
        timers::with(|queue| queue.fire(now, &mut due));
        due.drain(..).for_each(Waker::wake);
        let next = timers::with(|queue| queue.next_deadline());
        let earlier = poll_fn(|cx| timers::with(|queue| queue.poll_earlier(cx, next)));
        match next {
            Some(at) => {
                let wait = at.saturating_duration_since(now);
                or(earlier, glommio::timer::sleep(wait)).await;
            }
            None => earlier.await,
        }
    }
}
