//! Rebuild and as-of: fold a demo log into the access projection, and answer "who could
//! enter tenant T at instant t" at random points, from the store.
//!
//! `cargo run --release -p custos-tools --bin bench-projection -- --events 1000000`

use std::time::Instant;

use clap::Parser;
use custos_core::access::Access;
use custos_core::{Event, Seq, Timestamp};
use custos_demo::DemoConfig;
use custos_store::{ManualClock, Store, StoreConfig};
use rand::{Rng, SeedableRng};

#[derive(Debug, Parser)]
struct Args {
    /// Demo events to generate (the log holds about as many).
    #[arg(long, default_value_t = 200_000)]
    events: u64,
    /// As-of queries at random points.
    #[arg(long, default_value_t = 50)]
    queries: usize,
    /// Events between snapshots for the second as-of run.
    #[arg(long, default_value_t = 10_000)]
    snapshot_every: u64,
}

/// The demo through the policy, as `custos demo` writes it.
fn fill(store: &Store, clock: &ManualClock, events: u64) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let config = DemoConfig {
        events,
        seed: 7,
        end: Timestamp::from_secs(1_800_000_000),
        days: 90,
    };
    rt.block_on(custos_cli::demo::fill(store, clock, config, false))
        .expect("fill");
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let args = Args::parse();
    let dir = tempfile::tempdir().expect("tmp");
    let clock = std::sync::Arc::new(ManualClock::new(Timestamp(0)));
    let config = StoreConfig {
        clock: clock.clone(),
        ..StoreConfig::default()
    };
    let store = Store::open(dir.path(), config).expect("open");
    let t = Instant::now();
    fill(&store, &clock, args.events);
    let head = store.head();
    println!(
        "log: {} events from {} generated, written in {:.1} s",
        head.seq,
        args.events,
        t.elapsed().as_secs_f64()
    );

    // Rebuild from the store: read, decode, fold.
    let t = Instant::now();
    let mut access = Access::default();
    let mut events: Vec<Event> = Vec::with_capacity(head.seq.0 as usize);
    for stored in store.range(Seq(1), head.seq) {
        let e = stored.expect("read").event().expect("decode");
        access.apply(&e);
        events.push(e);
    }
    let rebuild = t.elapsed().as_secs_f64();
    // The fold alone, on events already decoded.
    let t = Instant::now();
    let mut again = Access::default();
    for e in &events {
        again.apply(e);
    }
    let fold = t.elapsed().as_secs_f64();
    let n = head.seq.0 as f64;
    println!(
        "rebuild from the store (read + decode + fold): {:.0} events/s ({:.2} s)",
        n / rebuild,
        rebuild
    );
    println!(
        "fold only (decoded events in memory):        {:.0} events/s ({:.3} s)",
        n / fold,
        fold
    );

    // Snapshots every N events, as `custos snapshot` writes them.
    let t = Instant::now();
    let mut state = Access::default();
    let (mut written, mut bytes_total) = (0u64, 0usize);
    for stored in store.range(Seq(1), head.seq) {
        let stored = stored.expect("read");
        state.apply(&stored.event().expect("decode"));
        if stored.seq.0 % args.snapshot_every == 0 {
            let bytes = custos_core::codec::encode_snapshot(&state).expect("encode");
            bytes_total += bytes.len();
            store
                .put_snapshot(
                    custos_core::Head {
                        seq: stored.seq,
                        hash: stored.hash,
                    },
                    &bytes,
                )
                .expect("put");
            written += 1;
        }
    }
    println!(
        "snapshots: {written} written (every {} events) in {:.2} s, {:.1} MB each on average",
        args.snapshot_every,
        t.elapsed().as_secs_f64(),
        bytes_total as f64 / written.max(1) as f64 / 1e6
    );

    // As-of at random points: fold up to the point (from seq 1, or from the nearest
    // snapshot), then ask about a tenant.
    let tenants: Vec<_> = access.tenants().map(|(t, _)| t.clone()).collect();
    let first = events[0].recorded_at.0;
    let last = events[events.len() - 1].recorded_at.0;
    for use_snapshots in [false, true] {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let mut times = Vec::with_capacity(args.queries);
        for _ in 0..args.queries {
            let at = Timestamp(rng.gen_range(first..=last));
            let tenant = &tenants[rng.gen_range(0..tenants.len())];
            let t = Instant::now();
            let upto = Seq(store.first_seq_at(at.plus_micros(1)).expect("time").0 - 1);
            let snapshot = if use_snapshots {
                store.snapshot_at_or_before(upto).expect("snapshot")
            } else {
                None
            };
            let (mut state, from) = match snapshot {
                Some((h, bytes)) => (
                    custos_core::codec::decode_snapshot::<Access>(&bytes).expect("decode"),
                    h.seq.next(),
                ),
                None => (Access::default(), Seq(1)),
            };
            for stored in store.range(from, upto) {
                state.apply(&stored.expect("read").event().expect("decode"));
            }
            let _ = state.tenant(tenant, at);
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
        times.sort_by(f64::total_cmp);
        println!(
            "as-of tenant access at {} random points, {}: p50 {:.1} ms, p99 {:.1} ms",
            args.queries,
            if use_snapshots {
                "from the nearest snapshot"
            } else {
                "full fold from seq 1"
            },
            percentile(&times, 0.5),
            percentile(&times, 0.99)
        );
    }
}
