//! The embedded bus: a durable queue in the store's `bus_messages` table, so the standalone
//! profile runs the whole pipeline with no broker.
//!
//! A publish inserts one row per bound queue and is durable when it commits. A consumer claims
//! ready rows with a lease token; ack deletes the row, retry rewrites it with a later
//! `visible_at`, and a consumer that dies simply lets its lease run out. Consumers in the same
//! process are woken at once by their queue's [`Notify`] (a publish wakes only the consumers of
//! the queues it wrote to); others find work by polling. A consumer looks for ready rows with a
//! read before it claims: a claim is a write transaction, and SQLite has one writer, which an
//! empty claim would hold for nothing.
//!
//! Because the queues are rows of the store the stages write to, a stage's unit of work
//! publishes its events and settles its delivery in its own transaction ([`InStore`]): the
//! events go straight into their queues instead of the outbox (the outbox exists to make a
//! publish to another system atomic with the effects; here the publish *is* a row of the same
//! transaction), and the delivery's row is deleted with them. One commit then does what took
//! four write transactions (unit, publish, outbox delete, ack).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::{AnyConnection, Row};
use tokio::sync::Notify;

use super::{
    unreadable_envelope, Acker, Bus, BusError, Consumer, DeadLetter, Delivery, KeepDeadLetter,
    Topology,
};
use crate::model::Envelope;
use crate::store::group::{BatchFuture, GroupError, Grouped};
use crate::store::{now_ms, value_rows, Store, Tx, ROWS_PER_STATEMENT};

/// Settings of the embedded bus.
#[derive(Debug, Clone)]
pub struct EmbeddedSettings {
    /// How often an idle consumer looks for rows another process inserted.
    pub poll_interval: Duration,
    /// How long a claimed delivery stays owned by a consumer that does not settle it.
    pub lease: Duration,
}

impl Default for EmbeddedSettings {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_millis(250),
            lease: Duration::from_secs(60),
        }
    }
}

/// The store-backed bus.
#[derive(Clone)]
pub struct EmbeddedBus {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    /// Publishes of concurrent callers, grouped into one transaction per batch.
    inserts: Grouped<Store, (Vec<NewRow>, i64), ()>,
    /// Acks of concurrent consumers, grouped likewise; each answers whether its row was there.
    acks: Grouped<Store, (i64, String), bool>,
    topology: std::sync::RwLock<Topology>,
    settings: EmbeddedSettings,
    /// One wake-up per queue, for the consumers of this process.
    wakers: std::sync::Mutex<HashMap<String, Arc<Notify>>>,
    closed: tokio_util::sync::CancellationToken,
}

impl EmbeddedBus {
    /// A bus on `store` with `topology`.
    pub fn new(store: Store, topology: Topology, settings: EmbeddedSettings) -> Self {
        Self {
            inner: Arc::new(Inner {
                inserts: Grouped::new(store.clone(), GROUP, insert_batch),
                acks: Grouped::new(store.clone(), GROUP, ack_batch),
                store,
                topology: std::sync::RwLock::new(topology),
                settings,
                wakers: std::sync::Mutex::new(HashMap::new()),
                closed: tokio_util::sync::CancellationToken::new(),
            }),
        }
    }

    /// The wake-up of `queue`'s consumers.
    fn waker(&self, queue: &str) -> Arc<Notify> {
        let mut wakers = self.inner.wakers.lock().unwrap_or_else(|e| e.into_inner());
        wakers.entry(queue.to_string()).or_default().clone()
    }

    /// Wakes the consumers of `queue` in this process.
    fn wake(&self, queue: &str) {
        self.waker(queue).notify_waiters();
    }

