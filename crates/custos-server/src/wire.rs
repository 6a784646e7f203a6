//! The wire form of one event, shared by exports (`custos export`), the event stream
//! (`GET /v1/stream`) and their verifiers: the exact stored bytes (`record`, base64), the
//! chain hashes around them, and the decoded event for people.

use base64::Engine;
use custos_core::{Digest, Event};
use custos_store::StoredEvent;
use serde::{Deserialize, Serialize};

/// One event. The chain covers `record`: `hash = BLAKE3(0x02 ‖ prev_hash ‖
/// BLAKE3(0x00 ‖ record))`; a verifier also checks that `event` is the decoding of
/// `record`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Line {
    /// The event's seq.
    pub seq: u64,
    /// `hash(seq - 1)`.
    pub prev_hash: Digest,
    /// `hash(seq)`.
    pub hash: Digest,
    /// The exact stored bytes, base64 (standard alphabet, padded).
    pub record: String,
    /// The decoded event.
    pub event: serde_json::Value,
}

/// The base64 engine of `record`.
pub fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

impl Line {
    /// The line of a stored event whose predecessor's hash is `prev_hash`.
    pub fn of(
        stored: &StoredEvent,
        event: &Event,
        prev_hash: Digest,
    ) -> Result<Line, serde_json::Error> {
        Ok(Line {
            seq: stored.seq.0,
            prev_hash,
            hash: stored.hash,
            record: b64().encode(stored.record()),
            event: serde_json::to_value(event)?,
        })
    }
}
