//! The index's filter file, `<data>/index.filters`: each sealed chunk's id and stream
//! hashes, so that an open builds the chunk filters and summaries from one sequential
//! read instead of reading every id and stream table block through sled (docs/design.md,
//! §3 "The filter file").
//!
//! It is derived data, outside the chain and outside sled: a record is trusted only if it
//! is whole (its checksum), continues the one before (`first` = previous `last` + 1), ends
//! at or before `Mindexed`, and the index tree holds a chunk ending where it ends. The
//! first record that fails any of these ends the file; the chunks after it are rebuilt
//! from the tree and written again. A record's contents are a function of the events in
//! `[first, last]` alone, which never change, so a record that passes is right.
//!
//! Record: `len:u32le ‖ body ‖ blake3(body)[..16]`, body
//! `first:u64le ‖ last:u64le ‖ id_min:u128le ‖ id_max:u128le ‖ n:u32le ‖ id hash:u64le × n ‖
//! m:u32le ‖ stream hash:u64le × m`.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use custos_core::{EventId, Seq};

/// The file's name in the data directory.
pub const FILE_NAME: &str = "index.filters";

/// A record's largest body accepted on read (a chunk of 16M events and as many streams).
const MAX_BODY: usize = 8 + 8 + 32 + 8 + 16 * 8 * (1 << 20) * 2;

/// What the filters of one sealed chunk are built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkHashes {
    /// The chunk's first seq.
    pub first: Seq,
    /// Its last seq (its tables' key).
    pub last: Seq,
    /// Its smallest and largest event id.
    pub id_min: EventId,
    /// See `id_min`.
    pub id_max: EventId,
    /// `index::id_hash` of each of its ids.
    pub ids: Vec<u64>,
    /// `index::name_hash` of each of its streams.
    pub streams: Vec<u64>,
}

impl ChunkHashes {
    fn encode(&self) -> Vec<u8> {
        let mut body = Vec::with_capacity(64 + 8 * (self.ids.len() + self.streams.len()));
        body.extend_from_slice(&self.first.0.to_le_bytes());
        body.extend_from_slice(&self.last.0.to_le_bytes());
        body.extend_from_slice(&self.id_min.0.to_le_bytes());
        body.extend_from_slice(&self.id_max.0.to_le_bytes());
        for list in [&self.ids, &self.streams] {
            body.extend_from_slice(&(list.len() as u32).to_le_bytes());
            for h in list {
                body.extend_from_slice(&h.to_le_bytes());
            }
        }
        let mut out = Vec::with_capacity(4 + body.len() + 16);
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(&body);
        out.extend_from_slice(&blake3::hash(&body).as_bytes()[..16]);
        out
    }

    fn decode(body: &[u8]) -> Option<ChunkHashes> {
        let mut at = body;
        let mut take = |n: usize| -> Option<&[u8]> {
            let (head, rest) = at.split_at_checked(n)?;
            at = rest;
            Some(head)
        };
        let u64_at = |b: &[u8]| b.try_into().ok().map(u64::from_le_bytes);
        let first = u64_at(take(8)?)?;
        let last = u64_at(take(8)?)?;
        let id_min = u128::from_le_bytes(take(16)?.try_into().ok()?);
        let id_max = u128::from_le_bytes(take(16)?.try_into().ok()?);
        let mut lists = [Vec::new(), Vec::new()];
        for list in &mut lists {
            let n = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
            let raw = take(n.checked_mul(8)?)?;
            *list = raw.chunks_exact(8).filter_map(u64_at).collect();
        }
        let [ids, streams] = lists;
        (at.is_empty() && first <= last).then_some(ChunkHashes {
            first: Seq(first),
            last: Seq(last),
            id_min: EventId(id_min),
            id_max: EventId(id_max),
            ids,
            streams,
        })
    }
}

/// Reads the records of the file at `path` in order, handing each to `accept` until one
/// is damaged or `accept` refuses it; returns the length of the file that was accepted.
/// A missing file is an empty one.
pub fn read(path: &Path, mut accept: impl FnMut(ChunkHashes) -> bool) -> std::io::Result<u64> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let size = file.metadata()?.len();
    let mut r = BufReader::with_capacity(1 << 20, file);
    let mut good = 0u64;
    loop {
        let mut len = [0u8; 4];
        if r.read_exact(&mut len).is_err() {
            return Ok(good);
        }
        let len = u32::from_le_bytes(len) as usize;
        // A damaged length is not allocated for: the body and its checksum must fit in
        // what is left of the file.
        if len > MAX_BODY || good + 4 + len as u64 + 16 > size {
            return Ok(good);
        }
        let mut buf = vec![0u8; len + 16];
        if r.read_exact(&mut buf).is_err() {
            return Ok(good);
        }
        let (body, sum) = buf.split_at(len);
        if blake3::hash(body).as_bytes()[..16] != *sum {
            return Ok(good);
        }
        match ChunkHashes::decode(body).map(&mut accept) {
            Some(true) => good += 4 + len as u64 + 16,
            _ => return Ok(good),
        }
    }
}

