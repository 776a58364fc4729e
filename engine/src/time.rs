//! Timers for handlers, on either driver: [`sleep`] registers in the shard's timer queue
//! (`runtime/timers.rs`), which the shard's driver fires. This file knows no driver.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::runtime::timers;

/// Waits for `duration`, on either driver. Must be called on a shard thread: inside a
/// handler or a task started with [`crate::spawn`].
///
/// # Panics
///
/// If called on a thread that is not a running shard (no driver would ever fire it).
///
/// ```no_run
/// # use std::time::Duration;
/// # use ringrpc_engine::{HandlerError, Request, Response};
/// async fn slow(request: Request) -> Result<Response, HandlerError> {
///     ringrpc_engine::sleep(Duration::from_millis(10)).await;
///     Ok(Response::new(request.into_payload()))
/// }
/// ```
pub fn sleep(duration: Duration) -> Sleep {
    assert!(
        timers::is_driven(),
        "ringrpc_engine::sleep called outside a shard thread"
    );
    Sleep {
        inner: timers::Sleep::until(Instant::now() + duration),
    }
}

/// The future of [`sleep`].
#[derive(Debug)]
pub struct Sleep {
    inner: timers::Sleep,
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.inner).poll(cx)
    }
}
