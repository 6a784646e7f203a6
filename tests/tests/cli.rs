//! The command line end to end: demo, verify, export, tampering caught with the right seq
//! and kind (in a data directory and in an export), bad input, the lock, the server.

mod common;

use std::path::Path;
use std::time::Duration;

use base64::Engine;
use common::*;
use custos_core::chain::chain_hash;
use custos_core::{Digest, Head, Seq};
use custos_store::raw;

/// Demo events generated per test log (the log holds about as many: what the policy
/// decided, refusals included, plus expiries).
const GENERATED: u64 = 300;

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// A fresh demo data directory.
fn data() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tmp");
    demo(dir.path(), GENERATED);
    dir
}

/// How many events the data directory holds (from `verify`).
fn events_in(dir: &Path) -> u64 {
    let o = run(&["verify", "--data", path(dir)]);
    let out = stdout(&o);
    out.split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {out:?}"))
}

/// Asserts that `verify args…` fails with exit 1 at `seq` with a fault of `kind`.
fn assert_fault(args: &[&str], seq: u64, kind: &str) {
    let o = run(args);
    let out = stdout(&o);
    assert_eq!(
        o.status.code(),
        Some(1),
        "expected a fault: {out} {}",
        stderr(&o)
    );
    assert!(
        out.contains(&format!("verification failed at seq {seq}: {kind}")),
        "expected seq {seq} {kind}, got: {out}"
    );
}

#[test]
fn demo_verifies_and_its_export_verifies_to_the_same_head() {
    let dir = data();
    let n = events_in(dir.path());
    let o = run(&["verify", "--data", path(dir.path())]);
    assert!(stdout(&o).starts_with(&format!("verified {n} events, head ")));
    let head = verified_head(&o);
    let file = dir.path().join("export.jsonl");
    let o = run(&["export", "--data", path(dir.path()), "--out", path(&file)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(&file).expect("export");
    assert_eq!(text.lines().count() as u64, n);
    let first: serde_json::Value =
        serde_json::from_str(text.lines().next().expect("line")).expect("json");
    for field in ["seq", "prev_hash", "hash", "record", "event"] {
        assert!(first.get(field).is_some(), "missing {field}");
    }
    assert_eq!(first["prev_hash"], "0".repeat(64));
    // Recorded times follow the simulated 90 days: none after now, and not collapsed
    // into a few groups' times.
    let now = custos_core::Timestamp(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_micros() as i64,
    );
    let times: Vec<custos_core::Timestamp> = text
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("json");
            v["event"]["recorded_at"]
                .as_str()
                .expect("time")
                .parse()
                .expect("rfc3339")
        })
        .collect();
    assert!(times.iter().all(|t| *t <= now));
    let distinct: std::collections::BTreeSet<_> = times.iter().collect();
    assert!(
        distinct.len() * 2 > times.len(),
        "{} distinct of {}",
        distinct.len(),
        times.len()
    );
    let o = run(&["verify", "--file", path(&file)]);
    assert_eq!(verified_head(&o), head);
    // The known head is accepted when it matches.
    let o = run(&[
        "verify",
        "--file",
        path(&file),
        "--head",
        &format!("{n}:{head}"),
    ]);
    assert_eq!(verified_head(&o), head);
}

