//! What the benchmarks share: the in-process server and the HTTP append load generator.

use std::sync::Arc;
use std::time::Instant;

use custos_server::AppState;
use custos_store::Store;
use serde_json::{json, Value};

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

/// A new `writer` token (principal `svc:hr`), asked with the admin token.
pub async fn writer_token(client: &reqwest::Client, url: &str, admin: &str) -> String {
    let v: Value = client
        .post(format!("{url}/v1/tokens"))
        .bearer_auth(admin)
        .json(&json!({"role": "writer", "principal": "svc:hr"}))
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    v["secret"].as_str().expect("secret").to_owned()
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
}

/// `appends` single-event commands (`POST /v1/staff`, one event each) over `connections`
/// concurrent connections to a server on a fresh store in `dir`, after the floor of
/// the same number of `GET /healthz`. Client and server share this machine.
pub async fn http_appends(
    dir: &std::path::Path,
    connections: usize,
    appends: usize,
) -> HttpAppends {
    let store = Store::open(dir, custos_store::StoreConfig::default()).expect("open");
    let stats = store.clone();
    let (url, admin) = start_server(store).await;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .build()
        .expect("client");
    let writer = Arc::new(writer_token(&client, &url, &admin).await);
    let per = appends / connections;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (client, url) = (client.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..per {
                let res = client
                    .get(format!("{url}/healthz"))
                    .send()
                    .await
                    .expect("send");
                let _ = res.bytes().await.expect("body");
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let floor = (per * connections) as f64 / started.elapsed().as_secs_f64();
    let (groups0, events0) = stats.stats();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..connections {
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
    let mut ms = Vec::with_capacity(per * connections);
    for t in tasks {
        ms.extend(t.await.expect("task"));
    }
    let rate = ms.len() as f64 / started.elapsed().as_secs_f64();
    let (groups, events) = stats.stats();
    ms.sort_by(f64::total_cmp);
    HttpAppends {
        floor,
        rate,
        ms,
        mean_group: (events - events0) as f64 / (groups - groups0).max(1) as f64,
    }
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
