//! The client against hostile servers, one test per attack, on both runtimes. Each asserts
//! its bound from outside the core (the connection's byte counters, the process's CPU time,
//! the time `close` took) and prints the figure:
//! - a server that never reads: unsent request bytes stay within `send_buffer_max_bytes`,
//!   calls over it wait and time out unsent, oneway requests fail retryably at once;
//! - the same server at `close`: close returns within `close_timeout`;
//! - a flood of pushes nobody reads: the push queue stays within `push_queue_max_bytes`,
//!   and gzip'ed pushes too large for the room left are dropped, not kept;
//! - gzip bombs sent as replies to seqs the client never used: dropped unread, no CPU spent
//!   inflating them;
//! - `Duration::MAX` for every timeout: no panic, no deadline.

use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::support;
use crate::support::hostile::{gzip_bombs, process_cpu, pushes, BlobServer, DeafServer};
use ringrpc_client::{CallOptions, ClientOptions, Error, Request};

const SEND_BOUND: usize = 256 << 10;

for_each_driver! {
    #[test]
    fn a_server_that_never_reads_holds_at_most_the_send_bound() {
        block_on(async {
            let server = DeafServer::start();
            let options = ClientOptions::new().send_buffer_max_bytes(SEND_BOUND);
            let client = Client::connect_with(&server.addr, options).await.expect("connect");
            let payload = vec![1u8; 16 << 10];
            let request = Request::new("Log", "Write", &payload);
            // The kernel's socket buffers take some megabytes first; then the bound holds.
            let mut queued = 0usize;
            let mut most_unsent = 0;
            let refused = loop {
                match client.send_oneway(&request) {
                    Ok(()) => queued += 1,
                    Err(error) => break error,
                }
                most_unsent = most_unsent.max(client.stats().unsent_bytes);
                assert!(queued < 100_000, "never refused");
                if queued % 16 == 0 {
                    sleep(Duration::from_millis(1)).await; // let the writer fill the kernel
                }
            };
            assert!(matches!(refused, Error::SendBufferFull { .. }) && refused.is_retryable(), "{refused}");
            let unsent = client.stats().unsent_bytes;
            assert!(unsent <= SEND_BOUND && most_unsent <= SEND_BOUND, "{unsent} {most_unsent}");

            // A call waits for room within its deadline (the kernel may take a little more
            // meanwhile, letting it in), then fails with its deadline.
            let started = Instant::now();
            let options = CallOptions::new().timeout(Duration::from_millis(200));
            let result = client.call_with::<_, Bytes>("Log", "Write", &Bytes::from(payload.clone()), &options).await;
            assert!(matches!(result, Err(Error::Timeout { timeout_ms: 200 })), "{result:?}");
            assert!(started.elapsed() >= Duration::from_millis(200));
            assert!(client.stats().unsent_bytes <= SEND_BOUND);
            println!(
                "deaf server: {queued} requests of 16 KiB queued, client holds {unsent} unsent bytes \
                 (bound {SEND_BOUND}, most seen {most_unsent})"
            );
        });
    }

    #[test]
    fn close_is_bounded_by_close_timeout_against_a_server_that_never_reads() {
        block_on(async {
            let server = DeafServer::start();
            let close_timeout = Duration::from_millis(300);
            let options = ClientOptions::new().close_timeout(close_timeout);
            let client = Client::connect_with(&server.addr, options).await.expect("connect");
            let payload = vec![1u8; 64 << 10];
            let request = Request::new("Log", "Write", &payload);
            for _ in 0..200 {
                if client.send_oneway(&request).is_err() {
                    break;
                }
                sleep(Duration::from_millis(1)).await;
            }
            assert!(client.stats().unsent_bytes > 0, "the socket is full");
            let started = Instant::now();
            client.close().await;
            let took = started.elapsed();
            assert!(client.is_closed());
            assert!(took >= close_timeout, "{took:?}");
            assert!(took < close_timeout + Duration::from_secs(2), "close took {took:?}");
            assert_eq!(client.stats().unsent_bytes, 0, "unsent bytes were dropped");
            println!("close against a deaf server returned after {took:?} (close_timeout {close_timeout:?})");
        });
    }

    #[test]
    fn a_push_flood_holds_at_most_the_push_queue_bound() {
        block_on(async {
            let bound = 1 << 20;
            let mut blob = pushes(2000, 16 << 10); // 32 MiB of pushes
            blob.extend(gzip_bombs(50, 15 << 20, true)); // and pushes inflating to 15 MiB
            let server = BlobServer::start(blob);
            let options = ClientOptions::new().push_queue_max_bytes(bound);
            let client = Client::connect_with(&server.addr, options).await.expect("connect");
            let cpu = process_cpu();
            // The reply comes after every push: when the call returns, all were handled.
            let _: Bytes = client.call("Echo", "Echo", &Bytes::from_static(b"x")).await.expect("call");
            let cpu = process_cpu() - cpu;
            let stats = client.stats();
            assert_eq!(stats.push_count, 2050, "{stats:?}");
            assert!(stats.push_queue_bytes <= bound, "{stats:?}");
            assert!(stats.push_dropped_count >= 2050 - 64, "{stats:?}");
            let mut read = 0;
            while let Some(push) = futures_lite::future::poll_once(client.next_push()).await.flatten() {
                assert_eq!(push.service_method(), "Push", "no bomb was queued");
                read += 1;
            }
            assert!(read > 0 && read * (16 << 10) <= bound);
            println!(
                "push flood: 2000 x 16 KiB + 50 gzip bombs of 15 MiB, queue held {} bytes \
                 (bound {bound}), {read} kept, {} dropped, {cpu:?} CPU",
                stats.push_queue_bytes, stats.push_dropped_count
            );
        });
    }

    #[test]
    fn gzip_bombs_to_unknown_seqs_are_dropped_without_inflating() {
        block_on(async {
            let bombs = 200;
            let server = BlobServer::start(gzip_bombs(bombs, 15 << 20, false));
            let client = Client::connect(&server.addr).await.expect("connect");
            let cpu = process_cpu();
            let reply: Bytes = client.call("Echo", "Echo", &Bytes::from_static(b"x")).await.expect("call");
            let cpu = process_cpu() - cpu;
            assert_eq!(&reply[..], b"x");
            let stats = client.stats();
            assert_eq!(stats.late_reply_count, bombs as u64, "{stats:?}");
            assert_eq!(stats.screened_out_count, bombs as u64, "{stats:?}");
            // Inflating 200 x 15 MiB takes seconds of CPU; dropping them takes next to none.
            assert!(cpu < Duration::from_millis(500), "{cpu:?}");
            println!("{bombs} gzip bombs (15 MiB each) to unknown seqs: dropped unread, {cpu:?} CPU");
        });
    }

    #[test]
    fn duration_max_timeouts_mean_no_deadline() {
        block_on(async {
            let server = BlobServer::start(Vec::new());
            let options = ClientOptions::new()
                .connect_timeout(Duration::MAX)
                .timeout(Duration::MAX)
                .heartbeat_interval(Duration::MAX)
                .close_timeout(Duration::MAX);
            let client = Client::connect_with(&server.addr, options).await.expect("connect");
            let options = CallOptions::new().timeout(Duration::MAX);
            let reply: Bytes = client
                .call_with("Echo", "Echo", &Bytes::from_static(b"x"), &options)
                .await
                .expect("call");
            assert_eq!(&reply[..], b"x");
            client.close().await;
            assert!(client.is_closed());
        });
    }
}
