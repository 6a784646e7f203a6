//! The log's layout since store format 4: the records of a committed group packed into
//! sled values ("packs"), and the readers that find events in them.
//!
//! `G ‖ last_seq:u64be` → entries in seq order, each `len:LEB128 ‖ hash(seq):32 ‖
//! record`, `len` being the record's length. A group goes into one pack, or into several
//! of about [`PACK_BYTES`] when it is bigger. An entry's seq is the one embedded in its
//! record ([`codec::peek_seq`]); the key only says where to seek, so a reader looking for
//! seq `s` starts at the first pack whose key is `>= s`. `hash ‖ record` is exactly what a
//! format-3 log value held, and readers hand it out as a sub-slice of the pack, uncopied.
//!
//! Why: sled's cost is per key (a tree entry, a page delta, index nodes), not per byte;
//! one key per batch instead of one per event made raw sled's durable appends 1.3–2.5×
//! faster in `bench-append --packed-experiment` and its files smaller, and custos's
//! appends 1.15–1.3× faster (docs/PERFORMANCE.md).

use custos_core::{codec, Digest, Seq, Timestamp};
use sled::IVec;

use crate::index::postings::{get_varint, put_varint};

/// The key prefix of the packs.
pub const PACK: u8 = b'G';

/// A pack is closed once it holds this many bytes (a group past it takes several).
pub const PACK_BYTES: usize = 64 * 1024;

/// `G ‖ last_seq`.
pub fn key(last: Seq) -> [u8; 9] {
    let mut k = [PACK; 9];
    k[1..].copy_from_slice(&last.0.to_be_bytes());
    k
}

/// The keys of every pack, for a sled range.
pub fn all() -> std::ops::RangeInclusive<[u8; 9]> {
    key(Seq::ZERO)..=key(Seq(u64::MAX))
}

/// A closed pack: its key ([`key`]) and its value.
pub type Pack = ([u8; 9], Vec<u8>);

/// Builds packs from consecutive entries.
#[derive(Debug, Default)]
pub struct PackBuilder {
    buf: Vec<u8>,
    last: Seq,
    closed: Vec<Pack>,
}

impl PackBuilder {
    /// Adds the entry of `seq`; a pack that reaches [`PACK_BYTES`] is closed.
    pub fn push(&mut self, seq: Seq, hash: &Digest, record: &[u8]) {
        put_varint(&mut self.buf, record.len() as u64);
        self.buf.extend_from_slice(&hash.0);
        self.buf.extend_from_slice(record);
        self.last = seq;
        if self.buf.len() >= PACK_BYTES {
            self.close();
        }
    }

    fn close(&mut self) {
        if !self.buf.is_empty() {
            self.closed
                .push((key(self.last), std::mem::take(&mut self.buf)));
        }
    }

    /// The packs closed so far (the one being built stays).
    pub fn take_closed(&mut self) -> Vec<Pack> {
        std::mem::take(&mut self.closed)
    }

    /// Closes the pack being built (if any) and returns every closed pack, in order.
    pub fn finish(&mut self) -> Vec<Pack> {
        self.close();
        self.take_closed()
    }

    /// [`PackBuilder::finish`] into a sled batch.
    pub fn finish_into(&mut self, batch: &mut sled::Batch) {
        for (k, v) in self.finish() {
            batch.insert(&k, v);
        }
    }
}

/// One entry of a pack: its seq and where its `hash ‖ record` lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// The seq embedded in the record.
    pub seq: Seq,
    /// Offset of the hash in the pack.
    pub start: usize,
    /// Length of `hash ‖ record`.
    pub len: usize,
}

/// Why an entry could not be read: the pack is cut short, or the record does not start
/// with a seq.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed(pub &'static str);