    fn topology(&self) -> Topology {
        match self.inner.topology.read() {
            Ok(t) => t.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Inserts `(queue, envelope)` rows visible from `visible_at`, in one transaction (shared
    /// with concurrent publishers); returns once they are committed.
    async fn insert(&self, rows: &[(&str, &Envelope)], visible_at: i64) -> Result<(), BusError> {
        let mut queues: Vec<&str> = rows.iter().map(|(queue, _)| *queue).collect();
        queues.sort_unstable();
        queues.dedup();
        let rows = new_rows(rows);
        self.inner
            .inserts
            .submit((rows, visible_at))
            .await
            .map_err(|e| BusError::Other(e.to_string()))?;
        for queue in queues {
            self.wake(queue);
        }
        Ok(())
    }
}

/// The `(queue, envelope)` rows a publish of `messages` writes: one per bound queue, or the
/// unrouted queue for a message no queue is bound to; none for one the configuration
/// wants nowhere ([`Topology::wanted`]).
fn routed<'a>(
    topology: &'a Topology,
    messages: &'a [&'a Envelope],
) -> Vec<(&'a str, &'a Envelope)> {
    let mut rows = Vec::with_capacity(messages.len());
    for env in messages {
        let before = rows.len();
        rows.extend(topology.route(&env.kind).map(|q| (q.name.as_str(), *env)));
        if rows.len() == before && topology.wanted(&env.kind) {
            rows.push((topology.unrouted_queue.as_str(), *env));
        }
    }
    rows
}

fn new_rows(rows: &[(&str, &Envelope)]) -> Vec<NewRow> {
    rows.iter()
        .map(|(queue, env)| NewRow {
            queue: queue.to_string(),
            message_id: env.id.to_string(),
            body: String::from_utf8_lossy(&env.to_bytes()).into_owned(),
        })
        .collect()
}

/// The embedded bus as a stage's unit transaction uses it: publishes and acks written on the
/// unit's own connection, so they commit (or roll back) with its effects.
#[derive(Clone)]
pub struct InStore {
    bus: EmbeddedBus,
}

impl std::fmt::Debug for InStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InStore")
    }
}

impl InStore {
    /// Inserts `events` into the queues bound to them and deletes the rows of the deliveries
    /// `settled` (`(seq, lease token)`; a row whose lease moved on to another consumer stays,
    /// and that consumer's inbox finds it applied), on `conn`, inside the caller's transaction.
    /// Returns the queues written to, to [`InStore::wake`] once the transaction committed.
    pub(crate) async fn write(
        &self,
        conn: &mut AnyConnection,
        events: &[&Envelope],
        settled: &[(i64, &str)],
    ) -> Result<Vec<String>, sqlx::Error> {
        let topology = self.bus.topology();
        let rows = routed(&topology, events);
        let mut queues: Vec<String> = rows.iter().map(|(q, _)| q.to_string()).collect();
        queues.sort_unstable();
        queues.dedup();
        let rows = new_rows(&rows);
        let now = now_ms();
        let rows: Vec<(&NewRow, i64)> = rows.iter().map(|r| (r, now)).collect();
        insert_rows(conn, &rows, now).await?;
        delete_leased(conn, settled).await?;
        Ok(queues)
    }

    /// Wakes the consumers of `queues` (after the commit that wrote to them).
    pub(crate) fn wake(&self, queues: &[String]) {
        for queue in queues {
            self.bus.wake(queue);
        }
    }
}

/// A write transaction at the process's write gate (see `store::gate`): every write of the bus
/// waits its turn there instead of polling for SQLite's lock in its busy handler (sleeps of up
/// to 100 ms, which both it and the gated writers it collides with would pay).
async fn begin_write(store: &Store) -> Result<Tx, BusError> {
    store
        .begin()
        .await
        .map_err(|e| BusError::Other(e.to_string()))
}

/// Most callers whose writes share one transaction.
const GROUP: usize = 256;

/// A message row about to be inserted.
struct NewRow {
    queue: String,
    message_id: String,
    body: String,
}

fn insert_batch(store: Store, batch: Vec<(Vec<NewRow>, i64)>) -> BatchFuture<()> {
    Box::pin(async move {
        let n = batch.len();
        let rows: Vec<(&NewRow, i64)> = batch
            .iter()
            .flat_map(|(rows, visible_at)| rows.iter().map(move |row| (row, *visible_at)))
            .collect();
        let run = async {
            let mut tx = store.begin().await?;
            insert_rows(&mut tx, &rows, now_ms()).await?;
            tx.commit().await?;
            Ok::<_, GroupError>(())
        };
        run.await?;
        Ok(vec![(); n])
    })
}

