//! Opening the store's trees at the format this version writes: older stores are
//! upgraded on open, one step after the other (docs/design.md, §3): format 1 or 2 (one
//! tree) → 3 (the index and snapshots in their own trees) → 4 (the log in packs,
//! `crate::packs::repack_legacy`) → 5 (the index sealed again in blocks) → 6 (the time
//! index removed) → 7 (tenant checkpoints, `crate::checkpoints`). Each step is safe
//! against a crash: one cut short is done again on the next open.
//!
//! Format 1 lacked the subject postings; the re-seal of format 5 writes them with the
//! rest, so format 1 needs no step of its own.

use std::path::Path;

use custos_core::Seq;

use crate::index::Memtable;
use crate::keys;
use crate::{OpenError, ReadError};

/// The store's trees (see [`keys`]).
#[derive(Debug, Clone)]
pub(crate) struct Trees {
    /// The log, its metadata, the consumers.
    pub log: sled::Tree,
    /// The sealed index chunks and `Mindexed`.
    pub index: sled::Tree,
    /// The projection snapshots.
    pub snapshots: sled::Tree,
    /// `Mhead` (format 7).
    pub head: sled::Tree,
}

/// The store's trees, checked for their format; an older store is upgraded first.
pub(crate) fn open_trees(
    db: &sled::Db,
    path: &Path,
    chunk_events: usize,
    checkpoint_events: u64,
) -> Result<Trees, OpenError> {
    let io = |source| OpenError::Io {
        path: path.to_owned(),
        source,
    };
    let trees = Trees {
        log: db.open_tree(keys::LOG_TREE).map_err(io)?,
        index: db.open_tree(keys::INDEX_TREE).map_err(io)?,
        snapshots: db.open_tree(keys::SNAPSHOT_TREE).map_err(io)?,
        head: db.open_tree(keys::HEAD_TREE).map_err(io)?,
    };
    let format = trees.log.get(keys::META_FORMAT).map_err(io)?;
    let format = match format.as_deref() {
        None => {
            trees
                .log
                .insert(keys::META_FORMAT, &[keys::STORE_FORMAT])
                .map_err(io)?;
            return Ok(trees);
        }
        Some([f]) => *f,
        Some(_) => 0,
    };
    if matches!(format, 1 | 2) {
        move_out_of_log_tree(db, &trees).map_err(io)?;
    }
    let read = |e: ReadError| match e {
        ReadError::Io(source) => io(source),
        other => io(sled::Error::Unsupported(other.to_string())),
    };
    match format {
        1..=4 => {
            if format == 4 {
                // An upgrade to format 4 may have stopped after setting the format.
                crate::packs::remove_legacy(db, &trees.log).map_err(io)?;
            } else {
                crate::packs::repack_legacy(db, &trees.log).map_err(io)?;
            }
            reseal_index(db, &trees.log, &trees.index, chunk_events).map_err(read)?;
            drop_time_index(db, &trees.log).map_err(io)?;
            to_format_7(db, &trees, checkpoint_events).map_err(read)?;
            Ok(trees)
        }
        5 => {
            drop_time_index(db, &trees.log).map_err(io)?;
            to_format_7(db, &trees, checkpoint_events).map_err(read)?;
            Ok(trees)
        }
        6 => {
            to_format_7(db, &trees, checkpoint_events).map_err(read)?;
            Ok(trees)
        }
        f if f == keys::STORE_FORMAT => Ok(trees),
        found => Err(OpenError::Format {
            path: path.to_owned(),
            found,
            expected: keys::STORE_FORMAT,
        }),
    }
}

/// Upgrades a format-6 store to format 7: writes the tenant checkpoints
/// ([`write_checkpoints`]), copies `Mhead` to its own tree and flushes, then removes it
/// from the log's tree and sets the format in one atomic batch. A crash before that batch
/// leaves a format-6 store whose next open does it all again (the same keys).
fn to_format_7(db: &sled::Db, trees: &Trees, every: u64) -> Result<(), ReadError> {
    let written = write_checkpoints(&trees.log, &trees.index, every)?;
    if let Some(head) = trees.log.get(keys::META_HEAD)? {
        trees.head.insert(keys::META_HEAD, head)?;
    }
    db.flush()?;
    let mut batch = sled::Batch::default();
    batch.remove(keys::META_HEAD);
    batch.insert(keys::META_FORMAT, &[7]);
    trees.log.apply_batch(batch)?;
    db.flush()?;
    tracing::info!(
        written,
        "upgraded the store to format 7 (tenant checkpoints, Mhead in its own tree)"
    );
    Ok(())
}

