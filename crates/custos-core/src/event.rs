//! The envelope: what every stored event records around its payload.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::{CorrelationId, EventId, EventKind, Payload, PrincipalId, Seq, StreamId, Timestamp};

/// One event as stored in the log. Its encoding (see [`crate::codec`]) is what the hash
/// chain covers, so every field here is tamper-evident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Global position, dense from 1; assigned by the store's writer.
    pub seq: Seq,
    /// The aggregate stream the event belongs to.
    pub stream: StreamId,
    /// Version in that stream, dense from 1; assigned by the writer.
    pub version: u64,
    /// The client's id for the event; a retry with the same id is not appended twice.
    pub id: EventId,
    /// The server's time of recording; never decreases along the log.
    pub recorded_at: Timestamp,
    /// Who caused it (from the caller's credentials, never from the payload).
    pub actor: PrincipalId,
    /// The actor's source IP, where known (Workiva's activity log).
    pub source_ip: Option<IpAddr>,
    /// Groups the events of one request or workflow.
    pub correlation: Option<CorrelationId>,
    /// The event that caused this one (e.g. the grant whose expiry ended a session).
    pub causation: Option<EventId>,
    /// What happened.
    pub payload: Payload,
}

impl Event {
    /// The payload's kind.
    pub fn kind(&self) -> EventKind {
        self.payload.kind()
    }
}

/// An event as a client submits it: everything but what the writer assigns
/// (seq, version, recorded-at time).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewEvent {
    /// The client's id (idempotency key).
    pub id: EventId,
    /// Who caused it.
    pub actor: PrincipalId,
    /// The actor's source IP.
    pub source_ip: Option<IpAddr>,
    /// Correlation id.
    pub correlation: Option<CorrelationId>,
    /// Causation id.
    pub causation: Option<EventId>,
    /// What happened.
    pub payload: Payload,
}

impl NewEvent {
    /// A new event with only the required fields.
    pub fn new(id: EventId, actor: PrincipalId, payload: Payload) -> NewEvent {
        NewEvent {
            id,
            actor,
            source_ip: None,
            correlation: None,
            causation: None,
            payload,
        }
    }

    /// The stored event, once the writer has placed it.
    pub fn place(self, seq: Seq, stream: StreamId, version: u64, recorded_at: Timestamp) -> Event {
        Event {
            seq,
            stream,
            version,
            id: self.id,
            recorded_at,
            actor: self.actor,
            source_ip: self.source_ip,
            correlation: self.correlation,
            causation: self.causation,
            payload: self.payload,
        }
    }
}
