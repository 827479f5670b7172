//! Tracking updates for a carrier + tracking number no shipment has: kept (a carrier's news
//! often arrives before the warehouse's "shipped" callback), with one exception per number,
//! and attached when the shipment appears.

use sqlx::{AnyConnection, Row};

use super::{now_ms, tracking_number_key, Store, StoreError};
use crate::model::TrackingUpdate;

/// A kept update waiting for its shipment.
#[derive(Debug, Clone)]
pub struct UnattachedUpdate {
    pub id: String,
    pub carrier: String,
    pub tracking_number: String,
    /// The tracking connector it came through.
    pub connector: String,
    /// The callback document.
    pub raw_id: String,
    pub update: TrackingUpdate,
    /// The exception raised for the unknown number.
    pub exception_id: Option<String>,
}

impl Store {
    /// Keeps an update nobody shipped; false when this callback's update for the number was
    /// kept before (a resent callback).
    pub async fn keep_unattached(
        conn: &mut AnyConnection,
        connector: &str,
        raw_id: &str,
        update: &TrackingUpdate,
        exception_id: Option<&str>,
    ) -> Result<bool, StoreError> {
        let json = serde_json::to_string(update).map_err(|source| StoreError::Corrupt {
            what: format!("tracking update of raw document {raw_id}"),
            source,
        })?;
        let n = sqlx::query(
            "INSERT INTO tracking_unattached (id, carrier, tracking_number, connector, raw_id, \
             update_json, exception_id, received_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (carrier, tracking_number, raw_id) DO NOTHING",
        )
        .bind(format!("tun_{}", uuid::Uuid::now_v7().simple()))
        .bind(&update.carrier)
        .bind(tracking_number_key(&update.tracking_number))
        .bind(connector)
        .bind(raw_id)
        .bind(json)
        .bind(exception_id)
        .bind(now_ms())
        .execute(&mut *conn)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    /// The open exception already raised for an unknown carrier + number, if any.
    pub async fn unattached_exception(
        conn: &mut AnyConnection,
        carrier: &str,
        tracking_number: &str,
    ) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT exception_id FROM tracking_unattached WHERE carrier = $1 \
             AND tracking_number = $2 AND attached_at IS NULL AND exception_id IS NOT NULL LIMIT 1",
        )
        .bind(carrier)
        .bind(tracking_number_key(tracking_number))
        .fetch_optional(&mut *conn)
        .await?)
    }

    /// The kept updates of a carrier + number not attached yet, oldest first. A carrier the
    /// aggregator could not name (`unknown`) matches any carrier.
    pub async fn pending_unattached(
        conn: &mut AnyConnection,
        carrier: &str,
        tracking_number: &str,
    ) -> Result<Vec<UnattachedUpdate>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, carrier, tracking_number, connector, raw_id, update_json, exception_id \
             FROM tracking_unattached WHERE (carrier = $1 OR carrier = 'unknown') \
             AND tracking_number = $2 AND attached_at IS NULL ORDER BY received_at, id",
        )
        .bind(carrier)
        .bind(tracking_number_key(tracking_number))
        .fetch_all(&mut *conn)
        .await?;
        rows.iter()
            .map(|r| {
                let json: String = r.try_get("update_json")?;
                let id: String = r.try_get("id")?;
                Ok(UnattachedUpdate {
                    update: serde_json::from_str(&json).map_err(|source| StoreError::Corrupt {
                        what: format!("kept tracking update {id}"),
                        source,
                    })?,
                    id,
                    carrier: r.try_get("carrier")?,
                    tracking_number: r.try_get("tracking_number")?,
                    connector: r.try_get("connector")?,
                    raw_id: r.try_get("raw_id")?,
                    exception_id: r.try_get("exception_id")?,
                })
            })
            .collect()
    }

    /// Marks a kept update attached to its shipment.
    pub async fn mark_attached(
        conn: &mut AnyConnection,
        id: &str,
        shipment_id: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE tracking_unattached SET shipment_id = $1, attached_at = $2 WHERE id = $3",
        )
        .bind(shipment_id)
        .bind(now_ms())
        .bind(id)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// Shipments that have kept updates waiting although they exist (their `shipment.created`
    /// was never seen): the sweep attaches them.
    pub async fn shipments_with_pending_updates(
        &self,
        limit: i64,
    ) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT DISTINCT s.id FROM tracking_unattached u JOIN shipments s \
             ON s.tracking_number = u.tracking_number \
             AND (s.carrier = u.carrier OR u.carrier = 'unknown') \
             WHERE u.attached_at IS NULL LIMIT $1",
        )
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// How many kept updates wait for a shipment.
    pub async fn unattached_count(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM tracking_unattached WHERE attached_at IS NULL",
            )
            .fetch_one(self.pool())
            .await?,
        )
    }
}
