//! Checking the stored chain: the tail on every open, the whole log on demand.

use std::path::Path;

use custos_core::{codec, ChainVerifier, Fault, Head, Seq, Timestamp, VerifyError};

use crate::keys;
use crate::store::{open_db, open_trees};
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

/// Walks the log after `from`, checking every record against the chain (and `anchor`).
fn walk(tree: &sled::Tree, from: Head, anchor: Option<Head>) -> Result<Head, VerifyDirError> {
    let mut v = ChainVerifier::resume(from);
    if let Some(a) = anchor {
        v = v.with_anchor(a);
    }
    let start = keys::log(from.seq.next());
    for kv in tree.range(start.to_vec()..vec![keys::LOG + 1]) {
        let (k, value) = kv?;
        let seq = Seq(keys::trailing_u64(&k).unwrap_or(0));
        let Some((stored, record)) = keys::split_log_value(&value) else {
            return Err(VerifyError {
                seq: v.expected(),
                fault: Fault::Undecodable {
                    reason: "log value shorter than a hash".into(),
                },
            }
            .into());
        };
        v.push(seq, record, Some(&stored))?;
    }
    Ok(v.finish()?)
}

fn meta_head(tree: &sled::Tree, key: &[u8]) -> Result<Option<Head>, sled::Error> {
    Ok(tree.get(key)?.and_then(|v| keys::decode_head(&v)))
}

/// The stored hash at `point.seq` must still be `point.hash`.
fn check_point(tree: &sled::Tree, point: Head, last: Seq) -> Result<(), VerifyDirError> {
    if point.seq == Seq::ZERO {
        return Ok(());
    }
    let stored = tree
        .get(keys::log(point.seq))?
        .and_then(|v| keys::split_log_value(&v).map(|(h, _)| h));
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

fn last_seq(tree: &sled::Tree) -> Result<Seq, sled::Error> {
    Ok(tree
        .range(vec![keys::LOG]..vec![keys::LOG + 1])
        .keys()
        .next_back()
        .transpose()?
        .and_then(|k| keys::trailing_u64(&k))
        .map_or(Seq::ZERO, Seq))
}

/// On open: the last verified point must be intact, and everything after it must verify
/// up to (at least) the head written with the last group. Records the new verified point.
pub(crate) fn check_tail(db: &sled::Db, tree: &sled::Tree, path: &Path) -> Result<Head, OpenError> {
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
    let written = meta_head(tree, keys::META_HEAD)
        .map_err(io)?
        .unwrap_or(Head::GENESIS);
    let last = last_seq(tree).map_err(io)?;
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
    let t = tree
        .get(keys::log(seq))?
        .and_then(|v| keys::split_log_value(&v).and_then(|(_, r)| codec::decode(r).ok()))
        .map_or(Timestamp(i64::MIN), |e| e.recorded_at);
    Ok(t)
}

/// Verifies a whole tree from genesis: the chain, the head written with the last group,
/// and a head known from elsewhere if given.
pub(crate) fn verify_tree(tree: &sled::Tree, known: Option<Head>) -> Result<Head, VerifyDirError> {
    let head = walk(tree, Head::GENESIS, known)?;
    if let Some(written) = meta_head(tree, keys::META_HEAD)? {
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
    let tree = open_trees(&db, path)?.log;
    verify_tree(&tree, known)
}
