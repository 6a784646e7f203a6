//! Sealing: the sealer thread writes each frozen memtable as an index chunk, and an open
//! removes a chunk whose sealing a crash cut short (docs/design.md, crash argument).

use custos_core::Seq;

use crate::index::{Chunk, Index, KeyValue, Memtable, META_INDEXED, META_SEALING};
use crate::keys;

/// Writes the chunk ending at `last` without ever holding sled's batch lock for long.
///
/// sled's `apply_batch` holds a lock that every other read and write of the database waits
/// for: one batch of a chunk's ten thousand keys stalled the writer and every reader for
/// 50–130 ms. So the keys go in one by one, between two markers:
///
/// 1. `Msealing = last`, then a flush (which also makes the chunk's events durable: the
///    writer freezes a memtable as soon as its last group is applied);
/// 2. every key of the chunk, then, given the log and the last round of checkpoints, a
///    round of tenant checkpoints at `last` ([`crate::checkpoints::write_round`]), then
///    a flush;
/// 3. `Mindexed = last` with `Msealing` removed, in one (two-key) atomic batch.
///
/// Readers never see the chunk before 3: postings are read up to `Mindexed` (the index's
/// `sealed`), the tables only through the in-memory chunk list. After a crash before 3,
/// the next open finds `Msealing` past `Mindexed` and removes what reached the tree
/// ([`discard_partial_seal`], the chunk's checkpoints with the rest); the events are
/// re-derived from the log as always.
pub fn write_chunk(
    tree: &sled::Tree,
    entries: Vec<KeyValue>,
    last: Seq,
    checkpoints: Option<(&sled::Tree, Seq)>,
) -> Result<(), crate::ReadError> {
    tree.insert(META_SEALING, &last.0.to_be_bytes())?;
    tree.flush()?;
    for (k, v) in entries {
        tree.insert(k, v)?;
    }
    if let Some((log, round)) = checkpoints {
        crate::checkpoints::write_round(log, tree, round, last)?;
    }
    tree.flush()?;
    let mut done = sled::Batch::default();
    done.insert(META_INDEXED, &last.0.to_be_bytes());
    done.remove(META_SEALING);
    tree.apply_batch(done)?;
    Ok(())
}

/// On open, a seal cut short by a crash (`Msealing` past `Mindexed`): removes whatever of
/// its chunk reached the tree. Its keys are those of the same events re-derived from the
/// log (they were flushed before the marker was written).
pub(crate) fn discard_partial_seal(
    log: &sled::Tree,
    tree: &sled::Tree,
    sealed: Seq,
    pending: Seq,
    head: Seq,
) -> Result<(), crate::ReadError> {
    let mut batch = sled::Batch::default();
    if pending > sealed {
        for k in tree
            .scan_prefix(crate::checkpoints::round_prefix(pending))
            .keys()
        {
            batch.remove(k?);
        }
        batch.remove(crate::checkpoints::round_marker(pending));
        if pending <= head {
            let mem = Memtable::from_log(log, sealed.next(), pending)?;
            for (k, _) in mem.chunk(pending).0 {
                batch.remove(k);
            }
        } else {
            // The log ends before the marker (it cannot, short of damage): sweep the
            // tree for keys of that chunk — table blocks name it, postings blocks end
            // within it.
            for k in tree.iter().keys() {
                let k = k?;
                let ours = match k.first() {
                    Some(&keys::ID_TABLE | &keys::STREAM_TABLE) => {
                        keys::block_chunk(&k) == Some(pending.0)
                    }
                    Some(t) if keys::INDEX_PREFIXES.contains(t) => {
                        keys::trailing_u64(&k).is_some_and(|s| s > sealed.0 && s <= pending.0)
                    }
                    _ => false,
                };
                if ours {
                    batch.remove(k);
                }
            }
        }
        tracing::warn!(%sealed, %pending, "removed an index chunk whose sealing a crash cut short");
    }
    batch.remove(META_SEALING);
    tree.apply_batch(batch)?;
    tree.flush()?;
    Ok(())
}

