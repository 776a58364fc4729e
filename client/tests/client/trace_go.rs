//! Proves ringrpc's client tracing joins a Go rpcx server's trace: the `Tracing` plugin
//! writes the call's W3C `traceparent` into the request metadata, the Go server
//! (bench-harness/go/cmd/otelserver) extracts it with go.opentelemetry.io/otel's
//! `propagation.TraceContext` as rpcx-go's OpenTelemetry plugin does, and its server span
//! has the ringrpc call span as remote parent, in the same trace.

use std::sync::{Arc, Mutex};

use ringrpc_client::plugin::trace_context::{TraceParent, TRACEPARENT_KEY};
use ringrpc_client::plugin::{CallOutcome, ClientPlugin, OutgoingCall, Tracing};
use ringrpc_client::{CallOptions, ClientOptions, Serde};

use crate::support;
use crate::support::types::{Args, ArithReply};
use crate::support::TestServer;

/// Keeps the `traceparent` each call went out with (registered after `Tracing`).
#[derive(Default, Clone)]
struct Sent(Arc<Mutex<Vec<TraceParent>>>);

impl ClientPlugin for Sent {
    fn after_call(&self, call: &OutgoingCall<'_>, _outcome: &CallOutcome<'_>) {
        let sent = call
            .metadata_value(TRACEPARENT_KEY)
            .and_then(TraceParent::parse);
        self.0.lock().unwrap().extend(sent);
    }
}

for_each_driver! {
    #[test]
    fn the_go_server_span_is_a_child_of_the_client_span() {
        let server = TestServer::go_peer("otelserver", &["-addr", "127.0.0.1:0"]);
        block_on(async {
            let sent = Sent::default();
            let options = ClientOptions::new().plugin(Tracing).plugin(sent.clone());
            let client = Client::connect_with(&server.addr, options).await.expect("connect");
            let caller = TraceParent::parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01").unwrap();
            let calls = [
                CallOptions::new(),
                CallOptions::new().metadata(TRACEPARENT_KEY, caller.to_string()),
            ];
            for (i, options) in calls.iter().enumerate() {
                let response = client
                    .call_response::<_, Serde<ArithReply>>("Arith", "Mul", &Serde(Args { a: 6, b: 7 }), options)
                    .await
                    .expect("call");
                assert_eq!(response.value.0.c, 42);
                let client_span = sent.0.lock().unwrap()[i];
                let server = &response.metadata;
                assert_eq!(server["otel_trace_id"], client_span.trace_id_hex(), "same trace");
                assert_eq!(server["otel_parent_span_id"], client_span.span_id_hex(), "parent is the call span");
                assert_eq!(server["otel_parent_remote"], "true");
                assert_ne!(server["otel_span_id"], client_span.span_id_hex());
            }
            // The second call continued the caller's trace.
            assert_eq!(sent.0.lock().unwrap()[1].trace_id, caller.trace_id);
        });
    }
}
