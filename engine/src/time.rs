//! Timers for handlers, on either driver: [`sleep`] uses the timer queue of the io_uring
//! shard it runs on, or glommio's timers on a glommio shard.
//!
//! ```ignore
//! async fn slow(request: Request) -> Result<Response, HandlerError> {
//!     ringrpc_engine::sleep(Duration::from_millis(10)).await;
//!     Ok(Response::new(request.into_payload()))
//! }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::uring::timers;

/// Waits for `duration`. Must be awaited on a shard thread (inside a handler, a task it
/// spawned, or a glommio executor).
pub fn sleep(duration: Duration) -> Sleep {
    let inner = if timers::is_active() {
        Inner::Uring(timers::Sleep::until(Instant::now() + duration))
    } else {
        Inner::Glommio(glommio::timer::Timer::new(duration))
    };
    Sleep { inner }
}

/// The future of [`sleep`].
#[derive(Debug)]
pub struct Sleep {
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    Uring(timers::Sleep),
    Glommio(glommio::timer::Timer),
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match &mut self.inner {
            Inner::Uring(sleep) => Pin::new(sleep).poll(cx),
            Inner::Glommio(timer) => Pin::new(timer).poll(cx).map(drop),
        }
    }
}
