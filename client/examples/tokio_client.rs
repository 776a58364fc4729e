//! The tokio client program of README's "Calling services: the client": typed calls with
//! the client's default codec, per-call options with response metadata, many calls in
//! flight on one connection, and telling retryable errors from the server's own.
//!
//! ```text
//! cargo run -p ringrpc-engine --example server -- --listen 127.0.0.1:8972 &
//! cargo run -p ringrpc-client --example tokio_client
//! ```

use std::time::Duration;

use ringrpc_client::tokio::Client;
use ringrpc_client::{CallOptions, ClientOptions, Serde, SerializeType};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Args {
    #[serde(rename = "A")]
    a: i64,
    #[serde(rename = "B")]
    b: i64,
}

#[derive(Serialize, Deserialize)]
struct Reply {
    #[serde(rename = "C")]
    c: i64,
}

#[tokio::main]
async fn main() -> Result<(), ringrpc_client::Error> {
    // .auth(token) sends __AUTH on every call; heartbeats are off by default, as in rpcx-go.
    let options = ClientOptions::new().heartbeat_interval(Duration::from_secs(10));
    let client = Client::connect_with("tcp@127.0.0.1:8972", options).await?;

    // MsgPack by default, as rpcx-go clients.
    let Serde(reply): Serde<Reply> = client
        .call("Arith", "Mul", &Serde(Args { a: 3, b: 4 }))
        .await?;
    assert_eq!(reply.c, 12);

    // Per call: JSON, a deadline (also sent as __ServerTimeout) and metadata both ways.
    let options = CallOptions::new()
        .serialize_type(SerializeType::Json)
        .timeout(Duration::from_millis(500))
        .metadata("trace-id", "abc");
    let response = client
        .call_response::<_, Serde<Reply>>("Test", "Meta", &Serde(Args { a: 1, b: 2 }), &options)
        .await?;
    println!(
        "C = {}, response metadata = {:?}",
        response.value.0.c, response.metadata
    );

    // Many calls in flight on one connection; the client is Send + Sync + Clone.
    let tasks: Vec<_> = (0..1000)
        .map(|a| {
            let client = client.clone();
            tokio::spawn(async move {
                let Serde(r): Serde<Reply> = client
                    .call("Arith", "Add", &Serde(Args { a, b: 1 }))
                    .await?;
                Ok::<_, ringrpc_client::Error>(r.c)
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("task")?;
    }

    // Errors say whether to retry: the server's own error never is.
    match client
        .call::<_, Serde<Reply>>("Test", "Fail", &Serde(Args { a: 1, b: 2 }))
        .await
    {
        Err(e) if e.is_retryable() => println!("connection trouble, try again: {e}"),
        Err(e) => println!("the server said: {e}"),
        Ok(_) => unreachable!(),
    }
    client.close().await;
    Ok(())
}
