//! Tenant checkpoints: each tenant's part of the access projection, kept at the end of
//! every sealed index chunk that holds one of its events, so that an as-of answer for
//! one tenant folds its events after the latest checkpoint instead of all of them.
//!
//! A checkpoint of tenant `t` at seq `c` (the last seq of a chunk) is the projection of
//! every event up to `c` that names `t` (the tenant index's events), compacted
//! ([`Access::compact`], like a snapshot), stored beside the log's hash at `c`:
//! `k ‖ len ‖ t ‖ c:u64be` → `hash(c):32 ‖ codec::encode_snapshot(state)`. The sealer
//! writes a chunk's checkpoints with its keys ([`crate::seal::write_chunk`]): one
//! sequential read of the chunk's events, each folded into its tenant's state, which
//! starts from that tenant's checkpoint before the chunk. Since store format 7 every sealed
//! chunk has the checkpoints of all its tenants (the upgrade writes them for the chunks
//! sealed before), so the latest checkpoint of `t` before a chunk covers every event of
//! `t` before it.
//!
//! Like a snapshot, a checkpoint is an optimisation outside the chain: a reader uses one
//! only if the log's hash at its seq is the one kept beside it and its format is known,
//! and otherwise folds from the start. Each is written by one `insert` and is a correct
//! state whichever seal wrote it, so one left by a seal a crash cut short is as good as
//! the one the next seal writes again.

use std::collections::HashMap;

use custos_core::access::Access;
use custos_core::{codec, Digest, Seq, TenantId};

use crate::{keys, packs, ReadError};

/// `k ‖ len ‖ tenant`: the prefix of a tenant's checkpoints.
fn prefix(tenant: &str) -> Vec<u8> {
    keys::named_prefix(keys::CHECKPOINT, tenant)
}

/// The latest checkpoint of `tenant` at or before `at`, as kept (its seq, the hash kept
/// beside it, the encoded state), whatever its hash or format.
fn latest_kept(
    tree: &sled::Tree,
    tenant: &str,
    at: Seq,
) -> Result<Option<(Seq, Digest, sled::IVec)>, sled::Error> {
    let p = prefix(tenant);
    let range = keys::with_u64(&p, 0)..=keys::with_u64(&p, at.0);
    for kv in tree.range(range).rev() {
        let (k, v) = kv?;
        let seq = Seq(keys::trailing_u64(&k).unwrap_or(0));
        if let Some((hash, _)) = keys::split_log_value(&v) {
            return Ok(Some((seq, hash, v)));
        }
    }
    Ok(None)
}

/// The state of `tenant` after every event up to `at` that names it, from its latest
/// checkpoint at or before `at`: the checkpoint's seq and state, or `None` when there is
/// none the reader can use (none kept, another history's, another format's) — then the
/// caller folds from seq 1. `hash_at` gives the log's hash at a seq.
pub(crate) fn state_at(
    tree: &sled::Tree,
    tenant: &TenantId,
    at: Seq,
    hash_at: impl Fn(Seq) -> Result<Option<Digest>, ReadError>,
) -> Result<Option<(Seq, Access)>, ReadError> {
    let Some((seq, hash, value)) = latest_kept(tree, tenant.as_str(), at)? else {
        return Ok(None);
    };
    if hash_at(seq)? != Some(hash) {
        tracing::warn!(%seq, tenant = %tenant, "ignoring a tenant checkpoint whose hash is not the log's");
        return Ok(None);
    }
    match codec::decode_snapshot::<Access>(&value[32..]) {
        Ok(state) => Ok(Some((seq, state))),
        Err(e) => {
            tracing::warn!(%seq, tenant = %tenant, error = %e, "ignoring a tenant checkpoint that does not decode");
            Ok(None)
        }
    }
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
    let mut states: HashMap<TenantId, Access> = HashMap::new();
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
    for (tenant, mut state) in states {
        state.compact();
        let bytes = codec::encode_snapshot(&state).map_err(|e| ReadError::Corrupt {
            seq: last,
            reason: format!("tenant checkpoint: {e}"),
        })?;
        let mut value = Vec::with_capacity(32 + bytes.len());
        value.extend_from_slice(&hash.0);
        value.extend_from_slice(&bytes);
        tree.insert(keys::with_u64(&prefix(tenant.as_str()), last.0), value)?;
    }
    Ok(written)
}

/// The state of `tenant` after its events before `first`: its latest usable checkpoint
/// before `first`, then the events of its sealed postings after that checkpoint and
/// before `first`, read one by one. Since store format 7 the checkpoint of the tenant's
/// previous chunk leaves no such event, so this reads one checkpoint and one postings
/// block; a store without checkpoints (a crash, damage, an unknown format) is still
/// answered right, at the cost of those reads.
fn state_before(
    log: &sled::Tree,
    tree: &sled::Tree,
    tenant: &TenantId,
    first: Seq,
) -> Result<Access, ReadError> {
    let before = Seq(first.0.saturating_sub(1));
    let hash_at = |seq: Seq| -> Result<Option<Digest>, ReadError> {
        Ok(packs::get(log, seq)?.map(|v| packs::split(&v).0))
    };
    let (from, mut state) = match state_at(tree, tenant, before, hash_at)? {
        Some((at, state)) => (at.next(), state),
        None => (Seq(1), Access::default()),
    };
    for seq in sealed_seqs(tree, tenant, from, before)? {
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

/// The seqs in `[from, to]` of `tenant`'s postings in the tree.
fn sealed_seqs(
    tree: &sled::Tree,
    tenant: &TenantId,
    from: Seq,
    to: Seq,
) -> Result<Vec<Seq>, ReadError> {
    let mut out = Vec::new();
    if to < from {
        return Ok(out);
    }
    let p = keys::named_prefix(keys::TENANT, tenant.as_str());
    for kv in tree.range(keys::with_u64(&p, from.0)..=keys::with_u64(&p, u64::MAX)) {
        let (k, v) = kv?;
        let block_last = keys::trailing_u64(&k).unwrap_or(0);
        let seqs = crate::tables::postings::decode(&v).ok_or_else(|| ReadError::Corrupt {
            seq: Seq(block_last),
            reason: "malformed index postings".into(),
        })?;
        out.extend(
            seqs.into_iter()
                .filter(|s| (from.0..=to.0).contains(s))
                .map(Seq),
        );
        if block_last >= to.0 {
            break;
        }
    }
    Ok(out)
}
