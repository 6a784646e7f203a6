//! `Store`: opening (with the tail check), appending through the writer, and reads.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;

use custos_core::{
    codec, Digest, Event, EventKind, Head, PrincipalId, Seq, StreamId, TenantId, Timestamp,
};
use tokio::sync::{mpsc, oneshot, watch};

use crate::index::{postings, Index, Memtable};
use crate::keys;
use crate::upgrade::{open_trees, Trees};
use crate::verify::{check_tail, last_recorded_at};
use crate::writer::{Msg, Writer};
use crate::{AppendError, Clock, OpenError, ReadError, SystemClock};

/// How the store is run.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Most events committed in one group (one sled batch, one flush).
    pub max_batch_events: usize,
    /// Appends that may wait for the writer before callers are held back.
    pub queue_depth: usize,
    /// Source of `recorded_at`.
    pub clock: Arc<dyn Clock>,
    /// Events whose index entries are kept in memory before they are sealed into
    /// chunks (one sled key per name per chunk instead of one per event). 131,072 by
    /// default: a seal writes one key per name, so larger chunks write fewer keys per
    /// event (`bench-append --chunk`, docs/PERFORMANCE.md), for a memtable of some tens
    /// of MB and up to that many events re-derived from the log on open.
    pub index_chunk_events: usize,
    /// Events between two rounds of tenant checkpoints (`crate::checkpoints`): a seal that
    /// ends at least this many events after the last round writes the next one. 1,048,576
    /// by default: an as-of answer for a tenant then reads at most its events of that many
    /// (and of the memtable); a round at every chunk (1) took twice the disk at 10M events
    /// and ~12 % off appends (docs/PERFORMANCE.md).
    pub checkpoint_events: u64,
    /// The most sled may keep in its page cache, in bytes (sled's own default is 1 GiB).
    pub cache_bytes: u64,
    /// Tests only: treat the write of the group after this many committed groups as an
    /// IO error (sled offers no fault injection of its own).
    #[doc(hidden)]
    pub fail_after_groups: Option<u64>,
}

/// sled's page cache by default: 64 MiB. sled keeps recently read pages beyond it in any
/// case, and 256 MiB (the default until the tenth session) put a 10M-event server over
/// 1 GiB with appends no faster (docs/PERFORMANCE.md, footprint).
pub const DEFAULT_CACHE_BYTES: u64 = 64 << 20;

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            max_batch_events: 2048,
            queue_depth: 4096,
            clock: Arc::new(SystemClock),
            index_chunk_events: 128 * 1024,
            checkpoint_events: 1 << 20,
            cache_bytes: DEFAULT_CACHE_BYTES,
            fail_after_groups: None,
        }
    }
}

/// Events to append to one stream, atomically, in order.
#[derive(Debug, Clone)]
pub struct AppendRequest {
    /// The stream.
    pub stream: StreamId,
    /// The version the stream must be at (0: must not exist yet); `None`: any.
    pub expected: Option<u64>,
    /// The events.
    pub events: Vec<custos_core::NewEvent>,
}

/// An acknowledged append: durable before this is returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// Seq of the first event.
    pub first: Seq,
    /// Seq of the last event.
    pub last: Seq,
    /// The stream's version after the last event.
    pub version: u64,
    /// True when this was a retry of an append already made (nothing new written).
    pub duplicate: bool,
}

/// An append queued by [`Store::enqueue`]; resolves once it is durable (or refused).
#[derive(Debug)]
pub struct PendingAppend(oneshot::Receiver<Result<Appended, AppendError>>);

impl std::future::Future for PendingAppend {
    type Output = Result<Appended, AppendError>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0)
            .poll(cx)
            .map(|r| r.unwrap_or(Err(AppendError::Closed)))
    }
}

/// A stored event: its seq, the hash kept beside it, and the exact stored bytes.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    /// Position.
    pub seq: Seq,
    /// `hash(seq)` as stored.
    pub hash: Digest,
    value: sled::IVec,
}

