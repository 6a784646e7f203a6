//! custos's memory footprint in a process of its own (issue 7's "peak RSS < 1 GiB at
//! 10M events"): the demo generated lazily and appended by 64 appenders, then a rebuild,
//! a full verify and as-of and audit queries, with the process's peak resident set
//! (`VmHWM`) after each phase and the disk bytes per event.
//!
//! `cargo run --release -p custos-tools --bin bench-footprint -- --events 10000000`
//! `cargo run --release -p custos-tools --bin bench-footprint -- --events 10000000 --generator-only`
//!
//! The generator's own state (the simulated accounts) lives in the same process; run
//! with `--generator-only` to see what it alone takes. `bench-peers` holds its whole
//! workload in memory to feed three systems the same events, so its process size is not
//! custos's.

/// The `custos` binary's allocator, for every system measured here.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;
use std::time::Instant;

use clap::Parser;
use custos_core::access::Access;
use custos_core::{Seq, TenantId, Timestamp};
use custos_demo::{Demo, DemoConfig};
use custos_store::{ManualClock, Store, StoreConfig};
use custos_tools::{
    audit_first_page, dir_bytes, peak_rss_kib, percentile, store_appends_from, tenant_as_of,
};
use rand::{Rng, SeedableRng};

#[derive(Debug, Parser)]
struct Args {
    /// Demo events to generate (seed 42, as `bench-peers`).
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// Concurrent appenders.
    #[arg(long, default_value_t = 64)]
    appenders: usize,
    /// As-of and audit queries at random points.
    #[arg(long, default_value_t = 200)]
    queries: usize,
    /// sled's page cache, in MiB (the store's default: 256).
    #[arg(long, default_value_t = custos_store::DEFAULT_CACHE_BYTES >> 20)]
    cache_mb: u64,
    /// Only run the generator (its own peak resident set).
    #[arg(long)]
    generator_only: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let demo = Demo::new(DemoConfig {
        events: args.events,
        seed: 42,
        end: Timestamp::from_secs(1_800_000_000),
        days: 90,
    });
    if args.generator_only {
        let t = Instant::now();
        let n = demo.count();
        println!(
            "generator only: {n} events in {:.1} s, peak RSS {} MiB",
            t.elapsed().as_secs_f64(),
            peak_rss_kib() / 1024
        );
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let clock = Arc::new(ManualClock::new(Timestamp(0)));
    let store = Store::open(
        dir.path(),
        StoreConfig {
            clock: clock.clone(),
            cache_bytes: args.cache_mb << 20,
            ..StoreConfig::default()
        },
    )?;
    println!(
        "opened (sled cache {} MiB): peak RSS {} MiB",
        args.cache_mb,
        peak_rss_kib() / 1024
    );

    // Append: the generator behind a lock, 64 tasks taking one event at a time.
    let t = Instant::now();
    tokio::runtime::Runtime::new()?.block_on(store_appends_from(
        &store,
        demo,
        args.appenders,
        Some(clock.clone()),
    ));
    let head = store.head();
    let n = head.seq.0 as f64;
    println!(
        "appended {} events in {:.1} s ({:.0}/s): peak RSS {} MiB",
        head.seq,
        t.elapsed().as_secs_f64(),
        n / t.elapsed().as_secs_f64(),
        peak_rss_kib() / 1024
    );

    let t = Instant::now();
    let mut access = Access::default();
    store.replay(Seq(1), head.seq, |e| access.apply(e))?;
    println!(
        "rebuild: {:.0} events/s: peak RSS {} MiB",
        n / t.elapsed().as_secs_f64(),
        peak_rss_kib() / 1024
    );
    let tenants: Vec<TenantId> = access.tenants().map(|(t, _)| t.clone()).collect();
    drop(access);
    println!("projection dropped: peak RSS {} MiB", peak_rss_kib() / 1024);

    let t = Instant::now();
    let verified = store.verify(None)?;
    anyhow::ensure!(verified == store.head(), "verify reached {verified:?}");
    println!(
        "verify: {:.0} events/s: peak RSS {} MiB",
        n / t.elapsed().as_secs_f64(),
        peak_rss_kib() / 1024
    );

    // Queries at random points, as `bench-peers` asks them.
    let first = store
        .get(Seq(1))?
        .map(|s| s.event())
        .transpose()?
        .map_or(0, |e| e.recorded_at.0);
    let last = store
        .get(head.seq)?
        .map(|s| s.event())
        .transpose()?
        .map_or(0, |e| e.recorded_at.0);
    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    let (mut asof, mut audit) = (Vec::new(), Vec::new());
    for _ in 0..args.queries {
        let at = Timestamp(rng.gen_range(first..=last));
        let tenant = &tenants[rng.gen_range(0..tenants.len())];
        let t = Instant::now();
        std::hint::black_box(tenant_as_of(&store, tenant, at)?);
        asof.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        std::hint::black_box(audit_first_page(&store, tenant, at)?);
        audit.push(t.elapsed().as_secs_f64() * 1e3);
    }
    asof.sort_by(f64::total_cmp);
    audit.sort_by(f64::total_cmp);
    println!(
        "queries ({}): as-of tenant p50 {:.1} / p99 {:.1} ms; audit first page p50 {:.1} / p99 {:.1} ms: peak RSS {} MiB",
        args.queries,
        percentile(&asof, 0.5),
        percentile(&asof, 0.99),
        percentile(&audit, 0.5),
        percentile(&audit, 0.99),
        peak_rss_kib() / 1024
    );
    store.flush()?;
    println!(
        "disk: {:.0} bytes per event ({} MiB)",
        dir_bytes(dir.path()) as f64 / n,
        dir_bytes(dir.path()) >> 20
    );
    Ok(())
}
