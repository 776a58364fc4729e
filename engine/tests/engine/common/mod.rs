//! Shared by the behaviour tests: a server with test services on a free loopback port, and
//! a tiny blocking frame client built on `std::net::TcpStream` and the codec.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use ringrpc_engine::codec::payload::Serde;
use ringrpc_engine::codec::{
    decode, encode_frame, CompressType, DecodeError, Frame, Header, Limits, StatusType, ERROR_KEY,
};
use ringrpc_engine::{
    Driver, HandlerError, Request, Response, SerializeType, Server, ServerConfig, Services,
};
use serde::{Deserialize, Serialize};

pub mod measure;
#[cfg(feature = "test-certs")]
pub mod tls;

/// Every blocking read of the test client gives up after this long.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The driver the behaviour tests run on: `RINGRPC_TEST_DRIVER=uring` or `glommio`
/// (the default). The test script runs the suite once per driver.
pub fn test_driver() -> Driver {
    std::env::var("RINGRPC_TEST_DRIVER")
        .ok()
        .map_or(Driver::Glommio, |name| {
            name.parse().expect("RINGRPC_TEST_DRIVER")
        })
}

/// A configuration for tests: a free loopback port, one shard, small I/O memory, the driver
/// of [`test_driver`].
pub fn test_config(shards: usize) -> ServerConfig {
    ServerConfig::default()
        .listen(([127, 0, 0, 1], 0))
        .shards(shards)
        .driver(test_driver())
        .io_memory_bytes(256 << 10)
        .drain_timeout(Duration::from_secs(5))
}

/// Starts a server with [`register_test_services`].
pub fn start(config: ServerConfig) -> Server {
    start_with(config, Gauge::default(), None)
}

