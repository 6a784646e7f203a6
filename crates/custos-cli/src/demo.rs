//! `custos demo`: fills a data directory with the demo workload, on a simulated clock
//! spanning the 90 days before now, printing progress and events/s. Every generated event
//! goes through the policy (`custos_demo::driver`): what it refuses is recorded as a
//! rejected attempt, and expiries are recorded as they fall due.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use custos_demo::driver::Driver;
use custos_demo::{Demo, DemoConfig};
use custos_store::{AppendRequest, Clock, ManualClock, Store, StoreConfig, SystemClock};

/// Appends kept in flight, so that the writer can commit large groups.
const IN_FLIGHT: usize = 1024;

pub fn run(data: &Path, events: u64, seed: u64) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(fill(data, events, seed))
}

async fn fill(data: &Path, events: u64, seed: u64) -> anyhow::Result<()> {
    let end = SystemClock.now();
    let clock = Arc::new(ManualClock::new(end));
    let config = StoreConfig {
        clock: clock.clone(),
        ..StoreConfig::default()
    };
    let store = Store::open(data, config)?;
    if store.head().seq.0 > 0 {
        eprintln!(
            "note: {} already holds {} events; the demo's simulated times cannot go before them",
            data.display(),
            store.head().seq
        );
    }
    let demo = Demo::new(DemoConfig {
        events,
        seed,
        end,
        days: 90,
    });
    let mut driver = Driver::new();
    let started = Instant::now();
    let mut last_report = Instant::now();
    let mut pending = VecDeque::with_capacity(IN_FLIGHT);
    let mut done = 0u64;
    for generated in demo {
        for append in driver.step(generated) {
            clock.set(append.at);
            let req = AppendRequest {
                stream: append.decision.stream,
                expected: None,
                events: append.events,
            };
            pending.push_back(store.enqueue(req).await?);
            if pending.len() >= IN_FLIGHT {
                if let Some(p) = pending.pop_front() {
                    let a = p.await?;
                    done += a.last.0 + 1 - a.first.0;
                }
            }
        }
        if last_report.elapsed() >= Duration::from_secs(1) {
            last_report = Instant::now();
            eprintln!(
                "{done} events appended, {:.0} events/s",
                rate(done, started)
            );
        }
    }
    for p in pending {
        let a = p.await?;
        done += a.last.0 + 1 - a.first.0;
    }
    store.close().await;
    let head = store.head();
    println!(
        "demo: {events} generated, {done} appended ({} refused by the policy and recorded) in {:.1} s ({:.0} events/s), head {head}",
        driver.refused(),
        started.elapsed().as_secs_f64(),
        rate(done, started)
    );
    Ok(())
}

fn rate(n: u64, since: Instant) -> f64 {
    n as f64 / since.elapsed().as_secs_f64().max(1e-9)
}
