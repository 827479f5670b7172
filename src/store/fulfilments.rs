//! Fulfilment orders placed with warehouses (keyed by ordergate's own key, recorded before the
//! warehouse is called), orders waiting for stock, and warehouse messages already acted on.

use serde::Serialize;
use sqlx::{AnyConnection, Row};

use super::{now_ms, Store, StoreError};

/// Where a fulfilment order is, as ordergate knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FulfilmentState {
    /// The warehouse is being (or was) asked; its answer is not recorded.
    Intended,
    /// The warehouse accepted it.
    Requested,
    Packed,
    /// The warehouse shipped part of it (a partial confirmation) and owes the rest.
    PartShipped,
    /// Every parcel of it left: the warehouse's final confirmation, or labels bought for all
    /// of it.
    Shipped,
    Cancelled,
}

impl FulfilmentState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            FulfilmentState::Intended => "intended",
            FulfilmentState::Requested => "requested",
            FulfilmentState::Packed => "packed",
            FulfilmentState::PartShipped => "part_shipped",
            FulfilmentState::Shipped => "shipped",
            FulfilmentState::Cancelled => "cancelled",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [
            Self::Intended,
            Self::Requested,
            Self::Packed,
            Self::PartShipped,
            Self::Shipped,
            Self::Cancelled,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
}

/// A stored fulfilment order.
#[derive(Debug, Clone, Serialize)]
pub struct Fulfilment {
    /// ordergate's key.
    pub key: String,
    pub order_id: String,
    pub warehouse: String,
    /// The warehouse's id, once it answered.
    pub remote_id: Option<String>,
    pub state: FulfilmentState,
    /// The order lines it ships.
    pub lines: Vec<u32>,
    /// ordergate asked the warehouse to cancel it (and was not refused): a cancellation the
    /// warehouse reports is the answer to that, not the warehouse dropping its part.
    pub cancel_asked: bool,
}

impl Fulfilment {
    /// Whether the warehouse still owes goods for it: neither shipped in full nor cancelled.
    pub fn owes_goods(&self) -> bool {
        !matches!(
            self.state,
            FulfilmentState::Shipped | FulfilmentState::Cancelled
        )
    }
}

/// An order waiting for stock.
#[derive(Debug, Clone, Serialize)]
pub struct Backorder {
    pub order_id: String,
    /// The SKUs it lacks.
    pub skus: Vec<String>,
    /// The shortage exception raised for it.
    pub exception_id: String,
}

fn fulfilment(r: sqlx::any::AnyRow) -> Result<Fulfilment, StoreError> {
    let key: String = r.try_get("fkey")?;
    let state: String = r.try_get("status")?;
    let lines: String = r.try_get("lines")?;
    Ok(Fulfilment {
        state: FulfilmentState::parse(&state).ok_or_else(|| {
            StoreError::Grouped(format!("fulfilment {key} has an unknown status").into())
        })?,
        lines: serde_json::from_str(&lines).map_err(|source| StoreError::Corrupt {
            what: format!("fulfilment {key} lines"),
            source,
        })?,
        order_id: r.try_get("order_id")?,
        warehouse: r.try_get("warehouse")?,
        remote_id: r.try_get("remote_id")?,
        cancel_asked: r.try_get::<Option<i64>, _>("cancel_asked_at")?.is_some(),
        key,
    })
}

const COLUMNS: &str = "fkey, order_id, warehouse, remote_id, status, lines, cancel_asked_at";

impl Store {
    /// Records the intent to place fulfilment order `key` (before the warehouse is called);
    /// returns the stored one when it exists already (an earlier attempt got that far).
    pub async fn fulfilment_intend(
        &self,
        key: &str,
        order_id: &str,
        warehouse: &str,
        lines: &[u32],
    ) -> Result<Option<Fulfilment>, StoreError> {
        // One statement in the usual case, the intent being new (on PostgreSQL it commits on
        // its own; SQLite's writes take their turn at the gate in a transaction). A key
        // already recorded (a retry, a redelivery) is then read.
        let lines = serde_json::to_string(lines).unwrap_or_else(|_| "[]".into());
        let insert = sqlx::query(
            "INSERT INTO fulfilments (fkey, order_id, warehouse, remote_id, status, lines, \
             created_at, updated_at) VALUES ($1, $2, $3, NULL, 'intended', $4, $5, $5) \
             ON CONFLICT (fkey) DO NOTHING",
        )
        .bind(key)
        .bind(order_id)
        .bind(warehouse)
        .bind(lines)
        .bind(now_ms());
        let inserted = match self.dialect() {
            super::Dialect::Postgres => insert.execute(self.pool()).await?.rows_affected(),
            super::Dialect::Sqlite => {
                let mut tx = self.begin().await?;
                let n = insert.execute(&mut *tx).await?.rows_affected();
                tx.commit().await?;
                n
            }
        };
        if inserted == 1 {
            return Ok(None);
        }
        self.fulfilment(key).await
    }

