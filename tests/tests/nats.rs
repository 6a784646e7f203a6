//! The NATS JetStream publisher against a real `nats-server -js` started by the test:
//! every event exactly once, in order, on its subject, across a SIGKILL of the publisher
//! in the middle of publishing. nats-server must be installed (`tools/install-nats`,
//! which `tools/test` and CI run); without it this test fails and says so.

mod common;

use std::net::TcpListener;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;

fn nats_server() -> PathBuf {
    let candidates = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("nats-server"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    candidates
        .into_iter()
        .chain([PathBuf::from("/usr/sbin/nats-server")])
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("nats-server is not installed: run tools/install-nats (tools/test and CI do)")
        })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// `nats-server -js` on a free port of 127.0.0.1, its storage in `dir`.
fn start_nats(dir: &std::path::Path) -> (common::Kill, String) {
    let port = free_port();
    let child = std::process::Command::new(nats_server())
        .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
        .arg(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start nats-server");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nats-server did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    (common::Kill(child), format!("nats://127.0.0.1:{port}"))
}

async fn stream_len(js: &async_nats::jetstream::Context) -> u64 {
    match js.get_stream("CUSTOS").await {
        Ok(mut s) => s.info().await.map_or(0, |i| i.state.messages),
        Err(_) => 0,
    }
}

async fn wait_len(js: &async_nats::jetstream::Context, at_least: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while stream_len(js).await < at_least {
        assert!(
            Instant::now() < deadline,
            "JetStream holds {} of {at_least}",
            stream_len(js).await
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_reaches_jetstream_exactly_once_across_a_publisher_kill() {
    let nats_dir = tempfile::tempdir().expect("tmp");
    let (_nats, nats_url) = start_nats(nats_dir.path());
    let dir = tempfile::tempdir().expect("tmp");
    common::demo(dir.path(), 3000);
    let (child, url) = common::serve_with(dir.path(), &["--nats", &nats_url]);
    let client = async_nats::connect(&nats_url).await.expect("connect");
    let js = async_nats::jetstream::new(client);
    let http = reqwest::Client::new();
    let head: Value = http
        .get(format!("{url}/v1/head"))
        .send()
        .await
        .expect("head")
        .json()
        .await
        .expect("json");
    let head = head["seq"].as_u64().expect("seq");
    // Kill the publisher in the middle of publishing.
    wait_len(&js, 300).await;
    drop(common::Kill(child));
    let published = stream_len(&js).await;
    assert!(
        published < head,
        "killed before the end ({published} of {head})"
    );
    // Restarted, it resumes from its own checkpoint; JetStream drops what it had twice.
    let (child, url) = common::serve_with(dir.path(), &["--nats", &nats_url]);
    let _child = common::Kill(child);
    wait_len(&js, head).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(stream_len(&js).await, head, "exactly once");
    // In order, each on its subject, with the event id as the message id.
    let stream = js.get_stream("CUSTOS").await.expect("stream");
    let mut prev_hash = Value::Null;
    for n in 1..=head {
        let msg = stream.get_raw_message(n).await.expect("message");
        let line: Value = serde_json::from_slice(&msg.payload).expect("wire line");
        assert_eq!(line["seq"], n, "message {n}");
        if n > 1 {
            assert_eq!(line["prev_hash"], prev_hash, "chained");
        }
        prev_hash = line["hash"].clone();
        let event = &line["event"];
        let (kind, payload) = event["payload"]
            .as_object()
            .and_then(|o| o.iter().next())
            .expect("payload");
        let tenant = payload["tenant"].as_str().unwrap_or("_");
        assert_eq!(
            msg.subject.as_str(),
            format!("custos.events.{tenant}.{kind}")
        );
        assert_eq!(
            msg.headers
                .get(async_nats::header::NATS_MESSAGE_ID)
                .map(|v| v.as_str().to_owned()),
            event["id"].as_str().map(str::to_owned),
            "{:?}",
            msg.headers
        );
    }
    // New events follow live.
    let admin = std::fs::read_to_string(dir.path().join("admin.token"))
        .expect("token")
        .trim()
        .to_owned();
    let res = http
        .post(format!("{url}/v1/staff"))
        .bearer_auth(&admin)
        .json(&serde_json::json!({"staff": "staff:nats", "name": "n", "roles": ["csm"], "mfa": true, "sso": true, "training_completed": true}))
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), reqwest::StatusCode::CREATED);
    wait_len(&js, head + 1).await;
    let msg = stream.get_raw_message(head + 1).await.expect("message");
    assert_eq!(msg.subject.as_str(), "custos.events._.staff_enrolled");
}
