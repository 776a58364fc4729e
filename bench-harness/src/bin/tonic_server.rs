//! `tonic-server`: the Rust incumbent among the benchmark's peers, what a Rust user would
//! pick instead of ringrpc. A tonic gRPC server of `proto.Hello/Say`
//! (`bench-harness/go/proto/benchmark.proto`), the service grpc-go's peer serves: decode the
//! BenchmarkMessage, set field1 = "OK" and field2 = 100, encode it back.
//!
//! It runs as a tonic user would run it on one core: one current-thread tokio runtime
//! (the harness pins the process with `taskset`, as it pins the other servers), tonic's
//! default server settings, TCP_NODELAY on, and with `--tls-cert`/`--tls-key` tonic's
//! rustls acceptor (ALPN h2).
//!
//! ```text
//! taskset -c 1 tonic-server --listen 127.0.0.1:8976 [--tls-cert cert.pem --tls-key key.pem]
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Parser;
use ringrpc_codec::payload::benchmark_message::BenchmarkMessage;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Identity, Server, ServerTlsConfig};
use tonic::{Request, Response, Status};

/// tonic-build's output for `service Hello` (see build.rs).
mod generated {
    #![allow(missing_docs, clippy::all)]
    include!(concat!(env!("OUT_DIR"), "/proto.Hello.rs"));
}

use generated::hello_server::{Hello, HelloServer};

#[derive(Parser)]
#[command(about = "tonic gRPC server of proto.Hello/Say (BenchmarkMessage): a benchmark peer")]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8976")]
    listen: SocketAddr,
    /// Serve TLS only, with this PEM certificate chain.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

/// The benchmark's server side, as every peer applies it.
struct Benchmark;

#[tonic::async_trait]
impl Hello for Benchmark {
    async fn say(
        &self,
        request: Request<BenchmarkMessage>,
    ) -> Result<Response<BenchmarkMessage>, Status> {
        Ok(Response::new(request.into_inner().into_benchmark_reply()))
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("start the tokio runtime")?;
    runtime.block_on(serve(args))
}

async fn serve(args: Args) -> Result<()> {
    let mut server = Server::builder();
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        let read = |path: &PathBuf| {
            std::fs::read(path).with_context(|| format!("read {}", path.display()))
        };
        let identity = Identity::from_pem(read(cert)?, read(key)?);
        server = server
            .tls_config(ServerTlsConfig::new().identity(identity))
            .context("TLS configuration")?;
    }
    // Bound here rather than by `serve` so that the ready line follows the bind.
    let incoming = TcpIncoming::bind(args.listen)
        .with_context(|| format!("bind {}", args.listen))?
        .with_nodelay(Some(true));
    println!("tonic-server listening on {}", incoming.local_addr()?);
    server
        .add_service(HelloServer::new(Benchmark))
        .serve_with_incoming(incoming)
        .await
        .context("serve")
}
