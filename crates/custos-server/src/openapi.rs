//! `GET /openapi.json`: the OpenAPI 3.1 description of the API, built (with utoipa's
//! model) from the command table the router is built from and from [`ROUTES`], the list
//! of the other routes. `docs/openapi.json` is a copy; a test fails when it is stale, and
//! another that any path it lists is not routed.

use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, ObjectBuilder, OpenApi, OpenApiBuilder,
    PathItem, PathsBuilder, Required, ResponseBuilder, ResponsesBuilder,
};

use crate::commands;

/// A route other than the commands: method, path, summary, roles (empty: no token),
/// query parameters.
pub type Route = (
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
);

/// The routes other than the commands.
pub const ROUTES: &[Route] = &[
    ("GET", "/healthz", "Liveness", &[], &[]),
    (
        "GET",
        "/readyz",
        "Readiness: the head once the store is open",
        &[],
        &[],
    ),
    (
        "GET",
        "/metrics",
        "Prometheus metrics (OpenMetrics text)",
        &[],
        &[],
    ),
    ("GET", "/openapi.json", "This document", &[], &[]),
    (
        "GET",
        "/v1/head",
        "The last durable event: seq and hash",
        &[],
        &[],
    ),
    (
        "GET",
        "/v1/tenants",
        "The tenants (a tenant admin: its own)",
        &["admin", "reviewer", "lead", "tenant-admin"],
        &[],
    ),
    (
        "GET",
        "/v1/tenants/{tenant}/access",
        "Who can enter the tenant, with what, until when, and why",
        &["admin", "reviewer", "lead", "tenant-admin"],
        &["as_of", "at_seq", "explain"],
    ),
    (
        "GET",
        "/v1/principals/{principal}/access",
        "The tenants a principal can enter",
        &["admin", "reviewer", "lead"],
        &["as_of", "at_seq", "explain"],
    ),
    (
        "GET",
        "/v1/events",
        "Events by seq range",
        &["admin", "reviewer", "lead"],
        &["from", "to", "limit"],
    ),
    (
        "GET",
        "/v1/audit",
        "Events of a window of at most 90 days, from the indexes, cursor-paginated",
        &["admin", "reviewer", "lead", "tenant-admin"],
        &["tenant", "actor", "kind", "from", "to", "limit", "cursor"],
    ),
    (
        "GET",
        "/v1/stream",
        "Server-Sent Events: every event from a seq on, then live (Last-Event-ID resumes)",
        &["admin", "reviewer", "lead", "subscriber", "tenant-admin"],
        &["from", "tenant", "kind", "stream"],
    ),
    (
        "GET",
        "/v1/stream/ws",
        "The event stream over a WebSocket: one text frame per event (its wire line)",
        &["admin", "reviewer", "lead", "subscriber", "tenant-admin"],
        &["from", "tenant", "kind", "stream"],
    ),
    (
        "POST",
        "/v1/consumers",
        "Register a named durable consumer (name, from, tenant, kind, stream)",
        &["admin", "subscriber"],
        &[],
    ),
    (
        "GET",
        "/v1/consumers/{name}",
        "A named consumer's filters and last acknowledged seq",
        &["admin", "subscriber"],
        &[],
    ),
    (
        "DELETE",
        "/v1/consumers/{name}",
        "Forget a named consumer",
        &["admin", "subscriber"],
        &[],
    ),
    (
        "POST",
        "/v1/consumers/{name}/ack",
        "Acknowledge the seq processed (only forward)",
        &["admin", "subscriber"],
        &[],
    ),
    (
        "GET",
        "/v1/consumers/{name}/stream",
        "Server-Sent Events after the consumer's last acknowledgement",
        &["admin", "subscriber"],
        &[],
    ),
    (
        "GET",
        "/v1/findings",
        "Misuse findings of a window of at most 90 days (default the last 7 days), cursor-paginated",
        &["admin", "lead", "reviewer"],
        &["from", "to", "rule", "staff", "tenant", "status", "limit", "cursor"],
    ),
    (
        "GET",
        "/v1/thresholds",
        "The misuse thresholds in force and their version",
        &["admin", "lead", "reviewer"],
        &[],
    ),
    (
        "GET",
        "/v1/reviews/coverage",
        "Review coverage of the sessions that ended in a period (at most 90 days)",
        &["admin", "lead", "reviewer"],
        &["from", "to"],
    ),
    (
        "GET",
        "/v1/findings/{id}",
        "One finding with its evidence events",
        &["admin", "lead", "reviewer"],
        &[],
    ),
    (
        "GET",
        "/v1/tokens",
        "List API tokens (never their secrets)",
        &["admin"],
        &[],
    ),
    (
        "POST",
        "/v1/tokens",
        "Issue an API token; its secret is answered once",
        &["admin"],
        &[],
    ),
    (
        "DELETE",
        "/v1/tokens/{id}",
        "Revoke an API token",
        &["admin"],
        &[],
    ),
];

