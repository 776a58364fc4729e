//! One pipelined connection of the Rust load generator: requests go out as soon as the
//! shape allows, replies are matched to their send time by seq.

use std::collections::HashMap;
use std::io::{self, Read, Write};

use bytes::BytesMut;
use mio::net::TcpStream;
use ringrpc_codec::{decode, Limits};

use super::recorder::Recorder;
use super::workload::{RequestTemplate, Verdict};

const READ_CHUNK: usize = 64 << 10;

pub struct Conn {
    pub stream: TcpStream,
    /// At most this many calls in flight.
    depth: usize,
    /// seq → send time (open loop: intended send time), ns.
    inflight: HashMap<u64, u64>,
    next_seq: u64,
    out: Vec<u8>,
    out_written: usize,
    input: BytesMut,
    scratch: Box<[u8]>,
    /// Open loop: the next intended send time and the gap between two sends, ns.
    pub due_ns: f64,
    period_ns: f64,
}

impl Conn {
    pub fn new(stream: TcpStream, depth: usize, first_due_ns: f64, period_ns: f64) -> Self {
        Self {
            stream,
            depth,
            inflight: HashMap::with_capacity(depth * 2),
            next_seq: 1,
            out: Vec::with_capacity(READ_CHUNK),
            out_written: 0,
            input: BytesMut::with_capacity(READ_CHUNK),
            scratch: vec![0; READ_CHUNK].into_boxed_slice(),
            due_ns: first_due_ns,
            period_ns,
        }
    }

    pub fn inflight(&self) -> usize {
        self.inflight.len()
    }

    pub fn has_room(&self) -> bool {
        self.inflight.len() < self.depth
    }

    fn push(&mut self, template: &RequestTemplate, sent_ns: u64, rec: &mut Recorder) {
        let seq = self.next_seq;
        self.next_seq += 1;
        template.write(seq, &mut self.out);
        self.inflight.insert(seq, sent_ns);
        rec.issued(sent_ns);
    }

    /// Closed loop: fills the window while the run lasts.
    pub fn fill_closed(&mut self, template: &RequestTemplate, now_ns: u64, rec: &mut Recorder) {
        while self.has_room() {
            self.push(template, now_ns, rec);
        }
    }

    /// Open loop: sends every call that is due (before `end_ns`) while there is room. A
    /// call that waits for room keeps its intended time.
    pub fn fill_open(
        &mut self,
        template: &RequestTemplate,
        now_ns: u64,
        end_ns: u64,
        rec: &mut Recorder,
    ) {
        while self.has_room() && self.due_ns <= now_ns as f64 && self.due_ns < end_ns as f64 {
            let due = self.due_ns as u64;
            self.due_ns += self.period_ns;
            self.push(template, due, rec);
        }
    }

    /// Writes what is pending until the socket would block.
    pub fn flush(&mut self) -> io::Result<()> {
        while self.out_written < self.out.len() {
            match self.stream.write(&self.out[self.out_written..]) {
                Ok(n) => self.out_written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.out.clear();
        self.out_written = 0;
        Ok(())
    }

    /// Reads until the socket would block and records every complete reply; `now` is
    /// asked once per read, after it: all replies of one read completed together.
    pub fn read(
        &mut self,
        template: &RequestTemplate,
        limits: &Limits,
        now: impl Fn() -> u64,
        rec: &mut Recorder,
    ) -> io::Result<()> {
        loop {
            match self.stream.read(&mut self.scratch) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => self.input.extend_from_slice(&self.scratch[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            let done_ns = now();
            while let Some(frame) =
                decode(&mut self.input, limits).map_err(|e| io::Error::other(e.to_string()))?
            {
                if let Some(sent_ns) = self.inflight.remove(&frame.seq()) {
                    rec.finished(sent_ns, done_ns, template.judge(&frame));
                } else {
                    rec.finished(0, done_ns, Verdict::Bad);
                }
            }
        }
    }
}