/// Inserts message rows `(row, visible_at)` enqueued `now`, on `conn`.
async fn insert_rows(
    conn: &mut AnyConnection,
    rows: &[(&NewRow, i64)],
    now: i64,
) -> Result<(), sqlx::Error> {
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO bus_messages (queue, message_id, body, visible_at, enqueued_at) \
             VALUES {}",
            value_rows(chunk.len(), 5)
        );
        // Only numbered placeholders are interpolated; the values are bound.
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (row, visible_at) in chunk {
            q = q
                .bind(row.queue.as_str())
                .bind(row.message_id.as_str())
                .bind(row.body.as_str())
                .bind(*visible_at)
                .bind(now);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Deletes the rows `(seq, lease token)` whose lease the token still holds, on `conn`; returns
/// the pairs deleted.
async fn delete_leased(
    conn: &mut AnyConnection,
    leased: &[(i64, &str)],
) -> Result<std::collections::HashSet<(i64, String)>, sqlx::Error> {
    let mut gone = std::collections::HashSet::new();
    for chunk in leased.chunks(ROWS_PER_STATEMENT) {
        // A row goes only if this consumer still holds its lease.
        let terms: Vec<String> = (0..chunk.len())
            .map(|i| format!("(seq = ${} AND lease_token = ${})", 2 * i + 1, 2 * i + 2))
            .collect();
        let sql = format!(
            "DELETE FROM bus_messages WHERE {} RETURNING seq, lease_token",
            terms.join(" OR ")
        );
        // Only numbered placeholders are interpolated; the values are bound.
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (seq, token) in chunk {
            q = q.bind(*seq).bind(*token);
        }
        for row in q.fetch_all(&mut *conn).await? {
            let seq: i64 = row.try_get("seq")?;
            let token: String = row.try_get("lease_token")?;
            gone.insert((seq, token));
        }
    }
    Ok(gone)
}

fn ack_batch(store: Store, batch: Vec<(i64, String)>) -> BatchFuture<bool> {
    Box::pin(async move {
        let mut tx = store.begin().await?;
        let leased: Vec<(i64, &str)> = batch.iter().map(|(s, t)| (*s, t.as_str())).collect();
        let mut gone = delete_leased(&mut tx, &leased).await?;
        tx.commit().await?;
        // A deleted row answers the ack that held its lease (the first, if it came twice); an
        // ack whose lease moved on to another consumer finds nothing.
        Ok(batch
            .iter()
            .map(|(seq, token)| gone.remove(&(*seq, token.clone())))
            .collect())
    })
}

#[async_trait]
impl Bus for EmbeddedBus {
    fn kind(&self) -> &'static str {
        "embedded"
    }

    async fn declare(&self, topology: &Topology) -> Result<(), BusError> {
        // Queues are rows, not objects: declaring only records the bindings used for routing.
        match self.inner.topology.write() {
            Ok(mut t) => *t = topology.clone(),
            Err(poisoned) => *poisoned.into_inner() = topology.clone(),
        }
        Ok(())
    }

    fn wanted(&self, kind: &str) -> bool {
        match self.inner.topology.read() {
            Ok(t) => t.wanted(kind),
            Err(poisoned) => poisoned.into_inner().wanted(kind),
        }
    }

    async fn publish(&self, messages: &[Envelope]) -> Result<(), BusError> {
        if messages.is_empty() {
            return Ok(());
        }
        let topology = self.topology();
        let messages: Vec<&Envelope> = messages.iter().collect();
        let rows = routed(&topology, &messages);
        if rows.is_empty() {
            return Ok(());
        }
        self.insert(&rows, now_ms()).await
    }

    async fn send_to_queue(&self, queue: &str, message: &Envelope) -> Result<(), BusError> {
        self.insert(&[(queue, message)], now_ms()).await
    }

    async fn consume(&self, queue: &str, prefetch: u16) -> Result<Box<dyn Consumer>, BusError> {
        let (tx, rx) = tokio::sync::mpsc::channel::<Released>(1024);
        Ok(Box::new(EmbeddedConsumer {
            bus: self.clone(),
            queue: queue.to_string(),
            token: uuid::Uuid::new_v4().to_string(),
            prefetch: usize::from(prefetch.max(1)),
            buffered: VecDeque::new(),
            in_flight: Arc::new(std::sync::atomic::AtomicUsize::new(0)),
            released_tx: tx,
            released_rx: rx,
        }))
    }

    async fn depth(&self, queue: &str) -> Result<u64, BusError> {
        let now = now_ms();
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM bus_messages WHERE queue = $1 \
             AND (lease_until IS NULL OR lease_until < $2)",
        )
        .bind(queue)
        .bind(now)
        .fetch_one(self.inner.store.pool())
        .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn ping(&self) -> Result<(), BusError> {
        self.inner
            .store
            .ping()
            .await
            .map_err(|e| BusError::Unavailable(e.to_string()))
    }

    fn in_store(&self) -> Option<InStore> {
        Some(InStore { bus: self.clone() })
    }

    async fn close(&self) {
        // Consumers wait on the token too.
        self.inner.closed.cancel();
    }

    async fn drain_dead_letters(
        &self,
        max: usize,
        keep: KeepDeadLetter<'_>,
    ) -> Result<usize, BusError> {
        let parking = self.topology().parking_queue;
        let pool = self.inner.store.pool();
        let mut kept = 0;
        while kept < max {
            let row = sqlx::query(
                "SELECT seq, body, dead_letter_from, dead_letter_reason FROM bus_messages \
                 WHERE queue = $1 AND lease_token IS NULL ORDER BY seq LIMIT 1",
            )
            .bind(&parking)
            .fetch_optional(pool)
            .await?;
            let Some(row) = row else { break };
            let seq: i64 = row.try_get("seq")?;
            let body: String = row.try_get("body")?;
            let letter = DeadLetter {
                envelope: Envelope::from_bytes(body.as_bytes())
                    .unwrap_or_else(|_| unreadable_envelope(body.as_bytes())),
                queue: row.try_get("dead_letter_from")?,
                reason: row
                    .try_get::<Option<String>, _>("dead_letter_reason")?
                    .unwrap_or_else(|| "set aside by the bus".into()),
            };
            if !keep(letter).await {
                break;
            }
            let mut tx = begin_write(&self.inner.store).await?;
            sqlx::query("DELETE FROM bus_messages WHERE seq = $1")
                .bind(seq)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            kept += 1;
        }
        Ok(kept)
    }
}

