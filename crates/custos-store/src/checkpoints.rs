//! Tenant checkpoints: each tenant's part of the access projection, kept in *rounds* at
//! the end of some sealed index chunks, so that an as-of answer for one tenant folds its
//! events after the latest checkpoint instead of all of them.
//!
//! A round ends at the end of the first chunk sealed at least `checkpoint_events`
//! (`StoreConfig`, about 1M) events after the round before, and keeps a checkpoint of
//! every tenant named by an event since that round, with a marker `R ‖ c:u64be`. A
//! checkpoint of tenant `t` at seq `c` (a round's end) is the
//! projection of every event up to `c` that names `t` (the tenant index's events),
//! compacted ([`Access::compact`], like a snapshot), stored beside the log's hash at `c`:
//! `k ‖ c:u64be ‖ len ‖ t` → `hash(c):32 ‖ lz4(codec::encode_snapshot(state))` (the LZ4
//! block format with the length prepended, [`lz4_flex`]: half the bytes of the state).
//! Keyed by the round first, so that a round's checkpoints go to the end of the key space
//! in key order.
//! The sealer writes a round with the keys of the chunk that ends it
//! ([`crate::seal::write_chunk`]): one sequential read of the events since the round
//! before, each folded into its tenant's state, which starts from the tenant's checkpoint
//! before.
//!
//! Where that checkpoint is, the tenant's postings tell: at the end of the round holding
//! the tenant's latest event before the point ([`latest_end`]). Since store format 7
//! every round has the checkpoints of all the tenants named since the round before (the
//! upgrade writes the rounds of the chunks sealed before), so that one covers every event
//! of the tenant before it.
//!
//! Like a snapshot, a checkpoint is an optimisation outside the chain: it is used only if
//! the log's hash at its seq is the one kept beside it and it decodes, and otherwise the
//! tenant is folded from seq 1.

use custos_core::access::Access;
use custos_core::{codec, Digest, Seq, TenantId};

use crate::{keys, packs, ReadError};

/// `k ‖ round_last ‖ len ‖ tenant`.
fn key(round_last: Seq, tenant: &str) -> Vec<u8> {
    let mut k = round_prefix(round_last);
    k.push(tenant.len() as u8);
    k.extend_from_slice(tenant.as_bytes());
    k
}

/// `k ‖ round_last`: the prefix of a round's checkpoints.
pub(crate) fn round_prefix(round_last: Seq) -> Vec<u8> {
    keys::with_u64(&[keys::CHECKPOINT], round_last.0)
}

/// `R ‖ round_last`: a round's marker.
pub(crate) fn round_marker(round_last: Seq) -> Vec<u8> {
    keys::with_u64(&[keys::ROUND], round_last.0)
}

/// The ends of the rounds up to `sealed`, oldest first.
pub(crate) fn rounds(tree: &sled::Tree, sealed: Seq) -> Result<Vec<Seq>, sled::Error> {
    let range = round_marker(Seq(1))..=round_marker(sealed);
    tree.range(range)
        .keys()
        .map(|k| Ok(Seq(keys::trailing_u64(&k?).unwrap_or(0))))
        .collect()
}

/// The end of the latest round at or before `point` that holds one of `seqs` (the
/// tenant's, ascending): where the tenant's latest checkpoint at or before `point` is.
/// `round_end(s)` is the end of the round holding `s`, `None` past the last round.
pub(crate) fn latest_end(
    seqs: &[Seq],
    point: Seq,
    round_end: impl Fn(Seq) -> Option<Seq>,
) -> Option<Seq> {
    // Newest first; the seqs in the round `point` falls in, or past the last round, are
    // skipped (a few: the tenant's events of one round and the memtable).
    seqs[..seqs.partition_point(|s| *s <= point)]
        .iter()
        .rev()
        .find_map(|s| round_end(*s).filter(|end| *end <= point))
}

/// The state of `tenant` kept at the end of the round `end`, if the log's hash there is
/// the one kept beside it and it decodes; `None` (with a warning) otherwise.
pub(crate) fn state_at(
    tree: &sled::Tree,
    tenant: &TenantId,
    end: Seq,
    hash_at: impl FnOnce(Seq) -> Result<Option<Digest>, ReadError>,
) -> Result<Option<Access>, ReadError> {
    let Some(value) = tree.get(key(end, tenant.as_str()))? else {
        tracing::warn!(seq = %end, tenant = %tenant, "no tenant checkpoint where the index says one is");
        return Ok(None);
    };
    let Some((hash, bytes)) = keys::split_log_value(&value) else {
        tracing::warn!(seq = %end, tenant = %tenant, "ignoring a tenant checkpoint too short to hold a hash");
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

/// A state as [`write_round`] keeps it: encoded as a snapshot, then compressed.
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

/// Writes the round ending at `last` (a chunk's end) after the round ending at `round`
/// (0 for none), the postings of every event up to `last` being in the tree: for every
/// tenant named by one of the events in between, the state after `last`, then the
/// round's marker. Reads those events once, in order; each tenant's state starts from
/// [`state_before`]. Returns the checkpoints written.
pub(crate) fn write_round(
    log: &sled::Tree,
    tree: &sled::Tree,
    round: Seq,
    last: Seq,
) -> Result<usize, ReadError> {
    let first = round.next();
    let mut states: std::collections::BTreeMap<TenantId, Access> = Default::default();
    let mut hash_last = None;
    // The log's hash at the rounds the tenants' checkpoints were kept at: a few seqs, each
    // read from its pack once rather than once per tenant.
    let mut hashes: std::collections::HashMap<Seq, Option<Digest>> = Default::default();
    let mut hash_at = |seq: Seq| -> Result<Option<Digest>, ReadError> {
        if let Some(h) = hashes.get(&seq) {
            return Ok(*h);
        }
        let h = packs::get(log, seq)?.map(|v| packs::split(&v).0);
        hashes.insert(seq, h);
        Ok(h)
    };
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
            let before = state_before(log, tree, tenant, first, &mut hash_at)?;
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
    tree.insert(round_marker(last), &[])?;
    Ok(written)
}

/// The state of `tenant` after its events before `first` (the seq after a round): the
/// checkpoint at the end of the round holding its latest event before `first`, if usable;
/// otherwise all those events folded from the log one by one (a store damaged, or a
/// checkpoint of a format no longer read: answered right, at the cost of those reads).
/// `hash_at` gives the log's hash at a seq.
fn state_before(
    log: &sled::Tree,
    tree: &sled::Tree,
    tenant: &TenantId,
    first: Seq,
    hash_at: &mut impl FnMut(Seq) -> Result<Option<Digest>, ReadError>,
) -> Result<Access, ReadError> {
    let before = Seq(first.0.saturating_sub(1));
    let Some(latest) = latest_sealed(tree, tenant, before)? else {
        return Ok(Access::default());
    };
    // Every event before `first` is in a round, so the latest one's round ends before it.
    if let Some(end) = round_end(tree, latest)? {
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
/// chunk, so when `to` ends a chunk — a round ends one — no block keyed later holds a seq
/// up to `to`).
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

/// The end of the round holding `seq`, from the rounds' markers.
fn round_end(tree: &sled::Tree, seq: Seq) -> Result<Option<Seq>, ReadError> {
    match tree.range(round_marker(seq)..).next() {
        Some(kv) => {
            let (k, _) = kv?;
            Ok((k.first() == Some(&keys::ROUND))
                .then(|| keys::trailing_u64(&k).map(Seq))
                .flatten())
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
