//! API tokens as ledger events: the first start issues an admin token, admins issue and
//! revoke others (`POST /v1/tokens`, `GET /v1/tokens`, `DELETE /v1/tokens/{id}`).

use std::io::Write;
use std::path::{Path, PathBuf};

use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use custos_core::vocab::ApiRole;
use custos_core::{EventId, NewEvent, Payload, PrincipalId, StreamId, TenantId, TokenId};
use custos_store::{AppendRequest, Store};
use serde::{Deserialize, Serialize};

use crate::auth::{new_secret, Caller};
use crate::live::{SharedLive, TokenInfo};
use crate::{AppState, Problem};

/// The file the first start writes the admin token to.
pub const ADMIN_TOKEN_FILE: &str = "admin.token";

/// Issues a token: appends `token_issued` (the secret's hash only) and returns the
/// secret, which is never shown again.
pub async fn issue(
    store: &Store,
    live: &SharedLive,
    actor: PrincipalId,
    info: TokenInfo,
) -> Result<String, Problem> {
    let (secret, secret_hash) = new_secret();
    let stream = StreamId::of("token", info.token).map_err(|e| Problem::internal(&e))?;
    store
        .append(AppendRequest {
            stream,
            expected: Some(0),
            events: vec![NewEvent::new(
                EventId::from_ulid(ulid::Ulid::new()),
                actor,
                Payload::TokenIssued {
                    token: info.token,
                    principal: info.principal,
                    role: info.role,
                    tenant: info.tenant,
                    secret_hash,
                },
            )],
        })
        .await
        .map_err(|e| Problem::unavailable(&e))?;
    live.lock()
        .await
        .catch_up(store)
        .map_err(|e| Problem::internal(&e))?;
    Ok(secret)
}

/// On a log with no token yet: issues an admin token for `custos:admin`, writes it to
/// `<data>/admin.token` (mode 0600) and returns it with the file's path; otherwise `None`.
pub async fn bootstrap(
    store: &Store,
    live: &SharedLive,
) -> Result<Option<(String, PathBuf)>, Problem> {
    {
        let mut l = live.lock().await;
        l.catch_up(store).map_err(|e| Problem::internal(&e))?;
        if !l.tokens().is_empty() {
            return Ok(None);
        }
    }
    let info = TokenInfo {
        token: TokenId::from_ulid(ulid::Ulid::new()),
        principal: PrincipalId::new("custos:admin").map_err(|e| Problem::internal(&e))?,
        role: ApiRole::Admin,
        tenant: None,
    };
    let secret = issue(store, live, PrincipalId::system(), info).await?;
    let path = store.path().join(ADMIN_TOKEN_FILE);
    write_private(&path, &secret).map_err(|e| Problem::internal(&e))?;
    Ok(Some((secret, path)))
}

fn write_private(path: &Path, secret: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path)?;
    writeln!(f, "{secret}")?;
    f.sync_all()
}

/// `POST /v1/tokens`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewToken {
    role: ApiRole,
    principal: PrincipalId,
    tenant: Option<TenantId>,
}

/// A token as listed (never its secret).
#[derive(Debug, Serialize)]
struct Listed {
    token: TokenId,
    principal: PrincipalId,
    role: ApiRole,
    #[serde(skip_serializing_if = "Option::is_none")]
    tenant: Option<TenantId>,
    revoked: bool,
}

impl Listed {
    fn of(t: &TokenInfo, revoked: bool) -> Listed {
        Listed {
            token: t.token,
            principal: t.principal.clone(),
            role: t.role,
            tenant: t.tenant.clone(),
            revoked,
        }
    }
}

#[derive(Debug, Serialize)]
struct Created {
    #[serde(flatten)]
    token: Listed,
    /// Shown once.
    secret: String,
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<NewToken>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Created>), Problem> {
    caller.require(&[ApiRole::Admin])?;
    let Json(req) = body.map_err(Problem::from_json)?;
    if (req.role == ApiRole::TenantAdmin) != req.tenant.is_some() {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-field",
            "a tenant-admin token needs a tenant, and only it has one",
        ));
    }
    let info = TokenInfo {
        token: TokenId::from_ulid(ulid::Ulid::new()),
        principal: req.principal,
        role: req.role,
        tenant: req.tenant,
    };
    let secret = issue(
        &state.store,
        &state.live,
        caller.token.principal.clone(),
        info.clone(),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(Created {
            token: Listed::of(&info, false),
            secret,
        }),
    ))
}

#[derive(Debug, Serialize)]
struct List {
    tokens: Vec<Listed>,
}

async fn list(State(state): State<AppState>, caller: Caller) -> Result<Json<List>, Problem> {
    caller.require(&[ApiRole::Admin])?;
    let live = state.live.lock().await;
    Ok(Json(List {
        tokens: live
            .tokens()
            .iter()
            .map(|(t, r)| Listed::of(t, *r))
            .collect(),
    }))
}

async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    UrlPath(id): UrlPath<String>,
) -> Result<StatusCode, Problem> {
    caller.require(&[ApiRole::Admin])?;
    let token: TokenId = id
        .parse()
        .map_err(|e| Problem::new(StatusCode::BAD_REQUEST, "invalid-path", format!("{e}")))?;
    let live_now = {
        let live = state.live_now().await?;
        live.tokens()
            .iter()
            .find(|(t, _)| t.token == token)
            .map(|(_, revoked)| !revoked)
    };
    match live_now {
        None => return Err(Problem::not_found(format!("no token {token}"))),
        Some(false) => return Ok(StatusCode::NO_CONTENT),
        Some(true) => {}
    }
    let stream = StreamId::of("token", token).map_err(|e| Problem::internal(&e))?;
    state
        .store
        .append(AppendRequest {
            stream,
            expected: None,
            events: vec![NewEvent::new(
                EventId::from_ulid(ulid::Ulid::new()),
                caller.token.principal.clone(),
                Payload::TokenRevoked { token },
            )],
        })
        .await
        .map_err(|e| Problem::unavailable(&e))?;
    // Fold what was just appended before answering.
    drop(state.live_now().await?);
    Ok(StatusCode::NO_CONTENT)
}

/// The token routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/tokens", get(list).post(create))
        .route("/v1/tokens/{id}", delete(revoke))
}
