//! After a storage error the store refuses writes: every command is answered 503 with a
//! problem, nothing half-written is acknowledged, reads go on, and the log verifies.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use custos_server::{app, tokens, AppState};
use custos_store::{Store, StoreConfig};
use tower::ServiceExt;

async fn post(app: &axum::Router, token: &str, staff: &str) -> (StatusCode, serde_json::Value) {
    let body = serde_json::json!({"staff": staff, "name": "x", "roles": ["csm"], "mfa": true, "sso": true, "training_completed": true});
    let req = Request::post("/v1/staff")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .expect("request");
    let res = app.clone().oneshot(req).await.expect("call");
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .expect("body");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

#[tokio::test]
async fn a_store_refusing_writes_is_answered_503_and_loses_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    let config = StoreConfig {
        // The admin token is group 1, the first command group 2; the third write fails.
        fail_after_groups: Some(2),
        ..StoreConfig::default()
    };
    let store = Store::open(dir.path(), config).expect("open");
    let state = AppState::new(store.clone());
    let (admin, _) = tokens::bootstrap(&state.store, &state.live)
        .await
        .expect("bootstrap")
        .expect("first start");
    let app = app(state);
    let (s, v) = post(&app, &admin, "staff:a").await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    for staff in ["staff:b", "staff:c"] {
        let (s, v) = post(&app, &admin, staff).await;
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{v}");
        assert_eq!(v["type"], "https://custos.dev/problems/store-unavailable");
    }
    assert_eq!(store.head().seq.0, 2, "only what was acknowledged");
    let req = Request::get("/v1/tenants")
        .header(header::AUTHORIZATION, format!("Bearer {admin}"))
        .body(Body::empty())
        .expect("request");
    assert_eq!(
        app.clone().oneshot(req).await.expect("call").status(),
        StatusCode::OK
    );
    assert_eq!(store.verify(None).expect("verifies").seq.0, 2);
}
