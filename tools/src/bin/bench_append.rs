//! Durable append throughput: custos's store with 64 concurrent appenders vs raw sled
//! `apply_batch` + `flush` of the same stored bytes (packed as custos packs them, and with
//! one key per event as before store format 4), and vs raw sled writing each batch's pack
//! with one `insert` + `flush` (as the store does since format 6), in one run on the same
//! events.
//!
//! `cargo run --release -p custos-tools --bin bench-append -- --events 200000`

/// The `custos` binary's allocator, for every system measured here.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::Instant;

use clap::Parser;
use custos_core::chain::chain_hash;
use custos_core::{codec, Digest, Seq, Timestamp};
use custos_demo::{Demo, DemoConfig, DemoEvent};
use custos_store::{Store, StoreConfig};
use custos_tools::{raw_write, RawLayout};

#[derive(Debug, Parser)]
struct Args {
    /// Events to append in each run.
    #[arg(long, default_value_t = 200_000)]
    events: u64,
    /// Concurrent appenders for the store.
    #[arg(long, default_value_t = 64)]
    appenders: usize,
    /// Rounds of the whole comparison (each round runs every system once; the median
    /// of the per-round ratios is reported).
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Events per sealed index chunk (the store's `index_chunk_events`).
    #[arg(long, default_value_t = StoreConfig::default().index_chunk_events)]
    chunk: usize,
    /// Events between two rounds of tenant checkpoints (the store's `checkpoint_events`);
    /// a number past `--events` leaves them out.
    #[arg(long, default_value_t = StoreConfig::default().checkpoint_events)]
    checkpoint_events: u64,
    /// Run only the store (for profiling), without the raw sled baselines.
    #[arg(long)]
    store_only: bool,
    /// An experiment on the layout, not custos: raw sled writing each batch packed as
    /// custos packs a group (store format 4) beside one key per event (format 3), at
    /// `--packed-batch` events per batch, interleaved over the rounds;
    /// prints throughput, the process's resident set after each, and disk bytes.
    #[arg(long)]
    packed_experiment: bool,
    /// Events per batch for `--packed-experiment` (custos's mean group is ~33-40).
    #[arg(long, default_value_t = 36)]
    packed_batch: usize,
    /// While the store appends, a reader thread asks for one tenant's first 50 indexed
    /// events and the head event every millisecond, and the latencies it saw are printed
    /// (p50, p99, max): what a query waits for while the log is written and sealed.
    #[arg(long)]
    reader_probe: bool,
}

fn workload(n: u64) -> Vec<DemoEvent> {
    Demo::new(DemoConfig {
        events: n,
        seed: 42,
        end: Timestamp::from_secs(1_800_000_000),
        days: 90,
    })
    .collect()
}

/// The exact values custos stores for these events (`hash ‖ record`), placed as the
/// writer would place them.
fn stored_values(events: &[DemoEvent]) -> Vec<Vec<u8>> {
    let mut prev = Digest::GENESIS;
    let mut versions = std::collections::HashMap::new();
    events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let v = versions.entry(e.stream.clone()).or_insert(0u64);
            *v += 1;
            let placed = e
                .event
                .clone()
                .place(Seq(i as u64 + 1), e.stream.clone(), *v, e.at);
            let record = codec::encode(&placed).expect("encode");
            prev = chain_hash(&prev, &record);
            let mut value = prev.0.to_vec();
            value.extend_from_slice(&record);
            value
        })
        .collect()
}

/// Raw sled writing `values` in batches of `batch`, each followed by a `flush`, on sled
/// with the store's cache and segment sizes. Returns events/s, the resident set after the
/// run (the tree still open), and disk bytes.
fn raw_sled(values: &[Vec<u8>], batch: usize, layout: RawLayout) -> (f64, u64, u64) {
    let dir = tempfile::tempdir().expect("tmp");
    let db = custos_store::sled_config(dir.path())
        .cache_capacity(custos_store::DEFAULT_CACHE_BYTES)
        .open()
        .expect("sled");
    let tree = db.open_tree("raw").expect("tree");
    let start = Instant::now();
    for (chunk_no, chunk) in values.chunks(batch).enumerate() {
        let first = (chunk_no * batch + 1) as u64;
        let entries: Vec<(Seq, Digest, &[u8])> = chunk
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let (hash, record) = v.split_at(32);
                let hash = Digest(hash.try_into().expect("32 bytes"));
                (Seq(first + i as u64), hash, record)
            })
            .collect();
        raw_write(&db, &tree, &entries, layout).expect("raw write");
    }
    let rate = values.len() as f64 / start.elapsed().as_secs_f64();
    let rss = custos_tools::proc_status_kib("self", "VmRSS");
    drop(tree);
    drop(db);
    (rate, rss, custos_tools::dir_bytes(dir.path()))
}