fn method(m: &str) -> HttpMethod {
    match m {
        "POST" => HttpMethod::Post,
        "DELETE" => HttpMethod::Delete,
        _ => HttpMethod::Get,
    }
}

fn string_schema() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(utoipa::openapi::schema::Type::String)
}

fn path_params(path: &str) -> Vec<utoipa::openapi::path::Parameter> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| {
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .schema(Some(string_schema()))
                .build()
        })
        .collect()
}

fn problem_responses(responses: ResponsesBuilder, codes: &[(&str, &str)]) -> ResponsesBuilder {
    codes.iter().fold(responses, |r, (code, what)| {
        r.response(
            *code,
            ResponseBuilder::new().description(*what).content(
                "application/problem+json",
                ContentBuilder::new()
                    .schema(Some(ObjectBuilder::new()))
                    .build(),
            ),
        )
    })
}

fn roles_text(roles: &[&str]) -> String {
    if roles.is_empty() {
        "No token needed.".to_owned()
    } else {
        format!("Roles: {}.", roles.join(", "))
    }
}

/// The document.
pub fn document() -> OpenApi {
    let mut paths = PathsBuilder::new();
    for (path, is_delete, spec) in commands::table() {
        let roles: Vec<&str> = spec.roles.iter().map(|r| r.name()).collect();
        let op = OperationBuilder::new()
            .operation_id(Some(format!(
                "{}_{}",
                spec.variant,
                path.trim_start_matches("/v1/").replace(['/', '{', '}'], "_")
            )))
            .summary(Some(format!("Command: {} ({:?})", spec.variant, spec.family)))
            .description(Some(format!(
                "{} The body holds the command's fields (docs/api.md, docs/policy.md); unknown fields are refused. Headers: `Idempotency-Key`, `If-Match`.",
                roles_text(&roles)
            )))
            .tag(format!("{:?}", spec.family).to_lowercase())
            .parameters(Some(path_params(path)))
            .request_body(Some(
                RequestBodyBuilder::new()
                    .content(
                        "application/json",
                        ContentBuilder::new().schema(Some(ObjectBuilder::new())).build(),
                    )
                    .build(),
            ))
            .responses(
                problem_responses(
                    ResponsesBuilder::new().response(
                        "201",
                        ResponseBuilder::new().description("Appended: the events, their seqs, the ids concerned"),
                    ),
                    &[
                        ("400", "Malformed JSON, unknown or invalid field"),
                        ("401", "No or unknown token"),
                        ("403", "The token's role may not"),
                        ("404", "Not found (for a tenant admin: also another tenant's)"),
                        ("409", "The stream is not at the If-Match version"),
                        ("413", "Body over 64 KiB"),
                        ("422", "Refused by the policy (rule id; recorded)"),
                        ("503", "The log refuses writes"),
                    ],
                )
                .build(),
            )
            .security(SecurityRequirement::new("bearer", Vec::<String>::new()))
            .build();
        let m = if is_delete {
            HttpMethod::Delete
        } else {
            HttpMethod::Post
        };
        paths = paths.path(path, PathItem::new(m, op));
    }
    for (m, path, summary, roles, query) in ROUTES {
        let mut params = path_params(path);
        params.extend(query.iter().map(|q| {
            ParameterBuilder::new()
                .name(*q)
                .parameter_in(ParameterIn::Query)
                .required(Required::False)
                .schema(Some(string_schema()))
                .build()
        }));
        let mut op = OperationBuilder::new()
            .operation_id(Some(format!(
                "{}_{}",
                m.to_lowercase(),
                path.trim_start_matches('/')
                    .replace(['/', '{', '}', '.'], "_")
            )))
            .summary(Some(*summary))
            .description(Some(roles_text(roles)))
            .parameters(Some(params))
            .responses({
                let ok = ResponsesBuilder::new()
                    .response("200", ResponseBuilder::new().description("OK"));
                if roles.is_empty() {
                    ok.build()
                } else {
                    problem_responses(
                        ok,
                        &[
                            ("400", "Bad query"),
                            ("401", "No or unknown token"),
                            ("403", "The token's role may not"),
                            ("404", "Not found"),
                        ],
                    )
                    .build()
                }
            });
        if !roles.is_empty() {
            op = op.security(SecurityRequirement::new("bearer", Vec::<String>::new()));
        }
        paths = paths.path(*path, PathItem::new(method(m), op.build()));
    }
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("custos")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some("An access-audit ledger: who had access to which account, when, on what basis. Errors are application/problem+json (docs/api.md)."))
                .build(),
        )
        .paths(paths.build())
        .components(Some(
            ComponentsBuilder::new()
                .security_scheme(
                    "bearer",
                    SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
                )
                .build(),
        ))
        .build()
}

