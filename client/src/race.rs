//! Waiting for the first of two futures, written once for every runtime (neither tokio's
//! `select!` nor glommio's helpers are available to both).

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::task::Poll;

/// Which of two raced futures finished first, with its output.
#[derive(Debug)]
pub(crate) enum Either<A, B> {
    Left(A),
    Right(B),
}

/// Runs `left` and `right` together and returns the output of the first to finish; the other
/// is dropped. `left` is polled first, so it wins when both are ready.
pub(crate) async fn race<A: Future, B: Future>(left: A, right: B) -> Either<A::Output, B::Output> {
    let mut left = pin!(left);
    let mut right = pin!(right);
    poll_fn(|cx| {
        if let Poll::Ready(output) = left.as_mut().poll(cx) {
            return Poll::Ready(Either::Left(output));
        }
        right.as_mut().poll(cx).map(Either::Right)
    })
    .await
}

#[cfg(test)]
mod tests {
    use std::future::{pending, ready};

    use futures_lite::future::block_on;

    use super::*;

    #[test]
    fn the_first_ready_future_wins_and_left_wins_ties() {
        assert!(matches!(
            block_on(race(ready(1), ready(2))),
            Either::Left(1)
        ));
        assert!(matches!(
            block_on(race(pending::<u8>(), ready(2))),
            Either::Right(2)
        ));
    }
}
