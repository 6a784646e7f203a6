//! `GET /v1/audit`: the events of a window of at most 90 days, for a tenant, an actor
//! and/or a kind, in seq order, a page at a time. The window becomes a seq range by a
//! binary search of the log by time (`Store::first_seq_at`), the filter a list of seqs through the tenant, actor or kind index; the
//! log is read only at the seqs a page returns. A page's cursor carries the last seq
//! returned and the upper seq of the window fixed at the first page, so pages stay the
//! same while appends go on: no event is missed or repeated.

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use custos_core::vocab::ApiRole;
use custos_core::{Event, EventKind, PrincipalId, Seq, TenantId, Timestamp};
use custos_store::IndexFilter;
use serde::{Deserialize, Serialize};

use crate::auth::Caller;
use crate::{AppState, HeadBody, Problem};

/// The widest window answered, in days.
pub const MAX_WINDOW_DAYS: i64 = 90;
/// The window when none is given: the last 24 hours.
pub const DEFAULT_WINDOW_SECS: i64 = 24 * 3600;
/// Events per page by default, and at most.
pub const DEFAULT_LIMIT: usize = 100;
/// The most events one page answers.
pub const MAX_LIMIT: usize = 1000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    tenant: Option<String>,
    actor: Option<String>,
    kind: Option<String>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

#[derive(Debug, Serialize)]
struct Window {
    from: Timestamp,
    to: Timestamp,
}

