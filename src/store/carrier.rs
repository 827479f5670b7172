//! Carrier labels (one purchase per parcel key, recorded before the carrier is called) and the
//! documents kept with an order (labels, dispatch documents, delivery notes).

use serde::Serialize;
use sqlx::{AnyConnection, Row};

use super::{now_ms, Store, StoreError};

/// A label purchase as ordergate knows it.
#[derive(Debug, Clone, Serialize)]
pub struct LabelRecord {
    /// ordergate's key (`outbound::carrier::label_key`).
    pub key: String,
    pub order_id: String,
    /// The `[[carriers]]` instance.
    pub carrier: String,
    /// `reserved` (the row guards the order's booking; no call has gone out under this key),
    /// `intended` (a call may have reached the carrier), `bought`, `refused` or `dispatched`.
    pub status: String,
    /// The purchase as answered (JSON), once bought.
    pub result: Option<serde_json::Value>,
    /// The pickup requested for it (JSON), if any.
    pub pickup: Option<serde_json::Value>,
}

/// A document to keep with an order ([`Store::put_order_documents`]).
#[derive(Debug, Clone)]
pub struct NewDocument<'a> {
    /// `label`, `dispatch`, `delivery_note`.
    pub kind: &'a str,
    pub name: String,
    pub content_type: &'a str,
    pub content: &'a [u8],
}

/// A document kept with an order.
#[derive(Debug, Clone, Serialize)]
pub struct OrderDocument {
    pub order_id: String,
    /// `label`, `dispatch`, `delivery_note`.
    pub kind: String,
    /// Its name within the kind (`customer.pdf`, the label key).
    pub name: String,
    pub content_type: String,
    #[serde(skip)]
    pub content: Vec<u8>,
    pub created_at: i64,
}

fn json_column(
    r: &sqlx::any::AnyRow,
    column: &str,
) -> Result<Option<serde_json::Value>, StoreError> {
    let text: Option<String> = r.try_get(column)?;
    text.map(|t| {
        serde_json::from_str(&t).map_err(|source| StoreError::Corrupt {
            what: format!("carrier label {column}"),
            source,
        })
    })
    .transpose()
}