#[test]
fn the_demo_is_deterministic_for_a_seed() {
    let (a, b) = (data(), data());
    // Both logs verify; recorded_at comes from the simulated clock anchored at "now", so
    // their heads differ between runs: the exported events minus their times must match.
    verified_head(&run(&["verify", "--data", path(a.path())]));
    verified_head(&run(&["verify", "--data", path(b.path())]));
    let strip = |dir: &Path| -> Vec<serde_json::Value> {
        let file = dir.join("e.jsonl");
        assert!(run(&["export", "--data", path(dir), "--out", path(&file)])
            .status
            .success());
        std::fs::read_to_string(&file)
            .expect("export")
            .lines()
            .map(|l| {
                let mut v: serde_json::Value = serde_json::from_str(l).expect("json");
                v["event"]["recorded_at"] = serde_json::Value::Null;
                v["event"]["id"] = serde_json::Value::Null;
                v["event"].clone()
            })
            .collect()
    };
    let (ea, eb) = (strip(a.path()), strip(b.path()));
    assert_eq!(ea.len(), eb.len());
    assert_eq!(
        ea.iter()
            .filter(|e| e["payload"].get("session_started").is_some())
            .count(),
        eb.iter()
            .filter(|e| e["payload"].get("session_started").is_some())
            .count()
    );
    assert_eq!(
        ea.iter()
            .map(|e| e["stream"]
                .as_str()
                .map(|s| s.split(':').next().map(str::to_owned)))
            .collect::<Vec<_>>(),
        eb.iter()
            .map(|e| e["stream"]
                .as_str()
                .map(|s| s.split(':').next().map(str::to_owned)))
            .collect::<Vec<_>>()
    );
}

// ----- tampering with a data directory (an attacker with write access to sled) -----

fn with_tree(dir: &Path, f: impl FnOnce(&sled::Tree)) {
    with_db(dir, |db| f(&db.open_tree("custos").expect("tree")));
}

fn with_db(dir: &Path, f: impl FnOnce(&sled::Db)) {
    let db = custos_store::sled_config(dir)
        .flush_every_ms(None)
        .open()
        .expect("raw open");
    f(&db);
    db.flush().expect("flush");
}

fn value(tree: &sled::Tree, seq: u64) -> Vec<u8> {
    raw::entry_value(tree, Seq(seq))
        .expect("get")
        .expect("present")
}

/// Changes one letter of the stream id inside the record (still decodable).
fn edit_text(v: &mut [u8]) {
    let at = v
        .iter()
        .position(|b| *b == b':')
        .expect("a stream id in the record")
        - 1;
    v[at] = if v[at] == b'X' { b'Y' } else { b'X' };
}

#[test]
fn data_flipped_byte_is_a_hash_mismatch() {
    let dir = data();
    with_tree(dir.path(), |t| {
        let mut v = value(t, 120);
        edit_text(&mut v[32..]);
        raw::edit_entries(t, vec![(Seq(120), Some(v))]).expect("edit");
    });
    assert_fault(
        &["verify", "--data", path(dir.path())],
        120,
        "hash mismatch",
    );
}

#[test]
fn data_dropped_event_is_a_gap() {
    let dir = data();
    with_tree(dir.path(), |t| {
        raw::edit_entries(t, vec![(Seq(77), None)]).expect("edit");
    });
    assert_fault(&["verify", "--data", path(dir.path())], 77, "gap");
}

#[test]
fn data_swapped_events_are_a_reorder() {
    let dir = data();
    with_tree(dir.path(), |t| {
        let (a, b) = (value(t, 50), value(t, 51));
        raw::edit_entries(t, vec![(Seq(50), Some(b)), (Seq(51), Some(a))]).expect("edit");
    });
    assert_fault(&["verify", "--data", path(dir.path())], 50, "reorder");
}

#[test]
fn data_truncation_is_caught_against_the_written_head() {
    let dir = data();
    let n = events_in(dir.path());
    with_tree(dir.path(), |t| {
        raw::edit_entries(t, (n - 4..=n).map(|s| (Seq(s), None)).collect()).expect("edit");
    });
    assert_fault(&["verify", "--data", path(dir.path())], n - 4, "truncated");
}

#[test]
fn data_forged_hash_is_caught() {
    let dir = data();
    with_tree(dir.path(), |t| {
        let mut v = value(t, 200);
        v[..32].copy_from_slice(&[0xAB; 32]);
        raw::edit_entries(t, vec![(Seq(200), Some(v))]).expect("edit");
    });
    assert_fault(
        &["verify", "--data", path(dir.path())],
        200,
        "hash mismatch",
    );
}

