//! Shutdown with a handler that never yields (it spins on its shard thread): `shutdown()`
//! must still return, within `drain_timeout` + 3 s, and name the stuck shard, on both
//! drivers. The spinning handler is released afterwards so the thread can end.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ringrpc_engine::{Driver, HandlerError, Response, SerializeType, Server};

use crate::common;
use crate::common::{request, FrameClient};

const DRIVERS: [Driver; 2] = [Driver::Glommio, Driver::Uring];

#[test]
fn a_handler_that_never_yields_cannot_hold_shutdown() {
    for driver in DRIVERS {
        let release = Arc::new(AtomicBool::new(false));
        let spinning = Arc::new(AtomicUsize::new(0));
        let (release2, spinning2) = (release.clone(), spinning.clone());
        let drain = Duration::from_millis(100);
        let config = common::test_config(1).driver(driver).drain_timeout(drain);
        let server = Server::start(config, move |services| {
            let (release, spinning) = (release2.clone(), spinning2.clone());
            services.register("Spin", "Forever", move |_: ringrpc_engine::Request| {
                let (release, spinning) = (release.clone(), spinning.clone());
                async move {
                    spinning.fetch_add(1, Ordering::SeqCst);
                    while !release.load(Ordering::SeqCst) {
                        std::hint::spin_loop();
                    }
                    Ok::<_, HandlerError>(Response::new(Bytes::new()))
                }
            });
        })
        .expect("server starts");
        let mut client = FrameClient::connect(server.local_addr());
        client.send(&request(
            1,
            SerializeType::None,
            "Spin",
            "Forever",
            &[],
            b"",
        ));
        let deadline = Instant::now() + Duration::from_secs(10);
        while spinning.load(Ordering::SeqCst) == 0 {
            assert!(
                Instant::now() < deadline,
                "{driver:?}: the handler never ran"
            );
            std::thread::sleep(Duration::from_millis(2));
        }

        let started = Instant::now();
        let report = server.shutdown();
        let took = started.elapsed();
        release.store(true, Ordering::SeqCst);
        println!("{driver:?}: shutdown returned after {took:?}: {report:?}");
        assert_eq!(report.stuck_shards, [0], "{driver:?}");
        assert!(!report.is_clean());
        assert!(
            took >= drain && took < drain + Duration::from_secs(6),
            "{driver:?}: shutdown took {took:?}"
        );
    }
}
