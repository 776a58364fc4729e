//! The attacks, each a hostile peer's traffic against one server, bounded in time. Each
//! returns a short note of what it saw (replies, closes, its own figure); memory, CPU and
//! the probe are measured around it (`mod.rs`).

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Result;
use ringrpc_codec::{Header, SerializeType};

use super::watch::rss_kib;
use super::wire::{self, FrameConn, NoFrame};

/// How big each attack is.
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    /// How long the open-ended attacks (slow headers, never-reading client) last.
    pub window: Duration,
    pub bomb_requests: usize,
    pub bomb_plain_bytes: usize,
    pub slow_conns: usize,
    pub metadata_keys: usize,
    pub heartbeats: usize,
    pub heartbeat_plain_bytes: usize,
    pub idle_conns: usize,
}

impl Scale {
    /// The sizes of the issue that introduced this command.
    pub const FULL: Scale = Scale {
        window: Duration::from_secs(10),
        bomb_requests: 64,
        bomb_plain_bytes: 15 << 20,
        slow_conns: 1000,
        metadata_keys: 300_000,
        heartbeats: 100,
        heartbeat_plain_bytes: 15 << 20,
        idle_conns: 10_000,
    };

    /// A CI-sized run: the same attacks, smaller.
    pub const QUICK: Scale = Scale {
        window: Duration::from_secs(2),
        bomb_requests: 8,
        bomb_plain_bytes: 4 << 20,
        slow_conns: 100,
        metadata_keys: 30_000,
        heartbeats: 10,
        heartbeat_plain_bytes: 4 << 20,
        idle_conns: 1000,
    };
}

/// What an attack runs against.
pub struct Target {
    pub addr: SocketAddr,
    pub pid: u32,
    /// VmRSS before the attack, KiB.
    pub rss_before_kib: u64,
    pub scale: Scale,
}

/// Writes `bytes` on a clone of `stream` from a thread of its own, so a server that stops
/// reading cannot block the attacker; gives up at `deadline` (each write waits at most
/// until then, and no write starts after it).
fn write_in_background(stream: &TcpStream, bytes: Vec<u8>, deadline: Instant) -> JoinHandle<()> {
    let mut stream = stream.try_clone().expect("clone the socket");
    std::thread::spawn(move || {
        for chunk in bytes.chunks(64 << 10) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            let _ = stream.set_write_timeout(Some(left));
            if stream.write_all(chunk).is_err() {
                return;
            }
        }
    })
}

/// Reads up to `want` frames before `deadline`: how many came, and whether the server
/// closed the connection.
fn collect(conn: &mut FrameConn, want: usize, deadline: Instant) -> (usize, bool) {
    for got in 0..want {
        match conn.recv_until(deadline) {
            Ok(_) => {}
            Err(NoFrame::Closed) => return (got, true),
            Err(NoFrame::Timeout) => return (got, false),
        }
    }
    (want, false)
}

fn outcome(got: usize, want: usize, closed: bool, took: Duration) -> String {
    let end = if closed { ", then closed" } else { "" };
    format!("{got}/{want} answered in {:.1} s{end}", took.as_secs_f64())
}

