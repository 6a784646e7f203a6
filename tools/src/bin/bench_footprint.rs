//! custos's memory footprint (issue 7's "peak RSS < 1 GiB at 10M events"), each role in
//! a process of its own: the demo generated lazily and appended by 64 appenders through
//! the store's API (this process, so the generator's state is in its peak); then
//! **`custos serve` on that log in a child process** (the binary's own entry point, via
//! `run_as_custos_if_asked`), which opens the store and rebuilds its access and findings
//! projections before it listens, then answers as-of tenant access and audit first pages
//! over HTTP at random points — the child's peak resident set (`VmHWM`) is the server's;
//! then, back in this process, as-of answers from tenant checkpoints against folds from
//! seq 1 at the same points, a full verify, and the disk bytes per event.
//!
//! `cargo run --release -p custos-tools --bin bench-footprint -- --events 10000000`
//! `cargo run --release -p custos-tools --bin bench-footprint -- --events 10000000 --generator-only`
//!
//! With `--data DIR` the log is kept in DIR, and a DIR that already holds one is not
//! appended to again (the server phase alone, on the same log). `bench-peers` holds its
//! whole workload in memory to feed three systems the same events, so its process size
//! is not custos's.

/// The `custos` binary's allocator, for every system measured here.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;
use std::time::Instant;

use clap::Parser;
use custos_core::{Seq, Timestamp};
use custos_demo::{Demo, DemoConfig};
use custos_store::{ManualClock, Store, StoreConfig};
use custos_tools::http_load::ServerProcess;
use custos_tools::{dir_bytes, peak_rss_kib, percentile, proc_status_kib, store_appends_from};
use rand::{Rng, SeedableRng};
use serde_json::Value;

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
    /// Keep the log in this directory (one that already holds a log is not appended to).
    #[arg(long)]
    data: Option<std::path::PathBuf>,
}

fn main() -> anyhow::Result<()> {
    custos_tools::http_load::run_as_custos_if_asked();
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
    let tmp = tempfile::tempdir()?;
    let dir = args
        .data
        .clone()
        .unwrap_or_else(|| tmp.path().to_path_buf());
    let rt = tokio::runtime::Runtime::new()?;

    // 1. The append, in this process (with the generator).
    let (head, first, last) = {
        let clock = Arc::new(ManualClock::new(Timestamp(0)));
        let store = Store::open(
            &dir,
            StoreConfig {
                clock: clock.clone(),
                cache_bytes: args.cache_mb << 20,
                ..StoreConfig::default()
            },
        )?;
        if store.head().seq == Seq::ZERO {
            let t = Instant::now();
            // The generator behind a lock, 64 tasks taking one event at a time.
            rt.block_on(store_appends_from(
                &store,
                demo,
                args.appenders,
                Some(clock.clone()),
            ));
            let n = store.head().seq.0 as f64;
            println!(
                "append (sled cache {} MiB): {} events in {:.1} s ({:.0}/s): peak RSS of this process {} MiB (the generator's state included)",
                args.cache_mb,
                store.head().seq,
                t.elapsed().as_secs_f64(),
                n / t.elapsed().as_secs_f64(),
                peak_rss_kib() / 1024
            );
        } else {
            println!(
                "the log in {} holds {} events already: not appended to",
                dir.display(),
                store.head().seq
            );
        }
        let time_of = |seq| -> anyhow::Result<i64> {
            Ok(store
                .get(seq)?
                .map(|s| s.event())
                .transpose()?
                .map_or(0, |e| e.recorded_at.0))
        };
        let head = store.head();
        (head, time_of(Seq(1))?, time_of(head.seq)?)
        // The store is dropped here: its lock is free for the server.
    };
    let n = head.seq.0 as f64;

    // 2. `custos serve` on the log, in a child process.
    let cache = (args.cache_mb).to_string();
    let t = Instant::now();
    let server = ServerProcess::start(&dir, &["--cache-mb", &cache])?;
    let pid = server.pid().to_string();
    println!(
        "server (sled cache {} MiB): open + access and findings rebuilt, listening after {:.1} s ({:.0} events/s): peak RSS {} MiB",
        args.cache_mb,
        t.elapsed().as_secs_f64(),
        n / t.elapsed().as_secs_f64(),
        proc_status_kib(&pid, "VmHWM") / 1024
    );
    let (asof, audit, tenants) = rt.block_on(server_queries(&server, args.queries, first, last))?;
    println!(
        "server, {} queries over HTTP at random points: as-of tenant access p50 {:.1} / p99 {:.1} ms; audit first page (90 days, 100) p50 {:.1} / p99 {:.1} ms: server peak RSS {} MiB, resident now {} MiB",
        args.queries,
        percentile(&asof, 0.5),
        percentile(&asof, 0.99),
        percentile(&audit, 0.5),
        percentile(&audit, 0.99),
        proc_status_kib(&pid, "VmHWM") / 1024,
        proc_status_kib(&pid, "VmRSS") / 1024
    );
    drop(server);

    // 3. Verify, back in this process.
    let store = Store::open(
        &dir,
        StoreConfig {
            cache_bytes: args.cache_mb << 20,
            ..StoreConfig::default()
        },
    )?;
    checkpoints_against_folds(&store, &tenants, args.queries, first, last)?;
    let t = Instant::now();
    let verified = store.verify(None)?;
    anyhow::ensure!(verified == store.head(), "verify reached {verified:?}");
    println!(
        "verify: {:.0} events/s: peak RSS of this process {} MiB",
        store.head().seq.0 as f64 / t.elapsed().as_secs_f64(),
        peak_rss_kib() / 1024
    );
    drop(store);
    println!(
        "disk: {:.0} bytes per event ({} MiB)",
        dir_bytes(&dir) as f64 / n,
        dir_bytes(&dir) >> 20
    );
    Ok(())
}