impl StoredEvent {
    /// `value` is `hash ‖ record`, as a pack entry holds it (`crate::packs`).
    fn from_value(seq: Seq, value: sled::IVec) -> Self {
        let (hash, _) = crate::packs::split(&value);
        StoredEvent { seq, hash, value }
    }

    /// The exact stored bytes the chain covers.
    pub fn record(&self) -> &[u8] {
        &self.value[32..]
    }

    /// The decoded event.
    pub fn event(&self) -> Result<Event, ReadError> {
        codec::decode(self.record()).map_err(|e| ReadError::Corrupt {
            seq: self.seq,
            reason: e.to_string(),
        })
    }
}

/// Which secondary index to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexFilter {
    /// Events concerning a tenant.
    Tenant(TenantId),
    /// Events caused by an actor.
    Actor(PrincipalId),
    /// Events naming a principal as a subject (`Payload::subjects`).
    Subject(PrincipalId),
    /// Events of a kind.
    Kind(EventKind),
}

impl IndexFilter {
    fn prefix(&self) -> Vec<u8> {
        match self {
            IndexFilter::Tenant(t) => keys::named_prefix(keys::TENANT, t.as_str()),
            IndexFilter::Actor(a) => keys::named_prefix(keys::ACTOR, a.as_str()),
            IndexFilter::Subject(p) => keys::named_prefix(keys::SUBJECT, p.as_str()),
            IndexFilter::Kind(k) => keys::kind_prefix(*k).to_vec(),
        }
    }
}

/// Called with the size of every group the writer commits (for metrics).
pub type GroupObserver = Box<dyn Fn(u64) + Send + Sync>;

/// Counters of the writer's work.
#[derive(Default)]
pub struct Stats {
    batches: std::sync::atomic::AtomicU64,
    events: std::sync::atomic::AtomicU64,
    blob_files: std::sync::atomic::AtomicU64,
    observer: std::sync::OnceLock<GroupObserver>,
}

impl std::fmt::Debug for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (batches, events) = self.snapshot();
        f.debug_struct("Stats")
            .field("batches", &batches)
            .field("events", &events)
            .finish_non_exhaustive()
    }
}

impl Stats {
    pub(crate) fn record_batch(&self, events: u64) {
        use std::sync::atomic::Ordering::Relaxed;
        self.batches.fetch_add(1, Relaxed);
        self.events.fetch_add(events, Relaxed);
        if let Some(observe) = self.observer.get() {
            observe(events);
        }
    }

    pub(crate) fn record_blob_files(&self, files: u64) {
        self.blob_files
            .fetch_add(files, std::sync::atomic::Ordering::Relaxed);
    }

    /// sled blob files the flusher has fsynced since open (`crate::blobs`).
    pub fn blob_files_synced(&self) -> u64 {
        self.blob_files.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// `(groups committed, events committed)` since open.
    pub fn snapshot(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (self.batches.load(Relaxed), self.events.load(Relaxed))
    }
}

/// The ledger's log. Cheap to clone; all clones share one writer.
#[derive(Debug, Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    db: sled::Db,
    trees: Trees,
    /// The only sender; dropped (with the last `Store` clone) to stop the writer.
    tx: Option<mpsc::Sender<Msg>>,
    head: watch::Receiver<Head>,
    stats: Arc<Stats>,
    index: Arc<RwLock<Index>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    sealer: Mutex<Option<JoinHandle<()>>>,
    /// The recording times searches by time have read ([`crate::packs::Times`]).
    times: Mutex<crate::packs::Times>,
}

impl Inner {
    /// Waits for the writer, then for the sealer (which stops once the writer is gone),
    /// then flushes the sealer's last chunk.
    fn join_writer(&self) {
        for slot in [&self.writer, &self.sealer] {
            let handle = slot.lock().ok().and_then(|mut h| h.take());
            if let Some(h) = handle {
                let _ = h.join();
            }
        }
        let _ = self.db.flush();
    }
}

