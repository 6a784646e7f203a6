//! Rebuild and as-of: fold a demo log into the access projection, and answer "who could
//! enter tenant T at instant t" at random points, from the store.
//!
//! `cargo run --release -p custos-tools --bin bench-projection -- --events 1000000`

/// The `custos` binary's allocator, for every system measured here.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::Instant;

use clap::Parser;
use custos_core::access::Access;
use custos_core::findings::Findings;
use custos_core::{Event, Seq, Timestamp};
use custos_demo::DemoConfig;
use custos_store::{ManualClock, Store, StoreConfig};
use custos_tools::{cpu_secs, peak_rss_kib, proc_status_kib};
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
    /// Keep the log in this directory and reuse it when it already holds one (the fill
    /// is the slow part); a fresh temporary directory otherwise.
    #[arg(long)]
    data: Option<std::path::PathBuf>,
    /// Warm passes of `Store::replay` (the median is reported).
    #[arg(long, default_value_t = 3)]
    warm_passes: usize,
    /// Stop after the replays (cold, then warm): for profiling the rebuild alone.
    #[arg(long)]
    replay_only: bool,
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
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let args = Args::parse();
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = args
        .data
        .clone()
        .unwrap_or_else(|| tmp.path().to_path_buf());
    let clock = std::sync::Arc::new(ManualClock::new(Timestamp(0)));
    let config = StoreConfig {
        clock: clock.clone(),
        ..StoreConfig::default()
    };
    let store = Store::open(&dir, config).expect("open");
    if store.head().seq == Seq::ZERO {
        let t = Instant::now();
        fill(&store, &clock, args.events);
        println!(
            "log: {} events from {} generated, written in {:.1} s",
            store.head().seq,
            args.events,
            t.elapsed().as_secs_f64()
        );
    } else {
        println!(
            "log: {} events reused from {}",
            store.head().seq,
            dir.display()
        );
    }
    let head = store.head();

    // A rebuild straight after the open: sled's cache is cold (its pages are read and
    // deserialised as the scan reaches them), as when a server starts.
    let (t, cpu) = (Instant::now(), cpu_secs());
    let mut cold = Access::default();
    store
        .replay(Seq(1), head.seq, |e| cold.apply(e))
        .expect("replay");
    let (rebuild_cold, cold_cpu) = (t.elapsed().as_secs_f64(), cpu_secs() - cpu);
    // The process with the projection in memory: resident now, and at its peak (the
    // projection's hash tables briefly hold their old and new arrays as they grow).
    let (rss_cold, hwm_cold) = (proc_status_kib("self", "VmRSS"), peak_rss_kib());
    drop(cold);
    // Then with a warm cache, three times (median): what `Store::replay` gives every
    // rebuild (server start, `custos findings`, a fold from a snapshot).
    let (mut warm, mut warm_cpu) = (Vec::new(), Vec::new());
    let mut replayed = Access::default();
    for _ in 0..args.warm_passes.max(1) {
        // The previous pass's projection is freed before the clock starts.
        drop(std::mem::take(&mut replayed));
        let (t, cpu) = (Instant::now(), cpu_secs());
        store
            .replay(Seq(1), head.seq, |e| replayed.apply(e))
            .expect("replay");
        warm.push(t.elapsed().as_secs_f64());
        warm_cpu.push(cpu_secs() - cpu);
    }
    let n = head.seq.0 as f64;
    println!(
        "rebuild through Store::replay, cold cache:  {:.0} events/s ({:.2} s, CPU {cold_cpu:.2} s); then resident {} MiB, peak {} MiB",
        n / rebuild_cold,
        rebuild_cold,
        rss_cold >> 10,
        hwm_cold >> 10
    );
    let passes: Vec<String> = warm.iter().map(|s| format!("{s:.2}")).collect();
    let cpus: Vec<String> = warm_cpu.iter().map(|s| format!("{s:.2}")).collect();
    warm.sort_by(f64::total_cmp);
    let rebuild_replay = warm[warm.len() / 2];
    println!(
        "rebuild through Store::replay, warm cache:  {:.0} events/s (median {:.2} s of {}; CPU {} s)",
        n / rebuild_replay,
        rebuild_replay,
        passes.join(", "),
        cpus.join(", ")
    );
    // All of a server's projections: access and misuse findings (and its token table,
    // a handful of events), through the same replay.
    let (t, cpu) = (Instant::now(), cpu_secs());
    let mut both = (
        Access::default(),
        Findings::new(custos_core::findings::Thresholds::default()),
    );
    store
        .replay(Seq(1), head.seq, |e| {
            both.0.apply(e);
            both.1.apply(e);
        })
        .expect("replay");
    let (rebuild_all, all_cpu) = (t.elapsed().as_secs_f64(), cpu_secs() - cpu);
    drop(both);
    println!(
        "rebuild access + findings through replay:    {:.0} events/s ({:.2} s, CPU {all_cpu:.2} s)",
        n / rebuild_all,
        rebuild_all
    );
    if args.replay_only {
        return;
    }

    // The parts of a rebuild: reading the log, then reading and decoding.
    let t = Instant::now();
    let mut bytes = 0usize;
    for stored in store.range(Seq(1), head.seq) {
        bytes += stored.expect("read").record().len();
    }
    let read = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut decoded = 0usize;
    for stored in store.range(Seq(1), head.seq) {
        decoded += stored.expect("read").event().expect("decode").seq.0 as usize & 1;
    }
    let read_decode = t.elapsed().as_secs_f64();
    std::hint::black_box((bytes, decoded));

    // Rebuild from the store: read, decode, fold.
    let t = Instant::now();
    let mut access = Access::default();
    for stored in store.range(Seq(1), head.seq) {
        access.apply(&stored.expect("read").event().expect("decode"));
    }
    let rebuild = t.elapsed().as_secs_f64();
    assert_eq!(
        replayed.applied(),
        access.applied(),
        "replay and range folded the same events"
    );
    let events: Vec<Event> = store
        .range(Seq(1), head.seq)
        .map(|s| s.expect("read").event().expect("decode"))
        .collect();
    // The fold alone, on events already decoded.
    let t = Instant::now();
    let mut again = Access::default();
    for e in &events {
        again.apply(e);
    }
    let fold = t.elapsed().as_secs_f64();
    println!(
        "rebuild, one thread (range: read + decode + fold): {:.0} events/s ({:.2} s)",
        n / rebuild,
        rebuild
    );
    println!(
        "fold only (decoded events in memory):        {:.0} events/s ({:.3} s)",
        n / fold,
        fold
    );
    println!(
        "read only:                                   {:.0} events/s ({:.3} s)",
        n / read,
        read
    );
    println!(
        "read + decode:                               {:.0} events/s ({:.3} s)",
        n / read_decode,
        read_decode
    );

    // Snapshots every N events, as `custos snapshot` writes them.
    let t = Instant::now();
    let mut state = Access::default();
    let (mut written, mut bytes_total) = (0u64, 0usize);
    for stored in store.range(Seq(1), head.seq) {
        let stored = stored.expect("read");
        state.apply(&stored.event().expect("decode"));
        if stored.seq.0 % args.snapshot_every == 0 {
            let at = custos_core::Head {
                seq: stored.seq,
                hash: stored.hash,
            };
            if store
                .has_snapshot(at, custos_core::codec::SNAPSHOT_FORMAT)
                .expect("read")
            {
                // Kept from an earlier run on this `--data`: sled would keep the
                // replaced value on disk too.
                continue;
            }
            state.compact();
            let bytes = custos_core::codec::encode_snapshot(&state).expect("encode");
            bytes_total += bytes.len();
            store.put_snapshot(at, &bytes).expect("put");
            written += 1;
        }
    }
    println!(
        "snapshots: {written} written (every {} events) in {:.2} s, {:.1} MB each on average",
        args.snapshot_every,
        t.elapsed().as_secs_f64(),
        bytes_total as f64 / written.max(1) as f64 / 1e6
    );

    // As-of at random points, three ways: the whole projection folded from seq 1, the
    // whole projection from the nearest snapshot (`Store::access_at`), and only the
    // tenant's events through the tenant index (`Store::tenant_access_at`, what
    // `custos access --tenant` runs). The three answers must be equal.
    let tenants: Vec<_> = access.tenants().map(|(t, _)| t.clone()).collect();
    let first = events[0].recorded_at.0;
    let last = events[events.len() - 1].recorded_at.0;
    let mut answers: Vec<Vec<_>> = Vec::new();
    for plan in [
        "full fold from seq 1",
        "from the nearest snapshot",
        "tenant index only",
    ] {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        // A full fold costs up to seconds at 1M events: it answers the first 20 only.
        let queries = if plan.starts_with("full") {
            args.queries.min(20)
        } else {
            args.queries
        };
        let mut times = Vec::with_capacity(queries);
        let mut got = Vec::with_capacity(queries);
        for _ in 0..queries {
            let at = Timestamp(rng.gen_range(first..=last));
            let tenant = &tenants[rng.gen_range(0..tenants.len())];
            let t = Instant::now();
            let upto = Seq(store.first_seq_at(at.plus_micros(1)).expect("time").0 - 1);
            let state = match plan {
                "full fold from seq 1" => {
                    let mut state = Access::default();
                    for stored in store.range(Seq(1), upto) {
                        state.apply(&stored.expect("read").event().expect("decode"));
                    }
                    state
                }
                "from the nearest snapshot" => store.access_at(upto).expect("access_at"),
                _ => store
                    .tenant_access_at(tenant, upto)
                    .expect("tenant_access_at"),
            };
            let answer = state.tenant(tenant, at);
            times.push(t.elapsed().as_secs_f64() * 1e3);
            got.push(answer);
        }
        times.sort_by(f64::total_cmp);
        println!(
            "as-of tenant access at {queries} random points, {plan}: p50 {:.1} ms, p99 {:.1} ms",
            percentile(&times, 0.5),
            percentile(&times, 0.99)
        );
        answers.push(got);
    }
    // A principal's access list, two plans at the same random points, interleaved:
    // the whole projection from the nearest snapshot, and only the accounts the
    // principal is a subject of, through the subject and tenant indexes
    // (`Store::principal_access_at`, what `custos access --principal` runs). The
    // answers must agree.
    let principals: Vec<_> = tenants
        .iter()
        .filter_map(|t| access.tenant(t, Timestamp(last)))
        .flat_map(|v| v.rights.into_iter().map(|r| r.principal))
        .collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(2);
    let queries = args.queries.min(50);
    let mut times = [Vec::with_capacity(queries), Vec::with_capacity(queries)];
    let mut rights = 0;
    for _ in 0..queries {
        let at = Timestamp(rng.gen_range(first..=last));
        let principal = &principals[rng.gen_range(0..principals.len())];
        let mut lists = Vec::new();
        for (i, times) in times.iter_mut().enumerate() {
            let t = Instant::now();
            let upto = Seq(store.first_seq_at(at.plus_micros(1)).expect("time").0 - 1);
            let state = if i == 0 {
                store.access_at(upto).expect("access_at")
            } else {
                store
                    .principal_access_at(principal, upto)
                    .expect("principal_access_at")
            };
            lists.push(state.access_list(principal, at));
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
        assert_eq!(lists[0], lists[1], "the access-list plans disagree");
        rights += lists[0].len();
    }
    for (times, plan) in times.iter_mut().zip([
        "from the nearest snapshot",
        "the principal's accounts through the subject index",
    ]) {
        times.sort_by(f64::total_cmp);
        println!(
            "as-of access list at {queries} random points, {plan}: p50 {:.1} ms, p99 {:.1} ms",
            percentile(times, 0.5),
            percentile(times, 0.99)
        );
    }
    println!("the access-list plans gave the same answers ({rights} rights in all)");

    let full = answers[0].len();
    assert!(
        answers[0] == answers[1][..full] && answers[1] == answers[2],
        "the plans disagree"
    );
    println!(
        "the plans gave the same answers ({} of {} name an existing tenant with {} rights in all)",
        answers[2].iter().filter(|a| a.is_some()).count(),
        answers[2].len(),
        answers[2]
            .iter()
            .flatten()
            .map(|a| a.rights.len())
            .sum::<usize>()
    );
}
