//! What the benchmarks share: the in-process server, the HTTP append load generator, the
//! store appender loop, custos's query plans, and /proc readings.

use std::sync::Arc;
use std::time::Instant;

use custos_server::AppState;
use custos_store::Store;

pub mod http_load;

/// Starts a server on `store` on 127.0.0.1:0 in this process; its URL and admin token.
pub async fn start_server(store: Store) -> (String, String) {
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

/// Appends `events` through the store's API from `appenders` concurrent tasks, one event
/// per append, each awaited until durable; with `clock`, the store's clock follows each
/// event's demo time (the writer keeps it monotonic). Returns events/s and the mean
/// group size of the run.
pub async fn store_appends(
    store: &Store,
    events: &[custos_demo::DemoEvent],
    appenders: usize,
    clock: Option<Arc<custos_store::ManualClock>>,
) -> (f64, f64) {
    // Cloned before the clock starts, and owned: the tasks outlive this borrow.
    let owned: Vec<custos_demo::DemoEvent> = events.to_vec();
    store_appends_from(store, owned.into_iter(), appenders, clock).await
}

/// [`store_appends`] from any source of demo events (taken one at a time under a lock,
/// so that a lazy generator never holds the whole workload).
pub async fn store_appends_from(
    store: &Store,
    events: impl Iterator<Item = custos_demo::DemoEvent> + Send + 'static,
    appenders: usize,
    clock: Option<Arc<custos_store::ManualClock>>,
) -> (f64, f64) {
    let (groups0, events0) = store.stats();
    let queue = Arc::new(std::sync::Mutex::new(events));
    let start = Instant::now();
    let tasks: Vec<_> = (0..appenders)
        .map(|_| {
            let (store, queue, clock) = (store.clone(), queue.clone(), clock.clone());
            tokio::spawn(async move {
                loop {
                    let next = queue.lock().expect("queue").next();
                    let Some(e) = next else { break };
                    if let Some(c) = &clock {
                        c.set(e.at);
                    }
                    store
                        .append(custos_store::AppendRequest {
                            stream: e.stream,
                            expected: None,
                            events: vec![e.event],
                        })
                        .await
                        .expect("append");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("join");
    }
    let elapsed = start.elapsed().as_secs_f64();
    let (groups, n) = store.stats();
    (
        (n - events0) as f64 / elapsed,
        (n - events0) as f64 / (groups - groups0).max(1) as f64,
    )
}

/// What one HTTP append run measured.
#[derive(Debug)]
pub struct HttpAppends {
    /// The floor: `GET /healthz` requests per second with the same client and connections.
    pub floor: f64,
    /// Single-event commands appended per second.
    pub rate: f64,
    /// Each command's latency (sent → answer read), in ms, sorted.
    pub ms: Vec<f64>,
    /// Events per group commit during the run.
    pub mean_group: f64,
    /// The server process's peak resident memory (VmHWM), KiB.
    pub server_peak_kib: u64,
}

/// `appends` single-event commands (`POST /v1/staff`, one event each) over `connections`
/// concurrent connections to `custos serve` on a fresh store in `dir`, run in a process of
/// its own ([`http_load::ServerProcess`]), after the floor of the same number of
/// `GET /healthz`. Client and server share this machine's cores.
pub async fn http_appends(
    dir: &std::path::Path,
    connections: usize,
    appends: usize,
) -> HttpAppends {
    use http_load::{histogram_sum_count, load, staff_command, ServerProcess};
    let server = ServerProcess::start(dir, &[]).expect("start custos serve");
    let writer = http_load::writer_token(&server.addr, &server.admin).await;
    let per = appends / connections;
    let floor = load(
        &server.addr,
        &writer,
        connections,
        per,
        hyper::StatusCode::OK,
        |_, _| (hyper::Method::GET, "/healthz", None),
    )
    .await
    .rate;
    let groups = "custos_store_group_events";
    let (events0, groups0) = histogram_sum_count(&server.addr, &server.admin, groups).await;
    let run = load(
        &server.addr,
        &writer,
        connections,
        per,
        hyper::StatusCode::CREATED,
        staff_command,
    )
    .await;
    let (events, groups) = histogram_sum_count(&server.addr, &server.admin, groups).await;
    HttpAppends {
        floor,
        rate: run.rate,
        ms: run.ms,
        mean_group: (events - events0) / (groups - groups0).max(1.0),
        server_peak_kib: proc_status_kib(&server.pid().to_string(), "VmHWM"),
    }
}

/// The last seq recorded at or before `at`.
fn last_seq_at(
    store: &Store,
    at: custos_core::Timestamp,
) -> Result<custos_core::Seq, custos_store::ReadError> {
    Ok(custos_core::Seq(
        store.first_seq_at(at.plus_micros(1))?.0 - 1,
    ))
}

/// custos's as-of plan, as `bench-peers` and `bench-footprint` time it: the tenant's
/// events up to `at`, through the tenant index, folded; the tenant's access at `at`.
pub fn tenant_as_of(
    store: &Store,
    tenant: &custos_core::TenantId,
    at: custos_core::Timestamp,
) -> Result<Option<custos_core::access::TenantAccess>, custos_store::ReadError> {
    let upto = last_seq_at(store, at)?;
    Ok(store.tenant_access_at(tenant, upto)?.tenant(tenant, at))
}

/// custos's audit plan: the first page (100 events) of the tenant's 90-day window ending
/// at `at`, through the tenant index, each event read and decoded.
pub fn audit_first_page(
    store: &Store,
    tenant: &custos_core::TenantId,
    at: custos_core::Timestamp,
) -> Result<Vec<custos_core::Event>, custos_store::ReadError> {
    let lo = store.first_seq_at(at.plus_secs(-90 * 86_400))?;
    let hi = last_seq_at(store, at)?;
    let filter = custos_store::IndexFilter::Tenant(tenant.clone());
    let seqs = store.index_seqs(&filter, lo, hi, 100)?;
    seqs.into_iter()
        .map(|seq| match store.get(seq)? {
            Some(stored) => stored.event(),
            None => Err(custos_store::ReadError::Corrupt {
                seq,
                reason: "indexed but missing from the log".into(),
            }),
        })
        .collect()
}

/// The `p` quantile (0..=1) of sorted values.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Bytes in the files under `dir`, recursively.
pub fn dir_bytes(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            match entry.metadata() {
                Ok(m) if m.is_dir() => stack.push(entry.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}

/// This process's peak resident set so far, in KiB.
pub fn peak_rss_kib() -> u64 {
    proc_status_kib("self", "VmHWM")
}

/// The CPU time this process has used so far (user + system, every thread, those ended
/// included), in seconds, from `/proc/self/stat` (clock ticks of 10 ms); 0 where unreadable.
/// The work a run did, printed beside its wall time (on this machine both vary alike).
pub fn cpu_secs() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the command name (which may hold spaces, but ends at the last ')'):
    // state is field 3, utime 14 and stime 15.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (ticks(11) + ticks(12)) as f64 / 100.0
}

/// A field in KiB of `/proc/<pid>/status` (`pid` a number or `self`), e.g. `VmRSS`; 0
/// where there is none.
pub fn proc_status_kib(pid: &str, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// How the raw-sled baselines write a batch of log entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawLayout {
    /// One key per event (`L ‖ seq` → `hash ‖ record`, store format 3), in one
    /// `apply_batch`.
    PerEvent,
    /// Packed as custos packs a group (`G ‖ last seq` → entries, a pack closed past
    /// 64 KiB), in one `apply_batch`.
    Packed,
    /// Packed, a batch of one pack written with one `insert` (the store since format 6:
    /// sled's `apply_batch` seals and writes log buffers of its own), several with
    /// `apply_batch`.
    PackedInsert,
}

/// One batch of `(seq, hash, record)` written to `tree` as `layout` says, then one `flush`
/// of `db`: the durable write of the benchmarks' raw-sled baselines.
pub fn raw_write(
    db: &sled::Db,
    tree: &sled::Tree,
    entries: &[(custos_core::Seq, custos_core::Digest, &[u8])],
    layout: RawLayout,
) -> sled::Result<()> {
    let mut batch = sled::Batch::default();
    if layout == RawLayout::PerEvent {
        for (seq, hash, record) in entries {
            let mut k = vec![b'L'];
            k.extend_from_slice(&seq.0.to_be_bytes());
            let mut v = hash.0.to_vec();
            v.extend_from_slice(record);
            batch.insert(k, v);
        }
    } else {
        let mut pack = custos_store::raw::PackBuilder::default();
        for (seq, hash, record) in entries {
            pack.push(*seq, hash, record);
        }
        let mut packs = pack.finish();
        if layout == RawLayout::PackedInsert && packs.len() == 1 {
            let (k, v) = packs.remove(0);
            tree.insert(k, v)?;
            db.flush()?;
            return Ok(());
        }
        for (k, v) in packs {
            batch.insert(&k, v);
        }
    }
    tree.apply_batch(batch)?;
    db.flush()?;
    Ok(())
}
