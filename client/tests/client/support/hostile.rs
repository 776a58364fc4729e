//! Hostile servers on plain threads, for the client's hostile-peer tests: one that accepts
//! and never reads, and one that answers each call only after writing a blob of its
//! choosing (gzip bombs to seqs nobody used, floods of pushes). Also the blobs, and the
//! process's CPU time.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use ringrpc_codec::compress::gzip;
use ringrpc_codec::NO_METADATA;
use ringrpc_codec::{decode, encode_frame, CompressType, Header, Limits, Reply, SerializeType};

/// A server that accepts connections and never reads from them (nor closes them, until it
/// is dropped): the kernel buffers fill and the client's writes stall.
pub struct DeafServer {
    pub addr: String,
    stop: Arc<AtomicBool>,
}

impl DeafServer {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = format!("tcp@{}", listener.local_addr().expect("addr"));
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        listener.set_nonblocking(true).expect("nonblocking");
        std::thread::spawn(move || {
            let mut held = Vec::new();
            while !flag.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => held.push(stream),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(_) => return,
                }
            }
        });
        Self { addr, stop }
    }
}

impl Drop for DeafServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// A server that, for every call, first writes `blob`, then the echo reply.
pub struct BlobServer {
    pub addr: String,
}

impl BlobServer {
    pub fn start(blob: Vec<u8>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = format!("tcp@{}", listener.local_addr().expect("addr"));
        let blob = Arc::new(blob);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let blob = blob.clone();
                std::thread::spawn(move || serve(stream, &blob));
            }
        });
        Self { addr }
    }
}

fn serve(mut stream: TcpStream, blob: &[u8]) {
    let mut buf = BytesMut::new();
    let mut chunk = vec![0u8; 64 << 10];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        while let Ok(Some(frame)) = decode(&mut buf, &Limits::default()) {
            if frame.header().is_oneway() || frame.header().is_heartbeat() {
                continue;
            }
            let mut out = BytesMut::new();
            Reply::to(&frame)
                .encode_ok(&mut out, NO_METADATA, frame.payload())
                .expect("encode");
            if stream.write_all(blob).is_err() || stream.write_all(&out).is_err() {
                return;
            }
        }
    }
}

/// `count` gzip'ed frames whose payload inflates to `inflated_bytes` zeros: replies to
/// seqs the client never used, or (`push`) server pushes.
pub fn gzip_bombs(count: usize, inflated_bytes: usize, push: bool) -> Vec<u8> {
    let mut zipped = BytesMut::new();
    gzip(&vec![0u8; inflated_bytes], &mut zipped).expect("gzip");
    let mut out = BytesMut::new();
    for i in 0..count as u64 {
        let mut header = if push {
            let mut header = Header::request(i, SerializeType::None);
            header.set_oneway(true);
            header
        } else {
            Header::response_to(&Header::request(u64::MAX - i, SerializeType::None))
        };
        header.set_compress_type(CompressType::Gzip);
        encode_frame(&mut out, &header, "Bomb", "Bomb", NO_METADATA, &zipped).expect("encode");
    }
    out.to_vec()
}

/// `count` plain pushes of `payload_bytes` each.
pub fn pushes(count: usize, payload_bytes: usize) -> Vec<u8> {
    let mut out = BytesMut::new();
    let payload = vec![b'p'; payload_bytes];
    for i in 0..count as u64 {
        let mut header = Header::request(i, SerializeType::None);
        header.set_oneway(true);
        encode_frame(&mut out, &header, "Test", "Push", NO_METADATA, &payload).expect("encode");
    }
    out.to_vec()
}

/// CPU time this process has used so far (user + system), from /proc.
pub fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // Fields after the command name (which may hold spaces) start at ") ".
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 here.
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // USER_HZ is 100 on Linux.
    Duration::from_millis(ticks * 10)
}
