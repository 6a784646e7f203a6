//! The key layout of the store's four sled trees (byte by byte in `docs/design.md`).
//!
//! - [`LOG_TREE`]: the log's packs (`crate::packs`), the head and other metadata, the
//!   consumers — small values; one sled write (an `insert` of one pack, an `apply_batch`
//!   of several) writes a group's records atomically. The log is its own time index
//!   (`crate::packs::first_seq_at`).
//! - [`INDEX_TREE`]: the sealed index chunks (postings, id and stream tables), the
//!   tenant checkpoints, `Mindexed` and `Msealing`, written by the sealer
//!   (`seal::write_chunk`).
//! - [`SNAPSHOT_TREE`]: projection snapshots (outside the chain).
//! - [`HEAD_TREE`]: `Mhead` alone, which the flusher writes after every flush.
//!
//! The bulky values live apart from the log because sled rewrites a whole leaf (up to
//! 16 entries) when it splits or consolidates it, and writes a leaf over a quarter of a
//! segment (128 KiB with sled's default segments) as a blob file: in one tree the leaf at the log's tail also held the first index tables or
//! snapshots after it, and every few groups rewrote megabytes (docs/PERFORMANCE.md).

use custos_core::{Digest, EventId, EventKind, Head, Seq};

/// The log of store formats 1–3, one key per event: `L ‖ seq:u64be` → `hash(seq):32 ‖
/// record`. Read only to upgrade such a store (the log is now in packs, `crate::packs`).
pub const LEGACY_LOG: u8 = b'L';
/// Tenant postings: `T ‖ len:u8 ‖ tenant ‖ block_last_seq:u64be` → postings of at most
/// `index::POSTINGS_BLOCK` seqs, the last being `block_last_seq` (store format 5; before,
/// one value per chunk keyed by the chunk's last seq — either way every seq of a value is
/// at most its key's and above the key before it).
pub const TENANT: u8 = b'T';
/// Actor postings: `A ‖ len:u8 ‖ actor ‖ block_last_seq:u64be` → postings.
pub const ACTOR: u8 = b'A';
/// Subject postings (store format 2): `J ‖ len:u8 ‖ principal ‖ block_last_seq:u64be` →
/// postings of the events naming the principal as a subject (`Payload::subjects`).
pub const SUBJECT: u8 = b'J';
/// Kind postings: `K ‖ kind:u16be ‖ block_last_seq:u64be` → postings.
pub const KIND: u8 = b'K';
/// Sealed event-id table, in blocks: `e ‖ chunk_last_seq:u64be ‖ last_id:u128be` →
/// `(id:u128be ‖ seq:u64be)*`, sorted, at most `index::BLOCK_BYTES`.
pub const ID_TABLE: u8 = b'e';
/// Sealed stream table, in blocks: `s ‖ chunk_last_seq:u64be ‖ last_name` → a table of
/// the streams up to that name (`index::stream_table`), about `index::BLOCK_BYTES`.
pub const STREAM_TABLE: u8 = b's';
/// The time index of store formats 1–5, one entry per group: `W ‖ recorded_at:u64be
/// (offset) ‖ first_seq:u64be` → empty. Removed by the upgrade to format 6, which finds
/// times by a binary search over the log (`crate::packs::first_seq_at`).
pub const LEGACY_TIME: u8 = b'W';
/// Tenant checkpoint (store format 7): `k ‖ round_last_seq:u64be ‖ len:u8 ‖ tenant` →
/// `hash(round_last_seq):32 ‖ lz4(snapshot)` — the tenant's part of the access projection
/// at the end of a round of checkpoints in which it is named (`crate::checkpoints`).
/// Outside the chain.
pub const CHECKPOINT: u8 = b'k';
/// A round of tenant checkpoints (store format 7): `R ‖ last_seq:u64be` → empty, written
/// with the round's checkpoints ([`CHECKPOINT`]) at the end of the chunk ending there.
pub const ROUND: u8 = b'R';
/// Projection snapshot: `P ‖ seq:u64be` → `hash(seq):32 ‖ snapshot`. Outside the chain.
pub const SNAPSHOT: u8 = b'P';
/// Metadata: `M ‖ name`.
pub const META: u8 = b'M';
/// A named stream consumer's state: `C ‖ name` → opaque bytes (the server's JSON).
/// Outside the chain, like snapshots.
pub const CONSUMER: u8 = b'C';