impl Drop for Inner {
    /// Dropping the last clone stops the writer once it has committed what is queued, and
    /// waits for it, so that the data directory's lock is free when this returns.
    fn drop(&mut self) {
        drop(self.tx.take());
        self.join_writer();
    }
}

/// How long [`open_db`] waits for a lock to be released.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// The size of sled's log segments (and IO buffers) in the stores custos creates: 8 MiB
/// instead of sled's 512 KiB. Measured (docs/PERFORMANCE.md): 531 instead of 705 bytes
/// of disk per event at 1M demo events, appends as fast. A page over a quarter of a
/// segment is written to a blob file of its own. The raw-sled baselines of the
/// benchmarks use it too (design.md §3).
pub const SEGMENT_BYTES: usize = 8 << 20;

/// The segment size of the stores custos created before [`SEGMENT_BYTES`]: sled's
/// default. sled keeps the size a store was created with and refuses to open it with
/// another, so such a store is opened with its own.
const OLD_SEGMENT_BYTES: usize = 512 << 10;

/// sled's settings for a store at `path` as custos creates it ([`SEGMENT_BYTES`]): for
/// what opens one behind the store's back (tests, the raw-sled baselines of the
/// benchmarks), which add their own cache and flush settings.
pub fn sled_config(path: &Path) -> sled::Config {
    sled::Config::new().path(path).segment_size(SEGMENT_BYTES)
}

/// Opens sled at `path`, naming a lock held by another process as such. sled's IO threads
/// drop their handles shortly *after* the last `Db` is dropped, so a lock still held when a
/// store is reopened (or by a process that is exiting) is waited for, up to [`LOCK_WAIT`].
/// A new store gets [`SEGMENT_BYTES`]; one created with sled's default keeps it.
pub(crate) fn open_db(path: &Path, cache_bytes: u64) -> Result<sled::Db, OpenError> {
    let started = std::time::Instant::now();
    let mut segment = SEGMENT_BYTES;
    loop {
        // No periodic flusher: the writer flushes every group itself.
        let opened = sled_config(path)
            .segment_size(segment)
            .flush_every_ms(None)
            .cache_capacity(cache_bytes)
            .open();
        match opened {
            Ok(db) => return Ok(db),
            // sled checks the stored segment size before it locks or writes anything.
            Err(sled::Error::Unsupported(_)) if segment == SEGMENT_BYTES => {
                segment = OLD_SEGMENT_BYTES;
            }
            Err(sled::Error::Io(e))
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.to_string().contains("could not acquire lock") =>
            {
                if started.elapsed() >= LOCK_WAIT {
                    return Err(OpenError::Locked {
                        path: path.to_owned(),
                    });
                }
                std::thread::sleep(std::time::Duration::from_millis(25));
            }
            Err(source) => {
                return Err(OpenError::Io {
                    path: path.to_owned(),
                    source,
                })
            }
        }
    }
}

