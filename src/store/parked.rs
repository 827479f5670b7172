//! The dead-letter store: messages a stage parked, kept until `ordergate dlq replay`.

use serde::Serialize;
use sqlx::{AnyConnection, Row};

use super::{ms_to_time, now_ms, Store, StoreError};
use crate::model::Envelope;

/// A parked message.
#[derive(Debug, Clone, Serialize)]
pub struct ParkedMessage {
    pub id: String,
    /// The queue it was taken from and goes back to on replay.
    pub queue: String,
    pub envelope: Envelope,
    /// Why it was parked.
    pub error: String,
    /// Attempts made before parking.
    pub attempts: i64,
    pub exception_id: String,
    pub parked_at: chrono::DateTime<chrono::Utc>,
}

impl Store {
    /// Parks a message in the caller's transaction.
    pub async fn park(
        conn: &mut AnyConnection,
        queue: &str,
        envelope: &Envelope,
        error: &str,
        exception_id: &str,
    ) -> Result<String, StoreError> {
        let id = format!("dlq_{}", uuid::Uuid::now_v7().simple());
        let body = serde_json::to_string(envelope).map_err(|source| StoreError::Corrupt {
            what: format!("envelope {}", envelope.id),
            source,
        })?;
        sqlx::query(
            "INSERT INTO parked_messages (id, queue, message_id, envelope, error, attempts, \
             exception_id, parked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&id)
        .bind(queue)
        .bind(envelope.id.to_string())
        .bind(body)
        .bind(error)
        .bind(i64::from(envelope.attempt) + 1)
        .bind(exception_id)
        .bind(now_ms())
        .execute(&mut *conn)
        .await?;
        Ok(id)
    }

    /// Parked messages not yet replayed, oldest first.
    pub async fn parked(&self, limit: i64) -> Result<Vec<ParkedMessage>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, queue, envelope, error, attempts, exception_id, parked_at \
             FROM parked_messages WHERE replayed_at IS NULL ORDER BY parked_at, id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|r| {
                let id: String = r.try_get("id")?;
                let body: String = r.try_get("envelope")?;
                let envelope =
                    serde_json::from_str(&body).map_err(|source| StoreError::Corrupt {
                        what: format!("parked message {id}"),
                        source,
                    })?;
                Ok(ParkedMessage {
                    id,
                    queue: r.try_get("queue")?,
                    envelope,
                    error: r.try_get("error")?,
                    attempts: r.try_get("attempts")?,
                    exception_id: r.try_get("exception_id")?,
                    parked_at: ms_to_time(r.try_get("parked_at")?),
                })
            })
            .collect()
    }

    /// Marks a parked message replayed (and its exception resolved) in the caller's
    /// transaction. Returns false when someone else replayed it first.
    pub async fn mark_replayed(
        conn: &mut AnyConnection,
        parked: &ParkedMessage,
    ) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "UPDATE parked_messages SET replayed_at = $1 WHERE id = $2 AND replayed_at IS NULL",
        )
        .bind(now_ms())
        .bind(&parked.id)
        .execute(&mut *conn)
        .await?
        .rows_affected();
        if n == 1 {
            Store::resolve_exception(
                conn,
                &parked.exception_id,
                "replayed from the dead-letter store",
            )
            .await?;
        }
        Ok(n == 1)
    }
}