#[test]
fn data_rewritten_chain_is_caught_by_a_known_head() {
    let dir = data();
    let n = events_in(dir.path());
    let known = verified_head(&run(&["verify", "--data", path(dir.path())]));
    // The forger edits seq 100 and recomputes every later hash and the stored head.
    with_db(dir.path(), |db| {
        let t = &db.open_tree("custos").expect("tree");
        let mut prev = Digest(value(t, 99)[..32].try_into().expect("32"));
        let mut edits = Vec::new();
        for s in 100..=n {
            let mut v = value(t, s);
            if s == 100 {
                edit_text(&mut v[32..]);
            }
            let h = chain_hash(&prev, &v[32..]);
            v[..32].copy_from_slice(&h.0);
            edits.push((Seq(s), Some(v)));
            prev = h;
        }
        raw::edit_entries(t, edits).expect("edit");
        let head = Head {
            seq: Seq(n),
            hash: prev,
        };
        db.open_tree(raw::HEAD_TREE)
            .expect("head tree")
            .insert(raw::META_HEAD, raw::encode_head(&head).to_vec())
            .expect("head");
    });
    let o = run(&["verify", "--data", path(dir.path())]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "self-consistent without an anchor"
    );
    assert_fault(
        &[
            "verify",
            "--data",
            path(dir.path()),
            "--head",
            &format!("{n}:{known}"),
        ],
        n,
        "head mismatch",
    );
}

// ----- tampering with an export -----

