//! The query endpoints: a tenant's access now, as of an instant or at a seq (with the
//! evidence events on `explain=true`), a principal's access list, the tenant list, and
//! events by seq range. Every answer states the seq and hash it reflects.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use custos_core::access::{Access, Right, TenantAccess};
use custos_core::vocab::ApiRole;
use custos_core::{Event, PrincipalId, Seq, TenantId, Timestamp};
use serde::{Deserialize, Serialize};

use crate::auth::Caller;
use crate::{AppState, Problem};

const READERS: &[ApiRole] = &[
    ApiRole::Admin,
    ApiRole::Reviewer,
    ApiRole::Lead,
    ApiRole::TenantAdmin,
];
const ALL_READERS: &[ApiRole] = &[ApiRole::Admin, ApiRole::Reviewer, ApiRole::Lead];

/// Where in history to answer.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Point {
    as_of: Option<String>,
    at_seq: Option<u64>,
    #[serde(default)]
    explain: bool,
}

/// The last seq a point covers and the instant it is asked at.
fn resolve(state: &AppState, point: &Point) -> Result<(Seq, Timestamp), Problem> {
    let head = state.store.head().seq;
    let internal = |e: custos_store::ReadError| Problem::internal(&e);
    match (&point.as_of, point.at_seq) {
        (Some(_), Some(_)) => Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-query",
            "give as_of or at_seq, not both",
        )),
        (Some(t), None) => {
            let at: Timestamp = t.parse().map_err(|e| {
                Problem::new(
                    StatusCode::BAD_REQUEST,
                    "bad-timestamp",
                    format!("as_of {t:?} is not an RFC 3339 instant: {e}"),
                )
            })?;
            let first_after = state
                .store
                .first_seq_at(at.plus_micros(1))
                .map_err(internal)?;
            Ok((Seq(first_after.0.saturating_sub(1)), at))
        }
        (None, Some(s)) if s > head.0 => Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-query",
            format!("at_seq {s} is past the head ({head})"),
        )),
        (None, Some(s)) => {
            let at = match state.store.get(Seq(s)).map_err(internal)? {
                Some(e) => e.event().map_err(internal)?.recorded_at,
                None => Timestamp(0),
            };
            Ok((Seq(s), at))
        }
        (None, None) => Ok((head, state.config.clock.now())),
    }
}

#[derive(Debug, Serialize)]
struct Evidence {
    kind: &'static str,
    recorded_at: Timestamp,
    actor: PrincipalId,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_ip: Option<std::net::IpAddr>,
}

#[derive(Debug, Serialize)]
struct Answer<T: Serialize> {
    at: Timestamp,
    seq: u64,
    hash: String,
    #[serde(flatten)]
    body: T,
    #[serde(skip_serializing_if = "Option::is_none")]
    evidence: Option<BTreeMap<u64, Evidence>>,
}

fn answer<T: Serialize>(
    state: &AppState,
    last: Seq,
    at: Timestamp,
    body: T,
    rights: &[&Right],
    explain: bool,
) -> Result<Json<Answer<T>>, Problem> {
    let internal = |e: custos_store::ReadError| Problem::internal(&e);
    let hash = state
        .store
        .hash_at(last)
        .map_err(internal)?
        .unwrap_or(custos_core::Digest::GENESIS);
    let evidence = if explain {
        let mut map = BTreeMap::new();
        for seq in rights.iter().flat_map(|r| r.evidence.iter()) {
            if let Some(stored) = state.store.get(*seq).map_err(internal)? {
                let e: Event = stored.event().map_err(internal)?;
                map.insert(
                    seq.0,
                    Evidence {
                        kind: e.kind().name(),
                        recorded_at: e.recorded_at,
                        actor: e.actor,
                        source_ip: e.source_ip,
                    },
                );
            }
        }
        Some(map)
    } else {
        None
    };
    Ok(Json(Answer {
        at,
        seq: last.0,
        hash: hash.to_hex(),
        body,
        evidence,
    }))
}

fn parse_tenant(raw: &str) -> Result<TenantId, Problem> {
    TenantId::new(raw)
        .map_err(|e| Problem::new(StatusCode::BAD_REQUEST, "invalid-path", e.to_string()))
}