impl Store {
    /// The label purchase keyed `key`, if recorded.
    pub async fn label(&self, key: &str) -> Result<Option<LabelRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT lkey, order_id, carrier, status, result, pickup FROM carrier_labels \
             WHERE lkey = $1",
        )
        .bind(key)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| {
            Ok(LabelRecord {
                key: r.try_get("lkey")?,
                order_id: r.try_get("order_id")?,
                carrier: r.try_get("carrier")?,
                status: r.try_get("status")?,
                result: json_column(&r, "result")?,
                pickup: json_column(&r, "pickup")?,
            })
        })
        .transpose()
    }

    /// Records the intent to buy label `key` (before the carrier is called); returns the
    /// stored record when one exists already (an earlier attempt got that far).
    ///
    /// With `reserve` the row is written as the lock of an order's booking (see
    /// [`Store::label_claim`]) before any call: `reserved`, which
    /// [`Store::label_claim_refresh`] turns into `intended` just before the first call goes
    /// out, so a purchase that finds it `reserved` knows no earlier attempt reached the
    /// carrier and need not look its key up.
    pub async fn label_intend(
        &self,
        key: &str,
        order_id: &str,
        carrier: &str,
        warehouse: Option<&str>,
        reserve: bool,
    ) -> Result<Option<LabelRecord>, StoreError> {
        let status = if reserve { "reserved" } else { "intended" };
        if let Some(l) = self.label(key).await? {
            return Ok(Some(l));
        }
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO carrier_labels (lkey, order_id, carrier, warehouse, status, result, \
             pickup, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, NULL, NULL, $6, $6) \
             ON CONFLICT (lkey) DO NOTHING",
        )
        .bind(key)
        .bind(order_id)
        .bind(carrier)
        .bind(warehouse)
        .bind(status)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(None)
    }

    /// Claims the booking guarded by label row `key` (see migration 0020) when it is free or its
    /// claim is older than `lease_ms`, or refreshes this holder's claim; returns whether the
    /// caller holds it now. One UPDATE: two workers never both get it.
    pub async fn label_claim(&self, key: &str, lease_ms: i64) -> Result<bool, StoreError> {
        let now = now_ms();
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "UPDATE carrier_labels SET claimed_at = $2 WHERE lkey = $1 AND claimed_at < $3",
        )
        .bind(key)
        .bind(now)
        .bind(now.saturating_sub(lease_ms))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// Keeps this holder's claim on `key` fresh (before each call to the carrier), and marks a
    /// `reserved` row `intended`: from here on a call under it may reach the carrier.
    pub async fn label_claim_refresh(&self, key: &str) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "UPDATE carrier_labels SET claimed_at = $2, \
             status = CASE WHEN status = 'reserved' THEN 'intended' ELSE status END WHERE lkey = $1",
        )
            .bind(key)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Gives up the claim on `key`.
    pub async fn label_release(&self, key: &str) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query("UPDATE carrier_labels SET claimed_at = 0 WHERE lkey = $1")
            .bind(key)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records what the carrier answered for label `key` (`bought` with the purchase,
    /// `refused` with the reason, `dispatched` with the dispatch document's facts), at once
    /// and on its own: the purchase is a fact whatever happens to the rest of the unit.
    pub async fn label_set(
        &self,
        key: &str,
        status: &str,
        result: &serde_json::Value,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "UPDATE carrier_labels SET status = $2, result = $3, updated_at = $4 WHERE lkey = $1",
        )
        .bind(key)
        .bind(status)
        .bind(result.to_string())
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records the pickup requested for label `key`.
    pub async fn label_pickup(
        &self,
        key: &str,
        pickup: &serde_json::Value,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query("UPDATE carrier_labels SET pickup = $2, updated_at = $3 WHERE lkey = $1")
            .bind(key)
            .bind(pickup.to_string())
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Keeps a document with an order; one already stored under the same kind and name stays
    /// (a redelivered message stores nothing new). Returns whether it was stored now.
    pub async fn put_order_document(
        conn: &mut AnyConnection,
        order_id: &str,
        kind: &str,
        name: &str,
        content_type: &str,
        content: &[u8],
    ) -> Result<bool, StoreError> {
        let doc = NewDocument {
            kind,
            name: name.to_string(),
            content_type,
            content,
        };
        Ok(Self::put_order_documents(conn, order_id, &[doc]).await? > 0)
    }

    /// Keeps several documents with an order in one statement per 100 (the delivery note's
    /// copies, a shipment's labels); one already stored under the same kind and name stays.
    /// Returns how many were stored now.
    pub async fn put_order_documents(
        conn: &mut AnyConnection,
        order_id: &str,
        docs: &[NewDocument<'_>],
    ) -> Result<u64, StoreError> {
        let now = now_ms();
        let mut stored = 0;
        for chunk in docs.chunks(super::ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO order_documents (order_id, kind, name, content_type, content, \
                 created_at) VALUES {} ON CONFLICT (order_id, kind, name) DO NOTHING",
                super::value_rows(chunk.len(), 6)
            );
            // Only numbered placeholders are interpolated; the values are bound.
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for d in chunk {
                q = q
                    .bind(order_id)
                    .bind(d.kind)
                    .bind(d.name.as_str())
                    .bind(d.content_type)
                    .bind(d.content)
                    .bind(now);
            }
            stored += q.execute(&mut *conn).await?.rows_affected();
        }
        Ok(stored)
    }

    /// One document of an order.
    pub async fn order_document(
        &self,
        order_id: &str,
        kind: &str,
        name: &str,
    ) -> Result<Option<OrderDocument>, StoreError> {
        let row = sqlx::query(
            "SELECT order_id, kind, name, content_type, content, created_at FROM order_documents \
             WHERE order_id = $1 AND kind = $2 AND name = $3",
        )
        .bind(order_id)
        .bind(kind)
        .bind(name)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| {
            Ok(OrderDocument {
                order_id: r.try_get("order_id")?,
                kind: r.try_get("kind")?,
                name: r.try_get("name")?,
                content_type: r.try_get("content_type")?,
                content: r.try_get("content")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .transpose()
    }

    /// The documents of an order (without their content), oldest first.
    pub async fn order_documents(&self, order_id: &str) -> Result<Vec<OrderDocument>, StoreError> {
        let rows = sqlx::query(
            "SELECT order_id, kind, name, content_type, created_at FROM order_documents \
             WHERE order_id = $1 ORDER BY created_at, kind, name",
        )
        .bind(order_id)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(OrderDocument {
                    order_id: r.try_get("order_id")?,
                    kind: r.try_get("kind")?,
                    name: r.try_get("name")?,
                    content_type: r.try_get("content_type")?,
                    content: Vec::new(),
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn documents_stored_together_stay_once_each_when_stored_again() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("s.sqlite").display());
        let store = Store::connect(&url, 2, "normal").await.unwrap();
        let doc = |name: &str, content: &'static [u8]| NewDocument {
            kind: "delivery_note",
            name: name.to_string(),
            content_type: "text/plain",
            content,
        };
        let first = [doc("customer.html", b"a"), doc("customer.pdf", b"b")];
        let mut tx = store.begin().await.unwrap();
        assert_eq!(
            Store::put_order_documents(&mut tx, "og_1", &first)
                .await
                .unwrap(),
            2
        );
        tx.commit().await.unwrap();
        // A redelivered message stores them again: the stored ones stay, a new one is added.
        let again = [doc("customer.pdf", b"other"), doc("finance.pdf", b"c")];
        let mut tx = store.begin().await.unwrap();
        assert_eq!(
            Store::put_order_documents(&mut tx, "og_1", &again)
                .await
                .unwrap(),
            1
        );
        tx.commit().await.unwrap();
        let kept = store
            .order_document("og_1", "delivery_note", "customer.pdf")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(kept.content, b"b");
        assert_eq!(store.order_documents("og_1").await.unwrap().len(), 3);
    }
}
