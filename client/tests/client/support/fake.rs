//! A tiny rpcx server on plain threads for faults real servers do not produce on cue: it
//! can stop answering heartbeats or calls, flood the client with replies nobody waits for,
//! and it records what arrives on the wire.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use ringrpc_codec::{
    decode, encode_frame, encode_heartbeat_reply, CompressType, Header, Limits, Reply,
    SerializeType, NO_METADATA,
};

/// A request as the fake server received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub seq: u64,
    pub heartbeat: bool,
    pub oneway: bool,
    pub gzip: bool,
    pub service_path: String,
    pub service_method: String,
    pub metadata: HashMap<String, String>,
    pub payload: Vec<u8>,
}

#[derive(Default)]
pub struct Behaviour {
    /// Heartbeats still to be answered; after that they are ignored.
    pub heartbeats_to_answer: AtomicUsize,
    /// Answer calls by echoing their payload (gzip'ed by rpcx's rule).
    pub answer_calls: AtomicBool,
    /// Once a request arrived, keep the client's socket full of replies to seqs it never
    /// used (for at most `FLOOD_FOR`), so that its reader always has bytes to read.
    pub flood_replies: AtomicBool,
    pub received: Mutex<Vec<Received>>,
    connections_open: AtomicUsize,
    stop: AtomicBool,
}

pub struct FakeServer {
    /// `tcp@127.0.0.1:PORT`
    pub addr: String,
    pub behaviour: Arc<Behaviour>,
}

impl FakeServer {
    pub fn start(heartbeats_to_answer: usize, answer_calls: bool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = format!("tcp@{}", listener.local_addr().expect("local addr"));
        let behaviour = Arc::new(Behaviour::default());
        behaviour
            .heartbeats_to_answer
            .store(heartbeats_to_answer, Ordering::SeqCst);
        behaviour.answer_calls.store(answer_calls, Ordering::SeqCst);
        let shared = behaviour.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if shared.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let shared = shared.clone();
                std::thread::spawn(move || {
                    shared.connections_open.fetch_add(1, Ordering::SeqCst);
                    serve(stream, &shared);
                    shared.connections_open.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        Self { addr, behaviour }
    }

    /// Connections accepted and not yet closed by the client.
    pub fn connections_open(&self) -> usize {
        self.behaviour.connections_open.load(Ordering::SeqCst)
    }

    pub fn received(&self) -> Vec<Received> {
        self.behaviour.received.lock().unwrap().clone()
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.behaviour.stop.store(true, Ordering::SeqCst);
        // Unblocks the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr.trim_start_matches("tcp@"));
    }
}

/// How long a flood lasts at most (tests stay bounded even if the client never reads).
const FLOOD_FOR: Duration = Duration::from_secs(3);

/// Writes replies to unknown seqs back to back until `FLOOD_FOR` passed, the server stops
/// or the client goes away.
fn flood(stream: &mut TcpStream, behaviour: &Behaviour) {
    let mut batch = BytesMut::new();
    for i in 0..4096u64 {
        let header = Header::response_to(&Header::request(u64::MAX - i, SerializeType::None));
        encode_frame(&mut batch, &header, "", "", NO_METADATA, b"late reply").expect("encode");
    }
    let until = Instant::now() + FLOOD_FOR;
    while Instant::now() < until && !behaviour.stop.load(Ordering::SeqCst) {
        if stream.write_all(&batch).is_err() {
            return;
        }
    }
}

fn serve(mut stream: TcpStream, behaviour: &Behaviour) {
    let _ = stream.set_read_timeout(Some(Duration::from_millis(50)));
    let limits = Limits::default();
    let mut buf = BytesMut::new();
    let mut chunk = vec![0u8; 64 << 10];
    while !behaviour.stop.load(Ordering::SeqCst) {
        match stream.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(_) => return,
        }
        let mut out = BytesMut::new();
        while let Some(frame) = decode(&mut buf, &limits).expect("client sent a valid frame") {
            let header = frame.header();
            behaviour.received.lock().unwrap().push(Received {
                seq: header.seq(),
                heartbeat: header.is_heartbeat(),
                oneway: header.is_oneway(),
                gzip: header.compress_type() == Ok(CompressType::Gzip),
                service_path: frame.service_path().to_owned(),
                service_method: frame.service_method().to_owned(),
                metadata: frame.metadata().to_map(),
                payload: frame.payload().to_vec(),
            });
            if header.is_heartbeat() {
                let left = &behaviour.heartbeats_to_answer;
                if left
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok()
                {
                    encode_heartbeat_reply(&frame, &mut out);
                }
            } else if !header.is_oneway() && behaviour.answer_calls.load(Ordering::SeqCst) {
                Reply::to(&frame)
                    .encode_ok(&mut out, NO_METADATA, frame.payload())
                    .expect("encode");
            }
        }
        if !out.is_empty() && stream.write_all(&out).is_err() {
            return;
        }
        if behaviour.flood_replies.swap(false, Ordering::SeqCst) {
            flood(&mut stream, behaviour);
        }
    }
}
