//! The glommio client program of README's "Calling services: the client": many calls in
//! flight on one connection of a glommio executor, server pushes, and a oneway request.
//! `PushArgs` is only sent, so it needs only `Serialize`.
//!
//! ```text
//! cargo run -p ringrpc-engine --example server -- --listen 127.0.0.1:8972 &
//! cargo run -p ringrpc-client --features glommio --example glommio_client
//! ```

use glommio::LocalExecutorBuilder;
use ringrpc_client::glommio::Client;
use ringrpc_client::{CallOptions, Serde};
use serde::{Deserialize, Serialize};

#[derive(Serialize)]
struct Args {
    #[serde(rename = "A")]
    a: i64,
    #[serde(rename = "B")]
    b: i64,
}

#[derive(Deserialize)]
struct Reply {
    #[serde(rename = "C")]
    c: i64,
}

#[derive(Serialize)]
struct PushArgs {
    #[serde(rename = "Count")]
    count: i64,
    #[serde(rename = "Payload")]
    payload: String,
}

fn main() {
    // Keep io_memory small: it is locked memory.
    let executor = LocalExecutorBuilder::default()
        .io_memory(512 << 10)
        .make()
        .expect("executor");
    executor.run(async {
        let client = Client::connect("tcp@127.0.0.1:8972")
            .await
            .expect("connect");

        // 1000 calls in flight at once on one connection (the client is Rc-based and Clone).
        let calls: Vec<_> = (0..1000)
            .map(|a| {
                let client = client.clone();
                glommio::spawn_local(async move {
                    let Serde(r): Serde<Reply> = client
                        .call("Arith", "Mul", &Serde(Args { a, b: 2 }))
                        .await?;
                    Ok::<_, ringrpc_client::Error>(r.c)
                })
            })
            .collect();
        for call in calls {
            call.await.expect("call");
        }

        // Server pushes (rpcx's bidirectional mode): Test.Push sends Count of them first.
        let args = Serde(PushArgs {
            count: 3,
            payload: "hi".into(),
        });
        let _: Serde<Reply> = client.call("Test", "Push", &args).await.expect("call");
        for _ in 0..3 {
            let push = client.next_push().await.expect("push");
            println!(
                "{}.{} n={:?}",
                push.service_path(),
                push.service_method(),
                push.metadata().get("n")
            );
        }

        // Oneway: no reply; returns once queued.
        client
            .oneway(
                "Arith",
                "Mul",
                &Serde(Args { a: 1, b: 1 }),
                &CallOptions::new(),
            )
            .expect("queued");
        client.close().await;
    });
}
