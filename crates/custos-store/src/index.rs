//! Secondary indexes without a sled key per event: a memtable, sealed into chunks.
//!
//! Writing one sled key per event per index costs as much as the log record itself (see
//! `docs/PERFORMANCE.md`), so the writer keeps the index entries of the events since the
//! last seal in memory ([`Memtable`]) and, every `index_chunk_events` events, **seals** them
//! into a chunk ([`crate::seal::write_chunk`], on the sealer thread):
//!
//! - tenant, actor, subject and kind postings: per name per chunk, the chunk's seqs for
//!   that name (delta-varint), in blocks of at most [`POSTINGS_BLOCK`] seqs, each keyed
//!   by its last seq — names repeat, so there are few keys;
//! - streams and event ids, which mostly do not repeat: one sorted table per chunk each,
//!   cut into blocks of about [`BLOCK_BYTES`] keyed by their last entry, with a Bloom
//!   filter per chunk kept in memory ([`Chunk`]) so that a lookup opens only the chunks
//!   that may hold its key, and in each one block;
//! - `Mindexed`, the last sealed seq.
//!
//! Why blocks (store format 5): sled keeps a leaf of up to 16 keys as one page, and writes
//! a page over a quarter of a segment (128 KiB then, 2 MiB since [`crate::SEGMENT_BYTES`])
//! to a blob file; a blob page, once read, stays in memory, because
//! sled's cache counts it by the size of its pointer in the log, not of its contents. One
//! table per chunk (3 MiB of ids at 131,072 events) made the index's leaves blobs of up
//! to 28 MiB, all read at open: a 10M-event store took 645 MiB before serving anything,
//! whatever the cache size (docs/PERFORMANCE.md). With blocks, no index value is over a
//! few KiB and no index leaf reaches the blob limit.
//!
//! The memtable is re-derived from the log after `Mindexed` on open, by the same function
//! ([`Memtable::add`]) the writer uses, so the indexes can never disagree with the log.

use foldhash::HashMap;

use custos_core::{Event, EventId, EventKind, Seq, StreamId};

use crate::filters::{ChunkHashes, FilterFile};
use crate::keys;

pub use crate::tables::{find_in_id_table, postings, stream_table};

/// `M indexed` → `seq:u64be`: every event up to here is in sealed chunks.
pub const META_INDEXED: &[u8] = b"Mindexed";
/// `M sealing` → `seq:u64be`: the chunk ending there is being written (see
/// [`crate::seal::write_chunk`]).
pub const META_SEALING: &[u8] = b"Msealing";

/// The most seqs in one postings value (at most ~3 bytes each within a chunk).
pub const POSTINGS_BLOCK: usize = 1024;
/// An id or stream table block is cut once it holds this many bytes (a single stream
/// entry longer than that is a block of its own).
pub const BLOCK_BYTES: usize = 4096;
/// Entries (`id:16 ‖ seq:8`) per id-table block.
const ID_BLOCK: usize = BLOCK_BYTES / 24;

/// The not-yet-sealed index entries.
#[derive(Debug, Default, Clone)]
pub struct Memtable {
    /// Event id → seq.
    pub ids: HashMap<EventId, Seq>,
    /// Stream → (version of its first entry here, seqs).
    pub streams: HashMap<StreamId, (u64, Vec<u64>)>,
    /// Tenant name → seqs.
    pub tenants: HashMap<String, Vec<u64>>,
    /// Actor name → seqs.
    pub actors: HashMap<String, Vec<u64>>,
    /// Subject name → seqs (`Payload::subjects`).
    pub subjects: HashMap<String, Vec<u64>>,
    /// Kind → seqs.
    pub kinds: HashMap<EventKind, Vec<u64>>,
    /// Events held.
    pub len: usize,
}

/// A key of the index tree and its value.
pub type KeyValue = (Vec<u8>, Vec<u8>);

