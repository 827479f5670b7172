//! Units of work and their group commit.
//!
//! A handler does its reads and its computing outside any transaction, then hands the writes of
//! the unit ([`Effects`]) to [`Unit::commit`]. The stage's [`UnitWriter`] writes the units that
//! are waiting together in one transaction: their effects one after the other, then all their
//! inbox records in one statement and all their outbox events in another, and one commit. A
//! unit whose effects fail, or whose message the inbox already has, is answered on its own
//! (its error, or duplicate) and the batch is written again without it; the others commit.
//! Every caller returns only after the commit that holds its unit, so what a stage relies on
//! (effects, inbox record and events durable together before the ack) is unchanged. Under load,
//! N waiting units cost one commit (one fsync, and on SQLite one turn at the write gate) instead
//! of N, and two statements for their inbox and outbox rows instead of 2N. On SQLite a batch ends
//! at the next unit boundary when an intake write waits for the writer, so a batch never holds
//! up a webhook's answer by more than one unit's writes.
//!
//! When the bus's queues are rows of the same store (the embedded bus, [`InStore`]), the batch
//! inserts the units' events into their queues and deletes their deliveries' rows itself, in
//! the same transaction, instead of queueing the events in the outbox for the runner to publish
//! and ack afterwards: the commit that makes a unit's effects durable publishes its events and
//! settles its message, all or nothing, in one write turn instead of four.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use futures_util::FutureExt;
use sqlx::AnyConnection;
use tokio::sync::{mpsc, oneshot};

use super::StageError;
use crate::bus::{Bus, InStore};
use crate::model::Envelope;
use crate::store::{Dialect, Store, Tx};

/// Most units one batch transaction holds.
const MAX_BATCH: usize = 64;

/// The writes of one unit of work.
#[async_trait]
pub trait Effects: Send + 'static {
    /// Writes the unit's effects on `tx` and emits its events, inside the batch transaction.
    /// An error rolls the batch back and the others are written again without this unit, so
    /// `write` may be called again (on a fresh transaction, after a rollback): it must write the
    /// same effects each time.
    async fn write(&mut self, tx: &mut UnitTx<'_>) -> Result<(), StageError>;
}

/// Where a unit's effects are written.
pub struct UnitTx<'a> {
    conn: &'a mut AnyConnection,
    cause: &'a str,
    events: Vec<Envelope>,
    bus: Option<&'a dyn Bus>,
}

impl UnitTx<'_> {
    /// The connection to write effects with (inside the batch transaction).
    pub fn conn(&mut self) -> &mut AnyConnection {
        self.conn
    }

    /// Who caused what this unit writes, for the audit trail.
    pub fn cause(&self) -> &str {
        self.cause
    }

    /// Queues an event to publish once the unit commits; one no queue wants under the
    /// topology in force ([`Bus::wanted`]) is dropped here, so it costs neither an outbox row
    /// nor a publish.
    pub fn emit(&mut self, event: Envelope) {
        if self.bus.is_none_or(|b| b.wanted(&event.kind)) {
            self.events.push(event);
        }
    }
}

/// The handle a handler gets for one message.
pub struct Unit<'a> {
    pub(super) store: &'a Store,
    pub(super) writer: &'a UnitWriter,
    pub(super) consumer: &'a str,
    pub(super) message_id: String,
    pub(super) cause: String,
    /// The delivery's `(seq, lease token)` when its queue is in the store.
    pub(super) lease: Option<(i64, String)>,
}

impl Unit<'_> {
    /// The store, for reads before the commit.
    pub fn store(&self) -> &Store {
        self.store
    }

    /// Records the message in the inbox, writes `effects` and queues their events in the outbox,
    /// in one transaction with whatever other units are waiting (see [`UnitWriter::commit`]).
    pub async fn commit(self, effects: impl Effects) -> Result<Committed, StageError> {
        self.writer
            .commit_settling(
                self.consumer,
                &self.message_id,
                &self.cause,
                self.lease,
                effects,
            )
            .await
    }

    /// Acknowledges a message the handler has nothing to write for (no effects, no events),
    /// without a transaction and without an inbox record: a redelivery decides the same
    /// nothing again, so there is nothing to deduplicate. Only for a decision that never
    /// depends on what an earlier copy of the message did.
    pub fn nothing(self) -> Committed {
        Committed {
            events: Vec::new(),
            duplicate: false,
            published: false,
            settled: false,
        }
    }
}

