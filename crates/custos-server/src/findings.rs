//! `GET /v1/findings` and `GET /v1/findings/{id}`: the misuse findings of a window of at
//! most 90 days (default: the last 7 days), from the live fold, each with the seqs of
//! its evidence; one finding with its evidence events. Leads record reviews of findings
//! with `POST /v1/reviews` (`subject: {"finding": ID}`), which appear as the finding's
//! `review`.

use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use custos_core::findings::Finding;
use custos_core::vocab::{ApiRole, ReviewOutcome};
use custos_core::Timestamp;
use serde::{Deserialize, Serialize};

use crate::audit::{check_window, instant};
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
}

#[derive(Debug, Serialize)]
struct Page {
    head: HeadBody,
    from: Timestamp,
    to: Timestamp,
    findings: Vec<Finding>,
}

fn status_matches(status: &str, f: &Finding) -> Result<bool, Problem> {
    let outcome = f.review.map(|(o, _)| o);
    Ok(match status {
        "open" => outcome.is_none(),
        "reviewed" => outcome.is_some(),
        other => {
            let wanted: ReviewOutcome = serde_json::from_value(serde_json::Value::String(other.to_owned()))
                .map_err(|_| Problem::bad_request("invalid-query", format!("status {other:?}: open, reviewed, acknowledged, cleared, flagged or escalated")))?;
            outcome == Some(wanted)
        }
    })
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    params: Result<Query<Params>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Page>, Problem> {
    caller.require(READERS)?;
    let Query(p) = params.map_err(|e| Problem::bad_request("invalid-query", e.body_text()))?;
    let to = instant("to", &p.to)?.unwrap_or_else(|| state.config.clock.now());
    let from = instant("from", &p.from)?.unwrap_or(to.plus_secs(-DEFAULT_WINDOW_SECS));
    check_window(from, to)?;
    let head = state.store.head();
    let all = {
        let mut live = state.live.lock().await;
        live.catch_up(&state.store)
            .map_err(|e| Problem::internal(&e))?;
        live.findings().window(from, to)
    };
    let mut findings = Vec::new();
    for f in all {
        let keep = p.rule.as_deref().is_none_or(|r| f.rule == r)
            && p.staff
                .as_deref()
                .is_none_or(|s| f.staff.as_ref().is_some_and(|x| x.as_str() == s))
            && p.tenant
                .as_deref()
                .is_none_or(|t| f.tenant.as_ref().is_some_and(|x| x.as_str() == t))
            && match p.status.as_deref() {
                None => true,
                Some(s) => status_matches(s, &f)?,
            };
        if keep {
            findings.push(f);
        }
    }
    Ok(Json(Page {
        head: HeadBody {
            seq: head.seq.0,
            hash: head.hash.to_hex(),
        },
        from,
        to,
        findings,
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
        let mut live = state.live.lock().await;
        live.catch_up(&state.store)
            .map_err(|e| Problem::internal(&e))?;
        live.findings().at(now).into_iter().find(|f| f.id == id)
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
    let mut live = state.live.lock().await;
    live.catch_up(&state.store)
        .map_err(|e| Problem::internal(&e))?;
    Ok(Json(CoverageReport {
        from,
        to,
        coverage: live.findings().coverage(from, to),
    }))
}

/// Records `wanted` as the thresholds in force, unless they already are: appends a
/// `thresholds_set` event with the next version (actor `custos:system`). Returns the
/// version in force afterwards.
pub async fn set_thresholds(
    state: &AppState,
    wanted: custos_core::findings::Thresholds,
) -> Result<u32, Problem> {
    let (current, version) = {
        let mut live = state.live.lock().await;
        live.catch_up(&state.store)
            .map_err(|e| Problem::internal(&e))?;
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
                custos_core::Payload::ThresholdsSet {
                    version: next,
                    thresholds: wanted,
                },
            )],
        })
        .await
        .map_err(|e| Problem::unavailable(&e))?;
    state
        .live
        .lock()
        .await
        .catch_up(&state.store)
        .map_err(|e| Problem::internal(&e))?;
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
    let mut live = state.live.lock().await;
    live.catch_up(&state.store)
        .map_err(|e| Problem::internal(&e))?;
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