/// Appends `seq` to `name`'s list, allocating the name only the first time.
fn push(map: &mut HashMap<String, Vec<u64>>, name: &str, seq: u64) {
    match map.get_mut(name) {
        Some(list) => list.push(seq),
        None => {
            map.insert(name.to_owned(), vec![seq]);
        }
    }
}

impl Memtable {
    /// Adds one event's entries (events come in seq order).
    pub fn add(&mut self, e: &Event) {
        let seq = e.seq.0;
        self.ids.insert(e.id, e.seq);
        match self.streams.get_mut(&e.stream) {
            Some((_, seqs)) => seqs.push(seq),
            None => {
                self.streams
                    .insert(e.stream.clone(), (e.version, vec![seq]));
            }
        }
        if let Some(t) = e.payload.tenant() {
            push(&mut self.tenants, t.as_str(), seq);
        }
        push(&mut self.actors, e.actor.as_str(), seq);
        for subject in e.payload.subjects() {
            let list = self.subjects.get(subject.as_str());
            // A principal named twice by one event (admin and support) is listed once.
            if list.and_then(|l| l.last()) != Some(&seq) {
                push(&mut self.subjects, subject.as_str(), seq);
            }
        }
        self.kinds.entry(e.kind()).or_default().push(seq);
        self.len += 1;
    }

    /// The keys and values of the chunk ending at `last` — postings, id table, stream
    /// table, each in blocks — and the hashes its filters are built from.
    pub fn chunk(&self, last: Seq) -> (Vec<KeyValue>, ChunkHashes) {
        let mut entries = Vec::new();
        let mut put = |prefix: Vec<u8>, seqs: &[u64]| {
            for block in seqs.chunks(POSTINGS_BLOCK) {
                let mut buf = Vec::new();
                postings::encode(block, &mut buf);
                let block_last = block.last().copied().unwrap_or(last.0);
                entries.push((keys::with_u64(&prefix, block_last), buf));
            }
        };
        for (t, seqs) in &self.tenants {
            put(keys::named_prefix(keys::TENANT, t), seqs);
        }
        for (a, seqs) in &self.actors {
            put(keys::named_prefix(keys::ACTOR, a), seqs);
        }
        for (p, seqs) in &self.subjects {
            put(keys::named_prefix(keys::SUBJECT, p), seqs);
        }
        for (k, seqs) in &self.kinds {
            put(keys::kind_prefix(*k).to_vec(), seqs);
        }
        let mut ids: Vec<(EventId, Seq)> = self.ids.iter().map(|(i, s)| (*i, *s)).collect();
        ids.sort_unstable();
        for block in ids.chunks(ID_BLOCK) {
            let mut table = Vec::with_capacity(block.len() * 24);
            for (id, seq) in block {
                table.extend_from_slice(&id.to_bytes());
                table.extend_from_slice(&seq.0.to_be_bytes());
            }
            let (block_last, _) = block[block.len() - 1];
            entries.push((keys::id_block(last, block_last).to_vec(), table));
        }
        let mut streams: Vec<(&StreamId, &(u64, Vec<u64>))> = self.streams.iter().collect();
        streams.sort_unstable_by(|a, b| a.0.as_str().as_bytes().cmp(b.0.as_str().as_bytes()));
        let mut start = 0;
        let mut bytes = 0;
        for (i, (name, (_, seqs))) in streams.iter().enumerate() {
            // An entry's size, near enough: name, first version, count, deltas.
            bytes += name.as_str().len() + 12 + 3 * seqs.len();
            if bytes >= BLOCK_BYTES || i + 1 == streams.len() {
                let block = &streams[start..=i];
                entries.push((
                    keys::stream_block(last, name.as_str()),
                    stream_table::encode(block),
                ));
                (start, bytes) = (i + 1, 0);
            }
        }
        let stream_hashes = streams
            .iter()
            .map(|(s, _)| name_hash(s.as_str().as_bytes()))
            .collect();
        let first = ids.iter().map(|(_, s)| *s).min().unwrap_or(last);
        let sorted: Vec<EventId> = ids.iter().map(|(id, _)| *id).collect();
        (entries, Chunk::hashes(first, last, &sorted, stream_hashes))
    }

