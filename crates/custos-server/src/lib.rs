//! custos-server: the HTTP face of the ledger (axum).
//!
//! For now: health and the head, and the expiry loop ([`expiry`]) that records what lapses
//! by itself. The full API (commands, queries, audit windows,
//! authentication) arrives with issue 4; its shape is fixed here already: a router built
//! by [`app`] from an [`AppState`] so that tests can drive it without a socket, and every
//! error answered as `application/problem+json` (RFC 9457) by [`Problem`].
//!
//! Error policy: a client gets a stable `type`, a short `title`, the HTTP `status` and a
//! `detail` it can act on; internal details are logged in the request's span and never
//! sent.

pub mod expiry;

use std::future::Future;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use custos_store::Store;
use serde::Serialize;

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The log.
    pub store: Store,
}

/// The application's routes.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/v1/head", get(head))
        .fallback(not_found)
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
    let expiries = tokio::spawn(expiry::run(
        store.clone(),
        std::sync::Arc::new(custos_store::SystemClock),
    ));
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await?;
    expiries.abort();
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
}

impl Problem {
    /// A problem of cause `slug` (documented in docs/api.md).
    pub fn new(status: StatusCode, slug: &str, detail: impl Into<String>) -> Problem {
        Problem {
            kind: format!("https://custos.dev/problems/{slug}"),
            title: status.canonical_reason().unwrap_or("error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
        }
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
        let app = app(AppState { store });
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
