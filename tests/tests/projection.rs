//! The query plans for the access projection give the answers of a plain fold: a tenant
//! folded from the tenant index alone, and the whole projection started from compacted
//! snapshots, on a demo log whose indexes span sealed chunks and the memtable.

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

    let mut compared = 0;
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
    }
    assert!(compared > 100, "only {compared} tenant views compared");
}
