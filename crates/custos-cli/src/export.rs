//! `custos export`: the log as JSON Lines, one event per line (`custos_server::wire::Line`,
//! the format `custos verify --file` checks).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::Context;
use custos_core::{Digest, Event, Seq};
use custos_server::wire::Line;
use custos_store::{Store, StoreConfig};

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
        let line = Line::of(&stored, &event, prev)?;
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
