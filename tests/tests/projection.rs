//! The query plans for the access projection give the answers of a plain fold: a tenant
//! folded from the tenant index alone, a principal's accounts through the subject index,
//! and the whole projection started from compacted snapshots, on a demo log whose indexes
//! span sealed chunks and the memtable; and stores of every older format are upgraded
//! without a record or hash changing.

use std::sync::Arc;

use custos_core::access::Access;
use custos_core::{codec, Head, Seq, Timestamp};
use custos_demo::DemoConfig;
use custos_store::{ManualClock, Store, StoreConfig};

/// A demo log with index chunks of 400 events and rounds of tenant checkpoints every 800
/// or so, so that lookups cross many seals and rounds.
fn demo_log(dir: &std::path::Path) -> Store {
    let clock = Arc::new(ManualClock::new(Timestamp(0)));
    let store = Store::open(
        dir,
        StoreConfig {
            clock: clock.clone(),
            ..small_chunks()
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

/// Adds the time index that formats 1–5 kept beside the log (`W ‖ (recorded_at as u64 ^
/// 2^63):u64be ‖ first_seq:u64be` → empty, docs/design.md §3), one entry per pack (a
/// group, unless it took several), read from the packs.
fn add_time_index(db: &sled::Db) {
    let log = db.open_tree("custos").expect("log tree");
    for kv in log.scan_prefix([b'G']) {
        let (_, v) = kv.expect("pack");
        let (mut len, mut shift, mut at) = (0usize, 0, 0);
        loop {
            let b = v[at];
            at += 1;
            len |= usize::from(b & 0x7f) << shift;
            shift += 7;
            if b < 0x80 {
                break;
            }
        }
        let first = codec::decode(&v[at + 32..at + 32 + len]).expect("record");
        let mut key = vec![b'W'];
        key.extend_from_slice(&((first.recorded_at.0 as u64) ^ (1 << 63)).to_be_bytes());
        key.extend_from_slice(&first.seq.0.to_be_bytes());
        log.insert(key, &[]).expect("time entry");
    }
}

/// Puts the log of a format-4 store back into one key per event (`L ‖ seq` → `hash ‖
/// record`), as formats 1–3 kept it, reading the packs as docs/design.md describes them
/// (`G ‖ last seq` → entries `len:LEB128 ‖ hash:32 ‖ record`), with the time index those
/// formats had ([`add_time_index`]); sets the format byte to 3.
/// Returns the packs as they were.
fn unpack_log(db: &sled::Db) -> Vec<(sled::IVec, sled::IVec)> {
    add_time_index(db);
    let log = db.open_tree("custos").expect("log tree");
    let packs: Vec<_> = log
        .scan_prefix([b'G'])
        .collect::<Result<_, _>>()
        .expect("packs");
    for (k, v) in &packs {
        let mut rest = &v[..];
        while !rest.is_empty() {
            let (mut len, mut shift) = (0usize, 0);
            loop {
                let b = rest[0];
                rest = &rest[1..];
                len |= usize::from(b & 0x7f) << shift;
                shift += 7;
                if b < 0x80 {
                    break;
                }
            }
            let (value, after) = rest.split_at(32 + len);
            let seq = codec::decode(&value[32..]).expect("record").seq;
            let mut key = vec![b'L'];
            key.extend_from_slice(&seq.0.to_be_bytes());
            log.insert(key, value).expect("insert");
            rest = after;
        }
        log.remove(k).expect("remove");
    }
    log.insert("Mformat", &[3]).expect("format");
    db.flush().expect("flush");
    packs
}

/// Puts a format-4 store back into the layout of formats 1 and 2: the log in one key per
/// event, and the index chunks, `Mindexed` and the snapshots moved into the log's tree;
/// the format byte set to `format` (1 also drops the subject postings, which format 1
/// did not have). Returns how many keys were moved.
fn back_to_one_tree(db: &sled::Db, format: u8) -> usize {
    unpack_log(db);
    let log = db.open_tree("custos").expect("log tree");
    let mut moved = 0;
    for name in ["custos-index", "custos-snapshots"] {
        let other = db.open_tree(name).expect("tree");
        for kv in other.iter() {
            let (k, v) = kv.expect("kv");
            // Formats 1 and 2 had no tenant checkpoints; format 1 no subject postings.
            let new = [custos_store::raw::CHECKPOINT, custos_store::raw::ROUND]
                .iter()
                .any(|t| k.first() == Some(t))
                || (format == 1 && k.first() == Some(&b'J'));
            if !new {
                log.insert(&k, v).expect("insert");
                moved += 1;
            }
            other.remove(&k).expect("remove");
        }
    }
    log.insert("Mformat", &[format]).expect("format");
    db.flush().expect("flush");
    moved
}

/// sled at `dir`, once the store that had it has let go of its lock (sled's threads hold
/// it a moment after the last handle is dropped), with the store's segment size.
fn open_when_free(dir: &std::path::Path) -> sled::Db {
    let open = || custos_store::sled_config(dir).open();
    for _ in 0..100 {
        if let Ok(db) = open() {
            return db;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    open().expect("sled")
}

/// The store's settings with the chunks of [`demo_log`] (so that an upgrade's re-seal
/// writes several).
fn small_chunks() -> StoreConfig {
    StoreConfig {
        index_chunk_events: 400,
        checkpoint_events: 800,
        ..StoreConfig::default()
    }
}

/// What each tree holds, by first key byte.
fn first_bytes(db: &sled::Db, tree: &str) -> std::collections::BTreeSet<u8> {
    let tree = db.open_tree(tree).expect("tree");
    tree.iter().keys().map(|k| k.expect("key")[0]).collect()
}

#[test]
fn a_store_of_format_1_is_upgraded_with_its_subject_index() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = demo_log(dir.path());
    let head = store.head().seq;
    let (whole, at) = plain_folds(&store, &[head]).remove(0);
    let principals = principals_at_head(&whole, at);
    drop(store);
    // Back to format 1: one tree, no subject postings, the format byte 1.
    {
        let db = open_when_free(dir.path());
        let moved = back_to_one_tree(&db, 1);
        assert!(moved > 50, "{moved} index keys");
        assert!(!first_bytes(&db, "custos").contains(&b'J'));
    }
    let store = Store::open(dir.path(), small_chunks()).expect("reopen and upgrade");
    let mut listed = 0;
    for p in &principals {
        let by_index = store.principal_access_at(p, head).expect("by subject");
        let expected = whole.access_list(p, at);
        assert_eq!(by_index.access_list(p, at), expected, "{p}");
        listed += expected.len();
    }
    assert!(listed > 50, "{listed}");
    drop(store);
    let db = open_when_free(dir.path());
    let tree = db.open_tree("custos").expect("tree");
    assert_eq!(
        tree.get("Mformat").expect("get").as_deref(),
        Some(&[custos_store::raw::STORE_FORMAT][..])
    );
    assert!(first_bytes(&db, "custos-index").contains(&b'J'));
    assert_eq!(first_bytes(&db, "custos"), log_tree_keys());
}

/// The first bytes of the keys of the log's tree since format 6: the packs and the
/// metadata (formats 4 and 5 also had a time index, `'W'`).
fn log_tree_keys() -> std::collections::BTreeSet<u8> {
    [b'G', b'M'].into_iter().collect()
}

/// Every event of the log as stored: seq, hash, record.
fn stored(store: &Store) -> Vec<(Seq, custos_core::Digest, Vec<u8>)> {
    store
        .range(Seq(1), store.head().seq)
        .map(|e| {
            let e = e.expect("read");
            (e.seq, e.hash, e.record().to_vec())
        })
        .collect()
}

#[test]
fn a_store_of_format_3_gets_its_log_packed_with_every_record_and_hash_unchanged() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = demo_log(dir.path());
    let head = store.head();
    let before = stored(&store);
    assert_eq!(before.len() as u64, head.seq.0);
    drop(store);
    {
        let db = open_when_free(dir.path());
        let packs = unpack_log(&db);
        // Groups of the demo's appends, many of more than one event.
        assert!(
            packs.len() > 100 && (packs.len() as u64) < head.seq.0,
            "{}",
            packs.len()
        );
        assert_eq!(
            first_bytes(&db, "custos"),
            [b'L', b'M', b'W'].into_iter().collect()
        );
    }
    let store = Store::open(dir.path(), small_chunks()).expect("reopen and upgrade");
    assert_eq!(store.head(), head);
    assert_eq!(store.verify(Some(head)).expect("verify"), head);
    assert!(stored(&store) == before, "every record and hash as before");
    // The upgraded log takes appends and still verifies.
    let tenant = custos_core::TenantId::new("after-upgrade").expect("tenant");
    let appended = store
        .append_blocking(custos_store::AppendRequest {
            stream: custos_core::StreamId::of("tenant", &tenant).expect("stream"),
            expected: None,
            events: vec![custos_core::NewEvent::new(
                custos_core::EventId(u128::MAX),
                custos_core::PrincipalId::new("staff:csd").expect("id"),
                custos_core::Payload::OnboardingOpened { tenant },
            )],
        })
        .expect("append");
    assert_eq!(appended.first, head.seq.next());
    let new_head = store.head();
    assert_eq!(store.verify(Some(new_head)).expect("verify"), new_head);
    store.close_blocking();
    drop(store);
    let db = open_when_free(dir.path());
    assert_eq!(first_bytes(&db, "custos"), log_tree_keys());
    let tree = db.open_tree("custos").expect("tree");
    assert_eq!(
        tree.get("Mformat").expect("get").as_deref(),
        Some(&[custos_store::raw::STORE_FORMAT][..])
    );
}

#[test]
fn an_upgrade_to_format_4_cut_short_either_side_of_the_format_byte_completes_on_the_next_open() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = demo_log(dir.path());
    let head = store.head();
    let before = stored(&store);
    drop(store);
    // Cut before the format byte: a format-3 log, and some packs already written (here,
    // the first pack again and one more over a range they do not match).
    {
        let db = open_when_free(dir.path());
        let packs = unpack_log(&db);
        let log = db.open_tree("custos").expect("tree");
        let (k, v) = &packs[0];
        log.insert(k, v).expect("insert");
        log.insert(&packs[5].0, packs[1].1.clone()).expect("insert");
        db.flush().expect("flush");
    }
    let store = Store::open(dir.path(), small_chunks()).expect("reopen and upgrade");
    assert_eq!(store.verify(Some(head)).expect("verify"), head);
    assert!(stored(&store) == before);
    drop(store);
    // Cut after the format byte: format 4, with keys of the old log left over.
    {
        let db = open_when_free(dir.path());
        let log = db.open_tree("custos").expect("tree");
        log.insert("Mformat", &[4]).expect("format");
        for (seq, hash, record) in before.iter().take(50) {
            let mut key = vec![b'L'];
            key.extend_from_slice(&seq.0.to_be_bytes());
            let mut value = hash.0.to_vec();
            value.extend_from_slice(record);
            log.insert(key, value).expect("insert");
        }
        db.flush().expect("flush");
        assert!(first_bytes(&db, "custos").contains(&b'L'));
    }
    let store = Store::open(dir.path(), small_chunks()).expect("reopen");
    assert_eq!(store.verify(Some(head)).expect("verify"), head);
    assert!(stored(&store) == before);
    drop(store);
    let db = open_when_free(dir.path());
    assert_eq!(first_bytes(&db, "custos"), log_tree_keys());
}

/// Rewrites a format-5 index tree as format 4 wrote it — one id table per chunk keyed by
/// the chunk's last seq, one postings value per name per chunk likewise, one stream table
/// per chunk —, adds the time index of formats 1–5, and sets the format byte to 4.
fn back_to_format_4(db: &sled::Db) {
    use custos_store::raw::{block_chunk, postings, trailing_u64, ID_TABLE, STREAM_TABLE};
    let index = db.open_tree("custos-index").expect("index tree");
    let mut ids: std::collections::BTreeMap<u64, Vec<u8>> = Default::default();
    let mut lists: std::collections::BTreeMap<Vec<u8>, Vec<u64>> = Default::default();
    let mut streams = std::collections::BTreeSet::new();
    for kv in index.iter() {
        let (k, v) = kv.expect("kv");
        match k[0] {
            ID_TABLE => ids
                .entry(block_chunk(&k).expect("chunk"))
                .or_default()
                .extend_from_slice(&v),
            STREAM_TABLE => {
                streams.insert(block_chunk(&k).expect("chunk"));
            }
            b'M' => continue,
            // Format 4 had no tenant checkpoints.
            custos_store::raw::CHECKPOINT | custos_store::raw::ROUND => {}
            _ => lists
                .entry(k[..k.len() - 8].to_vec())
                .or_default()
                .extend(postings::decode(&v).expect("postings")),
        }
        index.remove(&k).expect("remove");
    }
    let chunks: Vec<u64> = ids.keys().copied().collect();
    assert!(chunks.len() >= 5, "{chunks:?}");
    for (chunk, table) in ids {
        index
            .insert(with_u64(&[ID_TABLE], chunk), table)
            .expect("ids");
    }
    for chunk in streams {
        // A format-4 stream table (its content does not matter: the upgrade clears it).
        index
            .insert(with_u64(&[STREAM_TABLE], chunk), &[0, 0, 0, 0])
            .expect("streams");
    }
    for (prefix, seqs) in lists {
        let mut start = 0;
        for chunk in &chunks {
            let end = seqs.partition_point(|s| s <= chunk);
            if end > start {
                let mut buf = Vec::new();
                postings::encode(&seqs[start..end], &mut buf);
                index
                    .insert(with_u64(&prefix, *chunk), buf)
                    .expect("postings");
            }
            start = end;
        }
    }
    assert!(index
        .iter()
        .keys()
        .all(|k| trailing_u64(&k.expect("k")).is_some()));
    add_time_index(db);
    let log = db.open_tree("custos").expect("log tree");
    log.insert("Mformat", &[4]).expect("format");
    db.flush().expect("flush");
}

fn with_u64(prefix: &[u8], n: u64) -> Vec<u8> {
    custos_store::raw::with_u64(prefix, n)
}

#[test]
fn a_store_of_format_4_gets_its_index_sealed_again_in_blocks() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = demo_log(dir.path());
    let head = store.head();
    let (whole, at) = plain_folds(&store, &[head.seq]).remove(0);
    let principals = principals_at_head(&whole, at);
    let old = store
        .get(Seq(1234))
        .expect("read")
        .expect("1234")
        .event()
        .expect("decode");
    let version = store.stream_version(&old.stream).expect("version");
    assert!(version >= old.version);
    drop(store);
    {
        let db = open_when_free(dir.path());
        back_to_format_4(&db);
    }
    let store = Store::open(dir.path(), small_chunks()).expect("reopen and upgrade");
    // The tables are found again: an old event's id, an old stream's version...
    assert_eq!(store.seq_of_event(old.id).expect("seq of"), Some(Seq(1234)));
    assert_eq!(store.stream_version(&old.stream).expect("version"), version);
    // ... and the postings: every principal's access through the subject index.
    let mut listed = 0;
    for p in &principals {
        let by_index = store.principal_access_at(p, head.seq).expect("by subject");
        let expected = whole.access_list(p, at);
        assert_eq!(by_index.access_list(p, at), expected, "{p}");
        listed += expected.len();
    }
    assert!(listed > 50, "{listed}");
    assert_eq!(store.verify(Some(head)).expect("verify"), head);
    drop(store);
    let db = open_when_free(dir.path());
    let log = db.open_tree("custos").expect("tree");
    assert_eq!(
        log.get("Mformat").expect("get").as_deref(),
        Some(&[custos_store::raw::STORE_FORMAT][..])
    );
    let index = db.open_tree("custos-index").expect("tree");
    let id_keys: Vec<usize> = index
        .scan_prefix([custos_store::raw::ID_TABLE])
        .keys()
        .map(|k| k.expect("k").len())
        .collect();
    assert!(
        id_keys.len() >= 5 && id_keys.iter().all(|l| *l == 25),
        "{id_keys:?}"
    );
}

#[test]
fn a_store_of_format_2_gets_its_index_and_snapshots_moved_out_of_the_log_tree() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = demo_log(dir.path());
    let head = store.head();
    let (whole, at) = plain_folds(&store, &[head.seq]).remove(0);
    let principals = principals_at_head(&whole, at);
    let snapshot = Head {
        seq: Seq(2000),
        hash: store.hash_at(Seq(2000)).expect("hash").expect("at 2000"),
    };
    store
        .put_snapshot(snapshot, b"snapshot bytes")
        .expect("put");
    let retry = store
        .get(Seq(1234))
        .expect("read")
        .expect("1234")
        .event()
        .expect("decode")
        .id;
    drop(store);
    let (index_keys, log_keys) = {
        let db = open_when_free(dir.path());
        let index_keys = first_bytes(&db, "custos-index");
        for b in [b'T', b'A', b'J', b'K', b'e', b's', b'M'] {
            assert!(index_keys.contains(&b), "index tree lacks {}", b as char);
        }
        let log_keys = first_bytes(&db, "custos");
        assert_eq!(
            log_keys,
            log_tree_keys(),
            "the log's tree holds only the log and its metadata"
        );
        assert!(back_to_one_tree(&db, 2) > 50);
        assert_eq!(first_bytes(&db, "custos-index"), Default::default());
        (index_keys, log_keys)
    };

    let store = Store::open(dir.path(), small_chunks()).expect("reopen and upgrade");
    assert_eq!(store.head(), head);
    assert_eq!(store.verify(Some(head)).expect("verify"), head);
    // The sealed index answers as before: subjects, event ids, snapshots.
    for p in &principals {
        let by_index = store.principal_access_at(p, head.seq).expect("by subject");
        assert_eq!(by_index.access_list(p, at), whole.access_list(p, at), "{p}");
    }
    assert_eq!(store.seq_of_event(retry).expect("seq of"), Some(Seq(1234)));
    let (point, bytes) = store
        .snapshot_at_or_before(head.seq)
        .expect("snapshot")
        .expect("kept");
    assert_eq!(
        (point, bytes.as_slice()),
        (snapshot, &b"snapshot bytes"[..])
    );
    drop(store);
    let db = open_when_free(dir.path());
    assert_eq!(first_bytes(&db, "custos"), log_keys);
    assert_eq!(first_bytes(&db, "custos-index"), index_keys);
    assert_eq!(
        first_bytes(&db, "custos-snapshots"),
        [b'P'].into_iter().collect()
    );
}

