//! `call`: the curl of rpcx. Calls one method on an rpcx server (ringrpc or rpcx-go) and
//! prints the reply payload on stdout and the response metadata on stderr.
//!
//! ```text
//! cargo run --release -p ringrpc-client --example call -- \
//!     --server tcp@127.0.0.1:8972 --service Arith --method Mul --codec json '{"A":3,"B":4}'
//! ```
//!
//! The payload argument is the request body: JSON text for `--codec json` and `--codec
//! msgpack` (converted to MsgPack with structs as named maps, as rpcx-go expects), bytes
//! for `raw`, `protobuf` and `flatbuffers` (give them in hex with `--hex`). `@FILE` reads
//! the payload from a file, `-` from stdin. Replies are shown as pretty JSON (MsgPack
//! too), raw bytes as text when they are UTF-8 and as hex otherwise.
//!
//! With `--registry etcd://127.0.0.1:2379/<basePath>` instead of `--server`, the servers of
//! `--service` are discovered in etcd (rpcx-etcd's layout) and the call goes through an
//! XClient with `--select` (random, round_robin, weighted_round_robin, consistent_hash,
//! lowest_latency) and `--fail` (failover, failfast, failtry, failbackup).
//!
//! TLS: `--server tls@host:port` (or `--tls`) connects with TLS, verifying the server
//! against the webpki roots; `--tls-ca ca.crt` trusts that CA instead (and turns TLS on),
//! `--tls-server-name NAME` verifies and sends that name (default: the host), and
//! `--tls-cert client.crt --tls-key client.key` presents a client certificate (mTLS). The
//! same options apply to every server an XClient reaches with `--registry`.
//!
//! Exit status: 0 on success, 1 when the server answered with an error (its text is
//! printed), 2 when the call could not be made (bad input, connection, timeout).

use std::io::{Read, Write};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Parser, ValueEnum};
use ringrpc_client::tokio::Client;
use ringrpc_client::{ClientOptions, Error, Reply, Request, SerializeType};

