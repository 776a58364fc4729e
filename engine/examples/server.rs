//! The example server: the services the Go interop program and the benchmarks call.
//!
//! ```text
//! cargo run --release -p ringrpc-engine --example server -- --listen 127.0.0.1:8972 --shards 2
//! cargo run --release -p ringrpc-engine --example server -- --driver uring
//! cargo run --release -p ringrpc-engine --example server -- --listen unix@/tmp/ringrpc.sock
//! cargo run --release -p ringrpc-engine --example server -- --listen tcp@[::1]:8972
//! cargo run --release -p ringrpc-engine --example server -- --admin 127.0.0.1:9100 --trace
//! ```
//!
//! The port also serves the HTTP gateway and JSON-RPC 2.0 (`curl -H 'X-RPCX-ServiceMethod:
//! Mul' -H 'X-RPCX-SerializeType: 1' -d '{"A":3,"B":4}' http://127.0.0.1:8972/Arith`).
//!
//! Services (the same as the Go reference server in bench-harness/go/cmd/rpcxserver):
//! `Arith.Mul`, `Arith.Add`, `Echo.Echo`, `Hello.Say` (the benchmark workload) and the
//! behaviour checks `Test.Sleep`, `Test.Fail`, `Test.Meta`, `Test.Push`. Prints one line
//! when ready and shuts down gracefully on SIGINT or SIGTERM: it leaves the registry (if
//! any), waits `--deregister-wait-ms` so clients notice, then drains. A second SIGINT or
//! SIGTERM ends the process at once.
//!
//! TLS: `--tls-cert server.crt --tls-key server.key [--tls-client-ca ca.crt]` serves TLS
//! only (mTLS with a client CA); SIGHUP reads the files again (new connections get them).