fn export(dir: &Path) -> (std::path::PathBuf, Vec<String>) {
    let file = dir.join("export.jsonl");
    let o = run(&["export", "--data", path(dir), "--out", path(&file)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines = std::fs::read_to_string(&file)
        .expect("read")
        .lines()
        .map(str::to_owned)
        .collect();
    (file, lines)
}

fn write_lines(file: &Path, lines: &[String]) {
    std::fs::write(file, lines.join("\n") + "\n").expect("write");
}

fn edit_line(lines: &mut [String], seq: u64, f: impl FnOnce(&mut serde_json::Value)) {
    let i = (seq - 1) as usize;
    let mut v: serde_json::Value = serde_json::from_str(&lines[i]).expect("json");
    f(&mut v);
    lines[i] = serde_json::to_string(&v).expect("json");
}

#[test]
fn export_tampering_is_caught_with_seq_and_kind() {
    let dir = data();
    let n = events_in(dir.path());
    let (file, original) = export(dir.path());
    let f = path(&file).to_owned();
    let head = verified_head(&run(&["verify", "--file", &f]));

    // A flipped byte in a record.
    let mut lines = original.clone();
    edit_line(&mut lines, 42, |v| {
        let mut r = b64()
            .decode(v["record"].as_str().expect("record"))
            .expect("b64");
        edit_text(&mut r);
        v["record"] = b64().encode(r).into();
    });
    write_lines(&file, &lines);
    assert_fault(&["verify", "--file", &f], 42, "hash mismatch");

    // An edited `event` (what a person reads) that no longer matches `record`.
    let mut lines = original.clone();
    edit_line(&mut lines, 43, |v| {
        v["event"]["actor"] = "staff:somebody-else".into()
    });
    write_lines(&file, &lines);
    assert_fault(&["verify", "--file", &f], 43, "event mismatch");

    // A dropped line.
    let mut lines = original.clone();
    lines.remove(60);
    write_lines(&file, &lines);
    assert_fault(&["verify", "--file", &f], 61, "gap");

    // Two lines swapped.
    let mut lines = original.clone();
    lines.swap(70, 71);
    write_lines(&file, &lines);
    assert_fault(&["verify", "--file", &f], 71, "reorder");

    // Truncated, against the known head.
    let lines = original[..n as usize - 10].to_vec();
    write_lines(&file, &lines);
    assert_fault(
        &["verify", "--file", &f, "--head", &format!("{n}:{head}")],
        n - 9,
        "truncated",
    );

    // A forged hash.
    let mut lines = original.clone();
    edit_line(&mut lines, 90, |v| v["hash"] = "ab".repeat(32).into());
    write_lines(&file, &lines);
    assert_fault(&["verify", "--file", &f], 90, "hash mismatch");

    // A forged prev_hash.
    let mut lines = original.clone();
    edit_line(&mut lines, 91, |v| v["prev_hash"] = "cd".repeat(32).into());
    write_lines(&file, &lines);
    assert_fault(&["verify", "--file", &f], 91, "broken link");

    // A line that is not an export line.
    let mut lines = original.clone();
    lines[9] = "{not json".into();
    write_lines(&file, &lines);
    assert_fault(&["verify", "--file", &f], 10, "undecodable");
}

// ----- bad input -----

#[test]
fn bad_arguments_and_missing_files_exit_2_with_a_message() {
    let o = run(&["verify"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--data"), "{}", stderr(&o));

    let o = run(&["verify", "--file", "/nonexistent/export.jsonl"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("cannot read /nonexistent/export.jsonl"),
        "{}",
        stderr(&o)
    );

    let empty = tempfile::tempdir().expect("tmp");
    let o = run(&["verify", "--data", path(empty.path())]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("holds no custos data"),
        "{}",
        stderr(&o)
    );

    let o = run(&["verify", "--file", "x", "--head", "12:nothex"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("is not a digest"), "{}", stderr(&o));

    let o = run(&["demo", "--events", "many"]);
    assert_eq!(o.status.code(), Some(2));
}

// ----- the server -----

/// Starts `custos serve` on a free port; returns the child and its base URL.
fn serve(dir: &Path) -> (std::process::Child, String) {
    common::serve(dir)
}

#[tokio::test]
async fn the_server_answers_health_and_head_and_holds_the_lock() {
    let dir = data();
    let n = events_in(dir.path());
    let head = verified_head(&run(&["verify", "--data", path(dir.path())]));
    let (mut child, url) = serve(dir.path());

    let client = reqwest::Client::new();
    let health: serde_json::Value = client
        .get(format!("{url}/healthz"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(health["status"], "ok");
    let h: serde_json::Value = client
        .get(format!("{url}/v1/head"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    // The expiry loop may already have recorded something that fell due since the demo.
    let served = h["seq"].as_u64().expect("seq");
    assert!(served >= n, "{served} < {n}");
    if served == n {
        assert_eq!(h["hash"], head.as_str());
    }
    let res = client
        .get(format!("{url}/v1/nothing"))
        .send()
        .await
        .expect("get");
    assert_eq!(res.status(), 404);
    assert_eq!(res.headers()["content-type"], "application/problem+json");

    // While the server runs, other commands are told the directory is in use.
    let o = run(&["verify", "--data", path(dir.path())]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("in use by another process"),
        "{}",
        stderr(&o)
    );

    // SIGTERM: graceful stop, and the log still verifies.
    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill")
        .success());
    let status = wait_with_timeout(&mut child, Duration::from_secs(30));
    assert!(status.success(), "serve exited with {status:?}");
    // The log still verifies, up to at least what the server reported.
    let o = run(&["verify", "--data", path(dir.path())]);
    verified_head(&o);
    assert!(events_in(dir.path()) >= served);
}

fn wait_with_timeout(child: &mut std::process::Child, limit: Duration) -> std::process::ExitStatus {
    let start = std::time::Instant::now();
    loop {
        if let Some(s) = child.try_wait().expect("wait") {
            return s;
        }
        assert!(start.elapsed() < limit, "server did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ----- the access projection from the command line -----

fn json_of(args: &[&str]) -> serde_json::Value {
    let o = run(args);
    assert_eq!(o.status.code(), Some(0), "{} {}", stdout(&o), stderr(&o));
    serde_json::from_slice(&o.stdout).expect("json")
}

#[test]
fn access_answers_now_as_of_and_at_a_seq_with_evidence() {
    let dir = data();
    let n = events_in(dir.path());
    let d = path(dir.path());
    let head = verified_head(&run(&["verify", "--data", d]));
    let tenants = json_of(&["tenants", "--data", d, "--json"]);
    assert_eq!(tenants["seq"], n);
    assert_eq!(tenants["hash"], head.as_str());
    let first = tenants["tenants"][0]["tenant"]
        .as_str()
        .expect("a tenant")
        .to_owned();

    let now = json_of(&["access", "--data", d, "--tenant", &first, "--json"]);
    assert_eq!(now["tenant"], first.as_str());
    let rights = now["rights"].as_array().expect("rights");
    assert!(!rights.is_empty());
    for r in rights {
        let evidence = r["evidence"].as_array().expect("evidence");
        assert!(!evidence.is_empty(), "every right names its events: {r}");
        assert!(r["via"].is_string() && r["principal"].is_string());
    }
    // Each right is also in its principal's access list.
    let who = rights[0]["principal"].as_str().expect("principal");
    let list = json_of(&["access", "--data", d, "--principal", who, "--json"]);
    assert!(list["access"]
        .as_array()
        .expect("access")
        .iter()
        .any(|e| e["tenant"] == first.as_str()));

    // At seq 1 (a staff enrolment) no tenant exists yet: exit 1 with a message.
    let o = run(&["access", "--data", d, "--tenant", &first, "--at-seq", "1"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains(&format!("no tenant {first}")),
        "{}",
        stderr(&o)
    );
    // As of long before the demo: nothing either.
    let o = run(&[
        "access",
        "--data",
        d,
        "--tenant",
        &first,
        "--as-of",
        "2000-01-01T00:00:00Z",
    ]);
    assert_eq!(o.status.code(), Some(1));
    // The table form states the point it answers at and can explain each right.
    let o = run(&["access", "--data", d, "--tenant", &first, "--explain"]);
    assert!(stdout(&o).contains(&format!("hash {head}")));
    assert!(stdout(&o).contains("tenant_created by"), "{}", stdout(&o));
}

#[test]
fn access_refuses_bad_input_with_exit_2() {
    let dir = data();
    let d = path(dir.path());
    let o = run(&[
        "access",
        "--data",
        d,
        "--tenant",
        "x",
        "--as-of",
        "yesterday",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("is not an RFC 3339 timestamp"),
        "{}",
        stderr(&o)
    );
    let o = run(&["access", "--data", d, "--tenant", "a b"]);
    assert_eq!(o.status.code(), Some(2));
    let o = run(&["access", "--data", d, "--tenant", "x", "--at-seq", "999999"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("past the head"), "{}", stderr(&o));
    let o = run(&["access", "--data", d]);
    assert_eq!(o.status.code(), Some(2));
}

// ----- the server records expiries when due, and catches up after a restart -----

/// A log whose only session started two hours ago and never ended.
fn overdue_session(dir: &Path) {
    use custos_core::vocab::*;
    use custos_core::*;
    use custos_store::{AppendRequest, ManualClock, Store, StoreConfig};
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let started = Timestamp::from_secs(now - 2 * 3600);
    let clock = std::sync::Arc::new(ManualClock::new(started));
    let store = Store::open(
        dir,
        StoreConfig {
            clock,
            ..StoreConfig::default()
        },
    )
    .expect("open");
    let p = |s: &str| PrincipalId::new(s).expect("principal");
    let payload = Payload::SessionStarted {
        session: SessionId(42),
        tenant: TenantId::new("acme").expect("tenant"),
        staff: p("staff:ana"),
        grant: None,
        target: SessionTarget::ViewAs(p("user:acme/emp")),
        mode: SessionMode::ViewOnly,
        supervision: Supervision::Unsupervised,
        reason: "check rights".into(),
        ticket_link: "https://help.example/1".into(),
        consent: None,
        deadline: started.plus_secs(3600),
    };
    store
        .append_blocking(AppendRequest {
            stream: StreamId::new("session:42").expect("stream"),
            expected: None,
            events: vec![NewEvent::new(EventId(1), p("staff:ana"), payload)],
        })
        .expect("append");
    store.close_blocking();
}

async fn head_seq(client: &reqwest::Client, url: &str) -> u64 {
    let h: serde_json::Value = client
        .get(format!("{url}/v1/head"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    h["seq"].as_u64().expect("seq")
}

fn stop(child: std::process::Child) {
    common::stop(child);
}

#[tokio::test]
async fn the_server_ends_an_overdue_session_once() {
    let dir = tempfile::tempdir().expect("tmp");
    let at = dir.path().to_owned();
    tokio::task::spawn_blocking(move || overdue_session(&at))
        .await
        .expect("setup");
    let client = reqwest::Client::new();
    let (child, url) = serve(dir.path());
    let mut seq = head_seq(&client, &url).await;
    // Seq 2 is the first start's admin token; seq 3 the automatic end.
    for _ in 0..100 {
        if seq > 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        seq = head_seq(&client, &url).await;
    }
    assert_eq!(seq, 3, "the overdue session's end was recorded");
    stop(child);

    // The last event is the automatic end, by custos itself.
    let file = dir.path().join("e.jsonl");
    assert!(
        run(&["export", "--data", path(dir.path()), "--out", path(&file)])
            .status
            .success()
    );
    let text = std::fs::read_to_string(&file).expect("export");
    let last: serde_json::Value =
        serde_json::from_str(text.lines().last().expect("line")).expect("json");
    assert_eq!(last["event"]["actor"], "custos:system");
    assert_eq!(
        last["event"]["payload"]["session_ended"]["reason"],
        "time_limit"
    );

    // Restarted, the server finds nothing more to record.
    let (child, url) = serve(dir.path());
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(head_seq(&client, &url).await, 3);
    stop(child);
}

#[test]
fn snapshots_change_no_answer() {
    let dir = data();
    let d = path(dir.path());
    let n = events_in(dir.path());
    let tenants = json_of(&["tenants", "--data", d, "--json"]);
    let tenant = tenants["tenants"][1]["tenant"]
        .as_str()
        .expect("tenant")
        .to_owned();
    let at = json_of(&["access", "--data", d, "--tenant", &tenant, "--json"])["at"]
        .as_str()
        .expect("at")
        .to_owned();
    let mid = (n / 2).to_string();
    let questions: Vec<Vec<String>> = vec![
        vec![
            "--tenant".into(),
            tenant.clone(),
            "--at-seq".into(),
            mid.clone(),
        ],
        vec![
            "--tenant".into(),
            tenant.clone(),
            "--at-seq".into(),
            n.to_string(),
        ],
        vec!["--tenant".into(), tenant.clone(), "--as-of".into(), at],
        vec![
            "--principal".into(),
            "user:t00000/e0".into(),
            "--at-seq".into(),
            mid,
        ],
    ];
    let ask = |q: &Vec<String>| {
        let mut args = vec!["access", "--data", d, "--json"];
        args.extend(q.iter().map(String::as_str));
        json_of(&args)
    };
    let before: Vec<serde_json::Value> = questions.iter().map(ask).collect();
    let o = run(&["snapshot", "--data", d, "--every", "37"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("snapshots written"), "{}", stdout(&o));
    let after: Vec<serde_json::Value> = questions.iter().map(ask).collect();
    assert_eq!(before, after);
    // A second run keeps what is there (rewriting a large value leaves the old one in
    // sled's files until it reclaims the segment).
    let first = stdout(&o);
    let written: u64 = first
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a count");
    assert!(written > 1, "{first}");
    let o = run(&["snapshot", "--data", d, "--every", "37"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).starts_with(&format!("0 snapshots written, {written} already there")),
        "{}",
        stdout(&o)
    );
    let again: Vec<serde_json::Value> = questions.iter().map(ask).collect();
    assert_eq!(before, again);
    let o = run(&["snapshot", "--data", d, "--every", "0"]);
    assert_eq!(o.status.code(), Some(2));
}