/// The entries of a pack, in order; the first malformed one ends them.
pub fn entries(pack: &[u8]) -> impl Iterator<Item = Result<Entry, Malformed>> + '_ {
    let mut pos = 0usize;
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed || pos >= pack.len() {
            return None;
        }
        let entry = entry_at(pack, pos);
        match entry {
            Ok(e) => pos = e.start + e.len,
            Err(_) => failed = true,
        }
        Some(entry)
    })
}

fn entry_at(pack: &[u8], pos: usize) -> Result<Entry, Malformed> {
    let mut rest = &pack[pos..];
    let len = get_varint(&mut rest).ok_or(Malformed("a pack entry's length is cut short"))?;
    let len = usize::try_from(len)
        .ok()
        .filter(|l| *l <= codec::MAX_RECORD_BYTES)
        .ok_or(Malformed("a pack entry's length is out of bounds"))?;
    let start = pack.len() - rest.len();
    let record = rest
        .get(32..32 + len)
        .ok_or(Malformed("a pack entry is cut short"))?;
    let seq = codec::peek_seq(record).ok_or(Malformed("a record without a seq"))?;
    Ok(Entry {
        seq,
        start,
        len: 32 + len,
    })
}

/// `hash ‖ record` split.
pub fn split(value: &[u8]) -> (Digest, &[u8]) {
    let mut hash = [0u8; 32];
    hash.copy_from_slice(&value[..32]);
    (Digest(hash), &value[32..])
}

/// Why a scan stopped.
#[derive(Debug)]
pub enum ScanError {
    /// sled failed.
    Io(sled::Error),
    /// A malformed entry, where the seq `seq` was expected.
    Malformed { seq: Seq, reason: &'static str },
}

impl From<sled::Error> for ScanError {
    fn from(e: sled::Error) -> Self {
        ScanError::Io(e)
    }
}

impl From<ScanError> for crate::ReadError {
    fn from(e: ScanError) -> Self {
        match e {
            ScanError::Io(e) => crate::ReadError::Io(e),
            ScanError::Malformed { seq, reason } => crate::ReadError::Corrupt {
                seq,
                reason: reason.into(),
            },
        }
    }
}

/// The entries of the log from the pack holding `from` on, each as `(seq, hash ‖
/// record)`; see [`Scan::new`].
///
/// Each pack is looked up on its own (the first pack keyed after the one before), not
/// stepped to with one `sled::Iter`: sled 0.34 pages out a page only once its shard of the
/// cache has counted 64 accesses, and an iterator touches each leaf once, so a long scan
/// left hundreds of MiB of leaves resident whatever the cache size. One lookup per pack
/// touches a leaf once per pack it holds (docs/PERFORMANCE.md: reading 2M events kept
/// 344 MiB with an iterator, 40 MiB with a lookup per event).
pub struct Scan {
    tree: sled::Tree,
    /// The key of the last pack read, once one was.
    after: Option<Seq>,
    from: Seq,
    to: Seq,
    /// Whether to leave out entries outside `from..=to` (readers) or only those before
    /// the first at or after `from` (the verifier, which must see a reorder).
    filter: bool,
    pack: Option<(IVec, usize, Seq)>,
    /// The seq after the last entry read, once one was.
    expected: Option<Seq>,
    started: bool,
    done: bool,
}

impl Scan {
    /// Readers: entries with `from <= seq <= to`, in stored order, ending at the first
    /// entry past `to`.
    pub fn range(tree: &sled::Tree, from: Seq, to: Seq) -> Scan {
        Scan::new(tree, from, to, true)
    }

    /// The verifier: every entry after the last one before `from` in the pack that holds
    /// `from`, whatever its seq, to the end of the log.
    pub fn verifying(tree: &sled::Tree, from: Seq) -> Scan {
        Scan::new(tree, from, Seq(u64::MAX), false)
    }

    fn new(tree: &sled::Tree, from: Seq, to: Seq, filter: bool) -> Scan {
        Scan {
            tree: tree.clone(),
            after: None,
            from,
            to,
            filter,
            pack: None,
            expected: None,
            started: false,
            done: to < from,
        }
    }

