//! The single writer: group commit of everything waiting, in one atomic sled write (one
//! `insert` of the group's pack, or one `apply_batch` of its packs), one flush, then the
//! acknowledgements (DESIGN.md, write path; docs/design.md, crash argument).
//!
//! The flush and the acknowledgements run on a second thread, the flusher, so that the
//! writer stages and applies group N+1 while group N is being made durable: a pipeline of
//! depth two. A group is acknowledged, and the head published, only after a flush that
//! began after its batch was applied; after a failed flush nothing more is acknowledged and
//! appends are refused until the store is reopened. After each flush the flusher writes
//! the head it made durable (`Mhead`), which the next flush makes durable in turn.
//!
//! A group's index entries go to the [`Memtable`] as soon as it is applied (the next group
//! is checked against them); every reader bounds what it returns by the published head.
//! Every `index_chunk_events` events the memtable is frozen and sealed by the sealer
//! thread (see [`crate::index`]).

use foldhash::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Arc, RwLock};

use custos_core::chain::chain_hash;
use custos_core::{codec, Event, EventId, Head, Seq, StreamId, Timestamp};
use tokio::sync::{mpsc, oneshot, watch};

use crate::blobs::BlobSync;
use crate::index::{Index, Memtable};
use crate::keys;
use crate::packs::{PackBuilder, ScanError};
use crate::{AppendError, AppendRequest, Appended, Clock};

/// What the writer is asked to do.
#[derive(Debug)]
pub(crate) enum Msg {
    /// Append, then answer.
    Append(
        AppendRequest,
        oneshot::Sender<Result<Appended, AppendError>>,
    ),
    /// Commit what came before, flush, answer, stop.
    Shutdown(oneshot::Sender<()>),
}

type Waiter = oneshot::Sender<Result<Appended, AppendError>>;

/// What the writer hands the flusher.
enum Flush {
    /// A group applied (or answered from what is already applied): flush, publish its
    /// head, then answer.
    Group {
        head: Head,
        events: u64,
        replies: Vec<(Waiter, Result<Appended, AppendError>)>,
    },
    /// Flush, answer, stop.
    Shutdown(oneshot::Sender<()>),
}

/// The writer's state; owned by its thread.
#[derive(Debug)]
pub(crate) struct Writer {
    pub db: sled::Db,
    pub tree: sled::Tree,
    /// The sealed index chunks (read for duplicate ids and stream versions).
    pub index_tree: sled::Tree,
    /// Where the flusher writes `Mhead` (`keys::HEAD_TREE`).
    pub head_tree: sled::Tree,
    pub rx: mpsc::Receiver<Msg>,
    pub head: Head,
    pub last_time: Timestamp,
    /// Moved to the flusher when the writer starts.
    pub head_tx: Option<watch::Sender<Head>>,
    pub clock: Arc<dyn Clock>,
    pub max_batch_events: usize,
    pub chunk_events: usize,
    pub stats: Arc<crate::Stats>,
    pub poisoned: bool,
    /// Set by the flusher when a flush fails.
    pub flush_failed: Arc<AtomicBool>,
    pub fail_after_groups: Option<u64>,
    pub index: Arc<RwLock<Index>>,
    pub seal_tx: std::sync::mpsc::Sender<(Arc<Memtable>, Seq)>,
    /// Moved to the flusher when the writer starts.
    pub blobs: Option<BlobSync>,
}

/// What the group being built has assigned so far, on top of what is durable.
#[derive(Debug)]
struct Group {
    head: Head,
    at: Timestamp,
    versions: HashMap<StreamId, u64>,
    ids: HashMap<EventId, Seq>,
    /// `(last seq, stream, version)` of each request staged in this group.
    staged: Vec<(Seq, StreamId, u64)>,
    /// Every event placed in this group, for the memtable.
    placed: Vec<Event>,
    /// The group's entries, in packs.
    pack: PackBuilder,
}