/// Proof that a unit committed; only the [`UnitWriter`] makes one.
#[derive(Debug)]
pub struct Committed {
    pub(super) events: Vec<Envelope>,
    pub(super) duplicate: bool,
    /// The events are in their queues already (written by the commit, [`InStore`]).
    pub(super) published: bool,
    /// The delivery's row was deleted by the commit: nothing is left to ack.
    pub(super) settled: bool,
}

impl Committed {
    /// The events committed to the outbox.
    pub fn events(&self) -> &[Envelope] {
        &self.events
    }

    /// True when the message had been applied before and nothing was written.
    pub fn duplicate(&self) -> bool {
        self.duplicate
    }
}

struct Job {
    consumer: String,
    message_id: String,
    cause: String,
    lease: Option<(i64, String)>,
    effects: Box<dyn Effects>,
    reply: oneshot::Sender<Result<Committed, StageError>>,
}

/// A stage's group-committing writer: `lanes` tasks, each writing one batch at a time on its
/// own connection. Dropping the last handle stops the tasks once their batch is done.
pub struct UnitWriter {
    jobs: mpsc::UnboundedSender<Job>,
    commits: Arc<AtomicU64>,
}

impl UnitWriter {
    /// Starts the writer's tasks (inside the current runtime). SQLite has one writer, so one
    /// lane; PostgreSQL gets half the pool (the other half serves the reads before commits).
    /// When `bus` keeps its queues in the store, batches publish and ack in their transaction.
    /// Events no queue of `bus` wants are not published.
    pub fn start(store: &Store, bus: Arc<dyn Bus>) -> Self {
        let lanes = match store.dialect() {
            Dialect::Sqlite => 1,
            Dialect::Postgres => (store.pool().options().get_max_connections() as usize / 2).max(1),
        };
        let out = Out {
            in_store: bus.in_store(),
            bus: Some(bus),
        };
        Self::spawn(store, lanes, out)
    }

    /// As [`UnitWriter::start`], with `lanes` batches written at once, every event to the
    /// outbox.
    pub fn with_lanes(store: &Store, lanes: usize) -> Self {
        Self::spawn(store, lanes, Out::default())
    }

    fn spawn(store: &Store, lanes: usize, out: Out) -> Self {
        let (jobs, rx) = mpsc::unbounded_channel();
        let rx = Arc::new(tokio::sync::Mutex::new(rx));
        let commits = Arc::new(AtomicU64::new(0));
        for _ in 0..lanes.max(1) {
            tokio::spawn(lane(
                store.clone(),
                out.clone(),
                rx.clone(),
                commits.clone(),
            ));
        }
        Self { jobs, commits }
    }

    /// Records `message_id` in `consumer`'s inbox, writes `effects` and queues their events, in
    /// one transaction with whatever other units are waiting; returns once it is committed. A
    /// message already in the inbox writes nothing and comes back as a duplicate.
    pub async fn commit(
        &self,
        consumer: &str,
        message_id: &str,
        cause: &str,
        effects: impl Effects,
    ) -> Result<Committed, StageError> {
        self.commit_settling(consumer, message_id, cause, None, effects)
            .await
    }

    /// As [`UnitWriter::commit`]; with the delivery's `lease` (its queue in the store), the
    /// commit deletes the delivery's row too ([`Committed::settled`]).
    async fn commit_settling(
        &self,
        consumer: &str,
        message_id: &str,
        cause: &str,
        lease: Option<(i64, String)>,
        effects: impl Effects,
    ) -> Result<Committed, StageError> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            consumer: consumer.to_string(),
            message_id: message_id.to_string(),
            cause: cause.to_string(),
            lease,
            effects: Box::new(effects),
            reply,
        };
        let stopped = || {
            StageError::transient(
                "store",
                "the stage's unit writer dropped the unit unanswered",
            )
        };
        self.jobs.send(job).map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// Batch transactions committed so far.
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }
}

