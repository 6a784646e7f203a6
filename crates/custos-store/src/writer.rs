//! The single writer: group commit of everything waiting, in one atomic sled batch, one
//! flush, then the acknowledgements (DESIGN.md, write path; docs/design.md, crash argument).

use std::collections::HashMap;
use std::sync::Arc;

use custos_core::chain::chain_hash;
use custos_core::{codec, EventId, Head, NewEvent, Seq, StreamId, Timestamp};
use tokio::sync::{mpsc, oneshot, watch};

use crate::keys;
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

/// The writer's state; owned by its thread.
#[derive(Debug)]
pub(crate) struct Writer {
    pub db: sled::Db,
    pub tree: sled::Tree,
    pub rx: mpsc::Receiver<Msg>,
    pub head: Head,
    pub last_time: Timestamp,
    pub head_tx: watch::Sender<Head>,
    pub clock: Arc<dyn Clock>,
    pub max_batch_events: usize,
    pub stats: Arc<crate::Stats>,
    pub poisoned: bool,
    pub fail_after_groups: Option<u64>,
}

/// One answer to give after the group is durable.
type Reply = (
    oneshot::Sender<Result<Appended, AppendError>>,
    Result<Appended, AppendError>,
);

/// What the group being built has assigned so far, on top of what is durable.
#[derive(Debug)]
struct Group {
    head: Head,
    first: Seq,
    at: Timestamp,
    versions: HashMap<StreamId, u64>,
    ids: HashMap<EventId, Seq>,
    /// `(last seq, stream, version)` of each request staged in this group.
    staged: Vec<(Seq, StreamId, u64)>,
    batch: sled::Batch,
}

impl Writer {
    /// Runs until every sender is gone or a shutdown is asked.
    pub fn run(mut self) {
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
            self.commit(jobs);
            if let Some(done) = shutdown {
                let _ = self.db.flush();
                let _ = done.send(());
                return;
            }
        }
        let _ = self.db.flush();
    }

    fn commit(
        &mut self,
        jobs: Vec<(
            AppendRequest,
            oneshot::Sender<Result<Appended, AppendError>>,
        )>,
    ) {
        if jobs.is_empty() {
            return;
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
            first: self.head.seq.next(),
            at,
            versions: HashMap::new(),
            ids: HashMap::new(),
            staged: Vec::new(),
            batch: sled::Batch::default(),
        };
        let mut replies: Vec<Reply> = Vec::with_capacity(jobs.len());
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
        if failure.is_none() && group.head.seq > self.head.seq {
            let events = group.head.seq.0 - self.head.seq.0;
            let mut batch = group.batch;
            batch.insert(keys::META_HEAD, keys::encode_head(&group.head).to_vec());
            batch.insert(&keys::time(at, group.first), &[]);
            let injected = self
                .fail_after_groups
                .is_some_and(|n| self.stats.snapshot().0 >= n);
            let written = if injected {
                Err(sled::Error::Io(std::io::Error::other("injected IO error")))
            } else {
                self.tree.apply_batch(batch).and_then(|()| self.db.flush())
            };
            match written {
                Ok(_) => {
                    self.head = group.head;
                    self.last_time = at;
                    self.stats.record_batch(events);
                    self.head_tx.send_replace(self.head);
                }
                Err(e) => failure = Some(e.to_string()),
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
        }
        for (reply, outcome) in replies {
            let _ = reply.send(outcome);
        }
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
        let staged = match encode_all(req.events, &req.stream, group.head.seq, actual, group.at) {
            Ok(s) => s,
            Err(e) => return Ok(Err(e)),
        };
        let stream_prefix = keys::named_prefix(keys::STREAM, req.stream.as_str());
        let first = group.head.seq.next();
        for s in &staged {
            let hash = chain_hash(&group.head.hash, &s.record);
            let mut value = Vec::with_capacity(32 + s.record.len());
            value.extend_from_slice(&hash.0);
            value.extend_from_slice(&s.record);
            let seq_bytes = s.seq.0.to_be_bytes();
            let b = &mut group.batch;
            b.insert(&keys::log(s.seq), value);
            b.insert(&keys::event_id(s.id), &seq_bytes);
            b.insert(keys::with_u64(&stream_prefix, s.version), &seq_bytes);
            if let Some(t) = &s.tenant {
                b.insert(
                    keys::with_u64(&keys::named_prefix(keys::TENANT, t), s.seq.0),
                    &[],
                );
            }
            b.insert(
                keys::with_u64(&keys::named_prefix(keys::ACTOR, &s.actor), s.seq.0),
                &[],
            );
            b.insert(keys::with_u64(&s.kind, s.seq.0), &[]);
            group.ids.insert(s.id, s.seq);
            group.head = Head { seq: s.seq, hash };
        }
        let version = actual + staged.len() as u64;
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

    /// A retry of an append already made (same event ids) gets the first answer again.
    fn find_duplicate(
        &self,
        req: &AppendRequest,
        group: &Group,
    ) -> Result<Option<Result<Appended, AppendError>>, sled::Error> {
        let mut found = Vec::with_capacity(req.events.len());
        for e in &req.events {
            let seq = match group.ids.get(&e.id) {
                Some(s) => Some(*s),
                None => self
                    .tree
                    .get(keys::event_id(e.id))?
                    .and_then(|v| keys::trailing_u64(&v))
                    .map(Seq),
            };
            found.push((e.id, seq));
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
        let first = found[0].1;
        let (Some(first), true) = (first, hits == found.len()) else {
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
        let Some(value) = self.tree.get(keys::log(seq))? else {
            return Ok(None);
        };
        let event = keys::split_log_value(&value).and_then(|(_, r)| codec::decode(r).ok());
        Ok(event.filter(|e| &e.stream == stream).map(|e| e.version))
    }

    fn stream_version(&self, stream: &StreamId) -> Result<u64, sled::Error> {
        stream_version(&self.tree, stream)
    }
}

/// The current version of a stream: the last key of its index prefix.
pub(crate) fn stream_version(tree: &sled::Tree, stream: &StreamId) -> Result<u64, sled::Error> {
    let prefix = keys::named_prefix(keys::STREAM, stream.as_str());
    match tree.scan_prefix(&prefix).keys().next_back() {
        Some(k) => Ok(keys::trailing_u64(&k?).unwrap_or(0)),
        None => Ok(0),
    }
}

/// An event encoded and ready to write.
#[derive(Debug)]
struct Staged {
    seq: Seq,
    version: u64,
    id: EventId,
    record: Vec<u8>,
    tenant: Option<String>,
    actor: String,
    kind: [u8; 3],
}

/// Places and encodes every event of a request, or refuses the whole request.
fn encode_all(
    events: Vec<NewEvent>,
    stream: &StreamId,
    after: Seq,
    version: u64,
    at: Timestamp,
) -> Result<Vec<Staged>, AppendError> {
    let mut out = Vec::with_capacity(events.len());
    for (i, e) in events.into_iter().enumerate() {
        let seq = Seq(after.0 + 1 + i as u64);
        let event = e.place(seq, stream.clone(), version + 1 + i as u64, at);
        let record = codec::encode(&event)
            .map_err(|err| AppendError::Invalid(format!("event {}: {err}", event.id)))?;
        out.push(Staged {
            seq,
            version: event.version,
            id: event.id,
            record,
            tenant: event.payload.tenant().map(|t| t.as_str().to_owned()),
            actor: event.actor.as_str().to_owned(),
            kind: keys::kind_prefix(event.kind()),
        });
    }
    Ok(out)
}
