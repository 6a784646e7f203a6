//! `GET /v1/findings` and `GET /v1/findings/{id}`: the misuse findings of a window of at
//! most 90 days (default: the last 7 days), from the live fold, each with the seqs of
//! its evidence; one finding with its evidence events. Leads record reviews of findings
//! with `POST /v1/reviews` (`subject: {"finding": ID}`), which appear as the finding's
//! `review`.

use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use custos_core::findings::{Finding, Query as FindingsQuery, Status};
use custos_core::vocab::ApiRole;
use custos_core::Timestamp;
use serde::{Deserialize, Serialize};

use crate::audit::{check_window, instant, page_limit};
use crate::auth::Caller;
use crate::wire::Line;
use crate::{AppState, HeadBody, Problem};

const READERS: &[ApiRole] = &[ApiRole::Admin, ApiRole::Lead, ApiRole::Reviewer];
/// The default window, in seconds.
pub const DEFAULT_WINDOW_SECS: i64 = 7 * 24 * 3600;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    from: Option<String>,
    to: Option<String>,
    rule: Option<String>,
    staff: Option<String>,
    tenant: Option<String>,
    /// `open` (not reviewed), `reviewed`, or a review outcome.
    status: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

/// Findings per page unless asked otherwise.
pub const DEFAULT_LIMIT: usize = 500;
/// The most findings one page answers.
pub const MAX_LIMIT: usize = 5000;