/// Pipelined gzip requests to `Test.Sleep` (2 s) whose JSON payload inflates to
/// `bomb_plain_bytes` each.
pub fn gzip_bomb(target: &Target) -> Result<String> {
    let s = target.scale;
    let padding = "a".repeat(s.bomb_plain_bytes);
    let plain = format!(r#"{{"Ms":2000,"P":"{padding}"}}"#);
    let mut conn = FrameConn::connect(target.addr)?;
    let mut batch = Vec::new();
    for seq in 0..s.bomb_requests as u64 {
        let header = Header::request(seq, SerializeType::Json);
        batch.extend(wire::gzip_frame(header, "Test", "Sleep", plain.as_bytes()));
    }
    let wire_kib = batch.len() / s.bomb_requests / 1024;
    let start = Instant::now();
    let deadline = start + Duration::from_secs(60);
    let writer = write_in_background(&conn.stream, batch, deadline);
    let (got, closed) = collect(&mut conn, s.bomb_requests, deadline);
    let took = start.elapsed();
    drop(conn);
    let _ = writer.join();
    Ok(format!(
        "{} ({wire_kib} KiB each on the wire)",
        outcome(got, s.bomb_requests, closed, took)
    ))
}

/// Connections that each send a header announcing a frame just under 16 MiB, then one
/// byte a second, for the window.
pub fn slow_headers(target: &Target) -> Result<String> {
    let s = target.scale;
    let mut header = wire::request(0, SerializeType::None, "Echo", "Echo", &[], b"");
    let announced: u32 = (16 << 20) - 1024;
    header.truncate(16);
    header[12..16].copy_from_slice(&(announced - 16).to_be_bytes());
    let mut conns: Vec<Option<TcpStream>> = Vec::with_capacity(s.slow_conns);
    for _ in 0..s.slow_conns {
        let mut stream = TcpStream::connect(target.addr)?;
        stream.write_all(&header)?;
        conns.push(Some(stream));
    }
    let start = Instant::now();
    while start.elapsed() < s.window {
        std::thread::sleep(Duration::from_secs(1));
        for conn in &mut conns {
            if let Some(stream) = conn {
                if stream.write_all(&[0]).is_err() {
                    *conn = None;
                }
            }
        }
    }
    let closed = conns.iter().filter(|c| c.is_none()).count();
    Ok(format!(
        "{} connections, {closed} closed by the server within {} s",
        s.slow_conns,
        s.window.as_secs()
    ))
}

/// One `Echo.Echo` request carrying `metadata_keys` distinct metadata keys.
pub fn metadata_echo(target: &Target) -> Result<String> {
    let s = target.scale;
    let metadata: Vec<(String, String)> = (0..s.metadata_keys)
        .map(|i| (format!("k{i:06}"), "v".to_owned()))
        .collect();
    let frame = wire::request(1, SerializeType::None, "Echo", "Echo", &metadata, b"x");
    let mib = frame.len() as f64 / f64::from(1 << 20);
    let mut conn = FrameConn::connect(target.addr)?;
    let start = Instant::now();
    let deadline = start + Duration::from_secs(30);
    let writer = write_in_background(&conn.stream, frame, deadline);
    let got = conn.recv_until(deadline);
    let took = start.elapsed().as_secs_f64();
    drop(conn);
    let _ = writer.join();
    let what = match got {
        Ok(frame) if frame.metadata().iter().count() == s.metadata_keys => "echoed",
        Ok(_) => "answered (an error reply)",
        Err(NoFrame::Closed) => "connection closed",
        Err(NoFrame::Timeout) => "no answer",
    };
    Ok(format!(
        "{} keys ({mib:.1} MiB): {what} after {took:.1} s",
        s.metadata_keys
    ))
}

/// Gzip'ed heartbeats (payload inflating to `heartbeat_plain_bytes`) from a peer without
/// the auth token the server requires.
pub fn gzip_heartbeats(target: &Target) -> Result<String> {
    let s = target.scale;
    let zeros = vec![0u8; s.heartbeat_plain_bytes];
    let mut batch = Vec::new();
    for seq in 0..s.heartbeats as u64 {
        let mut header = Header::request(seq, SerializeType::None);
        header.set_heartbeat(true);
        batch.extend(wire::gzip_frame(header, "", "", &zeros));
    }
    let mut conn = FrameConn::connect(target.addr)?;
    let start = Instant::now();
    let deadline = start + Duration::from_secs(60);
    let writer = write_in_background(&conn.stream, batch, deadline);
    let (got, closed) = collect(&mut conn, s.heartbeats, deadline);
    let took = start.elapsed();
    drop(conn);
    let _ = writer.join();
    Ok(outcome(got, s.heartbeats, closed, took))
}

/// Connections that each make one small call and then stay open; the server's memory per
/// connection, 3 s later.
pub fn idle_conns(target: &Target) -> Result<String> {
    let s = target.scale;
    let mut conns = Vec::with_capacity(s.idle_conns);
    for seq in 0..s.idle_conns as u64 {
        let mut conn = FrameConn::connect(target.addr)?;
        conn.send(&wire::mul(seq, None))?;
        conn.recv_until(Instant::now() + Duration::from_secs(10))
            .map_err(|e| anyhow::anyhow!("idle connection {seq}: no reply ({e:?})"))?;
        conns.push(conn);
    }
    // Let the servers settle (Go's collector runs at its own pace).
    std::thread::sleep(Duration::from_secs(3));
    let rss = rss_kib(target.pid).unwrap_or(0);
    let per_conn = rss.saturating_sub(target.rss_before_kib) as f64 / s.idle_conns as f64;
    drop(conns);
    Ok(format!(
        "{:.2} KiB per idle connection ({} connections)",
        per_conn, s.idle_conns
    ))
}

/// A client that never reads: 10,000 pushes of 16 KiB asked for, and 32 pipelined 1 MiB
/// echoes, for the window.
pub fn never_reads(target: &Target) -> Result<String> {
    let s = target.scale;
    let push = format!(r#"{{"Count":10000,"Payload":"{}"}}"#, "p".repeat(16 << 10));
    let mut batch = wire::request(1, SerializeType::Json, "Test", "Push", &[], push.as_bytes());
    let echo = vec![b'e'; 1 << 20];
    for seq in 2..34 {
        batch.extend(wire::request(
            seq,
            SerializeType::None,
            "Echo",
            "Echo",
            &[],
            &echo,
        ));
    }
    let conn = FrameConn::connect(target.addr)?;
    let deadline = Instant::now() + s.window;
    let writer = write_in_background(&conn.stream, batch, deadline);
    std::thread::sleep(s.window);
    let _ = writer.join();
    drop(conn);
    Ok(format!(
        "{} s without reading (10,000 × 16 KiB pushes, 32 × 1 MiB echoes asked)",
        s.window.as_secs()
    ))
}