#[derive(Parser, Debug)]
#[command(
    about = "Call one rpcx method and print the reply (payload on stdout, metadata on stderr)"
)]
struct Args {
    /// Server address: tcp@host:port, unix@/path or host:port.
    #[arg(long, required_unless_present = "registry")]
    server: Option<String>,
    /// Discover the servers of --service in etcd instead:
    /// etcd://host:port[,host:port...]/<basePath>.
    #[arg(long, conflicts_with = "server")]
    registry: Option<ringrpc_client::discovery::EtcdUrl>,
    /// With --registry: how a server is selected.
    #[arg(long, default_value = "random")]
    select: ringrpc_client::select::SelectMode,
    /// With --registry: what a failed attempt leads to.
    #[arg(long, default_value = "failover")]
    fail: ringrpc_client::fail::FailMode,
    /// Service path, e.g. Arith.
    #[arg(long)]
    service: String,
    /// Service method, e.g. Mul.
    #[arg(long)]
    method: String,
    /// Payload encoding (the request's serialize type).
    #[arg(long, value_enum, default_value_t = Codec::Json)]
    codec: Codec,
    /// Request metadata, repeatable: --meta k=v --meta k2=v2.
    #[arg(long = "meta", value_name = "K=V")]
    metadata: Vec<String>,
    /// Give up after this many milliseconds (also sent as __ServerTimeout); 0 waits forever.
    #[arg(long, default_value_t = 10_000)]
    timeout_ms: u64,
    /// Auth token, sent as __AUTH.
    #[arg(long)]
    auth: Option<String>,
    /// Gzip the request payload if it is over 1 KiB.
    #[arg(long)]
    gzip: bool,
    /// Send a oneway request and do not wait for a reply.
    #[arg(long)]
    oneway: bool,
    /// The payload argument is hex (for raw, protobuf and flatbuffers bytes).
    #[arg(long)]
    hex: bool,
    /// Connect with TLS (also: a `tls@host:port` server address, or any --tls-* option).
    #[arg(long)]
    tls: bool,
    /// TLS: trust the CA certificates in this PEM file instead of the webpki roots.
    #[arg(long, value_name = "FILE")]
    tls_ca: Option<std::path::PathBuf>,
    /// TLS: client certificate chain (PEM) for mTLS; needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<std::path::PathBuf>,
    /// TLS: the client certificate's private key (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<std::path::PathBuf>,
    /// TLS: the name the server's certificate must carry, sent as SNI. Default: the host.
    #[arg(long, value_name = "NAME")]
    tls_server_name: Option<String>,
    /// The request payload; @FILE reads a file, - reads stdin. Empty if left out.
    payload: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Codec {
    Json,
    Msgpack,
    Raw,
    Protobuf,
    Flatbuffers,
}

impl Codec {
    fn serialize_type(self) -> SerializeType {
        match self {
            Codec::Json => SerializeType::Json,
            Codec::Msgpack => SerializeType::MsgPack,
            Codec::Raw => SerializeType::None,
            Codec::Protobuf => SerializeType::Protobuf,
            Codec::Flatbuffers => SerializeType::FlatBuffers,
        }
    }
}

/// The TLS options the command line asks for, if any.
fn tls_options(args: &Args, tls_address: bool) -> Option<ringrpc_client::TlsOptions> {
    let wanted = args.tls
        || tls_address
        || args.tls_ca.is_some()
        || args.tls_cert.is_some()
        || args.tls_server_name.is_some();
    if !wanted {
        return None;
    }
    let mut tls = ringrpc_client::TlsOptions::new();
    if let Some(ca) = &args.tls_ca {
        tls = tls.ca_path(ca);
    }
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        tls = tls.client_cert(cert, key);
    }
    if let Some(name) = &args.tls_server_name {
        tls = tls.server_name(name);
    }
    Some(tls)
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    let result = match runtime {
        Ok(runtime) => runtime.block_on(run(&args)),
        Err(error) => Err(error.into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => match error.downcast_ref::<Error>() {
            Some(service @ Error::Service { .. }) => {
                eprintln!("error: {service}");
                ExitCode::from(1)
            }
            _ => {
                eprintln!("call failed: {error:#}");
                ExitCode::from(2)
            }
        },
    }
}

async fn run(args: &Args) -> anyhow::Result<()> {
    let payload = encode_payload(args)?;
    let metadata = args
        .metadata
        .iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => Ok((k.to_owned(), v.to_owned())),
            None => bail!("--meta {kv:?}: expected K=V"),
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut options = ClientOptions::new()
        .compress(args.gzip)
        .connect_timeout(Duration::from_secs(5));
    options.auth = args.auth.clone();
    let server = args.server.as_deref().unwrap_or_default();
    let (server, tls_address) = match server.strip_prefix("tls@") {
        Some(host_port) => (format!("tcp@{host_port}"), true),
        None => (server.to_owned(), false),
    };
    if let Some(tls) = tls_options(args, tls_address) {
        options = options.tls(tls);
    }
    if let Some(url) = &args.registry {
        let reply = registry::send(args, url, &payload, metadata, options).await?;
        for (key, value) in reply.metadata() {
            eprintln!("{key}: {value}");
        }
        return print_payload(&reply);
    }
    let client = Client::connect_with(&server, options).await?;
    let mut request = Request::new(&args.service, &args.method, &payload)
        .metadata(&metadata)
        .serialize_type(args.codec.serialize_type());
    if args.timeout_ms > 0 {
        request =
            request.deadline(std::time::Instant::now() + Duration::from_millis(args.timeout_ms));
    }
    if args.oneway {
        client.send_oneway(&request)?;
        client.close().await;
        return Ok(());
    }
    let reply = client.send(&request).await?;
    for (key, value) in reply.metadata() {
        eprintln!("{key}: {value}");
    }
    print_payload(&reply)
}

fn encode_payload(args: &Args) -> anyhow::Result<Vec<u8>> {
    let text = match args.payload.as_deref() {
        None => Vec::new(),
        Some("-") => {
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .context("reading stdin")?;
            buf
        }
        Some(arg) => match arg.strip_prefix('@') {
            Some(path) => std::fs::read(path).with_context(|| format!("reading {path}"))?,
            None => arg.as_bytes().to_vec(),
        },
    };
    if args.hex {
        return from_hex(std::str::from_utf8(&text).context("hex payload")?.trim());
    }
    Ok(match args.codec {
        Codec::Json | Codec::Msgpack if text.is_empty() => text,
        Codec::Json => {
            let value: serde_json::Value =
                serde_json::from_slice(&text).context("payload is not JSON")?;
            serde_json::to_vec(&value)?
        }
        Codec::Msgpack => {
            let value: serde_json::Value =
                serde_json::from_slice(&text).context("payload is not JSON")?;
            rmp_serde::to_vec_named(&value)?
        }
        Codec::Raw | Codec::Protobuf | Codec::Flatbuffers => text,
    })
}

fn print_payload(reply: &Reply) -> anyhow::Result<()> {
    let payload = reply.payload();
    let serialize_type = reply.serialize_type().ok();
    let shown = match serialize_type {
        Some(SerializeType::Json) => match serde_json::from_slice::<serde_json::Value>(payload) {
            Ok(value) => serde_json::to_string_pretty(&value)?,
            Err(_) => String::from_utf8_lossy(payload).into_owned(),
        },
        Some(SerializeType::MsgPack) if !payload.is_empty() => {
            let value: serde_json::Value =
                rmp_serde::from_slice(payload).context("reply is not MsgPack")?;
            serde_json::to_string_pretty(&value)?
        }
        Some(SerializeType::None) => match std::str::from_utf8(payload) {
            Ok(text) => text.to_owned(),
            Err(_) => to_hex(payload),
        },
        _ => to_hex(payload),
    };
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{shown}")?;
    Ok(())
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(text: &str) -> anyhow::Result<Vec<u8>> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if digits.len() % 2 != 0 {
        bail!("hex payload has an odd number of digits");
    }
    digits
        .chunks(2)
        .map(|pair| {
            let pair = std::str::from_utf8(pair)?;
            u8::from_str_radix(pair, 16).with_context(|| format!("bad hex {pair:?}"))
        })
        .collect()
}

/// `--registry`: discovery in etcd and an XClient with the chosen select and fail modes.
mod registry {
    use ringrpc_client::discovery::EtcdUrl;
    use ringrpc_client::{ClientOptions, Reply};