    /// The entries of the events in `[from, to]`, read from the log.
    pub(crate) fn from_log(
        log: &sled::Tree,
        from: Seq,
        to: Seq,
    ) -> Result<Memtable, crate::ReadError> {
        let mut mem = Memtable::default();
        for entry in crate::packs::Scan::range(log, from, to) {
            let (seq, v) = entry?;
            let (_, record) = crate::packs::split(&v);
            let event =
                custos_core::codec::decode(record).map_err(|e| crate::ReadError::Corrupt {
                    seq,
                    reason: e.to_string(),
                })?;
            mem.add(&event);
        }
        Ok(mem)
    }
}

/// A Bloom filter over 64-bit hashes (about 1% false positives).
#[derive(Debug, Clone)]
pub struct Filter {
    bits: Vec<u64>,
}

const BLOOM_BITS_PER_KEY: usize = 10;
const BLOOM_HASHES: u64 = 7;

fn mix(mut z: u64) -> u64 {
    // splitmix64's finaliser: keys that are not random (tests, counters) still spread.
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

pub(crate) fn id_hash(id: EventId) -> u64 {
    mix(id.0 as u64 ^ mix((id.0 >> 64) as u64))
}

/// FNV-1a, then mixed: stored in the filter file, so it must not change between builds
/// (std's `DefaultHasher` may).
pub(crate) fn name_hash(name: &[u8]) -> u64 {
    let h = name.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    mix(h)
}

/// The bits a key's hash sets in a Bloom filter of `words` 64-bit words (double hashing).
fn bit_positions(h1: u64, words: usize) -> impl Iterator<Item = u64> {
    let nbits = (words * 64) as u64;
    let h2 = mix(h1) | 1;
    (0..BLOOM_HASHES).map(move |i| h1.wrapping_add(i.wrapping_mul(h2)) % nbits)
}

impl Filter {
    fn new(hashes: &[u64]) -> Filter {
        let words = (hashes.len().max(1) * BLOOM_BITS_PER_KEY).div_ceil(64);
        let mut f = Filter {
            bits: vec![0u64; words],
        };
        for h in hashes {
            for b in f.positions(*h) {
                f.bits[(b / 64) as usize] |= 1 << (b % 64);
            }
        }
        f
    }

    fn positions(&self, h1: u64) -> impl Iterator<Item = u64> {
        bit_positions(h1, self.bits.len())
    }

    /// False if the key surely is not in the set.
    fn may_hold(&self, h: u64) -> bool {
        self.positions(h)
            .all(|b| self.bits[(b / 64) as usize] & (1 << (b % 64)) != 0)
    }
}

/// What is kept in memory of one sealed chunk: filters over its id and stream tables.
#[derive(Debug, Clone)]
pub struct Chunk {
    /// Last seq of the chunk (the tables' key).
    pub last: Seq,
    id_min: EventId,
    id_max: EventId,
    ids: Filter,
    streams: Filter,
}

impl Chunk {
    /// The chunk ending at `last`, from its ids (sorted) and its streams' name hashes.
    pub fn hashes(first: Seq, last: Seq, ids: &[EventId], streams: Vec<u64>) -> ChunkHashes {
        ChunkHashes {
            first,
            last,
            id_min: ids.first().copied().unwrap_or(EventId(u128::MAX)),
            id_max: ids.last().copied().unwrap_or(EventId(0)),
            ids: ids.iter().map(|id| id_hash(*id)).collect(),
            streams,
        }
    }

    /// The in-memory part of the chunk whose hashes are `h`.
    pub fn new(h: &ChunkHashes) -> Chunk {
        Chunk {
            last: h.last,
            id_min: h.id_min,
            id_max: h.id_max,
            ids: Filter::new(&h.ids),
            streams: Filter::new(&h.streams),
        }
    }

    fn may_hold_id(&self, id: EventId) -> bool {
        id >= self.id_min && id <= self.id_max && self.ids.may_hold(id_hash(id))
    }

    fn may_hold_stream(&self, stream: &StreamId) -> bool {
        self.streams.may_hold(name_hash(stream.as_str().as_bytes()))
    }
}

/// One Bloom filter over every sealed chunk's ids (or streams), so that an id or a stream
/// not yet in the log — what almost every append brings — is told apart with one look
/// rather than one per chunk (300 chunks at 10M events, each look a cache miss).
///
/// It grows as a list of filters, each twice the capacity of the one before (a *scalable*
/// Bloom filter): a look checks a handful of them, and nothing is ever rebuilt. Bits are
/// set atomically by the sealer without holding the index lock, before the chunk they
/// come from is moved to "sealed" under that lock — until then its ids are still found in
/// the frozen memtable.
#[derive(Debug)]
pub struct Summary {
    filters: std::sync::RwLock<Vec<std::sync::Arc<SummaryFilter>>>,
}

#[derive(Debug)]
struct SummaryFilter {
    bits: Vec<std::sync::atomic::AtomicU64>,
    capacity: usize,
    len: std::sync::atomic::AtomicUsize,
}

impl SummaryFilter {
    fn new(capacity: usize) -> SummaryFilter {
        let words = (capacity.max(1) * BLOOM_BITS_PER_KEY).div_ceil(64);
        SummaryFilter {
            bits: (0..words)
                .map(|_| std::sync::atomic::AtomicU64::new(0))
                .collect(),
            capacity,
            len: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    fn positions(&self, h1: u64) -> impl Iterator<Item = u64> {
        bit_positions(h1, self.bits.len())
    }

    fn may_hold(&self, h: u64) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        self.positions(h)
            .all(|b| self.bits[(b / 64) as usize].load(Relaxed) & (1 << (b % 64)) != 0)
    }
}

/// The first summary filter's capacity; each next one doubles it.
const SUMMARY_FIRST: usize = 1 << 18;

impl Default for Summary {
    fn default() -> Summary {
        Summary {
            filters: std::sync::RwLock::new(Vec::new()),
        }
    }
}

impl Summary {
    /// Adds hashes (only the sealer does, one chunk at a time).
    pub fn add(&self, hashes: &[u64]) {
        use std::sync::atomic::Ordering::Relaxed;
        let mut rest = hashes;
        while !rest.is_empty() {
            let last = self.read().last().cloned();
            let filter = match last {
                Some(f) if f.len.load(Relaxed) < f.capacity => f,
                full => {
                    let capacity = full.map_or(SUMMARY_FIRST, |f| f.capacity * 2);
                    let f = std::sync::Arc::new(SummaryFilter::new(capacity));
                    self.filters
                        .write()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(f.clone());
                    f
                }
            };
            let room = filter.capacity - filter.len.load(Relaxed);
            let (now, later) = rest.split_at(room.min(rest.len()));
            for h in now {
                for b in filter.positions(*h) {
                    filter.bits[(b / 64) as usize].fetch_or(1 << (b % 64), Relaxed);
                }
            }
            filter.len.fetch_add(now.len(), Relaxed);
            rest = later;
        }
    }

    /// False if no chunk holds the key.
    fn may_hold(&self, h: u64) -> bool {
        self.read().iter().any(|f| f.may_hold(h))
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<std::sync::Arc<SummaryFilter>>> {
        self.filters.read().unwrap_or_else(|p| p.into_inner())
    }
}

/// `(first version, seqs)` of `stream` in the sealed chunk ending at `chunk`: the chunk's
/// first stream block whose last name is not below the stream's, searched.
fn find_stream(
    tree: &sled::Tree,
    chunk: Seq,
    stream: &StreamId,
) -> Result<Option<(u64, Vec<u64>)>, sled::Error> {
    let from = keys::stream_block(chunk, stream.as_str());
    let to = keys::with_u64(&[keys::STREAM_TABLE], chunk.0.saturating_add(1));
    match tree.range(from..to).next() {
        Some(kv) => Ok(stream_table::find(&kv?.1, stream.as_str())),
        None => Ok(None),
    }
}

/// The whole index state: shared by the writer, the sealer and readers.
///
/// Seqs are covered in three layers, without overlap: sealed chunks up to `sealed`; the
/// `frozen` memtable (being sealed by the sealer thread) up to `frozen_last`; the active
/// memtable after that.
#[derive(Debug, Default)]
pub struct Index {
    /// Entries of the durable events after `frozen_last`.
    pub mem: Memtable,
    /// Entries of the events in `(sealed, frozen_last]`, while the sealer writes them.
    pub frozen: Option<std::sync::Arc<Memtable>>,
    /// The last seq of `frozen` (equal to `sealed` when nothing is frozen).
    pub frozen_last: Seq,
    /// The last seq held in sealed chunks.
    pub sealed: Seq,
    /// The in-memory part of every sealed chunk, oldest first.
    pub chunks: Vec<Chunk>,
    /// The ends of the rounds of tenant checkpoints, oldest first (`crate::checkpoints`).
    pub rounds: Vec<Seq>,
    /// The ids of every sealed chunk.
    pub sealed_ids: std::sync::Arc<Summary>,
    /// The streams of every sealed chunk.
    pub sealed_streams: std::sync::Arc<Summary>,
    /// Why sealing failed, if it did (the writer then refuses appends until reopened).
    pub failed: Option<String>,
}

impl Index {
    /// Loads the sealed part from the index tree and re-derives the memtable from the
    /// log up to `head` (the filters from the tables: no filter file).
    #[cfg(test)]
    pub fn open(log: &sled::Tree, tree: &sled::Tree, head: Seq) -> Result<Index, crate::ReadError> {
        Ok(Index::load(log, tree, head, None)?.0)
    }

    /// As [`Index::open`], with the filters read from the filter file at `filters` as far
    /// as it is whole and agrees with the tree (`crate::filters`), the rest rebuilt from
    /// the tables and written back; returns the file for the sealer to append to.
    pub fn open_with_filters(
        log: &sled::Tree,
        tree: &sled::Tree,
        head: Seq,
        filters: &std::path::Path,
    ) -> Result<(Index, FilterFile), crate::ReadError> {
        let (index, keep, rebuilt) = Index::load(log, tree, head, Some(filters))?;
        if !rebuilt.is_empty() {
            tracing::info!(
                chunks = rebuilt.len(),
                "index filters rebuilt from the tables"
            );
        }
        Ok((index, FilterFile::open(filters, keep, &rebuilt)))
    }

    /// The index, how much of the filter file at `filters` it used, and the hashes of the
    /// chunks it rebuilt from their tables (all of them without a file).
    fn load(
        log: &sled::Tree,
        tree: &sled::Tree,
        head: Seq,
        filters: Option<&std::path::Path>,
    ) -> Result<(Index, u64, Vec<ChunkHashes>), crate::ReadError> {
        let sealed = tree
            .get(META_INDEXED)?
            .and_then(|v| keys::trailing_u64(&v))
            .map_or(Seq::ZERO, Seq);
        if let Some(pending) = tree.get(META_SEALING)?.and_then(|v| keys::trailing_u64(&v)) {
            crate::seal::discard_partial_seal(log, tree, sealed, Seq(pending), head)?;
        }
        let (sealed_ids, sealed_streams) = (Summary::default(), Summary::default());
        let mut chunks = Vec::new();
        let mut add = |h: &ChunkHashes| {
            sealed_ids.add(&h.ids);
            sealed_streams.add(&h.streams);
            chunks.push(Chunk::new(h));
        };
        // The filter file, as far as it continues chunk after chunk and the tree has a
        // chunk ending where each record ends.
        let mut covered = Seq::ZERO;
        let mut tree_error = None;
        let keep = match filters {
            Some(path) => crate::filters::read(path, |h| {
                let in_tree = match tree
                    .scan_prefix(keys::with_u64(&[keys::ID_TABLE], h.last.0))
                    .next()
                {
                    Some(Ok(_)) => true,
                    Some(Err(e)) => {
                        tree_error = Some(e);
                        false
                    }
                    None => false,
                };
                let ok = h.first == covered.next() && h.last <= sealed && in_tree;
                if ok {
                    add(&h);
                    covered = h.last;
                }
                ok
            })
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "cannot read the index filter file; rebuilding it");
                0
            }),
            None => 0,
        };
        if let Some(e) = tree_error {
            return Err(e.into());
        }
        // The chunks after those, from their tables: streams' name hashes first, then
        // ids, one chunk at a time (the blocks come in key order: chunk by chunk, ids
        // ascending), so that only one chunk's ids are held at once.
        let after = |table: u8| {
            tree.range(
                keys::with_u64(&[table], covered.0 + 1)
                    ..keys::with_u64(&[table], sealed.0.saturating_add(1)),
            )
        };
        let mut streams: std::collections::BTreeMap<u64, Vec<u64>> = Default::default();
        for kv in after(keys::STREAM_TABLE) {
            let (k, block) = kv?;
            if let Some(chunk) = keys::block_chunk(&k) {
                let names = stream_table::names(&block).map(name_hash);
                streams.entry(chunk).or_default().extend(names);
            }
        }
        let mut rebuilt = Vec::new();
        let mut finish = |last: u64, ids: Vec<EventId>| {
            let first = rebuilt
                .last()
                .map_or(covered, |h: &ChunkHashes| h.last)
                .next();
            let h = Chunk::hashes(
                first,
                Seq(last),
                &ids,
                streams.remove(&last).unwrap_or_default(),
            );
            add(&h);
            rebuilt.push(h);
        };
        let mut current: Option<(u64, Vec<EventId>)> = None;
        for kv in after(keys::ID_TABLE) {
            let (k, block) = kv?;
            let Some(chunk) = keys::block_chunk(&k) else {
                continue;
            };
            if current.as_ref().is_some_and(|(c, _)| *c != chunk) {
                if let Some((c, ids)) = current.take() {
                    finish(c, ids);
                }
            }
            let (_, ids) = current.get_or_insert_with(|| (chunk, Vec::new()));
            ids.extend(
                block
                    .chunks_exact(24)
                    .map(|c| EventId(u128::from_be_bytes(c[..16].try_into().unwrap_or([0; 16])))),
            );
        }
        if let Some((c, ids)) = current {
            finish(c, ids);
        }
        let mem = Memtable::from_log(log, sealed.next(), head)?;
        let rounds = crate::checkpoints::rounds(tree, sealed)?;
        let index = Index {
            mem,
            frozen: None,
            frozen_last: sealed,
            sealed,
            chunks,
            rounds,
            sealed_ids: std::sync::Arc::new(sealed_ids),
            sealed_streams: std::sync::Arc::new(sealed_streams),
            failed: None,
        };
        Ok((index, keep, rebuilt))
    }

    fn may_hold_sealed_stream(&self, stream: &StreamId) -> bool {
        self.sealed_streams
            .may_hold(name_hash(stream.as_str().as_bytes()))
    }

    /// The active memtable, then the frozen one: newest first.
    pub fn memtables(&self) -> impl Iterator<Item = &Memtable> {
        std::iter::once(&self.mem).chain(self.frozen.as_deref())
    }

    /// Where `id` was appended: the memtable, then the sealed id tables whose range and
    /// filter admit it, newest first.
    pub fn seq_of(&self, tree: &sled::Tree, id: EventId) -> Result<Option<Seq>, sled::Error> {
        if let Some(s) = self.memtables().find_map(|m| m.ids.get(&id)) {
            return Ok(Some(*s));
        }
        if !self.sealed_ids.may_hold(id_hash(id)) {
            return Ok(None);
        }
        for chunk in self.chunks.iter().rev().filter(|c| c.may_hold_id(id)) {
            // The chunk's first block whose last id is not below `id`.
            let from = keys::id_block(chunk.last, id);
            let to = keys::id_block(chunk.last, EventId(u128::MAX));
            if let Some(kv) = tree.range(from..=to).next() {
                if let Some(seq) = find_in_id_table(&kv?.1, id) {
                    return Ok(Some(seq));
                }
            }
        }
        Ok(None)
    }

    /// `(version, seq)` of every event of `stream`, oldest first (memtable included).
    pub fn stream_entries(
        &self,
        tree: &sled::Tree,
        stream: &StreamId,
    ) -> Result<Vec<(u64, u64)>, sled::Error> {
        let mut out = Vec::new();
        let sealed = self.may_hold_sealed_stream(stream);
        for chunk in self
            .chunks
            .iter()
            .filter(|c| sealed && c.may_hold_stream(stream))
        {
            if let Some((first, seqs)) = find_stream(tree, chunk.last, stream)? {
                out.extend(
                    seqs.into_iter()
                        .enumerate()
                        .map(|(i, s)| (first + i as u64, s)),
                );
            }
        }
        let memtables: Vec<&Memtable> = self.memtables().collect();
        for m in memtables.into_iter().rev() {
            if let Some((first, seqs)) = m.streams.get(stream) {
                out.extend(seqs.iter().enumerate().map(|(i, s)| (first + i as u64, *s)));
            }
        }
        Ok(out)
    }

    /// The stream's current version (0 if it has no events): the active memtable, the
    /// frozen one, else the newest sealed table that holds it.
    pub fn stream_version(&self, tree: &sled::Tree, stream: &StreamId) -> Result<u64, sled::Error> {
        if let Some((first, seqs)) = self.memtables().find_map(|m| m.streams.get(stream)) {
            return Ok(first + seqs.len() as u64 - 1);
        }
        if !self.may_hold_sealed_stream(stream) {
            return Ok(0);
        }
        for chunk in self
            .chunks
            .iter()
            .rev()
            .filter(|c| c.may_hold_stream(stream))
        {
            if let Some((first, seqs)) = find_stream(tree, chunk.last, stream)? {
                return Ok(first + seqs.len() as u64 - 1);
            }
        }
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_grows_without_false_negatives() {
        let summary = Summary::default();
        let members: Vec<u64> = (0..600_000u128).map(|i| id_hash(EventId(i * 3))).collect();
        for part in members.chunks(50_000) {
            summary.add(part);
        }
        assert_eq!(summary.read().len(), 2, "2^18 then 2^19 ids");
        assert!(members.iter().all(|h| summary.may_hold(*h)));
        let false_pos = (0..100_000u128)
            .filter(|i| summary.may_hold(id_hash(EventId(i * 3 + 1))))
            .count();
        assert!(false_pos < 3_000, "{false_pos} false positives in 100,000");
    }

    #[test]
    fn a_big_chunk_is_written_in_small_blocks_and_every_key_is_found() {
        use custos_core::{NewEvent, Payload, PrincipalId, TenantId, Timestamp};
        let db = sled::Config::new().temporary(true).open().expect("db");
        let tree = db.open_tree("index").expect("tree");
        // 20,000 events: ids scattered, 5,000 streams of 4 events (one of 2,000), one
        // tenant and one kind on every event.
        let mut mem = Memtable::default();
        let stream_of = |i: u64| match i % 10 {
            0 => "tenant:big".to_owned(),
            _ => format!("grant:{:05}", i % 5_000),
        };
        let id_of = |i: u64| EventId(u128::from(i).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c));
        let mut versions: HashMap<String, u64> = HashMap::default();
        for i in 1..=20_000u64 {
            let stream = stream_of(i);
            let v = versions.entry(stream.clone()).or_default();
            *v += 1;
            let e = NewEvent::new(
                id_of(i),
                PrincipalId::new("staff:a").expect("p"),
                Payload::OnboardingOpened {
                    tenant: TenantId::new("t").expect("t"),
                },
            )
            .place(Seq(i), StreamId::new(&stream).expect("s"), *v, Timestamp(0));
            mem.add(&e);
        }
        let (entries, _) = mem.chunk(Seq(20_000));
        for (k, v) in &entries {
            // One stream's entry may exceed a block by itself: "tenant:big" (2,000 seqs).
            let bound = if k[0] == keys::STREAM_TABLE {
                8 * BLOCK_BYTES
            } else {
                BLOCK_BYTES
            };
            assert!(v.len() <= bound, "{} bytes under {:?}", v.len(), &k[..1]);
        }
        let blocks = |tag: u8| entries.iter().filter(|(k, _)| k[0] == tag).count();
        assert!(
            blocks(keys::ID_TABLE) >= 20_000 * 24 / BLOCK_BYTES,
            "id blocks"
        );
        assert!(blocks(keys::STREAM_TABLE) > 10, "stream blocks");
        assert_eq!(blocks(keys::TENANT), 20_000usize.div_ceil(POSTINGS_BLOCK));
        crate::seal::write_chunk(&tree, entries, Seq(20_000), None).expect("seal");
        let log = db.open_tree("log").expect("log");
        let index = Index::open(&log, &tree, Seq(20_000)).expect("open");
        assert_eq!(index.chunks.len(), 1);
        for i in (1..=20_000u64).step_by(7) {
            assert_eq!(
                index.seq_of(&tree, id_of(i)).expect("id"),
                Some(Seq(i)),
                "{i}"
            );
        }
        assert_eq!(index.seq_of(&tree, EventId(3)).expect("id"), None);
        let mut names: Vec<(&String, &u64)> = versions.iter().collect();
        names.sort();
        // Every 13th stream, the big one (first) included.
        for (name, v) in names.into_iter().rev().step_by(13) {
            let stream = StreamId::new(name).expect("s");
            assert_eq!(
                index.stream_version(&tree, &stream).expect("v"),
                *v,
                "{name}"
            );
            let entries = index.stream_entries(&tree, &stream).expect("entries");
            let want: Vec<u64> = (1..=20_000u64).filter(|i| stream_of(*i) == *name).collect();
            assert_eq!(
                entries.iter().map(|(_, s)| *s).collect::<Vec<_>>(),
                want,
                "{name}"
            );
        }
        for absent in ["grant:99999", "a", "zzz"] {
            let stream = StreamId::new(absent).expect("s");
            assert_eq!(
                index.stream_version(&tree, &stream).expect("v"),
                0,
                "{absent}"
            );
        }
        let tenant: Vec<u64> = tree
            .scan_prefix(keys::named_prefix(keys::TENANT, "t"))
            .flat_map(|kv| postings::decode(&kv.expect("read").1).expect("postings"))
            .collect();
        assert_eq!(tenant, (1..=20_000).collect::<Vec<_>>());
    }

    #[test]
    fn filters_have_no_false_negatives_and_few_false_positives() {
        let hashes: Vec<u64> = (0..10_000u128)
            .map(|i| id_hash(EventId(i * 7 + 3)))
            .collect();
        let f = Filter::new(&hashes);
        assert!(hashes.iter().all(|h| f.may_hold(*h)));
        let false_pos = (0..10_000u128)
            .filter(|i| f.may_hold(id_hash(EventId(i * 7 + 4))))
            .count();
        assert!(false_pos < 300, "{false_pos} false positives in 10000");
    }
}
