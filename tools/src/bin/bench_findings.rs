//! Misuse findings over a large log: the fold, then findings of random 90-day windows
//! (what `GET /v1/findings` computes from the live fold), p50/p99.
//!
//! `cargo run --release -p custos-tools --bin bench-findings -- --data /tmp/bp1m`
//! (a demo log, e.g. the one `bench-projection --data` keeps).

use std::time::Instant;

use clap::Parser;
use custos_core::findings::{Findings, Thresholds};
use custos_core::{Seq, Timestamp};
use custos_store::{Store, StoreConfig};
use rand::{Rng, SeedableRng};

#[derive(Debug, Parser)]
struct Args {
    /// A data directory holding a log.
    #[arg(long)]
    data: std::path::PathBuf,
    /// Window queries.
    #[arg(long, default_value_t = 200)]
    queries: usize,
}

fn main() {
    let args = Args::parse();
    let store = Store::open(&args.data, StoreConfig::default()).expect("open");
    let head = store.head().seq;
    let t = Instant::now();
    let mut findings = Findings::new(Thresholds::default());
    let (mut first, mut last) = (Timestamp(i64::MAX), Timestamp(0));
    for stored in store.range(Seq(1), head) {
        let e = stored.expect("read").event().expect("decode");
        first = first.min(e.recorded_at);
        last = last.max(e.recorded_at);
        findings.apply(&e);
    }
    let fold = t.elapsed().as_secs_f64();
    let total = findings.at(last.plus_secs(30 * 86_400)).len();
    println!(
        "fold of {} events: {fold:.2} s ({:.0} events/s); {total} findings in all",
        head.0,
        head.0 as f64 / fold
    );
    let mut rng = rand::rngs::StdRng::seed_from_u64(4);
    let mut ms = Vec::with_capacity(args.queries);
    let mut returned = 0usize;
    for _ in 0..args.queries {
        let to = Timestamp(rng.gen_range(first.0..=last.0));
        let from = to.plus_secs(-90 * 86_400);
        let t = Instant::now();
        let n = findings.window(from, to).len();
        ms.push(t.elapsed().as_secs_f64() * 1e3);
        returned += n;
    }
    ms.sort_by(f64::total_cmp);
    let pct = |p: f64| ms[((ms.len() - 1) as f64 * p).round() as usize];
    println!(
        "findings of a 90-day window at random points: {} queries, {returned} findings returned, p50 {:.1} ms, p99 {:.1} ms",
        args.queries,
        pct(0.5),
        pct(0.99)
    );
}
