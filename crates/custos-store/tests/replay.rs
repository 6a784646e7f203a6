//! `Store::replay`: the decoded events of a range, read ahead by two threads in blocks,
//! folded in the order and with the content of reading the range one record at a
//! time; a bad record ends it with its seq.

mod common;

use common::*;
use custos_core::*;
use custos_store::raw;
use custos_store::*;

/// 20,100 events (78 blocks of 256 and a partial one), in groups of 100.
const EVENTS: u64 = 20_100;

/// Index chunks of 1,000 events, so that a reopen reads only the last few from the log.
fn config() -> StoreConfig {
    StoreConfig {
        index_chunk_events: 1_000,
        ..StoreConfig::default()
    }
}

fn fill(dir: &std::path::Path) -> Store {
    let store = Store::open(dir, config()).expect("open");
    let mut id = 0u128;
    for g in 0..EVENTS / 100 {
        let events = (0..100)
            .map(|k| {
                id += 1;
                action(id, (g % 7) as u32, k % 5)
            })
            .collect();
        store
            .append_blocking(req(g as u32, None, events))
            .expect("append");
    }
    assert_eq!(store.head().seq, Seq(EVENTS));
    store
}

fn by_range(store: &Store, from: u64, to: u64) -> Vec<Event> {
    store
        .range(Seq(from), Seq(to))
        .map(|s| s.expect("read").event().expect("decode"))
        .collect()
}

fn replayed(store: &Store, from: u64, to: u64) -> Vec<Event> {
    let mut events = Vec::new();
    let n = store
        .replay(Seq(from), Seq(to), |e| events.push(e.clone()))
        .expect("replay");
    assert_eq!(n, events.len() as u64, "the count returned");
    events
}

#[test]
fn replay_folds_the_range_as_read_one_by_one() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = fill(dir.path());
    // Inline (short, under 1,024 events) and threaded (long) ranges, block edges
    // (blocks of 256), past the head, empty.
    for (from, to) in [
        (1, EVENTS),
        (1, 1_023),
        (1, 1_024),
        (3, 256 * 5 + 1),
        (257, EVENTS - 5),
        (1, 8_192),
        (2_049, EVENTS - 5),
        (EVENTS, EVENTS),
        (1, EVENTS + 500),
        (5, 4),
    ] {
        let ours = replayed(&store, from, to);
        let expected = by_range(&store, from, to);
        assert_eq!(ours.len(), expected.len(), "length of {from}..={to}");
        assert!(ours == expected, "events of {from}..={to}");
    }
    // Threads do not outlive their replay's use of the store: a close completes.
    store.close_blocking();
}

#[test]
fn an_undecodable_record_ends_the_replay_with_its_seq() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = fill(dir.path());
    store.close_blocking();
    drop(store);
    // Open once more so that the whole log is the verified point, then cut a record
    // short behind the store's back (neither the open-time tail check nor the rebuild
    // of the unsealed index chunk reaches it).
    drop(Store::open(dir.path(), config()).expect("clean open"));
    let bad = 12_345u64;
    edit_raw(dir.path(), |tree| {
        let v = raw::entry_value(tree, Seq(bad))
            .expect("get")
            .expect("present");
        raw::edit_entries(tree, vec![(Seq(bad), Some(v[..32 + 3].to_vec()))]).expect("edit");
    });
    let store = Store::open(dir.path(), config()).expect("tail is intact, record sealed");
    // Threaded (the bad record in the middle of a block, and on a later reader's
    // block) and inline.
    for (from, to) in [
        (1, EVENTS),
        (bad - 3_000, bad + 3_000),
        (bad - 10, bad + 10),
    ] {
        let mut seen = Vec::new();
        match store.replay(Seq(from), Seq(to), |e| seen.push(e.seq)) {
            Err(ReadError::Corrupt { seq, .. }) => assert_eq!(seq, Seq(bad)),
            other => panic!("expected a corrupt record at {bad}, got {other:?}"),
        }
        let expected: Vec<Seq> = (from..bad).map(Seq).collect();
        assert!(seen == expected, "every event before the bad one, in order");
    }
}
