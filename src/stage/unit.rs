//! Units of work and their group commit.
//!
//! A handler does its reads and its computing outside any transaction, then hands the writes of
//! the unit ([`Effects`]) to [`Unit::commit`]. The stage's [`UnitWriter`] writes the units that
//! are waiting together in one transaction: each unit inside its own savepoint, with its inbox
//! record and its outbox events, and one commit for all of them. A unit whose writes fail is
//! rolled back to its savepoint and gets its own error; the others commit. Every caller returns
//! only after the commit that holds its unit, so what a stage relies on (effects, inbox record
//! and events durable together before the ack) is unchanged. Under load, N waiting units cost
//! one commit (one fsync, and on SQLite one turn at the write gate) instead of N. On SQLite a
//! batch ends at the next unit boundary when an intake write waits for the writer, so a batch
//! never holds up a webhook's answer by more than one unit's writes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use sqlx::AnyConnection;
use tokio::sync::{mpsc, oneshot};

use super::StageError;
use crate::model::Envelope;
use crate::store::{Dialect, Store, StoreError, Tx};

/// Most units one batch transaction holds.
const MAX_BATCH: usize = 64;

/// The writes of one unit of work.
#[async_trait]
pub trait Effects: Send + 'static {
    /// Writes the unit's effects on `tx` and emits its events. Called once, inside the batch
    /// transaction, after the unit's inbox record; an error undoes only this unit's writes.
    async fn write(&mut self, tx: &mut UnitTx<'_>) -> Result<(), StageError>;
}

/// Where a unit's effects are written.
pub struct UnitTx<'a> {
    conn: &'a mut AnyConnection,
    cause: &'a str,
    events: Vec<Envelope>,
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

    /// Queues an event to publish once the unit commits.
    pub fn emit(&mut self, event: Envelope) {
        self.events.push(event);
    }
}

/// The handle a handler gets for one message.
pub struct Unit<'a> {
    pub(super) store: &'a Store,
    pub(super) writer: &'a UnitWriter,
    pub(super) consumer: &'a str,
    pub(super) message_id: String,
    pub(super) cause: String,
}

impl Unit<'_> {
    /// The store, for reads before the commit.
    pub fn store(&self) -> &Store {
        self.store
    }

    /// Who caused what this unit writes, for the audit trail.
    pub fn cause(&self) -> &str {
        &self.cause
    }

    /// Records the message in the inbox, writes `effects` and queues their events in the outbox,
    /// in one transaction with whatever other units are waiting (see [`UnitWriter::commit`]).
    pub async fn commit(self, effects: impl Effects) -> Result<Committed, StageError> {
        self.writer
            .commit(self.consumer, &self.message_id, &self.cause, effects)
            .await
    }
}

/// Proof that a unit committed; only the [`UnitWriter`] makes one.
#[derive(Debug)]
pub struct Committed {
    pub(super) events: Vec<Envelope>,
    pub(super) duplicate: bool,
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
    pub fn start(store: &Store) -> Self {
        let lanes = match store.dialect() {
            Dialect::Sqlite => 1,
            Dialect::Postgres => (store.pool().options().get_max_connections() as usize / 2).max(1),
        };
        Self::with_lanes(store, lanes)
    }