    /// The seq a malformed entry at `pos` of the pack keyed `last` stands for: after the
    /// entry before it, or after the pack before this one.
    fn expected_at(&self, last: Seq) -> Result<Seq, ScanError> {
        if let Some(s) = self.expected {
            return Ok(s);
        }
        let before = self.tree.range(key(Seq::ZERO)..key(last)).next_back();
        Ok(match before {
            Some(kv) => Seq(crate::keys::trailing_u64(&kv?.0).unwrap_or(0)).next(),
            None => Seq(1),
        })
    }
}

impl Iterator for Scan {
    type Item = Result<(Seq, IVec), ScanError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.done {
                return None;
            }
            let Some((pack, pos, last)) = self.pack.take() else {
                let lo = match self.after {
                    None => self.from,
                    Some(Seq(u64::MAX)) => return None,
                    Some(after) => after.next(),
                };
                match self.tree.range(key(lo)..=key(Seq(u64::MAX))).next()? {
                    Ok((k, v)) => {
                        let last = Seq(crate::keys::trailing_u64(&k).unwrap_or(0));
                        // The range starts at `lo`: a key below it (or one without a
                        // seq) is damage, named rather than read again and again.
                        if last < lo {
                            self.done = true;
                            return Some(Err(ScanError::Malformed {
                                seq: lo,
                                reason: "a pack key below the seq looked up",
                            }));
                        }
                        self.after = Some(last);
                        self.pack = Some((v, 0, last));
                        continue;
                    }
                    Err(e) => {
                        self.done = true;
                        return Some(Err(e.into()));
                    }
                }
            };
            if pos >= pack.len() {
                continue;
            }
            let entry = match entry_at(&pack, pos) {
                Ok(e) => e,
                Err(Malformed(reason)) => {
                    self.done = true;
                    return Some(match self.expected_at(last) {
                        Ok(seq) => Err(ScanError::Malformed { seq, reason }),
                        Err(e) => Err(e),
                    });
                }
            };
            self.pack = Some((pack.clone(), entry.start + entry.len, last));
            self.expected = Some(entry.seq.next());
            let before = entry.seq < self.from;
            if self.filter {
                if entry.seq > self.to {
                    self.done = true;
                    return None;
                }
                if before {
                    continue;
                }
            } else if before && !self.started {
                continue;
            }
            self.started = true;
            return Some(Ok((entry.seq, pack.subslice(entry.start, entry.len))));
        }
    }
}

/// `hash ‖ record` of the event at `seq`, if the log holds it.
pub fn get(tree: &sled::Tree, seq: Seq) -> Result<Option<IVec>, ScanError> {
    match Scan::range(tree, seq, seq).next() {
        Some(Ok((_, v))) => Ok(Some(v)),
        Some(Err(e)) => Err(e),
        None => Ok(None),
    }
}

/// Recording times the search by time has read, `(recorded_at, seq)`: facts about the
/// log below its head, which never change, kept to narrow later searches. Bounded: past
/// [`Times::MAX`] points it starts afresh.
#[derive(Debug, Default)]
pub struct Times(std::collections::BTreeSet<(Timestamp, Seq)>);

impl Times {
    /// The most points kept (about 4 MiB).
    pub const MAX: usize = 65_536;

    fn note(&mut self, at: Timestamp, seq: Seq) {
        if self.0.len() >= Self::MAX {
            self.0.clear();
        }
        self.0.insert((at, seq));
    }

    /// `(lo, hi)` narrowed by what is known: the seq after the last known one recorded
    /// before `at`, and the first known one recorded at or after it.
    fn narrow(&self, at: Timestamp, lo: u64, hi: u64) -> (u64, u64) {
        let below = self.0.range(..(at, Seq::ZERO)).next_back();
        let above = self.0.range((at, Seq::ZERO)..).next();
        let lo = below.map_or(lo, |(_, s)| lo.max(s.0 + 1));
        let hi = above.map_or(hi, |(_, s)| hi.min(s.0));
        (lo.min(hi), hi)
    }
}

