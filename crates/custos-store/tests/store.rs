//! The store's behaviour: appends, conflicts, idempotency, reads, indexes, reopen,
//! the open-time tail check, and refusal after an IO error.

mod common;

use common::*;
use custos_core::*;
use custos_store::*;

fn open(dir: &std::path::Path) -> Store {
    Store::open(dir, StoreConfig::default()).expect("open")
}

#[test]
fn appends_are_dense_chained_and_survive_reopen() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = open(dir.path());
    assert_eq!(store.head(), Head::GENESIS);
    let a = store
        .append_blocking(req(1, Some(0), vec![action(1, 1, 1), action(2, 1, 1)]))
        .expect("append");
    assert_eq!(
        (a.first, a.last, a.version, a.duplicate),
        (Seq(1), Seq(2), 2, false)
    );
    let b = store
        .append_blocking(req(2, None, vec![enrol(3, 9)]))
        .expect("append");
    assert_eq!((b.first, b.version), (Seq(3), 1));
    let head = store.head();
    assert_eq!(head.seq, Seq(3));
    assert_eq!(store.verify(None).expect("verifies"), head);
    let events: Vec<Event> = store
        .range(Seq(1), Seq(10))
        .map(|e| e.expect("read").event().expect("decode"))
        .collect();
    assert_eq!(
        events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [Seq(1), Seq(2), Seq(3)]
    );
    assert_eq!(events[1].version, 2);
    assert_eq!(events[1].id, EventId(2));
    assert!(events
        .windows(2)
        .all(|w| w[0].recorded_at <= w[1].recorded_at));
    store.close_blocking();
    drop(store);

    let store = open(dir.path());
    assert_eq!(store.head(), head, "the head survives reopen");
    let c = store
        .append_blocking(req(1, Some(2), vec![action(4, 1, 1)]))
        .expect("append after reopen");
    assert_eq!((c.first, c.version), (Seq(4), 3));
    assert_eq!(store.verify(None).expect("verifies").seq, Seq(4));
}

#[test]
fn a_wrong_expected_version_is_a_conflict_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = open(dir.path());
    store
        .append_blocking(req(1, Some(0), vec![action(1, 1, 1)]))
        .expect("first");
    let err = store
        .append_blocking(req(1, Some(0), vec![action(2, 1, 1)]))
        .expect_err("conflict");
    assert_eq!(
        err,
        AppendError::Conflict {
            stream: stream(1),
            expected: 0,
            actual: 1
        }
    );
    assert_eq!(store.head().seq, Seq(1));
    assert_eq!(store.stream_version(&stream(1)).expect("version"), 1);
}

#[test]
fn a_retry_with_the_same_ids_returns_the_first_answer() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = open(dir.path());
    let first = store
        .append_blocking(req(1, Some(0), vec![action(10, 1, 1), action(11, 1, 1)]))
        .expect("first");
    store
        .append_blocking(req(2, None, vec![action(12, 2, 1)]))
        .expect("other");
    // The retry carries the stale expected version: still the first answer, not a conflict.
    let again = store
        .append_blocking(req(1, Some(0), vec![action(10, 1, 1), action(11, 1, 1)]))
        .expect("retry");
    assert_eq!(
        (again.first, again.last, again.version),
        (first.first, first.last, first.version)
    );
    assert!(again.duplicate);
    assert_eq!(store.head().seq, Seq(3), "nothing appended twice");
    // The same id for another stream, or mixed with new ids, is refused.
    let err = store
        .append_blocking(req(3, None, vec![action(10, 1, 1)]))
        .expect_err("reused");
    assert_eq!(err, AppendError::IdReused { id: EventId(10) });
    let err = store
        .append_blocking(req(1, None, vec![action(11, 1, 1), action(99, 1, 1)]))
        .expect_err("partial");
    assert_eq!(err, AppendError::IdReused { id: EventId(11) });
    let err = store
        .append_blocking(req(1, None, vec![action(98, 1, 1), action(98, 1, 1)]))
        .expect_err("twice in one");
    assert!(matches!(err, AppendError::Invalid(_)));
    assert!(matches!(
        store.append_blocking(req(1, None, vec![])),
        Err(AppendError::Invalid(_))
    ));
    assert_eq!(store.head().seq, Seq(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_retries_of_one_event_land_once() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = open(dir.path());
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let s = store.clone();
            tokio::spawn(async move { s.append(req(1, None, vec![action(7, 1, 1)])).await })
        })
        .collect();
    let mut seqs = Vec::new();
    for t in tasks {
        seqs.push(t.await.expect("join").expect("append").first);
    }
    assert!(seqs.iter().all(|s| *s == Seq(1)), "{seqs:?}");
    assert_eq!(store.head().seq, Seq(1));
}

