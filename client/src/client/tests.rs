//! The client written once, run on a third runtime made for tests: in-memory sockets
//! (`tokio::io::duplex`), glommio's `Rc` and `RefCell`, tokio's oneshot, semaphore and
//! paused clock. A
//! scripted server on the other end of the socket answers, stays silent or pushes on cue.
//! Deadlines, the in-flight cap and push ordering are checked on virtual time: exact
//! durations, no waiting, no ports.

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use ringrpc_codec::{decode, encode_frame, Frame, Header, Limits, Reply as CodecReply};
use ringrpc_codec::{SerializeType, NO_METADATA};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::{oneshot, Semaphore, SemaphorePermit};
use tokio::time::Instant as VirtualInstant;

use super::{read_loop, write_loop, Client, Shared};
use crate::glommio::Glommio;
use crate::message::Push;
use crate::runtime::{sealed, Runtime};
use crate::tokio::{Half, Tokio};
use crate::{CallOptions, ClientOptions, Error, ServerAddr};

/// The test runtime: single-threaded like glommio, sockets in memory, time paused.
struct Virtual;

impl sealed::Sealed for Virtual {}

thread_local! {
    /// The client's end of the socket the next dial returns.
    static NEXT_SOCKET: RefCell<Option<DuplexStream>> = const { RefCell::new(None) };
}

impl Runtime for Virtual {
    type Shared<T> = <Glommio as Runtime>::Shared<T>;
    type Lock<T> = <Glommio as Runtime>::Lock<T>;
    type Sender<T> = <Tokio as Runtime>::Sender<T>;
    type Receiver<T> = <Tokio as Runtime>::Receiver<T>;
    type Semaphore = <Tokio as Runtime>::Semaphore;
    type Permit<'a> = <Tokio as Runtime>::Permit<'a>;
    type Stream = DuplexStream;
    type PushHandler = <Glommio as Runtime>::PushHandler;

    fn share<T>(value: T) -> Rc<T> {
        Glommio::share(value)
    }

    fn new_lock<T>(value: T) -> RefCell<T> {
        Glommio::new_lock(value)
    }

    fn with_lock<T, U>(lock: &RefCell<T>, f: impl FnOnce(&mut T) -> U) -> U {
        Glommio::with_lock(lock, f)
    }

    fn oneshot<T>() -> (oneshot::Sender<T>, oneshot::Receiver<T>) {
        Tokio::oneshot()
    }

    fn send<T>(sender: oneshot::Sender<T>, value: T) {
        Tokio::send(sender, value);
    }

    fn recv<T>(receiver: oneshot::Receiver<T>) -> impl Future<Output = Option<T>> {
        Tokio::recv(receiver)
    }

    fn semaphore(permits: usize) -> Semaphore {
        Tokio::semaphore(permits)
    }

    fn acquire(semaphore: &Semaphore) -> impl Future<Output = Option<SemaphorePermit<'_>>> {
        Tokio::acquire(semaphore)
    }

    fn now() -> Instant {
        Tokio::now()
    }

    fn sleep_until(deadline: Instant) -> impl Future<Output = ()> {
        Tokio::sleep_until(deadline)
    }

    async fn dial(_: &ServerAddr, _: bool) -> io::Result<DuplexStream> {
        NEXT_SOCKET
            .with(|next| next.borrow_mut().take())
            .ok_or_else(|| io::ErrorKind::ConnectionRefused.into())
    }

    /// TLS is tested over real sockets (`tests/client/tls.rs`), not on virtual time.
    async fn start_tls(_: DuplexStream, _: crate::tls::Connector) -> io::Result<DuplexStream> {
        Err(io::Error::other("the virtual runtime has no TLS"))
    }

    fn spawn_tasks(stream: DuplexStream, shared: Rc<Shared<Virtual>>) {
        let (reader, writer) = tokio::io::split(stream);
        tokio::task::spawn_local(read_loop::<Virtual, _>(Half(reader), shared.clone()));
        tokio::task::spawn_local(write_loop::<Virtual, _>(Half(writer), shared));
    }
}

/// The server's end of a client's socket.
struct Server {
    socket: DuplexStream,
    buf: BytesMut,
}

impl Server {
    /// The next request the client sent.
    async fn request(&mut self) -> Frame {
        loop {
            if let Some(frame) = decode(&mut self.buf, &Limits::default()).unwrap() {
                return frame;
            }
            assert_ne!(self.socket.read_buf(&mut self.buf).await.unwrap(), 0, "EOF");
        }
    }

    async fn write(&mut self, bytes: &[u8]) {
        self.socket.write_all(bytes).await.unwrap();
    }
}