/// The first seq up to `head` recorded at or after `at` (`head + 1` if none), by a
/// binary search over the packs: the writer never lets `recorded_at` go backwards along
/// the log, so the log is its own time index (store format 6; before, one key per group
/// beside the pack). About log2(packs) lookups, each reading one pack's entry lengths and
/// a few recording times ([`codec::peek_recorded_at`]), fewer as `known` fills with the
/// times earlier searches read (every pack looked up adds its first and last).
pub fn first_seq_at(
    tree: &sled::Tree,
    head: Seq,
    at: Timestamp,
    known: &std::sync::Mutex<Times>,
) -> Result<Seq, ScanError> {
    if head == Seq::ZERO {
        return Ok(Seq(1));
    }
    let lock = || known.lock().unwrap_or_else(|p| p.into_inner());
    let bounds = lock().narrow(at, 1, head.0 + 1);
    let mut learned = Vec::new();
    let found = search(tree, head, at, bounds, &mut learned);
    let mut known = lock();
    for (t, seq) in learned {
        known.note(t, seq);
    }
    found
}

/// [`first_seq_at`] within `(lo, hi)`; the times read go to `learned`.
fn search(
    tree: &sled::Tree,
    head: Seq,
    at: Timestamp,
    (mut lo, mut hi): (u64, u64),
    learned: &mut Vec<(Timestamp, Seq)>,
) -> Result<Seq, ScanError> {
    // Every seq below `lo` was recorded before `at`; every seq from `hi` to the head, at
    // or after it.
    // The usual question is "now": one look at the head's pack answers it.
    let mut mid = if hi == head.0 + 1 {
        head.0
    } else {
        lo + (hi - lo) / 2
    };
    while lo < hi {
        let (pack, last) = pack_holding(tree, Seq(mid))?;
        let entries: Vec<Entry> =
            entries(&pack)
                .collect::<Result<_, _>>()
                .map_err(|Malformed(reason)| ScanError::Malformed {
                    seq: Seq(mid),
                    reason,
                })?;
        let time = |e: &Entry| {
            codec::peek_recorded_at(&pack[e.start + 32..e.start + e.len]).ok_or(
                ScanError::Malformed {
                    seq: e.seq,
                    reason: "a record without a recording time",
                },
            )
        };
        if let (Some(first), Some(end)) = (entries.first(), entries.last()) {
            if end.seq <= head {
                learned.push((time(first)?, first.seq));
                learned.push((time(end)?, end.seq));
            }
        }
        // The pack's first entry recorded at or after `at`.
        let (mut a, mut b) = (0, entries.len());
        while a < b {
            let m = a + (b - a) / 2;
            if time(&entries[m])? < at {
                a = m + 1;
            } else {
                b = m;
            }
        }
        match entries.get(a) {
            // The whole pack before `at`.
            None => lo = lo.max(last.0 + 1).min(hi),
            // The entry before it was recorded before `at`, and so was every seq before.
            Some(e) if a > 0 => return Ok(Seq(e.seq.0.clamp(lo, hi))),
            Some(e) if e.seq.0 <= mid => hi = hi.min(e.seq.0).max(lo),
            Some(_) => {
                return Err(ScanError::Malformed {
                    seq: Seq(mid),
                    reason: "the pack holding a seq starts after it",
                })
            }
        }
        mid = lo + (hi - lo) / 2;
    }
    Ok(Seq(lo))
}

/// The pack holding `seq` (the first keyed at or after it) and its key's seq.
fn pack_holding(tree: &sled::Tree, seq: Seq) -> Result<(IVec, Seq), ScanError> {
    match tree.range(key(seq)..=key(Seq(u64::MAX))).next() {
        Some(kv) => {
            let (k, v) = kv?;
            Ok((v, Seq(crate::keys::trailing_u64(&k).unwrap_or(0))))
        }
        None => Err(ScanError::Malformed {
            seq,
            reason: "missing from the log",
        }),
    }
}

