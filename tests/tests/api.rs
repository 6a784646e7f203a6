//! The HTTP API end to end, on the real binary: tokens from the first start, a grant's
//! story through the policy, refusals recorded, idempotent retries, conditional appends,
//! a tenant admin's isolation, and every kind of bad input answered as a problem.

mod common;

use std::path::Path;
use std::time::Duration;

use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};

struct Server {
    child: std::process::Child,
    url: String,
    client: Client,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(dir: &Path) -> Server {
    let (child, url) = common::serve(dir);
    Server {
        child,
        url,
        client: Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client"),
    }
}

impl Server {
    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, Value, String) {
        let mut req = self.client.request(method, format!("{}{path}", self.url));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("send");
        let status = res.status();
        let ctype = res
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap_or("").to_owned())
            .unwrap_or_default();
        let text = res.text().await.expect("body");
        let value = serde_json::from_str(&text).unwrap_or(Value::Null);
        (status, value, ctype)
    }

    async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        let (s, v, _) = self
            .call(Method::POST, path, Some(token), Some(body), &[])
            .await;
        (s, v)
    }

    async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        let (s, v, _) = self.call(Method::GET, path, Some(token), None, &[]).await;
        (s, v)
    }

    async fn token(
        &self,
        admin: &str,
        role: &str,
        principal: &str,
        tenant: Option<&str>,
    ) -> (String, String) {
        let (s, v) = self
            .post(
                "/v1/tokens",
                admin,
                json!({"role": role, "principal": principal, "tenant": tenant}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        (
            v["secret"].as_str().expect("secret").to_owned(),
            v["token"].as_str().expect("id").to_owned(),
        )
    }

    async fn head(&self) -> u64 {
        let (_, v, _) = self.call(Method::GET, "/v1/head", None, None, &[]).await;
        v["seq"].as_u64().expect("seq")
    }

    async fn last_event(&self, token: &str) -> Value {
        let head = self.head().await;
        let (s, v) = self.get(&format!("/v1/events?from={head}"), token).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v["events"][0].clone()
    }
}

fn assert_problem(status: StatusCode, v: &Value, expected: StatusCode, kind: &str) {
    assert_eq!(status, expected, "{v}");
    assert_eq!(v["status"], expected.as_u16(), "{v}");
    assert_eq!(
        v["type"],
        format!("https://custos.dev/problems/{kind}"),
        "{v}"
    );
    assert!(!v["detail"].as_str().unwrap_or("").is_empty(), "{v}");
}

#[tokio::test]
async fn a_grant_story_over_http_with_refusals_retries_isolation_and_bad_input() {
    let dir = tempfile::tempdir().expect("tmp");
    let server = start(dir.path());
    let file = dir.path().join("admin.token");
    let admin = std::fs::read_to_string(&file)
        .expect("admin token")
        .trim()
        .to_owned();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // The log holds the token's hash, never the secret.
    let issued = server.last_event(&admin).await;
    assert_eq!(issued["payload"]["token_issued"]["role"], "admin");
    assert!(!issued.to_string().contains(&admin));

    // Staff, each with a writer token of their own: the actor comes from the token.
    for (staff, role) in [
        ("staff:csd", "csd"),
        ("staff:csm", "csm"),
        ("staff:ana", "support_l2"),
    ] {
        let (s, v) = server
            .post("/v1/staff", &admin, json!({"staff": staff, "name": staff, "roles": [role], "mfa": true, "sso": true, "training_completed": true}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
    }
    let (csd, _) = server.token(&admin, "writer", "staff:csd", None).await;
    let (csm, _) = server.token(&admin, "writer", "staff:csm", None).await;
    let (ana, _) = server.token(&admin, "writer", "staff:ana", None).await;
    let (reviewer, reviewer_id) = server.token(&admin, "reviewer", "audit:kim", None).await;
    let (acme_admin, _) = server
        .token(&admin, "tenant-admin", "user:acme/admin", Some("acme"))
        .await;

    for t in ["acme", "beta"] {
        let (s, v) = server
            .post("/v1/tenants", &csd, json!({"tenant": t, "name": t, "admins": [format!("user:{t}/admin")], "initial_support": [{"staff": "staff:csm", "role": "csm"}]}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        assert_eq!(v["ids"]["tenant"], t);
    }
    // Only the CSD creates accounts: refused, recorded with the rule.
    let (s, v) = server
        .post("/v1/tenants", &ana, json!({"tenant": "gamma", "name": "g", "admins": ["user:gamma/admin"], "initial_support": []}))
        .await;
    assert_problem(s, &v, StatusCode::UNPROCESSABLE_ENTITY, "policy-refusal");
    assert_eq!(v["rule"], "tenant.creator");
    let rejected = server.last_event(&admin).await;
    assert_eq!(
        rejected["payload"]["attempt_rejected"]["rule"],
        "tenant.creator"
    );
    assert_eq!(rejected["actor"], "staff:ana");

    // A grant request, retried with the same idempotency key: one event, one answer.
    let request = json!({"tenant": "acme", "grantee": "staff:ana", "role": "support_l2", "scopes": ["view"], "reason": "ticket 42", "ttl_secs": 3600});
    let (s1, first, _) = server
        .call(
            Method::POST,
            "/v1/grants",
            Some(&csm),
            Some(request.clone()),
            &[("idempotency-key", "req-1")],
        )
        .await;
    assert_eq!(s1, StatusCode::CREATED, "{first}");
    let head = server.head().await;
    let (s2, again, _) = server
        .call(
            Method::POST,
            "/v1/grants",
            Some(&csm),
            Some(request),
            &[("idempotency-key", "req-1")],
        )
        .await;
    assert_eq!(s2, StatusCode::CREATED);
    assert_eq!(first, again, "a retry returns the first answer");
    assert_eq!(server.head().await, head, "and appends nothing");
    let grant = first["ids"]["grant"].as_str().expect("grant id").to_owned();

    // Two-person rule: the requester cannot approve.
    let (s, v) = server
        .post(&format!("/v1/grants/{grant}/approve"), &csm, json!({}))
        .await;
    assert_problem(s, &v, StatusCode::UNPROCESSABLE_ENTITY, "policy-refusal");
    assert_eq!(v["rule"], "grant.self-approval");
    // A conditional append on a stale version is a conflict, and records nothing.
    let head = server.head().await;
    let (s, v, _) = server
        .call(
            Method::POST,
            &format!("/v1/grants/{grant}/approve"),
            Some(&csd),
            None,
            &[("if-match", "7")],
        )
        .await;
    assert_problem(s, &v, StatusCode::CONFLICT, "conflict");
    assert_eq!(server.head().await, head);
    let (s, v) = server
        .post(&format!("/v1/grants/{grant}/approve"), &csd, json!({}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["events"][0]["kind"], "access_approved");

    // The session on the grant; the reviewer sees who can enter acme and why.
    let (s, v) = server
        .post("/v1/sessions", &ana, json!({"tenant": "acme", "grant": grant, "target": {"user": "user:acme/admin"}, "mode": "view_only", "supervision": "unsupervised", "reason": "check a setting", "ticket_link": "https://help.example/42"}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let session = v["ids"]["session"].as_str().expect("session").to_owned();
    let (s, v) = server
        .get("/v1/tenants/acme/access?explain=true", &reviewer)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let right = v["rights"]
        .as_array()
        .expect("rights")
        .iter()
        .find(|r| r["principal"] == "staff:ana")
        .expect("ana can enter acme")
        .clone();
    let approval = right["evidence"][1].as_u64().expect("approval seq");
    assert_eq!(v["evidence"][approval.to_string()]["actor"], "staff:csd");
    assert_eq!(
        v["evidence"][approval.to_string()]["kind"],
        "access_approved"
    );
    assert_eq!(v["open_sessions"][0]["session"], session);
    // Just before the approval, ana could not enter acme; before acme, nothing existed.
    let (s, v) = server
        .get(
            &format!("/v1/tenants/acme/access?at_seq={}", approval - 1),
            &reviewer,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["seq"], approval - 1);
    assert!(!v["rights"].to_string().contains("staff:ana"), "{v}");
    let (s, v) = server
        .get("/v1/tenants/acme/access?at_seq=3", &reviewer)
        .await;
    assert_problem(s, &v, StatusCode::NOT_FOUND, "not-found");

    // The tenant admin sees acme only; another tenant and no tenant look the same.
    let (s, v) = server.get("/v1/tenants/acme/access", &acme_admin).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s_other, other) = server.get("/v1/tenants/beta/access", &acme_admin).await;
    let (s_none, none) = server.get("/v1/tenants/nope/access", &acme_admin).await;
    assert_problem(s_other, &other, StatusCode::NOT_FOUND, "not-found");
    assert_problem(s_none, &none, StatusCode::NOT_FOUND, "not-found");
    let (s, v) = server.get("/v1/tenants", &acme_admin).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["tenants"].as_array().expect("tenants").len(), 1, "{v}");
    let (s, v) = server.get("/v1/events", &acme_admin).await;
    assert_problem(s, &v, StatusCode::FORBIDDEN, "forbidden");
    // Its audit log: acme's events only, and beta's is not found.
    let (s, v) = server.get("/v1/audit", &acme_admin).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let events = v["events"].as_array().expect("events");
    assert!(events.len() >= 4, "{v}");
    assert!(
        events
            .iter()
            .all(|e| e.to_string().contains("\"tenant\":\"acme\"")),
        "{v}"
    );
    let (s, v) = server.get("/v1/audit?tenant=beta", &acme_admin).await;
    assert_problem(s, &v, StatusCode::NOT_FOUND, "not-found");
    let (s, v) = server.get("/v1/audit?tenant=beta", &reviewer).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(!v["events"].as_array().expect("events").is_empty());
    // ... ends the session in its account and revokes the grant.
    let (s, v) = server
        .post(
            &format!("/v1/sessions/{session}/end"),
            &acme_admin,
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, v) = server
        .post(
            &format!("/v1/grants/{grant}/revoke"),
            &acme_admin,
            json!({"reason": "done"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(server.last_event(&admin).await["actor"], "user:acme/admin");
    // A step on the closed grant or session is refused by name, in the tenant admin's own
    // account (the server keeps no closed item in memory: it reads the one a command
    // acts on back from its stream).
    let (s, v) = server
        .post(
            &format!("/v1/grants/{grant}/revoke"),
            &acme_admin,
            json!({"reason": "again"}),
        )
        .await;
    assert_problem(s, &v, StatusCode::UNPROCESSABLE_ENTITY, "policy-refusal");
    assert_eq!(v["rule"], "grant.state", "{v}");
    let rejected = server.last_event(&admin).await;
    assert_eq!(rejected["payload"]["attempt_rejected"]["tenant"], "acme");
    assert_eq!(
        rejected["payload"]["attempt_rejected"]["subject"],
        "staff:ana"
    );
    let (s, v) = server
        .post(
            &format!("/v1/sessions/{session}/end"),
            &acme_admin,
            json!({}),
        )
        .await;
    assert_problem(s, &v, StatusCode::UNPROCESSABLE_ENTITY, "policy-refusal");
    assert_eq!(v["rule"], "session.closed", "{v}");
    // A writer may not issue tokens.
    let (s, v) = server
        .post(
            "/v1/tokens",
            &csd,
            json!({"role": "admin", "principal": "staff:csd"}),
        )
        .await;
    assert_problem(s, &v, StatusCode::FORBIDDEN, "forbidden");

    // Bad input: each a problem document, nothing appended.
    let head = server.head().await;
    let (s, v, ctype) = server
        .call(
            Method::POST,
            "/v1/grants",
            Some(&csm),
            None,
            &[("content-type", "application/json")],
        )
        .await;
    assert_eq!(ctype, "application/problem+json");
    assert_problem(s, &v, StatusCode::BAD_REQUEST, "invalid-field");
    let res = server
        .client
        .post(format!("{}/v1/staff", server.url))
        .bearer_auth(&admin)
        .body("{\"staff\": \"staff:x\",")
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let v: Value = res.json().await.expect("json");
    assert_problem(
        StatusCode::BAD_REQUEST,
        &v,
        StatusCode::BAD_REQUEST,
        "malformed-json",
    );
    assert!(
        v["detail"]
            .as_str()
            .expect("detail")
            .contains("line 1 column"),
        "{v}"
    );
    let (s, v) = server
        .post("/v1/staff", &admin, json!({"staff": "staff:x", "name": "x", "roles": ["csm"], "mfa": true, "sso": true, "training_completed": true, "colour": "red"}))
        .await;
    assert_problem(s, &v, StatusCode::BAD_REQUEST, "unknown-field");
    assert!(
        v["detail"].as_str().expect("detail").contains("colour"),
        "{v}"
    );
    let (s, v) = server
        .get("/v1/tenants/acme/access?as_of=yesterday", &reviewer)
        .await;
    assert_problem(s, &v, StatusCode::BAD_REQUEST, "bad-timestamp");
    let (s, v, _) = server
        .call(Method::GET, "/v1/tenants/acme/access", None, None, &[])
        .await;
    assert_problem(s, &v, StatusCode::UNAUTHORIZED, "unauthorized");
    let huge = json!({"staff": "staff:y", "name": "y".repeat(100_000), "roles": ["csm"], "mfa": true, "sso": true, "training_completed": true});
    let (s, v) = server.post("/v1/staff", &admin, huge).await;
    assert_problem(s, &v, StatusCode::PAYLOAD_TOO_LARGE, "body");
    let (s, v) = server.get("/v1/nothing-here", &admin).await;
    assert_problem(s, &v, StatusCode::NOT_FOUND, "not-found");
    assert_eq!(server.head().await, head, "bad input appended nothing");

    // Metrics: requests by route pattern and status, appends, group sizes.
    let text = server
        .client
        .get(format!("{}/metrics", server.url))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(text.contains("custos_http_request_duration_seconds_count{method=\"POST\",route=\"/v1/grants/{grant}/approve\",status=\"422\"} 1"), "{text}");
    assert!(text.contains("custos_appended_events_total "), "{text}");
    assert!(text.contains("custos_store_group_events_count "), "{text}");
    assert!(
        text.contains("custos_append_duration_seconds_bucket"),
        "{text}"
    );
    assert!(text.contains("custos_subscribers 0"), "{text}");

    // A revoked token is refused.
    let (s, _, _) = server
        .call(
            Method::DELETE,
            &format!("/v1/tokens/{reviewer_id}"),
            Some(&admin),
            None,
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, v) = server.get("/v1/tenants", &reviewer).await;
    assert_problem(s, &v, StatusCode::UNAUTHORIZED, "unauthorized");

    // Restarted, the server knows the same tokens (they are folded from the log) and
    // issues no new admin token.
    drop(server);
    let server = start(dir.path());
    let (s, v) = server.get("/v1/tenants", &csd).await;
    assert_problem(s, &v, StatusCode::FORBIDDEN, "forbidden");
    let (s, v) = server.get("/v1/tokens", &admin).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["tokens"].as_array().expect("tokens").len(), 6, "{v}");
    let o = common::run(&["verify", "--data", dir.path().to_str().expect("utf-8")]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "the running server holds the lock"
    );
    drop(server);
    let o = common::run(&["verify", "--data", dir.path().to_str().expect("utf-8")]);
    assert!(o.status.success(), "{}", common::stderr(&o));
}

/// Every page of `query` (which must end in `&` or `?`), following cursors; each page's
/// stated head is checked to be at or past the window.
async fn all_pages(server: &Server, token: &str, query: &str) -> Vec<u64> {
    let mut seqs = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10_000 {
        let url = match &cursor {
            Some(c) => format!("{query}cursor={c}"),
            None => query.to_owned(),
        };
        let (s, v) = server.get(&url, token).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let head = v["head"]["seq"].as_u64().expect("head");
        for e in v["events"].as_array().expect("events") {
            let seq = e["seq"].as_u64().expect("seq");
            assert!(seq <= head);
            seqs.push(seq);
        }
        match v["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return seqs,
        }
    }
    panic!("no last page");
}

#[tokio::test]
async fn audit_pages_miss_and_repeat_nothing_while_appends_go_on() {
    let dir = tempfile::tempdir().expect("tmp");
    let server = std::sync::Arc::new(start(dir.path()));
    let admin = std::fs::read_to_string(dir.path().join("admin.token"))
        .expect("admin token")
        .trim()
        .to_owned();
    let enroll = |server: std::sync::Arc<Server>, admin: String, i: usize| async move {
        let (s, v) = server
            .post("/v1/staff", &admin, json!({"staff": format!("staff:s{i}"), "name": "s", "roles": ["support_l1"], "mfa": true, "sso": false, "training_completed": true}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
    };
    for i in 0..40 {
        enroll(server.clone(), admin.clone(), i).await;
    }
    // Appends go on while the pages are read.
    let writer = {
        let (server, admin) = (server.clone(), admin.clone());
        tokio::spawn(async move {
            for i in 40..100 {
                enroll(server.clone(), admin.clone(), i).await;
            }
        })
    };
    let by_kind = all_pages(&server, &admin, "/v1/audit?kind=staff_enrolled&limit=7&").await;
    let all = all_pages(&server, &admin, "/v1/audit?limit=13&").await;
    writer.await.expect("writer");

    for seqs in [&by_kind, &all] {
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "in seq order, no repeats: {seqs:?}"
        );
    }
    assert!(by_kind.len() >= 40, "{}", by_kind.len());
    // Each page run holds exactly the matching events up to its window's end.
    let (_, v) = server.get("/v1/events?limit=1000", &admin).await;
    let events = v["events"].as_array().expect("events");
    let expect = |upper: u64, kind: Option<&str>| -> Vec<u64> {
        events
            .iter()
            .filter(|e| kind.is_none_or(|k| e["payload"].get(k).is_some()))
            .map(|e| e["seq"].as_u64().expect("seq"))
            .filter(|s| *s <= upper)
            .collect()
    };
    assert_eq!(
        by_kind,
        expect(*by_kind.last().expect("one"), Some("staff_enrolled"))
    );
    assert_eq!(all, expect(*all.last().expect("one"), None));

    // The window's limit, bad cursors, bad kinds: problems.
    let (s, v) = server
        .get(
            "/v1/audit?from=2026-01-01T00:00:00Z&to=2026-04-02T00:00:00Z",
            &admin,
        )
        .await;
    assert_problem(s, &v, StatusCode::BAD_REQUEST, "window-too-wide");
    assert!(
        v["detail"].as_str().expect("detail").contains("90 days"),
        "{v}"
    );
    let (s, v) = server
        .get(
            "/v1/audit?from=2026-01-01T00:00:00Z&to=2026-03-31T00:00:00Z",
            &admin,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "89 days is fine: {v}");
    let (s, v) = server.get("/v1/audit?cursor=zzz", &admin).await;
    assert_problem(s, &v, StatusCode::BAD_REQUEST, "invalid-cursor");
    let (s, v) = server.get("/v1/audit?kind=tenant_deleted", &admin).await;
    assert_problem(s, &v, StatusCode::BAD_REQUEST, "invalid-query");
    let (s, v) = server.get("/v1/audit?from=yesterday", &admin).await;
    assert_problem(s, &v, StatusCode::BAD_REQUEST, "bad-timestamp");
    let (s, v) = server.get("/v1/audit?colour=red", &admin).await;
    assert_problem(s, &v, StatusCode::BAD_REQUEST, "invalid-query");
}

/// Runs `custos args…` with `CUSTOS_TOKEN` set to `token` (or unset).
fn cli(token: Option<&str>, args: &[&str]) -> std::process::Output {
    let mut c = common::custos();
    c.env_remove("CUSTOS_TOKEN");
    if let Some(t) = token {
        c.env("CUSTOS_TOKEN", t);
    }
    c.args(args).output().expect("run custos")
}

#[test]
fn the_command_line_asks_a_server_for_tokens_audit_windows_and_access() {
    let dir = tempfile::tempdir().expect("tmp");
    common::demo(dir.path(), 300);
    let d = dir.path().to_str().expect("utf-8");
    let (child, url) = common::serve(dir.path());
    let server = Server {
        child,
        url: url.clone(),
        client: Client::new(),
    };
    let admin = std::fs::read_to_string(dir.path().join("admin.token"))
        .expect("admin token")
        .trim()
        .to_owned();

    // Tokens.
    let o = cli(
        Some(&admin),
        &[
            "token",
            "create",
            "--server",
            &url,
            "--role",
            "reviewer",
            "--principal",
            "audit:kim",
            "--json",
        ],
    );
    assert!(o.status.success(), "{}", common::stderr(&o));
    let created: Value = serde_json::from_slice(&o.stdout).expect("json");
    let reviewer = created["secret"].as_str().expect("secret").to_owned();
    let reviewer_id = created["token"].as_str().expect("id").to_owned();
    let o = cli(Some(&admin), &["token", "list", "--server", &url]);
    assert!(o.status.success());
    assert!(
        common::stdout(&o).contains("audit:kim"),
        "{}",
        common::stdout(&o)
    );
    assert!(
        !common::stdout(&o).contains(&reviewer),
        "secrets are never listed"
    );
    let o = cli(Some(&reviewer), &["token", "list", "--server", &url]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        common::stderr(&o).contains("403 forbidden"),
        "{}",
        common::stderr(&o)
    );
    let o = cli(None, &["audit", "--server", &url]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        common::stderr(&o).contains("CUSTOS_TOKEN"),
        "{}",
        common::stderr(&o)
    );

    // An audit window of one tenant: its events, in seq order, as JSON lines and a table.
    let o = common::run(&["tenants", "--data", d, "--json"]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "the server holds the data directory"
    );
    let (_, tenants) = tokio::runtime::Runtime::new()
        .expect("rt")
        .block_on(server.get("/v1/tenants", &reviewer));
    let tenant = tenants["tenants"][0]["tenant"]
        .as_str()
        .expect("tenant")
        .to_owned();
    let from = "2000-01-01T00:00:00Z";
    let o = cli(
        Some(&reviewer),
        &[
            "audit",
            "--server",
            &url,
            "--tenant",
            &tenant,
            "--json",
            "--from",
            from,
            "--to",
            "2000-03-01T00:00:00Z",
        ],
    );
    assert!(o.status.success(), "{}", common::stderr(&o));
    assert_eq!(common::stdout(&o), "", "nothing in 2000");
    let o = cli(
        Some(&reviewer),
        &["audit", "--server", &url, "--from", from],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        common::stderr(&o).contains("window-too-wide"),
        "{}",
        common::stderr(&o)
    );
    let now = custos_core::Timestamp(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_micros() as i64,
    );
    let window_from = now.plus_secs(-89 * 86_400).to_string();
    let o = cli(
        Some(&reviewer),
        &[
            "audit",
            "--server",
            &url,
            "--tenant",
            &tenant,
            "--from",
            &window_from,
            "--json",
        ],
    );
    assert!(o.status.success(), "{}", common::stderr(&o));
    let lines: Vec<Value> = common::stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert!(!lines.is_empty());
    assert!(lines
        .windows(2)
        .all(|w| w[0]["seq"].as_u64() < w[1]["seq"].as_u64()));
    assert!(lines
        .iter()
        .all(|e| e.to_string().contains(&format!("\"tenant\":\"{tenant}\""))));
    let o = cli(
        Some(&reviewer),
        &[
            "audit",
            "--server",
            &url,
            "--tenant",
            &tenant,
            "--from",
            &window_from,
        ],
    );
    assert!(o.status.success());
    assert_eq!(
        common::stdout(&o).lines().count(),
        lines.len() + 2,
        "a header, then one row per event"
    );

    // Access through the server equals the offline answer at the same seq.
    let seq = lines.last().expect("one")["seq"]
        .as_u64()
        .expect("seq")
        .to_string();
    let o = cli(
        Some(&reviewer),
        &[
            "access", "--server", &url, "--tenant", &tenant, "--at-seq", &seq, "--json",
        ],
    );
    assert!(o.status.success(), "{}", common::stderr(&o));
    let online: Value = serde_json::from_slice(&o.stdout).expect("json");
    let o = cli(
        Some(&reviewer),
        &[
            "access",
            "--server",
            &url,
            "--tenant",
            &tenant,
            "--at-seq",
            &seq,
            "--explain",
        ],
    );
    assert!(o.status.success(), "{}", common::stderr(&o));
    assert!(
        common::stdout(&o).contains("    seq "),
        "{}",
        common::stdout(&o)
    );
    let o = cli(
        Some(&reviewer),
        &["access", "--server", &url, "--tenant", "no-such", "--json"],
    );
    assert_eq!(o.status.code(), Some(1));
    // Revoked, the token is refused.
    let o = cli(
        Some(&admin),
        &["token", "revoke", "--server", &url, &reviewer_id],
    );
    assert!(o.status.success(), "{}", common::stderr(&o));
    let o = cli(
        Some(&reviewer),
        &["access", "--server", &url, "--tenant", &tenant],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        common::stderr(&o).contains("401 unauthorized"),
        "{}",
        common::stderr(&o)
    );
    drop(server);
    let o = common::run(&[
        "access", "--data", d, "--tenant", &tenant, "--at-seq", &seq, "--json",
    ]);
    assert!(o.status.success(), "{}", common::stderr(&o));
    let offline: Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(online, offline);
}

#[tokio::test]
async fn every_role_on_every_endpoint() {
    let dir = tempfile::tempdir().expect("tmp");
    let server = start(dir.path());
    let admin = std::fs::read_to_string(dir.path().join("admin.token"))
        .expect("admin token")
        .trim()
        .to_owned();
    let mut tokens = vec![("admin", admin.clone())];
    for (role, principal, tenant) in [
        ("writer", "staff:w", None),
        ("reviewer", "audit:r", None),
        ("lead", "staff:lead", None),
        ("tenant-admin", "user:acme/admin", Some("acme")),
        ("subscriber", "svc:feed", None),
    ] {
        tokens.push((role, server.token(&admin, role, principal, tenant).await.0));
    }
    let id = "01J0000000000000000000000A";
    const W: &[&str] = &["admin", "writer"];
    const C: &[&str] = &["admin", "writer", "tenant-admin"];
    const R: &[&str] = &["admin", "reviewer", "lead", "tenant-admin"];
    const RA: &[&str] = &["admin", "reviewer", "lead"];
    let g = format!("/v1/grants/{id}");
    let c = format!("/v1/consents/{id}");
    let s = format!("/v1/sessions/{id}");
    let i = format!("/v1/invitations/{id}");
    // The expected matrix, written out independently of the server's tables.
    let matrix: Vec<(Method, String, &[&str])> = vec![
        (Method::POST, "/v1/tenants".into(), W),
        (Method::POST, "/v1/tenants/acme/onboarding".into(), W),
        (Method::POST, "/v1/tenants/acme/users".into(), W),
        (
            Method::DELETE,
            "/v1/tenants/acme/users/user:acme%2Fx".into(),
            W,
        ),
        (Method::POST, "/v1/staff".into(), W),
        (Method::POST, "/v1/grants".into(), W),
        (Method::POST, format!("{g}/approve"), W),
        (Method::POST, format!("{g}/deny"), W),
        (Method::POST, format!("{g}/extend"), W),
        (Method::POST, format!("{g}/revoke"), C),
        (Method::POST, "/v1/consents".into(), C),
        (Method::POST, format!("{c}/withdraw"), C),
        (Method::POST, "/v1/sessions".into(), W),
        (Method::POST, format!("{s}/actions"), W),
        (Method::POST, format!("{s}/end"), C),
        (Method::POST, format!("{s}/notify"), W),
        (Method::POST, "/v1/invitations".into(), W),
        (Method::POST, format!("{i}/send"), W),
        (Method::POST, format!("{i}/accept"), W),
        (Method::POST, format!("{i}/decline"), W),
        (Method::POST, format!("{i}/deactivate"), W),
        (Method::POST, format!("{i}/reactivate"), W),
        (Method::POST, format!("{i}/revoke"), W),
        (Method::POST, format!("{i}/actions"), W),
        (Method::POST, "/v1/reviews".into(), &["admin", "lead"]),
        (Method::GET, "/v1/findings".into(), RA),
        (Method::GET, "/v1/findings/misuse.self-grant@1".into(), RA),
        (Method::GET, "/v1/reviews/coverage".into(), RA),
        (Method::GET, "/v1/thresholds".into(), RA),
        (Method::GET, "/v1/tenants".into(), R),
        (Method::GET, "/v1/tenants/acme/access".into(), R),
        (Method::GET, "/v1/principals/staff:w/access".into(), RA),
        (Method::GET, "/v1/events".into(), RA),
        (Method::GET, "/v1/audit".into(), R),
        (Method::GET, "/v1/tokens".into(), &["admin"]),
        (Method::POST, "/v1/tokens".into(), &["admin"]),
        (Method::DELETE, format!("/v1/tokens/{id}"), &["admin"]),
    ];
    let mut checked = 0;
    for (method, path, allowed) in &matrix {
        let body = (*method == Method::POST).then(|| json!({}));
        let (status, v, _) = server
            .call(method.clone(), path, None, body.clone(), &[])
            .await;
        assert_problem(status, &v, StatusCode::UNAUTHORIZED, "unauthorized");
        for (role, token) in &tokens {
            let (status, v, ctype) = server
                .call(method.clone(), path, Some(token), body.clone(), &[])
                .await;
            if allowed.contains(role) {
                assert!(
                    status != StatusCode::FORBIDDEN && status != StatusCode::UNAUTHORIZED,
                    "{role} {method} {path}: {status} {v}"
                );
            } else {
                assert_eq!(status, StatusCode::FORBIDDEN, "{role} {method} {path}: {v}");
                assert_eq!(ctype, "application/problem+json");
            }
            checked += 1;
        }
    }
    assert_eq!(checked, matrix.len() * 6);
    // Open to all: health, readiness, the head, metrics.
    for path in ["/healthz", "/readyz", "/v1/head", "/metrics"] {
        let (status, _, _) = server.call(Method::GET, path, None, None, &[]).await;
        assert_eq!(status, StatusCode::OK, "{path}");
    }
}

#[tokio::test]
async fn the_source_ip_is_the_peer_unless_a_trusted_proxy_forwards_it() {
    for (flags, expected) in [
        (vec![], "127.0.0.1"),
        (vec!["--trusted-proxy", "127.0.0.1"], "203.0.113.9"),
        (vec!["--trusted-proxy", "10.9.9.9"], "127.0.0.1"),
    ] {
        let dir = tempfile::tempdir().expect("tmp");
        let (child, url) = common::serve_with(dir.path(), &flags);
        let server = Server {
            child,
            url,
            client: Client::new(),
        };
        let admin = std::fs::read_to_string(dir.path().join("admin.token"))
            .expect("admin token")
            .trim()
            .to_owned();
        let (s, v, _) = server
            .call(
                Method::POST,
                "/v1/staff",
                Some(&admin),
                Some(json!({"staff": "staff:x", "name": "x", "roles": ["csm"], "mfa": true, "sso": true, "training_completed": true})),
                &[("x-forwarded-for", "203.0.113.9, 10.0.0.1")],
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        let e = server.last_event(&admin).await;
        assert_eq!(e["source_ip"], expected, "{flags:?}: {e}");
        assert_eq!(e["actor"], "custos:admin");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn findings_live_equal_a_rebuild_and_leads_review_them() {
    let dir = tempfile::tempdir().expect("tmp");
    common::demo(dir.path(), 3000);
    let server = start(dir.path());
    let admin = std::fs::read_to_string(dir.path().join("admin.token"))
        .expect("admin token")
        .trim()
        .to_owned();
    let (lead, _) = server.token(&admin, "lead", "staff:lead", None).await;
    let (s, v) = server
        .post("/v1/staff", &admin, json!({"staff": "staff:lead", "name": "Lead", "roles": ["support_lead"], "mfa": true, "sso": true, "training_completed": true}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    // An hour ahead, so that the review recorded below falls inside the window.
    let to = custos_core::Timestamp::from_secs(now + 3600).to_string();
    let from = custos_core::Timestamp::from_secs(now - 89 * 86_400).to_string();
    let period = format!("from={from}&to={to}");
    let window = format!("{period}&limit=5000");
    let (s, live) = server.get(&format!("/v1/findings?{window}"), &lead).await;
    assert_eq!(s, StatusCode::OK, "{live}");
    assert!(live.get("next_cursor").is_none(), "one page holds them all");
    let findings = live["findings"].as_array().expect("findings").clone();
    assert!(findings.len() > 20, "{}", findings.len());
    // Pages of 37, cursor after cursor, are the same findings in the same order.
    let mut paged: Vec<Value> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            None => format!("/v1/findings?from={from}&to={to}&limit=37"),
            Some(c) => format!("/v1/findings?from={from}&limit=37&cursor={c}"),
        };
        let (s, page) = server.get(&url, &lead).await;
        assert_eq!(s, StatusCode::OK, "{page}");
        let items = page["findings"].as_array().expect("findings");
        assert!(items.len() <= 37);
        paged.extend(items.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => {
                assert_eq!(items.len(), 37, "only the last page is short");
                cursor = Some(c.to_owned());
            }
            None => break,
        }
    }
    assert_eq!(paged, findings);
    for (query, slug) in [
        ("limit=0", "invalid-query"),
        ("limit=5001", "invalid-query"),
        ("cursor=garbage", "invalid-cursor"),
        ("cursor=1.2.x&to=2026-01-01T00:00:00Z", "invalid-cursor"),
        ("staff=NOT%20A%20NAME", "invalid-query"),
    ] {
        let (s, v) = server.get(&format!("/v1/findings?{query}"), &lead).await;
        assert_problem(s, &v, StatusCode::BAD_REQUEST, slug);
    }
    let rules: std::collections::BTreeSet<&str> = findings
        .iter()
        .map(|f| f["rule"].as_str().expect("rule"))
        .collect();
    assert!(rules.len() >= 5, "{rules:?}");
    // One finding with its evidence, reviewed by a lead.
    let id = findings[0]["id"].as_str().expect("id").to_owned();
    let (s, one) = server.get(&format!("/v1/findings/{id}"), &lead).await;
    assert_eq!(s, StatusCode::OK, "{one}");
    assert_eq!(one["events"][0]["seq"], one["evidence"][0]);
    let (s, v) = server
        .post("/v1/reviews", &lead, json!({"tenant": findings[0]["tenant"], "subject": {"finding": id}, "outcome": "escalated", "comment": "twice this week"}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (_, after) = server
        .get(&format!("/v1/findings?{window}&status=escalated"), &lead)
        .await;
    let reviewed = after["findings"].as_array().expect("findings");
    assert_eq!(reviewed.len(), 1, "{after}");
    assert_eq!(reviewed[0]["id"], id);
    let (_, open) = server
        .get(&format!("/v1/findings?{window}&status=open"), &lead)
        .await;
    assert_eq!(
        open["findings"].as_array().expect("findings").len(),
        findings.len() - 1
    );
    // Review coverage of the period: every ended session counted once.
    let (s, cov) = server
        .get(&format!("/v1/reviews/coverage?{period}"), &lead)
        .await;
    assert_eq!(s, StatusCode::OK, "{cov}");
    let sessions = cov["sessions"].as_u64().expect("sessions");
    assert!(sessions > 0, "{cov}");
    let unreviewed = cov["unreviewed"].as_array().expect("list").len() as u64;
    assert_eq!(
        cov["reviewed"].as_u64().expect("reviewed") + unreviewed,
        sessions
    );
    // Bad windows and roles.
    let (s, v) = server
        .get(
            "/v1/findings?from=2026-01-01T00:00:00Z&to=2026-06-01T00:00:00Z",
            &lead,
        )
        .await;
    assert_problem(s, &v, StatusCode::BAD_REQUEST, "window-too-wide");
    let (writer, _) = server.token(&admin, "writer", "staff:w", None).await;
    let (s, v) = server.get("/v1/findings", &writer).await;
    assert_problem(s, &v, StatusCode::FORBIDDEN, "forbidden");
    // Rebuilt offline from the log, the same findings (with the review).
    let (_, live) = server.get(&format!("/v1/findings?{window}"), &lead).await;
    drop(server);
    let o = common::run(&[
        "findings",
        "--data",
        dir.path().to_str().expect("utf-8"),
        "--from",
        &from,
        "--to",
        &to,
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", common::stderr(&o));
    let rebuilt: Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(rebuilt["findings"], live["findings"]);
}

#[tokio::test]
async fn thresholds_from_a_file_are_recorded_once_as_events() {
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("thresholds.json");
    std::fs::write(
        &file,
        r#"{"max_accounts_per_day": 3, "business_hours": [7, 19]}"#,
    )
    .expect("write");
    let f = file.to_str().expect("utf-8");
    let (child, url) = common::serve_with(dir.path(), &["--thresholds", f]);
    let server = Server {
        child,
        url,
        client: Client::new(),
    };
    let admin = std::fs::read_to_string(dir.path().join("admin.token"))
        .expect("admin token")
        .trim()
        .to_owned();
    let (s, v) = server.get("/v1/thresholds", &admin).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["version"], 1);
    assert_eq!(v["thresholds"]["max_accounts_per_day"], 3);
    assert_eq!(
        v["thresholds"]["notify_within_secs"], 86_400,
        "defaults for the rest"
    );
    let e = server.last_event(&admin).await;
    assert_eq!(e["payload"]["thresholds_changed"]["version"], 1);
    assert_eq!(e["actor"], "custos:system");
    let head = server.head().await;
    drop(server);
    // The same file again: nothing new. Another: version 2.
    let (child, url) = common::serve_with(dir.path(), &["--thresholds", f]);
    let server = Server {
        child,
        url,
        client: Client::new(),
    };
    assert_eq!(server.head().await, head);
    drop(server);
    std::fs::write(&file, r#"{"max_accounts_per_day": 4}"#).expect("write");
    let (child, url) = common::serve_with(dir.path(), &["--thresholds", f]);
    let server = Server {
        child,
        url,
        client: Client::new(),
    };
    let (_, v) = server.get("/v1/thresholds", &admin).await;
    assert_eq!(v["version"], 2);
    drop(server);
    // A bad file: exit 2 naming it, nothing recorded.
    std::fs::write(&file, r#"{"max_acounts_per_day": 4}"#).expect("write");
    let o = common::run(&[
        "serve",
        "--data",
        dir.path().to_str().expect("utf-8"),
        "--listen",
        "127.0.0.1:0",
        "--thresholds",
        f,
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        common::stderr(&o).contains("thresholds.json"),
        "{}",
        common::stderr(&o)
    );
}