/// Starts a server whose `Test.Tracked` handler reports to `gauge`, with an optional auth
/// token.
pub fn start_with(config: ServerConfig, gauge: Gauge, token: Option<&str>) -> Server {
    let token = token.map(str::to_owned);
    Server::start(config, move |services| {
        register_test_services(services, gauge.clone());
        if let Some(token) = token.clone() {
            services.set_auth(move |_, got| {
                if got == token {
                    Ok(())
                } else {
                    Err("auth: invalid token".to_owned())
                }
            });
        }
    })
    .expect("server starts")
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Args {
    #[serde(rename = "A")]
    pub a: i64,
    #[serde(rename = "B")]
    pub b: i64,
}

#[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Reply {
    #[serde(rename = "C")]
    pub c: i64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SleepArgs {
    #[serde(rename = "Ms")]
    pub ms: u64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PushArgs {
    #[serde(rename = "Count")]
    pub count: u64,
    #[serde(rename = "Payload")]
    pub payload: String,
}

/// Counts handlers running now and the most that ever ran at once, across threads.
#[derive(Debug, Clone, Default)]
pub struct Gauge {
    pub running: Arc<AtomicUsize>,
    pub peak: Arc<AtomicUsize>,
    pub started: Arc<AtomicUsize>,
}

type HandlerResult<T> = Result<Response<T>, HandlerError>;

/// `Echo.Echo`, `Arith.Mul`, `Test.Sleep`, `Test.Fail`, `Test.FailWithReply`, `Test.Panic`,
/// `Test.Push`,
/// `Test.Tracked` (sleeps `Ms` while counted by the gauge).
pub fn register_test_services(services: &mut Services, gauge: Gauge) {
    services
        .register("Echo", "Echo", echo)
        .register("Arith", "Mul", mul)
        .register("Test", "Sleep", sleep)
        .register("Test", "Fail", fail)
        .register("Test", "FailWithReply", fail_with_reply)
        .register("Test", "Panic", panic)
        .register("Test", "Push", push)
        .register("Test", "Tracked", move |request| {
            tracked(gauge.clone(), request)
        });
}

async fn echo(request: Request) -> HandlerResult<Bytes> {
    Ok(Response::new(request.payload().clone()).with_metadata_from(request.metadata()))
}

async fn mul(request: Request) -> HandlerResult<Serde<Reply>> {
    let Serde(args): Serde<Args> = request.decode()?;
    Ok(Response::new(Serde(Reply { c: args.a * args.b })))
}

async fn sleep(request: Request) -> HandlerResult<Serde<SleepArgs>> {
    let Serde(args): Serde<SleepArgs> = request.decode()?;
    ringrpc_engine::sleep(Duration::from_millis(args.ms)).await;
    Ok(Response::new(Serde(args)))
}

async fn fail(_: Request) -> HandlerResult<Bytes> {
    Err(HandlerError::new("test failure"))
}

/// rpcx-go's method semantics: an error reply that still carries the encoded reply.
async fn fail_with_reply(_: Request) -> HandlerResult<Serde<Reply>> {
    Ok(Response::new(Serde(Reply { c: 0 })).with_error("test failure"))
}

async fn panic(_: Request) -> HandlerResult<Bytes> {
    panic!("boom")
}

async fn push(request: Request) -> HandlerResult<Serde<Reply>> {
    let Serde(args): Serde<PushArgs> = request.decode()?;
    let pusher = request.pusher();
    for i in 0..args.count {
        let n = i.to_string();
        pusher
            .push("Test", "Push", [("n", n.as_str())], args.payload.as_bytes())
            .await?;
    }
    Ok(Response::new(Serde(Reply {
        c: args.count as i64,
    })))
}

async fn tracked(gauge: Gauge, request: Request) -> HandlerResult<Serde<SleepArgs>> {
    let Serde(args): Serde<SleepArgs> = request.decode()?;
    gauge.started.fetch_add(1, Ordering::SeqCst);
    let now = gauge.running.fetch_add(1, Ordering::SeqCst) + 1;
    gauge.peak.fetch_max(now, Ordering::SeqCst);
    ringrpc_engine::sleep(Duration::from_millis(args.ms)).await;
    gauge.running.fetch_sub(1, Ordering::SeqCst);
    Ok(Response::new(Serde(args)))
}

/// Encodes a request frame.
pub fn request(
    seq: u64,
    serialize_type: SerializeType,
    service_path: &str,
    service_method: &str,
    metadata: &[(&str, &str)],
    payload: &[u8],
) -> Vec<u8> {
    request_with(
        Header::request(seq, serialize_type),
        service_path,
        service_method,
        metadata,
        payload,
    )
}

/// Encodes a frame with the given header (flags as set by the caller).
pub fn request_with(
    header: Header,
    service_path: &str,
    service_method: &str,
    metadata: &[(&str, &str)],
    payload: &[u8],
) -> Vec<u8> {
    let mut dst = BytesMut::new();
    encode_frame(
        &mut dst,
        &header,
        service_path,
        service_method,
        metadata.iter().copied(),
        payload,
    )
    .unwrap();
    dst.to_vec()
}

/// A oneway request frame.
pub fn oneway(seq: u64, service_path: &str, service_method: &str, payload: &[u8]) -> Vec<u8> {
    let mut header = Header::request(seq, SerializeType::Json);
    header.set_oneway(true);
    request_with(header, service_path, service_method, &[], payload)
}

pub fn json<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap()
}

/// The `__rpcx_error__` text of an error reply, or `None` for a normal reply.
pub fn error_text(frame: &Frame) -> Option<String> {
    (frame.header().status() == StatusType::Error).then(|| {
        frame
            .metadata()
            .get(ERROR_KEY)
            .unwrap_or("<status Error without key>")
            .into()
    })
}

#[derive(Debug)]
pub enum RecvError {
    Closed,
    Timeout,
    /// Shown through `Debug` when a test fails.
    #[allow(dead_code)]
    Io(std::io::Error),
    Decode(DecodeError),
}

/// A blocking rpcx frame client over one TCP connection.
pub struct FrameClient {
    stream: TcpStream,
    buf: BytesMut,
    limits: Limits,
}

impl FrameClient {
    pub fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_nodelay(true).unwrap();
        stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(READ_TIMEOUT)).unwrap();
        let limits = Limits::default()
            .max_frame_bytes(64 << 20)
            .max_decompressed_bytes(64 << 20)
            .max_metadata_count(usize::MAX);
        Self {
            stream,
            buf: BytesMut::new(),
            limits,
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send");
    }

    pub fn try_send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Sends one request and returns the next frame.
    pub fn call(&mut self, bytes: &[u8]) -> Frame {
        self.send(bytes);
        self.recv()
    }

    pub fn recv(&mut self) -> Frame {
        match self.recv_within(READ_TIMEOUT) {
            Ok(frame) => frame,
            Err(e) => panic!("expected a frame: {e:?}"),
        }
    }

    /// The next frame, if one arrives within `timeout`.
    pub fn recv_within(&mut self, timeout: Duration) -> Result<Frame, RecvError> {
        let deadline = Instant::now() + timeout;
        loop {
            match decode(&mut self.buf, &self.limits) {
                Ok(Some(frame)) => return Ok(frame),
                Ok(None) => {}
                Err(e) => return Err(RecvError::Decode(e)),
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(RecvError::Timeout);
            }
            self.stream.set_read_timeout(Some(left)).unwrap();
            let mut chunk = [0u8; 64 << 10];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(RecvError::Closed),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(RecvError::Timeout)
                }
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                    return Err(RecvError::Closed)
                }
                Err(e) => return Err(RecvError::Io(e)),
            }
        }
    }

    /// Reads until the server closes the connection; returns the frames read on the way.
    /// Panics if the connection is still open after `timeout`.
    pub fn expect_closed(&mut self, timeout: Duration) -> Vec<Frame> {
        let deadline = Instant::now() + timeout;
        let mut frames = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.recv_within(left) {
                Ok(frame) => frames.push(frame),
                Err(RecvError::Closed) | Err(RecvError::Io(_)) => return frames,
                Err(RecvError::Timeout) => panic!("connection still open after {timeout:?}"),
                Err(RecvError::Decode(e)) => panic!("server sent a bad frame: {e}"),
            }
        }
    }

    /// Asserts that nothing arrives within `quiet`.
    pub fn expect_silence(&mut self, quiet: Duration) {
        match self.recv_within(quiet) {
            Err(RecvError::Timeout) => {}
            Ok(frame) => panic!("unexpected frame {frame:?}"),
            Err(e) => panic!("unexpected end of connection: {e:?}"),
        }
    }

    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }
}

/// Asserts that a new connection to `addr` serves `Arith.Mul` correctly.
pub fn assert_serving(addr: SocketAddr) {
    assert_serving_on(&mut FrameClient::connect(addr));
}

/// Asserts that `client`'s connection serves `Arith.Mul` correctly.
pub fn assert_serving_on(client: &mut FrameClient) {
    let reply = client.call(&request(
        77,
        SerializeType::Json,
        "Arith",
        "Mul",
        &[],
        &json(&Args { a: 6, b: 7 }),
    ));
    assert_eq!(reply.seq(), 77);
    assert_eq!(error_text(&reply), None);
    assert_eq!(&reply.payload()[..], br#"{"C":42}"#);
}

/// Whether a reply came back gzip'ed.
pub fn is_gzip(frame: &Frame) -> bool {
    frame.header().compress_type() == Ok(CompressType::Gzip)
}
