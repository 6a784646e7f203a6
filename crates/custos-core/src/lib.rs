//! custos-core: the pure domain of the custos access-audit ledger.
//!
//! Everything here is a function of its inputs: no IO, no clock, no threads. The store,
//! the server and the CLI build on it; so can any third party that wants to check a log.
//!
//! - [`ids`], [`time`], [`vocab`]: the newtypes and vocabularies of the domain;
//! - [`Payload`] and [`Event`]: every fact the ledger records, in its envelope;
//! - [`codec`]: the one place that turns events into stored bytes and back;
//! - [`chain`] and [`verify`]: the hash chain and its verifier;
//! - [`access`]: the access projection — who can enter which tenant at an instant, and why;
//! - [`policy`]: `decide(state, actor, command, now)` — the vendors' rules.
//!
//! ```
//! use custos_core::{chain, codec, verify, Event, EventId, NewEvent, Payload, PrincipalId,
//!     Seq, StreamId, TenantId, Timestamp};
//!
//! let tenant = TenantId::new("acme").unwrap();
//! let new = NewEvent::new(EventId(1), PrincipalId::new("staff:ana").unwrap(),
//!     Payload::OnboardingOpened { tenant: tenant.clone() });
//! let event = new.place(Seq(1), StreamId::of("tenant", &tenant).unwrap(), 1,
//!     Timestamp::from_secs(1_700_000_000));
//! let record = codec::encode(&event).unwrap();
//! let hash = chain::chain_hash(&chain::Digest::GENESIS, &record);
//! let head = verify::verify([(Seq(1), record.as_slice(), Some(hash))], None).unwrap();
//! assert_eq!(head.hash, hash);
//! ```

pub mod access;
pub mod chain;
pub mod codec;
mod event;
pub mod findings;
pub mod ids;
mod payload;
pub mod policy;
pub mod time;
pub mod verify;
pub mod vocab;

pub use chain::Digest;
pub use event::{Event, NewEvent};
pub use ids::{
    ConsentId, CorrelationId, EventId, GrantId, IdError, InvitationId, PrincipalId, ReviewId, Seq,
    SessionId, StreamId, TenantId, TokenId,
};
pub use payload::{EventKind, InitialSupport, Payload, Text, UnknownKind};
pub use time::Timestamp;
pub use verify::{ChainVerifier, Fault, Head, VerifyError};