impl std::fmt::Debug for UnitWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnitWriter")
            .field("commits", &self.commits())
            .finish()
    }
}

/// Where a writer's events go: into the store's queues in the batch's transaction (the
/// embedded bus) or to the outbox, and which of them (those `bus` wants; all without one).
#[derive(Clone, Default)]
struct Out {
    in_store: Option<InStore>,
    bus: Option<Arc<dyn Bus>>,
}

async fn lane(
    store: Store,
    out: Out,
    rx: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Job>>>,
    commits: Arc<AtomicU64>,
) {
    // Units a batch left unwritten (it ended early): first in the next batch.
    let mut carried: Vec<Job> = Vec::new();
    loop {
        // Whatever queued while this lane's previous batch ran is the next batch.
        let jobs = {
            let mut rx = rx.lock().await;
            let mut jobs = std::mem::take(&mut carried);
            if jobs.is_empty() {
                let Some(first) = rx.recv().await else { return };
                jobs.push(first);
            }
            while jobs.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(job) => jobs.push(job),
                    Err(_) => break,
                }
            }
            jobs
        };
        // A panic in a unit's effects must not take the lane (and with it the stage) down: its
        // batch's callers see their answer dropped, an error they retry, and the lane goes on.
        match std::panic::AssertUnwindSafe(write_batch(&store, &out, jobs))
            .catch_unwind()
            .await
        {
            Ok((committed, rest)) => {
                if committed {
                    commits.fetch_add(1, Ordering::Relaxed);
                }
                carried = rest;
            }
            Err(_) => {
                tracing::error!("A unit batch panicked; its units are retried.");
            }
        }
    }
}

/// Times a batch is written again after a unit in it failed or turned out a duplicate; past
/// that, the units left are answered with the last error (and retried by their stage).
const MAX_REWRITES: usize = 3;

/// Writes and commits one batch and answers its callers; says whether it committed, and gives
/// back the units it did not get to.
///
/// The effects of the units are written one after the other, then their inbox records in one
/// statement and their events in another, then one commit. Failures are rare, so they cost a
/// rewrite instead of a savepoint per unit: when a unit's effects fail, or its inbox record shows
/// the message was applied before, the transaction is rolled back, that unit is answered (its
/// error, or duplicate) and the batch is written again without it. A batch ends early, at a unit
/// boundary, when an urgent writer (intake, which a caller outside waits on) waits for SQLite's
/// writer; the units it did not reach go in the next batch.
async fn write_batch(store: &Store, out: &Out, mut jobs: Vec<Job>) -> (bool, Vec<Job>) {
    let mut rewrites = 0;
    loop {
        let (n, result) = write_once(store, out, &mut jobs).await;
        match result {
            Attempt::Committed(events) => {
                let rest = jobs.split_off(n);
                for (job, events) in jobs.into_iter().zip(events) {
                    let _ = job.reply.send(Ok(Committed {
                        events,
                        duplicate: false,
                        published: out.in_store.is_some(),
                        settled: out.in_store.is_some() && job.lease.is_some(),
                    }));
                }
                return (true, rest);
            }
            Attempt::Failed(err) => {
                // Nothing of the first `n` is committed; the rest were not reached.
                let rest = jobs.split_off(n);
                for job in jobs {
                    let _ = job.reply.send(Err(err.clone()));
                }
                return (false, rest);
            }
            Attempt::Drop(answers) => {
                // Answer the units that cannot be in the batch, write the others again.
                let mut answers = answers.into_iter().peekable();
                let mut kept = Vec::with_capacity(jobs.len());
                for (i, job) in jobs.into_iter().enumerate() {
                    match answers.next_if(|(at, _)| *at == i) {
                        Some((_, answer)) => {
                            let _ = job.reply.send(answer);
                        }
                        None => kept.push(job),
                    }
                }
                jobs = kept;
                rewrites += 1;
                if jobs.is_empty() {
                    return (false, Vec::new());
                }
                if rewrites > MAX_REWRITES {
                    let err = StageError::transient(
                        "store",
                        format!("a batch of units failed {rewrites} times; its units are retried"),
                    );
                    for job in jobs {
                        let _ = job.reply.send(Err(err.clone()));
                    }
                    return (false, Vec::new());
                }
            }
        }
    }
}