impl Writer {
    /// Runs until every sender is gone or a shutdown is asked.
    pub fn run(mut self) {
        let (flush_tx, flush_rx) = std::sync::mpsc::sync_channel(1);
        let flusher = {
            let (db, head_tree) = (self.db.clone(), self.head_tree.clone());
            let head_tx = self.head_tx.take();
            let stats = self.stats.clone();
            let failed = self.flush_failed.clone();
            let blobs = self.blobs.take();
            std::thread::Builder::new()
                .name("custos-flusher".into())
                .spawn(move || {
                    let flusher = Flusher {
                        db,
                        head_tree,
                        blobs,
                        head_tx,
                        stats,
                        failed,
                    };
                    flusher.run(flush_rx)
                })
        };
        let flusher = match flusher {
            Ok(f) => f,
            Err(e) => {
                tracing::error!(error = %e, "cannot start the flusher; refusing appends");
                self.poisoned = true;
                while let Some(msg) = self.rx.blocking_recv() {
                    match msg {
                        Msg::Append(_, reply) => {
                            let _ = reply.send(Err(AppendError::Refused));
                        }
                        Msg::Shutdown(done) => {
                            let _ = done.send(());
                            return;
                        }
                    }
                }
                return;
            }
        };
        while let Some(first) = self.rx.blocking_recv() {
            let mut jobs = Vec::new();
            let mut events = 0;
            let mut shutdown = None;
            let mut next = Some(first);
            while let Some(msg) = next.take() {
                match msg {
                    Msg::Append(req, reply) => {
                        events += req.events.len();
                        jobs.push((req, reply));
                    }
                    Msg::Shutdown(done) => {
                        shutdown = Some(done);
                        break;
                    }
                }
                if events < self.max_batch_events {
                    next = self.rx.try_recv().ok();
                }
            }
            self.commit(jobs, &flush_tx);
            if let Some(done) = shutdown {
                let _ = flush_tx.send(Flush::Shutdown(done));
                drop(flush_tx);
                let _ = flusher.join();
                return;
            }
        }
        drop(flush_tx);
        let _ = flusher.join();
    }

    fn commit(&mut self, jobs: Vec<(AppendRequest, Waiter)>, flush_tx: &SyncSender<Flush>) {
        if jobs.is_empty() {
            return;
        }
        if !self.poisoned && self.flush_failed.load(Ordering::Acquire) {
            self.poisoned = true;
        }
        if !self.poisoned {
            let failed = self.index_ref().failed.clone();
            if let Some(why) = failed {
                tracing::error!(error = %why, "refusing appends until reopened");
                self.poisoned = true;
            }
        }
        if self.poisoned {
            for (_, reply) in jobs {
                let _ = reply.send(Err(AppendError::Refused));
            }
            return;
        }
        let at = self.clock.now().max(self.last_time);
        let mut group = Group {
            head: self.head,
            at,
            versions: HashMap::default(),
            ids: HashMap::default(),
            staged: Vec::new(),
            placed: Vec::new(),
            pack: PackBuilder::default(),
        };
        let mut replies = Vec::with_capacity(jobs.len());
        let mut failure = None;
        for (req, reply) in jobs {
            match self.stage(req, &mut group) {
                Ok(outcome) => replies.push((reply, outcome)),
                Err(e) => {
                    failure = Some(e.to_string());
                    replies.push((reply, Err(AppendError::Io(e.to_string()))));
                }
            }
        }
        let events = group.head.seq.0 - self.head.seq.0;
        if failure.is_none() && events > 0 {
            if let Err(e) = self.write(group) {
                failure = Some(e.to_string());
            }
        }
        if let Some(err) = failure {
            tracing::error!(error = %err, "append failed; refusing appends until reopened");
            self.poisoned = true;
            for (_, outcome) in &mut replies {
                if outcome.is_ok() {
                    *outcome = Err(AppendError::Io(err.clone()));
                }
            }
            for (reply, outcome) in replies {
                let _ = reply.send(outcome);
            }
            return;
        }
        // Even a group of duplicates waits for the flush: the answers it repeats may
        // belong to a group still being flushed.
        let job = Flush::Group {
            head: self.head,
            events,
            replies,
        };
        if let Err(std::sync::mpsc::SendError(Flush::Group { replies, .. })) = flush_tx.send(job) {
            self.poisoned = true;
            for (reply, _) in replies {
                let _ = reply.send(Err(AppendError::Io("the flusher stopped".into())));
            }
        }
    }

    /// Writes the group's packs (the flusher makes them durable); then adds its events to
    /// the memtable (handing a full memtable to the sealer).
    ///
    /// A group of one pack (up to [`crate::packs::PACK_BYTES`]) is one `insert`, atomic
    /// by itself; a larger one is one `apply_batch`. Not `apply_batch` always: sled 0.34's
    /// batch seals the current log buffer and writes its manifest in a buffer of its own
    /// (`PageCache::pin_log`): measured, 1.95 disk writes per group against 0.84 with
    /// `insert` (docs/PERFORMANCE.md).
    fn write(&mut self, group: Group) -> Result<(), sled::Error> {
        let Group {
            head,
            at,
            placed,
            mut pack,
            ..
        } = group;
        let mut packs = pack.finish();
        let injected = self
            .fail_after_groups
            .is_some_and(|n| self.stats.snapshot().0 >= n);
        if injected {
            return Err(sled::Error::Io(std::io::Error::other("injected IO error")));
        }
        if packs.len() == 1 {
            let (k, v) = packs.remove(0);
            self.tree.insert(k, v)?;
        } else {
            let mut batch = sled::Batch::default();
            for (k, v) in packs {
                batch.insert(&k, v);
            }
            self.tree.apply_batch(batch)?;
        }
        {
            let mut index = self.index_mut();
            for e in &placed {
                index.mem.add(e);
            }
            if index.mem.len >= self.chunk_events && index.frozen.is_none() {
                let frozen = Arc::new(std::mem::take(&mut index.mem));
                index.frozen = Some(frozen.clone());
                index.frozen_last = head.seq;
                if self.seal_tx.send((frozen, head.seq)).is_err() {
                    index.failed = Some("the sealer stopped".into());
                }
            }
        }
        self.head = head;
        self.last_time = at;
        Ok(())
    }