/// The sealer thread: writes each frozen memtable as a chunk ([`write_chunk`]), then moves
/// it from `frozen` to `chunks` and appends its hashes to the filter file. A seal lost in
/// a crash is re-derived from the log on open. Runs until the writer drops its sender.
pub fn run_sealer(
    log: sled::Tree,
    tree: sled::Tree,
    rx: std::sync::mpsc::Receiver<(std::sync::Arc<Memtable>, Seq)>,
    index: std::sync::Arc<std::sync::RwLock<Index>>,
    mut filters: crate::filters::FilterFile,
    checkpoint_events: u64,
) {
    while let Ok((frozen, last)) = rx.recv() {
        let (entries, hashes) = frozen.chunk(last);
        let round = {
            let index = index.read().unwrap_or_else(|p| p.into_inner());
            index.rounds.last().copied().unwrap_or(Seq::ZERO)
        };
        let new_round = last.0 - round.0 >= checkpoint_events;
        let checkpoints = new_round.then_some((&log, round));
        let outcome = write_chunk(&tree, entries, last, checkpoints);
        if outcome.is_ok() {
            // Before the chunk counts as sealed (its ids are in the frozen memtable
            // until then).
            let (ids, streams) = {
                let index = index.read().unwrap_or_else(|p| p.into_inner());
                (index.sealed_ids.clone(), index.sealed_streams.clone())
            };
            ids.add(&hashes.ids);
            streams.add(&hashes.streams);
        }
        let mut index = index.write().unwrap_or_else(|p| p.into_inner());
        match outcome {
            Ok(()) => {
                index.sealed = last;
                index.chunks.push(Chunk::new(&hashes));
                if new_round {
                    index.rounds.push(last);
                }
                index.frozen = None;
                drop(index);
                filters.append(&hashes);
            }
            Err(e) => {
                tracing::error!(error = %e, "sealing an index chunk failed");
                index.failed = Some(e.to_string());
                return;
            }
        }
    }
}

#[cfg(test)]
mod seal_tests {
    use super::*;
    use custos_core::{EventId, NewEvent, Payload, PrincipalId, StreamId, TenantId, Timestamp};

    #[test]
    fn a_sealed_stream_is_found() {
        let db = sled::Config::new().temporary(true).open().expect("db");
        let tree = db.open_tree("t").expect("tree");
        let mut mem = Memtable::default();
        for (i, s) in [(1u64, "session:1"), (2, "session:0")] {
            let e = NewEvent::new(
                EventId(u128::from(i)),
                PrincipalId::new("staff:a").expect("p"),
                Payload::OnboardingOpened {
                    tenant: TenantId::new("t").expect("t"),
                },
            )
            .place(Seq(i), StreamId::new(s).expect("s"), 1, Timestamp(0));
            mem.add(&e);
        }
        let (entries, _) = mem.chunk(Seq(2));
        write_chunk(&tree, entries, Seq(2), None).expect("write");
        // Nothing after the chunk in the log: the index is the chunk alone.
        let log = db.open_tree("log").expect("log");
        let index = Index::open(&log, &tree, Seq(2)).expect("open");
        assert!(index.mem.streams.is_empty());
        for s in ["session:1", "session:0"] {
            let v = index
                .stream_version(&tree, &StreamId::new(s).expect("s"))
                .expect("v");
            assert_eq!(v, 1, "{s}");
        }
        let other = StreamId::new("session:2").expect("s");
        assert_eq!(index.stream_version(&tree, &other).expect("v"), 0);
        assert_eq!(index.seq_of(&tree, EventId(2)).expect("id"), Some(Seq(2)));
        assert_eq!(index.seq_of(&tree, EventId(3)).expect("id"), None);
    }
}

#[cfg(test)]
mod crash_tests {
    use super::*;
    use crate::index::postings;
    use custos_core::{
        codec, Digest, Event, EventId, NewEvent, Payload, PrincipalId, StreamId, TenantId,
        Timestamp,
    };

    /// Ten events over three tenants and two actors, written to `log` as packs.
    fn log_of_ten(log: &sled::Tree) -> Vec<Event> {
        let events: Vec<Event> = (1..=10u64)
            .map(|i| {
                NewEvent::new(
                    EventId(u128::from(i)),
                    PrincipalId::new(format!("staff:{}", i % 2)).expect("p"),
                    Payload::OnboardingOpened {
                        tenant: TenantId::new(format!("t{}", i % 3)).expect("t"),
                    },
                )
                .place(
                    Seq(i),
                    StreamId::new(format!("s:{i}")).expect("s"),
                    1,
                    Timestamp(0),
                )
            })
            .collect();
        let mut batch = sled::Batch::default();
        let mut pack = crate::packs::PackBuilder::default();
        for e in &events {
            let record = codec::encode(e).expect("encode");
            pack.push(e.seq, &Digest([0; 32]), &record);
        }
        pack.finish_into(&mut batch);
        log.apply_batch(batch).expect("log");
        events
    }