#[derive(Debug, Serialize)]
struct Page {
    head: HeadBody,
    from: Timestamp,
    to: Timestamp,
    findings: Vec<Finding>,
    /// Pass as `cursor` (with the same filters) for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

fn status(raw: &str) -> Result<Status, Problem> {
    Ok(match raw {
        "open" => Status::Open,
        "reviewed" => Status::Reviewed,
        other => Status::Outcome(
            serde_json::from_value(serde_json::Value::String(other.to_owned())).map_err(|_| {
                Problem::bad_request(
                    "invalid-query",
                    format!("status {other:?}: open, reviewed, acknowledged, cleared, flagged or escalated"),
                )
            })?,
        ),
    })
}

/// `<window end µs>.<last time µs>.<last id>`: the window's end is fixed by the first page,
/// so that findings falling due later never shift the pages.
fn parse_cursor(raw: &str) -> Result<(Timestamp, Timestamp, String), Problem> {
    let mut parts = raw.splitn(3, '.');
    let parsed = (|| {
        let to = parts.next()?.parse().ok()?;
        let at = parts.next()?.parse().ok()?;
        let id = parts.next().filter(|id| !id.is_empty())?;
        Some((Timestamp(to), Timestamp(at), id.to_owned()))
    })();
    parsed.ok_or_else(|| {
        Problem::bad_request(
            "invalid-cursor",
            format!("cursor {raw:?} was not given by this API"),
        )
    })
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    params: Result<Query<Params>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Page>, Problem> {
    caller.require(READERS)?;
    let Query(p) = params.map_err(|e| Problem::bad_request("invalid-query", e.body_text()))?;
    let limit = page_limit(p.limit, DEFAULT_LIMIT, MAX_LIMIT)?;
    let asked_to = instant("to", &p.to)?;
    let cursor = p.cursor.as_deref().map(parse_cursor).transpose()?;
    let to = match &cursor {
        Some((to, ..)) if asked_to.is_some_and(|t| t != *to) => {
            return Err(Problem::bad_request(
                "invalid-cursor",
                format!("the cursor belongs to the window ending at {to}, not at the `to` asked"),
            ))
        }
        Some((to, ..)) => *to,
        None => asked_to.unwrap_or_else(|| state.config.clock.now()),
    };
    let from = instant("from", &p.from)?.unwrap_or(to.plus_secs(-DEFAULT_WINDOW_SECS));
    check_window(from, to)?;
    let bad = |e: custos_core::IdError| Problem::bad_request("invalid-query", e.to_string());
    let query = FindingsQuery {
        from,
        to,
        rule: p.rule,
        staff: p
            .staff
            .map(custos_core::PrincipalId::new)
            .transpose()
            .map_err(bad)?,
        tenant: p
            .tenant
            .map(custos_core::TenantId::new)
            .transpose()
            .map_err(bad)?,
        status: p.status.as_deref().map(status).transpose()?,
        after: cursor.map(|(_, at, id)| (at, id)),
        limit,
    };
    let head = state.store.head();
    let (findings, more) = {
        let live = state.live_now().await?;
        live.findings().page(&query)
    };
    let next_cursor = more
        .then(|| findings.last())
        .flatten()
        .map(|f| format!("{}.{}.{}", to.0, f.at.0, f.id));
    Ok(Json(Page {
        head: HeadBody {
            seq: head.seq.0,
            hash: head.hash.to_hex(),
        },
        from,
        to,
        findings,
        next_cursor,
    }))
}

#[derive(Debug, Serialize)]
struct One {
    #[serde(flatten)]
    finding: Finding,
    /// The evidence events, as wire lines (verifiable).
    events: Vec<Line>,
}

async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<One>, Problem> {
    caller.require(READERS)?;
    let now = state.config.clock.now();
    let found = {
        let live = state.live_now().await?;
        // An id is `<rule>@<first evidence seq>`: only that rule's findings are built.
        let rule = id.split_once('@').map(|(rule, _)| rule.to_owned());
        let query = FindingsQuery {
            rule,
            ..FindingsQuery::window(Timestamp(i64::MIN), now)
        };
        live.findings()
            .page(&query)
            .0
            .into_iter()
            .find(|f| f.id == id)
    };
    let finding = found.ok_or_else(|| Problem::not_found(format!("no finding {id}")))?;
    let internal = |e: custos_store::ReadError| Problem::internal(&e);
    let mut events = Vec::new();
    for seq in &finding.evidence {
        let stored = state
            .store
            .get(*seq)
            .map_err(internal)?
            .ok_or_else(|| Problem::internal(&format!("evidence seq {seq} missing")))?;
        let prev = state
            .store
            .hash_at(custos_core::Seq(seq.0 - 1))
            .map_err(internal)?
            .unwrap_or(custos_core::Digest::GENESIS);
        let event = stored.event().map_err(internal)?;
        events.push(Line::of(&stored, &event, prev).map_err(|e| Problem::internal(&e))?);
    }
    Ok(Json(One { finding, events }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Period {
    from: Option<String>,
    to: Option<String>,
}

#[derive(Debug, Serialize)]
struct CoverageReport {
    from: Timestamp,
    to: Timestamp,
    #[serde(flatten)]
    coverage: custos_core::findings::Coverage,
}

/// `GET /v1/reviews/coverage?from=&to=`: of the sessions that ended in the period (at
/// most 90 days; default the last 7 days), how many a lead reviewed, how many in time,
/// and which were not.
async fn coverage(
    State(state): State<AppState>,
    caller: Caller,
    params: Result<Query<Period>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<CoverageReport>, Problem> {
    caller.require(READERS)?;
    let Query(p) = params.map_err(|e| Problem::bad_request("invalid-query", e.body_text()))?;
    let to = instant("to", &p.to)?.unwrap_or_else(|| state.config.clock.now());
    let from = instant("from", &p.from)?.unwrap_or(to.plus_secs(-DEFAULT_WINDOW_SECS));
    check_window(from, to)?;
    let live = state.live_now().await?;
    Ok(Json(CoverageReport {
        from,
        to,
        coverage: live.findings().coverage(from, to),
    }))
}

/// Records `wanted` as the thresholds in force, unless they already are: appends a
/// `thresholds_changed` event with the next version (actor `custos:system`). Returns the
/// version in force afterwards.
pub async fn set_thresholds(
    state: &AppState,
    wanted: custos_core::findings::Thresholds,
) -> Result<u32, Problem> {
    let (current, version) = {
        let live = state.live_now().await?;
        live.findings().thresholds()
    };
    if current == wanted {
        return Ok(version);
    }
    let next = version + 1;
    state
        .store
        .append(custos_store::AppendRequest {
            stream: custos_core::StreamId::new("custos:thresholds")
                .map_err(|e| Problem::internal(&e))?,
            expected: None,
            events: vec![custos_core::NewEvent::new(
                custos_core::EventId::from_ulid(ulid::Ulid::new()),
                custos_core::PrincipalId::system(),
                custos_core::Payload::ThresholdsChanged {
                    version: next,
                    thresholds: wanted,
                },
            )],
        })
        .await
        .map_err(|e| Problem::unavailable(&e))?;
    // Fold what was just appended before answering.
    drop(state.live_now().await?);
    Ok(next)
}

#[derive(Debug, Serialize)]
struct InForce {
    version: u32,
    thresholds: custos_core::findings::Thresholds,
}

/// `GET /v1/thresholds`: the thresholds in force and their version.
async fn thresholds(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<InForce>, Problem> {
    caller.require(READERS)?;
    let live = state.live_now().await?;
    let (thresholds, version) = live.findings().thresholds();
    Ok(Json(InForce {
        version,
        thresholds,
    }))
}

/// The findings routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/thresholds", get(thresholds))
        .route("/v1/reviews/coverage", get(coverage))
        .route("/v1/findings", get(list))
        .route("/v1/findings/{id}", get(show))
}
