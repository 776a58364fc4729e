//! Faults of handler code, on both drivers: a hand-written `Handler::call` that panics (not
//! inside its future, where a panic becomes an error reply as in rpcx-go) or a spawned task
//! that panics is contained, counted and visible in `Server::stats`:
//!
//! - under `FaultPolicy::Contain` the connection that triggered it is closed and the shard
//!   keeps serving everyone else;
//! - under the default `FaultPolicy::Exit` the process ends with status 70 and a message
//!   naming the fault. That test runs this very test binary again as a child process (the
//!   child starts the server; the parent watches it from outside).

use std::future::Ready;
use std::process::Command;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ringrpc_engine::{
    Driver, FaultPolicy, HandlerError, Request, Response, SerializeType, Server, ServerConfig,
};

use crate::common;
use crate::common::{request, FrameClient};

const DRIVERS: [Driver; 2] = [Driver::Glommio, Driver::Uring];

/// A hand-written handler whose `call` panics before it returns a future.
fn panics_in_call(_: Request) -> Ready<Result<Response<Bytes>, HandlerError>> {
    panic!("a hand-written Handler::call panicked")
}

async fn panics_in_a_spawned_task(_: Request) -> Result<Response<Bytes>, HandlerError> {
    ringrpc_engine::spawn(async { panic!("a spawned task panicked") });
    Ok(Response::new(Bytes::from_static(b"spawned")))
}

fn start(config: ServerConfig) -> Server {
    Server::start(config, |services| {
        common::register_test_services(services, common::Gauge::default());
        services.register("Fault", "Call", panics_in_call).register(
            "Fault",
            "Spawn",
            panics_in_a_spawned_task,
        );
    })
    .expect("server starts")
}

fn call(method: &str) -> Vec<u8> {
    request(1, SerializeType::None, "Fault", method, &[], b"")
}

fn wait_for_panics(server: &Server, want: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.stats()[0].handler_panics < want {
        assert!(Instant::now() < deadline, "{:?}", server.stats());
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn contained_panics_close_one_connection_and_are_counted() {
    for driver in DRIVERS {
        let config = common::test_config(1)
            .driver(driver)
            .fault_policy(FaultPolicy::Contain);
        let server = start(config);
        let mut bystander = FrameClient::connect(server.local_addr());
        common::assert_serving_on(&mut bystander);

        let mut culprit = FrameClient::connect(server.local_addr());
        culprit.send(&call("Call"));
        let frames = culprit.expect_closed(Duration::from_secs(5));
        assert!(
            frames.is_empty(),
            "{driver:?}: no reply, the connection closed"
        );
        wait_for_panics(&server, 1);

        let mut spawner = FrameClient::connect(server.local_addr());
        let reply = spawner.call(&call("Spawn"));
        assert_eq!(&reply.payload()[..], b"spawned");
        wait_for_panics(&server, 2);

        common::assert_serving_on(&mut bystander);
        common::assert_serving_on(&mut spawner);
        let stats = server.stats()[0];
        println!("{driver:?}: {stats:?}");
        assert_eq!(stats.handler_panics, 2, "{driver:?}");
        assert!(!stats.failed && server.is_healthy(), "{driver:?}");
    }
}

/// Set in the child process: the driver whose server it runs.
const CHILD_ENV: &str = "RINGRPC_TEST_FAULT_CHILD";

/// The child's part of `the_default_policy_ends_the_process_with_a_message`; does nothing
/// in a normal test run.
#[test]
fn fault_child_process() {
    let Ok(driver) = std::env::var(CHILD_ENV) else {
        return;
    };
    let driver: Driver = driver.parse().expect("driver");
    let server = start(common::test_config(1).driver(driver));
    let mut client = FrameClient::connect(server.local_addr());
    client.send(&call("Call"));
    // The process ends while this waits.
    let _ = client.expect_closed(Duration::from_secs(10));
    panic!("the process outlived a handler panic under FaultPolicy::Exit");
}

#[test]
fn the_default_policy_ends_the_process_with_a_message() {
    for driver in ["glommio", "uring"] {
        let output = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "hostile_faults::fault_child_process",
                "--nocapture",
            ])
            .env(CHILD_ENV, driver)
            .output()
            .expect("the test binary runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        println!("{driver}: {:?}, stderr: {stderr}", output.status);
        assert_eq!(output.status.code(), Some(70), "{driver}: {stderr}");
        assert!(
            stderr.contains("handler code panicked") && stderr.contains("FaultPolicy::Contain"),
            "{driver}: {stderr}"
        );
    }
}