    /// A database with [`log_of_ten`] in a log tree beside an empty index tree.
    fn ten_events() -> (sled::Db, sled::Tree, sled::Tree, Vec<Event>) {
        let db = sled::Config::new().temporary(true).open().expect("db");
        let log = db.open_tree("log").expect("log");
        let tree = db.open_tree("index").expect("index");
        let events = log_of_ten(&log);
        (db, log, tree, events)
    }

    /// The keys of the chunk of `events`, ending at the last one.
    fn chunk_of(events: &[Event]) -> Vec<KeyValue> {
        let mut mem = Memtable::default();
        events.iter().for_each(|e| mem.add(e));
        mem.chunk(events.last().expect("events").seq).0
    }

    /// Every seq the tree's tenant postings list for `tenant`, in key order.
    fn sealed_tenant_seqs(tree: &sled::Tree, tenant: &str) -> Vec<u64> {
        tree.scan_prefix(keys::named_prefix(keys::TENANT, tenant))
            .flat_map(|kv| postings::decode(&kv.expect("read").1).expect("postings"))
            .collect()
    }

    #[test]
    fn a_seal_cut_short_leaves_nothing_behind() {
        let (_db, log, tree, events) = ten_events();
        // The sealer of the chunk ending at 6 wrote its marker and every other key, then
        // the process died.
        let entries = chunk_of(&events[..6]);
        assert!(entries.len() > 4, "postings, id and stream tables");
        tree.insert(META_SEALING, &6u64.to_be_bytes())
            .expect("marker");
        for (k, v) in entries.iter().step_by(2) {
            tree.insert(k, v.as_slice()).expect("key");
        }
        let written = crate::checkpoints::write_round(&log, &tree, Seq::ZERO, Seq(6));
        assert_eq!(written.expect("checkpoints"), 3, "one per tenant");

        let index = Index::open(&log, &tree, Seq(10)).expect("open");
        assert_eq!(index.sealed, Seq::ZERO);
        assert!(index.chunks.is_empty());
        assert_eq!(index.mem.len, 10, "every event back in the memtable");
        assert_eq!(
            tree.iter().count(),
            0,
            "the partial chunk and its marker are gone"
        );

        // The next seal ends elsewhere (as after a restart, group boundaries differ): each
        // event is listed once.
        write_chunk(
            &tree,
            chunk_of(&events[..8]),
            Seq(8),
            Some((&log, Seq::ZERO)),
        )
        .expect("seal");
        let checkpoints = tree.scan_prefix([keys::CHECKPOINT]).keys();
        let ends: Vec<u64> = checkpoints
            .map(|k| keys::block_chunk(&k.expect("key")).expect("seq"))
            .collect();
        assert_eq!(
            ends,
            [8, 8, 8],
            "the tenants' checkpoints at the new chunk's end"
        );
        let marker = |at| tree.get(crate::checkpoints::round_marker(Seq(at)));
        assert!(marker(8).expect("get").is_some(), "the round's marker");
        assert!(
            marker(6).expect("get").is_none(),
            "the cut-short round's marker"
        );
        for t in 0..3u64 {
            let want: Vec<u64> = (1..=8).filter(|i| i % 3 == t).collect();
            assert_eq!(sealed_tenant_seqs(&tree, &format!("t{t}")), want, "t{t}");
        }
        let index = Index::open(&log, &tree, Seq(10)).expect("reopen");
        assert_eq!(index.sealed, Seq(8));
        assert_eq!(index.chunks.len(), 1);
        assert_eq!(index.mem.len, 2);
        assert!(tree.get(META_SEALING).expect("get").is_none());
    }

    #[test]
    fn a_seal_whose_marker_stayed_behind_its_checkpoint_is_kept() {
        let (_db, log, tree, events) = ten_events();
        write_chunk(&tree, chunk_of(&events[..6]), Seq(6), None).expect("seal");
        // A marker at the checkpoint itself: the chunk is whole.
        tree.insert(META_SEALING, &6u64.to_be_bytes())
            .expect("marker");
        let index = Index::open(&log, &tree, Seq(10)).expect("open");
        assert_eq!(index.sealed, Seq(6));
        assert_eq!(index.chunks.len(), 1);
        assert_eq!(sealed_tenant_seqs(&tree, "t0"), vec![3, 6]);
        assert!(tree.get(META_SEALING).expect("get").is_none());
    }
}
