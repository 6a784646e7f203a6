//! The HTTP load generator: `custos serve` in a process of its own, and a client on
//! hyper's bare HTTP/1.1 connections (no pool, no URL parsing) sending single-event
//! commands from concurrent connections.
//!
//! The server is this very benchmark executable run as the `custos` binary
//! ([`run_as_custos_if_asked`] calls `custos_cli::main`, the binary's entry point, with the
//! same allocator), so no separate build is needed and no client work shares its runtime.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Request, StatusCode};
use serde_json::{json, Value};

/// The environment variable that turns a benchmark executable into `custos`.
const AS_CUSTOS: &str = "CUSTOS_TOOLS_RUN_AS_CUSTOS";

/// If this process was started by [`ServerProcess::start`], runs `custos` with the
/// arguments given and exits; otherwise returns. Call it first in `main`.
pub fn run_as_custos_if_asked() {
    if std::env::var_os(AS_CUSTOS).is_some() {
        let code = custos_cli::main();
        std::process::exit(if code == std::process::ExitCode::SUCCESS {
            0
        } else {
            2
        });
    }
}

/// `custos serve` on 127.0.0.1:0 in a child process; killed when dropped.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    /// `127.0.0.1:port`.
    pub addr: String,
    /// The admin token it printed on its first start.
    pub admin: String,
}

impl ServerProcess {
    /// Starts the server on `data` and waits until it listens; the admin token is read
    /// from its first-start line, or from the file an earlier first start wrote.
    pub fn start(data: &Path, extra: &[&str]) -> std::io::Result<ServerProcess> {
        use std::io::BufRead;
        let mut child = Command::new(std::env::current_exe()?)
            .env(AS_CUSTOS, "1")
            .arg("serve")
            .arg("--data")
            .arg(data)
            .args(["--listen", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::piped())
            .stdin(Stdio::null())
            .spawn()?;
        let out = child.stdout.take().expect("piped stdout");
        let mut admin = None;
        for line in std::io::BufReader::new(out).lines() {
            let line = line?;
            if let Some(rest) = line.strip_prefix("custos: first start: admin token ") {
                admin = rest.split_whitespace().next().map(str::to_owned);
            }
            if let Some(rest) = line.strip_prefix("custos listening on http://") {
                let addr = rest
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                // Not a fresh directory: the token its first start wrote.
                let admin = match admin {
                    Some(admin) => admin,
                    None => {
                        std::fs::read_to_string(data.join(custos_server::tokens::ADMIN_TOKEN_FILE))?
                            .trim()
                            .to_owned()
                    }
                };
                return Ok(ServerProcess { child, addr, admin });
            }
        }
        let _ = child.kill();
        Err(std::io::Error::other(format!(
            "the server exited before listening ({:?})",
            child.wait()?
        )))
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 keep-alive connection to `addr`.
#[derive(Debug)]
pub struct Conn {
    sender: SendRequest<Full<Bytes>>,
    host: String,
}

impl Conn {
    /// Connects (TCP_NODELAY, as any HTTP client sets it).
    pub async fn open(addr: &str) -> Conn {
        let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        let (sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .expect("handshake");
        tokio::spawn(conn);
        Conn {
            sender,
            host: addr.to_owned(),
        }
    }

    /// Sends one request and reads the whole answer.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Bytes>,
    ) -> (StatusCode, Bytes) {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, &self.host)
            .header(AUTHORIZATION, format!("Bearer {token}"));
        if body.is_some() {
            req = req.header(CONTENT_TYPE, "application/json");
        }
        let req = req
            .body(Full::new(body.unwrap_or_default()))
            .expect("request");
        self.sender.ready().await.expect("connection ready");
        let res = self.sender.send_request(req).await.expect("send");
        let status = res.status();
        let body = res.into_body().collect().await.expect("body").to_bytes();
        (status, body)
    }
}

/// A new `writer` token (principal `svc:hr`), asked with the admin token.
pub async fn writer_token(addr: &str, admin: &str) -> String {
    let mut conn = Conn::open(addr).await;
    let body = json!({"role": "writer", "principal": "svc:hr"}).to_string();
    let (status, body) = conn
        .send(Method::POST, "/v1/tokens", admin, Some(body.into()))
        .await;
    assert!(status.is_success(), "token: {status}");
    let v: Value = serde_json::from_slice(&body).expect("json");
    v["secret"].as_str().expect("secret").to_owned()
}

/// The sum and count of a Prometheus histogram in the server's `/metrics`.
pub async fn histogram_sum_count(addr: &str, token: &str, name: &str) -> (f64, f64) {
    let mut conn = Conn::open(addr).await;
    let (status, body) = conn.send(Method::GET, "/metrics", token, None).await;
    assert_eq!(status, StatusCode::OK, "metrics");
    let text = String::from_utf8_lossy(&body);
    let value = |suffix: &str| {
        let key = format!("{name}_{suffix} ");
        text.lines()
            .find_map(|l| l.strip_prefix(key.as_str()))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (value("sum"), value("count"))
}

/// What one load run measured.
#[derive(Debug)]
pub struct Load {
    /// Requests answered per second.
    pub rate: f64,
    /// Each request's latency (sent → answer read), in ms, sorted.
    pub ms: Vec<f64>,
}

/// `per_connection` requests on each of `connections` connections, each awaited before
/// the next; `request(c, i)` gives connection `c`'s `i`-th (method, path, body), and
/// every answer must have status `expect`.
pub async fn load<F>(
    addr: &str,
    token: &str,
    connections: usize,
    per_connection: usize,
    expect: StatusCode,
    request: F,
) -> Load
where
    F: Fn(usize, usize) -> (Method, &'static str, Option<Bytes>) + Send + Sync + 'static,
{
    let request = std::sync::Arc::new(request);
    let mut conns = Vec::with_capacity(connections);
    for _ in 0..connections {
        conns.push(Conn::open(addr).await);
    }
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(connections);
    for (c, mut conn) in conns.into_iter().enumerate() {
        let (token, request) = (token.to_owned(), request.clone());
        tasks.push(tokio::spawn(async move {
            let mut ms = Vec::with_capacity(per_connection);
            for i in 0..per_connection {
                let (method, path, body) = request(c, i);
                let t = Instant::now();
                let (status, answer) = conn.send(method, path, &token, body).await;
                assert_eq!(
                    status,
                    expect,
                    "{path}: {}",
                    String::from_utf8_lossy(&answer)
                );
                ms.push(t.elapsed().as_secs_f64() * 1e3);
            }
            ms
        }));
    }
    let mut ms = Vec::with_capacity(connections * per_connection);
    for t in tasks {
        ms.extend(t.await.expect("task"));
    }
    let rate = ms.len() as f64 / started.elapsed().as_secs_f64();
    ms.sort_by(f64::total_cmp);
    Load { rate, ms }
}

/// One single-event command: `POST /v1/staff` enrolling a new staff member (its own
/// stream), the body built here so that the client's cost per request stays small.
pub fn staff_command(c: usize, i: usize) -> (Method, &'static str, Option<Bytes>) {
    let body = format!(
        r#"{{"staff":"staff:c{c}-{i}","name":"n","roles":["support_l1"],"mfa":true,"sso":true,"training_completed":true}}"#
    );
    (Method::POST, "/v1/staff", Some(body.into()))
}