/// The tenant checkpoints in the index tree: (tenant, seq) → value.
fn checkpoints(db: &sled::Db) -> std::collections::BTreeMap<(String, u64), sled::IVec> {
    let index = db.open_tree("custos-index").expect("index tree");
    index
        .scan_prefix([custos_store::raw::CHECKPOINT])
        .map(|kv| {
            // `k ‖ round_last:u64be ‖ len:u8 ‖ tenant`
            let (k, v) = kv.expect("checkpoint");
            let seq = u64::from_be_bytes(k[1..9].try_into().expect("seq"));
            let len = usize::from(k[9]);
            assert_eq!(k.len(), 10 + len);
            let tenant = String::from_utf8(k[10..].to_vec()).expect("name");
            ((tenant, seq), v)
        })
        .collect()
}

/// The seqs keyed `tag ‖ seq:u64be ‖ …` in the index tree.
fn keyed_seqs(db: &sled::Db, tag: u8) -> std::collections::BTreeSet<u64> {
    let index = db.open_tree("custos-index").expect("index tree");
    index
        .scan_prefix([tag])
        .keys()
        .map(|k| custos_store::raw::block_chunk(&k.expect("key")).expect("seq"))
        .collect()
}

/// The last seqs of the sealed index chunks, from their id tables' keys.
fn chunk_ends(db: &sled::Db) -> std::collections::BTreeSet<u64> {
    keyed_seqs(db, custos_store::raw::ID_TABLE)
}

