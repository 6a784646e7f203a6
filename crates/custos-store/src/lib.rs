//! custos-store: the ledger's log on sled.
//!
//! One [`Store`] per data directory. Appends go to a single writer thread that commits
//! *groups*: it drains every waiting append (up to a limit), assigns seqs, versions and
//! hashes, writes the log records and the new head in **one atomic sled batch**, flushes
//! **once**, and only then answers every waiter. So an acknowledged event is on disk.
//! Secondary indexes (event id, stream, tenant, actor, kind) are kept in a memtable and
//! sealed every 128k events by a background thread, which writes their checkpoint only
//! after them (a seal cut short is removed on open); everything after the checkpoint is
//! re-derived from the log on open, so the indexes can never disagree with the log. After an IO error the writer refuses appends
//! until the store is reopened. On open, the tail written since the last verified point is
//! checked against the chain. See `docs/design.md` for the key layout and the crash
//! argument.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use custos_core::{EventId, NewEvent, Payload, PrincipalId, StreamId, TenantId};
//! use custos_store::{AppendRequest, Store, StoreConfig};
//!
//! let store = Store::open("./custos-data", StoreConfig::default())?;
//! let tenant = TenantId::new("acme")?;
//! let appended = store
//!     .append(AppendRequest {
//!         stream: StreamId::of("tenant", &tenant)?,
//!         expected: Some(0),
//!         events: vec![NewEvent::new(
//!             EventId(1),
//!             PrincipalId::new("staff:csd")?,
//!             Payload::OnboardingOpened { tenant },
//!         )],
//!     })
//!     .await?;
//! println!("durable at seq {}", appended.first);
//! # Ok(()) }
//! ```

mod blobs;
mod checkpoints;
mod clock;
mod error;
mod filters;
mod index;
mod keys;
mod packs;
mod project;
mod replay;
mod seal;
mod store;
mod tables;
mod upgrade;
mod verify;
mod writer;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{AppendError, OpenError, ReadError};
pub use store::{
    sled_config, AppendRequest, Appended, GroupObserver, IndexFilter, PendingAppend, Stats, Store,
    StoreConfig, StoredEvent, DEFAULT_CACHE_BYTES, SEGMENT_BYTES,
};
pub use verify::{verify_dir, VerifyDirError};

/// Raw access to the key layout for tamper tests and benchmarks; not a stable API.
#[doc(hidden)]
pub mod raw {
    pub use crate::index::postings::{self, get_varint};
    pub use crate::index::{BLOCK_BYTES, POSTINGS_BLOCK};
    pub use crate::keys::*;
    pub use crate::packs::{edit_entries, entry_value, PackBuilder, PACK};
}