impl Store {
    /// Opens (or creates) the log in `path`, checks the tail written since the last
    /// verified point, and starts the writer.
    pub fn open(path: impl AsRef<Path>, config: StoreConfig) -> Result<Store, OpenError> {
        let path = path.as_ref().to_owned();
        let db = open_db(&path, config.cache_bytes)?;
        let trees = open_trees(
            &db,
            &path,
            config.index_chunk_events,
            config.checkpoint_events,
        )?;
        let tree = trees.log.clone();
        let head = check_tail(&db, &tree, &trees.head, &path)?;
        let last_time = last_recorded_at(&tree, head.seq).map_err(|source| OpenError::Io {
            path: path.clone(),
            source,
        })?;
        let filters = path.join(crate::filters::FILE_NAME);
        let (index, filters) = Index::open_with_filters(&tree, &trees.index, head.seq, &filters)
            .map_err(|e| match e {
                ReadError::Io(source) => OpenError::Io {
                    path: path.clone(),
                    source,
                },
                other => OpenError::Io {
                    path: path.clone(),
                    source: sled::Error::Unsupported(other.to_string()),
                },
            })?;
        let index = Arc::new(RwLock::new(index));
        let (seal_tx, seal_rx) = std::sync::mpsc::channel();
        let sealer = {
            let (log, tree, index) = (trees.log.clone(), trees.index.clone(), index.clone());
            let every = config.checkpoint_events.max(1);
            std::thread::Builder::new()
                .name("custos-sealer".into())
                .spawn(move || crate::seal::run_sealer(log, tree, seal_rx, index, filters, every))
                .map_err(|e| OpenError::Io {
                    path: path.clone(),
                    source: sled::Error::Io(e),
                })?
        };
        let (tx, rx) = mpsc::channel(config.queue_depth.max(1));
        let (head_tx, head_rx) = watch::channel(head);
        let stats = Arc::new(Stats::default());
        let blobs = crate::blobs::BlobSync::open(&path).map_err(|e| OpenError::Io {
            path: path.clone(),
            source: sled::Error::Io(e),
        })?;
        stats.record_blob_files(blobs.files);
        let writer = Writer {
            db: db.clone(),
            tree: tree.clone(),
            index_tree: trees.index.clone(),
            head_tree: trees.head.clone(),
            rx,
            head,
            last_time,
            head_tx: Some(head_tx),
            clock: config.clock,
            max_batch_events: config.max_batch_events.max(1),
            chunk_events: config.index_chunk_events.max(1),
            stats: stats.clone(),
            poisoned: false,
            flush_failed: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            fail_after_groups: config.fail_after_groups,
            index: index.clone(),
            seal_tx,
            blobs: Some(blobs),
        };
        let handle = std::thread::Builder::new()
            .name("custos-writer".into())
            .spawn(move || writer.run())
            .map_err(|e| OpenError::Io {
                path: path.clone(),
                source: sled::Error::Io(e),
            })?;
        tracing::info!(path = %path.display(), head = %head, "store opened");
        Ok(Store {
            inner: Arc::new(Inner {
                path,
                db,
                trees,
                tx: Some(tx),
                head: head_rx,
                stats,
                index,
                writer: Mutex::new(Some(handle)),
                sealer: Mutex::new(Some(sealer)),
                times: Mutex::default(),
            }),
        })
    }

    /// The data directory.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Appends; returns once the events are flushed to disk.
    pub async fn append(&self, req: AppendRequest) -> Result<Appended, AppendError> {
        let (reply, answer) = oneshot::channel();
        self.sender()?
            .send(Msg::Append(req, reply))
            .await
            .map_err(|_| AppendError::Closed)?;
        answer.await.map_err(|_| AppendError::Closed)?
    }

    /// Queues an append and returns as soon as it is queued: appends queued one after the
    /// other by one caller are committed in that order. Await the returned
    /// [`PendingAppend`] for the acknowledgement.
    pub async fn enqueue(&self, req: AppendRequest) -> Result<PendingAppend, AppendError> {
        let (reply, answer) = oneshot::channel();
        self.sender()?
            .send(Msg::Append(req, reply))
            .await
            .map_err(|_| AppendError::Closed)?;
        Ok(PendingAppend(answer))
    }

    /// [`append`](Self::append) for callers outside an async runtime.
    pub fn append_blocking(&self, req: AppendRequest) -> Result<Appended, AppendError> {
        let (reply, answer) = oneshot::channel();
        self.sender()?
            .blocking_send(Msg::Append(req, reply))
            .map_err(|_| AppendError::Closed)?;
        answer.blocking_recv().map_err(|_| AppendError::Closed)?
    }

