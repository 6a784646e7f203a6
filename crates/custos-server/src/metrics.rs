//! `/metrics` in the Prometheus text format (prometheus-client): requests and their
//! latency by route and status, events appended through the API, append latency (queued
//! to durable), the store's group sizes, and subscribers.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::{AppState, Problem};

/// The labels of a request.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// `GET`, `POST`, …
    pub method: String,
    /// The route's pattern (`/v1/grants/{grant}/approve`), never the raw path.
    pub route: String,
    /// The HTTP status.
    pub status: u16,
}

/// The server's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Histogram>,
    /// Events appended through the API (commands, refusals, tokens).
    pub appended: Counter,
    /// Seconds from queueing an append to its acknowledgement.
    pub append_latency: Histogram,
    /// Events per group the writer committed.
    pub group_sizes: Histogram,
    /// Open subscriptions (issue 5).
    pub subscribers: Gauge,
}

fn latency_histogram() -> Histogram {
    // 100 µs to ~3.3 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 16))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("custos");
        let requests = Family::<RequestLabels, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP requests by method, route and status, and their latency",
            requests.clone(),
        );
        let appended = Counter::default();
        registry.register(
            "appended_events",
            "Events appended through the API",
            appended.clone(),
        );
        let append_latency = latency_histogram();
        registry.register(
            "append_duration_seconds",
            "From queueing an append to its acknowledgement (durable)",
            append_latency.clone(),
        );
        let group_sizes = Histogram::new(exponential_buckets(1.0, 2.0, 12));
        registry.register(
            "store_group_events",
            "Events per group commit (one sled batch, one flush)",
            group_sizes.clone(),
        );
        let subscribers = Gauge::default();
        registry.register(
            "subscribers",
            "Open event-stream subscriptions",
            subscribers.clone(),
        );
        Metrics {
            registry,
            requests,
            appended,
            append_latency,
            group_sizes,
            subscribers,
        }
    }
}

impl Metrics {
    /// Connects the store's group commits to [`Metrics::group_sizes`].
    pub fn observe_store(self: &Arc<Self>, store: &custos_store::Store) {
        let sizes = self.group_sizes.clone();
        let _ = store.observe_groups(Box::new(move |n| sizes.observe(n as f64)));
    }
}

/// Times every request (a middleware).
pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let res = next.run(req).await;
    state
        .metrics
        .requests
        .get_or_create(&RequestLabels {
            method,
            route,
            status: res.status().as_u16(),
        })
        .observe(started.elapsed().as_secs_f64());
    res
}

/// `GET /metrics`.
pub async fn render(State(state): State<AppState>) -> Result<Response, Problem> {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &state.metrics.registry)
        .map_err(|e| Problem::internal(&e))?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response())
}
