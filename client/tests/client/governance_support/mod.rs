//! Shared by the governance tests: etcd (the shared one from RINGRPC_ETCD, or a private
//! process a test may stop and restart), ringrpc servers that register themselves, and
//! XClients that discover them.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ringrpc_client::discovery::{Discovery, EtcdControlPlane, EtcdDiscovery};
use ringrpc_client::xclient::{TokioTransport, XClient, XClientOptions, XError};
use ringrpc_client::{CallOptions, Error, Serde};
use ringrpc_engine::registry::{EtcdRegistrar, Registration};
use ringrpc_engine::{HandlerError, Request, Response, Server, ServerConfig};
use serde::{Deserialize, Serialize};

/// The shared etcd; a test that needs it fails (never skips) when it is not configured.
pub fn etcd_endpoint() -> String {
    std::env::var("RINGRPC_ETCD").unwrap_or_else(|_| {
        panic!(
            "RINGRPC_ETCD is not set. Start etcd and point the tests at it, e.g.\n  \
             etcd --data-dir $(mktemp -d) --listen-client-urls http://127.0.0.1:2379 \
             --advertise-client-urls http://127.0.0.1:2379 --listen-peer-urls http://127.0.0.1:2380 &\n  \
             RINGRPC_ETCD=http://127.0.0.1:2379 cargo test"
        )
    })
}

/// A base path no other test run uses.
pub fn unique_base(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("/ringrpc_test_{name}_{nanos}")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An etcd process of the test's own, on free loopback ports with a temporary data dir;
/// killed (and its dir removed) on drop.
pub struct OwnEtcd {
    child: Option<Child>,
    data_dir: PathBuf,
    client_port: u16,
    peer_port: u16,
}

impl OwnEtcd {
    pub fn start() -> Self {
        let binary = std::env::var("RINGRPC_ETCD_BIN").unwrap_or_else(|_| "etcd".into());
        let data_dir = std::env::temp_dir().join(format!(
            "ringrpc-etcd-{}-{}",
            std::process::id(),
            free_port()
        ));
        let mut etcd = Self {
            child: None,
            data_dir,
            client_port: free_port(),
            peer_port: free_port(),
        };
        etcd.spawn(&binary);
        etcd
    }

    fn spawn(&mut self, binary: &str) {
        let client = format!("http://127.0.0.1:{}", self.client_port);
        let peer = format!("http://127.0.0.1:{}", self.peer_port);
        let child = Command::new(binary)
            .args(["--name", "test", "--data-dir"])
            .arg(&self.data_dir)
            .args([
                "--listen-client-urls",
                &client,
                "--advertise-client-urls",
                &client,
            ])
            .args([
                "--listen-peer-urls",
                &peer,
                "--initial-advertise-peer-urls",
                &peer,
            ])
            .arg(format!("--initial-cluster=test={peer}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run {binary} (install etcd-server, or set RINGRPC_ETCD_BIN): {e}")
            });
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", self.client_port)).is_err() {
            assert!(Instant::now() < deadline, "etcd did not start listening");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.client_port)
    }

    /// Kills etcd (its data stays).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts etcd again on the same ports and data.
    pub fn restart(&mut self) {
        self.stop();
        let binary = std::env::var("RINGRPC_ETCD_BIN").unwrap_or_else(|_| "etcd".into());
        self.spawn(&binary);
    }
}

impl Drop for OwnEtcd {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

/// `{"A":int,"B":int}`, as rpcx-go's Arith example.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Args {
    #[serde(rename = "A")]
    pub a: i64,
    #[serde(rename = "B")]
    pub b: i64,
}

/// `{"C":int}`.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Reply {
    #[serde(rename = "C")]
    pub c: i64,
}

/// Response metadata key under which test servers name themselves.
pub const SERVER_KEY: &str = "server";

/// A ringrpc server with `Arith.Mul`, registered in etcd. Its handler counts calls, can be
/// told to stall or to answer slowly, and names the server in the response metadata.
pub struct Node {
    pub key: String,
    pub calls: Arc<AtomicUsize>,
    pub stall: Arc<AtomicBool>,
    pub delay_ms: Arc<AtomicU64>,
    server: Option<Server>,
    registrar: Option<EtcdRegistrar>,
}