/// The seq of the last entry of the log (zero if empty). The last pack's key is only
/// trusted if its entries cannot be read.
pub fn last_seq(tree: &sled::Tree) -> Result<Seq, sled::Error> {
    let Some(kv) = tree.range(all()).next_back() else {
        return Ok(Seq::ZERO);
    };
    let (k, v) = kv?;
    let keyed = Seq(crate::keys::trailing_u64(&k).unwrap_or(0));
    let mut last = None;
    for e in entries(&v) {
        match e {
            Ok(e) => last = Some(e.seq),
            Err(_) => return Ok(keyed),
        }
    }
    Ok(last.unwrap_or(keyed))
}

/// Rewrites a format-3 log (`L ‖ seq` → `hash ‖ record`, one key per event) as packs of
/// at most [`PACK_BYTES`]: writes the packs (after removing those of an earlier attempt),
/// flushes, sets the format to 4 in one write, flushes, then removes the old keys
/// ([`remove_legacy`]). The chain covers the records, not the keys, so every hash and the
/// head stay as they were. A crash before the format is set leaves a format-3 store whose
/// next open packs again; after it, old keys left over are removed on the next open.
pub fn repack_legacy(db: &sled::Db, tree: &sled::Tree) -> Result<u64, sled::Error> {
    let stale: Vec<IVec> = tree.range(all()).keys().collect::<Result<_, _>>()?;
    for k in stale {
        tree.remove(k)?;
    }
    let mut builder = PackBuilder::default();
    let mut events = 0u64;
    for kv in tree.range(legacy_key(Seq::ZERO)..=legacy_key(Seq(u64::MAX))) {
        let (k, v) = kv?;
        let seq = Seq(crate::keys::trailing_u64(&k).unwrap_or(0));
        if v.len() < 32 {
            return Err(sled::Error::Unsupported(format!(
                "cannot upgrade the log: the value at seq {seq} is shorter than a hash"
            )));
        }
        let (hash, record) = split(&v);
        builder.push(seq, &hash, record);
        events += 1;
        // Whole packs only: the one being built stays in the builder.
        if events % 4096 == 0 {
            let mut batch = sled::Batch::default();
            for (k, v) in builder.take_closed() {
                batch.insert(&k, v);
            }
            tree.apply_batch(batch)?;
        }
    }
    let mut batch = sled::Batch::default();
    builder.finish_into(&mut batch);
    tree.apply_batch(batch)?;
    db.flush()?;
    // Format 4, whose index is still one table per chunk: format 5 follows.
    tree.insert(crate::keys::META_FORMAT, &[4])?;
    db.flush()?;
    remove_legacy(db, tree)?;
    tracing::info!(events, "upgraded the store to format 4 (packed log)");
    Ok(events)
}

/// Removes the keys of a format-3 log left in a format-4 store (by an upgrade that
/// stopped after setting the format).
pub fn remove_legacy(db: &sled::Db, tree: &sled::Tree) -> Result<(), sled::Error> {
    let range = legacy_key(Seq::ZERO)..=legacy_key(Seq(u64::MAX));
    if tree.range(range.clone()).next().is_none() {
        return Ok(());
    }
    let mut batch = sled::Batch::default();
    let mut n = 0;
    for k in tree.range(range).keys() {
        batch.remove(k?);
        n += 1;
        if n % 10_000 == 0 {
            tree.apply_batch(std::mem::take(&mut batch))?;
        }
    }
    tree.apply_batch(batch)?;
    db.flush()?;
    Ok(())
}

