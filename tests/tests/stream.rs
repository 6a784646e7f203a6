//! The event stream end to end: subscribers that join at random positions while appends
//! run see exactly `from..head`, in order, chained; `Last-Event-ID` resumes exactly;
//! `custos tail --verify` follows across a server restart without a gap or a duplicate.

mod common;

use std::time::Duration;

use rand::{Rng, SeedableRng};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

/// Reads SSE `ledger` events from `res` until one has seq `last`; their wire lines.
async fn read_until(res: &mut reqwest::Response, last: u64) -> Vec<Value> {
    let mut buf = String::new();
    let mut out: Vec<Value> = Vec::new();
    loop {
        let chunk = tokio::time::timeout(Duration::from_secs(30), res.chunk())
            .await
            .expect("an event within 30 s")
            .expect("read")
            .expect("the stream goes on");
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let frame: String = buf.drain(..end + 2).collect();
            let mut id = None;
            let mut data = String::new();
            for line in frame.lines() {
                if let Some(v) = line.strip_prefix("id:") {
                    id = Some(v.trim().parse::<u64>().expect("id"));
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim_start());
                }
            }
            let Some(id) = id else { continue };
            let line: Value = serde_json::from_str(&data).expect("wire line");
            assert_eq!(line["seq"], id, "id is the seq");
            out.push(line);
            if id >= last {
                return out;
            }
        }
    }
}

async fn subscribe(
    client: &Client,
    url: &str,
    token: &str,
    query: &str,
    last_id: Option<u64>,
) -> reqwest::Response {
    let mut req = client
        .get(format!("{url}/v1/stream{query}"))
        .bearer_auth(token);
    if let Some(id) = last_id {
        req = req.header("last-event-id", id.to_string());
    }
    let res = req.send().await.expect("subscribe");
    assert_eq!(res.status(), StatusCode::OK);
    res
}

/// Sends a request and gives only its status.
async fn status(req: reqwest::RequestBuilder) -> StatusCode {
    req.send().await.expect("send").status()
}

async fn head(client: &Client, url: &str) -> u64 {
    let v: Value = client
        .get(format!("{url}/v1/head"))
        .send()
        .await
        .expect("head")
        .json()
        .await
        .expect("json");
    v["seq"].as_u64().expect("seq")
}

async fn enroll(client: &Client, url: &str, token: &str, name: &str) {
    assert_eq!(
        status(client.post(format!("{url}/v1/staff"))
            .bearer_auth(token)
            .json(&json!({"staff": name, "name": "n", "roles": ["support_l1"], "mfa": true, "sso": true, "training_completed": true}))).await,
        StatusCode::CREATED
    );
}

