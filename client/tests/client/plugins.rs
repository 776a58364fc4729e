//! Proves the client plugin hooks on both runtimes against the engine: each hook observes,
//! the ones that may refuse or rewrite do (a refused call fails unsent and is not
//! retryable, a refused connection is dropped, `before_call` rewrites the method and sets
//! metadata the server then echoes), every plugin runs at every hook in registration
//! order, node selection hooks filter and override an XClient's pick, and the `Tracing`
//! plugin writes a W3C `traceparent` that continues the caller's trace.

use std::sync::{Arc, Mutex};

use ringrpc_client::discovery::{Discovery, MultipleDiscovery};
use ringrpc_client::plugin::trace_context::{TraceParent, TRACEPARENT_KEY, TRACESTATE_KEY};
use ringrpc_client::plugin::{
    CallOutcome, Candidates, ClientPlugin, OutgoingCall, Refusal, Tracing,
};
use ringrpc_client::runtime::Runtime;
use ringrpc_client::xclient::{ClientTransport, XClient, XClientOptions};
use ringrpc_client::{
    CallOptions, ClientOptions, Disconnect, Error, Request, Serde, SerializeType, ServerAddr,
};

use crate::support;
use crate::support::types::{Args, ArithReply};
use crate::support::{Kind, TestServer};

/// What the hooks saw, in order, shared by the plugins of one test.
type Log = Arc<Mutex<Vec<String>>>;

/// Writes every hook it sees into the log, prefixed by its name.
struct Recorder {
    name: &'static str,
    log: Log,
}

impl Recorder {
    fn push(&self, event: String) {
        self.log
            .lock()
            .unwrap()
            .push(format!("{} {event}", self.name));
    }
}

impl ClientPlugin for Recorder {
    fn before_select(&self, candidates: &mut Candidates<'_>) {
        self.push(format!("before_select {}", candidates.instances().len()));
    }
    fn after_select(&self, _candidates: &Candidates<'_>, picked: &mut usize) {
        self.push(format!("after_select {picked}"));
    }
    fn conn_opened(&self, _server: &ServerAddr) -> Result<(), Refusal> {
        self.push("opened".into());
        Ok(())
    }
    fn conn_failed(&self, server: &str, _error: &Error) {
        self.push(format!("failed {server}"));
    }
    fn conn_closed(&self, _server: &ServerAddr, reason: &Disconnect) {
        self.push(format!("closed {reason}"));
    }
    fn before_call(&self, call: &mut OutgoingCall<'_>) -> Result<(), Refusal> {
        let oneway = if call.is_oneway() { " oneway" } else { "" };
        self.push(format!(
            "before {}.{}{oneway}",
            call.service_path(),
            call.service_method()
        ));
        Ok(())
    }
    fn after_call(&self, call: &OutgoingCall<'_>, outcome: &CallOutcome<'_>) {
        let reply = if outcome.reply().is_some() {
            " reply"
        } else {
            ""
        };
        let error = outcome.error().map_or(String::new(), |e| format!(" {e}"));
        self.push(format!(
            "after {}.{} {:?}{reply}{error}",
            call.service_path(),
            call.service_method(),
            outcome.status()
        ));
    }
}

fn recorder(name: &'static str, log: &Log) -> Recorder {
    Recorder {
        name,
        log: log.clone(),
    }
}

fn take(log: &Log) -> Vec<String> {
    std::mem::take(&mut *log.lock().unwrap())
}

/// Refuses calls to `Secret`, and every connection when `connections` is set.
struct Guard {
    connections: bool,
}

impl ClientPlugin for Guard {
    fn conn_opened(&self, server: &ServerAddr) -> Result<(), Refusal> {
        match self.connections {
            true => Err(Refusal::new(format!("{server} is not allowed"))),
            false => Ok(()),
        }
    }
    fn before_call(&self, call: &mut OutgoingCall<'_>) -> Result<(), Refusal> {
        match call.service_path() {
            "Secret" => Err(Refusal::new("no calls to Secret")),
            _ => Ok(()),
        }
    }
}

/// Renames `Test.Old` to `Test.Meta`, injects `injected=1`, rewrites `k`.
struct Rewriter;

impl ClientPlugin for Rewriter {
    fn before_call(&self, call: &mut OutgoingCall<'_>) -> Result<(), Refusal> {
        if call.service_method() == "Old" {
            call.set_service_method("Meta");
        }
        call.set_metadata("injected", "1");
        if call.metadata_value("k").is_some() {
            call.set_metadata("k", "rewritten");
        }
        Ok(())
    }
}

/// The runtime of a client type, so one generic helper serves both drivers.
trait RuntimeOf {
    type R: Runtime;
}

impl<R: Runtime> RuntimeOf for ringrpc_client::Client<R> {
    type R = R;
}

/// Excludes every server but `keep`, or overrides the pick to `force`.
struct Steer {
    keep: Option<String>,
    force: Option<String>,
}

