//! Running the `ringrpc` binary with a bound on its run time, and the servers it talks to
//! (shared with the client's own tests).

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use prost::Message;
use ringrpc_codec::payload::benchmark_message::BenchmarkMessage;

#[allow(dead_code)]
#[path = "../client/governance_support/mod.rs"]
pub mod governance;
#[allow(dead_code)]
#[path = "../client/support/server.rs"]
mod server;

pub use server::{Kind, TestServer};

/// Longest a `ringrpc` run may take in these tests before it is killed and the test fails.
const RUN_TIMEOUT: Duration = Duration::from_secs(30);

/// How a `ringrpc` run ended.
#[derive(Debug)]
pub struct Outcome {
    /// The exit status (0, 1 or 2).
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `ringrpc ARGS` with empty stdin.
pub fn ringrpc(args: &[&str]) -> Outcome {
    ringrpc_with_stdin(args, b"")
}

/// Runs `ringrpc` with the words of `command` (split at whitespace) and then `tail` as they
/// are (payloads with spaces or quotes).
pub fn run(command: &str, tail: &[&str]) -> Outcome {
    let args: Vec<&str> = command
        .split_whitespace()
        .chain(tail.iter().copied())
        .collect();
    ringrpc(&args)
}

/// Parses the JSON a command printed.
pub fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text:?}"))
}

/// Runs `<call> --service Test --method Meta` with two `--meta` pairs (one with a space and
/// an `&`) and checks both come back on stderr.
pub fn assert_metadata_round_trip(call: &str) {
    let command = format!("{call} --service Test --method Meta");
    let out = run(
        &command,
        &["--meta", "k=v", "--meta", "x=a b&c", r#"{"A":1,"B":2}"#],
    );
    assert_eq!(out.code, 0, "{out:?}");
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert!(
        lines.contains(&"k: v") && lines.contains(&"x: a b&c"),
        "{out:?}"
    );
}

/// The benchmark's protobuf request in hex, as `--codec protobuf --hex` takes it.
pub fn benchmark_request_hex() -> String {
    let request = BenchmarkMessage::benchmark_request().encode_to_vec();
    request.iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks that `stdout` is a hex `Hello.Say` reply: field1 "OK", field2 100.
pub fn assert_benchmark_reply(stdout: &str) {
    let digits = stdout.trim();
    let bytes: Vec<u8> = (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).expect("hex reply"))
        .collect();
    let reply = BenchmarkMessage::decode(&*bytes).expect("protobuf reply");
    assert_eq!((reply.field1.as_str(), reply.field2), ("OK", 100));
}

/// Runs `ringrpc ARGS` with `stdin` as its standard input.
pub fn ringrpc_with_stdin(args: &[&str], stdin: &[u8]) -> Outcome {
    let mut child = spawn(args);
    let mut input = child.stdin.take().expect("piped stdin");
    input.write_all(stdin).expect("write stdin");
    drop(input);
    let stdout = drain(child.stdout.take().expect("piped stdout"));
    let stderr = drain(child.stderr.take().expect("piped stderr"));
    let code = wait(&mut child, RUN_TIMEOUT, args);
    Outcome {
        code,
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}

/// `ringrpc ARGS` started with every stream piped.
pub fn spawn(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_ringrpc"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ringrpc")
}

/// Reads a stream to its end on a thread.
pub fn drain(mut stream: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stream.read_to_string(&mut text);
        text
    })
}

/// The exit status, waiting at most `timeout` (then the process is killed and this panics).
pub fn wait(child: &mut Child, timeout: Duration, args: &[&str]) -> i32 {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status.code().expect("exited, not killed by a signal");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("ringrpc {args:?} still running after {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
