//! Outbox and inbox: the two tables that make delivery at-least-once with effects exactly once.
//!
//! A stage writes its outgoing events into the outbox in the same transaction as its effects,
//! and the id of the message it handled into the inbox. After commit the events are published
//! and deleted from the outbox; whatever a crash leaves behind is published by the relay.

use std::borrow::Borrow;

use sqlx::{AnyConnection, Row};

use sqlx::AnyPool;

use super::gate::{Urgency, WriteGate};
use super::group::{BatchFuture, Grouped};
use super::{now_ms, Dialect, Store, StoreError, ROWS_PER_STATEMENT};
use crate::model::Envelope;

/// An event waiting to be published.
#[derive(Debug, Clone)]
pub struct OutboxRow {
    pub seq: i64,
    pub envelope: Envelope,
}

impl Store {
    /// Queues events for publishing, in the caller's transaction (one statement per
    /// 100 events). Takes events or references to them.
    pub async fn outbox_insert<E: Borrow<Envelope>>(
        conn: &mut AnyConnection,
        events: &[E],
    ) -> Result<(), StoreError> {
        let now = now_ms();
        for chunk in events.chunks(ROWS_PER_STATEMENT) {
            let mut rows = Vec::with_capacity(chunk.len());
            for e in chunk {
                let e = e.borrow();
                let body = serde_json::to_string(e).map_err(|source| StoreError::Corrupt {
                    what: format!("envelope {}", e.id),
                    source,
                })?;
                rows.push((e.id.to_string(), body));
            }
            let sql = format!(
                "INSERT INTO outbox (envelope_id, envelope, created_at) VALUES {}",
                super::value_rows(rows.len(), 3)
            );
            // Only numbered placeholders are interpolated; the values are bound.
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (id, body) in rows {
                q = q.bind(id).bind(body).bind(now);
            }
            q.execute(&mut *conn).await?;
        }
        Ok(())
    }

    /// Forgets published events. Deletes from concurrent callers are grouped into one
    /// transaction; this returns once this caller's rows are deleted.
    pub async fn outbox_delete(&self, envelope_ids: &[uuid::Uuid]) -> Result<(), StoreError> {
        if envelope_ids.is_empty() {
            return Ok(());
        }
        let ids = envelope_ids.iter().map(|id| id.to_string()).collect();
        self.outbox_deletes
            .submit(ids)
            .await
            .map_err(StoreError::Grouped)
    }

