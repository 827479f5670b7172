//! What the review stage, the change and cancel actions and the reply matching read and write
//! beside the orders (migration 0006): earlier orders of the same customer, an order's version
//! inside a unit's transaction, the order a reply's thread names, the last review decision,
//! and the changes asked for through the API by their idempotency key.

use sqlx::{AnyConnection, Row};

use super::{now_ms, Store, StoreError};
use crate::model::CanonicalOrder;

/// A change or cancel asked for through the API, as first answered.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeRecord {
    /// `change` or `cancel`.
    pub kind: String,
    /// Hex sha256 of the request, to tell the same request from another under the same key.
    pub request_hash: String,
    /// The first answer, returned again for the same request.
    pub outcome: serde_json::Value,
}

fn corrupt(what: String) -> impl FnOnce(serde_json::Error) -> StoreError {
    move |source| StoreError::Corrupt { what, source }
}

/// `$first, $first+1, …` for `n` values.
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Store {
    /// The duplicates rule's candidates: orders of the same customer with the same lines
    /// (their stored keys, see `crate::rules::review`), created since `since_ms` and before
    /// `order_id` (ids grow with time), neither rejected nor cancelled. At most `limit`.
    pub async fn duplicate_candidates(
        &self,
        order_id: &str,
        customer_key: &str,
        lines_key: &str,
        since_ms: i64,
        limit: i64,
    ) -> Result<Vec<(String, CanonicalOrder)>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, canonical FROM orders WHERE customer_key = $1 AND lines_key = $2 \
             AND created_at >= $3 AND id < $4 AND state NOT IN ('rejected', 'cancelled') \
             ORDER BY id DESC LIMIT $5",
        )
        .bind(customer_key)
        .bind(lines_key)
        .bind(since_ms)
        .bind(order_id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|r| {
                let id: String = r.try_get("id")?;
                let text: String = r.try_get("canonical")?;
                let order = serde_json::from_str(&text).map_err(corrupt(format!("order {id}")))?;
                Ok((id, order))
            })
            .collect()
    }

    /// An order's state and content hash (`None`: no such order). Read before a review and
    /// again in its transaction: a review commits only on the content it read.
    pub async fn order_version(
        conn: &mut AnyConnection,
        order_id: &str,
    ) -> Result<Option<(String, String)>, StoreError> {
        let row = sqlx::query("SELECT state, content_hash FROM orders WHERE id = $1")
            .bind(order_id)
            .fetch_optional(&mut *conn)
            .await?;
        row.map(|r| Ok((r.try_get("state")?, r.try_get("content_hash")?)))
            .transpose()
    }

    /// The newest order that came in one of these messages (their Message-IDs): the order a
    /// reply's `In-Reply-To` / `References` names. Returns its id, state and content.
    pub async fn order_by_origin_message(
        conn: &mut AnyConnection,
        message_ids: &[String],
    ) -> Result<Option<(String, String, CanonicalOrder)>, StoreError> {
        if message_ids.is_empty() {
            return Ok(None);
        }
        let sql = format!(
            "SELECT id, state, canonical FROM orders WHERE origin_message_id IN ({}) \
             ORDER BY id DESC LIMIT 1",
            placeholders(1, message_ids.len())
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in message_ids {
            q = q.bind(id.as_str());
        }
        let Some(r) = q.fetch_optional(&mut *conn).await? else {
            return Ok(None);
        };
        let id: String = r.try_get("id")?;
        let text: String = r.try_get("canonical")?;
        let order = serde_json::from_str(&text).map_err(corrupt(format!("order {id}")))?;
        Ok(Some((id, r.try_get("state")?, order)))
    }

    /// The data of an order's newest audit event of one of `kinds`, with its kind.
    pub async fn last_event_of(
        conn: &mut AnyConnection,
        order_id: &str,
        kinds: &[&str],
    ) -> Result<Option<(String, Option<serde_json::Value>)>, StoreError> {
        let sql = format!(
            "SELECT kind, data FROM order_events WHERE order_id = $1 AND kind IN ({}) \
             ORDER BY seq DESC LIMIT 1",
            placeholders(2, kinds.len())
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(order_id);
        for k in kinds {
            q = q.bind(*k);
        }
        let Some(r) = q.fetch_optional(&mut *conn).await? else {
            return Ok(None);
        };
        let data: Option<String> = r.try_get("data")?;
        Ok(Some((
            r.try_get("kind")?,
            data.and_then(|d| serde_json::from_str(&d).ok()),
        )))
    }

    /// The change asked for under `change_id` for an order, if any.
    pub async fn change_record(
        conn: &mut AnyConnection,
        order_id: &str,
        change_id: &str,
    ) -> Result<Option<ChangeRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT kind, request_hash, outcome FROM order_changes \
             WHERE order_id = $1 AND change_id = $2",
        )
        .bind(order_id)
        .bind(change_id)
        .fetch_optional(&mut *conn)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let outcome: String = r.try_get("outcome")?;
        Ok(Some(ChangeRecord {
            kind: r.try_get("kind")?,
            request_hash: r.try_get("request_hash")?,
            outcome: serde_json::from_str(&outcome)
                .map_err(corrupt(format!("change {change_id} of order {order_id}")))?,
        }))
    }

    /// Records a change asked for under `change_id`; false when one was recorded already (a
    /// concurrent request with the same key won).
    pub async fn insert_change_record(
        conn: &mut AnyConnection,
        order_id: &str,
        change_id: &str,
        record: &ChangeRecord,
        requested_by: &str,
    ) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "INSERT INTO order_changes (order_id, change_id, kind, request_hash, outcome, \
             requested_by, at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (order_id, change_id) DO NOTHING",
        )
        .bind(order_id)
        .bind(change_id)
        .bind(&record.kind)
        .bind(&record.request_hash)
        .bind(record.outcome.to_string())
        .bind(requested_by)
        .bind(now_ms())
        .execute(&mut *conn)
        .await?
        .rows_affected();
        Ok(n == 1)
    }
}
