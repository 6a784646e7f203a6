//! The store's error types, one per operation (as redb does).

use std::path::PathBuf;

use custos_core::{EventId, Seq, StreamId, VerifyError};

/// Why the store could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// Another process holds the data directory (a running server?).
    #[error("the data directory {path} is in use by another process (is a custos server running on it?)")]
    Locked {
        /// The data directory.
        path: PathBuf,
    },
    /// The directory or sled refused.
    #[error("cannot open the data directory {path}: {source}")]
    Io {
        /// The data directory.
        path: PathBuf,
        /// sled's error.
        source: sled::Error,
    },
    /// The layout was written by another version of custos.
    #[error("the data directory {path} has store format {found}, this custos reads {expected}")]
    Format {
        /// The data directory.
        path: PathBuf,
        /// The format found.
        found: u8,
        /// The format this version writes.
        expected: u8,
    },
    /// The tail since the last verified point does not verify.
    #[error("the log in {path} fails verification: {source}")]
    Corrupt {
        /// The data directory.
        path: PathBuf,
        /// The first fault.
        source: VerifyError,
    },
}

/// Why an append was not acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AppendError {
    /// The stream is not at the expected version (optimistic concurrency).
    #[error("stream {stream} is at version {actual}, not the expected {expected}")]
    Conflict {
        /// The stream.
        stream: StreamId,
        /// The version the caller expected.
        expected: u64,
        /// The stream's actual version.
        actual: u64,
    },
    /// An event id was reused for a different append.
    #[error("event id {id} was already used for a different append")]
    IdReused {
        /// The reused id.
        id: EventId,
    },
    /// The request itself is not acceptable (empty, too large, duplicate ids).
    #[error("invalid append: {0}")]
    Invalid(String),
    /// Writing or flushing failed; the outcome is unknown until the store is reopened
    /// (retry with the same event ids: an append that did land is not repeated).
    #[error("storage error, the store now refuses appends until reopened: {0}")]
    Io(String),
    /// An earlier IO error put the store in read-only mode.
    #[error("the store refuses appends after an IO error; reopen it")]
    Refused,
    /// The store is shutting down.
    #[error("the store is closed")]
    Closed,
}

/// Why a read failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// sled refused.
    #[error("storage error: {0}")]
    Io(#[from] sled::Error),
    /// A stored value is malformed.
    #[error("corrupt record at seq {seq}: {reason}")]
    Corrupt {
        /// Where.
        seq: Seq,
        /// What.
        reason: String,
    },
}