#[path = "server/services.rs"]
mod services;

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use ringrpc_engine::{
    CorsOptions, Driver, HttpConfig, ListenAddr, Server, ServerConfig, TlsConfig, UringConfig,
};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(about = "ringrpc example server (rpcx wire protocol)")]
struct Args {
    /// Where to listen: `host:port`, `tcp@host:port`, `tcp@[::1]:port` or `unix@/path`.
    #[arg(long, default_value = "127.0.0.1:8972")]
    listen: ListenAddr,
    /// I/O driver of the shards: `auto` (io_uring where the kernel allows it, else glommio
    /// with a warning), `uring` (raw io_uring, Linux 6.1+; fails if unavailable) or `glommio`.
    #[arg(long, default_value = "auto")]
    driver: Driver,
    /// Number of shards (one thread and one executor each).
    #[arg(long, default_value_t = 2)]
    shards: usize,
    /// CPUs to pin the shards to, one per shard (e.g. `--cpus 1` or `--cpus 0,1`).
    /// Default: the online CPUs in order.
    #[arg(long, value_delimiter = ',')]
    cpus: Vec<usize>,
    /// Require this `__AUTH` token on every request (heartbeats excepted).
    #[arg(long)]
    auth: Option<String>,
    /// Close connections idle for this many seconds (0: never).
    #[arg(long, default_value_t = 300)]
    idle_timeout_secs: u64,
    /// How long in-flight requests may run after SIGINT/SIGTERM, in seconds.
    #[arg(long, default_value_t = 10)]
    drain_timeout_secs: u64,
    /// After leaving the registry on SIGINT/SIGTERM, how long to keep serving before the
    /// drain starts, so that clients watching the registry stop picking this server first.
    /// Only with --registry.
    #[arg(long, default_value_t = 1000)]
    deregister_wait_ms: u64,
    /// Register every service in etcd, in rpcx-etcd's layout:
    /// `etcd://host:port[,host:port...]/<basePath>` (e.g. `etcd://127.0.0.1:2379/rpcx_test`).
    #[arg(long)]
    registry: Option<ringrpc_engine::registry::RegistryUrl>,
    /// The `network@host:port` clients should dial, when the listen address is not it.
    /// Default: `tcp@<listen address>`.
    #[arg(long)]
    advertise: Option<String>,
    /// Registration metadata of every service, a URL query such as `weight=2&group=a`.
    #[arg(long, default_value = "")]
    metadata: String,
    /// TTL of the registry lease every key hangs on, in seconds (2 at least): a server that
    /// dies vanishes from the registry this long after its last keep-alive.
    #[arg(long, default_value_t = 30)]
    lease_ttl_secs: u64,
    /// Serve TLS with this PEM certificate chain (needs --tls-key). SIGHUP reloads it.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<std::path::PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<std::path::PathBuf>,
    /// Require client certificates signed by a CA in this PEM file (mTLS).
    #[arg(long, requires = "tls_cert")]
    tls_client_ca: Option<std::path::PathBuf>,
    /// Do not serve the HTTP gateway (rpcx-go's DisableHTTPGateway).
    #[arg(long)]
    disable_gateway: bool,
    /// Do not serve JSON-RPC 2.0 (rpcx-go's DisableJSONRPC).
    #[arg(long)]
    disable_jsonrpc: bool,
    /// Answer CORS requests from any origin (rpcx-go's `SetCORS(AllowAllCORSOptions())`).
    #[arg(long)]
    cors_allow_all: bool,
    /// Serve `/metrics` (Prometheus), `/status` (JSON) and the status page `/` here
    /// (turns `--metrics` on).
    #[arg(long)]
    admin: Option<SocketAddr>,
    /// Serve `/metrics`, `/status` and `/` on the rpcx port too, to plain HTTP GETs (turns
    /// `--metrics` on; off by default: anyone who reaches the port could read them).
    #[arg(long)]
    admin_on_rpcx_port: bool,
    /// Count requests, latencies, connections and bytes with the metrics plugin.
    #[arg(long)]
    metrics: bool,
    /// io_uring driver: receive buffers per shard (a power of two). Pipelined large
    /// requests need count × size above the bytes in flight, or the driver copies.
    #[arg(long, default_value_t = UringConfig::default().buffer_count)]
    uring_buffers: u16,
    /// io_uring driver: size of each receive buffer, in KiB.
    #[arg(long, default_value_t = UringConfig::default().buffer_size_bytes >> 10)]
    uring_buffer_kib: usize,
    /// Run every request in a `req` span joined to the caller's W3C trace context
    /// (`traceparent` in the metadata); each span is logged when it closes (at `info`:
    /// `RUST_LOG=ringrpc_engine=info`).
    #[arg(long)]
    trace: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let span_events = if args.trace {
        tracing_subscriber::fmt::format::FmtSpan::CLOSE
    } else {
        tracing_subscriber::fmt::format::FmtSpan::NONE
    };
    tracing_subscriber::fmt()
        .with_span_events(span_events)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();

