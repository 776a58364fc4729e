//! Proves how a server picks its driver: `Driver::Auto` (the default) runs io_uring where it
//! starts and falls back to glommio where it does not (here forced by a ring size the kernel
//! refuses), with one warning that names the cause; an explicit `Driver::Uring` that cannot start fails with the cause instead; and a
//! handler's `ringrpc_engine::spawn` + `sleep` work on whichever driver runs it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ringrpc_engine::{
    Driver, HandlerError, Request, Response, Server, ServerConfig, StartError, UringConfig,
};

use crate::common::{self, assert_serving, request, FrameClient};
use ringrpc_engine::SerializeType;

/// More submission entries than io_uring_setup accepts (its maximum is 32768).
fn refused_ring() -> UringConfig {
    UringConfig::default().ring_entries(1 << 20)
}

#[test]
fn auto_is_the_default_and_picks_a_concrete_driver() {
    assert_eq!(ServerConfig::default().driver, Driver::Auto);
    let config = common::test_config(1).driver(Driver::Auto);
    let server = common::start(config);
    assert_ne!(server.driver(), Driver::Auto);
    assert_serving(server.local_addr());
}

/// Log lines written while the calling thread runs `f`.
fn logs_of<T>(f: impl FnOnce() -> T) -> (T, String) {
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let sink = Sink::default();
    let writer = sink.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let result = tracing::subscriber::with_default(subscriber, f);
    let text = String::from_utf8_lossy(&sink.0.lock().unwrap()).into_owned();
    (result, text)
}

#[test]
fn auto_falls_back_to_glommio_when_io_uring_cannot_start() {
    let config = common::test_config(2)
        .driver(Driver::Auto)
        .uring(refused_ring());
    let (server, logs) = logs_of(|| common::start(config));
    assert_eq!(server.driver(), Driver::Glommio);
    assert_serving(server.local_addr());
    let warnings: Vec<&str> = logs.lines().filter(|l| l.contains("WARN")).collect();
    assert_eq!(warnings.len(), 1, "one line: {logs}");
    assert!(
        warnings[0].contains("falling back to the glommio driver")
            && warnings[0].contains("io_uring_setup"),
        "it names the cause: {logs}"
    );
}

#[test]
fn an_explicit_uring_that_cannot_start_names_the_cause() {
    let config = common::test_config(1)
        .driver(Driver::Uring)
        .uring(refused_ring());
    let error = Server::start(config, |_| {}).unwrap_err();
    assert!(matches!(error, StartError::Uring { .. }), "{error:?}");
    let text = error.to_string();
    assert!(text.contains("io_uring_setup"), "{text}");
    assert!(text.contains("Driver::Glommio"), "{text}");
}

/// Replies at once and pushes "later" from a task it spawned, 5 ms after.
async fn reply_then_push(request: Request) -> Result<Response, HandlerError> {
    let pusher = request.pusher();
    ringrpc_engine::spawn(async move {
        ringrpc_engine::sleep(Duration::from_millis(5)).await;
        let _ = pusher.push("Test", "Later", [("k", "v")], b"later").await;
    });
    Ok(Response::new(bytes::Bytes::from_static(b"now")))
}

#[test]
fn a_task_spawned_by_a_handler_runs_on_the_shard() {
    let server = Server::start(common::test_config(1), |services| {
        services.register("Test", "Spawn", reply_then_push);
    })
    .expect("server starts");
    let mut client = FrameClient::connect(server.local_addr());
    let reply = client.call(&request(1, SerializeType::None, "Test", "Spawn", &[], b""));
    assert_eq!((reply.seq(), &reply.payload()[..]), (1, &b"now"[..]));
    let push = client.recv();
    assert!(push.header().is_oneway());
    assert_eq!(&push.payload()[..], b"later");
}
