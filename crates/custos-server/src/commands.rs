//! The command endpoints: one route per command of the policy, resource-style. A request
//! is authenticated, its JSON checked field by field (unknown fields refused), decided by
//! the policy against the live projection, and appended; the answer names the seqs
//! appended and the ids created. A refusal is recorded as an `attempt_rejected` event and
//! answered 422 with the rule id. `If-Match: <version>` (or `expected_version` in the
//! body) makes the append conditional on the stream's version (409 otherwise).
//! `Idempotency-Key: <text>` makes a retry return the first answer instead of acting
//! twice: the events' ids derive from the token and the key.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{delete, post};
use axum::Router;
use custos_core::policy::{self, Command, Decision};
use custos_core::vocab::ApiRole;
use custos_core::{EventId, NewEvent, Payload, Seq};
use custos_store::{AppendError, AppendRequest};
use serde_json::{Map, Value};

use crate::auth::Caller;
use crate::{AppState, Problem};

mod answer;
use answer::{answer, answer_from_log};

/// Which policy command a route builds.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Family {
    Tenant,
    Grant,
    Consent,
    Session,
    Invitation,
    Review,
}

/// One command route.
#[derive(Debug)]
pub(crate) struct Spec {
    pub(crate) family: Family,
    /// The command's variant (snake_case), as `serde` names it.
    pub(crate) variant: &'static str,
    /// The id field a creating command fills with a fresh ULID when the body has none.
    pub(crate) new_id: Option<&'static str>,
    /// The path parameters, in order, copied into the body under these names.
    pub(crate) path: &'static [&'static str],
    /// For invitation changes: the `change` value (`reason` from the body for revoke).
    pub(crate) change: Option<&'static str>,
    /// Who may call it.
    pub(crate) roles: &'static [ApiRole],
}

const WRITE: &[ApiRole] = &[ApiRole::Admin, ApiRole::Writer];
const CUSTOMER: &[ApiRole] = &[ApiRole::Admin, ApiRole::Writer, ApiRole::TenantAdmin];

macro_rules! spec {
    ($family:ident, $variant:literal, $new_id:expr, $path:expr, $change:expr, $roles:expr) => {
        &Spec {
            family: Family::$family,
            variant: $variant,
            new_id: $new_id,
            path: $path,
            change: $change,
            roles: $roles,
        }
    };
}

