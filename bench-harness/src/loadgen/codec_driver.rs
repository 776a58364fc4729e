//! The codec driver: every connection in one epoll loop (mio), requests written from a
//! pre-encoded frame, replies split with the codec. No runtime and no per-call future, so
//! the generator's cost per call is as low as it gets; kept next to the client driver to
//! show what the client itself costs.

use std::net::TcpStream as StdTcpStream;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use mio::{Events, Interest, Poll, Token};
use ringrpc_codec::Limits;

use super::conn::Conn;
use super::recorder::Recorder;
use super::workload::RequestTemplate;
use super::{LoadConfig, Mark, Outcome, TIMELINE_STEP_NS};

pub fn run(cfg: &LoadConfig) -> Result<Outcome> {
    let template = RequestTemplate::new(cfg.workload)?;
    let limits = Limits::default();
    let mut poll = Poll::new()?;
    let mut conns = Vec::with_capacity(cfg.conns);
    // Open loop: each connection carries rate/C calls/s, phases spread evenly.
    let period_ns = if cfg.rate > 0.0 {
        1e9 * cfg.conns as f64 / cfg.rate
    } else {
        0.0
    };
    for i in 0..cfg.conns {
        let std =
            StdTcpStream::connect(cfg.addr).with_context(|| format!("connect {}", cfg.addr))?;
        std.set_nodelay(true)?;
        std.set_nonblocking(true)?;
        let mut stream = mio::net::TcpStream::from_std(std);
        poll.registry().register(
            &mut stream,
            Token(i),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        let first_due = if cfg.rate > 0.0 {
            1e9 * i as f64 / cfg.rate
        } else {
            0.0
        };
        conns.push(Conn::new(stream, cfg.depth_of(i), first_due, period_ns));
    }

    let clock = Instant::now();
    let now = || clock.elapsed().as_nanos() as u64;
    let start_ns = cfg.warmup.as_nanos() as u64;
    let end_ns = start_ns + cfg.duration.as_nanos() as u64;
    let drain_end_ns = end_ns + cfg.drain.as_nanos() as u64;
    let mut rec = Recorder::new(start_ns, end_ns);
    let mut first: Option<Mark> = None;
    let mut last: Option<Mark> = None;
    let mut timeline = Vec::new();
    let (mut step_at, mut step_completed) = (start_ns + TIMELINE_STEP_NS, 0u64);
    let mut events = Events::with_capacity(1024);

    loop {
        let t = now();
        if first.is_none() && t >= start_ns {
            first = Some(Mark::take(cfg.server_pid));
            step_completed = rec.completed;
        }
        if first.is_some() && last.is_none() && t >= step_at && step_at <= end_ns {
            timeline.push((rec.completed - step_completed) as f64 * 1e9 / TIMELINE_STEP_NS as f64);
            step_completed = rec.completed;
            step_at += TIMELINE_STEP_NS;
        }
        if last.is_none() && t >= end_ns {
            last = Some(Mark::take(cfg.server_pid));
        }
        if t < end_ns {
            for c in &mut conns {
                if cfg.rate > 0.0 {
                    c.fill_open(&template, t, end_ns, &mut rec);
                } else {
                    c.fill_closed(&template, t, &mut rec);
                }
            }
        }
        for c in &mut conns {
            c.flush().context("write")?;
        }
        if last.is_some() && (t >= drain_end_ns || conns.iter().all(|c| c.inflight() == 0)) {
            break;
        }

        let mut wake_ns = [start_ns, step_at, end_ns, drain_end_ns]
            .into_iter()
            .filter(|&w| w > t)
            .min()
            .unwrap_or(t);
        if cfg.rate > 0.0 && t < end_ns {
            for c in conns.iter().filter(|c| c.has_room()) {
                wake_ns = wake_ns.min(c.due_ns as u64);
            }
        }
        // epoll sleeps whole milliseconds (rounded up): sleep to 1 ms before the wake-up
        // time, spin the rest.
        let wait = Duration::from_nanos(wake_ns.saturating_sub(t).saturating_sub(1_000_000));
        if let Err(e) = poll.poll(&mut events, Some(wait)) {
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(e.into());
            }
        }
        for event in &events {
            let Some(c) = conns.get_mut(event.token().0) else {
                continue;
            };
            if event.is_readable() {
                c.read(&template, &limits, now, &mut rec).context("read")?;
            }
        }
    }

    Ok(Outcome {
        rec,
        first: first.context("the window never started")?,
        last: last.context("the window never ended")?,
        timeline,
    })
}