    /// Claims up to `limit` events older than `min_age_ms` that nobody is publishing, for
    /// `lease_ms`. Several daemons can run the relay; a claim keeps them from all publishing the
    /// same row at once (a duplicate would still be harmless).
    pub async fn outbox_claim(
        &self,
        limit: i64,
        min_age_ms: i64,
        lease_ms: i64,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        let now = now_ms();
        let mut tx = self.begin().await?;
        let rows = sqlx::query(
            "SELECT seq, envelope FROM outbox WHERE created_at <= $1 \
             AND (claimed_until IS NULL OR claimed_until < $2) ORDER BY seq LIMIT $3",
        )
        .bind(now - min_age_ms)
        .bind(now)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let seq: i64 = r.try_get("seq")?;
            let body: String = r.try_get("envelope")?;
            let claimed = sqlx::query(
                "UPDATE outbox SET claimed_until = $1 WHERE seq = $2 \
                 AND (claimed_until IS NULL OR claimed_until < $3)",
            )
            .bind(now + lease_ms)
            .bind(seq)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if claimed == 1 {
                let envelope =
                    serde_json::from_str(&body).map_err(|source| StoreError::Corrupt {
                        what: format!("outbox row {seq}"),
                        source,
                    })?;
                out.push(OutboxRow { seq, envelope });
            }
        }
        tx.commit().await?;
        Ok(out)
    }

    /// Events not yet published.
    pub async fn outbox_pending(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM outbox")
            .fetch_one(self.pool())
            .await?)
    }

    /// Records several `(consumer, message_id)` pairs at once, in the caller's transaction (one
    /// statement per 100); for each pair, whether it was new. A pair given twice is new at most
    /// once, at its first place.
    pub async fn inbox_record_many(
        conn: &mut AnyConnection,
        pairs: &[(&str, &str)],
    ) -> Result<Vec<bool>, StoreError> {
        let now = now_ms();
        let mut inserted = std::collections::HashSet::new();
        for chunk in pairs.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO inbox (consumer, message_id, processed_at) VALUES {} \
                 ON CONFLICT (consumer, message_id) DO NOTHING RETURNING consumer, message_id",
                super::value_rows(chunk.len(), 3)
            );
            // Only numbered placeholders are interpolated; the values are bound.
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (consumer, message_id) in chunk {
                q = q.bind(*consumer).bind(*message_id).bind(now);
            }
            for row in q.fetch_all(&mut *conn).await? {
                let consumer: String = row.try_get("consumer")?;
                let message_id: String = row.try_get("message_id")?;
                inserted.insert((consumer, message_id));
            }
        }
        Ok(pairs
            .iter()
            .map(|(c, m)| inserted.remove(&(c.to_string(), m.to_string())))
            .collect())
    }

    /// Whether `consumer` already applied `message_id` (a cheap check before doing the work).
    pub async fn inbox_contains(
        &self,
        consumer: &str,
        message_id: &str,
    ) -> Result<bool, StoreError> {
        let mut conn = self.pool().acquire().await?;
        inbox_has(&mut conn, consumer, message_id).await
    }

    /// Deletes inbox entries older than `max_age_ms`; a redelivery older than that is no longer
    /// recognised, so keep it well above the longest retry delay.
    pub async fn inbox_prune(&self, max_age_ms: i64) -> Result<u64, StoreError> {
        Ok(sqlx::query("DELETE FROM inbox WHERE processed_at < $1")
            .bind(now_ms() - max_age_ms)
            .execute(self.pool())
            .await?
            .rows_affected())
    }

    /// Whether an event is still waiting in the outbox.
    pub async fn outbox_contains(&self, envelope_id: &uuid::Uuid) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT 1 AS one FROM outbox WHERE envelope_id = $1")
            .bind(envelope_id.to_string())
            .fetch_optional(self.pool())
            .await?;
        Ok(row.is_some())
    }
}

async fn inbox_has(
    conn: &mut AnyConnection,
    consumer: &str,
    message_id: &str,
) -> Result<bool, StoreError> {
    let seen = sqlx::query("SELECT 1 AS one FROM inbox WHERE consumer = $1 AND message_id = $2")
        .bind(consumer)
        .bind(message_id)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(seen.is_some())
}

/// The grouped writer of outbox deletes.
pub(crate) type OutboxDeletes = Grouped<(AnyPool, Dialect, WriteGate), Vec<String>, ()>;

/// Most callers whose deletes share one transaction.
const DELETE_GROUP: usize = 256;

pub(crate) fn outbox_deletes(pool: AnyPool, dialect: Dialect, gate: WriteGate) -> OutboxDeletes {
    Grouped::new((pool, dialect, gate), DELETE_GROUP, delete_batch)
}

fn delete_batch(
    (pool, dialect, gate): (AnyPool, Dialect, WriteGate),
    batch: Vec<Vec<String>>,
) -> BatchFuture<()> {
    Box::pin(async move {
        let n = batch.len();
        let ids: Vec<String> = batch.into_iter().flatten().collect();
        let run = async {
            let mut tx = super::begin_on(&pool, dialect, &gate, Urgency::Ordinary).await?;
            for chunk in ids.chunks(200) {
                let placeholders: Vec<String> =
                    (1..=chunk.len()).map(|i| format!("${i}")).collect();
                let sql = format!(
                    "DELETE FROM outbox WHERE envelope_id IN ({})",
                    placeholders.join(", ")
                );
                // Only numbered placeholders are interpolated; the ids are bound.
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for id in chunk {
                    q = q.bind(id.as_str());
                }
                q.execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok::<_, StoreError>(())
        };
        run.await?;
        Ok(vec![(); n])
    })
}
