//! Replay: fold the decoded events of a seq range, in order, while two threads read and
//! decode the next blocks (a rebuild's reading and decoding cost about twice its fold,
//! and the machine has two cores).

use std::sync::mpsc::sync_channel;
use std::thread;

use custos_core::{Event, Seq};

use crate::store::Store;
use crate::ReadError;

/// Events per block handed from a reader thread to the fold.
const BLOCK: u64 = 256;
/// Reader threads; block `b` is read by thread `b % READERS`.
const READERS: u64 = 2;
/// Ranges shorter than this are read inline: starting threads would cost more.
const INLINE_BELOW: u64 = 4 * BLOCK;
/// Decoded blocks a reader may hold ahead of the fold.
const AHEAD: usize = 8;

/// A decoded block: its events, and the error that ended it early, if any.
type Block = (Vec<Event>, Option<ReadError>);

impl Store {
    /// Calls `fold` with every event with `from <= seq <= to`, in seq order, by
    /// reference; returns how many. What [`Store::range`] and
    /// [`crate::StoredEvent::event`] give, but a long range is read and decoded ahead
    /// by two threads in blocks of 256 events while `fold` runs. The first record
    /// that cannot be read or decoded ends the replay with its error (`fold` has then
    /// seen every event before it), and the readers stop.
    pub fn replay(
        &self,
        from: Seq,
        to: Seq,
        mut fold: impl FnMut(&Event),
    ) -> Result<u64, ReadError> {
        let len = if to < from { 0 } else { to.0 - from.0 + 1 };
        let mut seen = 0u64;
        if len < INLINE_BELOW {
            for stored in self.range(from, to) {
                fold(&stored?.event()?);
                seen += 1;
            }
            return Ok(seen);
        }
        let blocks = len.div_ceil(BLOCK);
        let readers: Vec<_> = (0..READERS)
            .map(|first| {
                let (tx, rx) = sync_channel::<Block>(AHEAD);
                let store = self.clone();
                thread::spawn(move || {
                    let mut b = first;
                    while b < blocks {
                        let start = Seq(from.0 + b * BLOCK);
                        let end = Seq((start.0 + BLOCK - 1).min(to.0));
                        let block = store.decode_block(start, end);
                        let failed = block.1.is_some();
                        // A closed channel: the fold stopped.
                        if tx.send(block).is_err() || failed {
                            return;
                        }
                        b += READERS;
                    }
                });
                rx
            })
            .collect();
        for b in 0..blocks {
            let Ok((events, error)) = readers[(b % READERS) as usize].recv() else {
                // The reader ended without its block: it panicked.
                return Err(ReadError::Corrupt {
                    seq: Seq(from.0 + b * BLOCK),
                    reason: "the replay reader stopped".into(),
                });
            };
            for e in &events {
                fold(e);
            }
            seen += events.len() as u64;
            if let Some(e) = error {
                return Err(e);
            }
        }
        Ok(seen)
    }

    /// The decoded events of `start..=end`, up to the first that fails.
    fn decode_block(&self, start: Seq, end: Seq) -> Block {
        let mut events = Vec::with_capacity((end.0 - start.0 + 1) as usize);
        for stored in self.range(start, end) {
            match stored.and_then(|s| s.event()) {
                Ok(e) => events.push(e),
                Err(e) => return (events, Some(e)),
            }
        }
        (events, None)
    }
}