impl ClientPlugin for Steer {
    fn before_select(&self, candidates: &mut Candidates<'_>) {
        let Some(keep) = &self.keep else { return };
        for i in 0..candidates.instances().len() {
            if candidates.instances()[i].key() != keep {
                candidates.exclude(i);
            }
        }
    }
    fn after_select(&self, candidates: &Candidates<'_>, picked: &mut usize) {
        let Some(force) = &self.force else { return };
        if let Some(i) = candidates.instances().iter().position(|s| s.key() == force) {
            *picked = i;
        }
    }
}

/// Logs the server of every call as `r server <key>`.
struct ServerLog(Log);

impl ClientPlugin for ServerLog {
    fn after_call(&self, call: &OutgoingCall<'_>, _outcome: &CallOutcome<'_>) {
        self.0
            .lock()
            .unwrap()
            .push(format!("r server {}", call.server()));
    }
}

/// Twenty `Arith.Mul` calls through an XClient over two engines with `steer`; returns
/// the server keys the calls went to, as the recorder saw them.
async fn xclient_calls<R: Runtime>(servers: &[&TestServer], steer: Steer) -> Vec<String> {
    let log = Log::default();
    let options = ClientOptions::new()
        .plugin(steer)
        .plugin(recorder("r", &log))
        .plugin(ServerLog(log.clone()));
    let discovery = MultipleDiscovery::from_pairs(servers.iter().map(|s| (s.addr.clone(), "")));
    let x = XClient::new(
        "Arith",
        discovery.watch(),
        ClientTransport::<R>::new(options),
        XClientOptions::new().seed(5),
    );
    for a in 0..20 {
        let Serde(reply): Serde<ArithReply> =
            x.call("Mul", &Serde(Args { a, b: 2 })).await.expect("call");
        assert_eq!(reply.c, a * 2);
    }
    let log = take(&log);
    let selects = log
        .iter()
        .filter(|e| e.starts_with("r before_select 2"))
        .count();
    assert_eq!(selects, 20, "{log:?}");
    log.into_iter()
        .filter_map(|e| e.strip_prefix("r server ").map(str::to_owned))
        .collect()
}

