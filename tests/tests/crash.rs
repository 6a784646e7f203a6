//! Durability under `kill -9`: a child appends continuously and prints every acknowledged
//! seq; the test kills it at a random moment, reopens the store, and checks that every
//! acknowledged event is there and the chain verifies. 20 rounds by default;
//! `CUSTOS_CRASH_ROUNDS=N` for more.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use custos_core::{EventId, Seq};
use custos_store::{IndexFilter, Store, StoreConfig};
use rand::Rng;

#[test]
fn acknowledged_events_survive_sigkill() {
    let rounds: u32 = std::env::var("CUSTOS_CRASH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(20);
    let dir = tempfile::tempdir().expect("tmp");
    let mut rng = rand::thread_rng();
    let mut acked: BTreeMap<Seq, EventId> = BTreeMap::new();
    for round in 1..=rounds {
        let mut child = Command::new(env!("CARGO_BIN_EXE_crash-writer"))
            .arg(dir.path())
            .arg(round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn crash-writer");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // Wait until it is writing, then let it run for a random while.
        let ready = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("child ready");
        assert!(ready.starts_with("ready"), "{ready}");
        // The first acknowledgement is checked like every other one.
        let first = rx.recv_timeout(Duration::from_secs(60)).expect("first ack");
        std::thread::sleep(Duration::from_millis(rng.gen_range(5..300)));
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        reader.join().expect("reader");
        let mut this_round = 0;
        for line in std::iter::once(first).chain(rx.try_iter()) {
            let mut parts = line.split(' ');
            if parts.next() != Some("ack") {
                continue;
            }
            let seq = Seq(parts.next().and_then(|s| s.parse().ok()).expect("seq"));
            let id: EventId = parts.next().and_then(|s| s.parse().ok()).expect("id");
            assert!(
                acked.insert(seq, id).is_none(),
                "seq {seq} acknowledged twice"
            );
            this_round += 1;
        }
        assert!(this_round > 0, "round {round}: nothing acknowledged");

        // Reopen (this runs the open-time tail check) and look for every acknowledgement.
        let store = Store::open(dir.path(), StoreConfig::default())
            .unwrap_or_else(|e| panic!("round {round}: reopen failed: {e}"));
        let head = store.head();
        let last_acked = *acked.keys().next_back().expect("some");
        assert!(
            head.seq >= last_acked,
            "round {round}: head {head} behind ack {last_acked}"
        );
        for (seq, id) in &acked {
            let event = store
                .get(*seq)
                .expect("read")
                .unwrap_or_else(|| panic!("round {round}: acknowledged seq {seq} lost"))
                .event()
                .expect("decode");
            assert_eq!(
                event.id, *id,
                "round {round}: seq {seq} holds another event"
            );
        }
        assert_eq!(store.verify(None).expect("chain verifies"), head);
        // The indexes survived too: every acknowledged event is found by its stream.
        let mut by_stream = 0;
        for w in 0..16 {
            let stream = custos_core::StreamId::new(format!("session:w{w}")).expect("stream");
            let versions: Vec<u64> = store
                .read_stream(&stream, 1)
                .expect("stream")
                .map(|e| e.expect("read").event().expect("decode").version)
                .collect();
            assert_eq!(
                versions,
                (1..=versions.len() as u64).collect::<Vec<_>>(),
                "round {round}: stream {w}"
            );
            by_stream += versions.len() as u64;
            // The actor postings (sealed chunks and memtable) list the same events, each
            // once: a seal cut short by the kill left nothing behind.
            let of_stream: Vec<Seq> = store
                .read_stream(&stream, 1)
                .expect("stream")
                .map(|e| e.expect("read").seq)
                .collect();
            let actor = custos_core::PrincipalId::new(format!("staff:w{w}")).expect("actor");
            let listed = store
                .index_seqs(&IndexFilter::Actor(actor), Seq(1), head.seq, usize::MAX)
                .expect("actor postings");
            assert_eq!(
                listed, of_stream,
                "round {round}: actor postings of writer {w}"
            );
        }
        assert_eq!(
            by_stream, head.seq.0,
            "round {round}: the streams hold every event"
        );
        drop(store);
    }
    eprintln!(
        "{rounds} rounds, {} acknowledged events checked",
        acked.len()
    );
}
