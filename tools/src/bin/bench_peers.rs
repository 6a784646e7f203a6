//! custos against its peers, side by side in one run on the same events (issue 7): the
//! store through its API, raw sled (the limit of our stack) and an append-only
//! PostgreSQL 15 table with a hash column computed by the client.
//!
//! `cargo run --release -p custos-tools --bin bench-peers -- --events 1000000`
//!
//! It generates the workload once from the demo generator and measures, in this order
//! (the append comparison in `--rounds` rounds, each running the three systems on fresh
//! stores, medians reported):
//! durable append (custos with 64 concurrent appenders; raw sled `apply_batch` + `flush`
//! of custos's stored bytes in batches of custos's mean group, packed as custos packs
//! them, also with one `insert` per pack as custos writes a group since store format 6,
//! and with one key per event as before store format 4; PostgreSQL, one client
//! computing the chain, batched inserts of the same size, `synchronous_commit=on`); HTTP
//! append (custos's API, single-event commands over 64 connections from this process);
//! replay and verify (custos's projection rebuild and chain verification vs a raw sled
//! scan + BLAKE3 of the same bytes); queries (as-of tenant access at random points and
//! the first page of a 90-day audit window for one tenant, custos's index plans vs
//! PostgreSQL with the natural indexes, analysed — the answers are checked equal); footprint
//! (disk bytes per event). PostgreSQL comes from Debian's packages
//! (`tools/install-postgres` installs it if absent) and runs as its own server on
//! 127.0.0.1 in a temporary directory. Prints one markdown table and writes it to `--out`.

/// The `custos` binary's allocator, for every system measured here.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::Parser;
use custos_core::access::Access;
use custos_core::chain::chain_hash;
use custos_core::{Digest, Seq, TenantId, Timestamp};
use custos_demo::{Demo, DemoConfig, DemoEvent};
use custos_store::{raw, ManualClock, Store, StoreConfig};
use custos_tools::{audit_first_page, dir_bytes, percentile, raw_write, tenant_as_of, RawLayout};
use rand::{Rng, SeedableRng};

#[derive(Debug, Parser)]
struct Args {
    /// Events in the workload.
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// Concurrent appenders for custos.
    #[arg(long, default_value_t = 64)]
    appenders: usize,
    /// Rounds of the durable-append comparison (medians reported).
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// Random points for each query plan.
    #[arg(long, default_value_t = 200)]
    queries: usize,
    /// Single-event commands for the HTTP append run (0: skip).
    #[arg(long, default_value_t = 50_000)]
    http_appends: usize,
    /// Where to write the markdown table.
    #[arg(long, default_value = "target/bench-peers.md")]
    out: PathBuf,
}

/// One row of the result table.
struct Line {
    what: String,
    custos: String,
    raw: String,
    postgres: String,
    ratios: String,
}

