//! Verify-on-open: a store checks the tail written since its last verified point, and
//! refuses to open over a broken one; the full `verify` catches the rest.

mod common;

use common::*;
use custos_core::*;
use custos_store::raw;
use custos_store::*;

fn fill(dir: &std::path::Path, n: u64) -> Head {
    let store = Store::open(dir, StoreConfig::default()).expect("open");
    for i in 1..=n {
        store
            .append_blocking(req(1, None, vec![action(u128::from(i), 1, 1)]))
            .expect("append");
    }
    let head = store.head();
    store.close_blocking();
    head
}

/// Edits the text of the record at `seq` ("look N" becomes "lool N"), straight in sled.
fn flip(dir: &std::path::Path, seq: u64) {
    edit_raw(dir, |tree| {
        let mut v = raw::entry_value(tree, Seq(seq))
            .expect("get")
            .expect("present");
        let at = v
            .windows(4)
            .position(|w| w == b"look")
            .expect("detail text")
            + 3;
        v[at] = b'l';
        raw::edit_entries(tree, vec![(Seq(seq), Some(v))]).expect("edit");
    });
}

#[test]
fn a_tampered_tail_stops_the_open() {
    let dir = tempfile::tempdir().expect("tmp");
    fill(dir.path(), 10);
    flip(dir.path(), 5);
    match Store::open(dir.path(), StoreConfig::default()) {
        Err(OpenError::Corrupt { source, .. }) => {
            assert_eq!(source.seq, Seq(5));
            assert_eq!(source.fault.kind(), "hash_mismatch");
        }
        other => panic!("expected a corrupt tail, got {other:?}"),
    }
}

#[test]
fn the_verified_part_is_checked_by_a_full_verify() {
    let dir = tempfile::tempdir().expect("tmp");
    fill(dir.path(), 10);
    // Open once more: the whole log becomes the verified point.
    drop(Store::open(dir.path(), StoreConfig::default()).expect("clean open"));
    flip(dir.path(), 5);
    let store = Store::open(dir.path(), StoreConfig::default()).expect("tail is intact");
    let err = store.verify(None).expect_err("full verify");
    match err {
        VerifyDirError::Chain(e) => assert_eq!((e.seq, e.fault.kind()), (Seq(5), "hash_mismatch")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_truncated_log_is_caught_against_the_written_head() {
    let dir = tempfile::tempdir().expect("tmp");
    let head = fill(dir.path(), 10);
    edit_raw(dir.path(), |tree| {
        raw::edit_entries(tree, vec![(Seq(10), None), (Seq(9), None)]).expect("edit");
    });
    match Store::open(dir.path(), StoreConfig::default()) {
        Err(OpenError::Corrupt { source, .. }) => {
            assert_eq!(source.seq, Seq(9));
            assert_eq!(
                source.fault,
                Fault::Truncated {
                    last: Seq(8),
                    known: head.seq
                }
            );
        }
        other => panic!("expected truncation, got {other:?}"),
    }
}