/// The routes, with the spec each one runs.
pub(crate) fn table() -> Vec<(&'static str, bool, &'static Spec)> {
    // (path, is DELETE, spec)
    vec![
        (
            "/v1/tenants",
            false,
            spec!(Tenant, "create", None, &[], None, WRITE),
        ),
        (
            "/v1/tenants/{tenant}/onboarding",
            false,
            spec!(Tenant, "set_onboarding", None, &["tenant"], None, WRITE),
        ),
        (
            "/v1/tenants/{tenant}/users",
            false,
            spec!(Tenant, "add_user", None, &["tenant"], None, WRITE),
        ),
        (
            "/v1/tenants/{tenant}/users/{user}",
            true,
            spec!(
                Tenant,
                "remove_user",
                None,
                &["tenant", "user"],
                None,
                WRITE
            ),
        ),
        (
            "/v1/staff",
            false,
            spec!(Tenant, "enroll_staff", None, &[], None, WRITE),
        ),
        (
            "/v1/grants",
            false,
            spec!(Grant, "request", Some("grant"), &[], None, WRITE),
        ),
        (
            "/v1/grants/{grant}/approve",
            false,
            spec!(Grant, "approve", None, &["grant"], None, WRITE),
        ),
        (
            "/v1/grants/{grant}/deny",
            false,
            spec!(Grant, "deny", None, &["grant"], None, WRITE),
        ),
        (
            "/v1/grants/{grant}/extend",
            false,
            spec!(Grant, "extend", None, &["grant"], None, WRITE),
        ),
        (
            "/v1/grants/{grant}/revoke",
            false,
            spec!(Grant, "revoke", None, &["grant"], None, CUSTOMER),
        ),
        (
            "/v1/consents",
            false,
            spec!(Consent, "give", Some("consent"), &[], None, CUSTOMER),
        ),
        (
            "/v1/consents/{consent}/withdraw",
            false,
            spec!(Consent, "withdraw", None, &["consent"], None, CUSTOMER),
        ),
        (
            "/v1/sessions",
            false,
            spec!(Session, "start", Some("session"), &[], None, WRITE),
        ),
        (
            "/v1/sessions/{session}/actions",
            false,
            spec!(Session, "act", None, &["session"], None, WRITE),
        ),
        (
            "/v1/sessions/{session}/end",
            false,
            spec!(Session, "end", None, &["session"], None, CUSTOMER),
        ),
        (
            "/v1/sessions/{session}/notify",
            false,
            spec!(Session, "notify_customer", None, &["session"], None, WRITE),
        ),
        (
            "/v1/invitations",
            false,
            spec!(Invitation, "invite", Some("invitation"), &[], None, WRITE),
        ),
        (
            "/v1/invitations/{invitation}/send",
            false,
            spec!(
                Invitation,
                "change",
                None,
                &["invitation"],
                Some("send"),
                WRITE
            ),
        ),
        (
            "/v1/invitations/{invitation}/accept",
            false,
            spec!(
                Invitation,
                "change",
                None,
                &["invitation"],
                Some("accept"),
                WRITE
            ),
        ),
        (
            "/v1/invitations/{invitation}/decline",
            false,
            spec!(
                Invitation,
                "change",
                None,
                &["invitation"],
                Some("decline"),
                WRITE
            ),
        ),
        (
            "/v1/invitations/{invitation}/deactivate",
            false,
            spec!(
                Invitation,
                "change",
                None,
                &["invitation"],
                Some("deactivate"),
                WRITE
            ),
        ),
        (
            "/v1/invitations/{invitation}/reactivate",
            false,
            spec!(
                Invitation,
                "change",
                None,
                &["invitation"],
                Some("reactivate"),
                WRITE
            ),
        ),
        (
            "/v1/invitations/{invitation}/revoke",
            false,
            spec!(
                Invitation,
                "change",
                None,
                &["invitation"],
                Some("revoke"),
                WRITE
            ),
        ),
        (
            "/v1/invitations/{invitation}/actions",
            false,
            spec!(Invitation, "act", None, &["invitation"], None, WRITE),
        ),
        (
            "/v1/reviews",
            false,
            spec!(
                Review,
                "record",
                Some("review"),
                &[],
                None,
                &[ApiRole::Admin, ApiRole::Lead]
            ),
        ),
    ]
}

/// The command routes.
pub fn routes() -> Router<AppState> {
    let mut router = Router::new();
    for (path, is_delete, spec) in table() {
        let handler = move |state: State<AppState>,
                            caller: Caller,
                            params: Result<Path<Vec<String>>, PathRejection>,
                            headers: HeaderMap,
                            body: Result<Bytes, BytesRejection>| {
            run(state, caller, params, headers, body, spec)
        };
        router = if is_delete {
            router.route(path, delete(handler))
        } else {
            router.route(path, post(handler))
        };
    }
    router
}

