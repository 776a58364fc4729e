//! `ringrpc-ceiling`: the framing ceiling of the benchmarks. It accepts rpcx connections,
//! splits the byte stream into frames with the codec's `frame_len` and writes every request
//! back unchanged except for the response bit: no decode of the body, no dispatch, no
//! allocation per request. Whatever a real server costs above this is the engine's cost.
//! A BenchmarkMessage request gets six bytes rewritten in place so that it reads as a good
//! reply ([`benchmark_reply`]); any rpcx client (ringrpc's, rpcx-go's) takes the answers
//! as replies.
//!
//! One thread, one epoll loop (mio), one buffer per connection; frames are answered in the
//! buffer they arrived in, and all the replies of one read go out in one write.
//!
//! ```text
//! taskset -c 1 ringrpc-ceiling --listen 127.0.0.1:8975
//! ```

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::SocketAddr;

use anyhow::{bail, Context, Result};
use clap::Parser;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use ringrpc_codec::{frame_len, Limits};

mod benchmark_reply;

/// Byte 2 of the header: the message type bit (PROTOCOL.md §1).
const RESPONSE_BIT: u8 = 0x80;
const FLAGS_AT: usize = 2;
const LISTENER: Token = Token(0);
const BUFFER_LEN: usize = 256 << 10;

#[derive(Parser)]
#[command(about = "Echoes rpcx frames with the response bit set: the framing ceiling")]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8975")]
    listen: SocketAddr,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let mut listener = TcpListener::bind(args.listen).context("bind")?;
    let mut poll = Poll::new()?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    println!("ringrpc-ceiling listening on {}", listener.local_addr()?);

    let limits = Limits::default();
    let mut conns: HashMap<Token, Conn> = HashMap::new();
    let mut next_token = 1;
    let mut events = Events::with_capacity(256);
    loop {
        if let Err(e) = poll.poll(&mut events, None) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            bail!("poll: {e}");
        }
        for event in &events {
            if event.token() == LISTENER {
                accept(&poll, &mut listener, &mut conns, &mut next_token)?;
                continue;
            }
            let token = event.token();
            let Some(conn) = conns.get_mut(&token) else {
                continue;
            };
            if conn.serve(&limits).is_err() {
                let mut conn = conns.remove(&token).expect("present");
                let _ = poll.registry().deregister(&mut conn.stream);
            }
        }
    }
}

fn accept(
    poll: &Poll,
    listener: &mut TcpListener,
    conns: &mut HashMap<Token, Conn>,
    next_token: &mut usize,
) -> Result<()> {
    loop {
        match listener.accept() {
            Ok((mut stream, _)) => {
                stream.set_nodelay(true)?;
                let token = Token(*next_token);
                *next_token += 1;
                poll.registry().register(
                    &mut stream,
                    token,
                    Interest::READABLE | Interest::WRITABLE,
                )?;
                conns.insert(token, Conn::new(stream));
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) => return Err(e.into()),
        }
    }
}

/// One connection: `buf[..answered]` holds replies (requests with the response bit set)
/// of which `buf[..written]` went out; `buf[answered..filled]` is an incomplete frame.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    filled: usize,
    answered: usize,
    written: usize,
}

impl Conn {
    fn new(stream: TcpStream) -> Self {
        Self {
            stream,
            buf: vec![0; BUFFER_LEN],
            filled: 0,
            answered: 0,
            written: 0,
        }
    }

    /// Reads, answers and writes until the socket would block. `Err`: close it.
    fn serve(&mut self, limits: &Limits) -> io::Result<()> {
        loop {
            if !self.flush()? {
                return Ok(()); // wait for WRITABLE before reading more
            }
            if self.filled == self.buf.len() {
                let need = frame_len(&self.buf, limits).ok().flatten().unwrap_or(0);
                self.buf.resize(need.max(self.buf.len() * 2), 0);
            }
            match self.stream.read(&mut self.buf[self.filled..]) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => self.filled += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            self.answer(limits)?;
        }
    }

    /// Flips the response bit of every complete frame after `answered` (and makes a
    /// BenchmarkMessage request read as its reply).
    fn answer(&mut self, limits: &Limits) -> io::Result<()> {
        while let Some(len) = frame_len(&self.buf[self.answered..self.filled], limits)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?
        {
            if self.answered + len > self.filled {
                break;
            }
            let frame = &mut self.buf[self.answered..self.answered + len];
            frame[FLAGS_AT] |= RESPONSE_BIT;
            benchmark_reply::rewrite(frame);
            self.answered += len;
        }
        Ok(())
    }

    /// Writes the answered bytes; true once all are out (and the buffer is compacted).
    fn flush(&mut self) -> io::Result<bool> {
        while self.written < self.answered {
            match self.stream.write(&self.buf[self.written..self.answered]) {
                Ok(n) => self.written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        if self.answered > 0 {
            self.buf.copy_within(self.answered..self.filled, 0);
            self.filled -= self.answered;
            self.answered = 0;
            self.written = 0;
        }
        Ok(true)
    }
}
