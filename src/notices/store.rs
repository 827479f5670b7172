//! The tables of migration 0012: e-mails (`notices`), feedback tokens, webhook deliveries
//! (`subscriber_deliveries`), and the status page's order lookup.

use serde::Serialize;
use sqlx::{AnyConnection, Row};

use super::{NewDelivery, NewNotice};
use crate::store::{now_ms, Store, StoreError};

/// Records an e-mail unless one with its dedupe key exists (then nothing, and its feedback
/// token is not stored either); says whether it was recorded now.
pub async fn insert_notice(conn: &mut AnyConnection, n: &NewNotice) -> Result<bool, StoreError> {
    let now = now_ms();
    let inserted = sqlx::query(
        "INSERT INTO notices (id, dedupe_key, order_id, notice, lang, recipient, sender, \
         message_id, subject, raw, status, attempts, next_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'pending', 0, $11, $11, $11) \
         ON CONFLICT (dedupe_key) DO NOTHING",
    )
    .bind(&n.id)
    .bind(&n.dedupe_key)
    .bind(n.order_id.as_deref())
    .bind(&n.notice)
    .bind(&n.lang)
    .bind(&n.recipient)
    .bind(&n.sender)
    .bind(&n.message_id)
    .bind(&n.subject)
    .bind(&n.raw)
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if inserted {
        if let (Some(token), Some(order_id)) = (&n.feedback_token, &n.order_id) {
            sqlx::query(
                "INSERT INTO feedback_tokens (token_hash, order_id, notice_id, created_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (token_hash) DO NOTHING",
            )
            .bind(super::token_hash(token))
            .bind(order_id)
            .bind(&n.id)
            .bind(now)
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(inserted)
}

/// Records a webhook delivery unless it exists.
pub async fn insert_delivery(
    conn: &mut AnyConnection,
    d: &NewDelivery,
) -> Result<bool, StoreError> {
    let now = now_ms();
    Ok(sqlx::query(
        "INSERT INTO subscriber_deliveries (id, subscriber, event_id, event_type, body, status, \
         attempts, next_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6, $6) \
         ON CONFLICT (subscriber, event_id) DO NOTHING",
    )
    .bind(&d.id)
    .bind(&d.subscriber)
    .bind(&d.event_id)
    .bind(&d.event_type)
    .bind(&d.body)
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1)
}

/// An e-mail due to be sent.
#[derive(Debug, Clone)]
pub struct DueNotice {
    pub id: String,
    pub order_id: Option<String>,
    pub notice: String,
    pub sender: String,
    pub recipient: String,
    pub message_id: String,
    pub raw: String,
    /// Attempts before this one.
    pub attempts: i64,
    /// When it was recorded (ms): the outage window counts from here.
    pub created_at: i64,
}

/// The columns a [`DueNotice`] is read from.
const DUE_COLUMNS: &str =
    "id, order_id, notice, sender, recipient, message_id, raw, attempts, created_at";

impl DueNotice {
    fn from_row(r: &sqlx::any::AnyRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: r.try_get("id")?,
            order_id: r.try_get("order_id")?,
            notice: r.try_get("notice")?,
            sender: r.try_get("sender")?,
            recipient: r.try_get("recipient")?,
            message_id: r.try_get("message_id")?,
            raw: r.try_get("raw")?,
            attempts: r.try_get("attempts")?,
            created_at: r.try_get("created_at")?,
        })
    }
}