/// Parses the body and the path into the policy's command.
fn parse(spec: &Spec, params: &[String], body: &[u8]) -> Result<(Command, Option<u64>), Problem> {
    let mut object: Map<String, Value> = if body.iter().all(u8::is_ascii_whitespace) {
        Map::new()
    } else {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(o)) => o,
            Ok(_) => {
                return Err(Problem::bad_request(
                    "malformed-json",
                    "the body must be a JSON object",
                ))
            }
            Err(e) => {
                return Err(Problem::bad_request(
                    "malformed-json",
                    format!(
                        "malformed JSON at line {} column {}: {e}",
                        e.line(),
                        e.column()
                    ),
                ))
            }
        }
    };
    let expected = match object.remove("expected_version") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_u64().ok_or_else(|| {
            Problem::bad_request(
                "invalid-field",
                "expected_version must be a non-negative integer",
            )
        })?),
    };
    for (name, value) in spec.path.iter().zip(params) {
        let value = Value::String(value.clone());
        match object.get(*name) {
            Some(v) if *v != value => {
                return Err(Problem::bad_request(
                    "invalid-field",
                    format!("field {name} in the body differs from the path"),
                ))
            }
            _ => {
                object.insert((*name).to_owned(), value);
            }
        }
    }
    if let Some(field) = spec.new_id {
        if !object.contains_key(field) {
            object.insert(
                field.to_owned(),
                Value::String(ulid::Ulid::new().to_string()),
            );
        }
    }
    let inner = match spec.change {
        None => Value::Object(object),
        Some(change) => {
            let invitation = object.remove("invitation").unwrap_or(Value::Null);
            let change = match change {
                "deactivate" | "reactivate" => {
                    serde_json::json!({ "set_active": change == "reactivate" })
                }
                "revoke" => {
                    let reason = object.remove("reason").unwrap_or(Value::Null);
                    serde_json::json!({ "revoke": reason })
                }
                other => Value::String(other.to_owned()),
            };
            if let Some(field) = object.keys().next() {
                return Err(Problem::bad_request(
                    "unknown-field",
                    format!("unknown field `{field}`"),
                ));
            }
            serde_json::json!({ "invitation": invitation, "change": change })
        }
    };
    let tagged = Value::Object(Map::from_iter([(spec.variant.to_owned(), inner)]));
    let invalid = |e: serde_json::Error| {
        let text = e.to_string();
        let slug = if text.starts_with("unknown field") {
            "unknown-field"
        } else {
            "invalid-field"
        };
        Problem::bad_request(slug, text)
    };
    let command = match spec.family {
        Family::Tenant => Command::Tenant(serde_json::from_value(tagged).map_err(invalid)?),
        Family::Grant => Command::Grant(serde_json::from_value(tagged).map_err(invalid)?),
        Family::Consent => Command::Consent(serde_json::from_value(tagged).map_err(invalid)?),
        Family::Session => Command::Session(serde_json::from_value(tagged).map_err(invalid)?),
        Family::Invitation => Command::Invitation(serde_json::from_value(tagged).map_err(invalid)?),
        Family::Review => Command::Review(serde_json::from_value(tagged).map_err(invalid)?),
    };
    Ok((command, expected))
}

/// The version an `If-Match` header asks for.
fn if_match(headers: &HeaderMap) -> Result<Option<u64>, Problem> {
    let Some(v) = headers.get("if-match") else {
        return Ok(None);
    };
    v.to_str()
        .ok()
        .map(|s| s.trim().trim_matches('"'))
        .and_then(|s| s.parse().ok())
        .map(Some)
        .ok_or_else(|| {
            Problem::bad_request(
                "invalid-header",
                "If-Match must be a stream version (an integer)",
            )
        })
}

/// The base event id of a request: from the idempotency key, or fresh.
fn request_id(caller: &Caller, headers: &HeaderMap) -> Result<(EventId, bool), Problem> {
    match headers.get("idempotency-key") {
        None => Ok((EventId::from_ulid(ulid::Ulid::new()), false)),
        Some(v) => {
            let key = v
                .to_str()
                .ok()
                .filter(|k| !k.is_empty() && k.len() <= 200)
                .ok_or_else(|| {
                    Problem::bad_request(
                        "invalid-header",
                        "Idempotency-Key must be 1 to 200 visible characters",
                    )
                })?;
            let mut h = blake3::Hasher::new();
            h.update(b"custos:request\0");
            h.update(&caller.token.token.to_bytes());
            h.update(key.as_bytes());
            let mut id = [0u8; 16];
            id.copy_from_slice(&h.finalize().as_bytes()[..16]);
            Ok((EventId(u128::from_be_bytes(id)), true))
        }
    }
}

fn append_problem(e: AppendError) -> Problem {
    match e {
        AppendError::Conflict { .. } => {
            Problem::new(StatusCode::CONFLICT, "conflict", e.to_string())
        }
        AppendError::IdReused { .. } => Problem::new(
            StatusCode::CONFLICT,
            "idempotency-key-reused",
            "this Idempotency-Key was already used for a different request",
        ),
        AppendError::Invalid(_) => {
            Problem::new(StatusCode::BAD_REQUEST, "invalid-append", e.to_string())
        }
        _ => Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store-unavailable",
            "the log refuses writes (closed, or after a storage error); nothing was recorded",
        ),
    }
}

