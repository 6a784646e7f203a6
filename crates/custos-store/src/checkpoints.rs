//! Tenant checkpoints: each tenant's part of the access projection, kept at the end of
//! every sealed index chunk that holds one of its events, so that an as-of answer for
//! one tenant folds its events after the latest checkpoint instead of all of them.
//!
//! A checkpoint of tenant `t` at seq `c` (the last seq of a chunk naming `t`) is the
//! projection of every event up to `c` that names `t` (the tenant index's events),
//! compacted ([`Access::compact`], like a snapshot), stored beside the log's hash at `c`:
//! `k ‖ c:u64be ‖ len ‖ t` → `hash(c):32 ‖ lz4(codec::encode_snapshot(state))` (the LZ4
//! block format with the length prepended, [`lz4_flex`]: half the bytes of the state). Keyed by the
//! chunk first, so that a seal's checkpoints go to the end of the key space in key order
//! and sled never rewrites a leaf of older ones (keyed by tenant first, the inserts of a
//! seal touched a leaf each, and at 10M events sled's file held three times the live
//! bytes). The sealer writes a chunk's checkpoints with its keys
//! ([`crate::seal::write_chunk`]): one sequential read of the chunk's events, each folded
//! into its tenant's state, which starts from the tenant's checkpoint before the chunk.
//!
//! Where that checkpoint is, the tenant's postings tell: at the end of the chunk holding
//! the tenant's latest event before the point ([`latest_end`]). Since store format 7
//! every sealed chunk has the checkpoints of all its tenants (the upgrade writes them for
//! the chunks sealed before), so that one covers every event of the tenant before it.
//!
//! Like a snapshot, a checkpoint is an optimisation outside the chain: it is used only if
//! the log's hash at its seq is the one kept beside it and it decodes, and otherwise the
//! tenant is folded from seq 1.

use custos_core::access::Access;
use custos_core::{codec, Digest, Seq, TenantId};

use crate::{keys, packs, ReadError};

/// `k ‖ chunk_last ‖ len ‖ tenant`.
fn key(chunk_last: Seq, tenant: &str) -> Vec<u8> {
    let mut k = keys::with_u64(&[keys::CHECKPOINT], chunk_last.0);
    k.push(tenant.len() as u8);
    k.extend_from_slice(tenant.as_bytes());
    k
}

/// `k ‖ chunk_last`: the prefix of a chunk's checkpoints.
pub(crate) fn chunk_prefix(chunk_last: Seq) -> Vec<u8> {
    keys::with_u64(&[keys::CHECKPOINT], chunk_last.0)
}

/// The end of the latest sealed chunk at or before `point` that holds one of `seqs` (the
/// tenant's, ascending): where the tenant's latest checkpoint at or before `point` is.
/// `chunk_end(s)` is the last seq of the sealed chunk holding `s`, `None` past them.
pub(crate) fn latest_end(
    seqs: &[Seq],
    point: Seq,
    chunk_end: impl Fn(Seq) -> Option<Seq>,
) -> Option<Seq> {
    // Newest first; the seqs in the chunk `point` falls in, or past the sealed chunks,
    // are skipped (a few: those of one chunk and the memtable).
    seqs[..seqs.partition_point(|s| *s <= point)]
        .iter()
        .rev()
        .find_map(|s| chunk_end(*s).filter(|end| *end <= point))
}

/// The state of `tenant` kept at the end of the chunk `end`, if the log's hash there is
/// the one kept beside it and it decodes; `None` (with a warning) otherwise.
pub(crate) fn state_at(
    tree: &sled::Tree,
    tenant: &TenantId,
    end: Seq,
    hash_at: impl Fn(Seq) -> Result<Option<Digest>, ReadError>,
) -> Result<Option<Access>, ReadError> {
    let Some(value) = tree.get(key(end, tenant.as_str()))? else {
        tracing::warn!(seq = %end, tenant = %tenant, "no tenant checkpoint where the index says one is");
        return Ok(None);
    };
    let Some((hash, bytes)) = keys::split_log_value(&value) else {
        return Ok(None);
    };
    if hash_at(end)? != Some(hash) {
        tracing::warn!(seq = %end, tenant = %tenant, "ignoring a tenant checkpoint whose hash is not the log's");
        return Ok(None);
    }
    match decode(bytes) {
        Ok(state) => Ok(Some(state)),
        Err(e) => {
            tracing::warn!(seq = %end, tenant = %tenant, error = %e, "ignoring a tenant checkpoint that does not decode");
            Ok(None)
        }
    }
}

/// The most bytes a checkpoint's state may claim to take once decompressed (a claim past
/// it is damage, not a state to allocate for).
const MAX_STATE_BYTES: usize = 64 << 20;

/// A state as [`write_chunk`] keeps it: compressed, then encoded as a snapshot.
fn encode(state: &Access) -> Result<Vec<u8>, codec::CodecError> {
    Ok(lz4_flex::block::compress_prepend_size(
        &codec::encode_snapshot(state)?,
    ))
}