/// The ends of the rounds of tenant checkpoints, from their markers (`R ‖ seq`).
fn round_ends(db: &sled::Db) -> std::collections::BTreeSet<u64> {
    keyed_seqs(db, custos_store::raw::ROUND)
}

fn checkpoint_key(tenant: &str, seq: u64) -> Vec<u8> {
    let mut k = with_u64(&[custos_store::raw::CHECKPOINT], seq);
    k.push(tenant.len() as u8);
    k.extend_from_slice(tenant.as_bytes());
    k
}

/// Every tenant's view from [`Store::tenant_access_at`] against a plain fold, at `points`
/// and three hours later; returns how many views were some tenant's.
fn tenants_answer_as_a_plain_fold(store: &Store, points: &[Seq]) -> usize {
    let plain = plain_folds(store, points);
    let mut compared = 0;
    for (point, (whole, at)) in points.iter().zip(&plain) {
        for (tenant, _) in whole.tenants() {
            let by_index = store.tenant_access_at(tenant, *point).expect("by index");
            for at in [*at, at.plus_secs(3 * 3600)] {
                let expected = whole.tenant(tenant, at);
                assert_eq!(by_index.tenant(tenant, at), expected, "{tenant} at {point}");
                compared += usize::from(expected.is_some());
            }
        }
    }
    compared
}