/// Seqs `from..=to` exactly, each linked to the one before.
fn assert_exact(lines: &[Value], from: u64, to: u64) {
    let seqs: Vec<u64> = lines
        .iter()
        .map(|l| l["seq"].as_u64().expect("seq"))
        .collect();
    assert_eq!(seqs, (from..=to).collect::<Vec<_>>());
    for w in lines.windows(2) {
        assert_eq!(w[1]["prev_hash"], w[0]["hash"], "chained");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_joining_anywhere_see_exactly_from_to_head_while_appends_run() {
    let dir = tempfile::tempdir().expect("tmp");
    let (child, url) = common::serve(dir.path());
    let _child = common::Kill(child);
    let admin = std::fs::read_to_string(dir.path().join("admin.token"))
        .expect("token")
        .trim()
        .to_owned();
    let client = Client::new();
    for i in 0..50 {
        enroll(&client, &url, &admin, &format!("staff:pre{i}")).await;
    }
    // Four appenders, 60 events each, while eight subscribers join at random positions.
    let appenders: Vec<_> = (0..4)
        .map(|a| {
            let (client, url, admin) = (client.clone(), url.clone(), admin.clone());
            tokio::spawn(async move {
                for i in 0..60 {
                    enroll(&client, &url, &admin, &format!("staff:a{a}-{i}")).await;
                }
            })
        })
        .collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    let mut subscribers = Vec::new();
    for _ in 0..8 {
        let now = head(&client, &url).await;
        let from = rng.gen_range(1..=now + 1);
        let res = subscribe(&client, &url, &admin, &format!("?from={from}"), None).await;
        subscribers.push((from, res));
        tokio::time::sleep(Duration::from_millis(rng.gen_range(0..40))).await;
    }
    for a in appenders {
        a.await.expect("appender");
    }
    let last = head(&client, &url).await;
    assert_eq!(last, 1 + 50 + 240, "the admin token, then every enrolment");
    for (from, res) in subscribers {
        let lines = read_until(&mut { res }, last).await;
        assert_exact(&lines, from, last);
    }
    // Resuming with Last-Event-ID gives exactly the events after it.
    let res = subscribe(&client, &url, &admin, "?from=1", Some(200)).await;
    assert_exact(&read_until(&mut { res }, last).await, 201, last);
    // Filters are applied on the server.
    let res = subscribe(&client, &url, &admin, "?from=1&kind=token_issued", None).await;
    let lines = read_until(&mut { res }, 1).await;
    assert_eq!(
        lines[0]["event"]["payload"]["token_issued"]["role"],
        "admin"
    );
    // Bad positions and filters are problems.
    let res = client
        .get(format!("{url}/v1/stream?from={}", last + 2))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        status(
            client
                .get(format!("{url}/v1/stream?kind=nope"))
                .bearer_auth(&admin)
        )
        .await,
        StatusCode::BAD_REQUEST
    );
}

#[test]
fn tail_verifies_and_follows_across_a_server_restart() {
    let dir = tempfile::tempdir().expect("tmp");
    common::demo(dir.path(), 200);
    let (child, url) = common::serve(dir.path());
    let server = common::Kill(child);
    let admin = std::fs::read_to_string(dir.path().join("admin.token"))
        .expect("token")
        .trim()
        .to_owned();
    let rt = tokio::runtime::Runtime::new().expect("rt");
    let client = Client::new();
    let before = rt.block_on(head(&client, &url));
    let total = before + 30;
    let mut tail = common::custos()
        .env("CUSTOS_TOKEN", &admin)
        .args([
            "tail",
            "--server",
            &url,
            "--from",
            "1",
            "--verify",
            "--json",
            "--count",
            &total.to_string(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("tail");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stdout = tail.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines: Vec<Value> = Vec::new();
    let take = |n: u64, lines: &mut Vec<Value>| {
        while (lines.len() as u64) < n {
            let line = rx
                .recv_timeout(Duration::from_secs(30))
                .expect("tail prints");
            lines.push(serde_json::from_str(&line).expect("wire line"));
        }
    };
    // Appends while it follows; the server is killed once it has printed them.
    rt.block_on(async {
        for i in 0..10 {
            enroll(&client, &url, &admin, &format!("staff:x{i}")).await;
        }
    });
    take(before + 10, &mut lines);
    drop(server);
    let port = url.rsplit(':').next().expect("port").to_owned();
    let mut restarted = None;
    for _ in 0..50 {
        let mut child = common::custos()
            .args([
                "serve",
                "--data",
                dir.path().to_str().expect("utf-8"),
                "--listen",
                &format!("127.0.0.1:{port}"),
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("serve");
        std::thread::sleep(Duration::from_millis(300));
        if child.try_wait().expect("wait").is_none() {
            let _ = common::listening_line(&mut child);
            restarted = Some(common::Kill(child));
            break;
        }
    }
    let _restarted = restarted.expect("the server restarts on its address");
    rt.block_on(async {
        for i in 10..30 {
            enroll(&client, &url, &admin, &format!("staff:x{i}")).await;
        }
    });
    take(total, &mut lines);
    let out = tail.wait_with_output().expect("tail ends");
    reader.join().expect("reader");
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert!(rx.try_recv().is_err(), "nothing after --count");
    assert_exact(&lines, 1, total);
}

/// `custos_subscribers` from `/metrics`.
async fn subscribers(client: &Client, url: &str) -> u64 {
    let text = client
        .get(format!("{url}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    text.lines()
        .find_map(|l| l.strip_prefix("custos_subscribers "))
        .and_then(|v| v.trim().parse().ok())
        .expect("the gauge")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_that_stops_reading_is_disconnected_while_others_keep_up() {
    let dir = tempfile::tempdir().expect("tmp");
    let (child, url) = common::serve_with(dir.path(), &["--stall-limit", "2"]);
    let _child = common::Kill(child);
    let admin = std::fs::read_to_string(dir.path().join("admin.token"))
        .expect("token")
        .trim()
        .to_owned();
    let client = Client::new();
    // A consumer with a tiny receive window that never reads what it asked for.
    let addr: std::net::SocketAddr = url.trim_start_matches("http://").parse().expect("addr");
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("rcvbuf");
    let mut stalled = socket.connect(addr).await.expect("connect");
    use tokio::io::AsyncWriteExt;
    stalled
        .write_all(format!("GET /v1/stream?from=1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {admin}\r\n\r\n").as_bytes())
        .await
        .expect("request");
    // A consumer that keeps up, on its own task.
    let mut reading = subscribe(&client, &url, &admin, "?from=1", None).await;
    let (seen_tx, mut seen_rx) = tokio::sync::mpsc::unbounded_channel::<Vec<Value>>();
    let reader = tokio::spawn(async move {
        let mut target = 1;
        loop {
            let lines = read_until(&mut reading, target).await;
            target = lines
                .last()
                .and_then(|l| l["seq"].as_u64())
                .unwrap_or(target)
                + 1;
            if seen_tx.send(lines).is_err() {
                return;
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(subscribers(&client, &url).await, 2, "both are subscribed");
    // Appends go on until the stalled consumer's buffers are full and its writes block
    // past the limit: then it is disconnected; the reading one stays.
    let mut gone = false;
    for round in 0..40 {
        let tasks: Vec<_> = (0..16)
            .map(|t| {
                let (client, url, admin) = (client.clone(), url.clone(), admin.clone());
                tokio::spawn(async move {
                    for i in 0..40 {
                        enroll(&client, &url, &admin, &format!("staff:r{round}-{t}-{i}")).await;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("appender");
        }
        if subscribers(&client, &url).await == 1 {
            gone = true;
            break;
        }
    }
    assert!(gone, "the stalled consumer was disconnected");
    // The reading consumer got every event, in order.
    let last = head(&client, &url).await;
    let mut lines: Vec<Value> = Vec::new();
    while lines.last().and_then(|l| l["seq"].as_u64()) != Some(last) {
        let more = tokio::time::timeout(Duration::from_secs(30), seen_rx.recv())
            .await
            .expect("the reader keeps up")
            .expect("lines");
        lines.extend(more);
    }
    assert_exact(&lines, 1, last);
    reader.abort();
    // The stalled one resumes later from the last event it did read, with Last-Event-ID.
    let res = subscribe(&client, &url, &admin, "", Some(last - 5)).await;
    assert_exact(&read_until(&mut { res }, last).await, last - 4, last);
    drop(stalled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_consumer_resumes_after_its_acknowledgement_across_a_restart() {
    let dir = tempfile::tempdir().expect("tmp");
    common::demo(dir.path(), 200);
    let (child, url) = common::serve(dir.path());
    let admin = std::fs::read_to_string(dir.path().join("admin.token"))
        .expect("token")
        .trim()
        .to_owned();
    let client = Client::new();
    let token = |principal: &'static str| {
        let (client, url, admin) = (client.clone(), url.clone(), admin.clone());
        async move {
            let v: Value = client
                .post(format!("{url}/v1/tokens"))
                .bearer_auth(&admin)
                .json(&json!({"role": "subscriber", "principal": principal}))
                .send()
                .await
                .expect("token")
                .json()
                .await
                .expect("json");
            v["secret"].as_str().expect("secret").to_owned()
        }
    };
    let siem = token("svc:siem").await;
    let other = token("svc:other").await;
    let post = |token: String, path: String, body: Value| {
        let (client, url) = (client.clone(), url.clone());
        async move {
            let res = client
                .post(format!("{url}{path}"))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .expect("post");
            let status = res.status();
            (status, res.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (s, v) = post(
        siem.clone(),
        "/v1/consumers".into(),
        json!({"name": "siem", "from": 1}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["position"], 0);
    let (s, _) = post(
        siem.clone(),
        "/v1/consumers".into(),
        json!({"name": "siem"}),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT);
    // Read up to 50, acknowledge 50, go away.
    let mut res = client
        .get(format!("{url}/v1/consumers/siem/stream"))
        .bearer_auth(&siem)
        .send()
        .await
        .expect("stream");
    assert_eq!(res.status(), StatusCode::OK);
    assert_exact(&read_until(&mut res, 50).await, 1, 50);
    drop(res);
    let (s, v) = post(
        siem.clone(),
        "/v1/consumers/siem/ack".into(),
        json!({"seq": 50}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, _) = post(
        siem.clone(),
        "/v1/consumers/siem/ack".into(),
        json!({"seq": 40}),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::CONFLICT,
        "acknowledgements only move forward"
    );
    let (s, _) = post(
        siem.clone(),
        "/v1/consumers/siem/ack".into(),
        json!({"seq": 1_000_000}),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = post(
        other.clone(),
        "/v1/consumers/siem/ack".into(),
        json!({"seq": 60}),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::NOT_FOUND,
        "another service's consumer is not visible"
    );
    // A restart of the server: the consumer resumes by name after 50.
    common::stop(child);
    let (child, url2) = common::serve(dir.path());
    let _child = common::Kill(child);
    let last = head(&client, &url2).await;
    let mut res = client
        .get(format!("{url2}/v1/consumers/siem/stream"))
        .bearer_auth(&siem)
        .send()
        .await
        .expect("stream");
    assert_eq!(res.status(), StatusCode::OK);
    assert_exact(&read_until(&mut res, last).await, 51, last);
    drop(res);
    let res = client
        .delete(format!("{url2}/v1/consumers/siem"))
        .bearer_auth(&siem)
        .send()
        .await
        .expect("delete");
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        status(
            client
                .get(format!("{url2}/v1/consumers/siem"))
                .bearer_auth(&siem)
        )
        .await,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_websocket_stream_has_the_same_semantics() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::Message;
    let dir = tempfile::tempdir().expect("tmp");
    common::demo(dir.path(), 200);
    let (child, url) = common::serve(dir.path());
    let _child = common::Kill(child);
    let admin = std::fs::read_to_string(dir.path().join("admin.token"))
        .expect("token")
        .trim()
        .to_owned();
    let client = Client::new();
    let last = head(&client, &url).await;
    let connect = |from: u64| {
        let mut req = format!(
            "{}/v1/stream/ws?from={from}",
            url.replace("http://", "ws://")
        )
        .into_client_request()
        .expect("request");
        req.headers_mut().insert(
            "authorization",
            format!("Bearer {admin}").parse().expect("header"),
        );
        tokio_tungstenite::connect_async(req)
    };
    let read = |mut ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
                until: u64| async move {
        use futures_util::StreamExt;
        let mut lines = Vec::new();
        while let Some(msg) = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .expect("a frame within 30 s")
        {
            if let Message::Text(text) = msg.expect("frame") {
                let line: Value = serde_json::from_str(&text).expect("wire line");
                let seq = line["seq"].as_u64().expect("seq");
                lines.push(line);
                if seq >= until {
                    break;
                }
            }
        }
        (ws, lines)
    };
    let (ws, _) = connect(1).await.expect("connect");
    let (ws, lines) = read(ws, 100).await;
    assert_exact(&lines, 1, 100);
    drop(ws);
    // Reconnecting with from = last seen + 1, then live appends arrive too.
    let (ws, _) = connect(101).await.expect("reconnect");
    enroll(&client, &url, &admin, "staff:ws").await;
    let (_ws, lines) = read(ws, last + 1).await;
    assert_exact(&lines, 101, last + 1);
    // Without a token, no upgrade.
    let req = format!("{}/v1/stream/ws", url.replace("http://", "ws://"))
        .into_client_request()
        .expect("request");
    assert!(tokio_tungstenite::connect_async(req).await.is_err());
}
