//! Writing a service (the README's program): typed, raw and pushing handlers, an auth hook,
//! two shards, running until SIGINT or SIGTERM.
//!
//! ```text
//! cargo run -p ringrpc-engine --example service
//! ```
//!
//! Serves `Arith.Mul` and `Arith.Add` (`{"A","B"}` -> `{"C"}`, JSON or MsgPack), `Echo.Echo`
//! (payload and metadata back as they came) and `Events.Notify` (three pushes, a timer, then
//! a reply) on 127.0.0.1:8972, to clients that send the `__AUTH` token `secret`.

use std::time::Duration;

use bytes::Bytes;
use ringrpc_engine::codec::payload::Serde;
use ringrpc_engine::{HandlerError, Request, Response, Server, ServerConfig, Services};
use serde::{Deserialize, Serialize};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// `{"A":int,"B":int}`: Go field names, as rpcx-go's JSON and MsgPack codecs write them.
/// An argument is only decoded, so it needs only `Deserialize`.
#[derive(Default, Deserialize)]
#[serde(default)]
struct Args {
    #[serde(rename = "A")]
    a: i64,
    #[serde(rename = "B")]
    b: i64,
}

/// `{"C":int}`. A reply is only encoded, so it needs only `Serialize`.
#[derive(Serialize)]
struct Reply {
    #[serde(rename = "C")]
    c: i64,
}

/// Typed: decoded and encoded with the request's serialize type (JSON or MsgPack here).
async fn mul(request: Request) -> Result<Response<Serde<Reply>>, HandlerError> {
    let Serde(args): Serde<Args> = request.decode()?;
    Ok(Response::new(Serde(Reply {
        c: args.a.wrapping_mul(args.b),
    })))
}

async fn add(request: Request) -> Result<Response<Serde<Reply>>, HandlerError> {
    let Serde(args): Serde<Args> = request.decode()?;
    Ok(Response::new(Serde(Reply {
        c: args.a.wrapping_add(args.b),
    })))
}

/// Raw: the payload is a zero-copy slice of the receive buffer; metadata is echoed.
async fn echo(request: Request) -> Result<Response<Bytes>, HandlerError> {
    // The metadata is copied first, then the payload taken: the reply holds the receive
    // buffer through the request's own reference, not a second one.
    let reply = Response::new(()).with_metadata_from(request.metadata());
    Ok(reply.with_payload(request.into_payload()))
}

/// Server pushes (they reach the client before this reply), a timer, then a reply.
async fn notify(request: Request) -> Result<Response<Bytes>, HandlerError> {
    let pusher = request.pusher();
    for i in 0..3 {
        let n = i.to_string();
        pusher
            .push("Events", "Tick", [("n", n.as_str())], b"tick")
            .await?;
    }
    ringrpc_engine::sleep(Duration::from_millis(5)).await;
    Ok(Response::new(Bytes::from_static(b"done")))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = ServerConfig::default()
        .listen(([127, 0, 0, 1], 8972))
        .shards(2);
    // Before the shards start, so no signal is missed.
    let mut signals = Signals::new([SIGINT, SIGTERM])?;
    let server = Server::start(config, |services: &mut Services| {
        // Runs once on every shard thread: anything created here is shard-local (!Send is fine).
        services
            .service("Arith")
            .method("Mul", mul)
            .method("Add", add);
        services.service("Echo").method("Echo", echo);
        services.service("Events").method("Notify", notify);
        services.set_auth(|_request, token| {
            if token == "secret" {
                Ok(())
            } else {
                Err("auth: invalid token".to_owned())
            }
        });
    })?;
    println!(
        "listening on {}, serving {:?}",
        server.local_addr(),
        server.service_paths()
    );
    signals.forever().next();
    server.shutdown(); // stop accepting, finish in-flight requests, flush, close
    Ok(())
}