#[test]
fn a_tenant_is_answered_from_its_checkpoint_if_its_hash_is_the_logs() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = demo_log(dir.path());
    let head = store.head().seq;
    drop(store);
    let db = open_when_free(dir.path());
    let kept = checkpoints(&db);
    // A round at the first chunk end (chunks of about 400 events) at least 800 events
    // after the round before, keeping the checkpoints of the tenants named since.
    let ends: std::collections::BTreeSet<u64> = kept.keys().map(|(_, s)| *s).collect();
    let chunks = chunk_ends(&db);
    let rounds = round_ends(&db);
    assert!(chunks.len() >= 8, "{chunks:?}");
    assert!(rounds.len() >= 4, "{rounds:?}");
    assert!(rounds.is_subset(&chunks), "{rounds:?} {chunks:?}");
    let mut before = 0;
    for end in &rounds {
        // The first chunk end 800 or more after the round before.
        let first = chunks.iter().find(|c| **c >= before + 800).expect("chunk");
        assert_eq!(end, first, "{rounds:?} {chunks:?}");
        before = *end;
    }
    assert_eq!(ends, rounds, "checkpointed round ends");
    // A tenant checkpointed at a round in the middle and again later: its answer just
    // before its next checkpoint reads the one in the middle.
    let middle = *rounds.iter().nth(rounds.len() / 2).expect("a round");
    let (tenant, point) = kept
        .keys()
        .filter(|(_, s)| *s == middle)
        .find_map(|(t, _)| {
            let next = kept.keys().find(|(u, s)| u == t && *s > middle)?.1;
            Some((t.clone(), Seq(next - 1)))
        })
        .expect("a tenant checkpointed in the middle and later");
    let key = checkpoint_key(&tenant, middle);
    let original = kept[&(tenant.clone(), middle)].clone();
    let index = db.open_tree("custos-index").expect("index tree");
    // As the store keeps a state: LZ4 with the length prepended, of the snapshot encoding.
    let empty = lz4_flex::block::compress_prepend_size(
        &codec::encode_snapshot(&Access::default()).expect("encode"),
    );
    let with_hash = |hash: &[u8]| [hash, &empty[..]].concat();
    let tenant_id = custos_core::TenantId::new(tenant.as_str()).expect("tenant");
    let answer = |store: &Store| {
        let (whole, at) = plain_folds(store, &[point]).remove(0);
        let view = store
            .tenant_access_at(&tenant_id, point)
            .expect("by index")
            .tenant(&tenant_id, at);
        (view, whole.tenant(&tenant_id, at))
    };

    // An empty state in its place, beside the log's hash: the answer is built on it.
    index.insert(&key, with_hash(&original[..32])).expect("put");
    drop((index, db));
    let store = Store::open(dir.path(), small_chunks()).expect("reopen");
    let (view, expected) = answer(&store);
    assert!(expected.is_some());
    assert_ne!(
        view, expected,
        "{tenant} at {point}: the checkpoint was not read"
    );
    drop(store);

    // The same beside another hash: ignored, the answer is the plain fold's.
    let db = open_when_free(dir.path());
    let index = db.open_tree("custos-index").expect("index tree");
    index.insert(&key, with_hash(&[7; 32])).expect("put");
    drop((index, db));
    let store = Store::open(dir.path(), small_chunks()).expect("reopen");
    let (view, expected) = answer(&store);
    assert_eq!(view, expected, "{tenant} at {point}");
    drop(store);

    // Restored, every tenant answers as the plain fold at points before, on and after
    // chunk ends.
    let db = open_when_free(dir.path());
    db.open_tree("custos-index")
        .expect("index tree")
        .insert(&key, original)
        .expect("put");
    drop(db);
    let store = Store::open(dir.path(), small_chunks()).expect("reopen");
    let points: Vec<Seq> = [middle - 1, middle, middle + 1, head.0 - 1, head.0]
        .into_iter()
        .map(Seq)
        .collect();
    let compared = tenants_answer_as_a_plain_fold(&store, &points);
    assert!(compared > 200, "{compared}");
}

