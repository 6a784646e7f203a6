//! Event-stream delivery: 100 SSE subscribers following a `custos serve` process while
//! commands are appended; delivered events/s, and the server's memory per subscriber
//! (its resident set, from /proc, before and after the subscribers connect).
//!
//! `cargo run --release -p custos-tools --bin bench-stream -- --events 20000`

/// The `custos` binary's allocator, for every system measured here.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::json;

#[derive(Debug, Parser)]
struct Args {
    /// Events to append while the subscribers follow.
    #[arg(long, default_value_t = 20_000)]
    events: usize,
    /// SSE subscribers.
    #[arg(long, default_value_t = 100)]
    subscribers: usize,
    /// Appending connections.
    #[arg(long, default_value_t = 32)]
    appenders: usize,
}

/// The resident set of `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    custos_tools::proc_status_kib(&pid.to_string(), "VmRSS")
}

fn main() {
    custos_tools::http_load::run_as_custos_if_asked();
    let args = Args::parse();
    let dir = tempfile::tempdir().expect("tmp");
    let server =
        custos_tools::http_load::ServerProcess::start(dir.path(), &[]).expect("start custos serve");
    let (pid, url, admin) = (
        server.pid(),
        format!("http://{}", server.addr),
        server.admin.clone(),
    );
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let client = reqwest::Client::new();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let before = rss_kib(pid);
        let delivered = Arc::new(AtomicU64::new(0));
        let mut subs = Vec::new();
        for _ in 0..args.subscribers {
            let res = client
                .get(format!("{url}/v1/stream"))
                .bearer_auth(&admin)
                .send()
                .await
                .expect("subscribe");
            assert!(res.status().is_success());
            let (delivered, want) = (delivered.clone(), args.events as u64);
            subs.push(tokio::spawn(async move {
                let mut res = res;
                let mut seen = 0u64;
                let mut tail = String::new();
                while seen < want {
                    let Some(chunk) = res.chunk().await.expect("read") else { break };
                    tail.push_str(&String::from_utf8_lossy(&chunk));
                    let n = tail.matches("\nid: ").count() as u64 + u64::from(tail.starts_with("id: "));
                    seen += n;
                    delivered.fetch_add(n, Ordering::Relaxed);
                    // Keep only an unfinished last line.
                    let keep = tail.rfind('\n').map_or(0, |i| i + 1);
                    tail.drain(..keep);
                }
                Instant::now()
            }));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let connected = rss_kib(pid);
        println!(
            "server resident set: {before} KiB alone, {connected} KiB with {} idle subscribers: {:.1} KiB per subscriber",
            args.subscribers,
            (connected.saturating_sub(before)) as f64 / args.subscribers as f64
        );
        let writer = Arc::new(custos_tools::http_load::writer_token(&server.addr, &admin).await);
        // The token's own event is delivered too: count it.
        let want = args.events as u64;
        let started = Instant::now();
        let peak = Arc::new(AtomicU64::new(connected));
        let sampler = {
            let peak = peak.clone();
            tokio::spawn(async move {
                loop {
                    peak.fetch_max(rss_kib(pid), Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            })
        };
        let per = (args.events - 1) / args.appenders;
        let mut tasks = Vec::new();
        for c in 0..args.appenders {
            let (client, url, writer) = (client.clone(), url.clone(), writer.clone());
            let n = if c == 0 { args.events - 1 - per * (args.appenders - 1) } else { per };
            tasks.push(tokio::spawn(async move {
                for i in 0..n {
                    let res = client
                        .post(format!("{url}/v1/staff"))
                        .bearer_auth(writer.as_str())
                        .json(&json!({"staff": format!("staff:c{c}-{i}"), "name": "n", "roles": ["support_l1"], "mfa": true, "sso": true, "training_completed": true}))
                        .send()
                        .await
                        .expect("append");
                    assert!(res.status().is_success());
                }
            }));
        }
        for t in tasks {
            t.await.expect("appender");
        }
        let appended = started.elapsed().as_secs_f64();
        let mut last = started;
        for s in subs {
            last = last.max(s.await.expect("subscriber"));
        }
        sampler.abort();
        let secs = (last - started).as_secs_f64();
        let total = delivered.load(Ordering::Relaxed);
        println!(
            "{} events appended in {appended:.2} s ({:.0}/s); {total} deliveries to {} subscribers ({} expected) in {secs:.2} s: {:.0} delivered events/s",
            want,
            want as f64 / appended,
            args.subscribers,
            want * args.subscribers as u64,
            total as f64 / secs
        );
        println!(
            "server resident set peak while delivering: {} KiB ({:.1} KiB per subscriber over the idle server)",
            peak.load(Ordering::Relaxed),
            (peak.load(Ordering::Relaxed).saturating_sub(before)) as f64 / args.subscribers as f64
        );
    });
    drop(server);
}