fn custos(events: &[DemoEvent], appenders: usize, config: StoreConfig, probe: bool) -> (f64, f64) {
    let dir = tempfile::tempdir().expect("tmp");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let store = Store::open(dir.path(), config).expect("open");
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let reader = probe.then(|| {
            let (store, stop) = (store.clone(), stop.clone());
            let tenant = events
                .iter()
                .find_map(|e| e.event.payload.tenant().cloned())
                .expect("a tenant");
            std::thread::spawn(move || reader_probe(&store, &tenant, &stop))
        });
        let (rate, mean_group) = custos_tools::store_appends(&store, events, appenders, None).await;
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(mut ms) = reader.map(|r| r.join().expect("reader")) {
            ms.sort_by(f64::total_cmp);
            println!(
                "  reader during the appends: {} queries, p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms",
                ms.len(),
                custos_tools::percentile(&ms, 0.5),
                custos_tools::percentile(&ms, 0.99),
                ms.last().copied().unwrap_or(0.0)
            );
        }
        store.close().await;
        (rate, mean_group)
    })
}

/// Every millisecond until `stop`: the tenant's first 50 indexed events and the head
/// event; returns each round's latency in ms.
fn reader_probe(
    store: &Store,
    tenant: &custos_core::TenantId,
    stop: &std::sync::atomic::AtomicBool,
) -> Vec<f64> {
    let filter = custos_store::IndexFilter::Tenant(tenant.clone());
    let mut ms = Vec::new();
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let start = Instant::now();
        let head = store.head().seq;
        let seqs = store.index_seqs(&filter, Seq(1), head, 50).expect("index");
        let event = store.get(head).expect("get");
        std::hint::black_box((seqs, event));
        ms.push(start.elapsed().as_secs_f64() * 1e3);
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    ms
}

fn main() {
    let args = Args::parse();
    let events = workload(args.events);
    let values = stored_values(&events);
    let bytes: usize = values.iter().map(Vec::len).sum();
    println!(
        "workload: {} demo events, {:.0} bytes per stored value on average",
        events.len(),
        bytes as f64 / values.len() as f64
    );
    if args.packed_experiment {
        let batch = args.packed_batch.max(1);
        let mut ratios = Vec::new();
        for round in 1..=args.rounds {
            let (per_key, rss_k, disk_k) = raw_sled(&values, batch, RawLayout::PerEvent);
            let (packed, rss_p, disk_p) = raw_sled(&values, batch, RawLayout::Packed);
            ratios.push(packed / per_key);
            println!(
                "round {round}: raw sled, batches of {batch}: one key per event {per_key:.0} ev/s \
                 (resident after {} MiB, disk {:.0} B/event) | one key per batch {packed:.0} ev/s \
                 (resident after {} MiB, disk {:.0} B/event) | ratio {:.2}",
                rss_k >> 10,
                disk_k as f64 / values.len() as f64,
                rss_p >> 10,
                disk_p as f64 / values.len() as f64,
                packed / per_key
            );
        }
        println!(
            "median over {} rounds: one key per batch / one key per event = {:.2}",
            ratios.len(),
            median(&mut ratios)
        );
        return;
    }
    let mut ratios_same = Vec::new();
    let mut ratios_insert = Vec::new();
    let mut ratios_per_key = Vec::new();
    let mut ratios_1000 = Vec::new();
    for round in 1..=args.rounds {
        let config = StoreConfig {
            index_chunk_events: args.chunk,
            checkpoint_events: args.checkpoint_events,
            ..StoreConfig::default()
        };
        let (store, mean_group) = custos(&events, args.appenders, config, args.reader_probe);
        if args.store_only {
            println!(
                "round {round}: custos store {store:.0} events/s (mean group {mean_group:.1})"
            );
            continue;
        }
        let batch = mean_group.round().max(1.0) as usize;
        let (raw_same, _, _) = raw_sled(&values, batch, RawLayout::Packed);
        let (raw_insert, _, _) = raw_sled(&values, batch, RawLayout::PackedInsert);
        let (per_key, _, _) = raw_sled(&values, batch, RawLayout::PerEvent);
        let (raw_1000, _, _) = raw_sled(&values, 1000, RawLayout::PerEvent);
        ratios_same.push(store / raw_same);
        ratios_insert.push(store / raw_insert);
        ratios_per_key.push(store / per_key);
        ratios_1000.push(store / raw_1000);
        println!(
            "round {round}: custos {store:>7.0} ev/s (64 appenders, mean group {mean_group:.1}) | \
             raw sled batch {batch:>4}, packed: {raw_same:>7.0} ev/s, ratio {:.2} | \
             packed, one insert: {raw_insert:>7.0} ev/s, ratio {:.2} | \
             one key per event: {per_key:>7.0} ev/s, ratio {:.2} | \
             one key per event, batch 1000: {raw_1000:>7.0} ev/s, ratio {:.2}",
            store / raw_same,
            store / raw_insert,
            store / per_key,
            store / raw_1000
        );
    }
    if !ratios_same.is_empty() {
        println!(
            "median over {} rounds: custos/raw(same batch, packed) = {:.2}, custos/raw(same batch, packed, one insert) = {:.2}, custos/raw(same batch, one key per event) = {:.2}, custos/raw(batch 1000, one key per event) = {:.2}",
            ratios_same.len(),
            median(&mut ratios_same),
            median(&mut ratios_insert),
            median(&mut ratios_per_key),
            median(&mut ratios_1000)
        );
    }
}

fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}
