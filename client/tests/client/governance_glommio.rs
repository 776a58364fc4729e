//! The XClient on a glommio executor, over the glommio client, against real ringrpc servers
//! given as a static list (no registry): one connection per server reused, round robin exact,
//! Failover hiding a server that stops, Failbackup answering while a server stalls.
#![cfg(feature = "glommio")]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ringrpc_client::discovery::{Discovery, MultipleDiscovery};
use ringrpc_client::fail::{FailMode, FailPolicy};
use ringrpc_client::select::SelectMode;
use ringrpc_client::xclient::{GlommioTransport, XClient, XClientOptions};
use ringrpc_client::Serde;
use ringrpc_engine::{HandlerError, Request, Response, Server, ServerConfig};
use serde::{Deserialize, Serialize};

#[derive(Debug, Default, Serialize, Deserialize)]
struct Args {
    #[serde(rename = "A")]
    a: i64,
    #[serde(rename = "B")]
    b: i64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Reply {
    #[serde(rename = "C")]
    c: i64,
}

/// A server with `Arith.Mul` that counts its calls and can be told to stall.
struct Node {
    key: String,
    calls: Arc<AtomicUsize>,
    stall: Arc<AtomicBool>,
    server: Option<Server>,
}

impl Node {
    fn start() -> Self {
        let calls = Arc::new(AtomicUsize::new(0));
        let stall = Arc::new(AtomicBool::new(false));
        let config = ServerConfig::default()
            .listen(([127, 0, 0, 1], 0))
            .drain_timeout(Duration::from_millis(300));
        let (c, s) = (calls.clone(), stall.clone());
        let server = Server::start(config, move |services| {
            let (calls, stall) = (c.clone(), s.clone());
            services.register("Arith", "Mul", move |request: Request| {
                calls.fetch_add(1, Ordering::Relaxed);
                let stall = stall.load(Ordering::Relaxed);
                async move {
                    if stall {
                        ringrpc_engine::sleep(Duration::from_secs(30)).await;
                    }
                    let Serde(args): Serde<Args> = request.decode()?;
                    Ok::<_, HandlerError>(Response::new(Serde(Reply { c: args.a * args.b })))
                }
            });
        })
        .expect("server starts");
        let key = format!("tcp@{}", server.local_addr());
        Self {
            key,
            calls,
            stall,
            server: Some(server),
        }
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::Relaxed)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.stall.store(false, Ordering::Relaxed);
        if let Some(server) = self.server.take() {
            server.shutdown();
        }
    }
}

/// Runs `test` on a glommio executor on this thread.
fn glommio_run<F: std::future::Future>(test: F) -> F::Output {
    let executor = glommio::LocalExecutorBuilder::default()
        .io_memory(256 << 10)
        .make()
        .expect("glommio executor");
    executor.run(test)
}

fn xclient(nodes: &[Node], select: SelectMode, fail: FailMode) -> XClient<GlommioTransport> {
    let discovery = MultipleDiscovery::from_pairs(nodes.iter().map(|n| (n.key.clone(), "")));
    let options = XClientOptions::new()
        .select(select)
        .fail(FailPolicy::new(fail).backup_latency(Duration::from_millis(30)))
        .timeout(Duration::from_secs(5));
    XClient::new(
        "Arith",
        discovery.watch(),
        GlommioTransport::default(),
        options,
    )
}

async fn mul(x: &XClient<GlommioTransport>, a: i64) -> i64 {
    let Serde(reply): Serde<Reply> = x.call("Mul", &Serde(Args { a, b: 7 })).await.expect("call");
    reply.c
}

#[test]
fn round_robin_and_failover_on_glommio() {
    let mut nodes: Vec<Node> = (0..3).map(|_| Node::start()).collect();
    // Connections belong to the executor that opened them: one XClient per executor run.
    glommio_run(async {
        let x = xclient(&nodes, SelectMode::RoundRobin, FailMode::Failover);
        for a in 0..300 {
            assert_eq!(mul(&x, a).await, a * 7);
        }
    });
    assert!(
        nodes.iter().all(|n| n.calls() == 100),
        "round robin is exact"
    );

    nodes[1].server.take().unwrap().shutdown();
    glommio_run(async {
        let x = xclient(&nodes, SelectMode::RoundRobin, FailMode::Failover);
        for a in 0..300 {
            assert_eq!(mul(&x, a).await, a * 7, "failover hides the stopped server");
        }
    });
    assert_eq!(nodes[0].calls() + nodes[2].calls(), 500);
}

#[test]
fn failbackup_on_glommio_answers_while_a_server_stalls() {
    let nodes: Vec<Node> = (0..2).map(|_| Node::start()).collect();
    nodes[0].stall.store(true, Ordering::Relaxed);
    let started = Instant::now();
    glommio_run(async {
        let x = xclient(&nodes, SelectMode::RoundRobin, FailMode::Failbackup);
        for a in 0..20 {
            assert_eq!(mul(&x, a).await, a * 7);
        }
    });
    assert!(
        nodes[0].calls() >= 5,
        "the stalled server was asked first in its turns"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}
