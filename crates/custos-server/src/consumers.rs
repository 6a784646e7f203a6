//! Named durable consumers: a service registers a name (with its filters and where to
//! start), reads `GET /v1/consumers/{name}/stream`, acknowledges the seq it has processed
//! (`POST /v1/consumers/{name}/ack`), and after a restart of either side resumes by name
//! after its last acknowledgement. The checkpoint is kept in the store, outside the
//! chain; an acknowledgement is on disk by the writer's next flush, so after a crash a
//! consumer may see again the events after its last durable acknowledgement — delivery
//! is at least once, in seq order, never with a gap.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use custos_core::vocab::ApiRole;
use custos_core::{PrincipalId, Seq};
use serde::{Deserialize, Serialize};

use crate::auth::Caller;
use crate::stream::{last_event_id, parse_filter, respond};
use crate::{AppState, Problem};

const ROLES: &[ApiRole] = &[ApiRole::Admin, ApiRole::Subscriber];

/// What is kept for a consumer.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Consumer {
    name: String,
    owner: PrincipalId,
    /// The last seq acknowledged (0: none).
    position: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    tenant: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream: Option<String>,
}

/// `POST /v1/consumers`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Register {
    name: String,
    /// The first seq to deliver (default: what is appended from now on).
    from: Option<u64>,
    tenant: Option<String>,
    kind: Option<String>,
    stream: Option<String>,
}

/// `POST /v1/consumers/{name}/ack`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Ack {
    seq: u64,
}

fn check_name(name: &str) -> Result<(), Problem> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Problem::bad_request(
            "invalid-field",
            "a consumer name is 1 to 64 of A-Z, a-z, 0-9, '.', '_', '-'",
        ))
    }
}

/// The consumer `name`, if the caller may use it (its owner, or an admin).
fn load(state: &AppState, caller: &Caller, name: &str) -> Result<Consumer, Problem> {
    check_name(name)?;
    let missing = || Problem::not_found(format!("no consumer {name}"));
    let bytes = state
        .store
        .consumer(name)
        .map_err(|e| Problem::internal(&e))?
        .ok_or_else(missing)?;
    let consumer: Consumer = serde_json::from_slice(&bytes).map_err(|e| Problem::internal(&e))?;
    if consumer.owner != caller.token.principal && caller.token.role != ApiRole::Admin {
        return Err(missing());
    }
    Ok(consumer)
}

fn save(state: &AppState, c: &Consumer) -> Result<(), Problem> {
    let bytes = serde_json::to_vec(c).map_err(|e| Problem::internal(&e))?;
    state
        .store
        .put_consumer(&c.name, &bytes)
        .map_err(|e| Problem::internal(&e))
}

async fn register(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<Register>, JsonRejection>,
) -> Result<(StatusCode, Json<Consumer>), Problem> {
    caller.require(ROLES)?;
    let Json(r) = body.map_err(Problem::from_json)?;
    check_name(&r.name)?;
    parse_filter(r.tenant.as_deref(), r.kind.as_deref(), r.stream.as_deref())?;
    let head = state.store.head().seq.0;
    let position = match r.from {
        None => head,
        Some(0) => return Err(Problem::bad_request("invalid-field", "from starts at 1")),
        Some(f) if f > head + 1 => {
            return Err(Problem::bad_request(
                "invalid-field",
                format!("from {f} is past the head ({head}) + 1"),
            ))
        }
        Some(f) => f - 1,
    };
    if state
        .store
        .consumer(&r.name)
        .map_err(|e| Problem::internal(&e))?
        .is_some()
    {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "consumer-exists",
            format!("a consumer named {} is already registered", r.name),
        ));
    }
    let c = Consumer {
        name: r.name,
        owner: caller.token.principal.clone(),
        position,
        tenant: r.tenant,
        kind: r.kind,
        stream: r.stream,
    };
    save(&state, &c)?;
    Ok((StatusCode::CREATED, Json(c)))
}

async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Consumer>, Problem> {
    caller.require(ROLES)?;
    Ok(Json(load(&state, &caller, &name)?))
}

async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, Problem> {
    caller.require(ROLES)?;
    load(&state, &caller, &name)?;
    state
        .store
        .delete_consumer(&name)
        .map_err(|e| Problem::internal(&e))?;
    Ok(StatusCode::NO_CONTENT)
}

async fn ack(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    body: Result<Json<Ack>, JsonRejection>,
) -> Result<Json<Consumer>, Problem> {
    caller.require(ROLES)?;
    let Json(a) = body.map_err(Problem::from_json)?;
    let mut c = load(&state, &caller, &name)?;
    let head = state.store.head().seq.0;
    if a.seq > head {
        return Err(Problem::bad_request(
            "invalid-field",
            format!("seq {} is past the head ({head})", a.seq),
        ));
    }
    if a.seq < c.position {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "ack-backwards",
            format!(
                "{name} has acknowledged {} already; acknowledgements only move forward",
                c.position
            ),
        ));
    }
    c.position = a.seq;
    save(&state, &c)?;
    Ok(Json(c))
}

async fn stream(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Response, Problem> {
    caller.require(ROLES)?;
    let c = load(&state, &caller, &name)?;
    let filter = parse_filter(c.tenant.as_deref(), c.kind.as_deref(), c.stream.as_deref())?;
    // A reconnection within a session resumes after what it received; otherwise after
    // the last acknowledgement.
    let after = last_event_id(&headers)?.map_or(c.position, |id| id.max(c.position));
    Ok(respond(&state, filter, Seq(after + 1))?.into_response())
}

/// The consumer routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/consumers", post(register))
        .route("/v1/consumers/{name}", get(show).delete(remove))
        .route("/v1/consumers/{name}/ack", post(ack))
        .route("/v1/consumers/{name}/stream", get(stream))
}
