//! Proves the registry commands on servers registered in the shared etcd (RINGRPC_ETCD) the
//! way the example server registers them (`EtcdRegistrar`, rpcx-etcd's layout): `list` shows
//! services, servers, state and metadata; `set-state`/`set-weight` edit one field and keep
//! the key on the server's lease; `call --registry` skips a server set inactive and uses it
//! again once active; `watch` reports additions, updates and removals and stops by itself.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::Child;
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use crate::support::governance::{etcd_endpoint, unique_base, Node};
use crate::support::{drain, ringrpc, run, spawn, wait, Outcome};

const REGISTERED_WITHIN: Duration = Duration::from_secs(10);

fn registry_url(base: &str) -> String {
    let endpoint = etcd_endpoint();
    let host = endpoint.strip_prefix("http://").unwrap_or(&endpoint);
    format!("etcd://{host}{base}")
}

fn node(base: &str, metadata: &str) -> Node {
    let node = Node::start(&etcd_endpoint(), base, metadata);
    assert!(
        node.registrar().wait_registered(REGISTERED_WITHIN),
        "{} registered",
        node.key
    );
    node
}

/// `list --json`: the servers of Arith.
fn listed(url: &str) -> Vec<Value> {
    let out = ringrpc(&["list", "--registry", url, "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let listing: Value = serde_json::from_str(&out.stdout).expect("JSON listing");
    let services = listing["services"].as_array().expect("services");
    assert_eq!(services.len(), 1, "{listing}");
    assert_eq!(services[0]["service"], "Arith");
    services[0]["servers"].as_array().expect("servers").clone()
}

fn entry<'a>(servers: &'a [Value], key: &str) -> &'a Value {
    servers
        .iter()
        .find(|s| s["server"] == key)
        .unwrap_or_else(|| panic!("{key} listed"))
}

/// `ringrpc <command> --registry URL --service Arith --server KEY`.
fn set(url: &str, command: &str, key: &str) -> Outcome {
    run(
        &format!("{command} --registry {url} --service Arith --server {key}"),
        &[],
    )
}

