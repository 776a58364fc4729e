//! The client driver: one `ringrpc_client::glommio::Client` per connection on a glommio
//! executor in this thread, and one task per call slot (D per connection). Closed loop:
//! each task calls again as soon as its reply is in. Open loop: each task takes the next
//! intended send time of its connection, sleeps until then if it is early, and counts its
//! latency from that time even when it is late (coordinated omission corrected).

use std::rc::Rc;
use std::time::Instant;

use anyhow::{anyhow, Result};
use glommio::{LocalExecutorBuilder, Placement};
use ringrpc_client::glommio::Client;
use ringrpc_client::{ClientOptions, Request, TlsOptions};

use super::workload::{RequestTemplate, Verdict};
use super::{measure_window, run_slot, sleep_until, LoadConfig, Outcome, Pacing, Window};

/// The glommio timer, as the pacing's wait.
fn wait_until(clock: Instant) -> impl AsyncFn(u64) + Copy {
    async move |at_ns| sleep_until(clock, at_ns, glommio::timer::sleep).await
}

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

async fn drive(cfg: &LoadConfig) -> Result<Outcome> {
    let template = Rc::new(RequestTemplate::new(cfg.workload)?);
    let mut options = ClientOptions::new().serialize_type(template.serialize_type);
    if let Some(ca) = &cfg.tls_ca {
        options = options.tls(TlsOptions::new().ca_path(ca).server_name("localhost"));
    }
    let addr = format!("tcp@{}", cfg.addr);
    let mut clients = Vec::with_capacity(cfg.conns);
    for _ in 0..cfg.conns {
        clients.push(Client::connect_with(&addr, options.clone()).await?);
    }

    let window = Window::start(cfg);
    let clock = window.clock;

    let mut tasks = Vec::new();
    for (i, client) in clients.iter().enumerate() {
        let pacing = Pacing::new(cfg, i, window.end_ns);
        for _ in 0..cfg.depth_of(i) {
            let (client, template, rec) = (client.clone(), template.clone(), window.rec.clone());
            let pacing = pacing.clone();
            tasks.push(glommio::spawn_local(async move {
                let request = Request::new(
                    template.service_path,
                    template.service_method,
                    &template.payload,
                )
                .serialize_type(template.serialize_type);
                let call = async || match client.send(&request).await {
                    Ok(reply) => template.judge_payload(reply.payload()),
                    Err(e) => Verdict::Error(e.to_string()),
                };
                run_slot(pacing, clock, &rec, wait_until(clock), call).await;
            }));
        }
    }

    let span = (window.start_ns, window.end_ns);
    let marks = measure_window(cfg, span, &window.rec, wait_until(clock)).await;

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
    Ok(window.finish(marks))
}