    /// Records that ordergate asks the warehouse to cancel fulfilment order `key`, before the
    /// call and committed on its own: the warehouse's cancelled callback may overtake its
    /// answer and the change's commit, and must then be known as the echo of this cancel.
    pub async fn fulfilment_cancel_asked(&self, key: &str) -> Result<(), StoreError> {
        let update = sqlx::query(
            "UPDATE fulfilments SET cancel_asked_at = $1, updated_at = $1 WHERE fkey = $2",
        )
        .bind(now_ms())
        .bind(key);
        match self.dialect() {
            super::Dialect::Postgres => {
                update.execute(self.pool()).await?;
            }
            super::Dialect::Sqlite => {
                let mut tx = self.begin().await?;
                update.execute(&mut *tx).await?;
                tx.commit().await?;
            }
        }
        Ok(())
    }

    /// Withdraws ordergate's cancel of an order's fulfilment orders that are not cancelled (a
    /// warehouse refused it): a cancellation one of them reports later is its own decision.
    pub async fn fulfilments_cancel_withdrawn(
        conn: &mut AnyConnection,
        order_id: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE fulfilments SET cancel_asked_at = NULL, updated_at = $1 \
             WHERE order_id = $2 AND status <> 'cancelled' AND cancel_asked_at IS NOT NULL",
        )
        .bind(now_ms())
        .bind(order_id)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// The fulfilment order with ordergate's `key`.
    pub async fn fulfilment(&self, key: &str) -> Result<Option<Fulfilment>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM fulfilments WHERE fkey = $1");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(key)
            .fetch_optional(self.pool())
            .await?
            .map(fulfilment)
            .transpose()
    }

    /// The fulfilment order `remote_id` at `warehouse`.
    pub async fn fulfilment_by_remote(
        &self,
        warehouse: &str,
        remote_id: &str,
    ) -> Result<Option<Fulfilment>, StoreError> {
        let sql =
            format!("SELECT {COLUMNS} FROM fulfilments WHERE warehouse = $1 AND remote_id = $2");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(warehouse)
            .bind(remote_id)
            .fetch_optional(self.pool())
            .await?
            .map(fulfilment)
            .transpose()
    }

    /// An order's fulfilment orders.
    pub async fn fulfilments_of(&self, order_id: &str) -> Result<Vec<Fulfilment>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        Self::fulfilments_on(&mut conn, order_id).await
    }

    /// An order's fulfilment orders, read on `conn` (a unit's transaction).
    pub async fn fulfilments_on(
        conn: &mut AnyConnection,
        order_id: &str,
    ) -> Result<Vec<Fulfilment>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM fulfilments WHERE order_id = $1 ORDER BY fkey");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(order_id)
            .fetch_all(&mut *conn)
            .await?
            .into_iter()
            .map(fulfilment)
            .collect()
    }

    /// Sets a fulfilment order's state (and its remote id, when given).
    pub async fn fulfilment_set(
        conn: &mut AnyConnection,
        key: &str,
        state: FulfilmentState,
        remote_id: Option<&str>,
    ) -> Result<(), StoreError> {
        Self::fulfilment_update(conn, key, Some(state), remote_id).await
    }

    /// Records the warehouse's new id of a fulfilment order (a WMS that amends by creating
    /// it again), its state as it is.
    pub async fn fulfilment_moved(
        conn: &mut AnyConnection,
        key: &str,
        remote_id: &str,
    ) -> Result<(), StoreError> {
        Self::fulfilment_update(conn, key, None, Some(remote_id)).await
    }

    async fn fulfilment_update(
        conn: &mut AnyConnection,
        key: &str,
        state: Option<FulfilmentState>,
        remote_id: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE fulfilments SET status = COALESCE($1, status), \
             remote_id = COALESCE($2, remote_id), updated_at = $3 WHERE fkey = $4",
        )
        .bind(state.map(FulfilmentState::as_str))
        .bind(remote_id)
        .bind(now_ms())
        .bind(key)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// An order's fulfilment orders that still owe goods (neither shipped in full nor
    /// cancelled): an order is delivered only when none does, whatever its parcels say.
    pub async fn fulfilments_owed(
        conn: &mut AnyConnection,
        order_id: &str,
    ) -> Result<Vec<Fulfilment>, StoreError> {
        let mut all = Self::fulfilments_on(conn, order_id).await?;
        all.retain(Fulfilment::owes_goods);
        Ok(all)
    }

    /// Marks an order's fulfilment orders (those of `warehouse`, when given) shipped in full:
    /// their labels are bought, or a person entered the order's tracking.
    pub async fn fulfilments_shipped(
        conn: &mut AnyConnection,
        order_id: &str,
        warehouse: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE fulfilments SET status = 'shipped', updated_at = $1 \
             WHERE order_id = $2 AND status NOT IN ('shipped', 'cancelled') \
             AND ($3 IS NULL OR warehouse = $3)",
        )
        .bind(now_ms())
        .bind(order_id)
        .bind(warehouse)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// Records an order waiting for stock with its shortage exception (once: a later
    /// re-check that is still short keeps the first).
    pub async fn backorder_insert(
        conn: &mut AnyConnection,
        order_id: &str,
        skus: &[String],
        exception_id: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO backorders (order_id, skus, exception_id, since) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (order_id) DO NOTHING",
        )
        .bind(order_id)
        .bind(serde_json::to_string(skus).unwrap_or_else(|_| "[]".into()))
        .bind(exception_id)
        .bind(now_ms())
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// Ends an order's wait for stock; returns what it was.
    pub async fn backorder_remove(
        conn: &mut AnyConnection,
        order_id: &str,
    ) -> Result<Option<Backorder>, StoreError> {
        let row =
            sqlx::query("SELECT order_id, skus, exception_id FROM backorders WHERE order_id = $1")
                .bind(order_id)
                .fetch_optional(&mut *conn)
                .await?;
        let Some(r) = row else { return Ok(None) };
        let b = backorder(r)?;
        sqlx::query("DELETE FROM backorders WHERE order_id = $1")
            .bind(order_id)
            .execute(&mut *conn)
            .await?;
        Ok(Some(b))
    }

    /// Orders waiting for stock, oldest first.
    pub async fn backorders(&self, limit: i64) -> Result<Vec<Backorder>, StoreError> {
        sqlx::query("SELECT order_id, skus, exception_id FROM backorders ORDER BY since LIMIT $1")
            .bind(limit)
            .fetch_all(self.pool())
            .await?
            .into_iter()
            .map(backorder)
            .collect()
    }

    /// Records that `warehouse`'s message `message_id` is acted on; false when it was already.
    pub async fn warehouse_message_first(
        conn: &mut AnyConnection,
        warehouse: &str,
        message_id: &str,
    ) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "INSERT INTO warehouse_messages (warehouse, message_id, at) VALUES ($1, $2, $3) \
             ON CONFLICT (warehouse, message_id) DO NOTHING",
        )
        .bind(warehouse)
        .bind(message_id)
        .bind(now_ms())
        .execute(&mut *conn)
        .await?
        .rows_affected();
        Ok(n == 1)
    }
}

fn backorder(r: sqlx::any::AnyRow) -> Result<Backorder, StoreError> {
    let order_id: String = r.try_get("order_id")?;
    let skus: String = r.try_get("skus")?;
    Ok(Backorder {
        skus: serde_json::from_str(&skus).map_err(|source| StoreError::Corrupt {
            what: format!("backorder {order_id} skus"),
            source,
        })?,
        exception_id: r.try_get("exception_id")?,
        order_id,
    })
}

impl Store {
    /// An order's state, read on `conn` (inside a unit's transaction).
    pub async fn order_state(
        conn: &mut AnyConnection,
        order_id: &str,
    ) -> Result<Option<crate::model::OrderState>, StoreError> {
        let state: Option<String> = sqlx::query_scalar("SELECT state FROM orders WHERE id = $1")
            .bind(order_id)
            .fetch_optional(&mut *conn)
            .await?;
        Ok(state.and_then(|s| crate::model::OrderState::parse(&s)))
    }
}