/// A settled delivery gives its prefetch slot back.
struct Released;

struct EmbeddedConsumer {
    bus: EmbeddedBus,
    queue: String,
    /// This consumer's lease token: rows it claimed carry it.
    token: String,
    prefetch: usize,
    buffered: VecDeque<Delivery>,
    in_flight: Arc<std::sync::atomic::AtomicUsize>,
    released_tx: tokio::sync::mpsc::Sender<Released>,
    released_rx: tokio::sync::mpsc::Receiver<Released>,
}

impl EmbeddedConsumer {
    /// Whether the queue has a ready row: a read, so that looking costs no write turn.
    async fn ready(&self, now: i64) -> Result<bool, BusError> {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT seq FROM bus_messages WHERE queue = $1 AND visible_at <= $2 \
             AND (lease_until IS NULL OR lease_until < $2) LIMIT 1",
        )
        .bind(&self.queue)
        .bind(now)
        .fetch_optional(self.bus.inner.store.pool())
        .await?;
        Ok(found.is_some())
    }

    /// Claims up to `limit` ready rows (none, without a write, when a read finds none ready).
    /// Rows delivered more than the delivery limit move to the parking queue instead (a consumer
    /// keeps dying on them).
    async fn claim(&mut self, limit: usize) -> Result<(), BusError> {
        let inner = &self.bus.inner;
        let topology = self.bus.topology();
        let now = now_ms();
        if !self.ready(now).await? {
            return Ok(());
        }
        let lease_until = now + inner.settings.lease.as_millis() as i64;
        let mut tx = begin_write(&inner.store).await?;
        let rows = sqlx::query(
            "UPDATE bus_messages SET lease_token = $1, lease_until = $2, \
             delivery_count = delivery_count + 1 \
             WHERE seq IN (SELECT seq FROM bus_messages WHERE queue = $3 AND visible_at <= $4 \
                 AND (lease_until IS NULL OR lease_until < $4) ORDER BY seq LIMIT $5) \
             AND (lease_until IS NULL OR lease_until < $4) \
             RETURNING seq, message_id, body, delivery_count",
        )
        .bind(&self.token)
        .bind(lease_until)
        .bind(&self.queue)
        .bind(now)
        .bind(limit as i64)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let mut rows: Vec<(i64, String, String, i64)> = rows
            .into_iter()
            .map(|r| {
                Ok((
                    r.try_get("seq")?,
                    r.try_get("message_id")?,
                    r.try_get("body")?,
                    r.try_get("delivery_count")?,
                ))
            })
            .collect::<Result<_, sqlx::Error>>()?;
        rows.sort_by_key(|r| r.0);
        for (seq, message_id, body, deliveries) in rows {
            let envelope = match Envelope::from_bytes(body.as_bytes()) {
                Ok(e) if deliveries <= i64::from(topology.delivery_limit) => e,
                Ok(_) => {
                    tracing::warn!(queue = %self.queue, message_id = %message_id, deliveries, "Delivery limit reached, moving the message to the parking queue.");
                    let reason = format!(
                        "delivered {deliveries} times without being settled (delivery limit)"
                    );
                    self.move_to_parking(seq, &topology.parking_queue, &reason)
                        .await?;
                    continue;
                }
                Err(error) => {
                    tracing::warn!(queue = %self.queue, message_id = %message_id, error = %error, "Message is not an envelope, moving it to the parking queue.");
                    let reason = format!("not an envelope: {error}");
                    self.move_to_parking(seq, &topology.parking_queue, &reason)
                        .await?;
                    continue;
                }
            };
            self.in_flight
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.buffered.push_back(Delivery {
                envelope,
                redelivered: deliveries > 1,
                acker: Box::new(EmbeddedAcker {
                    bus: self.bus.clone(),
                    queue: self.queue.clone(),
                    seq,
                    token: self.token.clone(),
                    released: self.released_tx.clone(),
                }),
            });
        }
        Ok(())
    }

    async fn move_to_parking(&self, seq: i64, parking: &str, reason: &str) -> Result<(), BusError> {
        let mut tx = begin_write(&self.bus.inner.store).await?;
        sqlx::query(
            "UPDATE bus_messages SET queue = $1, lease_token = NULL, lease_until = NULL, \
             delivery_count = 0, dead_letter_from = $2, dead_letter_reason = $3 WHERE seq = $4",
        )
        .bind(parking)
        .bind(&self.queue)
        .bind(reason)
        .bind(seq)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// How many free prefetch slots a consumer with deliveries in flight waits for before it
/// claims again.
fn claim_together(prefetch: usize) -> usize {
    (prefetch / 4).max(1)
}

#[async_trait]
impl Consumer for EmbeddedConsumer {
    async fn next(&mut self) -> Option<Delivery> {
        loop {
            if let Some(d) = self.buffered.pop_front() {
                return Some(d);
            }
            while self.released_rx.try_recv().is_ok() {
                self.in_flight
                    .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            }
            if self.bus.inner.closed.is_cancelled() {
                return None;
            }
            let in_flight = self.in_flight.load(std::sync::atomic::Ordering::SeqCst);
            // While deliveries are in flight, free slots are claimed together once a quarter
            // of the prefetch is free: a claim is a write transaction (a turn at the writer and
            // a commit), and one per settled delivery would cost a commit per message.
            let free = match self.prefetch.saturating_sub(in_flight) {
                free if in_flight > 0 && free < claim_together(self.prefetch) => 0,
                free => free,
            };
            // Register for a wake-up before looking, so a publish between the look and the
            // wait is not missed.
            let waker = self.bus.waker(&self.queue);
            let notified = waker.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if free > 0 {
                if let Err(error) = self.claim(free).await {
                    tracing::warn!(queue = %self.queue, error = %error, "Embedded queue claim failed, retrying.");
                }
                if !self.buffered.is_empty() {
                    continue;
                }
            }
            let poll = self.bus.inner.settings.poll_interval;
            tokio::select! {
                _ = &mut notified, if free > 0 => {}
                released = self.released_rx.recv() => {
                    if released.is_some() {
                        self.in_flight.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                    }
                }
                _ = tokio::time::sleep(poll) => {}
                _ = self.bus.inner.closed.cancelled() => return None,
            }
        }
    }
}

impl Drop for EmbeddedConsumer {
    fn drop(&mut self) {
        // Hand back what this consumer claimed but never settled, so it is delivered again now
        // rather than when the lease runs out. Buffered deliveries are dropped here too.
        let store = self.bus.inner.store.clone();
        let token = self.token.clone();
        let notify_bus = self.bus.clone();
        let queue = self.queue.clone();
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                let r = async {
                    let mut tx = begin_write(&store).await?;
                    sqlx::query(
                        "UPDATE bus_messages SET lease_token = NULL, lease_until = NULL WHERE lease_token = $1",
                    )
                    .bind(&token)
                    .execute(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    Ok::<_, BusError>(())
                }
                .await;
                if let Err(error) = r {
                    if store.pool().is_closed() {
                        // The daemon is stopping: the leases expire and the messages are
                        // delivered again after the next start, as after a crash.
                        tracing::debug!(error = %error, "Store closed before a dropped consumer's deliveries were handed back; their lease will expire.");
                        return;
                    }
                    tracing::warn!(error = %error, "Could not hand back a dropped consumer's deliveries; their lease will expire.");
                }
                notify_bus.wake(&queue);
            });
        }
    }
}