    /// Commits what is queued, flushes, and stops the writer; later appends get
    /// [`AppendError::Closed`]. Reads keep working.
    pub async fn close(&self) {
        let (done, wait) = oneshot::channel();
        let Ok(tx) = self.sender() else { return };
        if tx.send(Msg::Shutdown(done)).await.is_ok() {
            let _ = wait.await;
        }
        self.join_writer();
    }

    /// [`close`](Self::close) for callers outside an async runtime.
    pub fn close_blocking(&self) {
        let (done, wait) = oneshot::channel();
        let Ok(tx) = self.sender() else { return };
        if tx.blocking_send(Msg::Shutdown(done)).is_ok() {
            let _ = wait.blocking_recv();
        }
        self.join_writer();
    }

    fn sender(&self) -> Result<&mpsc::Sender<Msg>, AppendError> {
        self.inner.tx.as_ref().ok_or(AppendError::Closed)
    }

    fn join_writer(&self) {
        self.inner.join_writer();
    }

    /// The last durable event: seq and hash.
    pub fn head(&self) -> Head {
        *self.inner.head.borrow()
    }

    /// A receiver that sees every new head.
    pub fn watch_head(&self) -> watch::Receiver<Head> {
        self.inner.head.clone()
    }

    /// Counters of committed groups and events.
    pub fn stats(&self) -> (u64, u64) {
        self.inner.stats.snapshot()
    }

    /// sled blob files fsynced since open (the flusher syncs every new one before it
    /// answers; see `crate::blobs`).
    pub fn blob_files_synced(&self) -> u64 {
        self.inner.stats.blob_files_synced()
    }

    /// Has the writer call `observe` with the size of every group it commits from now
    /// on (once per store; a second observer is refused and returned).
    pub fn observe_groups(&self, observe: GroupObserver) -> Result<(), GroupObserver> {
        self.inner.stats.observer.set(observe)
    }

    /// The event at `seq`.
    pub fn get(&self, seq: Seq) -> Result<Option<StoredEvent>, ReadError> {
        Ok(crate::packs::get(&self.inner.trees.log, seq)?.map(|v| StoredEvent::from_value(seq, v)))
    }

    /// `hash(seq)`; the genesis digest for seq 0.
    pub fn hash_at(&self, seq: Seq) -> Result<Option<Digest>, ReadError> {
        if seq == Seq::ZERO {
            return Ok(Some(Digest::GENESIS));
        }
        Ok(self.get(seq)?.map(|e| e.hash))
    }

