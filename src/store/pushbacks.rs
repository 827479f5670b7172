//! Push-backs to marketplaces: the intent recorded (and claimed by one worker) before the
//! platform is called, the proof once it answered, and what reconciliation reads back.

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{now_ms, Store, StoreError};

/// A stored push-back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pushback {
    pub order_id: String,
    /// `order`, or the shipment id for a per-parcel push-back.
    pub unit_key: String,
    pub connector: String,
    /// `intended`, `pushed` or `failed`.
    pub status: String,
    /// The platform's proof, once pushed.
    pub proof: Option<String>,
    /// `created`, `found`, `already_fulfilled`, `repushed`.
    pub how: Option<String>,
    /// The tracking numbers pushed.
    pub tracking: Vec<String>,
    /// Calls started (claims taken).
    pub attempts: i64,
    /// Unix ms until which a worker holds it.
    pub claimed_until: i64,
    /// Last reconciliation check (Unix ms).
    pub checked_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Pushback {
    fn from_row(r: &AnyRow) -> Result<Self, StoreError> {
        let tracking: String = r.try_get("tracking")?;
        let order_id: String = r.try_get("order_id")?;
        Ok(Self {
            tracking: serde_json::from_str(&tracking).map_err(|source| StoreError::Corrupt {
                what: format!("pushback of {order_id} tracking"),
                source,
            })?,
            order_id,
            unit_key: r.try_get("unit_key")?,
            connector: r.try_get("connector")?,
            status: r.try_get("status")?,
            proof: r.try_get("proof")?,
            how: r.try_get("how")?,
            attempts: r.try_get("attempts")?,
            claimed_until: r.try_get("claimed_until")?,
            checked_at: r.try_get("checked_at")?,
            created_at: r.try_get("created_at")?,
            updated_at: r.try_get("updated_at")?,
        })
    }
}

/// What a claim found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Nobody tried before: call the platform.
    First,
    /// An earlier attempt started and left no proof (its answer was lost, the daemon died, it
    /// failed): look the platform's fulfilments up before creating.
    Earlier(Pushback),
    /// Pushed already.
    Done(Pushback),
    /// Another worker holds it now.
    Busy,
}

const COLUMNS: &str = "order_id, unit_key, connector, status, proof, how, tracking, attempts, \
     claimed_until, checked_at, created_at, updated_at";

impl Store {
    /// Records the intent to push `unit_key` of `order_id` and claims it for `lease_ms`,
    /// before the platform is called. `reclaim_pushed`: take a pushed one too (reconciliation
    /// re-pushing what the platform lost; it is set back to `intended`).
    pub async fn pushback_claim(
        &self,
        order_id: &str,
        unit_key: &str,
        connector: &str,
        tracking: &[String],
        lease_ms: i64,
        reclaim_pushed: bool,
    ) -> Result<Claim, StoreError> {
        let now = now_ms();
        let tracking = serde_json::to_string(tracking).unwrap_or_else(|_| "[]".into());
        let mut tx = self.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO pushbacks (order_id, unit_key, connector, status, proof, how, tracking, \
             attempts, claimed_until, checked_at, created_at, updated_at) \
             VALUES ($1, $2, $3, 'intended', NULL, NULL, $4, 1, $5, NULL, $6, $6) \
             ON CONFLICT (order_id, unit_key) DO NOTHING",
        )
        .bind(order_id)
        .bind(unit_key)
        .bind(connector)
        .bind(&tracking)
        .bind(now + lease_ms)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 1 {
            tx.commit().await?;
            return Ok(Claim::First);
        }
        let sql = format!("SELECT {COLUMNS} FROM pushbacks WHERE order_id = $1 AND unit_key = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(order_id)
            .bind(unit_key)
            .fetch_one(&mut *tx)
            .await?;
        let p = Pushback::from_row(&row)?;
        if p.status == "pushed" && !reclaim_pushed {
            tx.commit().await?;
            return Ok(Claim::Done(p));
        }
        if p.claimed_until > now {
            tx.commit().await?;
            return Ok(Claim::Busy);
        }
        let taken = sqlx::query(
            "UPDATE pushbacks SET status = 'intended', claimed_until = $1, attempts = attempts + 1, \
             tracking = $2, updated_at = $3 \
             WHERE order_id = $4 AND unit_key = $5 AND claimed_until = $6 AND status = $7",
        )
        .bind(now + lease_ms)
        .bind(&tracking)
        .bind(now)
        .bind(order_id)
        .bind(unit_key)
        .bind(p.claimed_until)
        .bind(&p.status)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(if taken == 1 {
            Claim::Earlier(p)
        } else {
            Claim::Busy
        })
    }

    /// Lets go of a claim whose call failed in a way worth retrying (the intent stays: the
    /// next attempt looks the platform up first).
    pub async fn pushback_release(&self, order_id: &str, unit_key: &str) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "UPDATE pushbacks SET claimed_until = 0, updated_at = $1 \
             WHERE order_id = $2 AND unit_key = $3 AND status = 'intended'",
        )
        .bind(now_ms())
        .bind(order_id)
        .bind(unit_key)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records the platform's proof (in the caller's transaction, with the order's history).
    pub async fn pushback_done(
        conn: &mut AnyConnection,
        order_id: &str,
        unit_key: &str,
        proof: &str,
        how: &str,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        sqlx::query(
            "UPDATE pushbacks SET status = 'pushed', proof = $1, how = $2, claimed_until = 0, \
             checked_at = $3, updated_at = $3 WHERE order_id = $4 AND unit_key = $5",
        )
        .bind(proof)
        .bind(how)
        .bind(now)
        .bind(order_id)
        .bind(unit_key)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// Records a refused push-back (an exception was raised in the same transaction).
    pub async fn pushback_failed(
        conn: &mut AnyConnection,
        order_id: &str,
        unit_key: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE pushbacks SET status = 'failed', claimed_until = 0, updated_at = $1 \
             WHERE order_id = $2 AND unit_key = $3",
        )
        .bind(now_ms())
        .bind(order_id)
        .bind(unit_key)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// Notes that reconciliation found a push-back at the platform.
    pub async fn pushback_checked(&self, order_id: &str, unit_key: &str) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query("UPDATE pushbacks SET checked_at = $1 WHERE order_id = $2 AND unit_key = $3")
            .bind(now_ms())
            .bind(order_id)
            .bind(unit_key)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// An order's push-backs.
    pub async fn pushbacks_of(&self, order_id: &str) -> Result<Vec<Pushback>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM pushbacks WHERE order_id = $1 ORDER BY unit_key");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(order_id)
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(Pushback::from_row)
            .collect()
    }

    /// What reconciliation checks for `connector`: pushed ones changed since `since` (Unix
    /// ms), intents whose claim ran out (a worker died mid-call), and with `failed` the refused
    /// ones (an operator fixed the cause), least recently checked first.
    pub async fn pushbacks_to_reconcile(
        &self,
        connector: &str,
        since: i64,
        limit: i64,
        failed: bool,
    ) -> Result<Vec<Pushback>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM pushbacks WHERE connector = $1 AND updated_at >= $2 \
             AND (status = 'pushed' OR (status IN ('intended', $5) AND claimed_until < $3)) \
             ORDER BY COALESCE(checked_at, 0), order_id LIMIT $4"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(connector)
            .bind(since)
            .bind(now_ms())
            .bind(limit)
            .bind(if failed { "failed" } else { "intended" })
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(Pushback::from_row)
            .collect()
    }
}
