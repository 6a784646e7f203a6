//! Makes sled's blob files durable before an append is acknowledged.
//!
//! sled 0.34 writes any page (a leaf or a value) over a quarter of its segment size —
//! 2 MiB with [`crate::SEGMENT_BYTES`], 128 KiB in stores created before it with sled's
//! default — to a file of its own under `<data>/blobs/`, and the log holds only
//! a pointer to it. `Db::flush` fsyncs the log, **never those files** (sled issue #1077).
//! After a power loss, a pointer can then be durable while its file is empty or torn:
//! sled's recovery stops at a torn blob, dropping every later write, or skips a missing
//! one, reverting that page. custos writes such pages: a sealed chunk's id and stream
//! tables, a leaf of large packs, a snapshot. So the flusher, after each flush and before
//! it answers anyone, fsyncs every blob file it has not synced yet, then the directory
//! (the new names). A blob is written before the log record that points to it is
//! reserved, so every blob a flush made reachable is on disk before the answer.
//!
//! Reading the directory at every flush would cost more than the flush itself on a large
//! store, so it is read only when its modification time says a name was added or removed
//! since it was last read — or when that time is too recent to tell (file-system
//! timestamps are coarse: a name added within the same tick leaves it unchanged).

use std::collections::HashSet;
use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// A directory's modification time older than this, read with the directory, proves
/// that no name was added since (timestamps move in ticks of a few milliseconds).
const SETTLED: Duration = Duration::from_millis(50);

/// The blob files synced so far.
#[derive(Debug)]
pub(crate) struct BlobSync {
    dir: PathBuf,
    synced: HashSet<OsString>,
    /// The directory's modification time when it was last read, if it was then settled.
    settled: Option<SystemTime>,
    /// Files synced since open.
    pub files: u64,
}

impl BlobSync {
    /// For the blobs of the database at `data`; syncs whatever is there already.
    pub fn open(data: &Path) -> io::Result<BlobSync> {
        let mut sync = BlobSync {
            dir: data.join("blobs"),
            synced: HashSet::new(),
            settled: None,
            files: 0,
        };
        sync.sync()?;
        Ok(sync)
    }

    /// Fsyncs the blob files not synced yet, then the directory if there were any.
    /// Returns how many files were synced.
    pub fn sync(&mut self) -> io::Result<usize> {
        let mtime = match std::fs::metadata(&self.dir) {
            Ok(m) => m.modified()?,
            // sled creates the directory on open; none, no blobs.
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        if self.settled == Some(mtime) {
            return Ok(0);
        }
        let read_at = SystemTime::now();
        let mut present = HashSet::with_capacity(self.synced.len());
        let mut new = 0;
        for entry in std::fs::read_dir(&self.dir)? {
            let name = entry?.file_name();
            if !self.synced.contains(&name) {
                match std::fs::File::open(self.dir.join(&name)) {
                    Ok(f) => f.sync_all()?,
                    // Removed by sled's cleanup meanwhile: nothing points to it.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                }
                new += 1;
            }
            present.insert(name);
        }
        if new > 0 {
            std::fs::File::open(&self.dir)?.sync_all()?;
        }
        self.synced = present;
        self.files += new as u64;
        let age = read_at.duration_since(mtime).unwrap_or(Duration::ZERO);
        self.settled = (age >= SETTLED).then_some(mtime);
        Ok(new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_blob_files_are_synced_once() {
        let data = tempfile::tempdir().expect("tmp");
        let mut sync = BlobSync::open(data.path()).expect("open without a blobs directory");
        assert_eq!(sync.sync().expect("sync"), 0);
        let blobs = data.path().join("blobs");
        std::fs::create_dir(&blobs).expect("mkdir");
        std::fs::write(blobs.join("100"), b"one").expect("write");
        std::fs::write(blobs.join("200"), b"two").expect("write");
        assert_eq!(sync.sync().expect("sync"), 2);
        assert_eq!(sync.sync().expect("sync"), 0, "already synced");
        // Added right after the last read, within the same timestamp tick.
        std::fs::write(blobs.join("300"), b"three").expect("write");
        assert_eq!(sync.sync().expect("sync"), 1);
        std::fs::remove_file(blobs.join("100")).expect("rm");
        assert_eq!(sync.sync().expect("sync"), 0);
        assert_eq!(sync.files, 3);
        // An open syncs what is there.
        assert_eq!(BlobSync::open(data.path()).expect("reopen").files, 2);
    }

    #[test]
    fn a_settled_directory_is_not_read_again() {
        let data = tempfile::tempdir().expect("tmp");
        let blobs = data.path().join("blobs");
        std::fs::create_dir(&blobs).expect("mkdir");
        std::fs::write(blobs.join("1"), b"x").expect("write");
        std::thread::sleep(SETTLED * 2);
        let mut sync = BlobSync::open(data.path()).expect("open");
        assert!(sync.settled.is_some(), "read long after its last change");
        // A name added later changes the time, so it is read again.
        std::fs::write(blobs.join("2"), b"y").expect("write");
        assert_eq!(sync.sync().expect("sync"), 1);
    }
}