impl Node {
    pub fn start(endpoint: &str, base: &str, metadata: &str) -> Self {
        let calls = Arc::new(AtomicUsize::new(0));
        let stall = Arc::new(AtomicBool::new(false));
        let delay_ms = Arc::new(AtomicU64::new(0));
        let config = ServerConfig::default()
            .listen(([127, 0, 0, 1], 0))
            .drain_timeout(Duration::from_millis(500));
        let (c, s, d) = (calls.clone(), stall.clone(), delay_ms.clone());
        let name = Arc::new(std::sync::OnceLock::<String>::new());
        let name_in_handler = name.clone();
        let server = Server::start(config, move |services| {
            let (calls, stall, delay, name) =
                (c.clone(), s.clone(), d.clone(), name_in_handler.clone());
            services.register("Arith", "Mul", move |request: Request| {
                calls.fetch_add(1, Ordering::Relaxed);
                let stall = stall.load(Ordering::Relaxed);
                let delay = delay.load(Ordering::Relaxed);
                let name = name.get().cloned().unwrap_or_default();
                async move {
                    if stall {
                        ringrpc_engine::sleep(Duration::from_secs(30)).await;
                    }
                    if delay > 0 {
                        ringrpc_engine::sleep(Duration::from_millis(delay)).await;
                    }
                    let Serde(args): Serde<Args> = request.decode()?;
                    Ok::<_, HandlerError>(
                        Response::new(Serde(Reply { c: args.a * args.b }))
                            .with_metadata(SERVER_KEY, name),
                    )
                }
            });
        })
        .expect("server starts");
        let key = format!("tcp@{}", server.local_addr());
        name.set(key.clone()).unwrap();
        let registration = Registration::new(base, key.clone())
            .service("Arith", metadata)
            .lease_ttl(Duration::from_secs(5))
            .check_interval(Duration::from_secs(2));
        let registrar = EtcdRegistrar::start(vec![endpoint.to_owned()], registration).unwrap();
        Self {
            key,
            calls,
            stall,
            delay_ms,
            server: Some(server),
            registrar: Some(registrar),
        }
    }

    pub fn registrar(&self) -> &EtcdRegistrar {
        self.registrar.as_ref().expect("registered")
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::Relaxed)
    }

    /// Stops serving but stays registered: what clients see when a server dies before its
    /// lease runs out.
    pub fn stop_serving(&mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown();
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(registrar) = self.registrar.take() {
            let _ = registrar.deregister(Duration::from_secs(2));
        }
        self.stall.store(false, Ordering::Relaxed);
        self.stop_serving();
    }
}

/// An XClient on etcd discovery, with what keeps it alive.
pub struct Discovered {
    pub xclient: XClient<TokioTransport>,
    _discovery: EtcdDiscovery,
    _control: EtcdControlPlane,
}

impl Discovered {
    /// Discovers `Arith` under `base`, waiting until `servers` are listed.
    pub fn new(endpoint: &str, base: &str, servers: usize, options: XClientOptions) -> Self {
        let control = EtcdControlPlane::start([endpoint]).unwrap();
        let discovery = EtcdDiscovery::new(&control, base, "Arith");
        let mut watch = discovery.watch();
        assert!(
            watch.wait_until(Duration::from_secs(10), |list| list.len() == servers),
            "discovered {:?}",
            watch.current()
        );
        let xclient = XClient::new("Arith", watch, TokioTransport::default(), options);
        Self {
            xclient,
            _discovery: discovery,
            _control: control,
        }
    }
}

/// Calls Arith.Mul(a, 7), checks the product, returns the key of the server that answered.
pub async fn mul(
    x: &XClient<TokioTransport>,
    a: i64,
    hash_key: Option<&[u8]>,
) -> Result<String, XError<Error>> {
    let response = x
        .call_response::<_, Serde<Reply>>(
            "Mul",
            &Serde(Args { a, b: 7 }),
            &CallOptions::default(),
            hash_key,
        )
        .await?;
    assert_eq!(response.value.0.c, a * 7);
    Ok(response
        .metadata
        .get(SERVER_KEY)
        .cloned()
        .unwrap_or_default())
}

/// Waits until the XClient's server list satisfies `ready`; returns how long it took.
pub fn wait_servers(
    x: &XClient<TokioTransport>,
    timeout: Duration,
    ready: impl Fn(&[String]) -> bool,
) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < timeout {
        let keys: Vec<String> = x.servers().iter().map(|s| s.key().to_owned()).collect();
        if ready(&keys) {
            return Some(started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}