/// The events of a decision, with ids `base, base + 1, …`.
fn events_of(decision: &Decision, base: EventId, caller: &Caller) -> Vec<NewEvent> {
    decision
        .payloads
        .iter()
        .enumerate()
        .map(|(k, p)| {
            let mut e = NewEvent::new(
                EventId(base.0.wrapping_add(k as u128)),
                caller.token.principal.clone(),
                p.clone(),
            );
            e.source_ip = caller.source_ip;
            e
        })
        .collect()
}

async fn run(
    State(state): State<AppState>,
    caller: Caller,
    params: Result<Path<Vec<String>>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
    spec: &'static Spec,
) -> Result<Response, Problem> {
    caller.require(spec.roles)?;
    let params = match params {
        Ok(Path(p)) => p,
        Err(PathRejection::MissingPathParams(_)) => Vec::new(),
        Err(e) => return Err(Problem::new(e.status(), "invalid-path", e.body_text())),
    };
    let body = body.map_err(|e| Problem::new(e.status(), "body", e.body_text()))?;
    let (command, body_expected) = parse(spec, &params, &body)?;
    let expected = match (if_match(&headers)?, body_expected) {
        (Some(a), Some(b)) if a != b => {
            return Err(Problem::bad_request(
                "invalid-header",
                "If-Match and expected_version differ",
            ))
        }
        (a, b) => a.or(b),
    };
    let (base, keyed) = request_id(&caller, &headers)?;
    if keyed {
        if let Some(first) = state
            .store
            .seq_of_event(base)
            .map_err(|e| Problem::internal(&e))?
        {
            return answer_from_log(&state, first, base);
        }
    }
    let now = state.config.clock.now();
    let queued = std::time::Instant::now();
    let (decision, pending) = {
        let mut live = state.live_now().await?;
        live.recall_for(&state.store, &command)
            .map_err(|e| Problem::internal(&e))?;
        let decided = policy::decide(
            live.access(),
            &caller.token.principal,
            &command,
            now,
            &state.config.policy,
        );
        live.forget_recalled();
        let foreign = |t: Option<&custos_core::TenantId>| {
            caller.token.role == ApiRole::TenantAdmin && t.is_none_or(|t| !caller.sees(t))
        };
        let (decision, refused) = match decided {
            Ok(d) => {
                if foreign(d.payloads.first().and_then(Payload::tenant)) {
                    return Err(Problem::not_found("no such item in your tenant"));
                }
                let mut d = d;
                if let Some(v) = expected {
                    d.expected = Some(v);
                }
                (d, None)
            }
            Err(refusal) => (policy::rejection(&command, &refusal), Some(refusal)),
        };
        if let Some(r) = &refused {
            if foreign(r.tenant.as_ref()) {
                // Recorded all the same, but answered as if the item did not exist.
                let _ = state
                    .store
                    .enqueue(AppendRequest {
                        stream: decision.stream.clone(),
                        expected: None,
                        events: events_of(&decision, base, &caller),
                    })
                    .await;
                return Err(Problem::not_found("no such item in your tenant"));
            }
        }
        let pending = state
            .store
            .enqueue(AppendRequest {
                stream: decision.stream.clone(),
                expected: decision.expected,
                events: events_of(&decision, base, &caller),
            })
            .await
            .map_err(append_problem)?;
        (decision, pending)
    };
    let appended = pending.await.map_err(append_problem)?;
    state
        .metrics
        .append_latency
        .observe(queued.elapsed().as_secs_f64());
    if !appended.duplicate {
        state
            .metrics
            .appended
            .inc_by(appended.last.0 - appended.first.0 + 1);
    }
    // Answer only once the live projection has the events, so that a client's next
    // command is decided on them.
    state
        .live
        .catch_up_to(&state.store, appended.last)
        .await
        .map_err(|e| Problem::internal(&e))?;
    if appended.duplicate {
        // Appended by an earlier request with the same id: its answer.
        return answer_from_log(&state, appended.first, base);
    }
    // The events just appended are the decision's, at seqs first..=last: the answer
    // the log would give, without reading it back.
    let seqs = (appended.first.0..=appended.last.0).map(Seq);
    answer(
        seqs.zip(&decision.payloads),
        decision.stream.to_string(),
        appended.version,
    )
}
