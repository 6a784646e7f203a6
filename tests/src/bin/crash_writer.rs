//! Crash-test child: appends as fast as it can with 16 appenders and prints every
//! acknowledged event as `ack <seq> <event-id>`, until it is killed. It seals an index
//! chunk every 64 events.
//!
//! Usage: `crash-writer DATA_DIR ROUND`

use std::io::Write;

use custos_core::vocab::{ActionKind, Importance};
use custos_core::*;
use custos_store::{AppendRequest, Store, StoreConfig};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let dir = args.next().expect("DATA_DIR");
    let round: u128 = args.next().and_then(|r| r.parse().ok()).expect("ROUND");
    // Seal an index chunk every 64 events, so that kills land around seals too.
    let config = StoreConfig {
        index_chunk_events: 64,
        ..StoreConfig::default()
    };
    let store = Store::open(&dir, config).expect("open");
    println!("ready {}", store.head().seq);
    let tasks: Vec<_> = (0..16u128)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0u128.. {
                    let id = EventId(round << 64 | w << 40 | i);
                    let tenant = TenantId::new(format!("t{}", i % 50)).expect("tenant");
                    let staff = PrincipalId::new(format!("staff:w{w}")).expect("staff");
                    let event = NewEvent::new(
                        id,
                        staff.clone(),
                        Payload::SessionAction {
                            session: SessionId(w),
                            tenant,
                            staff,
                            action: ActionKind::ViewSettings,
                            importance: Importance::Low,
                            detail: format!("round {round} writer {w} event {i}").into(),
                            consent: None,
                            request_channel: None,
                        },
                    );
                    let stream = StreamId::new(format!("session:w{w}")).expect("stream");
                    let acked = store
                        .append(AppendRequest {
                            stream,
                            expected: None,
                            events: vec![event],
                        })
                        .await
                        .expect("append");
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "ack {} {}", acked.first, id).expect("stdout");
                    out.flush().expect("flush");
                }
            })
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
}