/// A client connected to a scripted server.
async fn connect(options: ClientOptions) -> (Client<Virtual>, Server) {
    let (client_end, server_end) = tokio::io::duplex(1 << 20);
    NEXT_SOCKET.with(|next| *next.borrow_mut() = Some(client_end));
    let client = Client::connect_with("tcp@127.0.0.1:1", options)
        .await
        .unwrap();
    let server = Server {
        socket: server_end,
        buf: BytesMut::new(),
    };
    (client, server)
}

fn ok_reply(request: &Frame, payload: &[u8]) -> BytesMut {
    let mut dst = BytesMut::new();
    CodecReply::to(request)
        .encode_ok(&mut dst, NO_METADATA, payload)
        .unwrap();
    dst
}

/// Runs `test` on a single thread with tokio's clock paused.
fn on_virtual_time<F: Future>(test: F) -> F::Output {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    tokio::task::LocalSet::new().block_on(&runtime, test)
}

#[test]
fn a_deadline_fires_at_its_time_and_the_late_reply_is_dropped() {
    on_virtual_time(async {
        let (client, mut server) = connect(ClientOptions::new()).await;
        let started = VirtualInstant::now();
        let options = CallOptions::new().timeout(Duration::from_millis(100));
        let payload = bytes::Bytes::new();
        let call = client.call_with::<_, bytes::Bytes>("S", "M", &payload, &options);
        let (result, request) = tokio::join!(call, server.request());
        assert!(
            matches!(result, Err(Error::Timeout { timeout_ms: 100 })),
            "{result:?}"
        );
        assert_eq!(started.elapsed(), Duration::from_millis(100));
        assert_eq!(request.metadata().get("__ServerTimeout"), Some("100"));

        server.write(&ok_reply(&request, b"late")).await;
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert_eq!(client.stats().late_reply_count, 1);
        assert_eq!(client.stats().inflight_count, 0);
    });
}

#[test]
fn a_call_waiting_for_a_slot_times_out_unsent() {
    on_virtual_time(async {
        let (client, mut server) = connect(ClientOptions::new().max_in_flight(1)).await;
        let long = CallOptions::new().timeout(Duration::from_millis(400));
        let short = CallOptions::new().timeout(Duration::from_millis(100));
        let payload = bytes::Bytes::new();
        let first = client.call_with::<_, bytes::Bytes>("S", "M", &payload, &long);
        let second = async {
            let started = VirtualInstant::now();
            let result = client
                .call_with::<_, bytes::Bytes>("S", "M", &payload, &short)
                .await;
            (result, started.elapsed())
        };
        let (first, (second, waited), request) = tokio::join!(first, second, server.request());
        assert!(
            matches!(second, Err(Error::Timeout { timeout_ms: 100 })),
            "{second:?}"
        );
        assert_eq!(
            waited,
            Duration::from_millis(100),
            "it waited for the slot, unsent"
        );
        assert!(
            matches!(first, Err(Error::Timeout { timeout_ms: 400 })),
            "{first:?}"
        );
        assert_eq!(request.seq(), 0);
        assert_eq!(client.stats().seq_next, 1, "one request ever went out");
    });
}

#[test]
fn pushes_reach_the_handler_before_the_reply_that_follows_them() {
    on_virtual_time(async {
        let (client_end, server_end) = tokio::io::duplex(1 << 20);
        NEXT_SOCKET.with(|next| *next.borrow_mut() = Some(client_end));
        let seen = Rc::new(RefCell::new(Vec::new()));
        let sink = seen.clone();
        let client = Client::<Virtual>::builder("tcp@127.0.0.1:1")
            .push_handler(Box::new(move |push: Push| {
                sink.borrow_mut().push(push.service_method().to_owned());
            }))
            .connect()
            .await
            .unwrap();
        let mut server = Server {
            socket: server_end,
            buf: BytesMut::new(),
        };
        let call = async {
            let reply: bytes::Bytes = client.call("S", "M", &bytes::Bytes::new()).await.unwrap();
            seen.borrow_mut()
                .push(String::from_utf8(reply.to_vec()).unwrap());
        };
        let serve = async {
            let request = server.request().await;
            // Two pushes and the reply, in one write.
            let mut out = BytesMut::new();
            for method in ["First", "Second"] {
                let mut header = Header::request(7, SerializeType::None);
                header.set_oneway(true);
                encode_frame(&mut out, &header, "Test", method, NO_METADATA, b"").unwrap();
            }
            out.extend_from_slice(&ok_reply(&request, b"reply"));
            server.write(&out).await;
        };
        tokio::join!(call, serve);
        assert_eq!(*seen.borrow(), ["First", "Second", "reply"]);
        client.close().await;
        assert!(client.is_closed());
    });
}

