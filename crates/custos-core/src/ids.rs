//! Identifier newtypes: sequence numbers, names given by clients, and ULID-based ids.
//!
//! Two families:
//! - **names** (`TenantId`, `PrincipalId`, `StreamId`): chosen by the vendor's systems,
//!   1 to 128 bytes of `[A-Za-z0-9._:@/+-]`, validated on construction *and* on decoding;
//! - **ULIDs** (`EventId`, `GrantId`, …): 128-bit, time-ordered, written as 26-character
//!   Crockford base32 in JSON and as 16 raw bytes in the binary codec.

use std::fmt;
use std::str::FromStr;

use compact_str::CompactString;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Global position of an event in the log: dense, starting at 1.
#[derive(
    Debug, Default, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Seq(pub u64);

impl Seq {
    /// The position before the first event; `hash(ZERO)` is the genesis digest.
    pub const ZERO: Seq = Seq(0);

    /// The position after this one.
    #[must_use]
    pub fn next(self) -> Seq {
        Seq(self.0 + 1)
    }
}

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The name is empty or longer than [`MAX_NAME_LEN`].
    #[error("{kind} must be 1 to {MAX_NAME_LEN} bytes long, got {len}")]
    Length {
        /// Which identifier.
        kind: &'static str,
        /// Its length in bytes.
        len: usize,
    },
    /// The name holds a character outside `[A-Za-z0-9._:@/+-]`.
    #[error("{kind} {value:?} holds {ch:?}; allowed are letters, digits and . _ : @ / + -")]
    Character {
        /// Which identifier.
        kind: &'static str,
        /// The refused value.
        value: String,
        /// The first refused character.
        ch: char,
    },
    /// Not a 26-character ULID.
    #[error("{kind} {value:?} is not a ULID (26 characters of Crockford base32)")]
    Ulid {
        /// Which identifier.
        kind: &'static str,
        /// The refused value.
        value: String,
    },
}

/// Longest accepted name, in bytes (it is also length-prefixed with one byte in index keys).
pub const MAX_NAME_LEN: usize = 128;

/// `NAME_BYTE[b]`: whether byte `b` may appear in a name.
static NAME_BYTE: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric()
            || matches!(c, b'.' | b'_' | b':' | b'@' | b'/' | b'+' | b'-');
        b += 1;
    }
    table
};

fn check_name(kind: &'static str, value: &str) -> Result<(), IdError> {
    if value.is_empty() || value.len() > MAX_NAME_LEN {
        return Err(IdError::Length {
            kind,
            len: value.len(),
        });
    }
    // Byte by byte through a table: every allowed character is ASCII, and this runs on
    // every decoded name.
    let allowed = |b: u8| NAME_BYTE[usize::from(b)];
    if !value.bytes().all(allowed) {
        let ch = value
            .chars()
            .find(|c| !c.is_ascii() || !allowed(*c as u8))
            .unwrap_or('?');
        return Err(IdError::Character {
            kind,
            value: value.to_owned(),
            ch,
        });
    }
    Ok(())
}

/// Reads a name as borrowed text where the format allows it (bincode from a slice does),
/// so that a name of up to 24 bytes is decoded without allocating.
struct NameVisitor(&'static str);

impl serde::de::Visitor<'_> for NameVisitor {
    type Value = CompactString;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a {}", self.0)
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<CompactString, E> {
        check_name(self.0, v).map_err(E::custom)?;
        Ok(CompactString::new(v))
    }
}

macro_rules! name_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(CompactString);

        impl $name {
            /// Validates and wraps a name.
            pub fn new(value: impl AsRef<str>) -> Result<Self, IdError> {
                let value = value.as_ref();
                check_name($kind, value)?;
                Ok(Self(CompactString::new(value)))
            }

            /// The name as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::new(s)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_str(NameVisitor($kind)).map(Self)
            }
        }
    };
}

name_id!(
    /// A customer account (tenant) of the SaaS vendor.
    TenantId,
    "tenant id"
);
name_id!(
    /// Anyone who acts or is acted upon: vendor staff, a customer's user, a guest, a
    /// partner, a service. Conventionally prefixed by kind (`staff:ana`, `user:acme/bo`).
    PrincipalId,
    "principal id"
);
name_id!(
    /// One aggregate's stream of events, e.g. `tenant:acme` or `grant:01J…`; carries its
    /// own dense version counter for optimistic concurrency.
    StreamId,
    "stream id"
);

