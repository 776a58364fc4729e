//! Shared by the behaviour tests: the servers they talk to, a fake server for faults a real
//! one will not produce, and a way to write a test once and run it on both drivers.
// Each test file uses a different part of this module.
#![allow(dead_code, unused_imports)]

pub mod fake;
pub mod hostile;
pub mod memory;
pub mod proxy;
pub mod server;
pub mod types;

use std::future::Future;
use std::time::Duration;

pub use server::{Kind, TestServer};

/// Longest any one test may run before it fails instead of hanging.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `test` on a fresh two-thread tokio runtime, failing it after [`TEST_TIMEOUT`].
pub fn tokio_block_on<F: Future>(test: F) -> F::Output {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        tokio::time::timeout(TEST_TIMEOUT, test)
            .await
            .expect("test timed out")
    })
}

pub fn tokio_spawn<F>(task: F) -> impl Future<Output = F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handle = tokio::spawn(task);
    async move { handle.await.expect("task panicked") }
}

/// Runs `test` on a fresh glommio executor on this thread (small io_memory: the locked
/// memory limit is shared by every executor of the test process), failing it after
/// [`TEST_TIMEOUT`].
pub fn glommio_block_on<F: Future>(test: F) -> F::Output {
    let executor = glommio::LocalExecutorBuilder::default()
        .io_memory(256 << 10)
        .make()
        .expect("glommio executor");
    executor.run(async {
        let limit = async {
            glommio::timer::sleep(TEST_TIMEOUT).await;
            panic!("test timed out");
        };
        futures_lite::future::or(test, limit).await
    })
}

pub fn glommio_spawn<F>(task: F) -> impl Future<Output = F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    glommio::spawn_local(task)
}

/// Polls every future to completion on the current task; results in input order. Lets a
/// test put thousands of calls in flight from one task.
pub async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<_> = futures.into_iter().map(Box::pin).map(Some).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (slot, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if let Some(future) = slot {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => {
                        *output = Some(value);
                        *slot = None;
                    }
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs
        .into_iter()
        .map(|o| o.expect("every future finished"))
        .collect()
}

/// Writes the items once per driver: in module `tokio_driver` with `Client` the tokio
/// client, in `glommio_driver` with the glommio client; `block_on` and `spawn` run futures
/// on that driver's runtime.
#[macro_export]
macro_rules! for_each_driver {
    ($($item:item)*) => {
        mod tokio_driver {
            #![allow(unused_imports)]
            use super::*;
            use ringrpc_client::tokio::Client;
            /// Callers and the connection's tasks may run in parallel.
            #[allow(dead_code)]
            const SINGLE_THREADED: bool = false;
            fn block_on<F: std::future::Future>(test: F) -> F::Output {
                support::tokio_block_on(test)
            }
            #[allow(dead_code)]
            fn spawn<F>(task: F) -> impl std::future::Future<Output = F::Output>
            where
                F: std::future::Future + Send + 'static,
                F::Output: Send + 'static,
            {
                support::tokio_spawn(task)
            }
            #[allow(dead_code)]
            async fn sleep(duration: std::time::Duration) {
                tokio::time::sleep(duration).await
            }
            $($item)*
        }
        mod glommio_driver {
            #![allow(unused_imports)]
            use super::*;
            use ringrpc_client::glommio::Client;
            /// Callers and the connection's tasks share one thread.
            #[allow(dead_code)]
            const SINGLE_THREADED: bool = true;
            fn block_on<F: std::future::Future>(test: F) -> F::Output {
                support::glommio_block_on(test)
            }
            #[allow(dead_code)]
            fn spawn<F>(task: F) -> impl std::future::Future<Output = F::Output>
            where
                F: std::future::Future + 'static,
                F::Output: 'static,
            {
                support::glommio_spawn(task)
            }
            #[allow(dead_code)]
            async fn sleep(duration: std::time::Duration) {
                glommio::timer::sleep(duration).await
            }
            $($item)*
        }
    };
}