fn main() -> anyhow::Result<()> {
    custos_tools::http_load::run_as_custos_if_asked();
    let args = Args::parse();
    let started = Instant::now();
    let events: Vec<DemoEvent> = Demo::new(DemoConfig {
        events: args.events,
        seed: 42,
        end: Timestamp::from_secs(1_800_000_000),
        days: 90,
    })
    .collect();
    println!("workload: {} demo events (seed 42)", events.len());
    let mut lines = Vec::new();

    // ----- durable append: `--rounds` rounds, the three systems one after the other in
    // each, on fresh stores; the last round's stores serve the rest of the run -----
    let pg = Postgres::start()?;
    let mut client = pg.connect()?;
    let mut per_round: Vec<[f64; 6]> = Vec::new();
    let mut kept = None;
    for round in 1..=args.rounds.max(1) {
        let custos_dir = tempfile::tempdir()?;
        let clock = Arc::new(ManualClock::new(Timestamp(0)));
        let (store, custos_rate, mean_group) =
            custos_append(custos_dir.path(), &clock, &events, args.appenders)?;
        let batch = mean_group.round().max(1.0) as usize;
        let rows = stored_rows(&store)?;
        let per_key_dir = tempfile::tempdir()?;
        let per_key_rate = raw_append(per_key_dir.path(), &rows, batch, RawLayout::PerEvent)?;
        drop(per_key_dir);
        let insert_dir = tempfile::tempdir()?;
        let insert_rate = raw_append(insert_dir.path(), &rows, batch, RawLayout::PackedInsert)?;
        drop(insert_dir);
        let raw_dir = tempfile::tempdir()?;
        let raw_rate = raw_append(raw_dir.path(), &rows, batch, RawLayout::Packed)?;
        client.batch_execute("TRUNCATE events")?;
        let pg_rate = pg_append(&mut client, &rows, batch)?;
        println!("append, round {round}: custos {custos_rate:.0} ev/s (mean group {mean_group:.1}), raw sled {raw_rate:.0} (one insert per pack: {insert_rate:.0}; one key per event: {per_key_rate:.0}), PostgreSQL {pg_rate:.0}: {:.2}× raw ({:.2}× one insert per pack, {:.2}× one key per event), {:.2}× PostgreSQL", custos_rate / raw_rate, custos_rate / insert_rate, custos_rate / per_key_rate, custos_rate / pg_rate);
        per_round.push([
            custos_rate,
            raw_rate,
            pg_rate,
            mean_group,
            per_key_rate,
            insert_rate,
        ]);
        kept = Some((custos_dir, store, raw_dir, rows));
    }
    let Some((custos_dir, store, raw_dir, rows)) = kept else {
        bail!("no round ran");
    };
    // Statistics for the planner, as a DBA would have after a load (without them a
    // fresh table's queries may take a plan ~40× slower).
    client.batch_execute("ANALYZE events")?;
    let median = |f: &dyn Fn(&[f64; 6]) -> f64| {
        let mut v: Vec<f64> = per_round.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let rounds = per_round.len();
    let (custos_rate, raw_rate, pg_rate, mean_group) = (
        median(&|r| r[0]),
        median(&|r| r[1]),
        median(&|r| r[2]),
        median(&|r| r[3]),
    );
    lines.push(Line {
        what: format!(
            "durable append, events/s, median of {rounds} round(s) (custos: {} appenders, mean group {mean_group:.1}; peers: batches of custos's mean group; raw sled: custos's packs, one key per batch)",
            args.appenders
        ),
        custos: format!("{custos_rate:.0}"),
        raw: format!("{raw_rate:.0}"),
        postgres: format!("{pg_rate:.0}"),
        ratios: format!(
            "{:.2}× raw sled (target ≥ 0.7), {:.2}× PostgreSQL (target ≥ 3); medians of the per-round ratios; raw sled writing each pack with one `insert` (as custos since format 6) {:.0} events/s, custos {:.2}× that; raw sled with one key per event (format 3's layout) {:.0} events/s, custos {:.2}× that",
            median(&|r| r[0] / r[1]),
            median(&|r| r[0] / r[2]),
            median(&|r| r[5]),
            median(&|r| r[0] / r[5]),
            median(&|r| r[4]),
            median(&|r| r[0] / r[4])
        ),
    });
    let head = store.head().seq;

    // ----- HTTP append (custos only: the peers have no HTTP API of their own) -----
    if args.http_appends > 0 {
        let http_dir = tempfile::tempdir()?;
        let run = tokio::runtime::Runtime::new()?.block_on(custos_tools::http_appends(
            http_dir.path(),
            args.appenders,
            args.http_appends,
        ));
        println!(
            "http: {:.0} events/s, p50 {:.1} ms, p99 {:.1} ms (floor {:.0} requests/s)",
            run.rate,
            percentile(&run.ms, 0.5),
            percentile(&run.ms, 0.99),
            run.floor
        );
        lines.push(Line {
            what: format!(
                "HTTP append: {} single-event commands, {} connections, `custos serve` in its own process, client (hyper) on the same machine; events/s (ms p50 / p99)",
                run.ms.len(),
                args.appenders
            ),
            custos: format!(
                "{:.0} ({:.1} / {:.1})",
                run.rate,
                percentile(&run.ms, 0.5),
                percentile(&run.ms, 0.99)
            ),
            raw: "—".into(),
            postgres: "—".into(),
            ratios: format!(
                "target ≥ 20,000 events/s, p99 < 20 ms; floor (`GET /healthz`, same client) {:.0} requests/s",
                run.floor
            ),
        });
    }

    // ----- replay and verify -----
    let t = Instant::now();
    let mut access = Access::default();
    store.replay(Seq(1), head, |event| access.apply(event))?;
    let rebuild = head.0 as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    let verified = store.verify(None).context("verify")?;
    let verify = head.0 as f64 / t.elapsed().as_secs_f64();
    assert_eq!(verified, store.head());
    let (raw_scan, raw_head) = raw_scan_and_hash(raw_dir.path())?;
    assert_eq!(
        raw_head,
        store.head().hash,
        "the raw chain is custos's chain"
    );
    println!("replay: rebuild {rebuild:.0} ev/s, verify {verify:.0} ev/s, raw scan + BLAKE3 {raw_scan:.0} ev/s");
    lines.push(Line {
        what: "rebuild the access projection from the log, events/s".into(),
        custos: format!("{rebuild:.0}"),
        raw: "—".into(),
        postgres: "—".into(),
        ratios: "target ≥ 1,000,000".into(),
    });
    lines.push(Line {
        what: "verify the whole chain, events/s (raw: sled scan + BLAKE3 of the same bytes)".into(),
        custos: format!("{verify:.0}"),
        raw: format!("{raw_scan:.0}"),
        postgres: "—".into(),
        ratios: format!("{:.2}× raw (target ≥ 0.7)", verify / raw_scan),
    });

    // ----- queries -----
    let tenants: Vec<TenantId> = access.tenants().map(|(t, _)| t.clone()).collect();
    let (first, last) = (rows[0].at, rows[rows.len() - 1].at);
    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    let mut asof = [Vec::new(), Vec::new()];
    let mut audit = [Vec::new(), Vec::new()];
    let mut compared = (0usize, 0usize);
    for _ in 0..args.queries {
        let at = Timestamp(rng.gen_range(first..=last));
        let tenant = &tenants[rng.gen_range(0..tenants.len())];
        // As-of tenant access: the tenant's events up to `at`, folded.
        let t = Instant::now();
        let ours = tenant_as_of(&store, tenant, at)?;
        asof[0].push(ms(t));
        let t = Instant::now();
        let theirs = pg_tenant_at(&mut client, tenant, at)?.tenant(tenant, at);
        asof[1].push(ms(t));
        assert_eq!(ours, theirs, "as-of answers differ for {tenant} at {at}");
        compared.0 += ours.map_or(0, |a| a.rights.len());
        // First page (100) of the 90-day window ending at `at`, for one tenant.
        let from = at.plus_secs(-90 * 86_400);
        let t = Instant::now();
        let page = audit_first_page(&store, tenant, at)?;
        audit[0].push(ms(t));
        let t = Instant::now();
        let theirs = pg_audit_page(&mut client, tenant, from, at)?;
        audit[1].push(ms(t));
        let ours: Vec<i64> = page.iter().map(|e| e.seq.0 as i64).collect();
        assert_eq!(ours, theirs, "audit pages differ for {tenant} at {at}");
        compared.1 += ours.len();
    }
    println!(
        "queries: the answers agreed ({} rights, {} audit events)",
        compared.0, compared.1
    );
    for (what, times) in [
        (
            "as-of tenant access at random points, ms p50 / p99",
            &mut asof,
        ),
        (
            "first page (100) of a 90-day audit window for one tenant, ms p50 / p99",
            &mut audit,
        ),
    ] {
        let [ours, theirs] = times;
        lines.push(Line {
            what: format!("{what} ({} points)", args.queries),
            custos: p50_p99(ours),
            raw: "—".into(),
            postgres: p50_p99(theirs),
            ratios: format!(
                "p99 {:.2}× PostgreSQL's",
                pct(ours, 0.99) / pct(theirs, 0.99)
            ),
        });
    }

    // ----- footprint -----
    store.flush()?;
    let n = head.0 as f64;
    let custos_bytes = dir_bytes(custos_dir.path());
    let raw_bytes = dir_bytes(raw_dir.path());
    let pg_table: i64 = client
        .query_one("SELECT pg_total_relation_size('events')", &[])?
        .get(0);
    let pg_dir = dir_bytes(&pg.data);
    lines.push(Line {
        what:
            "disk bytes per event (PostgreSQL: table and indexes / whole data directory with WAL)"
                .into(),
        custos: format!("{:.0}", custos_bytes as f64 / n),
        raw: format!("{:.0}", raw_bytes as f64 / n),
        postgres: format!("{:.0} / {:.0}", pg_table as f64 / n, pg_dir as f64 / n),
        ratios: String::new(),
    });

    let mut table = String::from(
        "| what | custos | raw sled | PostgreSQL 15 | ratio |\n|---|---|---|---|---|\n",
    );
    for l in &lines {
        table.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            l.what, l.custos, l.raw, l.postgres, l.ratios
        ));
    }
    let doc = format!(
        "`bench-peers --events {}` — {} events appended, {} s in all\n\n{table}",
        args.events,
        head.0,
        started.elapsed().as_secs()
    );
    println!("\n{doc}");
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.out, doc)?;
    println!("written to {}", args.out.display());
    drop(client);
    drop(pg);
    Ok(())
}