impl PrincipalId {
    /// The actor of events custos appends by itself (automatic expiry).
    pub fn system() -> PrincipalId {
        PrincipalId(CompactString::const_new("custos:system"))
    }
}

impl StreamId {
    /// Builds `prefix:id` from parts that are valid names already.
    pub fn of(prefix: &str, id: impl fmt::Display) -> Result<StreamId, IdError> {
        StreamId::new(format!("{prefix}:{id}"))
    }
}

macro_rules! ulid_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub u128);

        impl $name {
            /// Wraps a ULID.
            pub fn from_ulid(u: ulid::Ulid) -> Self {
                Self(u.0)
            }

            /// The id as a ULID.
            pub fn ulid(self) -> ulid::Ulid {
                ulid::Ulid(self.0)
            }

            /// Big-endian bytes (keys sort like the ULID).
            pub fn to_bytes(self) -> [u8; 16] {
                self.0.to_be_bytes()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.ulid(), f)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                ulid::Ulid::from_string(s)
                    .map(Self::from_ulid)
                    .map_err(|_| IdError::Ulid { kind: $kind, value: s.to_owned() })
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                if s.is_human_readable() {
                    s.collect_str(self)
                } else {
                    s.serialize_u128(self.0)
                }
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                if d.is_human_readable() {
                    let s = String::deserialize(d)?;
                    s.parse().map_err(serde::de::Error::custom)
                } else {
                    u128::deserialize(d).map(Self)
                }
            }
        }
    };
}

ulid_id!(
    /// An event's id, chosen by the client: a retry with the same id is the same event.
    EventId,
    "event id"
);
ulid_id!(
    /// Ties together the events caused by one request or workflow.
    CorrelationId,
    "correlation id"
);
ulid_id!(
    /// One access grant (request → approval → expiry or revocation).
    GrantId,
    "grant id"
);
ulid_id!(
    /// One guest, contact or partner invitation.
    InvitationId,
    "invitation id"
);
ulid_id!(
    /// One consent given by a customer.
    ConsentId,
    "consent id"
);
ulid_id!(
    /// One impersonation / view-as session.
    SessionId,
    "session id"
);
ulid_id!(
    /// One review recorded by a support lead.
    ReviewId,
    "review id"
);
ulid_id!(
    /// One API token (its secret is never stored, only its hash).
    TokenId,
    "token id"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_validated() {
        assert!(TenantId::new("acme-01").is_ok());
        assert!(matches!(
            TenantId::new(""),
            Err(IdError::Length { len: 0, .. })
        ));
        assert!(matches!(
            PrincipalId::new("staff ana"),
            Err(IdError::Character { ch: ' ', .. })
        ));
        assert!(StreamId::new("x".repeat(MAX_NAME_LEN + 1)).is_err());
    }

    #[test]
    fn ulid_ids_are_strings_in_json_and_round_trip() {
        let id = EventId(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        let json = serde_json::to_string(&id).expect("encode");
        assert_eq!(json, format!("\"{id}\""));
        let back: EventId = serde_json::from_str(&json).expect("decode");
        assert_eq!(back, id);
        assert!("not-a-ulid".parse::<GrantId>().is_err());
    }

    #[test]
    fn the_byte_table_allows_exactly_the_documented_characters() {
        let documented = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:@/+-";
        for b in 0..=255u8 {
            let expected = documented.as_bytes().contains(&b);
            assert_eq!(NAME_BYTE[usize::from(b)], expected, "byte {b}");
        }
        assert!(TenantId::new("é").is_err(), "non-ASCII is refused");
    }

    #[test]
    fn short_and_long_names_round_trip_through_json() {
        // 24 bytes are kept inline, longer names on the heap: both must read back.
        for name in [
            "a",
            "tenant-0000000000000001",
            &"x".repeat(25),
            &"y".repeat(128),
        ] {
            let id = PrincipalId::new(name).expect("valid");
            let json = serde_json::to_string(&id).expect("encode");
            assert_eq!(json, format!("\"{name}\""));
            let back: PrincipalId = serde_json::from_str(&json).expect("decode");
            assert_eq!(back.as_str(), name);
        }
        // An escaped character in JSON is not borrowed text; it still decodes.
        let back: TenantId = serde_json::from_str("\"ac\\u006de\"").expect("decode");
        assert_eq!(back.as_str(), "acme");
    }

    #[test]
    fn invalid_names_are_refused_when_decoding() {
        let err = serde_json::from_str::<TenantId>("\"a b\"").expect_err("must refuse");
        assert!(err.to_string().contains("allowed are"), "{err}");
    }
}