/// A format-3 log key: `L ‖ seq`.
pub fn legacy_key(seq: Seq) -> [u8; 9] {
    let mut k = [crate::keys::LEGACY_LOG; 9];
    k[1..].copy_from_slice(&seq.0.to_be_bytes());
    k
}

/// Tamper tests' tool: `hash ‖ record` of the entry of `seq`, straight from the tree.
pub fn entry_value(tree: &sled::Tree, seq: Seq) -> Result<Option<Vec<u8>>, ScanError> {
    Ok(get(tree, seq)?.map(|v| v.to_vec()))
}

/// A seq, and the `hash ‖ record` to put there (`None`: remove the entry).
pub type Edit = (Seq, Option<Vec<u8>>);

/// Tamper tests' tool: replaces (`Some(hash ‖ record)`) or removes (`None`) the entries
/// of the given seqs, each found in the log as it was before any of these edits, inside
/// their packs. A pack keeps its key unless its last entries are removed (then it is
/// keyed by the last one left, as a writer would have) or all of them (then it is gone).
pub fn edit_entries(tree: &sled::Tree, edits: Vec<Edit>) -> Result<(), sled::Error> {
    let mut by_pack: std::collections::BTreeMap<IVec, Vec<Edit>> = Default::default();
    for (seq, new) in edits {
        let Some(kv) = tree.range(key(seq)..=key(Seq(u64::MAX))).next() else {
            return Err(sled::Error::Unsupported(format!("no pack holds seq {seq}")));
        };
        by_pack.entry(kv?.0).or_default().push((seq, new));
    }
    for (k, edits) in by_pack {
        let pack = tree.get(&k)?.unwrap_or_default();
        let mut out = Vec::with_capacity(pack.len());
        let mut last = None;
        for e in entries(&pack) {
            let e = e.map_err(|m| sled::Error::Unsupported(m.0.into()))?;
            match edits.iter().find(|(s, _)| *s == e.seq) {
                Some((_, None)) => continue,
                Some((_, Some(value))) => {
                    put_varint(&mut out, value.len().saturating_sub(32) as u64);
                    out.extend_from_slice(value);
                }
                None => {
                    let mut len = Vec::new();
                    put_varint(&mut len, (e.len - 32) as u64);
                    out.extend_from_slice(&len);
                    out.extend_from_slice(&pack[e.start..e.start + e.len]);
                }
            }
            last = Some(e.seq);
        }
        let keyed = Seq(crate::keys::trailing_u64(&k).unwrap_or(0));
        tree.remove(&k)?;
        if let Some(last) = last {
            tree.insert(key(last.min(keyed)), out)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use custos_core::{EventId, NewEvent, Payload, PrincipalId, StreamId, TenantId, Timestamp};

    fn record(seq: u64) -> Vec<u8> {
        let e = NewEvent::new(
            EventId(u128::from(seq)),
            PrincipalId::new("staff:a").expect("id"),
            Payload::OnboardingOpened {
                tenant: TenantId::new("acme").expect("id"),
            },
        )
        .place(
            Seq(seq),
            StreamId::new("tenant:acme").expect("id"),
            seq,
            Timestamp(0),
        );
        codec::encode(&e).expect("encode")
    }

    fn tree_with(packs: &[std::ops::RangeInclusive<u64>]) -> sled::Tree {
        let db = sled::Config::new().temporary(true).open().expect("db");
        let tree = db.open_tree("t").expect("tree");
        for p in packs {
            let (mut b, mut batch) = (PackBuilder::default(), sled::Batch::default());
            for s in p.clone() {
                b.push(Seq(s), &Digest([s as u8; 32]), &record(s));
            }
            b.finish_into(&mut batch);
            tree.apply_batch(batch).expect("insert");
        }
        tree
    }

    fn seqs(scan: Scan) -> Vec<u64> {
        scan.map(|r| r.expect("entry").0 .0).collect()
    }

    #[test]
    fn a_range_starts_and_ends_inside_packs() {
        let tree = tree_with(&[1..=3, 4..=4, 5..=9]);
        assert_eq!(
            seqs(Scan::range(&tree, Seq(2), Seq(6))),
            vec![2, 3, 4, 5, 6]
        );
        assert_eq!(seqs(Scan::range(&tree, Seq(4), Seq(4))), vec![4]);
        assert_eq!(seqs(Scan::range(&tree, Seq(9), Seq(20))), vec![9]);
        assert!(seqs(Scan::range(&tree, Seq(10), Seq(20))).is_empty());
        assert!(seqs(Scan::range(&tree, Seq(5), Seq(4))).is_empty());
        let v = get(&tree, Seq(7)).expect("get").expect("present");
        let (hash, rec) = split(&v);
        assert_eq!((hash, rec), (Digest([7; 32]), &record(7)[..]));
        assert_eq!(get(&tree, Seq(10)).expect("get"), None);
        assert_eq!(last_seq(&tree).expect("last"), Seq(9));
        assert_eq!(
            seqs(Scan::verifying(&tree, Seq(3))),
            (3..=9).collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_malformed_entry_is_named_by_the_seq_expected_there() {
        let tree = tree_with(&[1..=3, 4..=6]);
        // Cut the second pack inside its second entry.
        let v = tree.get(key(Seq(6))).expect("get").expect("pack");
        let second = entries(&v).nth(1).expect("entry").expect("ok");
        tree.insert(key(Seq(6)), &v[..second.start + 40])
            .expect("insert");
        let mut scan = Scan::range(&tree, Seq(2), Seq(6));
        let got: Vec<_> = scan.by_ref().take(3).map(|r| r.expect("ok").0 .0).collect();
        assert_eq!(got, vec![2, 3, 4]);
        match scan.next() {
            Some(Err(ScanError::Malformed { seq, .. })) => assert_eq!(seq, Seq(5)),
            other => panic!("{other:?}"),
        }
        assert!(scan.next().is_none());
        // The first entry of a scan: named after the pack before.
        let bad_first = tree_with(&[1..=3]);
        bad_first.insert(key(Seq(5)), &[3u8][..]).expect("insert");
        match Scan::range(&bad_first, Seq(4), Seq(5)).next() {
            Some(Err(ScanError::Malformed { seq, .. })) => assert_eq!(seq, Seq(4)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_verifier_sees_entries_out_of_order() {
        let tree = tree_with(&[1..=3]);
        let (mut b, mut batch) = (PackBuilder::default(), sled::Batch::default());
        for s in [4, 6, 5] {
            b.push(Seq(s), &Digest::GENESIS, &record(s));
        }
        b.finish_into(&mut batch);
        tree.apply_batch(batch).expect("insert");
        assert_eq!(seqs(Scan::verifying(&tree, Seq(4))), vec![4, 6, 5]);
        assert_eq!(seqs(Scan::range(&tree, Seq(4), Seq(5))), vec![4]);
    }

    #[test]
    fn known_times_narrow_a_search_and_are_kept_bounded() {
        let mut known = Times::default();
        assert_eq!(known.narrow(Timestamp(50), 1, 101), (1, 101));
        // seq 10 at t 20, seq 40 at t 50, seq 41 at t 50, seq 90 at t 80.
        for (t, s) in [(20, 10), (50, 40), (50, 41), (80, 90)] {
            known.note(Timestamp(t), Seq(s));
        }
        assert_eq!(known.narrow(Timestamp(50), 1, 101), (11, 40));
        assert_eq!(known.narrow(Timestamp(51), 1, 101), (42, 90));
        assert_eq!(known.narrow(Timestamp(10), 1, 101), (1, 10));
        assert_eq!(known.narrow(Timestamp(99), 1, 101), (91, 101));
        for s in 0..Times::MAX as u64 + 5 {
            known.note(Timestamp(s as i64), Seq(s));
        }
        assert!(known.0.len() <= Times::MAX);
    }
}
