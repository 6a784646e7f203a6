//! Finding events by time: the search over the log that stands in for a time index
//! (store format 6), time ranges, and the upgrade that removes format 5's time index.

mod common;

use std::sync::Arc;

use common::*;
use custos_core::*;
use custos_store::*;

fn open(dir: &std::path::Path) -> Store {
    Store::open(dir, StoreConfig::default()).expect("open")
}

/// A store at `dir` whose clock shows 1,000 s until moved.
fn with_manual_clock(dir: &std::path::Path) -> (Store, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(Timestamp::from_secs(1_000)));
    let config = StoreConfig {
        clock: clock.clone(),
        ..StoreConfig::default()
    };
    (Store::open(dir, config).expect("open"), clock)
}

#[test]
fn time_ranges_are_found_by_searching_the_log() {
    let dir = tempfile::tempdir().expect("tmp");
    let (store, clock) = with_manual_clock(dir.path());
    for i in 0..10u32 {
        clock.set(Timestamp::from_secs(1_000 + 10 * i64::from(i)));
        store
            .append_blocking(req(1, None, vec![action(u128::from(i) + 1, 1, 1)]))
            .expect("append");
    }
    // A clock that goes backwards does not make the log go backwards.
    clock.set(Timestamp::from_secs(500));
    let last = store
        .append_blocking(req(1, None, vec![action(100, 1, 1)]))
        .expect("append");
    let e = store
        .get(last.first)
        .expect("get")
        .expect("present")
        .event()
        .expect("decode");
    assert_eq!(e.recorded_at, Timestamp::from_secs(1_090));

    let seqs: Vec<Seq> = store
        .read_time_range(Timestamp::from_secs(1_020), Timestamp::from_secs(1_050))
        .expect("range")
        .map(|e| e.expect("read").seq)
        .collect();
    assert_eq!(seqs, [Seq(3), Seq(4), Seq(5)]);
    assert_eq!(
        store.first_seq_at(Timestamp::from_secs(0)).expect("t"),
        Seq(1)
    );
    assert_eq!(
        store.first_seq_at(Timestamp::from_secs(9_999)).expect("t"),
        Seq(12)
    );
    let none = store
        .read_time_range(Timestamp::from_secs(9_000), Timestamp::from_secs(9_999))
        .expect("range")
        .count();
    assert_eq!(none, 0);
}

/// Every event's `recorded_at`, in seq order (the brute-force answer).
fn times(store: &Store) -> Vec<Timestamp> {
    store
        .range(Seq(1), store.head().seq)
        .map(|e| e.expect("read").event().expect("decode").recorded_at)
        .collect()
}

/// `first_seq_at` against a walk of the whole log, for every time in it, each side of
/// it, and beyond both ends.
fn check_first_seq_at(store: &Store) {
    let times = times(store);
    assert_eq!(times.len() as u64, store.head().seq.0);
    let mut probes: Vec<i64> = vec![i64::MIN, 0, i64::MAX];
    for t in &times {
        probes.extend([t.0 - 1, t.0, t.0 + 1]);
    }
    for at in probes {
        let at = Timestamp(at);
        let brute = times
            .iter()
            .position(|t| *t >= at)
            .map_or(times.len() as u64 + 1, |i| i as u64 + 1);
        assert_eq!(
            store.first_seq_at(at).expect("search"),
            Seq(brute),
            "first seq at {at:?}"
        );
    }
}

#[test]
fn the_first_seq_at_a_time_is_found_by_searching_the_log() {
    let dir = tempfile::tempdir().expect("tmp");
    let (store, clock) = with_manual_clock(dir.path());
    assert_eq!(store.first_seq_at(Timestamp(0)).expect("empty"), Seq(1));
    // A fixed pseudo-random sequence (xorshift), so that a failure can be replayed.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    let (mut now, mut id) = (1_000i64, 0u128);
    for g in 0..120u32 {
        // Time stands still, moves on, or goes backwards (the log does not).
        now += [0, 0, 1, 5, 60, -30][next(6) as usize];
        clock.set(Timestamp::from_secs(now));
        // Mostly small groups; every 40th of 700 events, several packs written at once.
        let n = if g % 40 == 39 { 700 } else { 1 + next(3) };
        let events = (0..n)
            .map(|_| {
                id += 1;
                action(id, 1, 1)
            })
            .collect();
        store.append_blocking(req(g, None, events)).expect("append");
    }
    assert!(times(&store).windows(2).all(|w| w[0] <= w[1]));
    check_first_seq_at(&store);
    let head = store.head();
    store.close_blocking();
    drop(store);
    // The head the flusher wrote last is the head after a clean close.
    edit_raw_tree(dir.path(), raw::HEAD_TREE, |t| {
        let written = t.get(raw::META_HEAD).expect("get").expect("Mhead");
        assert_eq!(raw::decode_head(&written), Some(head));
    });
    edit_raw(dir.path(), |t| {
        assert!(
            t.get(raw::META_HEAD).expect("get").is_none(),
            "Mhead in its own tree"
        );
        // 120 groups; the three large ones took more than one pack (one sled batch).
        assert!(t.scan_prefix([raw::PACK]).count() > 120);
    });
    let store = open(dir.path());
    check_first_seq_at(&store);
}

#[test]
fn a_format_5_store_loses_its_time_index_on_open() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = open(dir.path());
    for i in 0..20u32 {
        store
            .append_blocking(req(i, None, vec![action(u128::from(i) + 1, 1, 1)]))
            .expect("append");
    }
    let head = store.head();
    store.close_blocking();
    drop(store);
    // Format 5 wrote one time entry per group; more than one batch of removals here.
    edit_raw(dir.path(), |t| {
        for n in 0..20_000u64 {
            let mut k = vec![b'W'];
            k.extend_from_slice(&n.to_be_bytes());
            k.extend_from_slice(&(n % 20 + 1).to_be_bytes());
            t.insert(k, &[]).expect("insert");
        }
        t.insert(raw::META_FORMAT, &[5]).expect("format");
    });
    let store = open(dir.path());
    assert_eq!(store.head(), head);
    assert_eq!(store.verify(None).expect("verifies"), head);
    check_first_seq_at(&store);
    store.close_blocking();
    drop(store);
    edit_raw(dir.path(), |t| {
        assert_eq!(t.scan_prefix([raw::LEGACY_TIME]).count(), 0);
        assert_eq!(
            t.get(raw::META_FORMAT).expect("get").as_deref(),
            Some(&[raw::STORE_FORMAT][..])
        );
    });
    assert_eq!(raw::STORE_FORMAT, 7);
}