for_each_driver! {
    #[test]
    fn every_hook_runs_in_registration_order() {
        block_on(async {
            let server = TestServer::start(Kind::Engine);
            let log = Log::default();
            let options = ClientOptions::new().plugin(recorder("a", &log)).plugin(recorder("b", &log));
            let client = Client::connect_with(&server.addr, options).await.expect("connect");
            let Serde(reply): Serde<ArithReply> =
                client.call("Arith", "Mul", &Serde(Args { a: 3, b: 4 })).await.expect("call");
            assert_eq!(reply.c, 12);
            let request = Request::new("Echo", "Echo", b"x").serialize_type(SerializeType::None);
            client.send_oneway(&request).expect("queued");
            client.close().await;
            assert_eq!(take(&log), [
                "a opened", "b opened",
                "a before Arith.Mul", "b before Arith.Mul",
                "a after Arith.Mul Ok reply", "b after Arith.Mul Ok reply",
                "a before Echo.Echo oneway", "b before Echo.Echo oneway",
                "a after Echo.Echo Ok", "b after Echo.Echo Ok",
                "a closed connection is shut down", "b closed connection is shut down",
            ]);
        });
    }

    #[test]
    fn before_call_refuses_and_after_call_sees_it() {
        block_on(async {
            let server = TestServer::start(Kind::Engine);
            let log = Log::default();
            let options = ClientOptions::new()
                .plugin(recorder("a", &log))
                .plugin(Guard { connections: false })
                .plugin(recorder("b", &log));
            let client = Client::connect_with(&server.addr, options).await.expect("connect");
            take(&log);
            let error = client
                .call::<_, Serde<ArithReply>>("Secret", "Mul", &Serde(Args { a: 1, b: 1 }))
                .await
                .expect_err("refused");
            assert!(matches!(&error, Error::Refused { message } if message == "no calls to Secret"), "{error}");
            assert!(!error.is_retryable());
            // The refusal stops later `before_call`s; every `after_call` sees it.
            assert_eq!(take(&log), [
                "a before Secret.Mul",
                "a after Secret.Mul Failed refused by a client plugin: no calls to Secret",
                "b after Secret.Mul Failed refused by a client plugin: no calls to Secret",
            ]);
            let stats = client.stats();
            let Serde(reply): Serde<ArithReply> =
                client.call("Arith", "Mul", &Serde(Args { a: 2, b: 5 })).await.expect("allowed");
            assert_eq!(reply.c, 10);
            assert_eq!(client.stats().seq_next, stats.seq_next + 1, "the refused call was never sent");
        });
    }

    #[test]
    fn before_call_rewrites_the_method_and_injects_metadata() {
        block_on(async {
            let server = TestServer::start(Kind::Engine);
            let options = ClientOptions::new().plugin(Rewriter);
            let client = Client::connect_with(&server.addr, options).await.expect("connect");
            let call = CallOptions::new().metadata("k", "original").metadata("other", "kept");
            let response = client
                .call_response::<_, Serde<ArithReply>>("Test", "Old", &Serde(Args { a: 1, b: 2 }), &call)
                .await
                .expect("Test.Old went out as Test.Meta");
            let metadata = &response.metadata;
            assert_eq!(metadata.get("injected").map(String::as_str), Some("1"));
            assert_eq!(metadata.get("k").map(String::as_str), Some("rewritten"));
            assert_eq!(metadata.get("other").map(String::as_str), Some("kept"));
        });
    }

    #[test]
    fn after_call_observes_service_errors_and_failures() {
        block_on(async {
            let server = TestServer::start(Kind::Engine);
            let log = Log::default();
            let options = ClientOptions::new().plugin(recorder("a", &log));
            let client = Client::connect_with(&server.addr, options).await.expect("connect");
            client
                .call::<_, Serde<ArithReply>>("Arith", "Nope", &Serde(Args { a: 0, b: 0 }))
                .await
                .expect_err("no such method");
            client.close().await;
            client
                .call::<_, Serde<ArithReply>>("Arith", "Mul", &Serde(Args { a: 0, b: 0 }))
                .await
                .expect_err("closed");
            let log = take(&log);
            assert!(log[2].starts_with("a after Arith.Nope ServiceError rpcx: can't find method"), "{log:?}");
            assert_eq!(log[3], "a closed connection is shut down");
            assert_eq!(log[5], "a after Arith.Mul Failed connection lost: connection is shut down");
        });
    }

    #[test]
    fn conn_opened_refuses_and_conn_failed_observes() {
        block_on(async {
            let server = TestServer::start(Kind::Engine);
            let options = ClientOptions::new().plugin(Guard { connections: true });
            let error = Client::connect_with(&server.addr, options).await.expect_err("refused");
            assert!(matches!(&error, Error::Refused { message } if message.ends_with("is not allowed")), "{error}");

            let log = Log::default();
            let options = ClientOptions::new().plugin(recorder("a", &log));
            // Port 1 on loopback: nothing listens there.
            Client::connect_with("tcp@127.0.0.1:1", options.clone()).await.expect_err("refused");
            Client::connect_with("bogus@x", options).await.expect_err("bad address");
            assert_eq!(take(&log), ["a failed tcp@127.0.0.1:1", "a failed bogus@x"]);
        });
    }

    #[test]
    fn tracing_continues_the_callers_trace_in_metadata() {
        block_on(async {
            let server = TestServer::start(Kind::Engine);
            let options = ClientOptions::new().plugin(Tracing);
            let client = Client::connect_with(&server.addr, options).await.expect("connect");
            let args = Serde(Args { a: 1, b: 2 });

            // No caller context: a new sampled trace.
            let response = client
                .call_response::<_, Serde<ArithReply>>("Test", "Meta", &args, &CallOptions::new())
                .await
                .expect("call");
            let sent = TraceParent::parse(&response.metadata[TRACEPARENT_KEY]).expect("valid traceparent");
            assert!(sent.is_sampled());
            assert!(!response.metadata.contains_key(TRACESTATE_KEY));

            // A caller's context: same trace and flags, a new span; tracestate passed on.
            let caller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
            let options = CallOptions::new()
                .metadata(TRACEPARENT_KEY, caller)
                .metadata(TRACESTATE_KEY, "rojo=00f067aa0ba902b7");
            let response = client
                .call_response::<_, Serde<ArithReply>>("Test", "Meta", &args, &options)
                .await
                .expect("call");
            let child = TraceParent::parse(&response.metadata[TRACEPARENT_KEY]).expect("valid traceparent");
            let parent = TraceParent::parse(caller).unwrap();
            assert_eq!((child.trace_id, child.flags), (parent.trace_id, parent.flags));
            assert_ne!(child.span_id, parent.span_id);
            assert_eq!(response.metadata[TRACESTATE_KEY], "rojo=00f067aa0ba902b7");
        });
    }

    #[test]
    fn selection_hooks_filter_and_override_the_pick() {
        let (one, two) = (TestServer::start(Kind::Engine), TestServer::start(Kind::Engine));
        type R = <Client as RuntimeOf>::R;
        let only_two = Steer { keep: Some(two.addr.clone()), force: None };
        let servers = block_on(xclient_calls::<R>(&[&one, &two], only_two));
        assert!(servers.iter().all(|s| *s == two.addr), "{servers:?}");
        let forced_one = Steer { keep: None, force: Some(one.addr.clone()) };
        let servers = block_on(xclient_calls::<R>(&[&one, &two], forced_one));
        assert!(servers.iter().all(|s| *s == one.addr), "{servers:?}");
        // An override to an excluded server is ignored.
        let both = Steer { keep: Some(two.addr.clone()), force: Some(one.addr.clone()) };
        let servers = block_on(xclient_calls::<R>(&[&one, &two], both));
        assert!(servers.iter().all(|s| *s == two.addr), "{servers:?}");
    }
}