fn config(chunk: usize) -> StoreConfig {
    StoreConfig {
        index_chunk_events: chunk,
        ..StoreConfig::default()
    }
}

/// Appends 40 groups of mixed events to 7 streams, reopening halfway.
fn fill_mixed(dir: &std::path::Path, chunk: usize) -> Store {
    let mut store = Store::open(dir, config(chunk)).expect("open");
    let mut id = 0u128;
    for round in 0..40u32 {
        if round == 20 {
            store.close_blocking();
            drop(store);
            store = Store::open(dir, config(chunk)).expect("reopen");
        }
        let mut events = Vec::new();
        for k in 0..3u32 {
            id += 1;
            events.push(if (round + k) % 5 == 0 {
                enrol(id, round % 4)
            } else if (round + k) % 5 == 2 {
                request(id, (round + k) % 6, (round * 3 + k) % 4)
            } else {
                action(id, (round + k) % 6, round % 4)
            });
        }
        store
            .append_blocking(req(round % 7, None, events))
            .expect("append");
    }
    store
}

#[test]
fn indexes_agree_with_a_scan_of_the_log() {
    // Chunk sizes: every event sealed, chunks that end inside groups, nothing sealed.
    for chunk in [1, 7, 32 * 1024] {
        let dir = tempfile::tempdir().expect("tmp");
        let store = fill_mixed(dir.path(), chunk);
        let all: Vec<Event> = store
            .range(Seq(1), store.head().seq)
            .map(|e| e.expect("read").event().expect("decode"))
            .collect();
        let head = store.head().seq;
        let check = |filter: IndexFilter, want: Vec<Seq>| {
            let got = store
                .index_seqs(&filter, Seq(1), head, usize::MAX)
                .expect("index");
            assert_eq!(got, want, "chunk {chunk}, {filter:?}");
            // Every sub-window and limit agrees too.
            for (from, to, limit) in [(10, 60, 3), (33, 33, 9), (61, 120, 100), (5, 4, 9)] {
                let part = store
                    .index_seqs(&filter, Seq(from), Seq(to), limit)
                    .expect("index");
                let want: Vec<Seq> = want
                    .iter()
                    .copied()
                    .filter(|s| (from..=to).contains(&s.0))
                    .take(limit)
                    .collect();
                assert_eq!(
                    part, want,
                    "chunk {chunk}, {filter:?} {from}..={to} limit {limit}"
                );
            }
        };
        for t in 0..6 {
            check(
                IndexFilter::Tenant(tenant(t)),
                all.iter()
                    .filter(|e| e.payload.tenant() == Some(&tenant(t)))
                    .map(|e| e.seq)
                    .collect(),
            );
        }
        for a in 0..4 {
            check(
                IndexFilter::Actor(actor(a)),
                all.iter()
                    .filter(|e| e.actor == actor(a))
                    .map(|e| e.seq)
                    .collect(),
            );
        }
        for a in 0..4 {
            let want: Vec<Seq> = all
                .iter()
                .filter(|e| e.payload.subjects().contains(&&actor(a)))
                .map(|e| e.seq)
                .collect();
            assert!(!want.is_empty());
            check(IndexFilter::Subject(actor(a)), want);
        }
        for kind in [
            EventKind::StaffEnrolled,
            EventKind::SessionAction,
            EventKind::TenantCreated,
        ] {
            check(
                IndexFilter::Kind(kind),
                all.iter()
                    .filter(|e| e.kind() == kind)
                    .map(|e| e.seq)
                    .collect(),
            );
        }
        for s in 0..7 {
            let want: Vec<Seq> = all
                .iter()
                .filter(|e| e.stream == stream(s))
                .map(|e| e.seq)
                .collect();
            let got: Vec<Seq> = store
                .read_stream(&stream(s), 1)
                .expect("stream")
                .map(|e| e.expect("read").seq)
                .collect();
            assert_eq!(got, want, "chunk {chunk}, stream {s}");
            let from3: Vec<Seq> = store
                .read_stream(&stream(s), 3)
                .expect("stream")
                .map(|e| e.expect("read").seq)
                .collect();
            assert_eq!(
                from3,
                want[2..].to_vec(),
                "chunk {chunk}, stream {s} from version 3"
            );
            assert_eq!(
                store.stream_version(&stream(s)).expect("v"),
                want.len() as u64
            );
        }
        assert_eq!(store.stream_version(&stream(99)).expect("v"), 0);
    }
}

