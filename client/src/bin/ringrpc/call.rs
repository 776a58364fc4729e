//! `ringrpc call`: one request over rpcx to one server (`--server`), to the servers of an
//! etcd registry through an XClient (`--registry`), or as an HTTP request to rpcx's gateway
//! (`--http`, in [`crate::gateway`]).

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Args;
use ringrpc_client::discovery::EtcdUrl;
use ringrpc_client::fail::FailMode;
use ringrpc_client::select::SelectMode;
use ringrpc_client::tokio::Client;
use ringrpc_client::{ClientOptions, Reply, Request, SerializeType};

use crate::payload::{self, Codec};
use crate::tls::TlsArgs;

/// `ringrpc call`.
#[derive(Args, Debug)]
pub struct CallArgs {
    /// Server address: tcp@host:port, unix@/path or host:port.
    #[arg(long, required_unless_present = "registry")]
    pub server: Option<String>,
    /// Discover the servers of --service in etcd instead:
    /// etcd://host:port[,host:port...]/BASE_PATH.
    #[arg(long, conflicts_with = "server")]
    pub registry: Option<EtcdUrl>,
    /// With --registry: how a server is selected.
    #[arg(long, default_value = "random")]
    pub select: SelectMode,
    /// With --registry: what a failed attempt leads to.
    #[arg(long, default_value = "failover")]
    pub fail: FailMode,
    /// With --registry: how long to wait for a usable (active) server to be discovered.
    #[arg(long, default_value_t = 5_000)]
    pub discover_ms: u64,
    /// Call through rpcx's HTTP gateway on the server's port (an HTTP/1.1 POST with
    /// X-RPCX-* headers) instead of speaking rpcx.
    #[arg(long, conflicts_with_all = ["registry", "gzip"])]
    pub http: bool,
    /// Service path, e.g. Arith.
    #[arg(long)]
    pub service: String,
    /// Service method, e.g. Mul.
    #[arg(long)]
    pub method: String,
    /// Payload encoding (the request's serialize type).
    #[arg(long, value_enum, default_value_t = Codec::Json)]
    pub codec: Codec,
    /// Request metadata, repeatable: --meta k=v --meta k2=v2.
    #[arg(long = "meta", value_name = "K=V")]
    pub metadata: Vec<String>,
    /// Give up after this many milliseconds (over rpcx also sent as __ServerTimeout); 0 waits
    /// forever.
    #[arg(long, default_value_t = 10_000)]
    pub timeout_ms: u64,
    /// Auth token, sent as __AUTH (over --http as the Authorization header).
    #[arg(long)]
    pub auth: Option<String>,
    /// Gzip the request payload if it is over 1 KiB (not with --http: the gateway does not
    /// decompress).
    #[arg(long)]
    pub gzip: bool,
    /// Send a oneway request and do not wait for a reply (with --http the gateway still
    /// answers once the method ran).
    #[arg(long, conflicts_with = "registry")]
    pub oneway: bool,
    /// The payload argument is hex (for raw, protobuf and flatbuffers bytes).
    #[arg(long)]
    pub hex: bool,
    /// The largest reply accepted, in bytes.
    #[arg(long, default_value_t = ringrpc_codec::Limits::DEFAULT_MAX_FRAME_BYTES)]
    pub reply_max_bytes: u32,
    /// TLS (a `tls@host:port` server, `--tls`, `--tls-ca`, `--tls-cert`/`--tls-key`,
    /// `--tls-server-name`).
    #[command(flatten)]
    pub tls: TlsArgs,
    /// The request payload; @FILE reads a file, - reads stdin. Empty if left out.
    pub payload: Option<String>,
}

impl CallArgs {
    /// `--meta` as pairs.
    pub fn metadata_pairs(&self) -> anyhow::Result<Vec<(String, String)>> {
        self.metadata
            .iter()
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) => Ok((k.to_owned(), v.to_owned())),
                None => bail!("--meta {kv:?}: expected K=V"),
            })
            .collect()
    }

    /// `--timeout-ms`, `None` for 0.
    pub fn timeout(&self) -> Option<Duration> {
        (self.timeout_ms > 0).then(|| Duration::from_millis(self.timeout_ms))
    }
}