/// The exact records custos stored, with their columns: what the peers receive.
fn stored_rows(store: &Store) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    for stored in store.range(Seq(1), store.head().seq) {
        let stored = stored?;
        let e = stored.event()?;
        rows.push(Row {
            seq: e.seq.0 as i64,
            record: stored.record().to_vec(),
            tenant: e.payload.tenant().map(|t| t.as_str().to_owned()),
            actor: e.actor.as_str().to_owned(),
            kind: e.kind().code() as i16,
            at: e.recorded_at.0,
        });
    }
    Ok(rows)
}

/// What a peer receives for each event: custos's stored record and the columns a
/// natural audit table indexes.
struct Row {
    seq: i64,
    record: Vec<u8>,
    tenant: Option<String>,
    actor: String,
    kind: i16,
    at: i64,
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn p50_p99(v: &mut [f64]) -> String {
    format!("{:.1} / {:.1}", pct(v, 0.5), pct(v, 0.99))
}

/// custos through its store API: `appenders` tasks, one event per append, each awaited
/// until durable. The clock follows the demo's timeline (the writer keeps it monotonic),
/// so the log's times span the demo's 90 days.
fn custos_append(
    dir: &Path,
    clock: &Arc<ManualClock>,
    events: &[DemoEvent],
    appenders: usize,
) -> anyhow::Result<(Store, f64, f64)> {
    let store = Store::open(
        dir,
        StoreConfig {
            clock: clock.clone(),
            ..StoreConfig::default()
        },
    )?;
    let (rate, mean_group) = tokio::runtime::Runtime::new()?.block_on(custos_tools::store_appends(
        &store,
        events,
        appenders,
        Some(clock.clone()),
    ));
    Ok((store, rate, mean_group))
}

/// Raw sled, one durable write (`custos_tools::raw_write`) per batch of the same records
/// and hashes: custos's packs in an `apply_batch` — the limit of our stack as issue 7
/// states it —, or with one `insert` for a batch of one pack (as the store writes a group
/// since format 6), or one key per event (`L ‖ seq`, format 3's layout).
fn raw_append(dir: &Path, rows: &[Row], batch: usize, layout: RawLayout) -> anyhow::Result<f64> {
    let db = custos_store::sled_config(dir).open()?;
    let tree = db.open_tree("raw")?;
    let start = Instant::now();
    let mut prev = Digest::GENESIS;
    for chunk in rows.chunks(batch) {
        let entries: Vec<(Seq, Digest, &[u8])> = chunk
            .iter()
            .map(|r| {
                prev = chain_hash(&prev, &r.record);
                (Seq(r.seq as u64), prev, r.record.as_slice())
            })
            .collect();
        raw_write(&db, &tree, &entries, layout)?;
    }
    Ok(rows.len() as f64 / start.elapsed().as_secs_f64())
}

/// The limit of replay and verification on our stack: a sled scan of the raw packs and the
/// chain recomputed with BLAKE3 over the same bytes (and checked against the stored hash).
fn raw_scan_and_hash(dir: &Path) -> anyhow::Result<(f64, Digest)> {
    let db = custos_store::sled_config(dir).open()?;
    let tree = db.open_tree("raw")?;
    let start = Instant::now();
    let mut prev = Digest::GENESIS;
    let mut n = 0u64;
    for kv in tree.iter() {
        let (_, v) = kv?;
        let mut rest = &v[..];
        while !rest.is_empty() {
            let len = raw::get_varint(&mut rest).context("raw pack")? as usize;
            let (stored, after) = rest.split_at(32);
            let (record, after) = after.split_at(len);
            prev = chain_hash(&prev, record);
            if prev.0 != stored {
                bail!("raw chain broken at {}", n + 1);
            }
            rest = after;
            n += 1;
        }
    }
    Ok((n as f64 / start.elapsed().as_secs_f64(), prev))
}

/// A PostgreSQL 15 server of our own on 127.0.0.1, in a temporary directory.
struct Postgres {
    _dir: tempfile::TempDir,
    data: PathBuf,
    bin: PathBuf,
    port: u16,
}

impl Postgres {
    fn start() -> anyhow::Result<Postgres> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("install-postgres");
        let out = Command::new(&script)
            .output()
            .with_context(|| format!("running {}", script.display()))?;
        if !out.status.success() {
            bail!(
                "PostgreSQL 15 is not available and could not be installed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let bin = PathBuf::from(String::from_utf8(out.stdout)?.trim());
        let dir = tempfile::tempdir()?;
        let data = dir.path().join("data");
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        if is_root() {
            // initdb and postgres refuse to run as root: the package's user runs them.
            run(Command::new("chown")
                .arg("-R")
                .arg("postgres")
                .arg(dir.path()))?;
        }
        run(as_postgres(&bin.join("initdb"))
            .args([
                "-U",
                "custos",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
                "-D",
            ])
            .arg(&data))?;
        let options = format!(
            "-p {port} -c listen_addresses=127.0.0.1 -k {} -c synchronous_commit=on -c fsync=on -c shared_buffers=256MB",
            dir.path().display()
        );
        run(as_postgres(&bin.join("pg_ctl"))
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(dir.path().join("log"))
            .args(["-o", &options, "-w", "start"]))?;
        let pg = Postgres {
            _dir: dir,
            data,
            bin,
            port,
        };
        let mut c = pg.connect()?;
        c.batch_execute(
            "CREATE TABLE events (
                 seq bigint PRIMARY KEY,
                 hash bytea NOT NULL,
                 record bytea NOT NULL,
                 tenant text,
                 actor text NOT NULL,
                 kind smallint NOT NULL,
                 recorded_at bigint NOT NULL);
             CREATE INDEX events_tenant ON events (tenant, seq);
             CREATE INDEX events_actor ON events (actor, seq);
             CREATE INDEX events_kind ON events (kind, seq);
             CREATE INDEX events_time ON events (recorded_at);",
        )?;
        Ok(pg)
    }