    let http = HttpConfig::default()
        .gateway(!args.disable_gateway)
        .jsonrpc(!args.disable_jsonrpc)
        .cors(args.cors_allow_all.then(CorsOptions::allow_all));
    let mut config = ServerConfig::default()
        .listen(args.listen.clone())
        .http(http)
        .shards(args.shards)
        .driver(args.driver)
        .cpus(args.cpus.clone())
        .idle_timeout(
            (args.idle_timeout_secs > 0).then(|| Duration::from_secs(args.idle_timeout_secs)),
        )
        .drain_timeout(Duration::from_secs(args.drain_timeout_secs))
        .uring(
            UringConfig::default()
                .buffer_count(args.uring_buffers)
                .buffer_size_bytes(args.uring_buffer_kib << 10),
        )
        .metrics(args.metrics)
        .admin_on_rpcx_port(args.admin_on_rpcx_port);
    if let Some(admin) = args.admin {
        config = config.admin(admin);
    }
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        let mut tls = TlsConfig::from_pem_files(cert, key);
        if let Some(ca) = &args.tls_client_ca {
            tls = tls.client_ca_path(ca);
        }
        config = config.tls(tls);
    }
    // Register signal handlers before the shards start, so no signal is missed.
    let mut signals =
        Signals::new([SIGINT, SIGTERM, SIGHUP]).context("installing signal handlers")?;
    let auth = args.auth.clone();
    let trace = args.trace;
    let server = Server::start(config, move |registry| {
        if trace {
            registry.plugin(ringrpc_engine::plugin::Tracing);
        }
        services::register(registry, auth.clone())
    })
    .context("starting the server")?;
    let shown = match server.listen_addr() {
        ListenAddr::Tcp(addr) => addr.to_string(),
        other => other.to_string(),
    };
    println!("ringrpc listening on {shown} ({} shards)", args.shards);
    if let Some(admin) = server.admin_addr() {
        println!("ringrpc admin on http://{admin}/");
    }

    let registrar = match &args.registry {
        Some(url) => Some(registry::register(url, &args, &server)?),
        None => None,
    };

    for signal in signals.forever() {
        if signal == SIGHUP {
            match server.reload_tls() {
                Ok(()) => eprintln!("ringrpc: SIGHUP, TLS certificate reloaded"),
                Err(e) => eprintln!("ringrpc: SIGHUP, TLS certificate not reloaded: {e}"),
            }
            continue;
        }
        eprintln!("ringrpc: signal {signal}, shutting down (again to exit at once)");
        break;
    }
    // A second signal ends the process at once, whatever the shutdown is waiting for.
    std::thread::spawn(move || {
        // SIGHUP (a certificate reload) does not count.
        if let Some(signal) = signals.forever().find(|&signal| signal != SIGHUP) {
            eprintln!("ringrpc: second signal {signal}, exiting now");
            std::process::exit(128 + signal);
        }
    });
    // Leave the registry first, and give clients a moment to notice, so they stop picking
    // this server before it drains.
    if let Some(registrar) = registrar {
        registry::deregister(registrar);
        std::thread::sleep(Duration::from_millis(args.deregister_wait_ms));
    }
    let report = server.shutdown();
    if !report.is_clean() {
        eprintln!(
            "ringrpc: shards {:?} did not stop (a handler that never yields?); exiting anyway",
            report.stuck_shards
        );
    }
    Ok(())
}

/// `--registry`: the services registered in etcd for as long as the server runs.
mod registry {
    use ringrpc_engine::registry::RegistryUrl;
    use ringrpc_engine::Server;

    /// Registers every service `server` serves (as its shards registered them) at the
    /// address clients dial.
    #[cfg(feature = "etcd")]
    pub fn register(
        url: &RegistryUrl,
        args: &super::Args,
        server: &Server,
    ) -> anyhow::Result<ringrpc_engine::registry::EtcdRegistrar> {
        use ringrpc_engine::registry::{EtcdRegistrar, Registration};
        let listen = server.listen_addr();
        let address = match &args.advertise {
            Some(address) => address.clone(),
            None if listen
                .as_tcp()
                .is_some_and(|addr| addr.ip().is_unspecified()) =>
            {
                anyhow::bail!("listening on {listen}: say with --advertise what clients dial")
            }
            None => listen.to_string(),
        };
        let registration = Registration::new(url.base_path.clone(), address.clone())
            .services(server.service_paths(), &args.metadata)
            .lease_ttl(std::time::Duration::from_secs(args.lease_ttl_secs));
        let registrar = EtcdRegistrar::start(url.endpoints.clone(), registration)?;
        server.show_registry(registrar.watch());
        if registrar.wait_registered(std::time::Duration::from_secs(5)) {
            println!("ringrpc registered {address} in {url}");
        } else {
            eprintln!("ringrpc: {url} unreachable; registering in the background");
        }
        Ok(registrar)
    }

    #[cfg(feature = "etcd")]
    pub fn deregister(registrar: ringrpc_engine::registry::EtcdRegistrar) {
        if let Err(error) = registrar.deregister(std::time::Duration::from_secs(2)) {
            eprintln!("ringrpc: deregistration failed ({error}); the lease will expire");
        }
    }

    #[cfg(not(feature = "etcd"))]
    pub fn register(url: &RegistryUrl, _: &super::Args, _: &Server) -> anyhow::Result<()> {
        anyhow::bail!("--registry {url}: built without the `etcd` feature")
    }

    #[cfg(not(feature = "etcd"))]
    pub fn deregister(_: ()) {}
}