    #[cfg(feature = "etcd")]
    pub async fn send(
        args: &super::Args,
        url: &EtcdUrl,
        payload: &[u8],
        metadata: Vec<(String, String)>,
        options: ClientOptions,
    ) -> anyhow::Result<Reply> {
        use std::time::Duration;

        use ringrpc_client::discovery::{Discovery, EtcdControlPlane, EtcdDiscovery};
        use ringrpc_client::fail::FailPolicy;
        use ringrpc_client::xclient::{TokioTransport, XClient, XClientOptions};
        use ringrpc_client::CallOptions;

        let control = EtcdControlPlane::start(url.endpoints.clone())?;
        let discovery = EtcdDiscovery::new(&control, &url.base_path, &args.service);
        let mut watch = discovery.watch();
        if !watch.wait_until(Duration::from_secs(5), |servers| !servers.is_empty()) {
            anyhow::bail!("no server of {} under {}", args.service, discovery.prefix());
        }
        let keys: Vec<&str> = watch.current().iter().map(|s| s.key()).collect();
        eprintln!("discovered: {}", keys.join(" "));
        let xoptions = XClientOptions::new()
            .select(args.select)
            .fail(FailPolicy::new(args.fail));
        let transport = TokioTransport::new(options);
        let xclient = XClient::new(&args.service, watch, transport, xoptions);
        let mut call = CallOptions::new().serialize_type(args.codec.serialize_type());
        call.metadata = metadata;
        if args.timeout_ms > 0 {
            call.timeout = Some(Duration::from_millis(args.timeout_ms));
        }
        xclient
            .send(&args.method, payload, &call, None)
            .await
            .map_err(|error| match error {
                ringrpc_client::xclient::XError::Server { source, .. } => source.into(),
                other => anyhow::Error::new(other),
            })
    }

    #[cfg(not(feature = "etcd"))]
    pub async fn send(
        _: &super::Args,
        url: &EtcdUrl,
        _: &[u8],
        _: Vec<(String, String)>,
        _: ClientOptions,
    ) -> anyhow::Result<Reply> {
        anyhow::bail!("--registry {url:?}: built without the `etcd` feature")
    }
}
