//! The frames the attacks send, and a blocking frame reader for their replies. Built with
//! the codec, so every attack speaks correct rpcx up to the point where it misbehaves.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use ringrpc_codec::compress::gzip;
use ringrpc_codec::{decode, encode_frame, CompressType, Frame, Header, Limits, SerializeType};

/// The auth token the server of the unauthenticated-heartbeat attack requires.
pub const AUTH_TOKEN: &str = "hostile-secret";

/// A request frame.
pub fn request(
    seq: u64,
    serialize_type: SerializeType,
    path: &str,
    method: &str,
    metadata: &[(String, String)],
    payload: &[u8],
) -> Vec<u8> {
    frame(
        Header::request(seq, serialize_type),
        path,
        method,
        metadata,
        payload,
    )
}

/// A frame with a header the caller shaped (flags, compression).
pub fn frame(
    header: Header,
    path: &str,
    method: &str,
    metadata: &[(String, String)],
    payload: &[u8],
) -> Vec<u8> {
    let mut out = BytesMut::new();
    let pairs = metadata.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    encode_frame(&mut out, &header, path, method, pairs, payload).expect("encodable frame");
    out.to_vec()
}

/// `plain`, gzip'ed, as the payload of a frame whose header says gzip.
pub fn gzip_frame(mut header: Header, path: &str, method: &str, plain: &[u8]) -> Vec<u8> {
    let mut zipped = BytesMut::new();
    gzip(plain, &mut zipped).expect("gzip");
    header.set_compress_type(CompressType::Gzip);
    frame(header, path, method, &[], &zipped)
}

/// `Arith.Mul` {"A":6,"B":7} in JSON: the well-behaved probe call, with the server's auth
/// token if it wants one.
pub fn mul(seq: u64, auth: Option<&str>) -> Vec<u8> {
    let metadata: Vec<(String, String)> = auth
        .map(|token| ("__AUTH".to_owned(), token.to_owned()))
        .into_iter()
        .collect();
    request(
        seq,
        SerializeType::Json,
        "Arith",
        "Mul",
        &metadata,
        br#"{"A":6,"B":7}"#,
    )
}

/// A blocking connection that reads whole frames.
pub struct FrameConn {
    pub stream: TcpStream,
    buf: BytesMut,
    limits: Limits,
}

/// Why no frame came back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoFrame {
    /// The server closed (or reset) the connection.
    Closed,
    /// Nothing within the time given.
    Timeout,
}

impl FrameConn {
    pub fn connect(addr: SocketAddr) -> io::Result<Self> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            buf: BytesMut::new(),
            // The attacker reads whatever comes back (a 300,000-key echo included).
            limits: Limits::default()
                .max_frame_bytes(1 << 30)
                .max_decompressed_bytes(1 << 30)
                .max_metadata_count(usize::MAX),
        })
    }

    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// The next frame, if one arrives before `deadline`.
    pub fn recv_until(&mut self, deadline: Instant) -> Result<Frame, NoFrame> {
        let mut chunk = vec![0u8; 64 << 10];
        loop {
            match decode(&mut self.buf, &self.limits) {
                Ok(Some(frame)) => return Ok(frame),
                Ok(None) => {}
                Err(_) => return Err(NoFrame::Closed),
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(NoFrame::Timeout);
            }
            let _ = self
                .stream
                .set_read_timeout(Some(left.min(Duration::from_millis(200))));
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(NoFrame::Closed),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return Err(NoFrame::Closed),
            }
        }
    }
}
