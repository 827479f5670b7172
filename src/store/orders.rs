//! Canonical orders and their append-only event log (the audit trail).

use serde::Serialize;
use sqlx::{AnyConnection, Row};

use super::{ms_to_time, now_ms, Store, StoreError};
use crate::model::state::{self, IllegalTransition};
use crate::model::{CanonicalOrder, OrderState, Trigger};

/// What [`Store::upsert_order`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpsertOutcome {
    /// A new order with this id.
    Created(String),
    /// The source order was known and its content changed.
    Updated(String),
    /// The source order was known with the same content: nothing written.
    Unchanged(String),
}

impl UpsertOutcome {
    /// The order's id whatever happened.
    pub fn order_id(&self) -> &str {
        match self {
            UpsertOutcome::Created(id)
            | UpsertOutcome::Updated(id)
            | UpsertOutcome::Unchanged(id) => id,
        }
    }
}

/// An order as stored.
#[derive(Debug, Clone, Serialize)]
pub struct StoredOrder {
    pub order_id: String,
    /// Our processing state (`received`, `approved`, …).
    pub state: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    /// The raw document it was last read from.
    pub raw_id: Option<String>,
    pub order: CanonicalOrder,
}

/// One entry of an order's history.
#[derive(Debug, Clone, Serialize)]
pub struct OrderEvent {
    pub seq: i64,
    pub at: chrono::DateTime<chrono::Utc>,
    pub kind: String,
    pub from_state: Option<String>,
    pub to_state: Option<String>,
    /// Who or what caused it (`stage:normalize message …`, `api:token …`).
    pub cause: String,
    pub data: Option<serde_json::Value>,
}

