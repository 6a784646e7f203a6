//! The five vendors' stories (../shared/seeds), told over HTTP to the real binary: each
//! rule answers 201 or 422 with its rule id, as docs/policy.md says, and the access
//! queries show the outcome. Every actor has a writer token of its own, so the actor of
//! each event is the person the story names.

mod common;

use std::collections::HashMap;

use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

struct Story {
    url: String,
    client: Client,
    admin: String,
    tokens: HashMap<String, String>,
    _child: Child,
}

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Story {
    async fn start(dir: &std::path::Path) -> Story {
        let (child, url) = common::serve(dir);
        let admin = std::fs::read_to_string(dir.join("admin.token"))
            .expect("admin token")
            .trim()
            .to_owned();
        let story = Story {
            url,
            client: Client::new(),
            admin,
            tokens: HashMap::new(),
            _child: Child(child),
        };
        // The staff of the five vendors.
        for (staff, role, mfa, trained) in [
            ("staff:csd", "csd", true, true),
            ("staff:csm", "csm", true, true),
            ("staff:pm", "onboarding_manager", true, true),
            ("staff:l1", "support_l1", true, true),
            ("staff:l2", "support_l2", true, true),
            ("staff:untrained", "support_l2", true, false),
            ("partner:hpx", "partner_admin", true, true),
        ] {
            let admin = story.admin.clone();
            let (s, v) = story
                .send(&admin, "/v1/staff", json!({"staff": staff, "name": staff, "roles": [role], "mfa": mfa, "sso": true, "training_completed": trained}))
                .await;
            assert_eq!(s, StatusCode::CREATED, "{v}");
        }
        story
    }

    async fn send(&self, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
        let res = self
            .client
            .post(format!("{}{path}", self.url))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("send");
        (res.status(), res.json().await.unwrap_or(Value::Null))
    }

    /// The writer token of `who`, issued on first use.
    async fn token(&mut self, who: &str) -> String {
        if let Some(t) = self.tokens.get(who) {
            return t.clone();
        }
        let admin = self.admin.clone();
        let (s, v) = self
            .send(
                &admin,
                "/v1/tokens",
                json!({"role": "writer", "principal": who}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        let t = v["secret"].as_str().expect("secret").to_owned();
        self.tokens.insert(who.to_owned(), t.clone());
        t
    }

    /// `who` posts; the command must be accepted. Returns the answer.
    async fn ok(&mut self, who: &str, path: &str, body: Value) -> Value {
        let t = self.token(who).await;
        let (s, v) = self.send(&t, path, body).await;
        assert_eq!(s, StatusCode::CREATED, "{who} {path}: {v}");
        v
    }

    /// `who` posts; the policy must refuse by `rule`.
    async fn refused(&mut self, who: &str, path: &str, body: Value, rule: &str) {
        let t = self.token(who).await;
        let (s, v) = self.send(&t, path, body).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{who} {path}: {v}");
        assert_eq!(v["rule"], rule, "{v}");
    }

    async fn get(&self, path: &str) -> Value {
        let res = self
            .client
            .get(format!("{}{path}", self.url))
            .bearer_auth(&self.admin)
            .send()
            .await
            .expect("get");
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        res.json().await.expect("json")
    }

    /// The tenants `who` can enter now.
    async fn tenants_of(&self, who: &str) -> Vec<String> {
        let v = self
            .get(&format!(
                "/v1/principals/{}/access",
                who.replace('/', "%2F")
            ))
            .await;
        v["tenants"]
            .as_array()
            .expect("tenants")
            .iter()
            .map(|e| e["tenant"].as_str().expect("tenant").to_owned())
            .collect()
    }

    async fn account(&mut self, tenant: &str, support: Value) {
        let body = json!({"tenant": tenant, "name": tenant, "admins": [format!("user:{tenant}/admin")], "initial_support": support});
        self.ok("staff:csd", "/v1/tenants", body).await;
    }

    /// A grant requested by the CSM and approved by the CSD; its id.
    async fn grant(&mut self, tenant: &str, grantee: &str, role: &str, scopes: Value) -> String {
        let v = self
            .ok("staff:csm", "/v1/grants", json!({"tenant": tenant, "grantee": grantee, "role": role, "scopes": scopes, "reason": "customer ticket", "ticket": "T-1", "ttl_secs": 3600}))
            .await;
        let g = v["ids"]["grant"].as_str().expect("grant").to_owned();
        self.ok("staff:csd", &format!("/v1/grants/{g}/approve"), json!({}))
            .await;
        g
    }

    async fn session(
        &mut self,
        staff: &str,
        tenant: &str,
        grant: &str,
        mode: &str,
        supervision: &str,
    ) -> String {
        let v = self
            .ok(staff, "/v1/sessions", json!({"tenant": tenant, "grant": grant, "target": {"user": format!("user:{tenant}/admin")}, "mode": mode, "supervision": supervision, "reason": "check the settings in the ticket", "ticket_link": "https://help.example/T-1"}))
            .await;
        v["ids"]["session"].as_str().expect("session").to_owned()
    }
}

fn in_a_day() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    custos_core::Timestamp::from_secs(now + 86_400).to_string()
}

#[tokio::test]
async fn the_five_vendors_stories_over_http() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut s = Story::start(dir.path()).await;
    let csm_pm = json!([{"staff": "staff:csm", "role": "csm"}, {"staff": "staff:pm", "role": "onboarding_manager"}]);

    // --- Workiva: only the CSM and the onboarding PM at creation; the two-person rule;
    // the org admin removes any support user.
    s.refused("staff:csd", "/v1/tenants", json!({"tenant": "wk", "name": "wk", "admins": ["user:wk/admin"], "initial_support": [{"staff": "staff:l1", "role": "support_l1"}]}), "tenant.initial-support").await;
    s.account("wk", csm_pm.clone()).await;
    s.refused("staff:l2", "/v1/grants", json!({"tenant": "wk", "grantee": "staff:l2", "role": "support_l2", "scopes": ["view"], "reason": "me", "ttl_secs": 3600}), "grant.self-request").await;
    let v = s
        .ok("staff:csm", "/v1/grants", json!({"tenant": "wk", "grantee": "staff:l2", "role": "support_l2", "scopes": ["view"], "reason": "ticket", "ttl_secs": 3600}))
        .await;
    let g = v["ids"]["grant"].as_str().expect("grant").to_owned();
    s.refused(
        "staff:csm",
        &format!("/v1/grants/{g}/approve"),
        json!({}),
        "grant.self-approval",
    )
    .await;
    s.refused(
        "staff:l2",
        &format!("/v1/grants/{g}/approve"),
        json!({}),
        "grant.self-approval",
    )
    .await;
    s.ok("staff:csd", &format!("/v1/grants/{g}/approve"), json!({}))
        .await;
    assert_eq!(s.tenants_of("staff:l2").await, vec!["wk"]);
    s.ok(
        "user:wk/admin",
        &format!("/v1/grants/{g}/revoke"),
        json!({"reason": "no longer needed"}),
    )
    .await;
    assert!(s.tenants_of("staff:l2").await.is_empty());

    // --- Teamleader: a session needs a grant, MFA, training, a reason and a link; import,
    // download and templates need explicit consent; the customer is told afterwards.
    s.account("tl", csm_pm.clone()).await;
    let g = s
        .grant(
            "tl",
            "staff:l2",
            "support_l2",
            json!(["view", "template_edit"]),
        )
        .await;
    let start = |grant: &str, link: &str| json!({"tenant": "tl", "grant": grant, "target": {"user": "user:tl/admin"}, "mode": "write", "supervision": "unsupervised", "reason": "fix the template", "ticket_link": link});
    s.refused("staff:l2", "/v1/sessions", start(&g, " "), "session.reason")
        .await;
    let g_untrained = s
        .grant("tl", "staff:untrained", "support_l2", json!(["view"]))
        .await;
    s.refused(
        "staff:untrained",
        "/v1/sessions",
        start(&g_untrained, "https://help.example/1"),
        "session.training",
    )
    .await;
    s.refused(
        "staff:l2",
        "/v1/sessions",
        start(&g_untrained, "https://help.example/1"),
        "session.grant",
    )
    .await;
    let v = s
        .ok(
            "staff:l2",
            "/v1/sessions",
            start(&g, "https://help.example/1"),
        )
        .await;
    let session = v["ids"]["session"].as_str().expect("session").to_owned();
    let act = |action: Value| json!({"action": action, "detail": "as asked"});
    s.ok(
        "staff:l2",
        &format!("/v1/sessions/{session}/actions"),
        act(json!("view_settings")),
    )
    .await;
    s.refused(
        "staff:l2",
        &format!("/v1/sessions/{session}/actions"),
        act(json!("edit_template")),
        "action.consent",
    )
    .await;
    // A phone consent is recorded but never satisfies the rule (4logist).
    s.ok("user:tl/admin", "/v1/consents", json!({"tenant": "tl", "scopes": ["template_edit"], "channel": "phone", "ticket": "T-2", "expires_at": in_a_day()})).await;
    s.refused(
        "staff:l2",
        &format!("/v1/sessions/{session}/actions"),
        act(json!("edit_template")),
        "action.consent",
    )
    .await;
    s.ok("user:tl/admin", "/v1/consents", json!({"tenant": "tl", "scopes": ["template_edit"], "channel": "in_app", "ticket": "T-2", "expires_at": in_a_day()})).await;
    s.ok(
        "staff:l2",
        &format!("/v1/sessions/{session}/actions"),
        act(json!("edit_template")),
    )
    .await;
    s.refused(
        "staff:l2",
        &format!("/v1/sessions/{session}/notify"),
        json!({"channel": "in_app"}),
        "session.open",
    )
    .await;
    let view = s.get("/v1/tenants/tl/access").await;
    assert_eq!(view["open_sessions"][0]["session"], session);
    // It closes by itself one hour after its start.
    let deadline: custos_core::Timestamp = view["open_sessions"][0]["deadline"]
        .as_str()
        .expect("deadline")
        .parse()
        .expect("timestamp");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_micros() as i64;
    let left = (deadline.0 - now) / 1_000_000;
    assert!((3500..=3600).contains(&left), "{left} s left");
    s.ok(
        "staff:l2",
        &format!("/v1/sessions/{session}/end"),
        json!({}),
    )
    .await;
    s.ok(
        "staff:l2",
        &format!("/v1/sessions/{session}/notify"),
        json!({"channel": "in_app"}),
    )
    .await;

    // --- 4logist: view-only refuses writes; medium settings need an authorised request
    // (a phone call is not one); high-importance settings only supervised in onboarding.
    s.account("fl", csm_pm.clone()).await;
    let g = s
        .grant("fl", "staff:l2", "support_l2", json!(["view", "settings"]))
        .await;
    let view_only = s
        .session("staff:l2", "fl", &g, "view_only", "unsupervised")
        .await;
    s.ok(
        "staff:l2",
        &format!("/v1/sessions/{view_only}/actions"),
        act(json!("view_user_rights")),
    )
    .await;
    s.refused(
        "staff:l2",
        &format!("/v1/sessions/{view_only}/actions"),
        act(json!({"change_setting": {"other": "theme"}})),
        "action.view-only",
    )
    .await;
    let write = s
        .session("staff:l2", "fl", &g, "write", "unsupervised")
        .await;
    let numbering = |channel: Option<&str>| json!({"action": {"change_setting": "numbering"}, "detail": "as asked", "request_channel": channel});
    s.refused(
        "staff:l2",
        &format!("/v1/sessions/{write}/actions"),
        numbering(Some("phone")),
        "action.medium-request",
    )
    .await;
    s.ok(
        "staff:l2",
        &format!("/v1/sessions/{write}/actions"),
        numbering(Some("verified_email")),
    )
    .await;
    let password = act(json!({"change_setting": "password"}));
    s.refused(
        "staff:l2",
        &format!("/v1/sessions/{write}/actions"),
        password.clone(),
        "action.high-importance",
    )
    .await;
    s.ok(
        "staff:csm",
        "/v1/tenants/fl/onboarding",
        json!({"open": true}),
    )
    .await;
    let supervised = s.session("staff:l2", "fl", &g, "write", "live_call").await;
    let v = s
        .ok(
            "staff:l2",
            &format!("/v1/sessions/{supervised}/actions"),
            password,
        )
        .await;
    assert_eq!(v["events"][0]["kind"], "session_action");

    // --- ORC: a guest must already be a user of another account; it answers for itself;
    // its access list shows both accounts.
    s.account("orc", csm_pm.clone()).await;
    let invite = json!({"tenant": "orc", "kind": "guest", "invitee": "user:wk/admin", "scopes": ["billing"], "expires_at": in_a_day()});
    s.refused("user:orc/admin", "/v1/invitations", json!({"tenant": "orc", "kind": "guest", "invitee": "user:nobody/x", "scopes": ["billing"], "expires_at": in_a_day()}), "invitation.guest-exists").await;
    let v = s.ok("user:orc/admin", "/v1/invitations", invite).await;
    let inv = v["ids"]["invitation"]
        .as_str()
        .expect("invitation")
        .to_owned();
    s.ok(
        "user:orc/admin",
        &format!("/v1/invitations/{inv}/send"),
        json!({}),
    )
    .await;
    s.refused(
        "user:orc/admin",
        &format!("/v1/invitations/{inv}/accept"),
        json!({}),
        "invitation.answerer",
    )
    .await;
    s.ok(
        "user:wk/admin",
        &format!("/v1/invitations/{inv}/accept"),
        json!({}),
    )
    .await;
    let mut theirs = s.tenants_of("user:wk/admin").await;
    theirs.sort();
    assert_eq!(theirs, vec!["orc", "wk"]);
    s.ok(
        "user:orc/admin",
        &format!("/v1/invitations/{inv}/deactivate"),
        json!({}),
    )
    .await;
    assert_eq!(s.tenants_of("user:wk/admin").await, vec!["wk"]);

    // --- HP WXP: a partner manages an account only once the customer's IT admin accepts.
    s.account("hp", json!([])).await;
    s.ok(
        "user:hp/admin",
        "/v1/tenants/hp/users",
        json!({"user": "user:hp/it", "kind": "it_admin", "email": "it@hp.example"}),
    )
    .await;
    let v = s.ok("partner:hpx", "/v1/invitations", json!({"tenant": "hp", "kind": "partner", "invitee": "partner:hpx", "scopes": ["provisioning"], "expires_at": in_a_day()})).await;
    let inv = v["ids"]["invitation"]
        .as_str()
        .expect("invitation")
        .to_owned();
    assert!(
        s.tenants_of("partner:hpx").await.is_empty(),
        "pending: no access"
    );
    s.refused(
        "partner:hpx",
        &format!("/v1/invitations/{inv}/accept"),
        json!({}),
        "invitation.answerer",
    )
    .await;
    s.ok(
        "user:hp/it",
        &format!("/v1/invitations/{inv}/accept"),
        json!({}),
    )
    .await;
    assert_eq!(s.tenants_of("partner:hpx").await, vec!["hp"]);

    // Every refusal is in the log as a rejected attempt with its rule, by its actor.
    let v = s.get("/v1/audit?kind=attempt_rejected&limit=1000").await;
    let rules: Vec<&str> = v["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| {
            e["payload"]["attempt_rejected"]["rule"]
                .as_str()
                .expect("rule")
        })
        .collect();
    assert_eq!(rules.len(), 16, "one per refusal above: {rules:?}");
    for rule in [
        "tenant.initial-support",
        "grant.self-request",
        "grant.self-approval",
        "session.reason",
        "action.consent",
        "action.view-only",
        "action.medium-request",
        "action.high-importance",
        "invitation.guest-exists",
        "invitation.answerer",
    ] {
        assert!(rules.contains(&rule), "{rule} in {rules:?}");
    }
}