/// `M head` → `seq:u64be ‖ hash:32`: a head the log has reached, written by the flusher
/// after each flush (so durable one flush later, and never ahead of the durable log);
/// after a clean close, the head. Until format 5, written with each group; until format
/// 6, in the log's tree, where it shared the leaf at the log's tail with the newest packs
/// (since format 7, alone in [`HEAD_TREE`]).
pub const META_HEAD: &[u8] = b"Mhead";
/// `M verified` → `seq:u64be ‖ hash:32`: the point verified by the last open.
pub const META_VERIFIED: &[u8] = b"Mverified";
/// `M format` → `u8`: the store layout version.
pub const META_FORMAT: &[u8] = b"Mformat";
/// The store layout written by this version: 2 added the subject postings; 3 moved the
/// index chunks and the snapshots out of the log's tree; 4 packs each group's records
/// into one value (`crate::packs`); 5 cuts the index's tables and postings into blocks
/// (`crate::index`); 6 drops the time index ([`LEGACY_TIME`]) and writes a group of one
/// pack with one `insert`; 7 keeps tenant checkpoints ([`CHECKPOINT`]). Older stores are upgraded on open, one step after the other
/// (see `upgrade::open_trees`).
pub const STORE_FORMAT: u8 = 7;

/// The tree of the log, its metadata and the consumers.
pub const LOG_TREE: &str = "custos";
/// The tree of the sealed index chunks and `Mindexed`.
pub const INDEX_TREE: &str = "custos-index";
/// The tree of `Mhead` alone (store format 7): written after every flush, it made sled
/// rewrite the leaf at the log's tail (the newest packs, up to ~200 KiB) twice as often
/// when it lived there (docs/PERFORMANCE.md).
pub const HEAD_TREE: &str = "custos-head";
/// The tree of the projection snapshots.
pub const SNAPSHOT_TREE: &str = "custos-snapshots";

/// The key prefixes that live in [`INDEX_TREE`] (with `Mindexed`).
pub const INDEX_PREFIXES: [u8; 6] = [TENANT, ACTOR, SUBJECT, KIND, ID_TABLE, STREAM_TABLE];

/// `tag ‖ len ‖ name` — the prefix of a name-keyed index.
pub fn named_prefix(tag: u8, name: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(name.len() + 10);
    k.push(tag);
    // Names are at most 128 bytes (custos_core::ids::MAX_NAME_LEN).
    k.push(name.len() as u8);
    k.extend_from_slice(name.as_bytes());
    k
}

/// `prefix ‖ n:u64be`.
pub fn with_u64(prefix: &[u8], n: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(prefix.len() + 8);
    k.extend_from_slice(prefix);
    k.extend_from_slice(&n.to_be_bytes());
    k
}

/// `e ‖ chunk_last ‖ last_id`: the key of an id-table block.
pub fn id_block(chunk_last: Seq, last_id: EventId) -> [u8; 25] {
    let mut k = [ID_TABLE; 25];
    k[1..9].copy_from_slice(&chunk_last.0.to_be_bytes());
    k[9..].copy_from_slice(&last_id.to_bytes());
    k
}

/// `s ‖ chunk_last ‖ last_name`: the key of a stream-table block.
pub fn stream_block(chunk_last: Seq, last_name: &str) -> Vec<u8> {
    let mut k = with_u64(&[STREAM_TABLE], chunk_last.0);
    k.extend_from_slice(last_name.as_bytes());
    k
}

/// The chunk (its last seq) of an id- or stream-table block's key.
pub fn block_chunk(key: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(key.get(1..9)?.try_into().ok()?))
}

/// `K ‖ kind`.
pub fn kind_prefix(kind: EventKind) -> [u8; 3] {
    let c = kind.code().to_be_bytes();
    [KIND, c[0], c[1]]
}

/// The trailing `u64be` of a key or value.
pub fn trailing_u64(bytes: &[u8]) -> Option<u64> {
    let tail: [u8; 8] = bytes.get(bytes.len().checked_sub(8)?..)?.try_into().ok()?;
    Some(u64::from_be_bytes(tail))
}

/// `seq ‖ hash` as stored under the meta keys.
pub fn encode_head(head: &Head) -> [u8; 40] {
    let mut v = [0u8; 40];
    v[..8].copy_from_slice(&head.seq.0.to_be_bytes());
    v[8..].copy_from_slice(&head.hash.0);
    v
}

/// Reads `seq ‖ hash`.
pub fn decode_head(v: &[u8]) -> Option<Head> {
    let seq = u64::from_be_bytes(v.get(..8)?.try_into().ok()?);
    let hash: [u8; 32] = v.get(8..40)?.try_into().ok()?;
    (v.len() == 40).then_some(Head {
        seq: Seq(seq),
        hash: Digest(hash),
    })
}

/// Splits `hash ‖ bytes` (a log entry, a snapshot) into the stored hash and the bytes.
pub fn split_log_value(v: &[u8]) -> Option<(Digest, &[u8])> {
    let hash: [u8; 32] = v.get(..32)?.try_into().ok()?;
    Some((Digest(hash), &v[32..]))
}
