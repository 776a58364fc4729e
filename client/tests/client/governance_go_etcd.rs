//! Cross-language discovery through etcd with stock rpcx-go (v1.9.4) and rpcx-etcd: the Go
//! XClient finds ringrpc servers registered by the ringrpc registrar and calls them; the
//! ringrpc XClient finds an rpcx-go server registered by the rpcx-etcd plugin, calls it, and
//! sees it leave when it shuts down gracefully.
//!
//! Needs etcd (RINGRPC_ETCD) and Go (the test builds bench-harness/go/cmd/etcdpeer).
#![cfg(all(feature = "etcd", feature = "tokio"))]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::governance_support::{etcd_endpoint, mul, unique_base, wait_servers, Discovered, Node};
use ringrpc_client::fail::{FailMode, FailPolicy};
use ringrpc_client::select::SelectMode;
use ringrpc_client::xclient::XClientOptions;

/// Builds the Go program once per test binary run; fails with the reason if it cannot.
fn etcdpeer() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let module = Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench-harness/go");
            let binary = Path::new(env!("CARGO_TARGET_TMPDIR")).join("etcdpeer");
            let mut build = Command::new("go")
                .args(["build", "-o"])
                .arg(&binary)
                .arg("./cmd/etcdpeer")
                .current_dir(&module)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run `go build` (is Go installed?): {e}"));
            let status =
                wait_bounded(&mut build, Duration::from_secs(600)).expect("go build finished");
            assert!(status.success(), "go build ./cmd/etcdpeer failed");
            binary
        })
        .clone()
}

fn wait_bounded(child: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `http://127.0.0.1:2379` -> `127.0.0.1:2379`, as rpcx-etcd takes it.
fn go_endpoint(endpoint: &str) -> String {
    endpoint
        .trim_start_matches("http://")
        .trim_start_matches("https://")
        .to_owned()
}

#[test]
fn go_xclient_discovers_and_calls_ringrpc_servers() {
    let endpoint = etcd_endpoint();
    let base = unique_base("go_calls_ringrpc");
    let nodes: Vec<Node> = (0..2)
        .map(|_| Node::start(&endpoint, &base, "weight=1"))
        .collect();
    for node in &nodes {
        assert!(node.registrar().wait_registered(Duration::from_secs(10)));
    }
    let mut call = Command::new(etcdpeer())
        .args([
            "call",
            "-etcd",
            &go_endpoint(&endpoint),
            "-base",
            &base,
            "-n",
            "20",
            "-min",
            "2",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait_bounded(&mut call, Duration::from_secs(30)).expect("etcdpeer call finished");
    let mut output = String::new();
    std::io::Read::read_to_string(call.stdout.as_mut().unwrap(), &mut output).unwrap();
    eprintln!("etcdpeer: {output}");
    assert!(status.success(), "the Go XClient failed: {output}");
    assert!(output.starts_with("ok 20 calls to 2 servers"), "{output}");
    for node in &nodes {
        assert!(output.contains(&node.key), "{output}");
    }
    assert_eq!(
        nodes.iter().map(Node::calls).sum::<usize>(),
        20,
        "every Go call reached a ringrpc server"
    );
    // Not exactly 10 each: Go's round-robin order comes from a map rebuilt on every update.
    assert!(
        nodes.iter().all(|n| n.calls() > 0),
        "Go's round robin used both"
    );
}

/// A stock rpcx-go server registered with rpcx-etcd; SIGTERM on drop (graceful shutdown).
struct GoServer {
    child: Child,
    key: String,
}

impl GoServer {
    fn start(endpoint: &str, base: &str, metadata: &str) -> Self {
        let mut child = Command::new(etcdpeer())
            .args([
                "serve",
                "-etcd",
                &go_endpoint(endpoint),
                "-base",
                base,
                "-addr",
                "127.0.0.1:0",
                "-meta",
                metadata,
            ])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let key = line
            .trim()
            .strip_prefix("etcdpeer serving ")
            .unwrap_or_else(|| panic!("unexpected: {line:?}"))
            .to_owned();
        Self { child, key }
    }

    fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        wait_bounded(&mut self.child, Duration::from_secs(10))
    }
}

impl Drop for GoServer {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.terminate();
        }
    }
}

#[test]
fn ringrpc_xclient_discovers_and_calls_a_go_server() {
    let endpoint = etcd_endpoint();
    let base = unique_base("ringrpc_calls_go");
    let mut go = GoServer::start(&endpoint, &base, "weight=7&group=go");
    let options = XClientOptions::new()
        .select(SelectMode::WeightedRoundRobin)
        .fail(FailPolicy::new(FailMode::Failover))
        .timeout(Duration::from_secs(5));
    let d = Discovered::new(&endpoint, &base, 1, options);
    let servers = d.xclient.servers();
    assert_eq!(servers[0].key(), go.key);
    assert_eq!(
        (servers[0].weight(), servers[0].in_group("go")),
        (7, true),
        "rpcx-etcd metadata read"
    );

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        for a in 0..20 {
            mul(&d.xclient, a, None)
                .await
                .expect("the Go server answers");
        }
    });

    assert!(
        go.terminate().is_some_and(|s| s.success()),
        "the Go server shut down"
    );
    let gone = wait_servers(&d.xclient, Duration::from_secs(10), |keys| keys.is_empty());
    eprintln!("the Go server's graceful unregister reached the client after {gone:?}");
    assert!(
        gone.is_some(),
        "rpcx-etcd's unregister (node key deleted) empties the list"
    );
}
