//! The real servers the tests call: the stock rpcx-go server (a child process) and the
//! ringrpc engine (in this process, with the example server's services).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use ringrpc_engine::{Driver, Server, ServerConfig, TlsConfig};

/// The example server's services (Arith, Echo, Hello, Test), shared with the engine's
/// `server` example so both test servers offer exactly the same methods.
#[path = "../../../../engine/examples/server/services.rs"]
mod engine_services;

/// Which server implementation a test talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// bench-harness/go/cmd/rpcxserver: rpcx-go v1.9.4 with the test services.
    RpcxGo,
    /// The ringrpc engine in this process: one shard, the example server's services.
    Engine,
}

/// A running server on a loopback port, stopped on drop.
pub struct TestServer {
    /// `tcp@127.0.0.1:PORT`
    pub addr: String,
    child: Option<Child>,
    engine: Option<Server>,
}

impl TestServer {
    pub fn start(kind: Kind) -> Self {
        Self::start_with_auth(kind, None)
    }

    /// A server that accepts only requests whose `__AUTH` is `token`.
    pub fn start_with_auth(kind: Kind, token: Option<&str>) -> Self {
        match kind {
            Kind::RpcxGo => Self::rpcx_go(token),
            Kind::Engine => Self::engine(token),
        }
    }

    fn engine(token: Option<&str>) -> Self {
        Self::engine_with(ServerConfig::default(), token)
    }

    /// The engine serving TLS only, on `driver`.
    pub fn engine_tls(driver: Driver, tls: TlsConfig) -> Self {
        Self::engine_with(ServerConfig::default().driver(driver).tls(tls), None)
    }

    fn engine_with(config: ServerConfig, token: Option<&str>) -> Self {
        let config = config
            .listen(([127, 0, 0, 1], 0))
            .drain_timeout(Duration::from_millis(200));
        let auth = token.map(str::to_owned);
        let server = Server::start(config, move |services| {
            engine_services::register(services, auth.clone())
        })
        .expect("the engine starts");
        Self {
            addr: format!("tcp@{}", server.local_addr()),
            child: None,
            engine: Some(server),
        }
    }

    fn rpcx_go(token: Option<&str>) -> Self {
        Self::rpcx_go_with(token, &[])
    }

    /// rpcx-go serving TLS only (`server.WithTLSConfig`), with the Go peer's `-tls-*` flags.
    pub fn rpcx_go_tls(tls_args: &[&str]) -> Self {
        Self::rpcx_go_with(None, tls_args)
    }

    fn rpcx_go_with(token: Option<&str>, extra: &[&str]) -> Self {
        let mut args = vec!["-addr", "127.0.0.1:0"];
        if let Some(token) = token {
            args.extend(["-auth", token]);
        }
        args.extend(extra);
        Self::go_peer("rpcxserver", &args)
    }

    /// Runs the Go program `bench-harness/go/bin/<name>` with `args`; it must print
    /// `<name> listening on <host:port>` first.
    pub fn go_peer(name: &str, args: &[&str]) -> Self {
        let bin = go_bin(name);
        let mut command = Command::new(&bin);
        command
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        let (lines, first_line) = mpsc::channel();
        // Keeps draining stdout so the server never blocks (or dies) writing to it.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = lines.send(line);
            }
        });
        let line = first_line
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("{name} printed no `listening` line within 20 s"));
        let addr = line
            .strip_prefix(&format!("{name} listening on "))
            .unwrap_or_else(|| panic!("unexpected first line from {name}: {line:?}"))
            .to_owned();
        Self {
            addr: format!("tcp@{addr}"),
            child: Some(child),
            engine: None,
        }
    }

    /// `host:port` without the network prefix.
    pub fn host_port(&self) -> &str {
        self.addr.strip_prefix("tcp@").unwrap_or(&self.addr)
    }

    /// Stops the server: rpcx-go is killed at once (SIGKILL), so its connections die
    /// without a goodbye; the engine shuts down (briefly draining what is in flight).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(engine) = self.engine.take() {
            engine.shutdown();
        }
    }
}

/// A Go program built by `go build -o bin/ ./cmd/...` in bench-harness/go.
pub fn go_bin(name: &str) -> PathBuf {
    let bin = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../bench-harness/go/bin")
        .join(name);
    assert!(
        bin.exists(),
        "{} is missing: build the Go peers with `cd bench-harness/go && go build -o bin/ ./cmd/...` \
         (scripts/test.sh does this)",
        bin.display()
    );
    bin
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kill();
    }
}