/// Up to `limit` e-mails due now, oldest first.
pub async fn due_notices(store: &Store, limit: i64) -> Result<Vec<DueNotice>, StoreError> {
    let sql = format!(
        "SELECT {DUE_COLUMNS} FROM notices WHERE status = 'pending' AND next_at <= $1 \
         ORDER BY next_at, id LIMIT $2"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(now_ms())
        .bind(limit)
        .fetch_all(store.pool())
        .await?;
    rows.iter().map(DueNotice::from_row).collect()
}

/// Moves a row of `table` from `from` to `to` (with `extra` assignments from `$3` on);
/// true if this caller moved it (another daemon may have).
async fn step(
    store: &Store,
    table: &'static str,
    id: &str,
    from: &str,
    to: &str,
) -> Result<bool, StoreError> {
    let now = now_ms();
    let claim = if to == "sending" {
        ", attempts = attempts + 1, claimed_at = $4"
    } else if to == "data" {
        ", claimed_at = $4"
    } else {
        ""
    };
    let sql = format!(
        "UPDATE {table} SET status = $1, updated_at = $4{claim} WHERE id = $2 AND status = $3"
    );
    let n = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(to)
        .bind(id)
        .bind(from)
        .bind(now)
        .execute(store.pool())
        .await?
        .rows_affected();
    Ok(n == 1)
}

/// Claims a pending e-mail for sending (attempts + 1).
pub async fn claim_notice(store: &Store, id: &str) -> Result<bool, StoreError> {
    step(store, "notices", id, "pending", "sending").await
}

/// Records that the message's data is about to go: from here the outcome may be unknown.
pub async fn notice_data(store: &Store, id: &str) -> Result<bool, StoreError> {
    step(store, "notices", id, "sending", "data").await
}

/// Records the end of an e-mail's attempt: `sent` (with the server's reply), `pending` again at
/// `next_at`, `parked` or `unknown` (with the error and exception).
pub async fn finish_notice(
    conn: &mut AnyConnection,
    id: &str,
    status: &str,
    next_at: Option<i64>,
    reply_or_error: &str,
    exception_id: Option<&str>,
) -> Result<(), StoreError> {
    let now = now_ms();
    let sent = status == "sent";
    sqlx::query(
        "UPDATE notices SET status = $1, next_at = COALESCE($2, next_at), \
         smtp_reply = CASE WHEN $3 THEN $4 ELSE smtp_reply END, \
         last_error = CASE WHEN $3 THEN last_error ELSE $4 END, \
         sent_at = CASE WHEN $3 THEN $5 ELSE sent_at END, \
         exception_id = COALESCE($6, exception_id), updated_at = $5 WHERE id = $7",
    )
    .bind(status)
    .bind(next_at)
    .bind(sent)
    .bind(reply_or_error)
    .bind(now)
    .bind(exception_id)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// E-mails whose sender stopped (a crash) more than `lease_ms` ago: those still `sending`
/// never reached the data and go back to `pending`; those in `data` are returned, to become
/// `unknown`.
pub async fn stale_notices(store: &Store, lease_ms: i64) -> Result<Vec<DueNotice>, StoreError> {
    let cutoff = now_ms() - lease_ms;
    sqlx::query(
        "UPDATE notices SET status = 'pending', updated_at = $1 \
         WHERE status = 'sending' AND claimed_at < $2",
    )
    .bind(now_ms())
    .bind(cutoff)
    .execute(store.pool())
    .await?;
    let sql =
        format!("SELECT {DUE_COLUMNS} FROM notices WHERE status = 'data' AND claimed_at < $1");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(cutoff)
        .fetch_all(store.pool())
        .await?;
    rows.iter().map(DueNotice::from_row).collect()
}

/// A webhook delivery due now.
#[derive(Debug, Clone)]
pub struct DueDelivery {
    pub id: String,
    pub subscriber: String,
    pub event_type: String,
    pub body: String,
    pub attempts: i64,
    /// When it was recorded (ms): the outage window counts from here.
    pub created_at: i64,
}

/// Up to `limit` deliveries due now, oldest first.
pub async fn due_deliveries(store: &Store, limit: i64) -> Result<Vec<DueDelivery>, StoreError> {
    let now = now_ms();
    // A delivery whose sender stopped mid-call goes again (the receiver dedupes on its id).
    sqlx::query(
        "UPDATE subscriber_deliveries SET status = 'pending', updated_at = $1 \
         WHERE status = 'sending' AND claimed_at < $2",
    )
    .bind(now)
    .bind(now - 10 * 60_000)
    .execute(store.pool())
    .await?;
    let rows = sqlx::query(
        "SELECT id, subscriber, event_type, body, attempts, created_at FROM subscriber_deliveries \
         WHERE status = 'pending' AND next_at <= $1 ORDER BY next_at, created_at, id LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(store.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(DueDelivery {
                id: r.try_get("id")?,
                subscriber: r.try_get("subscriber")?,
                event_type: r.try_get("event_type")?,
                body: r.try_get("body")?,
                attempts: r.try_get("attempts")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .collect()
}

/// Claims a pending delivery (attempts + 1).
pub async fn claim_delivery(store: &Store, id: &str) -> Result<bool, StoreError> {
    step(store, "subscriber_deliveries", id, "pending", "sending").await
}

/// Records the end of a delivery attempt.
pub async fn finish_delivery(
    conn: &mut AnyConnection,
    id: &str,
    status: &str,
    next_at: Option<i64>,
    http_status: Option<i64>,
    error: Option<&str>,
    exception_id: Option<&str>,
) -> Result<(), StoreError> {
    let now = now_ms();
    sqlx::query(
        "UPDATE subscriber_deliveries SET status = $1, next_at = COALESCE($2, next_at), \
         last_status = COALESCE($3, last_status), last_error = COALESCE($4, last_error), \
         delivered_at = CASE WHEN $1 = 'delivered' THEN $5 ELSE delivered_at END, \
         exception_id = COALESCE($6, exception_id), updated_at = $5 WHERE id = $7",
    )
    .bind(status)
    .bind(next_at)
    .bind(http_status)
    .bind(error)
    .bind(now)
    .bind(exception_id)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// One subscriber's deliveries at a glance.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SubscriberStats {
    pub pending: i64,
    pub delivered: i64,
    pub parked: i64,
    /// Attempts that failed so far (retried or parked).
    pub failed_attempts: i64,
    pub last_error: Option<String>,
    pub last_error_at: Option<chrono::DateTime<chrono::Utc>>,
    pub last_delivered_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// The delivery counts of `subscriber`.
pub async fn subscriber_stats(
    store: &Store,
    subscriber: &str,
) -> Result<SubscriberStats, StoreError> {
    let rows = sqlx::query(
        "SELECT status, COUNT(*) AS n, MAX(delivered_at) AS last_ok, \
         CAST(SUM(CASE WHEN status = 'delivered' THEN attempts - 1 ELSE attempts END) AS BIGINT) AS failed \
         FROM subscriber_deliveries WHERE subscriber = $1 GROUP BY status",
    )
    .bind(subscriber)
    .fetch_all(store.pool())
    .await?;
    let mut s = SubscriberStats::default();
    for r in &rows {
        let status: String = r.try_get("status")?;
        let n: i64 = r.try_get("n")?;
        let failed: Option<i64> = r.try_get("failed").ok().flatten();
        s.failed_attempts += failed.unwrap_or(0).max(0);
        match status.as_str() {
            "delivered" => {
                s.delivered = n;
                let last: Option<i64> = r.try_get("last_ok")?;
                s.last_delivered_at = last.map(crate::store::ms_to_time);
            }
            "parked" => s.parked = n,
            _ => s.pending += n,
        }
    }
    // The retry of a pending delivery counts its attempts too; the newest error is shown.
    let last = sqlx::query(
        "SELECT last_error, updated_at FROM subscriber_deliveries \
         WHERE subscriber = $1 AND last_error IS NOT NULL ORDER BY updated_at DESC LIMIT 1",
    )
    .bind(subscriber)
    .fetch_optional(store.pool())
    .await?;
    if let Some(r) = last {
        s.last_error = r.try_get("last_error")?;
        let at: i64 = r.try_get("updated_at")?;
        s.last_error_at = Some(crate::store::ms_to_time(at));
    }
    Ok(s)
}

/// How many e-mails wait to be sent.
pub async fn notices_pending(store: &Store) -> Result<i64, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM notices WHERE status IN ('pending', 'sending')")
            .fetch_one(store.pool())
            .await?,
    )
}

/// What using a feedback token came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenUse {
    /// Recorded for this order.
    Recorded(String),
    /// The token was used before.
    Used,
    /// No such token.
    Unknown,
}

/// Whether a token exists and is unused (for the form).
pub async fn token_state(store: &Store, token: &str) -> Result<TokenUse, StoreError> {
    let row = sqlx::query("SELECT order_id, used_at FROM feedback_tokens WHERE token_hash = $1")
        .bind(super::token_hash(token))
        .fetch_optional(store.pool())
        .await?;
    Ok(match row {
        None => TokenUse::Unknown,
        Some(r) => {
            let used: Option<i64> = r.try_get("used_at")?;
            if used.is_some() {
                TokenUse::Used
            } else {
                TokenUse::Recorded(r.try_get("order_id")?)
            }
        }
    })
}

/// Uses a feedback token once: marks it and appends `feedback_received` `{"rating": n}` to the
/// order's trail, in one transaction.
pub async fn use_token(store: &Store, token: &str, rating: u8) -> Result<TokenUse, StoreError> {
    let hash = super::token_hash(token);
    let mut tx = store.begin().await?;
    let order_id: Option<String> = sqlx::query_scalar(
        "UPDATE feedback_tokens SET used_at = $1, rating = $2 \
         WHERE token_hash = $3 AND used_at IS NULL RETURNING order_id",
    )
    .bind(now_ms())
    .bind(i64::from(rating))
    .bind(&hash)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(order_id) = order_id else {
        tx.rollback().await?;
        return token_state(store, token).await.map(|s| match s {
            TokenUse::Recorded(_) => TokenUse::Used,
            other => other,
        });
    };
    let data = serde_json::json!({ "rating": rating });
    Store::append_event(
        &mut tx,
        &order_id,
        super::FEEDBACK_EVENT,
        None,
        "feedback:link",
        Some(&data),
    )
    .await?;
    tx.commit().await?;
    Ok(TokenUse::Recorded(order_id))
}

/// The orders whose number (the source's order number, its id, or ours) is `number`.
pub async fn orders_by_number(store: &Store, number: &str) -> Result<Vec<String>, StoreError> {
    // The number customers know is a column of its own (migration 0024), indexed.
    let sql = "SELECT id FROM orders WHERE external_number = $1 OR external_id = $1 OR id = $1 \
               LIMIT 20";
    Ok(sqlx::query_scalar(sql)
        .bind(number)
        .fetch_all(store.pool())
        .await?)
}