struct EmbeddedAcker {
    bus: EmbeddedBus,
    /// The queue the message came from, whose consumers a requeue wakes.
    queue: String,
    seq: i64,
    token: String,
    released: tokio::sync::mpsc::Sender<Released>,
}

impl Drop for EmbeddedAcker {
    /// Gives the prefetch slot back however the delivery ends: settled, or dropped unsettled
    /// (a panicking handler) — then its lease runs out and it is delivered again.
    fn drop(&mut self) {
        let _ = self.released.try_send(Released);
    }
}

impl EmbeddedAcker {
    fn lost(&self, what: &str) -> BusError {
        BusError::Other(format!(
            "cannot {what} message {}: its lease expired and it was handed to another consumer",
            self.seq
        ))
    }
}

#[async_trait]
impl Acker for EmbeddedAcker {
    fn lease(&self) -> Option<(i64, String)> {
        Some((self.seq, self.token.clone()))
    }

    async fn ack(self: Box<Self>) -> Result<(), BusError> {
        let deleted = self
            .bus
            .inner
            .acks
            .submit((self.seq, self.token.clone()))
            .await
            .map_err(|e| BusError::Other(e.to_string()))?;
        if deleted {
            Ok(())
        } else {
            Err(self.lost("ack"))
        }
    }

