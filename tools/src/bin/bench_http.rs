//! The HTTP API under load: single-event command appends with 64 connections (events/s,
//! latency percentiles), and the first page of audit windows on a large log.
//!
//! `cargo run --release -p custos-tools --bin bench-http -- --appends 50000`
//! `cargo run --release -p custos-tools --bin bench-http -- --appends 0 --audit-data /tmp/bp1m --queries 500`
//!
//! The server runs in this process (`custos_server::serve` on 127.0.0.1:0), the clients
//! too: both share the machine's two cores, as a co-located load generator would.

use std::sync::Arc;
use std::time::Instant;

use clap::Parser;
use custos_core::Timestamp;
use custos_server::AppState;
use custos_store::{Store, StoreConfig};
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

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
    /// Audit queries (first pages).
    #[arg(long, default_value_t = 500)]
    queries: usize,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn summary(name: &str, mut ms: Vec<f64>) {
    ms.sort_by(f64::total_cmp);
    println!(
        "{name}: {} requests, p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        ms.len(),
        percentile(&ms, 0.5),
        percentile(&ms, 0.9),
        percentile(&ms, 0.99),
        ms[ms.len() - 1]
    );
}

/// Starts a server on `store`; its URL and admin token.
async fn start(store: Store) -> (String, String) {
    let state = AppState::new(store);
    let (secret, _) = custos_server::tokens::bootstrap(&state.store, &state.live)
        .await
        .expect("bootstrap")
        .unwrap_or_else(|| {
            let path = state
                .store
                .path()
                .join(custos_server::tokens::ADMIN_TOKEN_FILE);
            let secret = std::fs::read_to_string(&path).expect("admin.token of an earlier start");
            (secret.trim().to_owned(), path)
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(custos_server::serve(
        listener,
        state,
        std::future::pending(),
    ));
    (url, secret)
}

async fn appends(args: &Args) {
    let dir = tempfile::tempdir().expect("tmp");
    let store = Store::open(dir.path(), StoreConfig::default()).expect("open");
    let stats = store.clone();
    let (url, admin) = start(store).await;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.connections)
        .build()
        .expect("client");
    // A writer token for the enrolling service.
    let v: Value = client
        .post(format!("{url}/v1/tokens"))
        .bearer_auth(&admin)
        .json(&json!({"role": "writer", "principal": "svc:hr"}))
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    let writer = Arc::new(v["secret"].as_str().expect("secret").to_owned());
    // The floor of this machine: the same number of requests to an endpoint that does
    // nothing but answer (`GET /healthz`), with the same client and connections.
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.connections {
        let (client, url) = (client.clone(), url.clone());
        let n = args.appends / args.connections;
        tasks.push(tokio::spawn(async move {
            for _ in 0..n {
                let res = client
                    .get(format!("{url}/healthz"))
                    .send()
                    .await
                    .expect("send");
                let _ = res.bytes().await.expect("body");
            }
            n
        }));
    }
    let mut done = 0;
    for t in tasks {
        done += t.await.expect("task");
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "floor: GET /healthz, {} connections: {done} in {secs:.2} s = {:.0} requests/s",
        args.connections,
        done as f64 / secs
    );
    let (groups0, events0) = stats.stats();
    let per = args.appends / args.connections;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..args.connections {
        let (client, url, writer) = (client.clone(), url.clone(), writer.clone());
        tasks.push(tokio::spawn(async move {
            let mut ms = Vec::with_capacity(per);
            for i in 0..per {
                let body = json!({"staff": format!("staff:c{c}-{i}"), "name": "n", "roles": ["support_l1"], "mfa": true, "sso": true, "training_completed": true});
                let t = Instant::now();
                let res = client
                    .post(format!("{url}/v1/staff"))
                    .bearer_auth(writer.as_str())
                    .json(&body)
                    .send()
                    .await
                    .expect("send");
                assert_eq!(res.status(), reqwest::StatusCode::CREATED);
                let _ = res.bytes().await.expect("body");
                ms.push(t.elapsed().as_secs_f64() * 1e3);
            }
            ms
        }));
    }
    let mut all = Vec::with_capacity(per * args.connections);
    for t in tasks {
        all.extend(t.await.expect("task"));
    }
    let secs = started.elapsed().as_secs_f64();
    let (groups, events) = stats.stats();
    println!(
        "single-event commands over HTTP, {} connections: {} in {secs:.2} s = {:.0} events/s; {} groups, {:.1} events per group",
        args.connections,
        all.len(),
        all.len() as f64 / secs,
        groups - groups0,
        (events - events0) as f64 / (groups - groups0).max(1) as f64
    );
    summary("latency (request sent -> answer read)", all);
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
    let (url, admin) = start(store).await;
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
        summary("  latency", ms);
    }
}

fn main() {
    let args = Args::parse();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        if args.appends > 0 {
            appends(&args).await;
        }
        if let Some(data) = &args.audit_data {
            audit(&args, data).await;
        }
    });
}
