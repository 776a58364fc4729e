//! The gRPC driver, for grpc-go with a load generator that can saturate it: tonic's client
//! on a single-threaded tokio runtime in this thread, C HTTP/2 connections with D unary
//! calls in flight on each (one task per call slot), paced like the other drivers. The
//! request is the same pre-encoded BenchmarkMessage the rpcx drivers send, passed through
//! a bytes codec, and the reply is judged by the same rule.

use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::{Buf, BufMut, Bytes};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use tonic::Status;

use super::workload::{RequestTemplate, Verdict, Workload};
use super::{
    measure_window, nanos_since, run_slot, sleep_until, LoadConfig, Outcome, Pacing, Window,
};

/// `service Hello { rpc Say(BenchmarkMessage) returns (BenchmarkMessage); }` in package
/// `proto` (bench-harness/go/proto/benchmark.proto).
const SAY: &str = "/proto.Hello/Say";

pub fn run(cfg: &LoadConfig) -> Result<Outcome> {
    if cfg.workload != Workload::BenchmarkMessage {
        bail!("the gRPC driver runs only benchmark-message (grpc-go's Hello.Say)");
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("start the tokio runtime")?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, drive(cfg))
}

/// tokio's timer ticks in whole milliseconds, so an open-loop call woken by it alone would
/// leave up to a millisecond late and the generator's own delay would count as the server's
/// latency. The wait therefore sleeps until `PRECISE_WAIT` before the due time and yields to
/// the other tasks from there on.
const PRECISE_WAIT: Duration = Duration::from_millis(2);

/// The pacing's wait on tokio: the timer for the coarse part, yielding for the rest.
fn wait_until(clock: Instant) -> impl AsyncFn(u64) + Copy {
    async move |at_ns| {
        let coarse = at_ns.saturating_sub(PRECISE_WAIT.as_nanos() as u64);
        sleep_until(clock, coarse, tokio::time::sleep).await;
        while nanos_since(clock) < at_ns {
            tokio::task::yield_now().await;
        }
    }
}

async fn drive(cfg: &LoadConfig) -> Result<Outcome> {
    let template = Rc::new(RequestTemplate::new(cfg.workload)?);
    let request = Bytes::from(template.payload.clone());
    let path = PathAndQuery::from_static(SAY);
    let mut channels = Vec::with_capacity(cfg.conns);
    for _ in 0..cfg.conns {
        // One Endpoint::connect is one HTTP/2 connection.
        let scheme = if cfg.tls_ca.is_some() {
            "https"
        } else {
            "http"
        };
        let mut endpoint =
            Endpoint::from_shared(format!("{scheme}://{}", cfg.addr))?.tcp_nodelay(true);
        if let Some(ca) = &cfg.tls_ca {
            let pem = std::fs::read(ca).with_context(|| format!("read {}", ca.display()))?;
            let tls = ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(pem))
                .domain_name("localhost");
            endpoint = endpoint.tls_config(tls)?;
        }
        let channel = endpoint
            .connect()
            .await
            .with_context(|| format!("connect to {}", cfg.addr))?;
        channels.push(channel);
    }

    let window = Window::start(cfg);
    let clock = window.clock;

    let mut tasks = Vec::new();
    for (i, channel) in channels.iter().enumerate() {
        let pacing = Pacing::new(cfg, i, window.end_ns);
        for _ in 0..cfg.depth_of(i) {
            let mut grpc = tonic::client::Grpc::new(channel.clone());
            let (template, rec, pacing) = (template.clone(), window.rec.clone(), pacing.clone());
            let (request, path) = (request.clone(), path.clone());
            tasks.push(tokio::task::spawn_local(async move {
                let call = async || match say(&mut grpc, request.clone(), path.clone()).await {
                    Ok(reply) => template.judge_payload(&reply),
                    Err(status) => Verdict::Error(status.to_string()),
                };
                run_slot(pacing, clock, &rec, wait_until(clock), call).await;
            }));
        }
    }

    let span = (window.start_ns, window.end_ns);
    let marks = measure_window(cfg, span, &window.rec, wait_until(clock)).await;

    // Calls still unanswered after the drain are cancelled and counted as unfinished.
    let drained = tokio::time::timeout(cfg.drain, async {
        for task in &mut tasks {
            let _ = task.await;
        }
    })
    .await;
    if drained.is_err() {
        tasks.iter().for_each(tokio::task::JoinHandle::abort);
    }
    drop(channels);
    Ok(window.finish(marks))
}

/// One `Hello.Say` unary call.
async fn say(
    grpc: &mut tonic::client::Grpc<Channel>,
    request: Bytes,
    path: PathAndQuery,
) -> Result<Bytes, Status> {
    grpc.ready()
        .await
        .map_err(|e| Status::unavailable(e.to_string()))?;
    let reply = grpc
        .unary(tonic::Request::new(request), path, BytesCodec)
        .await?;
    Ok(reply.into_inner())
}

/// Sends and receives protobuf messages as the bytes they already are.
#[derive(Debug, Clone, Copy, Default)]
struct BytesCodec;

impl Codec for BytesCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = BytesCodec;
    type Decoder = BytesCodec;

    fn encoder(&mut self) -> Self::Encoder {
        *self
    }

    fn decoder(&mut self) -> Self::Decoder {
        *self
    }
}

impl Encoder for BytesCodec {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for BytesCodec {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        let len = src.remaining();
        Ok(Some(src.copy_to_bytes(len)))
    }
}
