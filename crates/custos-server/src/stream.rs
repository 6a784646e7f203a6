//! `GET /v1/stream`: Server-Sent Events — every event from a seq on, then live, in seq
//! order, with no gap and no duplicate.
//!
//! There is no separate live buffer to switch to: a subscriber is a cursor on the log.
//! It reads up to [`BATCH`] events from the store, sends them, and when it has reached
//! the head it waits for the head to move (the writer publishes it after each durable
//! group). Catch-up and live are the same loop, so nothing can be lost or repeated at the
//! switch, and a subscriber that falls behind simply reads from the store. Nothing is
//! buffered beyond one batch: the stream is pulled as the connection accepts bytes.
//!
//! Each SSE event has `id:` = its seq (a reconnecting client sends `Last-Event-ID` and
//! resumes exactly after it), `event: ledger`, and `data:` = the event's wire line
//! ([`crate::wire::Line`]: seq, prev_hash, hash, record, event), so a subscriber can
//! verify the chain as it reads. Filters (`tenant`, `kind`, `stream`) are applied on the
//! server; filtered-out events still advance the cursor. Keep-alive comments every 15 s.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as Sse, KeepAlive};
use axum::response::{Response, Sse as SseResponse};
use axum::routing::get;
use axum::Router;
use custos_core::vocab::ApiRole;
use custos_core::{Digest, EventKind, Head, Seq, StreamId, TenantId};
use custos_store::Store;
use futures_util::stream::{self, Stream};
use serde::Deserialize;
use tokio::sync::watch;

use crate::auth::Caller;
use crate::wire::Line;
use crate::{AppState, Problem};

/// Events read from the store at a time.
pub const BATCH: u64 = 256;
/// How often an idle stream sends a keep-alive comment.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    from: Option<u64>,
    tenant: Option<String>,
    kind: Option<String>,
    stream: Option<String>,
}

/// What a subscriber wants.
#[derive(Debug, Clone, Default)]
pub(crate) struct Filter {
    tenant: Option<TenantId>,
    kind: Option<EventKind>,
    stream: Option<StreamId>,
}

impl Filter {
    fn keeps(&self, e: &custos_core::Event) -> bool {
        self.tenant
            .as_ref()
            .is_none_or(|t| e.payload.tenant() == Some(t))
            && self.kind.is_none_or(|k| e.kind() == k)
            && self.stream.as_ref().is_none_or(|s| e.stream == *s)
    }
}

/// A subscriber's position on the log.
pub(crate) struct Cursor {
    store: Store,
    head: watch::Receiver<Head>,
    filter: Filter,
    /// The next seq to read.
    next: Seq,
    /// `hash(next - 1)`.
    prev: Digest,
    ready: std::collections::VecDeque<Line>,
    /// Set when the server shuts down: the stream ends (clients resume elsewhere).
    stop: watch::Receiver<bool>,
    /// After an error, the stream ends.
    done: bool,
    _gauge: Gauge,
}

/// Counts the subscriber in `/metrics` while it lives.
struct Gauge(prometheus_client::metrics::gauge::Gauge);

impl Drop for Gauge {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl Cursor {
    /// The next line to send; `None` once the store is closed or the server stops.
    pub(crate) async fn next(&mut self) -> Option<Result<Line, String>> {
        loop {
            if let Some(line) = self.ready.pop_front() {
                return Some(Ok(line));
            }
            let head = self.head.borrow_and_update().seq;
            if self.next <= head {
                if let Err(e) = self.read(head) {
                    return Some(Err(e));
                }
                continue;
            }
            // At the head: wait for the writer to publish a new one.
            tokio::select! {
                changed = self.head.changed() => {
                    if changed.is_err() {
                        return None;
                    }
                }
                _ = self.stop.wait_for(|stop| *stop) => return None,
            }
        }
    }