/// Runs `ringrpc call`.
pub async fn run(args: &CallArgs) -> anyhow::Result<()> {
    let text = payload::read_argument(args.payload.as_deref())?;
    let payload = payload::encode(text, args.codec, args.hex)?;
    let metadata = args.metadata_pairs()?;
    if args.http {
        let server = args.server.as_deref().unwrap_or_default();
        if args.tls.resolve(server).1.is_some() {
            bail!("--http calls the gateway over plain HTTP: TLS is for rpcx calls");
        }
        return crate::gateway::call(args, payload, &metadata).await;
    }
    let limits = ringrpc_codec::Limits::default()
        .max_frame_bytes(args.reply_max_bytes)
        .max_decompressed_bytes(args.reply_max_bytes as usize);
    let mut options = ClientOptions::new()
        .compress(args.gzip)
        .connect_timeout(Duration::from_secs(5))
        .limits(limits);
    if let Some(token) = &args.auth {
        options = options.auth(token.clone());
    }
    let (server, tls) = args.tls.resolve(args.server.as_deref().unwrap_or_default());
    if let Some(tls) = tls {
        options = options.tls(tls);
    }
    let reply = match &args.registry {
        Some(url) => via_registry(args, url, &payload, metadata, options).await?,
        None => {
            let client = Client::connect_with(&server, options).await?;
            let mut request = Request::new(&args.service, &args.method, &payload)
                .metadata(&metadata)
                .serialize_type(args.codec.serialize_type());
            if let Some(timeout) = args.timeout() {
                request = request.deadline(Instant::now() + timeout);
            }
            if args.oneway {
                client.send_oneway(&request)?;
                client.close().await;
                return Ok(());
            }
            client.send(&request).await?
        }
    };
    print_reply(
        reply.metadata(),
        reply.payload(),
        reply.serialize_type().ok(),
    )
}

/// Prints the metadata on stderr (`key: value` lines) and the payload on stdout.
pub fn print_reply<'a>(
    metadata: impl IntoIterator<Item = (&'a str, &'a str)>,
    payload: &[u8],
    serialize_type: Option<SerializeType>,
) -> anyhow::Result<()> {
    for (key, value) in metadata {
        eprintln!("{key}: {value}");
    }
    let shown = payload::show(payload, serialize_type)?;
    writeln!(std::io::stdout().lock(), "{shown}")?;
    Ok(())
}

/// `--registry`: discovery in etcd and an XClient with the chosen select and fail modes.
async fn via_registry(
    args: &CallArgs,
    url: &EtcdUrl,
    payload: &[u8],
    metadata: Vec<(String, String)>,
    options: ClientOptions,
) -> anyhow::Result<Reply> {
    use ringrpc_client::discovery::{Discovery, EtcdControlPlane, EtcdDiscovery};
    use ringrpc_client::fail::FailPolicy;
    use ringrpc_client::xclient::{TokioTransport, XClient, XClientOptions, XError};
    use ringrpc_client::CallOptions;

    let control = EtcdControlPlane::start(url.endpoints.clone())?;
    let discovery = EtcdDiscovery::new(&control, &url.base_path, &args.service);
    let mut watch = discovery.watch();
    let discover = Duration::from_millis(args.discover_ms);
    if !watch.wait_until(discover, |servers| !servers.is_empty()) {
        bail!(
            "no active server of {} under {} within {} ms",
            args.service,
            discovery.prefix(),
            args.discover_ms
        );
    }
    let keys: Vec<&str> = watch.current().iter().map(|s| s.key()).collect();
    eprintln!("discovered: {}", keys.join(" "));
    let xoptions = XClientOptions::new()
        .select(args.select)
        .fail(FailPolicy::new(args.fail));
    let xclient = XClient::new(&args.service, watch, TokioTransport::new(options), xoptions);
    let mut call = CallOptions::new().serialize_type(args.codec.serialize_type());
    call.metadata = metadata;
    if let Some(timeout) = args.timeout() {
        call = call.timeout(timeout);
    }
    xclient
        .send(&args.method, payload, &call, None)
        .await
        .map_err(|error| match error {
            XError::Server { source, .. } => source.into(),
            other => anyhow::Error::new(other),
        })
}