/// The sealer's end of the file: appends one record per sealed chunk. A failed write is
/// logged and ends the writing for this process (the next open rebuilds what is missing).
#[derive(Debug)]
pub struct FilterFile {
    path: PathBuf,
    file: Option<File>,
}

impl FilterFile {
    /// Cuts the file at `path` to its first `keep` bytes (what [`read`] accepted), syncs
    /// that, then appends `records` — the chunks the open rebuilt from the tree.
    pub fn open(path: &Path, keep: u64, records: &[ChunkHashes]) -> FilterFile {
        let opened = (|| -> std::io::Result<File> {
            let mut f = OpenOptions::new()
                .create(true)
                .truncate(false)
                .read(true)
                .write(true)
                .open(path)?;
            if f.metadata()?.len() != keep {
                f.set_len(keep)?;
                f.sync_all()?;
            }
            f.seek(SeekFrom::End(0))?;
            Ok(f)
        })();
        let mut out = FilterFile {
            path: path.to_owned(),
            file: None,
        };
        match opened {
            Ok(f) => {
                out.file = Some(f);
                for r in records {
                    out.append(r);
                }
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot open the index filter file; the next open rebuilds it")
            }
        }
        out
    }

    /// Appends the record of a chunk just sealed.
    pub fn append(&mut self, record: &ChunkHashes) {
        if let Some(f) = self.file.as_mut() {
            if let Err(e) = f.write_all(&record.encode()) {
                tracing::warn!(path = %self.path.display(), error = %e, "writing the index filter file failed; the next open rebuilds it");
                self.file = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(first: u64, last: u64) -> ChunkHashes {
        ChunkHashes {
            first: Seq(first),
            last: Seq(last),
            id_min: EventId(u128::from(first)),
            id_max: EventId(u128::MAX - 7),
            ids: (first..=last).map(|i| i * 31).collect(),
            streams: vec![last, 1 << 63],
        }
    }

    fn read_all(path: &Path) -> (Vec<ChunkHashes>, u64) {
        let mut got = Vec::new();
        let len = read(path, |r| {
            got.push(r);
            true
        })
        .expect("read");
        (got, len)
    }

    #[test]
    fn records_round_trip_and_a_torn_or_altered_tail_is_cut() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join(FILE_NAME);
        assert_eq!(read_all(&path), (Vec::new(), 0), "missing = empty");
        let recs = [record(1, 10), record(11, 30), record(31, 31)];
        drop(FilterFile::open(&path, 0, &recs));
        let (got, len) = read_all(&path);
        assert_eq!(got, recs);
        assert_eq!(len, std::fs::metadata(&path).expect("meta").len());

        // A torn last record: the two before it are kept.
        let whole = std::fs::read(&path).expect("bytes");
        std::fs::write(&path, &whole[..whole.len() - 3]).expect("cut");
        let (got, len) = read_all(&path);
        assert_eq!(got, recs[..2]);
        // Reopening cuts the file there and appends after it.
        let mut f = FilterFile::open(&path, len, &[]);
        f.append(&recs[2]);
        drop(f);
        assert_eq!(read_all(&path).0, recs);

        // A flipped byte in the second record ends the file at the first.
        let mut bytes = std::fs::read(&path).expect("bytes");
        let first_len = 4 + u32::from_le_bytes(bytes[..4].try_into().expect("4")) as usize + 16;
        bytes[first_len + 12] ^= 1;
        std::fs::write(&path, &bytes).expect("write");
        assert_eq!(read_all(&path).0, recs[..1]);

        // A length past the end of the file ends it before the record.
        let mut long = std::fs::read(&path).expect("bytes");
        long[..4].copy_from_slice(&(u32::MAX - 1).to_le_bytes());
        std::fs::write(&path, &long).expect("write");
        assert_eq!(read_all(&path), (Vec::new(), 0));
        std::fs::write(&path, &bytes).expect("write");

        // The caller's refusal ends it too.
        let mut n = 0;
        let len = read(&path, |_| {
            n += 1;
            false
        })
        .expect("read");
        assert_eq!((n, len), (1, 0));
    }
}