    fn connect(&self) -> anyhow::Result<postgres::Client> {
        Ok(postgres::Client::connect(
            &format!(
                "host=127.0.0.1 port={} user=custos dbname=postgres",
                self.port
            ),
            postgres::NoTls,
        )?)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = as_postgres(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "fast", "-w", "stop"])
            .output();
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn as_postgres(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn run(c: &mut Command) -> anyhow::Result<()> {
    let out = c.output().with_context(|| format!("running {c:?}"))?;
    if !out.status.success() {
        bail!(
            "{c:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// PostgreSQL: one client computes the chain (it is sequential) and inserts each batch
/// in one statement, committed durably (`synchronous_commit=on`).
fn pg_append(client: &mut postgres::Client, rows: &[Row], batch: usize) -> anyhow::Result<f64> {
    let insert = client.prepare(
        "INSERT INTO events (seq, hash, record, tenant, actor, kind, recorded_at)
         SELECT * FROM unnest($1::bigint[], $2::bytea[], $3::bytea[], $4::text[], $5::text[], $6::int2[], $7::bigint[])",
    )?;
    let start = Instant::now();
    let mut prev = Digest::GENESIS;
    for chunk in rows.chunks(batch) {
        let mut hashes = Vec::with_capacity(chunk.len());
        for r in chunk {
            prev = chain_hash(&prev, &r.record);
            hashes.push(prev.0.to_vec());
        }
        let seqs: Vec<i64> = chunk.iter().map(|r| r.seq).collect();
        let records: Vec<&[u8]> = chunk.iter().map(|r| r.record.as_slice()).collect();
        let tenants: Vec<Option<&str>> = chunk.iter().map(|r| r.tenant.as_deref()).collect();
        let actors: Vec<&str> = chunk.iter().map(|r| r.actor.as_str()).collect();
        let kinds: Vec<i16> = chunk.iter().map(|r| r.kind).collect();
        let times: Vec<i64> = chunk.iter().map(|r| r.at).collect();
        client.execute(
            &insert,
            &[&seqs, &hashes, &records, &tenants, &actors, &kinds, &times],
        )?;
    }
    Ok(rows.len() as f64 / start.elapsed().as_secs_f64())
}

/// PostgreSQL's as-of tenant access: the tenant's records up to `at` through its index,
/// decoded and folded by the client (the same fold custos runs).
fn pg_tenant_at(
    client: &mut postgres::Client,
    tenant: &TenantId,
    at: Timestamp,
) -> anyhow::Result<Access> {
    let mut access = Access::default();
    for row in client.query(
        "SELECT record FROM events WHERE tenant = $1 AND recorded_at <= $2 ORDER BY seq",
        &[&tenant.as_str(), &at.0],
    )? {
        let record: &[u8] = row.get(0);
        access.apply(&custos_core::codec::decode(record)?);
    }
    Ok(access)
}

/// PostgreSQL's first audit page: the tenant's first 100 events of the window, by seq.
fn pg_audit_page(
    client: &mut postgres::Client,
    tenant: &TenantId,
    from: Timestamp,
    to: Timestamp,
) -> anyhow::Result<Vec<i64>> {
    let mut seqs = Vec::new();
    for row in client.query(
        "SELECT seq, record FROM events WHERE tenant = $1 AND recorded_at >= $2 AND recorded_at <= $3 ORDER BY seq LIMIT 100",
        &[&tenant.as_str(), &from.0, &to.0],
    )? {
        let record: &[u8] = row.get(1);
        custos_core::codec::decode(record)?;
        seqs.push(row.get(0));
    }
    Ok(seqs)
}
