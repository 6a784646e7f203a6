//! The NATS JetStream publisher (`custos serve --nats URL`): every committed event, in
//! seq order, to the subject `custos.events.<tenant>.<kind>` of the JetStream stream
//! `CUSTOS` (created if absent, subjects `custos.events.>`), with the event's id as the
//! `Nats-Msg-Id`, so that JetStream drops a republished event as a duplicate.
//!
//! The payload is the event's wire line ([`crate::wire::Line`]), so consumers can verify
//! it like any other. Events without a tenant go to `custos.events._.<kind>`; a `.` in a
//! tenant name (a subject separator) is written `%2E`.
//!
//! The publisher sends batches of up to [`BATCH`] events, waits for every
//! acknowledgement in order, then keeps its position in the store (outside the chain) and
//! flushes it. After a restart it resumes after that position: at most the one batch
//! whose acknowledgements were not recorded is published again, which JetStream
//! de-duplicates within the stream's duplicate window ([`DUPLICATE_WINDOW`]). On an error
//! it waits and resumes from its last recorded position.

use std::time::Duration;

use async_nats::jetstream::{self, context::Publish};
use custos_core::{Digest, Seq};
use custos_store::Store;
use tokio::sync::watch;

use crate::wire::Line;

/// The JetStream stream published to.
pub const STREAM: &str = "CUSTOS";
/// Events published before their acknowledgements are awaited.
pub const BATCH: u64 = 256;
/// The window within which JetStream drops a message id it has seen.
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(600);
/// Where the position is kept (a consumer name the API cannot register).
const CHECKPOINT: &str = "$nats-publisher";

/// Why publishing stopped for a while.
#[derive(Debug, thiserror::Error)]
pub enum NatsError {
    /// Connecting or talking to NATS failed.
    #[error("nats: {0}")]
    Nats(String),
    /// Reading the log or keeping the position failed.
    #[error("store: {0}")]
    Store(#[from] custos_store::ReadError),
}

fn nats<E: std::fmt::Display>(e: E) -> NatsError {
    NatsError::Nats(e.to_string())
}

/// The subject of an event.
pub fn subject(e: &custos_core::Event) -> String {
    let tenant = e
        .payload
        .tenant()
        .map_or_else(|| "_".to_owned(), |t| t.as_str().replace('.', "%2E"));
    format!("custos.events.{tenant}.{}", e.kind())
}

/// The last seq acknowledged by JetStream, as recorded.
pub fn position(store: &Store) -> Result<u64, NatsError> {
    Ok(store
        .consumer(CHECKPOINT)?
        .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
        .map_or(0, u64::from_be_bytes))
}

/// Publishes until `stop` turns true; reconnects and resumes after errors.
pub async fn run(store: Store, url: String, mut stop: watch::Receiver<bool>) {
    loop {
        match publish(&store, &url, &mut stop).await {
            Ok(()) => return,
            Err(e) => tracing::error!(error = %e, "nats publisher: will resume"),
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

async fn publish(
    store: &Store,
    url: &str,
    stop: &mut watch::Receiver<bool>,
) -> Result<(), NatsError> {
    let client = async_nats::connect(url).await.map_err(nats)?;
    let js = jetstream::new(client);
    js.get_or_create_stream(jetstream::stream::Config {
        name: STREAM.to_owned(),
        subjects: vec!["custos.events.>".to_owned()],
        duplicate_window: DUPLICATE_WINDOW,
        ..Default::default()
    })
    .await
    .map_err(nats)?;
    let mut head = store.watch_head();
    let mut done = position(store)?;
    let mut prev: Digest = store
        .hash_at(Seq(done))?
        .ok_or_else(|| NatsError::Nats(format!("the recorded position {done} is past the log")))?;
    tracing::info!(after = done, "nats publisher: publishing");
    loop {
        // Between batches: a stopping server ends the publisher (its position is kept).
        if *stop.borrow() {
            return Ok(());
        }
        let top = head.borrow_and_update().seq.0;
        if done >= top {
            tokio::select! {
                changed = head.changed() => {
                    if changed.is_err() {
                        return Ok(());
                    }
                }
                _ = stop.wait_for(|s| *s) => return Ok(()),
            }
            continue;
        }
        let to = top.min(done + BATCH);
        let mut acks = Vec::with_capacity((to - done) as usize);
        let mut last_hash = prev;
        for stored in store.range(Seq(done + 1), Seq(to)) {
            let stored = stored?;
            let event = stored.event()?;
            let line = Line::of(&stored, &event, last_hash).map_err(nats)?;
            let payload = serde_json::to_vec(&line).map_err(nats)?;
            let ack = js
                .send_publish(
                    subject(&event),
                    Publish::build()
                        .payload(payload.into())
                        .message_id(event.id.to_string()),
                )
                .await
                .map_err(nats)?;
            acks.push(ack);
            last_hash = stored.hash;
        }
        for ack in acks {
            ack.await.map_err(nats)?;
        }
        done = to;
        prev = last_hash;
        store.put_consumer(CHECKPOINT, &done.to_be_bytes())?;
        store.flush()?;
    }
}
