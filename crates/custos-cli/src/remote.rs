//! Subcommands that ask a running server (`--server URL`, the token in `CUSTOS_TOKEN`):
//! `audit`, `access --server`, and `token create|list|revoke`. A problem the server
//! answers is printed as `custos: <status> <type>: <detail>` and exits 2 (1 for a
//! tenant or principal that is not found, as offline).

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;

use anyhow::{bail, Context};
use custos_core::access::{Right, TenantAccess};
use custos_core::{Seq, TenantId, Timestamp};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

use crate::access::{print_rights, Point, Subject};

/// A server and the token to ask it with.
#[derive(Debug)]
pub struct Remote {
    base: String,
    token: String,
    http: reqwest::blocking::Client,
}

/// What a request ended in.
enum Outcome<T> {
    Ok(T),
    NotFound(String),
}

impl Remote {
    /// `token` comes from `--token` or `CUSTOS_TOKEN`.
    pub fn new(server: &str, token: Option<String>) -> anyhow::Result<Remote> {
        let token = token.filter(|t| !t.is_empty()).context(
            "no token: set CUSTOS_TOKEN (for example to the content of <data>/admin.token)",
        )?;
        let base = server.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            bail!("--server {server:?} must be an http:// or https:// URL");
        }
        let http = reqwest::blocking::Client::builder()
            .timeout(std::time::Duration::from_secs(60))
            .build()?;
        Ok(Remote { base, token, http })
    }

    fn send<T: DeserializeOwned>(
        &self,
        req: reqwest::blocking::RequestBuilder,
    ) -> anyhow::Result<Outcome<T>> {
        let res = req
            .bearer_auth(&self.token)
            .send()
            .with_context(|| format!("cannot reach {}", self.base))?;
        let status = res.status();
        let text = res.text()?;
        if status.is_success() {
            let body = if text.is_empty() { "null" } else { &text };
            return Ok(Outcome::Ok(serde_json::from_str(body).with_context(
                || format!("the server's answer is not what custos expects: {text}"),
            )?));
        }
        let problem: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let detail = problem["detail"].as_str().unwrap_or(&text).to_owned();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(Outcome::NotFound(detail));
        }
        let kind = problem["type"]
            .as_str()
            .and_then(|t| t.rsplit('/').next())
            .unwrap_or("error");
        let rule = problem["rule"]
            .as_str()
            .map_or_else(String::new, |r| format!(" (rule {r})"));
        bail!("server answered {} {kind}: {detail}{rule}", status.as_u16())
    }

    fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> anyhow::Result<Outcome<T>> {
        self.send(self.http.get(format!("{}{path}", self.base)).query(query))
    }
}

fn ok<T>(o: Outcome<T>) -> anyhow::Result<T> {
    match o {
        Outcome::Ok(v) => Ok(v),
        Outcome::NotFound(d) => bail!("not found: {d}"),
    }
}

fn point_query(point: Point) -> Vec<(&'static str, String)> {
    match point {
        Point::Now => vec![],
        Point::AsOf(t) => vec![("as_of", t.to_string())],
        Point::AtSeq(s) => vec![("at_seq", s.0.to_string())],
    }
}

/// An access answer as the server gives it.
#[derive(Debug, Deserialize)]
struct Answered<T> {
    at: Timestamp,
    seq: u64,
    hash: String,
    #[serde(flatten)]
    body: T,
    #[serde(default)]
    evidence: BTreeMap<u64, Value>,
}

#[derive(Debug, Deserialize)]
struct Entry {
    tenant: TenantId,
    #[serde(flatten)]
    right: Right,
}

#[derive(Debug, Deserialize)]
struct List {
    principal: String,
    tenants: Vec<Entry>,
}

fn evidence_line(map: &BTreeMap<u64, Value>, seq: Seq) -> anyhow::Result<String> {
    let e = map
        .get(&seq.0)
        .with_context(|| format!("the server gave no evidence for seq {seq}"))?;
    let ip = e["source_ip"]
        .as_str()
        .map_or_else(String::new, |ip| format!(" from {ip}"));
    Ok(format!(
        "{} {} by {}{ip}",
        e["recorded_at"].as_str().unwrap_or("?"),
        e["kind"].as_str().unwrap_or("?"),
        e["actor"].as_str().unwrap_or("?")
    ))
}

