//! The one place that encodes and decodes stored records (bincode 1.3.3, pinned).
//!
//! A stored record is `FORMAT_VERSION (1 byte) ‖ bincode(Event)` with bincode's varint
//! integers, little-endian, no trailing bytes, and at most [`MAX_RECORD_BYTES`] in all.
//! bincode is unmaintained (RUSTSEC-2025-0141); keeping every use here, with golden byte
//! vectors in `tests/golden`, makes a later switch mechanical. Decoders accept some
//! non-canonical input, which is why the chain hashes the *stored* bytes and never a
//! re-encoding.

use bincode::Options;

use crate::Event;

/// The record format written by this version of custos.
pub const FORMAT_VERSION: u8 = 1;

/// The largest record accepted, in bytes (encoding and decoding).
pub const MAX_RECORD_BYTES: usize = 64 * 1024;

/// Why a record could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The record is empty.
    #[error("empty record")]
    Empty,
    /// The first byte names a format this version does not read.
    #[error("unknown record format version {0}")]
    UnknownFormat(u8),
    /// The record would exceed [`MAX_RECORD_BYTES`].
    #[error("record exceeds {MAX_RECORD_BYTES} bytes")]
    TooLarge,
    /// bincode refused the bytes.
    #[error("malformed record: {0}")]
    Malformed(String),
}

fn options() -> impl Options {
    bincode::DefaultOptions::new()
        .with_varint_encoding()
        .with_little_endian()
        .reject_trailing_bytes()
        .with_limit(MAX_RECORD_BYTES as u64)
}

/// Encodes an event into the exact bytes to store.
pub fn encode(event: &Event) -> Result<Vec<u8>, CodecError> {
    let body = options().serialize(event).map_err(|e| match *e {
        bincode::ErrorKind::SizeLimit => CodecError::TooLarge,
        other => CodecError::Malformed(other.to_string()),
    })?;
    if body.len() + 1 > MAX_RECORD_BYTES {
        return Err(CodecError::TooLarge);
    }
    let mut out = Vec::with_capacity(body.len() + 1);
    out.push(FORMAT_VERSION);
    out.extend_from_slice(&body);
    Ok(out)
}

/// Decodes stored bytes into an event, refusing oversized or trailing input.
pub fn decode(record: &[u8]) -> Result<Event, CodecError> {
    let (&version, body) = record.split_first().ok_or(CodecError::Empty)?;
    if version != FORMAT_VERSION {
        return Err(CodecError::UnknownFormat(version));
    }
    if record.len() > MAX_RECORD_BYTES {
        return Err(CodecError::TooLarge);
    }
    options().deserialize(body).map_err(|e| match *e {
        bincode::ErrorKind::SizeLimit => CodecError::TooLarge,
        other => CodecError::Malformed(other.to_string()),
    })
}

/// The seq embedded in a record (its first field), read without decoding the rest; `None`
/// if the record does not start like one. The store finds an event's place in a packed
/// log value this way; [`decode`] still decides whether the whole record is sound.
pub fn peek_seq(record: &[u8]) -> Option<crate::Seq> {
    let (&version, body) = record.split_first()?;
    if version != FORMAT_VERSION {
        return None;
    }
    options()
        .allow_trailing_bytes()
        .deserialize::<u64>(body)
        .ok()
        .map(crate::Seq)
}

/// The `recorded_at` of a record (its fifth field, after seq, stream, version and id),
/// read without decoding the rest; `None` if the record does not start like one. The
/// store finds the first event recorded at a time by a binary search over the log.
pub fn peek_recorded_at(record: &[u8]) -> Option<crate::Timestamp> {
    let (&version, body) = record.split_first()?;
    if version != FORMAT_VERSION {
        return None;
    }
    type Leading = (
        crate::Seq,
        crate::StreamId,
        u64,
        crate::EventId,
        crate::Timestamp,
    );
    options()
        .allow_trailing_bytes()
        .deserialize::<Leading>(body)
        .ok()
        .map(|l| l.4)
}

/// The snapshot format written by this version of custos (first byte of a snapshot).
/// 2: grants remember their extensions, sessions their grant. 3: closed grants and
/// ended sessions keep only their tenant and subject. A snapshot of another format is
/// ignored and the projection folded from the log instead.
pub const SNAPSHOT_FORMAT: u8 = 3;

/// The largest snapshot accepted, in bytes.
pub const MAX_SNAPSHOT_BYTES: u64 = 1 << 30;

fn snapshot_options() -> impl Options {
    bincode::DefaultOptions::new()
        .with_varint_encoding()
        .with_little_endian()
        .reject_trailing_bytes()
        .with_limit(MAX_SNAPSHOT_BYTES)
}

/// Encodes a projection snapshot: `SNAPSHOT_FORMAT ‖ bincode(state)`. Snapshots are an
/// optimisation outside the chain: a reader checks the log's hash at their seq and can
/// always rebuild from the log instead.
pub fn encode_snapshot<T: serde::Serialize>(state: &T) -> Result<Vec<u8>, CodecError> {
    let mut out = vec![SNAPSHOT_FORMAT];
    snapshot_options()
        .serialize_into(&mut out, state)
        .map_err(|e| match *e {
            bincode::ErrorKind::SizeLimit => CodecError::TooLarge,
            other => CodecError::Malformed(other.to_string()),
        })?;
    Ok(out)
}

/// Decodes what [`encode_snapshot`] wrote.
pub fn decode_snapshot<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    let (&version, body) = bytes.split_first().ok_or(CodecError::Empty)?;
    if version != SNAPSHOT_FORMAT {
        return Err(CodecError::UnknownFormat(version));
    }
    snapshot_options().deserialize(body).map_err(|e| match *e {
        bincode::ErrorKind::SizeLimit => CodecError::TooLarge,
        other => CodecError::Malformed(other.to_string()),
    })
}
