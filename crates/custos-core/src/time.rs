//! `Timestamp`: microseconds since the Unix epoch, RFC 3339 in JSON, an integer on disk.
//!
//! Core never reads a clock (invariant 5): times come in as values.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// An instant, in microseconds since 1970-01-01T00:00:00Z (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

/// A timestamp that is not RFC 3339, or is out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not an RFC 3339 timestamp such as 2026-11-22T10:00:00Z")]
pub struct TimestampError {
    /// The refused text.
    pub value: String,
}

impl Timestamp {
    /// Microseconds in a second.
    pub const SECOND: i64 = 1_000_000;
    /// Microseconds in a day.
    pub const DAY: i64 = 86_400 * Self::SECOND;

    /// From whole seconds since the epoch.
    pub fn from_secs(secs: i64) -> Timestamp {
        Timestamp(secs * Self::SECOND)
    }

    /// From a `time` value (sub-microsecond digits are dropped).
    pub fn from_datetime(dt: OffsetDateTime) -> Timestamp {
        Timestamp((dt.unix_timestamp_nanos() / 1_000) as i64)
    }

    /// As a `time` value in UTC.
    pub fn to_datetime(self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// This instant plus `micros` (saturating).
    #[must_use]
    pub fn plus_micros(self, micros: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(micros))
    }

    /// This instant plus whole seconds (saturating).
    #[must_use]
    pub fn plus_secs(self, secs: i64) -> Timestamp {
        self.plus_micros(secs.saturating_mul(Self::SECOND))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_datetime().format(&Rfc3339) {
            Ok(s) => f.write_str(&s),
            Err(_) => write!(f, "@{}us", self.0),
        }
    }
}

impl FromStr for Timestamp {
    type Err = TimestampError;
    fn from_str(s: &str) -> Result<Self, TimestampError> {
        OffsetDateTime::parse(s, &Rfc3339)
            .map(Timestamp::from_datetime)
            .map_err(|_| TimestampError {
                value: s.to_owned(),
            })
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.collect_str(self)
        } else {
            s.serialize_i64(self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            let s = String::deserialize(d)?;
            s.parse().map_err(serde::de::Error::custom)
        } else {
            i64::deserialize(d).map(Timestamp)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trip_keeps_microseconds() {
        let t: Timestamp = "2026-11-22T10:00:00.123456Z".parse().expect("parse");
        assert_eq!(t.to_string(), "2026-11-22T10:00:00.123456Z");
        assert_eq!(t.0 % Timestamp::SECOND, 123_456);
        assert!("yesterday".parse::<Timestamp>().is_err());
    }

    #[test]
    fn json_is_text() {
        let t = Timestamp::from_secs(0);
        assert_eq!(
            serde_json::to_string(&t).expect("encode"),
            "\"1970-01-01T00:00:00Z\""
        );
    }
}