/// The rounds of tenant checkpoints the sealer would have written over the sealed chunks
/// (one at the first chunk end at least `every` events after the round before;
/// `crate::checkpoints`), oldest first, each from the one before. Returns the checkpoints
/// written.
pub(crate) fn write_checkpoints(
    log: &sled::Tree,
    tree: &sled::Tree,
    every: u64,
) -> Result<u64, ReadError> {
    let sealed = tree
        .get(crate::index::META_INDEXED)?
        .and_then(|v| keys::trailing_u64(&v))
        .unwrap_or(0);
    // The chunks' last seqs, from their id tables' keys (every chunk has at least one
    // block): one look-up per chunk, each starting past the chunk before.
    let (mut first, mut written, mut rounds) = (Seq(1), 0u64, 0u64);
    let mut round = Seq::ZERO;
    loop {
        let from = keys::with_u64(&[keys::ID_TABLE], first.0);
        let Some(kv) = tree.range(from..).next() else {
            break;
        };
        let (k, _) = kv?;
        let last = match (k.first(), keys::block_chunk(&k)) {
            (Some(&keys::ID_TABLE), Some(last)) if last <= sealed && last >= first.0 => last,
            _ => break,
        };
        if last - round.0 >= every.max(1) {
            written += crate::checkpoints::write_round(log, tree, round, Seq(last))? as u64;
            rounds += 1;
            round = Seq(last);
        }
        first = Seq(last + 1);
    }
    tracing::info!(rounds, written, "tenant checkpoints written");
    Ok(written)
}

/// Upgrades a format-2 layout to format 3: copies the index chunks, `Mindexed` and the
/// snapshots from the log's tree to their own trees and flushes, then removes them from
/// the log's tree and sets the format in one atomic batch. A crash before that batch
/// leaves a format-2 store (copies overwrite on the next open); after it, format 3.
fn move_out_of_log_tree(db: &sled::Db, trees: &Trees) -> Result<(), sled::Error> {
    let mut moved = Vec::new();
    let mut bytes = 0usize;
    let mut copy = |target: &sled::Tree, kv: sled::Result<(sled::IVec, sled::IVec)>| {
        let (k, v) = kv?;
        bytes += v.len();
        target.insert(&k, v)?;
        moved.push(k);
        Ok::<(), sled::Error>(())
    };
    for prefix in keys::INDEX_PREFIXES {
        for kv in trees.log.scan_prefix([prefix]) {
            copy(&trees.index, kv)?;
        }
    }
    if let Some(v) = trees.log.get(crate::index::META_INDEXED)? {
        copy(&trees.index, Ok((crate::index::META_INDEXED.into(), v)))?;
    }
    for kv in trees.log.scan_prefix([keys::SNAPSHOT]) {
        copy(&trees.snapshots, kv)?;
    }
    db.flush()?;
    let mut batch = sled::Batch::default();
    for k in &moved {
        batch.remove(k);
    }
    // Format 3, whose layout (one key per event) this still is: packing follows.
    batch.insert(keys::META_FORMAT, &[3]);
    trees.log.apply_batch(batch)?;
    db.flush()?;
    tracing::info!(
        keys = moved.len(),
        bytes,
        "upgraded the store to format 3 (index and snapshots in their own trees)"
    );
    Ok(())
}

/// Upgrades a format-4 store (one id and one stream table per chunk, postings one value
/// per name per chunk) to format 5 (blocks, `crate::index`): clears the index tree, seals
/// the log again from its first event in chunks of `chunk_events` ([`write_chunk`], each
/// safe against a crash by itself; the events after the last whole chunk are left to the
/// memtable, as after any open), then sets the format. A crash before the format is set
/// leaves a format-4 store whose next open starts over. Returns the chunks written.
pub(crate) fn reseal_index(
    db: &sled::Db,
    log: &sled::Tree,
    tree: &sled::Tree,
    chunk_events: usize,
) -> Result<u64, crate::ReadError> {
    tree.clear()?;
    db.flush()?;
    let last = crate::packs::last_seq(log)?;
    let step = chunk_events.max(1) as u64;
    let (mut sealed, mut chunks) = (Seq::ZERO, 0);
    while last.0 - sealed.0 >= step {
        let end = Seq(sealed.0 + step);
        let mem = Memtable::from_log(log, sealed.next(), end)?;
        crate::seal::write_chunk(tree, mem.chunk(end).0, end, None)?;
        (sealed, chunks) = (end, chunks + 1);
    }
    log.insert(keys::META_FORMAT, &[5])?;
    db.flush()?;
    tracing::info!(
        chunks,
        %sealed,
        "upgraded the store to format 5 (index tables and postings in blocks)"
    );
    Ok(chunks)
}

/// Upgrades a format-5 store to format 6: removes the time index ([`keys::LEGACY_TIME`],
/// one key per group; the log is searched by time instead), then sets the format. A
/// crash before the format is set leaves a format-5 store whose next open removes what
/// is left. Returns the keys removed.
pub(crate) fn drop_time_index(db: &sled::Db, log: &sled::Tree) -> Result<u64, sled::Error> {
    let mut removed = 0u64;
    loop {
        let mut batch = sled::Batch::default();
        let mut n = 0;
        for k in log.scan_prefix([keys::LEGACY_TIME]).keys().take(16_384) {
            batch.remove(k?);
            n += 1;
        }
        if n == 0 {
            break;
        }
        log.apply_batch(batch)?;
        removed += n;
    }
    log.insert(keys::META_FORMAT, &[6])?;
    db.flush()?;
    tracing::info!(
        removed,
        "upgraded the store to format 6 (no time index: the log is searched by time)"
    );
    Ok(removed)
}