/// As-of tenant access and the audit window's first page, `queries` of each at random
/// points (tenants from `GET /v1/tenants`); each latency in ms, sorted, and the tenants.
async fn server_queries(
    server: &ServerProcess,
    queries: usize,
    first: i64,
    last: i64,
) -> anyhow::Result<(Vec<f64>, Vec<f64>, Vec<String>)> {
    let url = format!("http://{}", server.addr);
    let client = reqwest::Client::new();
    let get = |path: String, query: Vec<(&'static str, String)>| {
        client
            .get(format!("{url}{path}"))
            .bearer_auth(&server.admin)
            .query(&query)
            .send()
    };
    let listed: Value = get("/v1/tenants".into(), vec![]).await?.json().await?;
    let tenants: Vec<String> = listed["tenants"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["tenant"].as_str().map(str::to_owned))
        .collect();
    anyhow::ensure!(!tenants.is_empty(), "GET /v1/tenants listed none: {listed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    let (mut asof, mut audit) = (Vec::new(), Vec::new());
    for _ in 0..queries {
        let at = Timestamp(rng.gen_range(first..=last));
        let tenant = &tenants[rng.gen_range(0..tenants.len())];
        let t = Instant::now();
        let res = get(
            format!("/v1/tenants/{tenant}/access"),
            vec![("as_of", at.to_string())],
        )
        .await?;
        // A tenant created after `at` is a 404 ("no tenant"): an answer too.
        anyhow::ensure!(
            res.status().is_success() || res.status() == reqwest::StatusCode::NOT_FOUND,
            "as-of: {}",
            res.text().await?
        );
        std::hint::black_box(res.bytes().await?);
        asof.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        let res = get(
            "/v1/audit".into(),
            vec![
                ("tenant", tenant.clone()),
                ("from", at.plus_secs(-90 * 86_400).to_string()),
                ("to", at.to_string()),
                ("limit", "100".into()),
            ],
        )
        .await?;
        anyhow::ensure!(res.status().is_success(), "audit: {}", res.text().await?);
        std::hint::black_box(res.bytes().await?);
        audit.push(t.elapsed().as_secs_f64() * 1e3);
    }
    asof.sort_by(f64::total_cmp);
    audit.sort_by(f64::total_cmp);
    Ok((asof, audit, tenants))
}

/// The as-of plan in this process, side by side at the same random points: the tenant's
/// latest checkpoint and its events after it (`Store::tenant_access_at`, what the server
/// runs) against all its events folded from seq 1 (`Store::tenant_access_folded`, the
/// plan before checkpoints), alternating which goes first; stops if the answers differ.
fn checkpoints_against_folds(
    store: &Store,
    tenants: &[String],
    queries: usize,
    first: i64,
    last: i64,
) -> anyhow::Result<()> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(10);
    let (mut kept, mut folded, mut events) = (Vec::new(), Vec::new(), 0usize);
    for i in 0..queries {
        let at = Timestamp(rng.gen_range(first..=last));
        let tenant = custos_core::TenantId::new(&tenants[rng.gen_range(0..tenants.len())])?;
        let upto = Seq(store.first_seq_at(at.plus_micros(1))?.0 - 1);
        let mut timed = |from_checkpoint: bool| -> anyhow::Result<_> {
            let t = Instant::now();
            let access = if from_checkpoint {
                store.tenant_access_at(&tenant, upto)?
            } else {
                store.tenant_access_folded(&tenant, upto)?
            };
            let view = access.tenant(&tenant, at);
            let ms = t.elapsed().as_secs_f64() * 1e3;
            (if from_checkpoint {
                &mut kept
            } else {
                &mut folded
            })
            .push(ms);
            Ok(view)
        };
        let (a, b) = if i % 2 == 0 {
            let a = timed(true)?;
            (a, timed(false)?)
        } else {
            let b = timed(false)?;
            (timed(true)?, b)
        };
        anyhow::ensure!(
            a == b,
            "{tenant} at {at}: the checkpoint's answer differs from the fold's"
        );
        events += store
            .index_seqs(
                &custos_store::IndexFilter::Tenant(tenant.clone()),
                Seq(1),
                upto,
                usize::MAX,
            )?
            .len();
    }
    kept.sort_by(f64::total_cmp);
    folded.sort_by(f64::total_cmp);
    println!(
        "as-of in process, {queries} points, the same answers: from the tenant's checkpoint p50 {:.1} / p99 {:.1} ms; folded from seq 1 ({:.0} events of the tenant on average) p50 {:.1} / p99 {:.1} ms",
        percentile(&kept, 0.5),
        percentile(&kept, 0.99),
        events as f64 / queries.max(1) as f64,
        percentile(&folded, 0.5),
        percentile(&folded, 0.99),
    );
    Ok(())
}