#[test]
fn the_sealer_folds_a_tenant_from_the_log_when_its_checkpoints_are_missing() {
    use custos_core::{EventId, NewEvent, Payload, PrincipalId, StreamId, TenantId};
    use custos_store::AppendRequest;
    let dir = tempfile::tempdir().expect("tmp");
    let store = demo_log(dir.path());
    let old_head = store.head().seq;
    let tenants: Vec<TenantId> = plain_folds(&store, &[old_head])[0]
        .0
        .tenants()
        .map(|(t, _)| t.clone())
        .collect();
    drop(store);
    // No checkpoint at all, in a store of the current format (so no upgrade writes them).
    {
        let db = open_when_free(dir.path());
        let index = db.open_tree("custos-index").expect("index tree");
        for (tenant, seq) in checkpoints(&db).into_keys() {
            index.remove(checkpoint_key(&tenant, seq)).expect("remove");
        }
        db.flush().expect("flush");
    }
    // Enough events naming the demo's tenants for another chunk: each tenant's
    // onboarding opened or closed, which only a state with its earlier events shows.
    let store = Store::open(dir.path(), small_chunks()).expect("reopen");
    let actor = PrincipalId::new("staff:checkpoints").expect("actor");
    for i in 0..900u64 {
        let tenant = tenants[i as usize % tenants.len()].clone();
        let payload = if i % 2 == 0 {
            Payload::OnboardingOpened { tenant }
        } else {
            Payload::OnboardingClosed { tenant }
        };
        store
            .append_blocking(AppendRequest {
                stream: StreamId::new(format!("checkpoints:{i}")).expect("stream"),
                expected: Some(0),
                events: vec![NewEvent::new(
                    EventId(u128::MAX - u128::from(i)),
                    actor.clone(),
                    payload,
                )],
            })
            .expect("append");
    }
    let head = store.head().seq;
    drop(store);
    let db = open_when_free(dir.path());
    // A round written since: its checkpoints are the only ones.
    let kept = checkpoints(&db);
    let chunk = *round_ends(&db).last().expect("a round");
    assert!(chunk > old_head.0, "{chunk}");
    assert!(
        kept.keys().all(|(_, s)| *s > old_head.0),
        "{:?}",
        kept.keys()
    );
    assert!(
        kept.len() > 20,
        "{} checkpoints after {old_head}",
        kept.len()
    );
    drop(db);
    let store = Store::open(dir.path(), small_chunks()).expect("reopen");
    let compared = tenants_answer_as_a_plain_fold(&store, &[Seq(chunk), head]);
    assert!(compared > 40, "{compared}");
}

