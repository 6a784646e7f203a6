//! `custos demo`: fills a data directory with the demo workload, on a simulated clock
//! spanning the 90 days before now, printing progress and events/s. Every generated event
//! goes through the policy (`custos_demo::driver`): what it refuses is recorded as a
//! rejected attempt, and expiries are recorded as they fall due.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use custos_core::Timestamp;
use custos_demo::driver::Driver;
use custos_demo::{Demo, DemoConfig};
use custos_store::{AppendRequest, Clock, ManualClock, Store, StoreConfig, SystemClock};

/// Appends kept in flight at most, so that the writer can commit groups.
const IN_FLIGHT: usize = 1024;

/// The most simulated time the appends in flight may span. A group is recorded at the
/// clock's time when the writer starts it, so this bounds how much later than its own
/// time an event is recorded.
const MAX_SKEW_SECS: i64 = 300;

pub fn run(data: &Path, events: u64, seed: u64) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
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
        let demo = DemoConfig {
            events,
            seed,
            end,
            days: 90,
        };
        let started = Instant::now();
        let filled = fill(&store, &clock, demo, true).await?;
        store.close().await;
        println!(
            "demo: {events} generated, {} appended ({} refused by the policy and recorded) in {:.1} s ({:.0} events/s), head {}",
            filled.appended,
            filled.refused,
            started.elapsed().as_secs_f64(),
            rate(filled.appended, started),
            store.head()
        );
        Ok(())
    })
}

/// What [`fill`] appended.
#[derive(Debug, Clone, Copy)]
pub struct Filled {
    /// Events appended.
    pub appended: u64,
    /// Commands the policy refused (each recorded as one of the appended events).
    pub refused: u64,
}

/// Runs the demo through the policy into `store`, whose writer reads `clock`.
pub async fn fill(
    store: &Store,
    clock: &ManualClock,
    config: DemoConfig,
    progress: bool,
) -> anyhow::Result<Filled> {
    let mut driver = Driver::new();
    let started = Instant::now();
    let mut last_report = Instant::now();
    let mut pending = VecDeque::with_capacity(IN_FLIGHT);
    let mut window: Option<Timestamp> = None;
    let mut appended = 0u64;
    for generated in Demo::new(config) {
        for append in driver.step(generated) {
            let too_far = window.is_some_and(|w| append.at > w.plus_secs(MAX_SKEW_SECS));
            if too_far || pending.len() >= IN_FLIGHT {
                while let Some(p) = pending.pop_front() {
                    appended += count(p.await?);
                }
                window = None;
            }
            clock.set(append.at);
            window.get_or_insert(append.at);
            let req = AppendRequest {
                stream: append.decision.stream,
                expected: None,
                events: append.events,
            };
            pending.push_back(store.enqueue(req).await?);
        }
        if progress && last_report.elapsed() >= Duration::from_secs(1) {
            last_report = Instant::now();
            eprintln!(
                "{appended} events appended, {:.0} events/s",
                rate(appended, started)
            );
        }
    }
    for p in pending {
        appended += count(p.await?);
    }
    Ok(Filled {
        appended,
        refused: driver.refused(),
    })
}

fn count(a: custos_store::Appended) -> u64 {
    a.last.0 + 1 - a.first.0
}

fn rate(n: u64, since: Instant) -> f64 {
    n as f64 / since.elapsed().as_secs_f64().max(1e-9)
}