/// `custos access --server …`.
pub fn access(
    remote: &Remote,
    subject: Subject,
    point: Point,
    explain: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let mut query = point_query(point);
    if explain {
        query.push(("explain", "true".into()));
    }
    let mut out = std::io::stdout().lock();
    let path = match &subject {
        Subject::Tenant(t) => format!("/v1/tenants/{t}/access"),
        Subject::Principal(p) => format!("/v1/principals/{p}/access"),
    };
    if json {
        return match remote.get::<Value>(&path, &query)? {
            Outcome::Ok(v) => {
                writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
                Ok(ExitCode::SUCCESS)
            }
            Outcome::NotFound(d) => {
                eprintln!("custos: {d}");
                Ok(ExitCode::from(1))
            }
        };
    }
    let (rows, evidence, header) = match &subject {
        Subject::Tenant(t) => {
            let a: Answered<TenantAccess> = match remote.get(&path, &query)? {
                Outcome::Ok(a) => a,
                Outcome::NotFound(d) => {
                    eprintln!("custos: {d}");
                    return Ok(ExitCode::from(1));
                }
            };
            let header = format!(
                "tenant {} \"{}\" at {} (seq {}, hash {}){}\n{} open sessions, {} live consents ({} authorised)",
                a.body.tenant,
                a.body.name,
                a.at,
                a.seq,
                a.hash,
                if a.body.onboarding { ", onboarding open" } else { "" },
                a.body.open_sessions.len(),
                a.body.live_consents.len(),
                a.body.live_consents.iter().filter(|c| c.authorised).count()
            );
            let rows: Vec<_> = a.body.rights.into_iter().map(|r| (t.clone(), r)).collect();
            (rows, a.evidence, header)
        }
        Subject::Principal(_) => {
            let a: Answered<List> = ok(remote.get(&path, &query)?)?;
            let header = format!(
                "{} can enter {} tenants at {} (seq {}, hash {})",
                a.body.principal,
                a.body.tenants.len(),
                a.at,
                a.seq,
                a.hash
            );
            let rows: Vec<_> = a
                .body
                .tenants
                .into_iter()
                .map(|e| (e.tenant, e.right))
                .collect();
            (rows, a.evidence, header)
        }
    };
    writeln!(out, "{header}")?;
    let line = |seq: Seq| evidence_line(&evidence, seq);
    print_rights(&mut out, &rows, explain.then_some(&line))?;
    Ok(ExitCode::SUCCESS)
}

/// The filters of `custos audit`.
#[derive(Debug, Default)]
pub struct AuditQuery {
    /// A tenant's events.
    pub tenant: Option<String>,
    /// An actor's events.
    pub actor: Option<String>,
    /// Events of a kind.
    pub kind: Option<String>,
    /// Window start (RFC 3339).
    pub from: Option<Timestamp>,
    /// Window end (RFC 3339).
    pub to: Option<Timestamp>,
    /// Stop after this many events.
    pub max: usize,
}