    /// As [`UnitWriter::start`], with `lanes` batches written at once.
    pub fn with_lanes(store: &Store, lanes: usize) -> Self {
        let (jobs, rx) = mpsc::unbounded_channel();
        let rx = Arc::new(tokio::sync::Mutex::new(rx));
        let commits = Arc::new(AtomicU64::new(0));
        for _ in 0..lanes.max(1) {
            tokio::spawn(lane(store.clone(), rx.clone(), commits.clone()));
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
        let (reply, answer) = oneshot::channel();
        let job = Job {
            consumer: consumer.to_string(),
            message_id: message_id.to_string(),
            cause: cause.to_string(),
            effects: Box::new(effects),
            reply,
        };
        let stopped = || StageError::transient("store", "the stage's unit writer has stopped");
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

async fn lane(
    store: Store,
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
        let (committed, rest) = write_batch(&store, jobs).await;
        if committed {
            commits.fetch_add(1, Ordering::Relaxed);
        }
        carried = rest;
    }
}

/// Writes and commits one batch and answers its callers; says whether it committed, and gives
/// back the units it did not get to. A batch ends early when an urgent writer (intake, which
/// a caller outside waits on) waits for SQLite's writer, or when the transaction broke; every
/// batch answers at least one unit.
async fn write_batch(store: &Store, mut jobs: Vec<Job>) -> (bool, Vec<Job>) {
    let mut tx = match store.begin().await {
        Ok(tx) => tx,
        Err(e) => {
            let err = StageError::from(e);
            for job in jobs {
                let _ = job.reply.send(Err(err.clone()));
            }
            return (false, Vec::new());
        }
    };
    // One unit alone needs no savepoint: its failure rolls back the transaction.
    let savepoints = jobs.len() > 1;
    let mut outcomes = Vec::with_capacity(jobs.len());
    let mut broken: Option<StageError> = None;
    while outcomes.len() < jobs.len() {
        if !outcomes.is_empty() && store.urgent_writers_waiting() {
            break;
        }
        let job = &mut jobs[outcomes.len()];
        match write_unit(&mut tx, job, savepoints).await {
            Ok(outcome) => outcomes.push(outcome),
            Err(err) => {
                outcomes.push(Err(err.clone()));
                broken = Some(err);
                break;
            }
        }
    }
    let rest = jobs.split_off(outcomes.len());
    let n = jobs.len();
    let undone = match broken {
        Some(err) => Some(err),
        None if !savepoints => outcomes.first().and_then(|o| o.as_ref().err().cloned()),
        None => None,
    };
    let failed = match undone {
        Some(err) => {
            if let Err(e) = tx.rollback().await {
                tracing::warn!(error = %e, "Rolling back a failed unit batch failed; its units are answered with the error and retried.");
            }
            Some(err)
        }
        None => tx.commit().await.err().map(|e| {
            StageError::transient(
                "store",
                format!("commit of a batch of {n} unit(s) failed: {e}"),
            )
        }),
    };
    let committed = failed.is_none();
    for (job, outcome) in jobs.into_iter().zip(outcomes) {
        // A unit that failed keeps its own error; one that wrote but was not committed gets
        // the batch's.
        let answer = match (&failed, outcome) {
            (Some(err), Ok(_)) => Err(err.clone()),
            (_, outcome) => outcome,
        };
        let _ = job.reply.send(answer);
    }
    (committed, rest)
}

/// Writes one unit, inside a savepoint when `savepoint`. The outer error means the transaction
/// cannot go on; the inner result is the unit's own.
async fn write_unit(
    tx: &mut Tx,
    job: &mut Job,
    savepoint: bool,
) -> Result<Result<Committed, StageError>, StageError> {
    if savepoint {
        execute(tx, "SAVEPOINT og_unit").await?;
    }
    let outcome = apply(tx, job).await;
    if savepoint {
        if outcome.is_err() {
            execute(tx, "ROLLBACK TO SAVEPOINT og_unit").await?;
        }
        execute(tx, "RELEASE SAVEPOINT og_unit").await?;
    }
    Ok(outcome)
}

async fn apply(conn: &mut AnyConnection, job: &mut Job) -> Result<Committed, StageError> {
    if !Store::inbox_record(conn, &job.consumer, &job.message_id).await? {
        return Ok(Committed {
            events: Vec::new(),
            duplicate: true,
        });
    }
    let mut unit = UnitTx {
        conn: &mut *conn,
        cause: &job.cause,
        events: Vec::new(),
    };
    job.effects.write(&mut unit).await?;
    let events = unit.events;
    Store::outbox_insert(conn, &events).await?;
    Ok(Committed {
        events,
        duplicate: false,
    })
}

async fn execute(conn: &mut AnyConnection, sql: &'static str) -> Result<(), StageError> {
    sqlx::query(sql)
        .execute(conn)
        .await
        .map_err(|e| StageError::from(StoreError::from(e)))?;
    Ok(())
}