    fn index_mut(&self) -> std::sync::RwLockWriteGuard<'_, Index> {
        self.index.write().unwrap_or_else(|p| p.into_inner())
    }

    fn index_ref(&self) -> std::sync::RwLockReadGuard<'_, Index> {
        self.index.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Checks one request against the log and the group, and stages its writes.
    /// The outer error is a storage failure, the inner one the request's own.
    fn stage(
        &self,
        req: AppendRequest,
        group: &mut Group,
    ) -> Result<Result<Appended, AppendError>, sled::Error> {
        if req.events.is_empty() {
            return Ok(Err(AppendError::Invalid(
                "an append needs at least one event".into(),
            )));
        }
        if let Some(dup) = self.find_duplicate(&req, group)? {
            return Ok(dup);
        }
        let actual = match group.versions.get(&req.stream) {
            Some(v) => *v,
            None => self.stream_version(&req.stream)?,
        };
        if let Some(expected) = req.expected {
            if expected != actual {
                return Ok(Err(AppendError::Conflict {
                    stream: req.stream,
                    expected,
                    actual,
                }));
            }
        }
        let first = group.head.seq.next();
        let mut placed = Vec::with_capacity(req.events.len());
        for (i, e) in req.events.into_iter().enumerate() {
            let seq = Seq(group.head.seq.0 + 1 + i as u64);
            let event = e.place(seq, req.stream.clone(), actual + 1 + i as u64, group.at);
            match codec::encode(&event) {
                Ok(value) => placed.push((event, value)),
                Err(err) => {
                    return Ok(Err(AppendError::Invalid(format!(
                        "event {}: {err}",
                        event.id
                    ))))
                }
            }
        }
        for (event, record) in placed {
            let hash = chain_hash(&group.head.hash, &record);
            group.pack.push(event.seq, &hash, &record);
            group.ids.insert(event.id, event.seq);
            group.head = Head {
                seq: event.seq,
                hash,
            };
            group.placed.push(event);
        }
        let version = actual + (group.head.seq.0 + 1 - first.0);
        group
            .staged
            .push((group.head.seq, req.stream.clone(), version));
        group.versions.insert(req.stream, version);
        Ok(Ok(Appended {
            first,
            last: group.head.seq,
            version,
            duplicate: false,
        }))
    }

    /// Where `id` was appended, if it was: this group, then the index.
    fn seq_of(&self, id: EventId, group: &Group) -> Result<Option<Seq>, sled::Error> {
        match group.ids.get(&id) {
            Some(s) => Ok(Some(*s)),
            None => self.index_ref().seq_of(&self.index_tree, id),
        }
    }

    /// A retry of an append already made (same event ids) gets the first answer again.
    fn find_duplicate(
        &self,
        req: &AppendRequest,
        group: &Group,
    ) -> Result<Option<Result<Appended, AppendError>>, sled::Error> {
        let mut found = Vec::with_capacity(req.events.len());
        for e in &req.events {
            found.push((e.id, self.seq_of(e.id, group)?));
        }
        let hits = found.iter().filter(|(_, s)| s.is_some()).count();
        if hits == 0 {
            let mut ids: Vec<EventId> = found.iter().map(|(id, _)| *id).collect();
            ids.sort_unstable();
            ids.dedup();
            if ids.len() != req.events.len() {
                return Ok(Some(Err(AppendError::Invalid(
                    "the same event id appears twice in one append".into(),
                ))));
            }
            return Ok(None);
        }
        let reused = |id| Ok(Some(Err(AppendError::IdReused { id })));
        let (Some(first), true) = (found[0].1, hits == found.len()) else {
            let id = found.iter().find(|(_, s)| s.is_some()).map(|(id, _)| *id);
            return reused(id.unwrap_or(found[0].0));
        };
        for (i, (id, seq)) in found.iter().enumerate() {
            if *seq != Some(Seq(first.0 + i as u64)) {
                return reused(*id);
            }
        }
        // Same ids, same order, consecutive: check it is the same stream.
        let last = Seq(first.0 + found.len() as u64 - 1);
        let version = match self.stored_stream_version(last, &req.stream, group)? {
            Some(v) => v,
            None => return reused(found[0].0),
        };
        Ok(Some(Ok(Appended {
            first,
            last,
            version,
            duplicate: true,
        })))
    }

    /// The version at which `seq` was appended to `stream`, if it belongs to it.
    fn stored_stream_version(
        &self,
        seq: Seq,
        stream: &StreamId,
        group: &Group,
    ) -> Result<Option<u64>, sled::Error> {
        if seq > self.head.seq {
            // Staged in this very group.
            return Ok(group
                .staged
                .iter()
                .find(|(last, s, _)| *last == seq && s == stream)
                .map(|(_, _, v)| *v));
        }
        let value = match crate::packs::get(&self.tree, seq) {
            Ok(Some(v)) => v,
            Ok(None) | Err(ScanError::Malformed { .. }) => return Ok(None),
            Err(ScanError::Io(e)) => return Err(e),
        };
        let event = codec::decode(crate::packs::split(&value).1).ok();
        Ok(event.filter(|e| &e.stream == stream).map(|e| e.version))
    }

    fn stream_version(&self, stream: &StreamId) -> Result<u64, sled::Error> {
        self.index_ref().stream_version(&self.index_tree, stream)
    }
}

