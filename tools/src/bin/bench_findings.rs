//! Misuse findings over a large log: the fold, then findings of random 90-day windows
//! (what `GET /v1/findings` computes from the live fold) — whole, as a first page, and a
//! first page for one staff member — p50/p99.
//!
//! `cargo run --release -p custos-tools --bin bench-findings -- --data /tmp/bp1m`
//! (a demo log, e.g. the one `bench-projection --data` keeps).

/// The `custos` binary's allocator, for every system measured here.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::Instant;

use clap::Parser;
use custos_core::findings::{Findings, Query, Thresholds};
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
    // Three plans over the same random windows, interleaved query by query: the whole
    // window at once; the first page of 500 (what `GET /v1/findings` answers by default);
    // the first page of 500 for one staff member.
    let mut rng = rand::rngs::StdRng::seed_from_u64(4);
    let staff: Vec<_> = findings
        .at(last)
        .iter()
        .filter_map(|f| f.staff.clone())
        .take(1000)
        .collect();
    let mut ms: [Vec<f64>; 3] = Default::default();
    let mut returned = [0usize; 3];
    for _ in 0..args.queries {
        let to = Timestamp(rng.gen_range(first.0..=last.0));
        let from = to.plus_secs(-90 * 86_400);
        let who = staff[rng.gen_range(0..staff.len())].clone();
        let queries = [
            Query::window(from, to),
            Query {
                limit: 500,
                ..Query::window(from, to)
            },
            Query {
                limit: 500,
                staff: Some(who),
                ..Query::window(from, to)
            },
        ];
        for (i, q) in queries.iter().enumerate() {
            let t = Instant::now();
            let n = findings.page(q).0.len();
            ms[i].push(t.elapsed().as_secs_f64() * 1e3);
            returned[i] += n;
        }
    }
    for (i, what) in [
        "the whole 90-day window",
        "first page of 500 of a 90-day window",
        "first page of 500 of a 90-day window, one staff member",
    ]
    .iter()
    .enumerate()
    {
        let v = &mut ms[i];
        v.sort_by(f64::total_cmp);
        let pct = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
        println!(
            "{what}: {} queries at random points, {} findings returned, p50 {:.1} ms, p99 {:.1} ms",
            args.queries,
            returned[i],
            pct(0.5),
            pct(0.99)
        );
    }
}
