//! Proves that bad bytes from the network never take the server down: bad magic, a
//! truncated frame followed by a close, lengths that lie, metadata that overruns its
//! section, an unknown serialize type, and 10 000 random or mutated byte strings each get
//! an rpcx error reply or a closed connection, within bounded time, and a good connection
//! opened before the abuse still works afterwards.

use std::io::Write;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::common;
use crate::common::{error_text, json, request, Args, FrameClient};
use ringrpc_engine::SerializeType;

fn valid() -> Vec<u8> {
    request(
        1,
        SerializeType::Json,
        "Arith",
        "Mul",
        &[("k", "v")],
        &json(&Args { a: 2, b: 3 }),
    )
}

/// Sends `bytes`, closes our write side, and reads until the server closes. Returns the
/// frames it sent back. Panics if the server neither answers nor closes in time.
fn send_and_close(addr: SocketAddr, bytes: &[u8]) -> Vec<ringrpc_engine::codec::Frame> {
    let mut client = FrameClient::connect(addr);
    let _ = client.try_send(bytes);
    let _ = client.stream().shutdown(Shutdown::Write);
    client.expect_closed(Duration::from_secs(5))
}

#[test]
fn specific_bad_frames() {
    let server = common::start(common::test_config(1));
    let addr = server.local_addr();
    let mut good = FrameClient::connect(addr);

    let mut bad_magic = valid();
    bad_magic[0] = 0x09;
    assert!(send_and_close(addr, &bad_magic).is_empty());

    let truncated = valid();
    assert!(send_and_close(addr, &truncated[..truncated.len() - 3]).is_empty());

    // Total length says more than the sections add up to (the next frame's bytes would be
    // swallowed): the frame is rejected.
    let mut lying_total = valid();
    let total = u32::from_be_bytes(lying_total[12..16].try_into().unwrap());
    lying_total[12..16].copy_from_slice(&(total + 4).to_be_bytes());
    lying_total.extend_from_slice(&[0, 0, 0, 0]);
    assert!(send_and_close(addr, &lying_total).is_empty());

    // The service path length points past the end of the frame.
    let mut lying_path = valid();
    lying_path[16..20].copy_from_slice(&0xFFFF_FF00u32.to_be_bytes());
    assert!(send_and_close(addr, &lying_path).is_empty());

    // A metadata key length that overruns the metadata section.
    let mut metadata_overflow = valid();
    let md_at = 16 + 4 + 5 + 4 + 3;
    metadata_overflow[md_at + 4..md_at + 8].copy_from_slice(&200u32.to_be_bytes());
    assert!(send_and_close(addr, &metadata_overflow).is_empty());

    // Unknown serialize type: a well-formed frame, so an error reply and the connection
    // stays open.
    let mut unknown_codec = valid();
    unknown_codec[3] = 0xF0;
    let reply = good.call(&unknown_codec);
    assert_eq!(
        error_text(&reply).as_deref(),
        Some("can not find codec for 15")
    );

    // Unknown compress type: rejected like rpcx-go (connection closed, no reply).
    let mut unknown_compress = valid();
    unknown_compress[2] |= 0x1C;
    assert!(send_and_close(addr, &unknown_compress).is_empty());

    common::assert_serving_on(&mut good);
}

/// xorshift64*: deterministic bytes without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// One hostile input: pure noise, a valid frame with bytes flipped, or a valid-looking
/// fixed part followed by noise.
fn hostile(rng: &mut Rng) -> Vec<u8> {
    match rng.below(3) {
        0 => (0..rng.below(200)).map(|_| rng.next() as u8).collect(),
        1 => {
            let mut frame = valid();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(frame.len());
                frame[at] = rng.next() as u8;
            }
            frame
        }
        _ => {
            let body: Vec<u8> = (0..rng.below(120)).map(|_| rng.next() as u8).collect();
            let mut frame = vec![
                0x08,
                0,
                (rng.next() as u8) & 0x7F,
                (rng.next() as u8) & 0x30,
            ];
            frame.extend_from_slice(&rng.next().to_be_bytes());
            frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
            frame.extend_from_slice(&body);
            frame
        }
    }
}

#[test]
fn ten_thousand_hostile_inputs() {
    let server = common::start(common::test_config(2));
    let addr = server.local_addr();
    let mut good = FrameClient::connect(addr);
    let started = Instant::now();

    let workers: Vec<_> = (0..4u64)
        .map(|w| {
            std::thread::spawn(move || {
                let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (w + 1));
                for _ in 0..2500 {
                    let input = hostile(&mut rng);
                    let mut stream = TcpStream::connect(addr).expect("server still accepts");
                    stream
                        .set_read_timeout(Some(Duration::from_secs(5)))
                        .unwrap();
                    let _ = stream.write_all(&input);
                    let _ = stream.shutdown(Shutdown::Write);
                    // The server answers (an error reply or a real one) and/or closes.
                    let mut sink = Vec::new();
                    let result = std::io::Read::read_to_end(&mut stream, &mut sink);
                    if let Err(e) = result {
                        assert_ne!(e.kind(), std::io::ErrorKind::WouldBlock, "server hung");
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    assert!(
        started.elapsed() < Duration::from_secs(120),
        "{:?}",
        started.elapsed()
    );
    common::assert_serving_on(&mut good);
    common::assert_serving(addr);
}