    /// Reads one batch up to `head` into `ready`.
    fn read(&mut self, head: Seq) -> Result<(), String> {
        let to = Seq(head.0.min(self.next.0 + BATCH - 1));
        for stored in self.store.range(self.next, to) {
            let stored = stored.map_err(|e| e.to_string())?;
            let event = stored.event().map_err(|e| e.to_string())?;
            if self.filter.keeps(&event) {
                self.ready
                    .push_back(Line::of(&stored, &event, self.prev).map_err(|e| e.to_string())?);
            }
            self.prev = stored.hash;
            self.next = stored.seq.next();
        }
        if self.next <= to {
            return Err(format!("the log has no event at seq {}", self.next));
        }
        Ok(())
    }
}

/// Parses the filter of a subscription.
pub(crate) fn parse_filter(
    tenant: Option<&str>,
    kind: Option<&str>,
    stream: Option<&str>,
) -> Result<Filter, Problem> {
    let parse = |e: &dyn std::fmt::Display| Problem::bad_request("invalid-query", e.to_string());
    Ok(Filter {
        tenant: tenant
            .map(TenantId::new)
            .transpose()
            .map_err(|e| parse(&e))?,
        kind: kind.map(str::parse).transpose().map_err(|e| parse(&e))?,
        stream: stream
            .map(StreamId::new)
            .transpose()
            .map_err(|e| parse(&e))?,
    })
}

/// The seq a reconnection asks to resume after (`Last-Event-ID`).
pub(crate) fn last_event_id(headers: &HeaderMap) -> Result<Option<u64>, Problem> {
    match headers.get("last-event-id") {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .map(Some)
            .ok_or_else(|| Problem::bad_request("invalid-header", "Last-Event-ID must be a seq")),
    }
}

/// The response streaming every event from `next` on that `filter` keeps.
pub(crate) fn respond(
    state: &AppState,
    filter: Filter,
    next: Seq,
) -> Result<SseResponse<impl Stream<Item = Result<Sse, Infallible>> + use<>>, Problem> {
    let cursor = cursor(state, filter, next)?;
    let events = stream::unfold(cursor, |mut cursor| async move {
        if cursor.done || *cursor.stop.borrow() {
            return None;
        }
        let item = match cursor.next().await? {
            Ok(line) => {
                let data = serde_json::to_string(&line).unwrap_or_default();
                Sse::default()
                    .id(line.seq.to_string())
                    .event("ledger")
                    .data(data)
            }
            Err(e) => {
                tracing::error!(error = %e, "stream: cannot read the log");
                // Tell the subscriber and end; it resumes with Last-Event-ID.
                cursor.done = true;
                Sse::default().event("error").data(e)
            }
        };
        Some((Ok(item), cursor))
    });
    Ok(SseResponse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}

/// A cursor at `next` (1 to head + 1), counted in `/metrics` while it lives.
pub(crate) fn cursor(state: &AppState, filter: Filter, next: Seq) -> Result<Cursor, Problem> {
    let head = state.store.head();
    if next.0 == 0 || next.0 > head.seq.0 + 1 {
        return Err(Problem::bad_request(
            "invalid-query",
            format!(
                "seq {} is not between 1 and the head ({}) + 1",
                next.0, head.seq
            ),
        ));
    }
    let prev = state
        .store
        .hash_at(Seq(next.0 - 1))
        .map_err(|e| Problem::internal(&e))?
        .ok_or_else(|| Problem::internal(&"no hash before the start"))?;
    state.metrics.subscribers.inc();
    Ok(Cursor {
        store: state.store.clone(),
        head: state.store.watch_head(),
        filter,
        next,
        prev,
        ready: std::collections::VecDeque::new(),
        stop: state.stopping.subscribe(),
        done: false,
        _gauge: Gauge(state.metrics.subscribers.clone()),
    })
}

/// Who may subscribe, and what: the query and its filter (a tenant admin's is confined
/// to its tenant).
fn subscription(
    caller: &Caller,
    params: Result<Query<Params>, axum::extract::rejection::QueryRejection>,
) -> Result<(Params, Filter), Problem> {
    caller.require(&[
        ApiRole::Admin,
        ApiRole::Reviewer,
        ApiRole::Lead,
        ApiRole::Subscriber,
        ApiRole::TenantAdmin,
    ])?;
    let Query(p) = params.map_err(|e| Problem::bad_request("invalid-query", e.body_text()))?;
    let mut filter = parse_filter(p.tenant.as_deref(), p.kind.as_deref(), p.stream.as_deref())?;
    filter.tenant = caller.confine(filter.tenant)?;
    Ok((p, filter))
}

async fn subscribe(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    params: Result<Query<Params>, axum::extract::rejection::QueryRejection>,
) -> Result<SseResponse<impl Stream<Item = Result<Sse, Infallible>>>, Problem> {
    let (p, filter) = subscription(&caller, params)?;
    // `Last-Event-ID` (a reconnection) wins over `from`; by default, live from now on.
    let next = match (last_event_id(&headers)?, p.from) {
        (Some(id), _) => Seq(id + 1),
        (None, Some(from)) => Seq(from),
        (None, None) => state.store.head().seq.next(),
    };
    respond(&state, filter, next)
}

/// `GET /v1/stream/ws`: the same stream over a WebSocket. The same query (`from`,
/// `tenant`, `kind`, `stream`; a reconnection passes `from` = last seq + 1); each event is
/// a text frame holding its wire line; an error is a frame `{"error": "…"}` followed by
/// a close. Frames from the client are read only for close and ping.
async fn subscribe_ws(
    State(state): State<AppState>,
    caller: Caller,
    params: Result<Query<Params>, axum::extract::rejection::QueryRejection>,
    upgrade: WebSocketUpgrade,
) -> Result<Response, Problem> {
    let (p, filter) = subscription(&caller, params)?;
    let next = p.from.map_or_else(|| state.store.head().seq.next(), Seq);
    let mut cursor = cursor(&state, filter, next)?;
    Ok(upgrade.on_upgrade(move |mut socket: WebSocket| async move {
        loop {
            tokio::select! {
                item = cursor.next() => {
                    let frame = match item {
                        None => break,
                        Some(Ok(line)) => serde_json::to_string(&line).unwrap_or_default(),
                        Some(Err(e)) => {
                            tracing::error!(error = %e, "stream: cannot read the log");
                            let _ = socket
                                .send(Message::Text(serde_json::json!({ "error": e }).to_string().into()))
                                .await;
                            break;
                        }
                    };
                    if socket.send(Message::Text(frame.into())).await.is_err() {
                        return;
                    }
                }
                incoming = socket.recv() => match incoming {
                    None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                    Some(Ok(_)) => {}
                },
            }
        }
        let _ = socket.send(Message::Close(None)).await;
    }))
}

/// The stream routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/stream", get(subscribe))
        .route("/v1/stream/ws", get(subscribe_ws))
}