/// `custos audit`: every page of the window, in seq order.
pub fn audit(remote: &Remote, q: &AuditQuery, json: bool) -> anyhow::Result<ExitCode> {
    let mut query: Vec<(&str, String)> = Vec::new();
    for (name, v) in [
        ("tenant", &q.tenant),
        ("actor", &q.actor),
        ("kind", &q.kind),
    ] {
        if let Some(v) = v {
            query.push((name, v.clone()));
        }
    }
    for (name, v) in [("from", q.from), ("to", q.to)] {
        if let Some(v) = v {
            query.push((name, v.to_string()));
        }
    }
    query.push(("limit", "1000".into()));
    let mut out = std::io::stdout().lock();
    let mut cursor: Option<String> = None;
    let mut printed = 0usize;
    let mut first = true;
    loop {
        let mut page_query = query.clone();
        if let Some(c) = &cursor {
            page_query.push(("cursor", c.clone()));
        }
        let page: Value = match remote.get("/v1/audit", &page_query)? {
            Outcome::Ok(p) => p,
            Outcome::NotFound(d) => {
                eprintln!("custos: {d}");
                return Ok(ExitCode::from(1));
            }
        };
        if first && !json {
            writeln!(
                out,
                "events from {} to {} (head seq {}, hash {})",
                page["window"]["from"].as_str().unwrap_or("?"),
                page["window"]["to"].as_str().unwrap_or("?"),
                page["head"]["seq"],
                page["head"]["hash"].as_str().unwrap_or("?")
            )?;
            writeln!(
                out,
                "{:>9}  {:<32} {:<22} {:<26} TENANT",
                "SEQ", "RECORDED", "KIND", "ACTOR"
            )?;
        }
        first = false;
        for e in page["events"].as_array().into_iter().flatten() {
            if printed == q.max {
                eprintln!("custos: stopped after {} events (--max)", q.max);
                return Ok(ExitCode::SUCCESS);
            }
            if json {
                writeln!(out, "{e}")?;
            } else {
                let payload = e["payload"].as_object().and_then(|o| o.values().next());
                let kind = e["payload"]
                    .as_object()
                    .and_then(|o| o.keys().next())
                    .map_or("?", String::as_str);
                let tenant = payload.and_then(|p| p["tenant"].as_str()).unwrap_or("-");
                writeln!(
                    out,
                    "{:>9}  {:<32} {:<22} {:<26} {tenant}",
                    e["seq"],
                    e["recorded_at"].as_str().unwrap_or("?"),
                    kind,
                    e["actor"].as_str().unwrap_or("?")
                )?;
            }
            printed += 1;
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return Ok(ExitCode::SUCCESS),
        }
    }
}

