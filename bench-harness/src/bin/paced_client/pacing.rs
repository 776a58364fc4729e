//! The fixed-rate schedule and the calls, written once for both runtimes: one task per
//! connection, one call in flight on each, counted when it completes.

use std::cell::RefCell;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::Result;
use ringrpc_bench::client_cost::{WindowCounts, WINDOW_START};
use ringrpc_client::runtime::Runtime;
use ringrpc_client::{Client, ClientOptions, Request, SerializeType};

use crate::counting_alloc;

/// A task for the runtime's local spawner.
pub type LocalTask = Pin<Box<dyn Future<Output = ()>>>;

/// When calls are due, from the moment the connections are open.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    rate: f64,
    conns: usize,
    /// Due times are rounded up to a multiple of this (zero: not rounded).
    tick: Duration,
    warmup: Duration,
    measure: Duration,
}

impl Plan {
    pub fn new(
        rate: f64,
        conns: usize,
        tick: Duration,
        warmup: Duration,
        measure: Duration,
    ) -> Self {
        Self {
            rate,
            conns,
            tick,
            warmup,
            measure,
        }
    }

    /// When call `k` of connection `conn` is due: connections take turns at the total rate,
    /// and a call is sent at the first tick at or after its turn (the calls of one tick
    /// leave together, whatever the runtime's timer resolution).
    fn due(&self, conn: usize, k: u64) -> Duration {
        let turn = conn as f64 + k as f64 * self.conns as f64;
        // Whole nanoseconds, rounded, so that a turn on a tick is not pushed to the next.
        let exact = (turn / self.rate * 1e9).round() as u64;
        let tick = u64::try_from(self.tick.as_nanos()).unwrap_or(u64::MAX);
        let due = if tick == 0 {
            exact
        } else {
            exact.div_ceil(tick).saturating_mul(tick)
        };
        Duration::from_nanos(due)
    }

    /// The time between two calls of one connection.
    fn period(&self) -> Duration {
        Duration::from_secs_f64(self.conns as f64 / self.rate)
    }

    fn end(&self) -> Duration {
        self.warmup + self.measure
    }
}

/// Calls completed since the tally was last taken.
#[derive(Debug, Default)]
struct Tally {
    good: u64,
    failed: u64,
    late: u64,
    first_error: Option<String>,
}

/// Connects `plan.conns` clients of runtime `R` to `addr`, runs the schedule, prints the
/// window's start and counts, then calls `wait_for_exit`.
pub async fn run<R: Runtime, F: Future<Output = ()> + 'static>(
    addr: SocketAddr,
    payload_len: usize,
    plan: Plan,
    name: &str,
    sleep: impl Fn(Duration) -> F + Copy + 'static,
    spawn: impl Fn(LocalTask),
    wait_for_exit: impl FnOnce(),
) -> Result<()> {
    counting_alloc::count_this_thread();
    let options = ClientOptions::new().serialize_type(SerializeType::None);
    let target = format!("tcp@{addr}");
    let payload: Rc<[u8]> = (0..payload_len).map(|i| b'a' + (i % 26) as u8).collect();
    let mut clients = Vec::with_capacity(plan.conns);
    for _ in 0..plan.conns {
        clients.push(Client::<R>::connect_with(&target, options.clone()).await?);
    }
    let clock = Instant::now();
    let tally = Rc::new(RefCell::new(Tally::default()));
    for (conn, client) in clients.iter().enumerate() {
        let task = calls(
            client.clone(),
            conn,
            plan,
            clock,
            payload.clone(),
            tally.clone(),
            sleep,
        );
        spawn(Box::pin(task));
    }

    sleep_until(clock, plan.warmup, sleep).await;
    tally.take();
    let allocs_before = counting_alloc::allocations();
    println!("{WINDOW_START}");
    sleep_until(clock, plan.end(), sleep).await;
    let tally = tally.take();
    let allocs = counting_alloc::allocations() - allocs_before;
    let counts = WindowCounts {
        client: name.into(),
        rate_target: plan.rate,
        conns: plan.conns,
        window_s: plan.measure.as_secs_f64(),
        good: tally.good,
        failed: tally.failed,
        late: tally.late,
        allocs: i64::try_from(allocs).unwrap_or(i64::MAX),
        first_error: tally.first_error,
    };
    println!("{}", serde_json::to_string(&counts)?);
    wait_for_exit();
    Ok(())
}

/// Connection `conn`'s calls, one at a time, each sent when due (or as soon as the one
/// before it is back).
async fn calls<R: Runtime, F: Future<Output = ()>>(
    client: Client<R>,
    conn: usize,
    plan: Plan,
    clock: Instant,
    payload: Rc<[u8]>,
    tally: Rc<RefCell<Tally>>,
    sleep: impl Fn(Duration) -> F,
) {
    let request = Request::new("Echo", "Echo", &payload).serialize_type(SerializeType::None);
    for k in 0.. {
        let due = plan.due(conn, k);
        if due >= plan.end() {
            break;
        }
        let now = clock.elapsed();
        if due > now {
            sleep(due - now).await;
        } else if now - due >= plan.period() {
            tally.borrow_mut().late += 1;
        }
        let result = client.send(&request).await;
        let mut tally = tally.borrow_mut();
        let error = match result {
            Ok(reply) if reply.payload()[..] == payload[..] => {
                tally.good += 1;
                continue;
            }
            Ok(_) => "wrong reply".to_owned(),
            Err(error) => error.to_string(),
        };
        tally.failed += 1;
        tally.first_error.get_or_insert(error);
    }
}

async fn sleep_until<F: Future<Output = ()>>(
    clock: Instant,
    at: Duration,
    sleep: impl Fn(Duration) -> F,
) {
    if let Some(left) = at.checked_sub(clock.elapsed()) {
        sleep(left).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_take_turns_at_the_total_rate() {
        let plan = Plan::new(
            1000.0,
            4,
            Duration::ZERO,
            Duration::ZERO,
            Duration::from_secs(1),
        );
        assert_eq!(plan.due(0, 0), Duration::ZERO);
        assert_eq!(plan.due(1, 0), Duration::from_millis(1));
        assert_eq!(plan.due(0, 1), Duration::from_millis(4));
        assert_eq!(plan.period(), Duration::from_millis(4));
    }

    #[test]
    fn calls_leave_at_the_first_tick_at_or_after_their_turn() {
        let ms = Duration::from_millis(1);
        let plan = Plan::new(10_000.0, 8, ms, Duration::ZERO, Duration::from_secs(1));
        // Connection 1's turns: 0.1, 0.9, 1.7, 2.5, 3.3, 4.1 ms.
        let due: Vec<_> = (0..6).map(|k| plan.due(1, k)).collect();
        assert_eq!(due, [1, 1, 2, 3, 4, 5].map(|n| n * ms));
        // A turn on a tick stays on it; the rate over a second is unchanged.
        assert_eq!(plan.due(0, 5), 4 * ms);
        assert_eq!(plan.due(0, 1250), Duration::from_secs(1));
    }
}