/// Every event found by id and every stream at its version, through the index.
fn assert_index_finds_everything(store: &Store, case: &str) {
    let head = store.head().seq;
    let all: Vec<Event> = store
        .range(Seq(1), head)
        .map(|e| e.expect("read").event().expect("decode"))
        .collect();
    for e in &all {
        assert_eq!(
            store.seq_of_event(e.id).expect("id"),
            Some(e.seq),
            "{case}: id of {}",
            e.seq
        );
    }
    assert_eq!(
        store.seq_of_event(EventId(1 << 100)).expect("id"),
        None,
        "{case}"
    );
    for s in 0..7 {
        let n = all.iter().filter(|e| e.stream == stream(s)).count() as u64;
        assert_eq!(
            store.stream_version(&stream(s)).expect("v"),
            n,
            "{case}: stream {s}"
        );
    }
}

#[test]
fn the_filter_file_is_trusted_only_as_far_as_it_is_whole_and_matches_the_tree() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = fill_mixed(dir.path(), 7);
    store.close_blocking();
    drop(store);
    let file = dir.path().join("index.filters");
    let written = std::fs::read(&file).expect("the sealer wrote the filter file");
    assert!(
        written.len() > 17 * 7 * 8,
        "one record per sealed chunk: {} bytes",
        written.len()
    );
    // A file from another store, sealed in other chunks, whose records pass every other
    // check (whole, contiguous, within `Mindexed`).
    let other = tempfile::tempdir().expect("tmp");
    fill_mixed(other.path(), 5).close_blocking();
    let foreign = std::fs::read(other.path().join("index.filters")).expect("other file");

    let mut flipped = written.clone();
    flipped[written.len() / 2] ^= 0x10;
    let damages: [(&str, Option<Vec<u8>>); 5] = [
        ("untouched", Some(written.clone())),
        (
            "cut in the middle of a record",
            Some(written[..written.len() / 2 + 3].to_vec()),
        ),
        ("a flipped byte", Some(flipped)),
        ("another store's chunks", Some(foreign)),
        ("missing", None),
    ];
    for (case, bytes) in damages {
        match bytes {
            Some(b) => std::fs::write(&file, b).expect("write"),
            None => std::fs::remove_file(&file).expect("remove"),
        }
        let store = Store::open(dir.path(), config(7)).expect("open");
        assert_index_finds_everything(&store, case);
        // A retry of a sealed event is still the same event, not a new one.
        let first = store
            .get(Seq(1))
            .expect("get")
            .expect("seq 1")
            .event()
            .expect("decode");
        let retry = store
            .append_blocking(AppendRequest {
                stream: first.stream.clone(),
                expected: None,
                events: vec![NewEvent::new(
                    first.id,
                    first.actor.clone(),
                    first.payload.clone(),
                )],
            })
            .expect("retry");
        assert!(
            retry.duplicate && retry.first == Seq(1),
            "{case}: {retry:?}"
        );
        store.close_blocking();
        drop(store);
        assert_eq!(
            std::fs::read(&file).expect("read"),
            written,
            "{case}: the open rebuilt the file exactly as the sealer wrote it"
        );
    }
}

#[test]
fn versions_continue_while_a_chunk_is_being_sealed() {
    // Chunks of 2: most appends land while the sealer thread holds a frozen memtable.
    for _ in 0..20 {
        let dir = tempfile::tempdir().expect("tmp");
        let store = Store::open(dir.path(), config(2)).expect("open");
        for i in 1..=12u128 {
            let s = (i % 2) as u32;
            let a = store
                .append_blocking(req(s, None, vec![action(i, 1, 1)]))
                .expect("append");
            assert_eq!(a.version, (i as u64).div_ceil(2), "event {i} on stream {s}");
        }
    }
}

