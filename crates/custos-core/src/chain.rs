//! The hash chain: `Digest`, leaf and link hashes (DESIGN.md invariant 2).
//!
//! ```text
//! leaf(n) = blake3(0x00 ‖ record(n))
//! hash(n) = blake3(0x02 ‖ hash(n-1) ‖ leaf(n))      hash(0) = 32 zero bytes
//! ```
//! The tag bytes separate the domains: 0x00 for leaves, 0x02 for chain links; 0x01 is
//! reserved for interior nodes of a future Merkle tree over the same leaves.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Tag of a leaf hash.
pub const LEAF_TAG: u8 = 0x00;
/// Tag of a chain link.
pub const CHAIN_TAG: u8 = 0x02;

/// A 32-byte BLAKE3 digest: hex in JSON, raw bytes in binary.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    /// `hash(0)`: the link before the first event.
    pub const GENESIS: Digest = Digest([0; 32]);

    /// Lower-case hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.to_hex())
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// Text that is not 64 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a digest (64 hex digits)")]
pub struct DigestError(pub String);

impl FromStr for Digest {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Self, DigestError> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).map_err(|_| DigestError(s.to_owned()))?;
        Ok(Digest(out))
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.collect_str(self)
        } else {
            self.0.serialize(s)
        }
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            let s = String::deserialize(d)?;
            s.parse().map_err(serde::de::Error::custom)
        } else {
            <[u8; 32]>::deserialize(d).map(Digest)
        }
    }
}

/// `leaf(n) = blake3(LEAF_TAG ‖ record)`.
pub fn leaf(record: &[u8]) -> Digest {
    let mut h = blake3::Hasher::new();
    h.update(&[LEAF_TAG]);
    h.update(record);
    Digest(*h.finalize().as_bytes())
}

/// `hash(n) = blake3(CHAIN_TAG ‖ hash(n-1) ‖ leaf(n))`.
pub fn link(prev: &Digest, leaf: &Digest) -> Digest {
    let mut buf = [0u8; 65];
    buf[0] = CHAIN_TAG;
    buf[1..33].copy_from_slice(&prev.0);
    buf[33..].copy_from_slice(&leaf.0);
    Digest(*blake3::hash(&buf).as_bytes())
}

/// `hash(n)` from `hash(n-1)` and the stored record.
pub fn chain_hash(prev: &Digest, record: &[u8]) -> Digest {
    link(prev, &leaf(record))
}
