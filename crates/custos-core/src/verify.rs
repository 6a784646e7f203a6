//! Verification of the hash chain: a streaming [`ChainVerifier`] shared by the store's
//! open-time check, `custos verify` (data dir and export) and subscribers, returning a
//! typed [`VerifyError`] that names the first bad seq and the kind of fault.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::chain::{leaf, link, Digest};
use crate::codec;
use crate::{Event, Seq};

/// A point of the chain: a seq and `hash(seq)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    /// The last seq covered (0 for an empty log).
    pub seq: Seq,
    /// `hash(seq)`.
    pub hash: Digest,
}

impl Head {
    /// The head of an empty log.
    pub const GENESIS: Head = Head {
        seq: Seq::ZERO,
        hash: Digest::GENESIS,
    };
}

impl fmt::Display for Head {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.seq, self.hash)
    }
}

/// The kind of fault found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// The hash recomputed from the stored bytes differs from the stored (or stated) one.
    HashMismatch {
        /// The hash kept beside the record.
        stored: Digest,
        /// The hash recomputed from the record.
        computed: Digest,
    },
    /// A stated `prev_hash` differs from the previous record's hash.
    BrokenLink {
        /// The `prev_hash` stated with the record.
        stated: Digest,
        /// The hash of the previous record.
        computed: Digest,
    },
    /// The expected seq is missing: the next record present has a higher seq.
    Gap {
        /// The seq found where the expected one should be.
        found: Seq,
    },
    /// A record is out of place: a lower seq than expected, or bytes that say they are
    /// another seq.
    Reorder {
        /// The seq found (or claimed by the record).
        found: Seq,
    },
    /// The stored bytes do not decode as an event.
    Undecodable {
        /// The decoder's complaint.
        reason: String,
    },
    /// The log ends before a head known from elsewhere.
    Truncated {
        /// The last seq present.
        last: Seq,
        /// The known head's seq.
        known: Seq,
    },
    /// The chain is intact but differs from a head known from elsewhere at that seq.
    HeadMismatch {
        /// The known hash.
        known: Digest,
        /// The hash the log has.
        computed: Digest,
    },
    /// An export line's `event` differs from the decoding of its `record`.
    EventMismatch,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::HashMismatch { stored, computed } => {
                write!(f, "hash mismatch: stored {stored}, recomputed {computed}")
            }
            Fault::BrokenLink { stated, computed } => write!(
                f,
                "broken link: prev_hash {stated} but the previous hash is {computed}"
            ),
            Fault::Gap { found } => write!(f, "gap: missing, next present is seq {found}"),
            Fault::Reorder { found } => write!(f, "reorder: found seq {found} in its place"),
            Fault::Undecodable { reason } => write!(f, "undecodable record: {reason}"),
            Fault::Truncated { last, known } => write!(
                f,
                "truncated: the log ends at seq {last} but the known head is seq {known}"
            ),
            Fault::HeadMismatch { known, computed } => {
                write!(f, "head mismatch: known {known}, the log has {computed}")
            }
            Fault::EventMismatch => {
                f.write_str("event mismatch: `event` is not the decoding of `record`")
            }
        }
    }
}

impl Fault {
    /// A short stable name of the kind (for JSON and tests).
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::HashMismatch { .. } => "hash_mismatch",
            Fault::BrokenLink { .. } => "broken_link",
            Fault::Gap { .. } => "gap",
            Fault::Reorder { .. } => "reorder",
            Fault::Undecodable { .. } => "undecodable",
            Fault::Truncated { .. } => "truncated",
            Fault::HeadMismatch { .. } => "head_mismatch",
            Fault::EventMismatch => "event_mismatch",
        }
    }
}

/// The first bad seq and what is wrong there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("seq {seq}: {fault}")]
pub struct VerifyError {
    /// The first seq at which the chain does not hold.
    pub seq: Seq,
    /// What is wrong there.
    pub fault: Fault,
}

/// Checks records one at a time, in order, from genesis or from a trusted point.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    head: Head,
    anchor: Option<Head>,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self::new()
    }
}

impl ChainVerifier {
    /// Starts at genesis.
    pub fn new() -> Self {
        Self::resume(Head::GENESIS)
    }

    /// Starts after a point already trusted (a verified checkpoint, a subscriber's
    /// last event).
    pub fn resume(from: Head) -> Self {
        ChainVerifier {
            head: from,
            anchor: None,
        }
    }

    /// Also checks the chain against a head known from elsewhere (a printed head, a
    /// receipt): the hash at that seq must match, and the log must reach it.
    #[must_use]
    pub fn with_anchor(mut self, known: Head) -> Self {
        self.anchor = Some(known);
        self
    }

    /// The last point verified.
    pub fn head(&self) -> Head {
        self.head
    }

    /// The seq expected next.
    pub fn expected(&self) -> Seq {
        self.head.seq.next()
    }

    /// Checks the record found at `seq`, and the hash kept or delivered beside it if any;
    /// returns the decoded event.
    pub fn push(
        &mut self,
        seq: Seq,
        record: &[u8],
        stored: Option<&Digest>,
    ) -> Result<Event, VerifyError> {
        self.push_leaf(seq, record, &leaf(record), stored)
    }

    /// As [`push`](Self::push), with the leaf hash already computed (so that callers can
    /// hash records on several cores; only the link is sequential).
    pub fn push_leaf(
        &mut self,
        seq: Seq,
        record: &[u8],
        leaf: &Digest,
        stored: Option<&Digest>,
    ) -> Result<Event, VerifyError> {
        let expected = self.expected();
        let fail = |fault| VerifyError {
            seq: expected,
            fault,
        };
        if seq > expected {
            return Err(fail(Fault::Gap { found: seq }));
        }
        if seq < expected {
            return Err(fail(Fault::Reorder { found: seq }));
        }
        let event = codec::decode(record).map_err(|e| {
            fail(Fault::Undecodable {
                reason: e.to_string(),
            })
        })?;
        if event.seq != seq {
            return Err(fail(Fault::Reorder { found: event.seq }));
        }
        let computed = link(&self.head.hash, leaf);
        if let Some(stored) = stored {
            if *stored != computed {
                return Err(fail(Fault::HashMismatch {
                    stored: *stored,
                    computed,
                }));
            }
        }
        if let Some(anchor) = self.anchor {
            if anchor.seq == seq && anchor.hash != computed {
                return Err(fail(Fault::HeadMismatch {
                    known: anchor.hash,
                    computed,
                }));
            }
        }
        self.head = Head {
            seq,
            hash: computed,
        };
        Ok(event)
    }

    /// Ends verification: the log must reach the anchor, if one was given.
    pub fn finish(self) -> Result<Head, VerifyError> {
        if let Some(anchor) = self.anchor {
            if anchor.seq > self.head.seq {
                return Err(VerifyError {
                    seq: self.head.seq.next(),
                    fault: Fault::Truncated {
                        last: self.head.seq,
                        known: anchor.seq,
                    },
                });
            }
        }
        Ok(self.head)
    }
}

/// Verifies a whole log: `(seq, record, stored hash)` in the order found, from genesis,
/// against an optional known head.
pub fn verify<'a, I>(records: I, known: Option<Head>) -> Result<Head, VerifyError>
where
    I: IntoIterator<Item = (Seq, &'a [u8], Option<Digest>)>,
{
    let mut v = ChainVerifier::new();
    if let Some(k) = known {
        v = v.with_anchor(k);
    }
    for (seq, record, stored) in records {
        v.push(seq, record, stored.as_ref())?;
    }
    v.finish()
}
