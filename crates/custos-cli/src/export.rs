//! `custos export`: the log as JSON Lines, one event per line, and the line format that
//! `custos verify --file` checks.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::Context;
use base64::Engine;
use custos_core::{Digest, Event, Seq};
use custos_store::{Store, StoreConfig};
use serde::{Deserialize, Serialize};

/// One exported event. `record` is the exact stored bytes (base64); `event` is their
/// decoding, for people. The chain covers `record`; `verify --file` also checks that
/// `event` is the decoding of `record`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Line {
    pub seq: u64,
    pub prev_hash: Digest,
    pub hash: Digest,
    pub record: String,
    pub event: serde_json::Value,
}

pub fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

pub fn run(data: &Path, out: &Path) -> anyhow::Result<()> {
    let store = Store::open(data, StoreConfig::default())?;
    let head = store.head();
    let sink: Box<dyn Write> = if out == Path::new("-") {
        Box::new(std::io::stdout().lock())
    } else {
        Box::new(File::create(out).with_context(|| format!("cannot create {}", out.display()))?)
    };
    let mut w = BufWriter::new(sink);
    let mut prev = Digest::GENESIS;
    let mut n = 0u64;
    for stored in store.range(Seq(1), head.seq) {
        let stored = stored?;
        let event: Event = stored.event()?;
        let line = Line {
            seq: stored.seq.0,
            prev_hash: prev,
            hash: stored.hash,
            record: b64().encode(stored.record()),
            event: serde_json::to_value(&event)?,
        };
        serde_json::to_writer(&mut w, &line)?;
        w.write_all(b"\n")?;
        prev = stored.hash;
        n += 1;
    }
    w.flush()
        .with_context(|| format!("cannot write {}", out.display()))?;
    eprintln!("exported {n} events, head {}", head.hash);
    Ok(())
}