#[test]
fn unanswered_heartbeats_fail_the_connection_and_its_calls_on_time() {
    on_virtual_time(async {
        let options = ClientOptions::new()
            .heartbeat_interval(Duration::from_secs(1))
            .heartbeat_misses_max(2);
        let (client, mut server) = connect(options).await;
        let started = VirtualInstant::now();
        let payload = bytes::Bytes::new();
        let call = client.call::<_, bytes::Bytes>("S", "M", &payload);
        // The server reads the call and the heartbeats (sent at 1 s and 2 s) and answers
        // nothing: the second miss, at 3 s, fails the connection.
        let serve = async {
            let mut heartbeats = 0;
            for _ in 0..3 {
                heartbeats += usize::from(server.request().await.header().is_heartbeat());
            }
            heartbeats
        };
        let (result, heartbeats) = tokio::join!(call, serve);
        assert_eq!(heartbeats, 2);
        let error = result.expect_err("the connection failed");
        assert!(
            matches!(
                error,
                Error::Disconnected(crate::Disconnect::HeartbeatMissed { misses: 2 })
            ),
            "{error}"
        );
        assert!(error.is_retryable());
        assert_eq!(started.elapsed(), Duration::from_secs(3));
        assert!(
            client.next_push().await.is_none(),
            "the connection is closed"
        );
    });
}

#[test]
fn close_gives_up_on_a_server_that_does_not_read_at_close_timeout() {
    on_virtual_time(async {
        // A socket with room for 1 KiB that the server never reads.
        let (client_end, _server_end) = tokio::io::duplex(1024);
        NEXT_SOCKET.with(|next| *next.borrow_mut() = Some(client_end));
        let options = ClientOptions::new().close_timeout(Duration::from_millis(250));
        let client = Client::<Virtual>::connect_with("tcp@127.0.0.1:1", options)
            .await
            .unwrap();
        client
            .send_oneway(&crate::Request::new("S", "M", &[0u8; 64 << 10]))
            .unwrap();
        tokio::task::yield_now().await; // the writer starts its write, which stalls
        assert!(client.stats().unsent_bytes > 0);
        let started = VirtualInstant::now();
        client.close().await;
        assert_eq!(started.elapsed(), Duration::from_millis(250));
        assert!(client.is_closed());
        assert_eq!(client.stats().unsent_bytes, 0);
    });
}

#[test]
fn a_call_waits_for_send_space_within_its_deadline() {
    on_virtual_time(async {
        let (client_end, mut server_end) = tokio::io::duplex(1024);
        NEXT_SOCKET.with(|next| *next.borrow_mut() = Some(client_end));
        let options = ClientOptions::new().send_buffer_max_bytes(100 << 10);
        let client = Client::<Virtual>::connect_with("tcp@127.0.0.1:1", options)
            .await
            .unwrap();
        let big = [0u8; 60 << 10];
        client
            .send_oneway(&crate::Request::new("S", "M", &big))
            .unwrap();
        let full = client.send_oneway(&crate::Request::new("S", "M", &big));
        assert!(
            matches!(full, Err(Error::SendBufferFull { .. })),
            "{full:?}"
        );
        // A call waits for room, and fails at its deadline while the server does not read.
        let started = VirtualInstant::now();
        let options = CallOptions::new().timeout(Duration::from_millis(300));
        let payload = bytes::Bytes::from_static(&[1u8; 60 << 10]);
        let result = client
            .call_with::<_, bytes::Bytes>("S", "M", &payload, &options)
            .await;
        assert!(
            matches!(result, Err(Error::Timeout { timeout_ms: 300 })),
            "{result:?}"
        );
        assert_eq!(started.elapsed(), Duration::from_millis(300));
        assert_eq!(client.stats().seq_next, 1, "it never went out");

        // Once the server reads, a waiting call gets in and goes out.
        let call = client.call_with::<_, bytes::Bytes>("S", "M", &payload, &options);
        let drain = async {
            let mut sink = vec![0u8; 256 << 10];
            let mut read = 0;
            while read < 2 * (60 << 10) {
                read += server_end.read(&mut sink).await.unwrap();
            }
        };
        let (result, ()) = tokio::join!(call, drain);
        assert!(matches!(result, Err(Error::Timeout { .. })), "unanswered");
        assert_eq!(client.stats().seq_next, 2, "the waiting call was sent");
    });
}
