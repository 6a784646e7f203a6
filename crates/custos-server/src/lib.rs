//! custos-server: the HTTP face of the ledger (axum).
//!
//! A router built by [`app`] from an [`AppState`] (so that tests can drive it without a
//! socket): health and the head, the command endpoints ([`commands`]), the queries
//! ([`queries`]), API tokens ([`tokens`], [`auth`]), and the expiry loop ([`expiry`]) that
//! records what lapses by itself. The in-memory projection and tokens are in [`live`].
//! Every error is answered as `application/problem+json` (RFC 9457) by [`Problem`].
//!
//! Error policy: a client gets a stable `type`, a short `title`, the HTTP `status` and a
//! `detail` it can act on; internal details are logged and never sent.

pub mod audit;
pub mod auth;
pub mod commands;
pub mod conn;
pub mod consumers;
pub mod expiry;
pub mod findings;
pub mod live;
pub mod metrics;
pub mod nats;
pub mod openapi;
pub mod queries;
pub mod stream;
pub mod tokens;
pub mod wire;

use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use custos_core::policy::PolicyConfig;
use custos_store::{Clock, Store, SystemClock};
use serde::Serialize;

use crate::live::SharedLive;

/// The largest request body accepted (413 beyond).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Settings of a server.
#[derive(Debug, Clone)]
pub struct Config {
    /// The policy's limits.
    pub policy: PolicyConfig,
    /// The clock commands are decided at.
    pub clock: Arc<dyn Clock>,
    /// A reverse proxy whose `X-Forwarded-For` is believed for the source IP.
    pub trusted_proxy: Option<IpAddr>,
    /// How long a write to a client may stay blocked before its connection is closed
    /// (a stream consumer that stopped reading).
    pub stall_limit: std::time::Duration,
    /// A NATS server to publish every event to (JetStream), if any.
    pub nats: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            policy: PolicyConfig::default(),
            clock: Arc::new(SystemClock),
            trusted_proxy: None,
            stall_limit: conn::STALL_LIMIT,
            nats: None,
        }
    }
}

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The log.
    pub store: Store,
    /// The projection and the tokens, folded from the log.
    pub live: SharedLive,
    /// Settings.
    pub config: Arc<Config>,
    /// What `/metrics` reports.
    pub metrics: Arc<metrics::Metrics>,
    /// Becomes true when the server shuts down (streams end then).
    pub stopping: Arc<tokio::sync::watch::Sender<bool>>,
}

impl AppState {
    /// A server's state over `store` with default settings.
    pub fn new(store: Store) -> AppState {
        AppState::with_config(store, Config::default())
    }

    /// A server's state over `store`.
    pub fn with_config(store: Store, config: Config) -> AppState {
        let metrics = Arc::new(metrics::Metrics::default());
        metrics.observe_store(&store);
        AppState {
            store,
            live: SharedLive::default(),
            config: Arc::new(config),
            metrics,
            stopping: Arc::new(tokio::sync::watch::Sender::new(false)),
        }
    }

    /// The live projections, caught up with the log's head (an unreadable log is a 500).
    pub async fn live_now(&self) -> Result<tokio::sync::MutexGuard<'_, live::Live>, Problem> {
        let mut live = self.live.lock().await;
        live.catch_up(&self.store)
            .map_err(|e| Problem::internal(&e))?;
        Ok(live)
    }
}

/// The application's routes.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/v1/head", get(head))
        .route("/metrics", get(metrics::render))
        .route("/openapi.json", get(openapi::serve))
        .merge(commands::routes())
        .merge(queries::routes())
        .merge(tokens::routes())
        .merge(audit::routes())
        .merge(stream::routes())
        .merge(consumers::routes())
        .merge(findings::routes())
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .with_state(state)
}

