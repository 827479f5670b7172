//! Our own record of each parcel's registration with a tracking aggregator, written before the
//! aggregator is called: EasyPost and Shippo create a second tracker (and send every update
//! twice) when a create is repeated, so a retry whose first answer was never seen looks the
//! registration up instead of creating again.

use sqlx::Row;

use super::{now_ms, tracking_number_key, Store, StoreError};

/// A registration as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// `pending` (not confirmed yet), `registered` or `failed`; for a polling connector
    /// `polling` (queried on a schedule) or `done` (delivered: no more queries).
    pub status: String,
    /// Create calls made so far (their answers may not have been seen).
    pub attempts: i64,
    /// The aggregator's id of the registration (`trk_…`), when it gave one.
    pub external_id: Option<String>,
}

impl Store {
    /// Records that a parcel is to be registered with `connector` (nothing if it is recorded
    /// already) and returns the record as it stands.
    pub async fn subscription_begin(
        &self,
        connector: &str,
        carrier: &str,
        tracking_number: &str,
        shipment_id: &str,
    ) -> Result<Subscription, StoreError> {
        let number = tracking_number_key(tracking_number);
        let now = now_ms();
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO tracking_subscriptions (connector, carrier, tracking_number, \
             shipment_id, status, attempts, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, 'pending', 0, $5, $5) \
             ON CONFLICT (connector, carrier, tracking_number) DO NOTHING",
        )
        .bind(connector)
        .bind(carrier)
        .bind(&number)
        .bind(shipment_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query(
            "SELECT status, attempts, external_id FROM tracking_subscriptions \
             WHERE connector = $1 AND carrier = $2 AND tracking_number = $3",
        )
        .bind(connector)
        .bind(carrier)
        .bind(&number)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Subscription {
            status: row.try_get("status")?,
            attempts: row.try_get("attempts")?,
            external_id: row.try_get("external_id")?,
        })
    }

    /// Claims the registration of a parcel with `connector` when nobody holds it or the claim
    /// is older than `lease_ms` (one UPDATE: two workers never both get it); true when the
    /// caller holds it now.
    pub async fn subscription_claim(
        &self,
        connector: &str,
        carrier: &str,
        tracking_number: &str,
        lease_ms: i64,
    ) -> Result<bool, StoreError> {
        let now = now_ms();
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "UPDATE tracking_subscriptions SET claimed_at = $4 WHERE connector = $1 AND \
             carrier = $2 AND tracking_number = $3 AND claimed_at < $5",
        )
        .bind(connector)
        .bind(carrier)
        .bind(tracking_number_key(tracking_number))
        .bind(now)
        .bind(now.saturating_sub(lease_ms))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// Gives up the claim on a parcel's registration.
    pub async fn subscription_release(
        &self,
        connector: &str,
        carrier: &str,
        tracking_number: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "UPDATE tracking_subscriptions SET claimed_at = 0 WHERE connector = $1 AND \
             carrier = $2 AND tracking_number = $3",
        )
        .bind(connector)
        .bind(carrier)
        .bind(tracking_number_key(tracking_number))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Counts a create call about to be made (committed before the call).
    pub async fn subscription_attempt(
        &self,
        connector: &str,
        carrier: &str,
        tracking_number: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "UPDATE tracking_subscriptions SET attempts = attempts + 1, updated_at = $1 \
             WHERE connector = $2 AND carrier = $3 AND tracking_number = $4",
        )
        .bind(now_ms())
        .bind(connector)
        .bind(carrier)
        .bind(tracking_number_key(tracking_number))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records the outcome: `registered` (with the aggregator's id) or `failed` (with why).
    pub async fn subscription_done(
        &self,
        connector: &str,
        carrier: &str,
        tracking_number: &str,
        status: &str,
        external_id: Option<&str>,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "UPDATE tracking_subscriptions SET status = $1, external_id = COALESCE($2, external_id), \
             last_error = $3, updated_at = $4 \
             WHERE connector = $5 AND carrier = $6 AND tracking_number = $7",
        )
        .bind(status)
        .bind(external_id)
        .bind(error)
        .bind(now_ms())
        .bind(connector)
        .bind(carrier)
        .bind(tracking_number_key(tracking_number))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Registrations recorded with a connector, by status.
    pub async fn subscription_count(
        &self,
        connector: &str,
        status: &str,
    ) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM tracking_subscriptions WHERE connector = $1 AND status = $2",
        )
        .bind(connector)
        .bind(status)
        .fetch_one(self.pool())
        .await?)
    }

    /// Puts a recorded parcel on a polling connector's schedule (first query at `at`), also one
    /// the same connector registered first (17TRACK and AfterShip answer polls only about
    /// registered numbers); a parcel already polling or done is left as it is.
    pub async fn subscription_poll_from(
        &self,
        connector: &str,
        carrier: &str,
        tracking_number: &str,
        at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE tracking_subscriptions SET status = 'polling', next_poll_at = $1, updated_at = $2 \
             WHERE connector = $3 AND carrier = $4 AND tracking_number = $5 \
             AND status IN ('pending', 'registered')",
        )
        .bind(at)
        .bind(now_ms())
        .bind(connector)
        .bind(carrier)
        .bind(tracking_number_key(tracking_number))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Parcels of a polling connector due a query at `now`, the longest waiting first.
    pub async fn polls_due(
        &self,
        connector: &str,
        now: i64,
        limit: u32,
    ) -> Result<Vec<DuePoll>, StoreError> {
        let rows = sqlx::query(
            "SELECT carrier, tracking_number, shipment_id, next_poll_at FROM tracking_subscriptions \
             WHERE status = 'polling' AND connector = $1 AND next_poll_at <= $2 \
             ORDER BY next_poll_at LIMIT $3",
        )
        .bind(connector)
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(DuePoll {
                    carrier: r.try_get("carrier")?,
                    tracking_number: r.try_get("tracking_number")?,
                    shipment_id: r.try_get("shipment_id")?,
                    due_at: r.try_get("next_poll_at")?,
                })
            })
            .collect()
    }

    /// Claims a due query by moving the parcel's next one to `next`: false when another daemon
    /// claimed it first (so two daemons never query one parcel at once).
    pub async fn poll_claim(
        &self,
        due: &DuePoll,
        connector: &str,
        next: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE tracking_subscriptions SET next_poll_at = $1, attempts = attempts + 1, updated_at = $2 \
             WHERE connector = $3 AND carrier = $4 AND tracking_number = $5 \
             AND status = 'polling' AND next_poll_at = $6",
        )
        .bind(next)
        .bind(now_ms())
        .bind(connector)
        .bind(&due.carrier)
        .bind(&due.tracking_number)
        .bind(due.due_at)
        .execute(self.pool())
        .await?
        .rows_affected();
        Ok(done == 1)
    }
}

/// A parcel a polling connector is due to query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuePoll {
    /// Carrier code.
    pub carrier: String,
    /// Tracking number (as stored).
    pub tracking_number: String,
    /// The parcel.
    pub shipment_id: String,
    /// When the query was due (the claim compares it).
    pub due_at: i64,
}
