//! `volo-server`: CloudWeGo's volo-grpc as a benchmark peer, beside tonic the other Rust gRPC
//! server. It serves `proto.Hello/Say` (`bench-harness/go/proto/benchmark.proto`, the
//! service grpc-go's and tonic's peers serve): decode the BenchmarkMessage, set
//! field1 = "OK" and field2 = 100, encode it back.
//!
//! It runs as the tonic peer does, on one core: one current-thread tokio runtime (the
//! harness pins the process with `taskset`), volo-grpc's default server settings, and
//! TCP_NODELAY on (volo sets it on every accepted connection). Plaintext only: the harness
//! leaves this peer out of its TLS cells.
//!
//! ```text
//! taskset -c 1 volo-server --listen 127.0.0.1:8977
//! ```
//!
//! Not a member of the ringrpc workspace (see Cargo.toml); `scripts/bench.sh` builds it.

use std::net::SocketAddr;
use std::process::ExitCode;

use volo_grpc::server::{Server, ServiceBuilder};
use volo_grpc::{Request, Response, Status};

/// volo-build's output for `service Hello` (see build.rs).
mod generated {
    #![allow(missing_docs, clippy::all, unused)]
    include!(concat!(env!("OUT_DIR"), "/volo_gen.rs"));
}

use generated::volo_gen::proto::{BenchmarkMessage, Hello, HelloServer};

type Error = Box<dyn std::error::Error + Send + Sync>;

const USAGE: &str = "usage: volo-server [--listen ADDR] (default 127.0.0.1:8977)
volo-grpc server of proto.Hello/Say (BenchmarkMessage): a benchmark peer";

/// The benchmark's server side, as every peer applies it.
struct Benchmark;

impl Hello for Benchmark {
    async fn say(
        &self,
        request: Request<BenchmarkMessage>,
    ) -> Result<Response<BenchmarkMessage>, Status> {
        let mut message = request.into_inner();
        message.field1 = "OK".into();
        message.field2 = 100;
        Ok(Response::new(message))
    }
}

/// `--listen ADDR`, the one flag (the harness's flag for the tonic peer too); `None` for
/// `--help`.
fn parse_listen(mut args: impl Iterator<Item = String>) -> Result<Option<SocketAddr>, String> {
    let mut listen: SocketAddr = ([127, 0, 0, 1], 8977).into();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => {
                let value = args.next().ok_or("--listen needs an address")?;
                listen = value
                    .parse()
                    .map_err(|e| format!("--listen {value}: {e}"))?;
            }
            "-h" | "--help" => return Ok(None),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(Some(listen))
}

fn main() -> ExitCode {
    let listen = match parse_listen(std::env::args().skip(1)) {
        Ok(Some(listen)) => listen,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("volo-server: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let served = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Error::from)
        .and_then(|runtime| runtime.block_on(serve(listen)));
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("volo-server: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(listen: SocketAddr) -> Result<(), Error> {
    // Bound here rather than by `run` so that the ready line follows the bind.
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("bind {listen}: {e}"))?;
    println!("volo-server listening on {}", listener.local_addr()?);
    Server::new()
        .add_service(ServiceBuilder::new(HelloServer::new(Benchmark)).build())
        .run(volo::net::DefaultIncoming::from(listener))
        .await
}