/// The flusher thread: for each group the writer applied, in order, one flush (groups
/// waiting together share it) and the sync of any new sled blob file ([`BlobSync`]), then
/// the group's head published and its answers sent, and `Mhead` written (durable with the
/// next flush: it never names a group that is not). A failed flush answers every group
/// still waiting, and every later one, with the error, and tells the writer to refuse
/// appends.
struct Flusher {
    db: sled::Db,
    /// `keys::HEAD_TREE`, where `Mhead` goes.
    head_tree: sled::Tree,
    blobs: Option<BlobSync>,
    head_tx: Option<watch::Sender<Head>>,
    stats: Arc<crate::Stats>,
    failed: Arc<AtomicBool>,
}

impl Flusher {
    fn run(mut self, rx: Receiver<Flush>) {
        let mut error: Option<String> = None;
        let mut written: Option<Head> = None;
        while let Ok(first) = rx.recv() {
            let mut jobs = vec![first];
            jobs.extend(rx.try_iter());
            if error.is_none() {
                if let Err(e) = self.sync() {
                    self.fail(&mut error, e);
                }
            }
            let newest = jobs.iter().rev().find_map(|j| match j {
                Flush::Group { head, .. } => Some(*head),
                Flush::Shutdown(_) => None,
            });
            if let (None, Some(head)) = (&error, newest) {
                if written != Some(head) {
                    match self
                        .head_tree
                        .insert(keys::META_HEAD, keys::encode_head(&head).to_vec())
                    {
                        Ok(_) => written = Some(head),
                        Err(e) => self.fail(&mut error, e),
                    }
                }
            }
            for job in jobs {
                match job {
                    Flush::Group {
                        head,
                        events,
                        replies,
                    } => {
                        if error.is_none() {
                            if events > 0 {
                                self.stats.record_batch(events);
                            }
                            if let Some(tx) = &self.head_tx {
                                tx.send_replace(head);
                            }
                        }
                        for (reply, outcome) in replies {
                            let outcome = match (&error, outcome) {
                                (Some(e), Ok(_)) => Err(AppendError::Io(e.clone())),
                                (_, outcome) => outcome,
                            };
                            let _ = reply.send(outcome);
                        }
                    }
                    Flush::Shutdown(done) => {
                        // `Mhead` durable too: after a shutdown it is the head.
                        let _ = self.db.flush();
                        let _ = done.send(());
                    }
                }
            }
        }
        let _ = self.sync();
    }

    /// One flush, then the sync of new blob files.
    fn sync(&mut self) -> Result<(), sled::Error> {
        self.db.flush()?;
        if let Some(b) = self.blobs.as_mut() {
            let files = b.sync().map_err(sled::Error::Io)?;
            self.stats.record_blob_files(files as u64);
        }
        Ok(())
    }

    fn fail(&self, error: &mut Option<String>, e: sled::Error) {
        tracing::error!(error = %e, "flush failed; refusing appends until reopened");
        *error = Some(e.to_string());
        self.failed.store(true, Ordering::Release);
    }
}