#[test]
fn retries_and_conflicts_see_sealed_events() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = Store::open(dir.path(), config(4)).expect("open");
    let first = store
        .append_blocking(req(1, Some(0), vec![action(1, 1, 1), action(2, 1, 1)]))
        .expect("first");
    for i in 10..30u128 {
        store
            .append_blocking(req(2, None, vec![action(i, 2, 1)]))
            .expect("filler");
    }
    store.close_blocking();
    drop(store);
    // After several seals and a reopen, the first append is only in a sealed id table.
    let store = Store::open(dir.path(), config(4)).expect("reopen");
    let again = store
        .append_blocking(req(1, Some(0), vec![action(1, 1, 1), action(2, 1, 1)]))
        .expect("retry");
    assert_eq!((again.first, again.duplicate), (first.first, true));
    let err = store
        .append_blocking(req(1, Some(0), vec![action(3, 1, 1)]))
        .expect_err("stale version");
    assert_eq!(
        err,
        AppendError::Conflict {
            stream: stream(1),
            expected: 0,
            actual: 2
        }
    );
    assert_eq!(store.head().seq, Seq(22));
}

#[test]
fn after_an_io_error_appends_are_refused_until_reopened() {
    let dir = tempfile::tempdir().expect("tmp");
    let config = StoreConfig {
        fail_after_groups: Some(2),
        ..StoreConfig::default()
    };
    let store = Store::open(dir.path(), config).expect("open");
    store
        .append_blocking(req(1, None, vec![action(1, 1, 1)]))
        .expect("group 1");
    store
        .append_blocking(req(1, None, vec![action(2, 1, 1)]))
        .expect("group 2");
    let err = store
        .append_blocking(req(1, None, vec![action(3, 1, 1)]))
        .expect_err("injected");
    assert!(matches!(err, AppendError::Io(_)), "{err:?}");
    let err = store
        .append_blocking(req(1, None, vec![action(4, 1, 1)]))
        .expect_err("refused");
    assert_eq!(err, AppendError::Refused);
    assert_eq!(store.head().seq, Seq(2));
    store.close_blocking();
    drop(store);

    let store = open(dir.path());
    assert_eq!(
        store.head().seq,
        Seq(2),
        "nothing of the failed group landed"
    );
    let retry = store
        .append_blocking(req(1, None, vec![action(3, 1, 1)]))
        .expect("the retry lands after reopen");
    assert_eq!(retry.first, Seq(3));
    assert_eq!(store.verify(None).expect("verifies").seq, Seq(3));
}

#[test]
fn closed_store_refuses_appends_but_still_reads() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = open(dir.path());
    store
        .append_blocking(req(1, None, vec![action(1, 1, 1)]))
        .expect("append");
    store.close_blocking();
    assert_eq!(
        store.append_blocking(req(1, None, vec![action(2, 1, 1)])),
        Err(AppendError::Closed)
    );
    assert!(store.get(Seq(1)).expect("read").is_some());
}

#[test]
fn oversized_events_are_refused_without_consuming_a_seq() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = open(dir.path());
    let mut big = action(1, 1, 1);
    if let Payload::SessionAction { detail, .. } = &mut big.payload {
        *detail = "x".repeat(codec::MAX_RECORD_BYTES).into();
    }
    let err = store
        .append_blocking(req(1, None, vec![big]))
        .expect_err("too big");
    assert!(
        matches!(err, AppendError::Invalid(ref m) if m.contains("exceeds")),
        "{err}"
    );
    let ok = store
        .append_blocking(req(1, None, vec![action(2, 1, 1)]))
        .expect("next");
    assert_eq!(ok.first, Seq(1));
}

