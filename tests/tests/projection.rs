//! The query plans for the access projection give the answers of a plain fold: a tenant
//! folded from the tenant index alone, a principal's accounts through the subject index,
//! and the whole projection started from compacted snapshots, on a demo log whose indexes
//! span sealed chunks and the memtable.

use std::sync::Arc;

use custos_core::access::Access;
use custos_core::{codec, Head, Seq, Timestamp};
use custos_demo::DemoConfig;
use custos_store::{ManualClock, Store, StoreConfig};

/// A demo log with index chunks of 400 events, so that lookups cross many seals.
fn demo_log(dir: &std::path::Path) -> Store {
    let clock = Arc::new(ManualClock::new(Timestamp(0)));
    let store = Store::open(
        dir,
        StoreConfig {
            clock: clock.clone(),
            index_chunk_events: 400,
            ..StoreConfig::default()
        },
    )
    .expect("open");
    let config = DemoConfig {
        events: 4000,
        seed: 11,
        end: Timestamp::from_secs(1_800_000_000),
        days: 90,
    };
    tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(custos_cli::demo::fill(&store, &clock, config, false))
        .expect("fill");
    store
}

/// Plain folds of the log from seq 1: the state after each seq in `points`.
fn plain_folds(store: &Store, points: &[Seq]) -> Vec<(Access, Timestamp)> {
    let mut out = Vec::new();
    let mut access = Access::default();
    for stored in store.range(Seq(1), store.head().seq) {
        let e = stored.expect("read").event().expect("decode");
        access.apply(&e);
        if points.contains(&e.seq) {
            out.push((access.clone(), e.recorded_at));
        }
    }
    assert_eq!(out.len(), points.len());
    out
}

#[test]
fn a_tenant_from_its_index_and_the_whole_from_snapshots_answer_as_a_plain_fold() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = demo_log(dir.path());
    let head = store.head().seq;
    assert!(head.0 > 3000, "the demo wrote {head} events");
    let points: Vec<Seq> = [1, 401, 999, 2000, 2801, head.0 - 7, head.0]
        .into_iter()
        .map(Seq)
        .collect();
    let plain = plain_folds(&store, &points);
    let tenants: Vec<_> = plain
        .last()
        .expect("head")
        .0
        .tenants()
        .map(|(t, _)| t.clone())
        .collect();
    assert!(tenants.len() > 20, "{} tenants", tenants.len());

    // Compacted snapshots every 250 events, as `custos snapshot` keeps them.
    let mut state = Access::default();
    for stored in store.range(Seq(1), head) {
        let stored = stored.expect("read");
        state.apply(&stored.event().expect("decode"));
        if stored.seq.0 % 250 == 0 {
            state.compact();
            let at = Head {
                seq: stored.seq,
                hash: stored.hash,
            };
            store
                .put_snapshot(at, &codec::encode_snapshot(&state).expect("encode"))
                .expect("put");
        }
    }

    let (at_head, head_time) = plain.last().expect("head");
    let principals = principals_at_head(at_head, *head_time);
    assert!(principals.len() > 50, "{} principals", principals.len());
    let (mut compared, mut listed) = (0, 0);
    for (point, (whole, at)) in points.iter().zip(&plain) {
        let from_snapshot = store.access_at(*point).expect("access_at");
        for tenant in &tenants {
            let expected = whole.tenant(tenant, *at);
            let by_index = store.tenant_access_at(tenant, *point).expect("by index");
            assert_eq!(
                by_index.tenant(tenant, *at),
                expected,
                "{tenant} at {point}"
            );
            assert_eq!(
                from_snapshot.tenant(tenant, *at),
                expected,
                "{tenant} at {point}"
            );
            // Later instants too: deadlines fall the same way in all three.
            let later = at.plus_secs(3 * 3600);
            assert_eq!(by_index.tenant(tenant, later), whole.tenant(tenant, later));
            if expected.is_some() {
                compared += 1;
            }
        }
        for (tenant, _) in whole.tenants().take(40) {
            let view = whole.tenant(tenant, *at).expect("tenant");
            for right in &view.rights {
                let p = &right.principal;
                assert_eq!(from_snapshot.access_list(p, *at), whole.access_list(p, *at));
            }
        }
        // A principal's accounts through the subject index: the same access lists, for
        // principals with rights at the head (some of whom had none yet, or others, here).
        for p in &principals {
            let expected = whole.access_list(p, *at);
            let by_index = store.principal_access_at(p, *point).expect("by subject");
            assert_eq!(by_index.access_list(p, *at), expected, "{p} at {point}");
            let later = at.plus_secs(3 * 3600);
            assert_eq!(by_index.access_list(p, later), whole.access_list(p, later));
            listed += expected.len();
        }
    }
    assert!(compared > 100, "only {compared} tenant views compared");
    assert!(
        listed > 100,
        "only {listed} rights in access lists compared"
    );
}

/// Every principal with a right in one of the first 60 tenants at the head.
fn principals_at_head(whole: &Access, at: Timestamp) -> Vec<custos_core::PrincipalId> {
    let mut out: Vec<_> = whole
        .tenants()
        .take(60)
        .flat_map(|(t, _)| whole.tenant(t, at).expect("tenant").rights)
        .map(|r| r.principal)
        .collect();
    out.sort();
    out.dedup();
    out
}

#[test]
fn a_store_of_format_1_is_upgraded_with_its_subject_index() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = demo_log(dir.path());
    let head = store.head().seq;
    let (whole, at) = plain_folds(&store, &[head]).remove(0);
    let principals = principals_at_head(&whole, at);
    drop(store);
    // Back to format 1: no subject postings, the format byte 1.
    {
        let db = sled::open(dir.path()).expect("sled");
        let tree = db.open_tree("custos").expect("tree");
        let subjects: Vec<_> = tree
            .scan_prefix([b'J'])
            .keys()
            .map(|k| k.expect("key"))
            .collect();
        assert!(subjects.len() > 50, "{} subject postings", subjects.len());
        for k in subjects {
            tree.remove(k).expect("remove");
        }
        tree.insert("Mformat", &[1u8]).expect("format");
        db.flush().expect("flush");
    }
    let store = Store::open(dir.path(), StoreConfig::default()).expect("reopen and upgrade");
    let mut listed = 0;
    for p in &principals {
        let by_index = store.principal_access_at(p, head).expect("by subject");
        let expected = whole.access_list(p, at);
        assert_eq!(by_index.access_list(p, at), expected, "{p}");
        listed += expected.len();
    }
    assert!(listed > 50, "{listed}");
    drop(store);
    let db = sled::open(dir.path()).expect("sled");
    let tree = db.open_tree("custos").expect("tree");
    assert_eq!(
        tree.get("Mformat").expect("get").as_deref(),
        Some(&[2u8][..])
    );
}
