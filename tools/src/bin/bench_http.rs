//! The HTTP API under load: single-event command appends with 64 connections (events/s,
//! latency percentiles), and the first page of audit windows on a large log.
//!
//! `cargo run --release -p custos-tools --bin bench-http -- --appends 50000`
//! `cargo run --release -p custos-tools --bin bench-http -- --appends 0 --audit-data /tmp/bp1m --queries 500`
//!
//! The appends go to `custos serve` in a process of its own (this executable run as the
//! `custos` binary, `custos_tools::http_load`), from a client on hyper's bare HTTP/1.1
//! connections in this process, on `--client-threads` runtime threads: both share the
//! machine's two cores, as a co-located load generator would. The audit queries go to a
//! server in this process.

/// The `custos` binary's allocator, for every system measured here.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::Instant;

use clap::Parser;
use custos_core::Timestamp;
use custos_store::{Store, StoreConfig};
use custos_tools::{http_appends, percentile, start_server};
use rand::{Rng, SeedableRng};
use serde_json::Value;

#[derive(Debug, Parser)]
struct Args {
    /// Single-event commands to send (0: skip).
    #[arg(long, default_value_t = 50_000)]
    appends: usize,
    /// Concurrent connections.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// A data directory (e.g. a 1M-event demo log) to run audit queries on.
    #[arg(long)]
    audit_data: Option<std::path::PathBuf>,
    /// The client's runtime threads.
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
    /// Audit queries (first pages).
    #[arg(long, default_value_t = 500)]
    queries: usize,
}

fn summary(name: &str, ms: &[f64]) {
    println!(
        "{name}: {} requests, p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        ms.len(),
        percentile(ms, 0.5),
        percentile(ms, 0.9),
        percentile(ms, 0.99),
        ms[ms.len() - 1]
    );
}

async fn appends(args: &Args) {
    let dir = tempfile::tempdir().expect("tmp");
    let run = http_appends(dir.path(), args.connections, args.appends).await;
    println!(
        "floor: GET /healthz, {} connections: {:.0} requests/s",
        args.connections, run.floor
    );
    println!(
        "single-event commands over HTTP, {} connections: {} = {:.0} events/s; {:.1} events per group",
        args.connections,
        run.ms.len(),
        run.rate,
        run.mean_group
    );
    summary("latency (request sent -> answer read)", &run.ms);
    println!(
        "server process peak resident set: {} MiB",
        run.server_peak_kib / 1024
    );
}

async fn audit(args: &Args, data: &std::path::Path) {
    let store = Store::open(data, StoreConfig::default()).expect("open");
    // The demo's recorded times and tenants.
    let head = store.head().seq;
    let first = store
        .get(custos_core::Seq(1))
        .expect("read")
        .expect("first")
        .event()
        .expect("decode")
        .recorded_at;
    let last = store
        .get(head)
        .expect("read")
        .expect("last")
        .event()
        .expect("decode")
        .recorded_at;
    let tenants: Vec<String> = store
        .access_at(head)
        .expect("fold")
        .tenants()
        .map(|(t, _)| t.to_string())
        .collect();
    let (url, admin) = start_server(store).await;
    let client = reqwest::Client::new();
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let kinds = [
        "session_action",
        "attempt_rejected",
        "access_approved",
        "consent_given",
    ];
    for filter in ["tenant", "kind", "none"] {
        let mut ms = Vec::with_capacity(args.queries);
        let mut returned = 0usize;
        for _ in 0..args.queries {
            let from = Timestamp(rng.gen_range(first.0..=last.0));
            let to = from.plus_secs(30 * 86_400);
            let mut query = vec![
                ("from", from.to_string()),
                ("to", to.to_string()),
                ("limit", "100".to_owned()),
            ];
            match filter {
                "tenant" => {
                    query.push(("tenant", tenants[rng.gen_range(0..tenants.len())].clone()))
                }
                "kind" => query.push(("kind", kinds[rng.gen_range(0..kinds.len())].to_owned())),
                _ => {}
            }
            let t = Instant::now();
            let res = client
                .get(format!("{url}/v1/audit"))
                .bearer_auth(&admin)
                .query(&query)
                .send()
                .await
                .expect("send");
            assert_eq!(res.status(), reqwest::StatusCode::OK);
            let page: Value = res.json().await.expect("json");
            ms.push(t.elapsed().as_secs_f64() * 1e3);
            returned += page["events"].as_array().map_or(0, Vec::len);
        }
        println!(
            "audit first page (30-day window, limit 100, filter: {filter}) on {head} events: {returned} events returned in all"
        );
        ms.sort_by(f64::total_cmp);
        summary("  latency", &ms);
    }
}

fn main() {
    custos_tools::http_load::run_as_custos_if_asked();
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.client_threads.max(1))
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        if args.appends > 0 {
            appends(&args).await;
        }
        if let Some(data) = &args.audit_data {
            audit(&args, data).await;
        }
    });
}
