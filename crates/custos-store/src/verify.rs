//! Checking the stored chain: the tail on every open, the whole log on demand.

use std::path::Path;

use custos_core::{chain, codec, ChainVerifier, Digest, Fault, Head, Seq, Timestamp, VerifyError};

use crate::keys;
use crate::packs::{self, ScanError};
use crate::store::open_db;
use crate::upgrade::open_trees;
use crate::OpenError;

/// Why a data directory could not be verified, or what is wrong with it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyDirError {
    /// The directory could not be opened (missing, locked, another format).
    #[error(transparent)]
    Open(#[from] OpenError),
    /// No custos data there.
    #[error("{0} holds no custos data (no sled database)")]
    NotFound(std::path::PathBuf),
    /// sled failed while reading.
    #[error("storage error while reading: {0}")]
    Io(#[from] sled::Error),
    /// The chain does not hold.
    #[error(transparent)]
    Chain(#[from] VerifyError),
}

/// An entry of the log with its leaf hash, as the scanning thread hands it over.
type Leafed = Result<(Seq, sled::IVec, Digest), ScanError>;

/// Entries per block handed from the scanning thread to the verifier.
const BLOCK: usize = 256;

/// Walks the log after `from`, checking every record against the chain (and `anchor`).
/// A second thread reads the packs and hashes each record into its leaf while this one
/// decodes the records and checks the links (the chain's design: only the 65-byte links
/// are sequential).
fn walk(tree: &sled::Tree, from: Head, anchor: Option<Head>) -> Result<Head, VerifyDirError> {
    let mut v = ChainVerifier::resume(from);
    if let Some(a) = anchor {
        v = v.with_anchor(a);
    }
    let scan = packs::Scan::verifying(tree, from.seq.next());
    std::thread::scope(|threads| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Leafed>>(8);
        threads.spawn(move || {
            let mut block = Vec::with_capacity(BLOCK);
            for entry in scan {
                let failed = entry.is_err();
                block.push(entry.map(|(seq, value)| {
                    let leaf = chain::leaf(&value[32..]);
                    (seq, value, leaf)
                }));
                if block.len() == BLOCK || failed {
                    // A closed channel: the verifier stopped.
                    if tx.send(std::mem::take(&mut block)).is_err() || failed {
                        return;
                    }
                }
            }
            let _ = tx.send(block);
        });
        let mut entries = rx.into_iter().flatten();
        while let Some(entry) = entries.next() {
            let (seq, value, leaf) = match entry {
                Ok(e) => e,
                Err(ScanError::Io(e)) => return Err(e.into()),
                Err(ScanError::Malformed { reason, .. }) => {
                    return Err(VerifyError {
                        seq: v.expected(),
                        fault: Fault::Undecodable {
                            reason: reason.into(),
                        },
                    }
                    .into())
                }
            };
            let (stored, record) = packs::split(&value);
            if let Err(e) = v.push_leaf(seq, record, &leaf, Some(&stored)) {
                return Err(moved_or_missing(e, &mut entries).into());
            }
        }
        Ok(v.finish()?)
    })
}

/// How far past a gap the walk looks for the missing record.
const LOOKAHEAD: usize = 4096;

/// A record missing at its place (a gap) but found among the next [`LOOKAHEAD`] was
/// moved, not dropped: that is a reorder. (An entry's seq is the one its record embeds,
/// so two swapped records first look like a gap.)
fn moved_or_missing(e: VerifyError, rest: &mut impl Iterator<Item = Leafed>) -> VerifyError {
    let Fault::Gap { found } = e.fault else {
        return e;
    };
    let later = rest
        .take(LOOKAHEAD)
        .any(|r| matches!(r, Ok((s, _, _)) if s == e.seq));
    if later {
        VerifyError {
            seq: e.seq,
            fault: Fault::Reorder { found },
        }
    } else {
        e
    }
}

/// `hash ‖ record` at `seq`; a malformed entry counts as missing (the walk names it).
fn entry(tree: &sled::Tree, seq: Seq) -> Result<Option<sled::IVec>, sled::Error> {
    match packs::get(tree, seq) {
        Ok(v) => Ok(v),
        Err(ScanError::Io(e)) => Err(e),
        Err(ScanError::Malformed { .. }) => Ok(None),
    }
}

fn meta_head(tree: &sled::Tree, key: &[u8]) -> Result<Option<Head>, sled::Error> {
    Ok(tree.get(key)?.and_then(|v| keys::decode_head(&v)))
}

/// The stored hash at `point.seq` must still be `point.hash`.
fn check_point(tree: &sled::Tree, point: Head, last: Seq) -> Result<(), VerifyDirError> {
    if point.seq == Seq::ZERO {
        return Ok(());
    }
    let stored = entry(tree, point.seq)?.map(|v| packs::split(&v).0);
    match stored {
        Some(h) if h == point.hash => Ok(()),
        Some(h) => Err(VerifyError {
            seq: point.seq,
            fault: Fault::HeadMismatch {
                known: point.hash,
                computed: h,
            },
        }
        .into()),
        None => Err(VerifyError {
            seq: Seq(last.0 + 1),
            fault: Fault::Truncated {
                last,
                known: point.seq,
            },
        }
        .into()),
    }
}

/// On open: the last verified point must be intact, and everything after it must verify
/// up to (at least) the head written with the last group. Records the new verified point.
pub(crate) fn check_tail(
    db: &sled::Db,
    tree: &sled::Tree,
    head_tree: &sled::Tree,
    path: &Path,
) -> Result<Head, OpenError> {
    let io = |source| OpenError::Io {
        path: path.to_owned(),
        source,
    };
    let as_open = |e: VerifyDirError| match e {
        VerifyDirError::Chain(source) => OpenError::Corrupt {
            path: path.to_owned(),
            source,
        },
        VerifyDirError::Io(source) => io(source),
        VerifyDirError::Open(e) => e,
        VerifyDirError::NotFound(p) => io(sled::Error::Unsupported(format!("{}", p.display()))),
    };
    let verified = meta_head(tree, keys::META_VERIFIED)
        .map_err(io)?
        .unwrap_or(Head::GENESIS);
    let written = meta_head(head_tree, keys::META_HEAD)
        .map_err(io)?
        .unwrap_or(Head::GENESIS);
    let last = packs::last_seq(tree).map_err(io)?;
    check_point(tree, verified, last).map_err(as_open)?;
    let head = walk(tree, verified, Some(written)).map_err(as_open)?;
    if head != verified {
        tree.insert(keys::META_VERIFIED, keys::encode_head(&head).to_vec())
            .map_err(io)?;
        db.flush().map_err(io)?;
        tracing::info!(from = %verified.seq, to = %head.seq, "verified the tail on open");
    }
    Ok(head)
}

/// The `recorded_at` of the event at `seq` (the writer continues from it).
pub(crate) fn last_recorded_at(tree: &sled::Tree, seq: Seq) -> Result<Timestamp, sled::Error> {
    let t = entry(tree, seq)?
        .and_then(|v| codec::decode(packs::split(&v).1).ok())
        .map_or(Timestamp(i64::MIN), |e| e.recorded_at);
    Ok(t)
}

/// Verifies a whole tree from genesis: the chain, the head written with the last group,
/// and a head known from elsewhere if given.
pub(crate) fn verify_tree(
    tree: &sled::Tree,
    head_tree: &sled::Tree,
    known: Option<Head>,
) -> Result<Head, VerifyDirError> {
    let head = walk(tree, Head::GENESIS, known)?;
    if let Some(written) = meta_head(head_tree, keys::META_HEAD)? {
        check_point(tree, written, head.seq)?;
    }
    Ok(head)
}

/// Verifies the data directory at `path` without starting a writer (`custos verify --data`).
pub fn verify_dir(path: &Path, known: Option<Head>) -> Result<Head, VerifyDirError> {
    if !path.join("conf").is_file() {
        return Err(VerifyDirError::NotFound(path.to_owned()));
    }
    let db = open_db(path, crate::store::DEFAULT_CACHE_BYTES)?;
    let config = crate::StoreConfig::default();
    let trees = open_trees(
        &db,
        path,
        config.index_chunk_events,
        config.checkpoint_events,
    )?;
    verify_tree(&trees.log, &trees.head, known)
}