/// `call --registry` of Arith.Mul; the servers it discovered and the one that answered.
fn call_registry(url: &str) -> (Outcome, String, String) {
    let command = format!(
        "call --registry {url} --service Arith --method Mul --select round_robin --fail failfast --discover-ms 2000"
    );
    let out = run(&command, &[r#"{"A":6,"B":7}"#]);
    let line = |prefix: &str| {
        out.stderr
            .lines()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_default()
            .to_owned()
    };
    let (discovered, answered) = (line("discovered: "), line("server: "));
    (out, discovered, answered)
}

/// The first stderr line of a `watch` child, `watching <prefix> ...` once its watch is in place.
fn watch_started(child: &mut Child) -> String {
    let stderr = child.stderr.take().expect("piped stderr");
    let (lines, received) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    received
        .recv_timeout(Duration::from_secs(10))
        .expect("watch started")
}

#[test]
fn list_and_edits_keep_the_lease() {
    let base = unique_base("cli_list");
    let url = registry_url(&base);
    let (a, b) = (node(&base, "weight=3&group=a"), node(&base, "weight=1"));
    let servers = listed(&url);
    let keys: Vec<&str> = servers
        .iter()
        .map(|s| s["server"].as_str().unwrap())
        .collect();
    let mut expected = [a.key.as_str(), b.key.as_str()];
    expected.sort();
    assert_eq!(keys, expected);
    let a_entry = entry(&servers, &a.key);
    assert_eq!(a_entry["state"], "active");
    assert_eq!(
        (
            &a_entry["metadata"]["weight"],
            &a_entry["metadata"]["group"]
        ),
        (&"3".into(), &"a".into())
    );
    let lease = a_entry["lease"].as_i64().unwrap();
    assert_ne!(lease, 0, "registered keys hang on the server's lease");

    assert_eq!(set(&url, "set-state inactive", &a.key).code, 0);
    let out = set(&url, "set-weight 7", &a.key);
    assert_eq!(
        out.stdout.trim(),
        format!("{base}/Arith/{} = weight=7&group=a&state=inactive", a.key)
    );
    let servers = listed(&url);
    let a_entry = entry(&servers, &a.key);
    assert_eq!(a_entry["metadata_raw"], "weight=7&group=a&state=inactive");
    assert_eq!(
        (a_entry["state"].as_str(), a_entry["lease"].as_i64()),
        (Some("inactive"), Some(lease))
    );
    let b_entry = entry(&servers, &b.key);
    assert_eq!(
        (b_entry["state"].as_str(), b_entry["metadata_raw"].as_str()),
        (Some("active"), Some("weight=1"))
    );

    let table = ringrpc(&["list", "--registry", &url]);
    assert_eq!(table.code, 0, "{table:?}");
    assert!(table.stdout.starts_with("SERVICE"), "{table:?}");
    let row = table
        .stdout
        .lines()
        .find(|l| l.contains(&a.key))
        .expect("a row for a");
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        cells,
        [
            "Arith",
            &a.key,
            "inactive",
            "weight=7&group=a&state=inactive"
        ]
    );

    let missing = set(&url, "set-state inactive", "tcp@127.0.0.1:1");
    assert_eq!(missing.code, 2, "{missing:?}");
    assert!(
        missing.stderr.contains("no server tcp@127.0.0.1:1"),
        "{missing:?}"
    );
    let other = ringrpc(&["list", "--registry", &url, "--service", "Echo", "--json"]);
    assert!(other.stdout.contains(r#""services": []"#), "{other:?}");
}

#[test]
fn call_registry_skips_inactive_servers() {
    let base = unique_base("cli_inactive");
    let url = registry_url(&base);
    let (a, b) = (node(&base, "weight=1"), node(&base, "weight=1"));
    assert_eq!(set(&url, "set-state inactive", &b.key).code, 0);
    for _ in 0..4 {
        let (out, discovered, answered) = call_registry(&url);
        assert_eq!(out.code, 0, "{out:?}");
        assert_eq!(
            (discovered.as_str(), answered.as_str()),
            (a.key.as_str(), a.key.as_str())
        );
    }
    assert_eq!((a.calls(), b.calls()), (4, 0));

    assert_eq!(set(&url, "set-state inactive", &a.key).code, 0);
    let (none, _, _) = call_registry(&url);
    assert_eq!(none.code, 2, "{none:?}");
    assert!(
        none.stderr.contains("no active server of Arith"),
        "{none:?}"
    );

    assert_eq!(set(&url, "set-state active", &b.key).code, 0);
    let (out, discovered, answered) = call_registry(&url);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        (discovered.as_str(), answered.as_str()),
        (b.key.as_str(), b.key.as_str())
    );
}

#[test]
fn watch_reports_changes_until_its_bound() {
    let base = unique_base("cli_watch");
    let url = registry_url(&base);
    let command = format!("watch --registry {url} --json --max-events 3 --for-ms 20000");
    let args: Vec<&str> = command.split_whitespace().collect();
    let mut child = spawn(&args);
    let stdout = drain(child.stdout.take().expect("piped stdout"));
    let first = watch_started(&mut child);
    assert!(
        first.starts_with(&format!("watching {base}/ from revision")),
        "{first}"
    );

    let a = node(&base, "weight=2");
    let key = a.key.clone();
    assert_eq!(set(&url, "set-state inactive", &key).code, 0);
    drop(a);
    let code = wait(&mut child, Duration::from_secs(20), &args);
    assert_eq!(code, 0);
    let events: Vec<Value> = stdout
        .join()
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    let seen: Vec<(&str, &str, &str, &str)> = events
        .iter()
        .map(|e| {
            let field = |name: &str| e[name].as_str().unwrap_or_default();
            (
                field("event"),
                field("server"),
                field("state"),
                field("metadata_raw"),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("added", key.as_str(), "active", "weight=2"),
            (
                "updated",
                key.as_str(),
                "inactive",
                "weight=2&state=inactive"
            ),
            (
                "removed",
                key.as_str(),
                "inactive",
                "weight=2&state=inactive"
            ),
        ]
    );
    assert_eq!(events[1]["previous_metadata_raw"], "weight=2");

    let quiet = ringrpc(&["watch", "--registry", &url, "--for-ms", "300"]);
    assert_eq!((quiet.code, quiet.stdout.as_str()), (0, ""), "{quiet:?}");
}

#[test]
fn unreachable_etcd_exits_2() {
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let out = ringrpc(&["list", "--registry", &format!("etcd://{closed}/rpcx_test")]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("etcd"), "{out:?}");
}

#[test]
fn watch_ends_on_ctrl_c() {
    let url = registry_url(&unique_base("cli_watch_sigint"));
    let args = ["watch", "--registry", &url];
    let mut child = spawn(&args);
    let first = watch_started(&mut child);
    assert!(first.starts_with("watching "), "{first}");
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
    assert_eq!(wait(&mut child, Duration::from_secs(10), &args), 0);
}