#[test]
fn a_store_of_format_6_gets_its_tenant_checkpoints() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = demo_log(dir.path());
    let head = store.head();
    drop(store);
    let written = {
        let db = open_when_free(dir.path());
        let kept = checkpoints(&db);
        let index = db.open_tree("custos-index").expect("index tree");
        for (tenant, seq) in kept.keys() {
            index.remove(checkpoint_key(tenant, *seq)).expect("remove");
        }
        let log = db.open_tree("custos").expect("log tree");
        log.insert("Mformat", &[6]).expect("format");
        // Format 6 kept `Mhead` in the log's tree.
        let heads = db
            .open_tree(custos_store::raw::HEAD_TREE)
            .expect("head tree");
        let written = heads.remove("Mhead").expect("remove").expect("Mhead");
        log.insert("Mhead", written).expect("Mhead");
        db.flush().expect("flush");
        kept
    };
    assert!(written.len() > 100, "{}", written.len());
    let store = Store::open(dir.path(), small_chunks()).expect("reopen and upgrade");
    assert_eq!(store.verify(Some(head)).expect("verify"), head);
    let compared = tenants_answer_as_a_plain_fold(&store, &[Seq(1000), Seq(2400), head.seq]);
    assert!(compared > 100, "{compared}");
    drop(store);
    let db = open_when_free(dir.path());
    let log = db.open_tree("custos").expect("tree");
    assert_eq!(
        log.get("Mformat").expect("get").as_deref(),
        Some(&[custos_store::raw::STORE_FORMAT][..])
    );
    // `Mhead` moved to its own tree.
    let heads = db
        .open_tree(custos_store::raw::HEAD_TREE)
        .expect("head tree");
    let stored_head = heads.get("Mhead").expect("get").expect("Mhead");
    assert_eq!(custos_store::raw::decode_head(&stored_head), Some(head));
    assert!(log.get("Mhead").expect("get").is_none());
    // The same checkpoints as the sealer wrote, for the same tenants at the same chunks.
    let upgraded = checkpoints(&db);
    assert_eq!(
        upgraded.keys().collect::<Vec<_>>(),
        written.keys().collect::<Vec<_>>()
    );
}
