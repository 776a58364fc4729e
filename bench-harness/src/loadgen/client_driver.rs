//! The client driver: one `ringrpc_client::glommio::Client` per connection on a glommio
//! executor in this thread, and one task per call slot (D per connection). Closed loop:
//! each task calls again as soon as its reply is in. Open loop: each task takes the next
//! intended send time of its connection, sleeps until then if it is early, and counts its
//! latency from that time even when it is late (coordinated omission corrected).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use glommio::{LocalExecutorBuilder, Placement};
use ringrpc_client::glommio::Client;
use ringrpc_client::{ClientOptions, Request};

use super::recorder::Recorder;
use super::workload::{RequestTemplate, Verdict};
use super::{LoadConfig, Mark, Outcome, TIMELINE_STEP_NS};

pub fn run(cfg: &LoadConfig) -> Result<Outcome> {
    let cfg = cfg.clone();
    // Unbound: the executor keeps the CPU the runner pinned this process to.
    LocalExecutorBuilder::new(Placement::Unbound)
        .name("loadgen")
        .spawn(move || async move { drive(&cfg).await })
        .map_err(|e| anyhow!("start the glommio executor: {e}"))?
        .join()
        .map_err(|e| anyhow!("glommio executor: {e}"))?
}

async fn sleep_until(clock: Instant, at_ns: u64) {
    let now = clock.elapsed().as_nanos() as u64;
    if at_ns > now {
        glommio::timer::sleep(Duration::from_nanos(at_ns - now)).await;
    }
}

async fn drive(cfg: &LoadConfig) -> Result<Outcome> {
    let template = Rc::new(RequestTemplate::new(cfg.workload)?);
    let options = ClientOptions {
        serialize_type: template.serialize_type,
        ..ClientOptions::default()
    };
    let addr = format!("tcp@{}", cfg.addr);
    let mut clients = Vec::with_capacity(cfg.conns);
    for _ in 0..cfg.conns {
        clients.push(Client::connect_with(&addr, options.clone()).await?);
    }

    let clock = Instant::now();
    let now = move || clock.elapsed().as_nanos() as u64;
    let start_ns = cfg.warmup.as_nanos() as u64;
    let end_ns = start_ns + cfg.duration.as_nanos() as u64;
    let rec = Rc::new(RefCell::new(Recorder::new(start_ns, end_ns)));

    let mut tasks = Vec::new();
    for (i, client) in clients.iter().enumerate() {
        // Open loop: connection i carries rate/C calls/s; its k-th call is due at
        // first_due + k * period. Its tasks share the counter k.
        let period_ns = if cfg.rate > 0.0 {
            1e9 * cfg.conns as f64 / cfg.rate
        } else {
            0.0
        };
        let first_due_ns = if cfg.rate > 0.0 {
            1e9 * i as f64 / cfg.rate
        } else {
            0.0
        };
        let next_slot = Rc::new(Cell::new(0u64));
        for _ in 0..cfg.depth_of(i) {
            let (client, template, rec) = (client.clone(), template.clone(), rec.clone());
            let next_slot = next_slot.clone();
            let open = cfg.rate > 0.0;
            tasks.push(glommio::spawn_local(async move {
                let request = Request::new(
                    template.service_path,
                    template.service_method,
                    &template.payload,
                )
                .serialize_type(template.serialize_type);
                loop {
                    let sent_ns = if open {
                        let k = next_slot.get();
                        next_slot.set(k + 1);
                        let due = (first_due_ns + k as f64 * period_ns) as u64;
                        if due >= end_ns {
                            break;
                        }
                        sleep_until(clock, due).await;
                        due
                    } else {
                        let t = now();
                        if t >= end_ns {
                            break;
                        }
                        t
                    };
                    rec.borrow_mut().issued(sent_ns);
                    let verdict = match client.send(&request).await {
                        Ok(reply) => template.judge_payload(reply.payload()),
                        Err(e) => Verdict::Error(e.to_string()),
                    };
                    rec.borrow_mut().finished(sent_ns, now(), verdict);
                }
            }));
        }
    }

    sleep_until(clock, start_ns).await;
    let first = Mark::take(cfg.server_pid);
    let mut timeline = Vec::new();
    let mut completed = rec.borrow().completed;
    let mut step_at = start_ns + TIMELINE_STEP_NS;
    while step_at <= end_ns {
        sleep_until(clock, step_at).await;
        let now_completed = rec.borrow().completed;
        timeline.push((now_completed - completed) as f64 * 1e9 / TIMELINE_STEP_NS as f64);
        completed = now_completed;
        step_at += TIMELINE_STEP_NS;
    }
    sleep_until(clock, end_ns).await;
    let last = Mark::take(cfg.server_pid);

    // Calls still unanswered after the drain are cancelled (dropping a task cancels it)
    // and counted as unfinished.
    let _ = glommio::timer::timeout(cfg.drain, async move {
        for task in tasks {
            task.await;
        }
        Ok(())
    })
    .await;
    drop(clients);
    let rec = Rc::try_unwrap(rec).map_or_else(|rc| rc.borrow().clone(), RefCell::into_inner);
    Ok(Outcome {
        rec,
        first,
        last,
        timeline,
    })
}