#[test]
fn snapshots_are_found_at_or_before_a_seq_and_only_on_the_same_history() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = open(dir.path());
    for i in 1..=10u128 {
        store
            .append_blocking(req(1, None, vec![action(i, 1, 1)]))
            .expect("append");
    }
    let at = |s: u64| Head {
        seq: Seq(s),
        hash: store.hash_at(Seq(s)).expect("hash").expect("present"),
    };
    store.put_snapshot(at(3), b"three").expect("put");
    store.put_snapshot(at(7), b"seven").expect("put");
    // One taken on another history (a hash the log does not have at seq 9).
    store
        .put_snapshot(
            Head {
                seq: Seq(9),
                hash: Digest([9; 32]),
            },
            b"forged",
        )
        .expect("put");
    let found = |s: u64| {
        store
            .snapshot_at_or_before(Seq(s))
            .expect("read")
            .map(|(h, b)| (h.seq, b))
    };
    assert_eq!(found(2), None);
    assert_eq!(found(3), Some((Seq(3), b"three".to_vec())));
    assert_eq!(found(6), Some((Seq(3), b"three".to_vec())));
    assert_eq!(found(8), Some((Seq(7), b"seven".to_vec())));
    assert_eq!(
        found(10),
        Some((Seq(7), b"seven".to_vec())),
        "the forged one is skipped"
    );
}

#[test]
fn blob_files_are_synced_before_appends_are_answered() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = Store::open(dir.path(), config(6_000)).expect("open");
    let mut id = 0u128;
    for round in 0..10u32 {
        let events = (0..100u32)
            .map(|k| {
                id += 1;
                action(id, k % 6, round % 4)
            })
            .collect();
        store
            .append_blocking(req(round % 7, None, events))
            .expect("append");
    }
    // A snapshot over a quarter of a sled segment, sled's limit for a page in its log
    // (2 MiB with `SEGMENT_BYTES`), so sled writes it to a file of its own under blobs/
    // (the index, in blocks since format 5, no longer makes any).
    let head = store.head();
    store
        .put_snapshot(head, &vec![7u8; SEGMENT_BYTES / 4 + 100_000])
        .expect("snapshot");
    let blob_files = || {
        std::fs::read_dir(dir.path().join("blobs"))
            .map(|d| d.count() as u64)
            .unwrap_or(0)
    };
    // The seal runs on its own thread: once it is done, the next acknowledged append has
    // synced every blob file there is.
    let mut tries = 0;
    loop {
        id += 1;
        store
            .append_blocking(req(0, None, vec![action(id, 0, 0)]))
            .expect("append");
        let present = blob_files();
        if present > 0 && store.blob_files_synced() >= present {
            break;
        }
        tries += 1;
        assert!(
            tries < 200,
            "{present} blob files, {} synced",
            store.blob_files_synced()
        );
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
}

/// A new store gets sled segments of `SEGMENT_BYTES`; a store created with sled's default
/// (custos before it) keeps its own — sled refuses another — and still opens, appends and
/// verifies.
#[tokio::test]
async fn a_store_keeps_the_sled_segment_size_it_was_created_with() {
    let segment = |dir: &std::path::Path| {
        // sled's text settings, then a checksum.
        let conf = std::fs::read(dir.join("conf")).expect("sled's conf");
        String::from_utf8_lossy(&conf)
            .lines()
            .find_map(|l| l.strip_prefix("segment_size: "))
            .expect("segment_size line")
            .parse::<usize>()
            .expect("a number")
    };
    let new = tempfile::tempdir().expect("tmp");
    open(new.path())
        .append(req(1, Some(0), vec![action(1, 1, 1)]))
        .await
        .expect("append");
    assert_eq!(segment(new.path()), SEGMENT_BYTES);

    let old = tempfile::tempdir().expect("tmp");
    // What custos before SEGMENT_BYTES created: sled's defaults.
    drop(sled::Config::new().path(old.path()).open().expect("sled"));
    assert_eq!(segment(old.path()), 512 << 10);
    {
        let store = open(old.path());
        store
            .append(req(1, Some(0), vec![action(1, 1, 1)]))
            .await
            .expect("append");
        store
            .append(req(1, Some(1), vec![action(2, 1, 1)]))
            .await
            .expect("append");
    }
    let store = open(old.path());
    assert_eq!(store.head().seq, Seq(2));
    assert_eq!(store.verify(None).expect("verify").seq, Seq(2));
    assert_eq!(segment(old.path()), 512 << 10);
}