/// Why [`Store::transition`] did not move an order.
#[derive(Debug, thiserror::Error)]
pub enum TransitionError {
    /// The transition table does not allow it from the order's state.
    #[error(transparent)]
    Illegal(#[from] IllegalTransition),
    /// No such order.
    #[error("order {0} not found")]
    NotFound(String),
    /// Other writers kept moving the order; try again.
    #[error("order {0} kept changing while it was being moved on")]
    Busy(String),
    /// A parcel's carrier + tracking number is another order's parcel.
    #[error("parcel {carrier} {number} of order {order_id} is order {other}'s parcel already; a tracking number names one parcel")]
    ParcelTaken {
        order_id: String,
        carrier: String,
        number: String,
        other: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The first state of every order.
pub const STATE_RECEIVED: &str = OrderState::Received.as_str();

/// A line of an order listing.
#[derive(Debug, Clone, Serialize)]
pub struct OrderSummary {
    pub order_id: String,
    pub state: String,
    pub connector: String,
    pub external_id: String,
    pub source_status: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

/// What is stored beside an order for the review's lookups (migration 0006): who ordered and
/// what (the duplicates rule), and the Message-ID it came in (a reply in its thread).
fn review_keys(order: &CanonicalOrder) -> (Option<String>, String, Option<String>) {
    (
        crate::rules::review::customer_key(order),
        crate::rules::review::lines_key(order),
        order.origin.as_ref().and_then(|o| o.message_id.clone()),
    )
}

/// The order number customers know, stored beside the order (migration 0024) for the status
/// page's look-up.
fn external_number(order: &CanonicalOrder) -> Option<&str> {
    order
        .source
        .external_number
        .as_deref()
        .filter(|n| !n.is_empty())
}

fn status_word(order: &CanonicalOrder) -> String {
    serde_json::to_value(order.source.status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

impl Store {
    /// Stores a canonical order under its dedupe key (connector + external id). A known key with
    /// different content updates the stored order; the same content writes nothing. The order's
    /// `order_id` is filled in.
    pub async fn upsert_order(
        conn: &mut AnyConnection,
        order: &mut CanonicalOrder,
        raw_id: Option<&str>,
    ) -> Result<UpsertOutcome, StoreError> {
        let now = now_ms();
        let serialize = |order: &CanonicalOrder, id: &str| {
            let json = serde_json::to_string(order).map_err(|source| StoreError::Corrupt {
                what: format!("order {id}"),
                source,
            })?;
            let hash = super::raw::sha256_hex(json.as_bytes());
            Ok::<_, StoreError>((json, hash))
        };
        // Most orders are new: try the insert first, so a new order costs one statement. A
        // concurrent insert of the same key waits for the other transaction and then inserts
        // nothing, instead of failing on the unique key.
        let id = format!("og_{}", uuid::Uuid::now_v7().simple());
        order.order_id = Some(id.clone());
        let (json, hash) = serialize(order, &id)?;
        let (customer_key, lines_key, origin) = review_keys(order);
        let inserted = sqlx::query(
            "INSERT INTO orders (id, connector, external_id, state, source_status, \
             content_hash, canonical, raw_id, created_at, updated_at, customer_key, lines_key, \
             origin_message_id, external_number) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10, $11, $12, $13) \
             ON CONFLICT (connector, external_id) DO NOTHING",
        )
        .bind(&id)
        .bind(&order.source.connector)
        .bind(&order.source.external_id)
        .bind(STATE_RECEIVED)
        .bind(status_word(order))
        .bind(&hash)
        .bind(&json)
        .bind(raw_id)
        .bind(now)
        .bind(customer_key.as_deref())
        .bind(&lines_key)
        .bind(origin.as_deref())
        .bind(external_number(order))
        .execute(&mut *conn)
        .await?
        .rows_affected();
        if inserted == 1 {
            return Ok(UpsertOutcome::Created(id));
        }
        let row = sqlx::query(
            "SELECT id, content_hash FROM orders WHERE connector = $1 AND external_id = $2",
        )
        .bind(&order.source.connector)
        .bind(&order.source.external_id)
        .fetch_one(&mut *conn)
        .await?;
        let id: String = row.try_get("id")?;
        let old_hash: String = row.try_get("content_hash")?;
        order.order_id = Some(id.clone());
        let (json, hash) = serialize(order, &id)?;
        if old_hash == hash {
            return Ok(UpsertOutcome::Unchanged(id));
        }
        let (customer_key, lines_key, origin) = review_keys(order);
        sqlx::query(
            "UPDATE orders SET canonical = $1, content_hash = $2, source_status = $3, \
             raw_id = $4, updated_at = $5, customer_key = $7, lines_key = $8, \
             origin_message_id = $9, external_number = $10 WHERE id = $6",
        )
        .bind(&json)
        .bind(&hash)
        .bind(status_word(order))
        .bind(raw_id)
        .bind(now)
        .bind(&id)
        .bind(customer_key.as_deref())
        .bind(&lines_key)
        .bind(origin.as_deref())
        .bind(external_number(order))
        .execute(&mut *conn)
        .await?;
        Ok(UpsertOutcome::Updated(id))
    }

    /// Appends to an order's history.
    pub async fn append_event(
        conn: &mut AnyConnection,
        order_id: &str,
        kind: &str,
        transition: Option<(Option<&str>, &str)>,
        cause: &str,
        data: Option<&serde_json::Value>,
    ) -> Result<(), StoreError> {
        let (from, to) = match transition {
            Some((from, to)) => (from, Some(to)),
            None => (None, None),
        };
        sqlx::query(
            "INSERT INTO order_events (order_id, at, kind, from_state, to_state, cause, data) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(order_id)
        .bind(now_ms())
        .bind(kind)
        .bind(from)
        .bind(to)
        .bind(cause)
        .bind(data.map(|d| d.to_string()))
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// An order by id.
    pub async fn order(&self, id: &str) -> Result<Option<StoredOrder>, StoreError> {
        let row = sqlx::query(
            "SELECT id, state, created_at, updated_at, raw_id, canonical FROM orders WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| stored_order(&r, id)).transpose()
    }

    /// An order by id with its content hash, read together (one statement, one row version):
    /// what a review decides on and checks again at its commit.
    pub async fn order_with_hash(
        &self,
        id: &str,
    ) -> Result<Option<(StoredOrder, String)>, StoreError> {
        let row = sqlx::query(
            "SELECT id, state, created_at, updated_at, raw_id, canonical, content_hash \
             FROM orders WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| Ok((stored_order(&r, id)?, r.try_get("content_hash")?)))
            .transpose()
    }

    /// An order's id by its dedupe key.
    pub async fn order_id_by_source(
        &self,
        connector: &str,
        external_id: &str,
    ) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT id FROM orders WHERE connector = $1 AND external_id = $2")
                .bind(connector)
                .bind(external_id)
                .fetch_optional(self.pool())
                .await?,
        )
    }

    /// An order's history, oldest first.
    pub async fn order_events(&self, order_id: &str) -> Result<Vec<OrderEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, at, kind, from_state, to_state, cause, data FROM order_events \
             WHERE order_id = $1 ORDER BY seq",
        )
        .bind(order_id)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|r| {
                let data: Option<String> = r.try_get("data")?;
                Ok(OrderEvent {
                    seq: r.try_get("seq")?,
                    at: ms_to_time(r.try_get("at")?),
                    kind: r.try_get("kind")?,
                    from_state: r.try_get("from_state")?,
                    to_state: r.try_get("to_state")?,
                    cause: r.try_get("cause")?,
                    data: data.and_then(|d| serde_json::from_str(&d).ok()),
                })
            })
            .collect()
    }

    /// Orders, newest first, optionally only those in `state`.
    pub async fn orders_list(
        &self,
        state: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<OrderSummary>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, state, connector, external_id, source_status, created_at, updated_at \
             FROM orders WHERE ($1 IS NULL OR state = $1) ORDER BY created_at DESC, id DESC \
             LIMIT $2 OFFSET $3",
        )
        .bind(state)
        .bind(limit)
        .bind(offset)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(OrderSummary {
                    order_id: r.try_get("id")?,
                    state: r.try_get("state")?,
                    connector: r.try_get("connector")?,
                    external_id: r.try_get("external_id")?,
                    source_status: r.try_get("source_status")?,
                    created_at: ms_to_time(r.try_get("created_at")?),
                    updated_at: ms_to_time(r.try_get("updated_at")?),
                })
            })
            .collect()
    }

    /// Moves an order on by `trigger`, as the one transition table allows
    /// ([`crate::model::state::next`]), and appends the audit event (kind: the trigger's name)
    /// with `cause` — the stage, connector or `api:<name>` that caused it. **The only way an
    /// order changes state.** Refused, with nothing written, when the table does not allow it.
    /// Returns the states it moved from and to.
    pub async fn transition(
        conn: &mut AnyConnection,
        order_id: &str,
        trigger: Trigger,
        cause: &str,
        data: Option<&serde_json::Value>,
    ) -> Result<(OrderState, OrderState), TransitionError> {
        // A concurrent writer (PostgreSQL, read committed) may move the order between the read
        // and the conditional update: read again and decide again.
        for _ in 0..3 {
            let row = sqlx::query("SELECT state FROM orders WHERE id = $1")
                .bind(order_id)
                .fetch_optional(&mut *conn)
                .await
                .map_err(StoreError::from)?;
            let Some(row) = row else {
                return Err(TransitionError::NotFound(order_id.to_string()));
            };
            let stored: String = row.try_get("state").map_err(StoreError::from)?;
            let illegal = || {
                TransitionError::Illegal(IllegalTransition {
                    order_id: order_id.to_string(),
                    state: stored.clone(),
                    trigger,
                })
            };
            let from = OrderState::parse(&stored).ok_or_else(illegal)?;
            let to = state::next(from, trigger).ok_or_else(illegal)?;
            if Self::move_recorded(conn, order_id, from, to, trigger, cause, data).await? {
                return Ok((from, to));
            }
        }
        Err(TransitionError::Busy(order_id.to_string()))
    }

    /// [`Store::transition`] for a caller that read the order in state `from`: the move from
    /// there is tried first, without reading the state again; an order that has moved on
    /// meanwhile is decided again as [`Store::transition`] does.
    pub async fn transition_from(
        conn: &mut AnyConnection,
        order_id: &str,
        from: OrderState,
        trigger: Trigger,
        cause: &str,
        data: Option<&serde_json::Value>,
    ) -> Result<(OrderState, OrderState), TransitionError> {
        if let Some(to) = state::next(from, trigger) {
            if Self::move_recorded(conn, order_id, from, to, trigger, cause, data).await? {
                return Ok((from, to));
            }
        }
        Self::transition(conn, order_id, trigger, cause, data).await
    }

    /// Moves an order from `from` to `to` by `trigger` and appends its audit event, only
    /// while its content is still the version `content_hash` (what a review decided on); false
    /// (nothing written) when it is in another state or holds other content. One statement on
    /// PostgreSQL: the version check needs no read of its own.
    pub async fn transition_at_version(
        conn: &mut AnyConnection,
        order_id: &str,
        from: OrderState,
        trigger: Trigger,
        content_hash: &str,
        cause: &str,
        data: Option<&serde_json::Value>,
    ) -> Result<bool, TransitionError> {
        let Some(to) = state::next(from, trigger) else {
            return Err(TransitionError::Illegal(IllegalTransition {
                order_id: order_id.to_string(),
                state: from.as_str().to_string(),
                trigger,
            }));
        };
        Ok(Self::move_recorded_at(
            conn,
            order_id,
            from,
            to,
            trigger,
            Some(content_hash),
            cause,
            data,
        )
        .await?)
    }

    /// Moves an order from `from` to `to` by `trigger` and appends its audit event; false
    /// (nothing written) when it was not in `from`.
    async fn move_recorded(
        conn: &mut AnyConnection,
        order_id: &str,
        from: OrderState,
        to: OrderState,
        trigger: Trigger,
        cause: &str,
        data: Option<&serde_json::Value>,
    ) -> Result<bool, StoreError> {
        Self::move_recorded_at(conn, order_id, from, to, trigger, None, cause, data).await
    }

    /// [`Self::move_recorded`], when `content_hash` is given only while the order holds that
    /// version of its content.
    #[allow(clippy::too_many_arguments)]
    async fn move_recorded_at(
        conn: &mut AnyConnection,
        order_id: &str,
        from: OrderState,
        to: OrderState,
        trigger: Trigger,
        content_hash: Option<&str>,
        cause: &str,
        data: Option<&serde_json::Value>,
    ) -> Result<bool, StoreError> {
        // The version condition is only in the statement when there is one to check, bound
        // as parameter `n` (after the statement's own).
        let version = |n: u8| {
            content_hash
                .map(|_| format!(" AND content_hash = ${n}"))
                .unwrap_or_default()
        };
        // One round trip, the move and its audit event together: on PostgreSQL one statement
        // (the event inserted from the moved row), on SQLite two in one call (the event
        // inserted only when the update changed a row), run by the connection's thread
        // without a hand-off between them.
        let sql = if super::Dialect::of(conn) == super::Dialect::Postgres {
            format!(
                "WITH moved AS (UPDATE orders SET state = $1, updated_at = $2 \
                 WHERE id = $3 AND state = $4{} RETURNING id) \
                 INSERT INTO order_events (order_id, at, kind, from_state, to_state, cause, data) \
                 SELECT id, $2, $5, $4, $1, $6, $7 FROM moved",
                version(8)
            )
        } else {
            format!(
                "UPDATE orders SET state = $1, updated_at = $2 WHERE id = $3 AND state = $4{}; \
                 INSERT INTO order_events (order_id, at, kind, from_state, to_state, cause, data) \
                 SELECT $3, $2, $5, $4, $1, $6, $7 WHERE changes() = 1",
                version(8)
            )
        };
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(to.as_str())
            .bind(now_ms())
            .bind(order_id)
            .bind(from.as_str())
            .bind(trigger.as_str())
            .bind(cause)
            .bind(data.map(|d| d.to_string()));
        if let Some(h) = content_hash {
            q = q.bind(h);
        }
        // PostgreSQL counts the event, SQLite the move and the event: nothing when it did
        // not move.
        Ok(q.execute(&mut *conn).await?.rows_affected() > 0)
    }

    /// Replaces an order's canonical content (a person's correction), only while it is in
    /// `state`; false otherwise.
    pub async fn replace_order(
        conn: &mut AnyConnection,
        order: &CanonicalOrder,
        state: &str,
    ) -> Result<bool, StoreError> {
        let id = order.order_id.clone().unwrap_or_default();
        let json = serde_json::to_string(order).map_err(|source| StoreError::Corrupt {
            what: format!("order {id}"),
            source,
        })?;
        let (customer_key, lines_key, origin) = review_keys(order);
        let n = sqlx::query(
            "UPDATE orders SET canonical = $1, content_hash = $2, source_status = $3, \
             updated_at = $4, customer_key = $7, lines_key = $8, origin_message_id = $9, \
             external_number = $10 WHERE id = $5 AND state = $6",
        )
        .bind(&json)
        .bind(super::raw::sha256_hex(json.as_bytes()))
        .bind(status_word(order))
        .bind(now_ms())
        .bind(&id)
        .bind(state)
        .bind(customer_key.as_deref())
        .bind(&lines_key)
        .bind(origin.as_deref())
        .bind(external_number(order))
        .execute(&mut *conn)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    /// Orders stored for a connector.
    pub async fn order_count(&self, connector: &str) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM orders WHERE connector = $1")
                .bind(connector)
                .fetch_one(self.pool())
                .await?,
        )
    }
}

/// A row of `orders` (id, state, times, raw id, canonical) as a [`StoredOrder`].
fn stored_order(r: &sqlx::any::AnyRow, id: &str) -> Result<StoredOrder, StoreError> {
    let canonical: String = r.try_get("canonical")?;
    let order = serde_json::from_str(&canonical).map_err(|source| StoreError::Corrupt {
        what: format!("order {id}"),
        source,
    })?;
    Ok(StoredOrder {
        order_id: r.try_get("id")?,
        state: r.try_get("state")?,
        created_at: ms_to_time(r.try_get("created_at")?),
        updated_at: ms_to_time(r.try_get("updated_at")?),
        raw_id: r.try_get("raw_id")?,
        order,
    })
}