/// The state [`encode`] kept.
fn decode(bytes: &[u8]) -> Result<Access, String> {
    let claimed = bytes
        .get(..4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .ok_or("too short")?;
    if claimed > MAX_STATE_BYTES {
        return Err(format!("claims {claimed} bytes"));
    }
    let raw = lz4_flex::block::decompress_size_prepended(bytes).map_err(|e| e.to_string())?;
    codec::decode_snapshot::<Access>(&raw).map_err(|e| e.to_string())
}

/// Writes the checkpoints of the chunk `[first, last]`, whose postings are in the tree:
/// for every tenant named by one of its events, the state after the chunk. Reads the
/// chunk's events once, in order; each tenant's state starts from [`state_before`].
/// Returns the checkpoints written.
pub(crate) fn write_chunk(
    log: &sled::Tree,
    tree: &sled::Tree,
    first: Seq,
    last: Seq,
) -> Result<usize, ReadError> {
    let mut states: std::collections::BTreeMap<TenantId, Access> = Default::default();
    let mut hash_last = None;
    for entry in packs::Scan::range(log, first, last) {
        let (seq, value) = entry?;
        let (hash, record) = packs::split(&value);
        hash_last = (seq == last).then_some(hash);
        let event = codec::decode(record).map_err(|e| ReadError::Corrupt {
            seq,
            reason: e.to_string(),
        })?;
        let Some(tenant) = event.payload.tenant() else {
            continue;
        };
        if !states.contains_key(tenant) {
            let before = state_before(log, tree, tenant, first)?;
            states.insert(tenant.clone(), before);
        }
        if let Some(state) = states.get_mut(tenant) {
            state.apply(&event);
        }
    }
    let hash = hash_last.ok_or_else(|| ReadError::Corrupt {
        seq: last,
        reason: "a sealed chunk ends past the log".into(),
    })?;
    let written = states.len();
    // In key order (the map's): each insert lands at the end of the tree's checkpoints.
    for (tenant, mut state) in states {
        state.compact();
        let bytes = encode(&state).map_err(|e| ReadError::Corrupt {
            seq: last,
            reason: format!("tenant checkpoint: {e}"),
        })?;
        let mut value = Vec::with_capacity(32 + bytes.len());
        value.extend_from_slice(&hash.0);
        value.extend_from_slice(&bytes);
        tree.insert(key(last, tenant.as_str()), value)?;
    }
    Ok(written)
}

/// The state of `tenant` after its events before `first`: the checkpoint at the end of
/// the chunk holding its latest event before `first`, if usable; otherwise all those
/// events folded from the log one by one (a store damaged, or a checkpoint of a format no
/// longer read: answered right, at the cost of those reads).
fn state_before(
    log: &sled::Tree,
    tree: &sled::Tree,
    tenant: &TenantId,
    first: Seq,
) -> Result<Access, ReadError> {
    let before = Seq(first.0.saturating_sub(1));
    let Some(latest) = latest_sealed(tree, tenant, before)? else {
        return Ok(Access::default());
    };
    let hash_at = |seq: Seq| -> Result<Option<Digest>, ReadError> {
        Ok(packs::get(log, seq)?.map(|v| packs::split(&v).0))
    };
    // Every event before `first` is sealed, so the latest one's chunk ends before it.
    if let Some(end) = chunk_end(tree, latest)? {
        if let Some(state) = state_at(tree, tenant, end, hash_at)? {
            return Ok(state);
        }
    }
    let mut state = Access::default();
    for seq in sealed_seqs(tree, tenant, before)? {
        let value = packs::get(log, seq)?.ok_or_else(|| ReadError::Corrupt {
            seq,
            reason: "indexed but missing from the log".into(),
        })?;
        let event = codec::decode(packs::split(&value).1).map_err(|e| ReadError::Corrupt {
            seq,
            reason: e.to_string(),
        })?;
        state.apply(&event);
    }
    Ok(state)
}

/// The latest seq up to `to` in `tenant`'s postings in the tree: the key of its last
/// block keyed at or before `to` (a block is keyed by its last seq and lies within one
/// chunk, so when `to` ends a chunk no block keyed later holds a seq up to `to`).
fn latest_sealed(tree: &sled::Tree, tenant: &TenantId, to: Seq) -> Result<Option<Seq>, ReadError> {
    let p = keys::named_prefix(keys::TENANT, tenant.as_str());
    match tree
        .range(keys::with_u64(&p, 0)..=keys::with_u64(&p, to.0))
        .next_back()
    {
        Some(kv) => Ok(keys::trailing_u64(&kv?.0).map(Seq)),
        None => Ok(None),
    }
}

/// The last seq of the sealed chunk holding `seq`, from the chunks' id-table keys.
pub(crate) fn chunk_end(tree: &sled::Tree, seq: Seq) -> Result<Option<Seq>, ReadError> {
    match tree
        .range(keys::with_u64(&[keys::ID_TABLE], seq.0)..)
        .next()
    {
        Some(kv) => {
            let (k, _) = kv?;
            Ok(match (k.first(), keys::block_chunk(&k)) {
                (Some(&keys::ID_TABLE), Some(end)) => Some(Seq(end)),
                _ => None,
            })
        }
        None => Ok(None),
    }
}

/// The seqs up to `to` of `tenant`'s postings in the tree, ascending.
fn sealed_seqs(tree: &sled::Tree, tenant: &TenantId, to: Seq) -> Result<Vec<Seq>, ReadError> {
    let mut out = Vec::new();
    let p = keys::named_prefix(keys::TENANT, tenant.as_str());
    for kv in tree.range(keys::with_u64(&p, 0)..=keys::with_u64(&p, u64::MAX)) {
        let (k, v) = kv?;
        let block_last = keys::trailing_u64(&k).unwrap_or(0);
        let seqs = crate::tables::postings::decode(&v).ok_or_else(|| ReadError::Corrupt {
            seq: Seq(block_last),
            reason: "malformed index postings".into(),
        })?;
        out.extend(seqs.into_iter().filter(|s| *s <= to.0).map(Seq));
        if block_last >= to.0 {
            break;
        }
    }
    Ok(out)
}