/// One page.
#[derive(Debug, Serialize)]
struct Page {
    /// The head the page was answered at.
    head: HeadBody,
    window: Window,
    events: Vec<Event>,
    /// Pass as `cursor` (with the same filters) for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

/// A page size asked for (or `default`), refused unless it is 1 to `max`.
pub(crate) fn page_limit(
    asked: Option<usize>,
    default: usize,
    max: usize,
) -> Result<usize, Problem> {
    match asked.unwrap_or(default) {
        limit @ 1.. if limit <= max => Ok(limit),
        _ => Err(Problem::bad_request(
            "invalid-query",
            format!("limit must be between 1 and {max}"),
        )),
    }
}

/// Refuses a window whose start is after its end, or wider than [`MAX_WINDOW_DAYS`].
pub(crate) fn check_window(from: Timestamp, to: Timestamp) -> Result<(), Problem> {
    if from > to {
        return Err(Problem::bad_request(
            "invalid-window",
            format!("from ({from}) is after to ({to})"),
        ));
    }
    if to.0 - from.0 > MAX_WINDOW_DAYS * 86_400 * 1_000_000 {
        return Err(Problem::bad_request(
            "window-too-wide",
            format!("the window from {from} to {to} exceeds the limit of {MAX_WINDOW_DAYS} days; ask for several windows"),
        ));
    }
    Ok(())
}

/// Parses an optional RFC 3339 query parameter (400 `bad-timestamp`).
pub(crate) fn instant(name: &str, raw: &Option<String>) -> Result<Option<Timestamp>, Problem> {
    raw.as_ref()
        .map(|t| {
            t.parse::<Timestamp>().map_err(|e| {
                Problem::bad_request(
                    "bad-timestamp",
                    format!("{name} {t:?} is not an RFC 3339 instant: {e}"),
                )
            })
        })
        .transpose()
}

/// `<last seq>.<upper seq>`.
fn parse_cursor(raw: &str) -> Result<(u64, u64), Problem> {
    raw.split_once('.')
        .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
        .filter(|(last, upper)| last <= upper)
        .ok_or_else(|| {
            Problem::bad_request(
                "invalid-cursor",
                format!("cursor {raw:?} was not given by this API"),
            )
        })
}

async fn audit(
    State(state): State<AppState>,
    caller: Caller,
    params: Result<Query<Params>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Page>, Problem> {
    caller.require(&[
        ApiRole::Admin,
        ApiRole::Reviewer,
        ApiRole::Lead,
        ApiRole::TenantAdmin,
    ])?;
    let Query(p) = params.map_err(|e| Problem::bad_request("invalid-query", e.body_text()))?;
    let tenant = p
        .tenant
        .as_deref()
        .map(TenantId::new)
        .transpose()
        .map_err(|e| Problem::bad_request("invalid-query", e.to_string()))?;
    let tenant = caller.confine(tenant)?;
    let actor = p
        .actor
        .as_deref()
        .map(PrincipalId::new)
        .transpose()
        .map_err(|e| Problem::bad_request("invalid-query", e.to_string()))?;
    let kind = p
        .kind
        .as_deref()
        .map(str::parse::<EventKind>)
        .transpose()
        .map_err(|e| Problem::bad_request("invalid-query", e.to_string()))?;
    let limit = page_limit(p.limit, DEFAULT_LIMIT, MAX_LIMIT)?;
    let now = state.config.clock.now();
    let to = instant("to", &p.to)?.unwrap_or(now);
    let from = instant("from", &p.from)?.unwrap_or(to.plus_secs(-DEFAULT_WINDOW_SECS));
    check_window(from, to)?;

    let head = state.store.head();
    let internal = |e: custos_store::ReadError| Problem::internal(&e);
    // The window as seqs: [first, upper]; the upper bound is fixed by the first page.
    let first = state.store.first_seq_at(from).map_err(internal)?;
    let (start, upper) = match &p.cursor {
        Some(c) => {
            let (last, upper) = parse_cursor(c)?;
            if upper > head.seq.0 {
                return Err(Problem::bad_request(
                    "invalid-cursor",
                    "the cursor is past this log's head",
                ));
            }
            (Seq(last + 1).max(first), Seq(upper))
        }
        None => {
            let end = state
                .store
                .first_seq_at(to.plus_micros(1))
                .map_err(internal)?;
            (first, Seq(end.0.saturating_sub(1)).min(head.seq))
        }
    };

    // The most selective index first; the other filters are checked on the events.
    let filter = match (&tenant, &actor, kind) {
        (Some(t), _, _) => Some(IndexFilter::Tenant(t.clone())),
        (None, Some(a), _) => Some(IndexFilter::Actor(a.clone())),
        (None, None, Some(k)) => Some(IndexFilter::Kind(k)),
        (None, None, None) => None,
    };
    let keep = |e: &Event| {
        tenant
            .as_ref()
            .is_none_or(|t| e.payload.tenant() == Some(t))
            && actor.as_ref().is_none_or(|a| e.actor == *a)
            && kind.is_none_or(|k| e.kind() == k)
    };
    let mut events = Vec::with_capacity(limit);
    let mut next = start;
    let mut more = false;
    while next <= upper && events.len() <= limit {
        let want = limit + 1 - events.len();
        let seqs: Vec<Seq> = match &filter {
            Some(f) => state
                .store
                .index_seqs(f, next, upper, want)
                .map_err(internal)?,
            None => (next.0..=upper.0.min(next.0 + want as u64 - 1))
                .map(Seq)
                .collect(),
        };
        let Some(last) = seqs.last().copied() else {
            break;
        };
        for seq in seqs {
            let stored =
                state.store.get(seq).map_err(internal)?.ok_or_else(|| {
                    Problem::internal(&format!("seq {seq} is indexed but missing"))
                })?;
            let e = stored.event().map_err(internal)?;
            if keep(&e) {
                if events.len() == limit {
                    more = true;
                    break;
                }
                events.push(e);
            }
        }
        if more {
            break;
        }
        next = last.next();
    }
    let next_cursor = more
        .then(|| events.last().map(|e| format!("{}.{}", e.seq.0, upper.0)))
        .flatten();
    Ok(Json(Page {
        head: HeadBody {
            seq: head.seq.0,
            hash: head.hash.to_hex(),
        },
        window: Window { from, to },
        events,
        next_cursor,
    }))
}

/// The audit route.
pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/audit", get(audit))
}