/// Serves `app` on `listener` until `shutdown` resolves, then closes the store (the
/// writer commits and flushes what is queued).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let store = state.store.clone();
    let stopping = state.stopping.clone();
    let shutdown = async move {
        shutdown.await;
        // Event streams end, so that the graceful shutdown does not wait on them.
        stopping.send_replace(true);
    };
    let publisher = state
        .config
        .nats
        .clone()
        .map(|url| tokio::spawn(nats::run(store.clone(), url, state.stopping.subscribe())));
    let expiries = tokio::spawn(expiry::run(
        store.clone(),
        state.live.clone(),
        state.config.clock.clone(),
    ));
    let limit = state.config.stall_limit;
    axum::serve(
        conn::GuardedListener::new(listener, limit),
        app(state).into_make_service_with_connect_info::<conn::Peer>(),
    )
    .with_graceful_shutdown(shutdown)
    .await?;
    expiries.abort();
    if let Some(p) = publisher {
        // It stops at the stop signal, after its batch in flight.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), p).await;
    }
    store.close().await;
    Ok(())
}

#[derive(Debug, Serialize)]
struct Health {
    status: &'static str,
}

async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

async fn readyz(State(state): State<AppState>) -> Json<HeadBody> {
    head(State(state)).await
}

/// `GET /v1/head`: the last durable event.
#[derive(Debug, Serialize)]
pub struct HeadBody {
    /// Its seq (0 for an empty log).
    pub seq: u64,
    /// `hash(seq)`, hex.
    pub hash: String,
}

async fn head(State(state): State<AppState>) -> Json<HeadBody> {
    let h = state.store.head();
    Json(HeadBody {
        seq: h.seq.0,
        hash: h.hash.to_hex(),
    })
}

async fn not_found(uri: axum::http::Uri) -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "not-found",
        format!("no route for {}", uri.path()),
    )
}

/// An RFC 9457 problem document.
#[derive(Debug, Serialize)]
pub struct Problem {
    /// A stable URI naming the cause.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the cause.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong with this request, precisely.
    pub detail: String,
    /// For a policy refusal: the rule's id (docs/policy.md).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
}

impl Problem {
    /// A problem of cause `slug` (documented in docs/api.md).
    pub fn new(status: StatusCode, slug: &str, detail: impl Into<String>) -> Problem {
        Problem {
            kind: format!("https://custos.dev/problems/{slug}"),
            title: status.canonical_reason().unwrap_or("error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            rule: None,
        }
    }

    /// 400 of cause `slug`.
    pub fn bad_request(slug: &str, detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::BAD_REQUEST, slug, detail)
    }

    /// 404, saying what was not found (and nothing about other tenants).
    pub fn not_found(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::NOT_FOUND, "not-found", detail)
    }

    /// 422: the policy refused, by `rule`; the refusal is recorded in the log.
    pub fn refusal(rule: &str, reason: &str) -> Problem {
        let mut p = Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "policy-refusal", reason);
        p.rule = Some(rule.to_owned());
        p
    }

    /// 500: logged in full, answered without details.
    pub fn internal(e: &dyn std::fmt::Display) -> Problem {
        tracing::error!(error = %e, "internal error");
        Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "an internal error occurred; it was logged",
        )
    }

    /// 503: the log refuses writes.
    pub fn unavailable(e: &dyn std::fmt::Display) -> Problem {
        tracing::error!(error = %e, "append refused");
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store-unavailable",
            "the log refuses writes (closed, or after a storage error); nothing was recorded",
        )
    }

    /// 400/413/415 from a JSON body the extractor refused.
    pub fn from_json(e: axum::extract::rejection::JsonRejection) -> Problem {
        let slug = match e.status() {
            StatusCode::PAYLOAD_TOO_LARGE => "body-too-large",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported-media-type",
            _ => "malformed-json",
        };
        Problem::new(e.status(), slug, e.body_text())
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        (
            status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            body,
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    #[tokio::test]
    async fn head_and_unknown_routes() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = Store::open(dir.path(), custos_store::StoreConfig::default()).expect("open");
        let app = app(AppState::new(store));
        let res = app
            .clone()
            .oneshot(Request::get("/v1/head").body(Body::empty()).expect("req"))
            .await
            .expect("call");
        assert_eq!(res.status(), StatusCode::OK);
        let body = axum::body::to_bytes(res.into_body(), 1 << 16)
            .await
            .expect("body");
        let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(v["seq"], 0);
        assert_eq!(v["hash"], "0".repeat(64));

        let res = app
            .oneshot(Request::get("/nope").body(Body::empty()).expect("req"))
            .await
            .expect("call");
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            res.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
    }
}