/// How one write of a batch went.
enum Attempt {
    /// The first n units committed; their events, in order.
    Committed(Vec<Vec<Envelope>>),
    /// Nothing committed; the first n units get this error.
    Failed(StageError),
    /// Rolled back: these units (index, answer) leave the batch, the rest are written again.
    Drop(Vec<(usize, Result<Committed, StageError>)>),
}

/// Writes the batch once: the effects of as many units as it reaches, their inbox records, their
/// events, commit. Returns how many units it covered.
async fn write_once(store: &Store, out: &Out, jobs: &mut [Job]) -> (usize, Attempt) {
    let mut tx = match store.begin().await {
        Ok(tx) => tx,
        Err(e) => return (jobs.len(), Attempt::Failed(StageError::from(e))),
    };
    let mut events = Vec::with_capacity(jobs.len());
    for (i, job) in jobs.iter_mut().enumerate() {
        if i > 0 && store.urgent_writers_waiting() {
            break;
        }
        let mut unit = UnitTx {
            conn: &mut tx,
            cause: &job.cause,
            events: Vec::new(),
            bus: out.bus.as_deref(),
        };
        match job.effects.write(&mut unit).await {
            Ok(()) => events.push(unit.events),
            Err(err) => {
                rollback(tx).await;
                return (i + 1, Attempt::Drop(vec![(i, Err(err))]));
            }
        }
    }
    let n = events.len();
    let pairs: Vec<(&str, &str)> = jobs[..n]
        .iter()
        .map(|j| (j.consumer.as_str(), j.message_id.as_str()))
        .collect();
    let fresh = match Store::inbox_record_many(&mut tx, &pairs).await {
        Ok(fresh) => fresh,
        Err(e) => {
            rollback(tx).await;
            return (n, Attempt::Failed(StageError::from(e)));
        }
    };
    let duplicates: Vec<_> = fresh
        .iter()
        .enumerate()
        .filter(|(_, new)| !**new)
        .map(|(i, _)| {
            let answer = Ok(Committed {
                events: Vec::new(),
                duplicate: true,
                published: false,
                settled: false,
            });
            (i, answer)
        })
        .collect();
    if !duplicates.is_empty() {
        // A redelivery raced us: its effects must not stay.
        rollback(tx).await;
        return (n, Attempt::Drop(duplicates));
    }
    let all: Vec<&Envelope> = events.iter().flatten().collect();
    let mut woken = Vec::new();
    let published = match &out.in_store {
        Some(queues) => {
            let settled: Vec<(i64, &str)> = jobs[..n]
                .iter()
                .filter_map(|j| j.lease.as_ref().map(|(seq, token)| (*seq, token.as_str())))
                .collect();
            match queues.write(&mut tx, &all, &settled).await {
                Ok(written) => {
                    woken = written;
                    Ok(())
                }
                Err(e) => Err(StageError::from(crate::store::StoreError::from(e))),
            }
        }
        None => Store::outbox_insert(&mut tx, &all)
            .await
            .map_err(StageError::from),
    };
    if let Err(e) = published {
        rollback(tx).await;
        return (n, Attempt::Failed(e));
    }
    match tx.commit().await {
        Ok(()) => {
            if let Some(queues) = &out.in_store {
                queues.wake(&woken);
            }
            (n, Attempt::Committed(events))
        }
        Err(e) => (
            n,
            Attempt::Failed(StageError::transient(
                "store",
                format!("commit of a batch of {n} unit(s) failed: {e}"),
            )),
        ),
    }
}

async fn rollback(tx: Tx) {
    if let Err(e) = tx.rollback().await {
        tracing::warn!(error = %e, "Rolling back a unit batch failed; its units are answered and written again or retried.");
    }
}