    /// Events with `from <= seq <= to`, in order.
    pub fn range(
        &self,
        from: Seq,
        to: Seq,
    ) -> impl Iterator<Item = Result<StoredEvent, ReadError>> + Send + 'static {
        crate::packs::Scan::range(&self.inner.trees.log, from, to).map(|entry| {
            let (seq, value) = entry?;
            Ok(StoredEvent::from_value(seq, value))
        })
    }

    /// The current version of a stream (0 if it has no events).
    pub fn stream_version(&self, stream: &StreamId) -> Result<u64, ReadError> {
        let head = self.head().seq;
        let entries = self
            .index()
            .stream_entries(&self.inner.trees.index, stream)?;
        Ok(entries
            .iter()
            .filter(|(_, s)| *s <= head.0)
            .map(|(v, _)| *v)
            .max()
            .unwrap_or(0))
    }

    pub(crate) fn index(&self) -> std::sync::RwLockReadGuard<'_, Index> {
        self.inner.index.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Where the event with this id was appended, if it was (a client's retry finds its
    /// first answer this way).
    pub fn seq_of_event(&self, id: custos_core::EventId) -> Result<Option<Seq>, ReadError> {
        let seq = self.index().seq_of(&self.inner.trees.index, id)?;
        Ok(seq.filter(|s| *s <= self.head().seq))
    }

    /// A stream's events from `from_version` on, in order.
    pub fn read_stream(
        &self,
        stream: &StreamId,
        from_version: u64,
    ) -> Result<impl Iterator<Item = Result<StoredEvent, ReadError>> + Send + 'static, ReadError>
    {
        let head = self.head().seq;
        let seqs: Vec<u64> = self
            .index()
            .stream_entries(&self.inner.trees.index, stream)?
            .into_iter()
            .filter(|(v, s)| *v >= from_version && *s <= head.0)
            .map(|(_, s)| s)
            .collect();
        let tree = self.inner.trees.log.clone();
        Ok(seqs.into_iter().map(move |seq| {
            let seq = Seq(seq);
            match crate::packs::get(&tree, seq)? {
                Some(v) => Ok(StoredEvent::from_value(seq, v)),
                None => Err(ReadError::Corrupt {
                    seq,
                    reason: "indexed by its stream but missing from the log".into(),
                }),
            }
        }))
    }

    /// The first seq recorded at or after `at` (head + 1 if none): a binary search over
    /// the log, whose recording times never go backwards ([`crate::packs::first_seq_at`]).
    pub fn first_seq_at(&self, at: Timestamp) -> Result<Seq, ReadError> {
        Ok(crate::packs::first_seq_at(
            &self.inner.trees.log,
            self.head().seq,
            at,
            &self.inner.times,
        )?)
    }

    /// Events recorded in `[from, to)`, in order. The writer never lets `recorded_at`
    /// decrease along the log, so this is a seq range ([`Store::first_seq_at`]).
    pub fn read_time_range(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<impl Iterator<Item = Result<StoredEvent, ReadError>> + Send + 'static, ReadError>
    {
        let first = self.first_seq_at(from)?;
        let end = self.first_seq_at(to)?;
        Ok(self.range(first, Seq(end.0.saturating_sub(1))))
    }

    /// Seqs in `[from, to]` that the index lists under `filter`, at most `limit`, in order.
    pub fn index_seqs(
        &self,
        filter: &IndexFilter,
        from: Seq,
        to: Seq,
        limit: usize,
    ) -> Result<Vec<Seq>, ReadError> {
        let to = to.min(self.head().seq);
        if to < from || limit == 0 {
            return Ok(Vec::new());
        }
        let (sealed, recent) = {
            let index = self.index();
            let memtables: Vec<&Memtable> = index.memtables().collect();
            let mut recent = Vec::new();
            // Oldest first: the frozen memtable, then the active one.
            for mem in memtables.into_iter().rev() {
                let seqs = match filter {
                    IndexFilter::Tenant(t) => mem.tenants.get(t.as_str()),
                    IndexFilter::Actor(a) => mem.actors.get(a.as_str()),
                    IndexFilter::Subject(p) => mem.subjects.get(p.as_str()),
                    IndexFilter::Kind(k) => mem.kinds.get(k),
                };
                recent.extend(
                    seqs.into_iter()
                        .flatten()
                        .copied()
                        .filter(|s| *s > index.sealed.0 && (from.0..=to.0).contains(s)),
                );
            }
            (index.sealed, recent)
        };
        let mut out = Vec::new();
        if from <= sealed {
            // Chunks are keyed by their last seq: start at the first chunk ending at or
            // after `from`, stop after the chunk that reaches past `to`.
            let prefix = filter.prefix();
            let range = keys::with_u64(&prefix, from.0)..=keys::with_u64(&prefix, u64::MAX);
            for kv in self.inner.trees.index.range(range) {
                let (k, v) = kv?;
                let chunk_last = keys::trailing_u64(&k).unwrap_or(0);
                let seqs = postings::decode(&v).ok_or_else(|| ReadError::Corrupt {
                    seq: Seq(chunk_last),
                    reason: "malformed index postings".into(),
                })?;
                out.extend(
                    seqs.into_iter()
                        .filter(|s| (from.0..=to.0.min(sealed.0)).contains(s))
                        .map(Seq),
                );
                if out.len() >= limit || chunk_last >= to.0 {
                    break;
                }
            }
        }
        out.extend(recent.into_iter().map(Seq));
        out.truncate(limit);
        Ok(out)
    }

    /// Keeps a snapshot of a projection taken at `at` (the seq it reflects and the hash
    /// there). Snapshots are an optimisation outside the chain (DESIGN.md invariant 4).
    pub fn put_snapshot(&self, at: Head, snapshot: &[u8]) -> Result<(), ReadError> {
        let mut value = Vec::with_capacity(32 + snapshot.len());
        value.extend_from_slice(&at.hash.0);
        value.extend_from_slice(snapshot);
        self.inner
            .trees
            .snapshots
            .insert(keys::with_u64(&[keys::SNAPSHOT], at.seq.0), value)?;
        Ok(())
    }

    /// Whether a snapshot of format `format` is kept at exactly `at` (same seq and hash).
    /// Writing it again would change nothing, and sled keeps a large value it replaced
    /// on disk until it reclaims the segment, so callers skip it.
    pub fn has_snapshot(&self, at: Head, format: u8) -> Result<bool, ReadError> {
        let key = keys::with_u64(&[keys::SNAPSHOT], at.seq.0);
        Ok(self.inner.trees.snapshots.get(key)?.is_some_and(|v| {
            keys::split_log_value(&v)
                .is_some_and(|(hash, bytes)| hash == at.hash && bytes.first() == Some(&format))
        }))
    }

    /// The tree of the index chunks and the tenant checkpoints.
    pub(crate) fn index_tree(&self) -> &sled::Tree {
        &self.inner.trees.index
    }

    /// The latest snapshot at or before `seq` whose recorded hash is still the log's hash
    /// at its seq (one taken on another history is ignored): its point and its bytes.
    pub fn snapshot_at_or_before(&self, seq: Seq) -> Result<Option<(Head, Vec<u8>)>, ReadError> {
        let range = keys::with_u64(&[keys::SNAPSHOT], 0)..=keys::with_u64(&[keys::SNAPSHOT], seq.0);
        for kv in self.inner.trees.snapshots.range(range).rev() {
            let (k, v) = kv?;
            let at = Seq(keys::trailing_u64(&k).unwrap_or(0));
            let Some((hash, bytes)) = keys::split_log_value(&v) else {
                continue;
            };
            if self.hash_at(at)? == Some(hash) {
                return Ok(Some((Head { seq: at, hash }, bytes.to_vec())));
            }
            tracing::warn!(seq = %at, "ignoring a snapshot whose hash is not the log's");
        }
        Ok(None)
    }

    /// The state kept for the named consumer `name`, if it is registered.
    pub fn consumer(&self, name: &str) -> Result<Option<Vec<u8>>, ReadError> {
        Ok(self
            .inner
            .trees
            .log
            .get(keys::named_prefix(keys::CONSUMER, name))?
            .map(|v| v.to_vec()))
    }

    /// Keeps the state of the named consumer `name` (outside the chain). It is on disk at
    /// the writer's next flush, or at once with [`Store::flush`].
    pub fn put_consumer(&self, name: &str, state: &[u8]) -> Result<(), ReadError> {
        self.inner
            .trees
            .log
            .insert(keys::named_prefix(keys::CONSUMER, name), state)?;
        Ok(())
    }

    /// Forgets the named consumer `name`; whether it existed.
    pub fn delete_consumer(&self, name: &str) -> Result<bool, ReadError> {
        Ok(self
            .inner
            .trees
            .log
            .remove(keys::named_prefix(keys::CONSUMER, name))?
            .is_some())
    }

    /// Verifies the whole log from genesis, and against `known` if given.
    pub fn verify(&self, known: Option<Head>) -> Result<Head, crate::VerifyDirError> {
        crate::verify::verify_tree(&self.inner.trees.log, &self.inner.trees.head, known)
    }

    /// Flushes sled's buffers (the writer already flushes every group).
    pub fn flush(&self) -> Result<(), ReadError> {
        self.inner.db.flush()?;
        Ok(())
    }
}
