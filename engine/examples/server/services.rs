//! The example server's handlers. Argument and reply types use Go's field names, so JSON
//! and MsgPack clients written against the Go reference server work unchanged.

use std::time::Duration;

use ringrpc_engine::codec::payload::benchmark_message::BenchmarkMessage;
use ringrpc_engine::codec::payload::{Proto, Serde};
use ringrpc_engine::{HandlerError, Request, Response, Services};
use serde::{Deserialize, Serialize};

/// `{"A":int,"B":int}`: the argument of Arith.Mul, Arith.Add and Test.Fail.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Args {
    #[serde(rename = "A")]
    pub a: i64,
    #[serde(rename = "B")]
    pub b: i64,
}

/// `{"C":int}`: the reply of Arith.Mul, Arith.Add, Test.Meta and Test.Push.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Reply {
    #[serde(rename = "C")]
    pub c: i64,
}

/// `{"Ms":int}`: argument and reply of Test.Sleep.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SleepArgs {
    #[serde(rename = "Ms")]
    pub ms: i64,
}

/// `{"Count":int,"Payload":string}`: the argument of Test.Push.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PushArgs {
    #[serde(rename = "Count")]
    pub count: i64,
    #[serde(rename = "Payload")]
    pub payload: String,
}

/// Largest Test.Push count, as in the Go reference server.
const MAX_PUSH: i64 = 10_000;

/// The error text of a request whose `__AUTH` token is wrong or missing.
const AUTH_ERROR_TEXT: &str = "auth: invalid token";

type HandlerResult<T> = Result<Response<T>, HandlerError>;

/// Registers every service on one shard's table, with the auth hook if `auth` is a token.
pub fn register(services: &mut Services, auth: Option<String>) {
    services
        .service("Arith")
        .method("Mul", mul)
        .method("Add", add);
    services.service("Echo").method("Echo", echo);
    services.service("Hello").method("Say", say);
    services
        .service("Test")
        .method("Sleep", sleep)
        .method("Fail", fail)
        .method("Meta", meta)
        .method("Push", push);
    if let Some(token) = auth {
        services.set_auth(move |_, got| {
            if got == token {
                Ok(())
            } else {
                Err(AUTH_ERROR_TEXT.to_owned())
            }
        });
    }
}

async fn mul(request: Request) -> HandlerResult<Serde<Reply>> {
    let Serde(args): Serde<Args> = request.decode()?;
    Ok(Response::new(Serde(Reply {
        c: args.a.wrapping_mul(args.b),
    })))
}

async fn add(request: Request) -> HandlerResult<Serde<Reply>> {
    let Serde(args): Serde<Args> = request.decode()?;
    Ok(Response::new(Serde(Reply {
        c: args.a.wrapping_add(args.b),
    })))
}

/// The payload back as it came, the request metadata as response metadata.
async fn echo(request: Request) -> HandlerResult<bytes::Bytes> {
    // The metadata is copied first, then the payload taken: the reply holds the receive
    // buffer through the request's own reference, not a second one.
    let reply = Response::new(()).with_metadata_from(request.metadata());
    Ok(reply.with_payload(request.into_payload()))
}

/// The benchmark workload: decode, set field1 = "OK" and field2 = 100, encode.
async fn say(request: Request) -> HandlerResult<Proto<BenchmarkMessage>> {
    let Proto(message): Proto<BenchmarkMessage> = request.decode()?;
    Ok(Response::new(Proto(message.into_benchmark_reply())))
}

async fn sleep(request: Request) -> HandlerResult<Serde<SleepArgs>> {
    let Serde(args): Serde<SleepArgs> = request.decode()?;
    let ms = u64::try_from(args.ms).unwrap_or(0);
    ringrpc_engine::sleep(Duration::from_millis(ms)).await;
    Ok(Response::new(Serde(args)))
}

/// Fails like a Go method returning an error: the error reply still carries the encoded
/// (zero) reply object, `{"C":0}` in JSON.
async fn fail(request: Request) -> HandlerResult<Serde<Reply>> {
    let Serde(args): Serde<Args> = request.decode()?;
    let error = HandlerError::new(format!("test failure: A={} B={}", args.a, args.b));
    Ok(Response::new(Serde(Reply::default())).with_error(error))
}

async fn meta(request: Request) -> HandlerResult<Serde<Reply>> {
    let _: Serde<Args> = request.decode()?;
    Ok(Response::new(Serde(Reply { c: 1 })).with_metadata_from(request.metadata()))
}

/// Pushes `Count` messages (service "Test", method "Push", metadata n=<index>, payload =
/// `Payload`) on the caller's connection, then replies `{"C":Count}`.
async fn push(request: Request) -> HandlerResult<Serde<Reply>> {
    let Serde(args): Serde<PushArgs> = request.decode()?;
    if !(0..=MAX_PUSH).contains(&args.count) {
        return Err(HandlerError::new(format!(
            "push count {} out of range [0, {MAX_PUSH}]",
            args.count
        )));
    }
    let pusher = request.pusher();
    for i in 0..args.count {
        let index = i.to_string();
        pusher
            .push(
                "Test",
                "Push",
                [("n", index.as_str())],
                args.payload.as_bytes(),
            )
            .await?;
    }
    Ok(Response::new(Serde(Reply { c: args.count })))
}
