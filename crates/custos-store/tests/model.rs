//! Property tests: random appends, conflicts and retries against a plain in-memory model;
//! concurrent appenders against the log's invariants.

mod common;

use std::collections::HashMap;

use common::*;
use custos_core::*;
use custos_store::*;
use proptest::prelude::*;

/// The model: every event in order, each stream's events, which ids went where.
#[derive(Debug, Default)]
struct Model {
    log: Vec<(u32, EventId)>,
    streams: HashMap<u32, u64>,
    appends: HashMap<EventId, (u32, Vec<EventId>, Appended)>,
}

#[derive(Debug, Clone)]
enum Op {
    /// Append `n` new events to stream `s`; `expect`: 0 none, 1 the right version, 2 a wrong one.
    Append { s: u32, n: usize, expect: u8 },
    /// Retry the k-th earlier append exactly.
    Retry { k: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u32..4, 1usize..4, 0u8..3).prop_map(|(s, n, expect)| Op::Append { s, n, expect }),
        1 => any::<usize>().prop_map(|k| Op::Retry { k }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn the_store_agrees_with_the_model(ops in prop::collection::vec(op(), 1..40)) {
        let dir = tempfile::tempdir().expect("tmp");
        // Small chunks, so that conflicts and retries also meet sealed index entries.
        let config = StoreConfig { index_chunk_events: 5, ..StoreConfig::default() };
        let store = Store::open(dir.path(), config).expect("open");
        let mut model = Model::default();
        let mut next_id = 1u128;
        let mut history: Vec<(u32, Option<u64>, Vec<EventId>)> = Vec::new();
        for op in ops {
            let (s, expected, ids) = match op {
                Op::Append { s, n, expect } => {
                    let actual = model.streams.get(&s).copied().unwrap_or(0);
                    let expected = match expect { 0 => None, 1 => Some(actual), _ => Some(actual + 1) };
                    let ids: Vec<EventId> = (0..n).map(|i| EventId(next_id + i as u128)).collect();
                    next_id += n as u128;
                    (s, expected, ids)
                }
                Op::Retry { k } if !history.is_empty() => history[k % history.len()].clone(),
                Op::Retry { .. } => continue,
            };
            history.push((s, expected, ids.clone()));
            let events = ids.iter().map(|id| action(id.0, s, 1)).collect();
            let got = store.append_blocking(req(s, expected, events));
            // What the model says.
            let want = match model.appends.get(&ids[0]) {
                Some((ms, mids, first)) if *ms == s && *mids == ids => Ok(Appended { duplicate: true, ..*first }),
                Some(_) => Err(AppendError::IdReused { id: ids[0] }),
                None => {
                    let actual = model.streams.get(&s).copied().unwrap_or(0);
                    match expected {
                        Some(e) if e != actual => Err(AppendError::Conflict { stream: stream(s), expected: e, actual }),
                        _ => {
                            let first = Seq(model.log.len() as u64 + 1);
                            for id in &ids { model.log.push((s, *id)); }
                            let version = actual + ids.len() as u64;
                            model.streams.insert(s, version);
                            let a = Appended { first, last: Seq(model.log.len() as u64), version, duplicate: false };
                            model.appends.insert(ids[0], (s, ids.clone(), a));
                            Ok(a)
                        }
                    }
                }
            };
            prop_assert_eq!(got, want);
        }
        // The log is the model's log, and it verifies.
        let stored: Vec<(StreamId, EventId)> = store
            .range(Seq(1), Seq(u64::MAX))
            .map(|e| { let e = e.expect("read").event().expect("decode"); (e.stream, e.id) })
            .collect();
        let modelled: Vec<(StreamId, EventId)> = model.log.iter().map(|(s, id)| (stream(*s), *id)).collect();
        prop_assert_eq!(stored, modelled);
        prop_assert_eq!(store.verify(None).expect("verifies").seq, Seq(model.log.len() as u64));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appenders_keep_every_invariant() {
    let dir = tempfile::tempdir().expect("tmp");
    let config = StoreConfig {
        index_chunk_events: 37,
        ..StoreConfig::default()
    };
    let store = Store::open(dir.path(), config).expect("open");
    // 16 appenders, 4 streams, each appending with the version it believes is current:
    // some win, some conflict and retry with the actual version.
    let tasks: Vec<_> = (0..16u32)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut acked = Vec::new();
                let mut believed: HashMap<u32, u64> = HashMap::new();
                for i in 0..30u32 {
                    let s = (w + i) % 4;
                    let id = u128::from(w) << 32 | u128::from(i);
                    loop {
                        let expected = believed.get(&s).copied().unwrap_or(0);
                        match store
                            .append(req(s, Some(expected), vec![action(id, s, w)]))
                            .await
                        {
                            Ok(a) => {
                                believed.insert(s, a.version);
                                acked.push((a.first, EventId(id), s, a.version));
                                break;
                            }
                            Err(AppendError::Conflict {
                                actual,
                                expected: e,
                                ..
                            }) => {
                                assert_ne!(actual, e);
                                believed.insert(s, actual);
                            }
                            Err(e) => panic!("unexpected {e}"),
                        }
                    }
                }
                acked
            })
        })
        .collect();
    let mut acked = Vec::new();
    for t in tasks {
        acked.extend(t.await.expect("join"));
    }
    assert_eq!(acked.len(), 16 * 30);
    let head = store.head();
    assert_eq!(
        head.seq,
        Seq(acked.len() as u64),
        "dense: no gaps, no doubles"
    );
    for (seq, id, s, version) in &acked {
        let e = store
            .get(*seq)
            .expect("read")
            .expect("present")
            .event()
            .expect("decode");
        assert_eq!((e.id, &e.stream, e.version), (*id, &stream(*s), *version));
    }
    for s in 0..4 {
        let versions: Vec<u64> = store
            .read_stream(&stream(s), 1)
            .expect("stream")
            .map(|e| e.expect("read").event().expect("decode").version)
            .collect();
        assert_eq!(versions, (1..=versions.len() as u64).collect::<Vec<_>>());
    }
    assert_eq!(store.verify(None).expect("verifies"), head);
    let (groups, events) = store.stats();
    assert_eq!(events, head.seq.0);
    assert!(groups <= events);
}