    async fn requeue(self: Box<Self>) -> Result<(), BusError> {
        let mut tx = begin_write(&self.bus.inner.store).await?;
        let n = sqlx::query(
            "UPDATE bus_messages SET lease_token = NULL, lease_until = NULL \
             WHERE seq = $1 AND lease_token = $2",
        )
        .bind(self.seq)
        .bind(&self.token)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        self.bus.wake(&self.queue);
        if n == 1 {
            Ok(())
        } else {
            Err(self.lost("requeue"))
        }
    }

    async fn retry(self: Box<Self>, next: Envelope, delay: Duration) -> Result<(), BusError> {
        // One statement replaces the body and delays the row: the retry copy and the ack of the
        // original are the same write.
        let mut tx = begin_write(&self.bus.inner.store).await?;
        let n = sqlx::query(
            "UPDATE bus_messages SET body = $1, visible_at = $2, lease_token = NULL, \
             lease_until = NULL, delivery_count = 0 WHERE seq = $3 AND lease_token = $4",
        )
        .bind(String::from_utf8_lossy(&next.to_bytes()).into_owned())
        .bind(now_ms() + delay.as_millis() as i64)
        .bind(self.seq)
        .bind(&self.token)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        if n == 1 {
            Ok(())
        } else {
            Err(self.lost("retry"))
        }
    }
}