/// `custos token create`.
pub fn token_create(
    remote: &Remote,
    role: &str,
    principal: &str,
    tenant: Option<&str>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let body = serde_json::json!({ "role": role, "principal": principal, "tenant": tenant });
    let v: Value = ok(remote.send(
        remote
            .http
            .post(format!("{}/v1/tokens", remote.base))
            .json(&body),
    )?)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!(
            "token {} for {} ({})",
            v["token"].as_str().unwrap_or("?"),
            principal,
            role
        );
        println!(
            "secret (shown once): {}",
            v["secret"].as_str().unwrap_or("?")
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `custos token list`.
pub fn token_list(remote: &Remote, json: bool) -> anyhow::Result<ExitCode> {
    let v: Value = ok(remote.get("/v1/tokens", &[])?)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<27} {:<13} {:<28} {:<12} REVOKED",
        "TOKEN", "ROLE", "PRINCIPAL", "TENANT"
    );
    for t in v["tokens"].as_array().into_iter().flatten() {
        println!(
            "{:<27} {:<13} {:<28} {:<12} {}",
            t["token"].as_str().unwrap_or("?"),
            t["role"].as_str().unwrap_or("?"),
            t["principal"].as_str().unwrap_or("?"),
            t["tenant"].as_str().unwrap_or("-"),
            if t["revoked"].as_bool() == Some(true) {
                "yes"
            } else {
                "no"
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `custos token revoke`.
pub fn token_revoke(remote: &Remote, token: &str) -> anyhow::Result<ExitCode> {
    match remote.send::<Value>(
        remote
            .http
            .delete(format!("{}/v1/tokens/{token}", remote.base)),
    )? {
        Outcome::Ok(_) => {
            println!("token {token} revoked");
            Ok(ExitCode::SUCCESS)
        }
        Outcome::NotFound(d) => {
            eprintln!("custos: {d}");
            Ok(ExitCode::from(1))
        }
    }
}

/// What `custos tail` follows.
#[derive(Debug, Default)]
pub struct TailQuery {
    /// Start at this seq (default: live from now on).
    pub from: Option<u64>,
    /// Only this tenant's events.
    pub tenant: Option<String>,
    /// Only events of this kind.
    pub kind: Option<String>,
    /// Only this stream's events.
    pub stream: Option<String>,
    /// Check every event's hash (and, unfiltered, the chain's continuity).
    pub verify: bool,
    /// Stop after this many events.
    pub count: Option<u64>,
    /// Print wire lines (JSON) instead of a table.
    pub json: bool,
}

/// `custos tail`: follows `GET /v1/stream`, reconnecting with `Last-Event-ID` when the
/// connection drops, so that nothing is missed or printed twice.
pub fn tail(remote: &Remote, q: &TailQuery) -> anyhow::Result<ExitCode> {
    use std::io::BufRead;
    let http = reqwest::blocking::Client::builder().timeout(None).build()?;
    let filtered = q.tenant.is_some() || q.kind.is_some() || q.stream.is_some();
    let mut checker = crate::verify::LineChecker::new(None, filtered);
    let mut last: Option<u64> = None;
    let mut printed = 0u64;
    let mut failures = 0u32;
    let mut out = std::io::stdout().lock();
    loop {
        let mut query: Vec<(&str, String)> = Vec::new();
        for (name, v) in [
            ("tenant", &q.tenant),
            ("kind", &q.kind),
            ("stream", &q.stream),
        ] {
            if let Some(v) = v {
                query.push((name, v.clone()));
            }
        }
        if last.is_none() {
            if let Some(from) = q.from {
                query.push(("from", from.to_string()));
            }
        }
        let mut req = http
            .get(format!("{}/v1/stream", remote.base))
            .bearer_auth(&remote.token)
            .query(&query);
        if let Some(id) = last {
            req = req.header("last-event-id", id.to_string());
        }
        let res = match req.send() {
            Ok(r) => r,
            Err(e) if last.is_some() && failures < 30 => {
                // The server may be restarting: try again, from where we were.
                failures += 1;
                eprintln!(
                    "custos: stream interrupted ({e}); resuming after seq {}",
                    last.unwrap_or(0)
                );
                std::thread::sleep(std::time::Duration::from_secs(1));
                continue;
            }
            Err(e) => return Err(e).with_context(|| format!("cannot reach {}", remote.base)),
        };
        if !res.status().is_success() {
            let status = res.status();
            let problem: Value = serde_json::from_str(&res.text()?).unwrap_or(Value::Null);
            bail!(
                "server answered {} {}",
                status.as_u16(),
                problem["detail"].as_str().unwrap_or("")
            );
        }
        failures = 0;
        let (mut event, mut data) = (String::new(), String::new());
        for text in std::io::BufReader::new(res).lines() {
            let Ok(text) = text else { break };
            if let Some(v) = text.strip_prefix("event:") {
                event = v.trim().to_owned();
            } else if let Some(v) = text.strip_prefix("data:") {
                data.push_str(v.strip_prefix(' ').unwrap_or(v));
            } else if text.is_empty() && !data.is_empty() {
                if event == "error" {
                    bail!("the server could not read its log: {data}");
                }
                let line: crate::Line = serde_json::from_str(&data)
                    .with_context(|| format!("not an event line: {data}"))?;
                if q.verify {
                    if let Err(e) = checker.check(&line)? {
                        eprintln!("custos: verification failed at seq {}: {}", e.seq, e.fault);
                        return Ok(ExitCode::from(1));
                    }
                }
                if q.json {
                    writeln!(out, "{data}")?;
                } else {
                    let e = &line.event;
                    let kind = e["payload"]
                        .as_object()
                        .and_then(|o| o.keys().next())
                        .map_or("?", String::as_str);
                    let tenant = e["payload"]
                        .as_object()
                        .and_then(|o| o.values().next())
                        .and_then(|p| p["tenant"].as_str())
                        .unwrap_or("-");
                    writeln!(
                        out,
                        "{:>9}  {:<32} {:<22} {:<26} {tenant}",
                        line.seq,
                        e["recorded_at"].as_str().unwrap_or("?"),
                        kind,
                        e["actor"].as_str().unwrap_or("?")
                    )?;
                }
                out.flush()?;
                last = Some(line.seq);
                printed += 1;
                (event, data) = (String::new(), String::new());
                if q.count.is_some_and(|n| printed >= n) {
                    return Ok(ExitCode::SUCCESS);
                }
            }
        }
        // The server ended the stream (shutdown) or the connection dropped: resume.
        if last.is_none() {
            bail!("the stream ended before any event");
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}