/// The document as pretty JSON (what `docs/openapi.json` holds).
pub fn json() -> String {
    document()
        .to_pretty_json()
        .unwrap_or_else(|_| "{}".to_owned())
}

/// `GET /openapi.json`.
pub async fn serve() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], json())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    fn docs_copy() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json")
    }

    /// `CUSTOS_BLESS=1 cargo test -p custos-server openapi` rewrites the copy.
    #[test]
    fn the_copy_in_docs_is_current() {
        let now = json();
        if std::env::var_os("CUSTOS_BLESS").is_some() {
            std::fs::write(docs_copy(), &now).expect("write docs/openapi.json");
        }
        let copy = std::fs::read_to_string(docs_copy()).unwrap_or_default();
        assert!(
            copy == now,
            "docs/openapi.json is stale: run CUSTOS_BLESS=1 cargo test -p custos-server openapi"
        );
    }

    #[tokio::test]
    async fn every_path_it_lists_is_routed_with_its_methods() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = custos_store::Store::open(dir.path(), custos_store::StoreConfig::default())
            .expect("open");
        let app = crate::app(crate::AppState::new(store));
        let doc: serde_json::Value = serde_json::from_str(&json()).expect("json");
        let paths = doc["paths"].as_object().expect("paths");
        let mut operations = 0;
        for (path, item) in paths {
            let concrete = path
                .split('/')
                .map(|s| {
                    if s.starts_with('{') {
                        "01J0000000000000000000000A"
                    } else {
                        s
                    }
                })
                .collect::<Vec<_>>()
                .join("/");
            for method in item.as_object().expect("item").keys() {
                let req = Request::builder()
                    .method(method.to_uppercase().as_str())
                    .uri(&concrete)
                    .body(Body::empty())
                    .expect("request");
                let res = app.clone().oneshot(req).await.expect("call");
                let status = res.status();
                let body = axum::body::to_bytes(res.into_body(), 1 << 20)
                    .await
                    .expect("body");
                let text = String::from_utf8_lossy(&body);
                assert!(
                    status != StatusCode::METHOD_NOT_ALLOWED && !text.contains("no route for"),
                    "{method} {path}: {status} {text}"
                );
                operations += 1;
            }
        }
        assert!(paths.contains_key("/v1/grants/{grant}/approve"));
        assert_eq!(
            doc["paths"]["/v1/tenants"].as_object().map(|o| o.len()),
            Some(2),
            "GET and POST"
        );
        assert!(operations >= 36, "{operations}");
    }
}