async fn tenant_access(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
    point: Result<Query<Point>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Answer<TenantAccess>>, Problem> {
    caller.require(READERS)?;
    let Query(point) =
        point.map_err(|e| Problem::new(StatusCode::BAD_REQUEST, "invalid-query", e.body_text()))?;
    let tenant = parse_tenant(&raw)?;
    let missing = || Problem::not_found(format!("no tenant {raw}"));
    if !caller.sees(&tenant) {
        return Err(missing());
    }
    let (last, at) = resolve(&state, &point)?;
    let access = state
        .store
        .tenant_access_at(&tenant, last)
        .map_err(|e| Problem::internal(&e))?;
    let view = access.tenant(&tenant, at).ok_or_else(missing)?;
    let rights: Vec<Right> = view.rights.clone();
    let refs: Vec<&Right> = rights.iter().collect();
    answer(&state, last, at, view, &refs, point.explain)
}

#[derive(Debug, Serialize)]
struct AccessList {
    principal: PrincipalId,
    tenants: Vec<Entry>,
}

#[derive(Debug, Serialize)]
struct Entry {
    tenant: TenantId,
    #[serde(flatten)]
    right: Right,
}

async fn principal_access(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
    point: Result<Query<Point>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Answer<AccessList>>, Problem> {
    caller.require(ALL_READERS)?;
    let Query(point) =
        point.map_err(|e| Problem::new(StatusCode::BAD_REQUEST, "invalid-query", e.body_text()))?;
    let principal = PrincipalId::new(raw.as_str())
        .map_err(|e| Problem::new(StatusCode::BAD_REQUEST, "invalid-path", e.to_string()))?;
    let (last, at) = resolve(&state, &point)?;
    // Only the accounts the principal is a subject of (the subject index), which answer
    // its access list as the whole projection would.
    let access: Access = state
        .store
        .principal_access_at(&principal, last)
        .map_err(|e| Problem::internal(&e))?;
    let list = access.access_list(&principal, at);
    let rights: Vec<Right> = list.iter().map(|(_, r)| r.clone()).collect();
    let refs: Vec<&Right> = rights.iter().collect();
    let body = AccessList {
        principal,
        tenants: list
            .into_iter()
            .map(|(tenant, right)| Entry { tenant, right })
            .collect(),
    };
    answer(&state, last, at, body, &refs, point.explain)
}

#[derive(Debug, Serialize)]
struct Tenants {
    tenants: Vec<TenantRow>,
}

#[derive(Debug, Serialize)]
struct TenantRow {
    tenant: TenantId,
    name: String,
}

async fn tenants(State(state): State<AppState>, caller: Caller) -> Result<Json<Tenants>, Problem> {
    caller.require(READERS)?;
    let live = state.live_now().await?;
    Ok(Json(Tenants {
        tenants: live
            .access()
            .tenants()
            .filter(|(t, _)| caller.sees(t))
            .map(|(t, name)| TenantRow {
                tenant: t.clone(),
                name: name.to_owned(),
            })
            .collect(),
    }))
}

/// `GET /v1/events?from=&to=&limit=`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Range {
    from: Option<u64>,
    to: Option<u64>,
    limit: Option<usize>,
}

/// The most events one page answers.
pub const MAX_PAGE: usize = 1000;

#[derive(Debug, Serialize)]
struct Events {
    head: crate::HeadBody,
    events: Vec<Event>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_from: Option<u64>,
}

async fn events(
    State(state): State<AppState>,
    caller: Caller,
    range: Result<Query<Range>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Events>, Problem> {
    caller.require(ALL_READERS)?;
    let Query(range) =
        range.map_err(|e| Problem::new(StatusCode::BAD_REQUEST, "invalid-query", e.body_text()))?;
    let head = state.store.head();
    let limit = crate::audit::page_limit(range.limit, 100, MAX_PAGE)?;
    let from = Seq(range.from.unwrap_or(1).max(1));
    let to = Seq(range.to.unwrap_or(head.seq.0).min(head.seq.0));
    let mut out = Vec::new();
    for stored in state.store.range(from, to).take(limit) {
        out.push(
            stored
                .and_then(|s| s.event())
                .map_err(|e| Problem::internal(&e))?,
        );
    }
    let next_from = out
        .last()
        .map(|e| e.seq.0 + 1)
        .filter(|n| *n <= to.0 && out.len() == limit);
    Ok(Json(Events {
        head: crate::HeadBody {
            seq: head.seq.0,
            hash: head.hash.to_hex(),
        },
        events: out,
        next_from,
    }))
}

/// The query routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/tenants", get(tenants))
        .route("/v1/tenants/{tenant}/access", get(tenant_access))
        .route("/v1/principals/{principal}/access", get(principal_access))
        .route("/v1/events", get(events))
}
