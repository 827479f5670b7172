//! The KPI rollup (`kpi_orders`, migration 0014): one row of facts per order, derived from the
//! append-only event log and the order's own tables — never a counter that is added to.
//! [`refresh`] recomputes the row of every order with events newer than the watermark;
//! [`rebuild`] recomputes every row. Either can run at any time, also twice at once: a row is
//! replaced whole by what the log says now.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;

use chrono::{Datelike, NaiveDate};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::Row;

use crate::store::{Store, StoreError};

/// The watermark's name in `kpi_watermark`.
const WATERMARK: &str = "order_events";
/// Events below the watermark read again on each refresh: on PostgreSQL an identity value is
/// taken before its transaction commits, so an event may appear behind one already read.
const OVERLAP: i64 = 1_000;
/// Orders computed per round trip.
const BATCH: usize = 400;

/// The event kinds the facts come from.
const KINDS: [&str; 11] = [
    "received",
    "approve",
    "request_fulfilment",
    "ship",
    "scan",
    "deliver",
    "corrected",
    "changed",
    "request_return",
    "receive_return",
    FEEDBACK_RECEIVED,
];

/// The order event a customer's rating is recorded with (data `{"rating": 1..5}`).
pub const FEEDBACK_RECEIVED: &str = "feedback_received";

/// What a refresh did.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct RefreshStats {
    /// Orders whose row was recomputed.
    pub orders: usize,
    /// The last event read.
    pub through_seq: i64,
}

/// One order's facts, as stored in `kpi_orders`.
#[derive(Debug, Clone, PartialEq)]
struct Facts {
    order_id: String,
    received_at: i64,
    state: String,
    channel: String,
    connector: String,
    warehouse: Option<String>,
    carrier: Option<String>,
    currency: Option<String>,
    total_milli: Option<i64>,
    fulfilment_requested_at: Option<i64>,
    shipped_at: Option<i64>,
    delivered_at: Option<i64>,
    promised_at: Option<i64>,
    corrected: bool,
    changed: bool,
    returned: bool,
    rating: Option<i64>,
}

/// Recomputes the rows of orders with events the rollup has not read yet.
pub async fn refresh(store: &Store) -> Result<RefreshStats, StoreError> {
    let mark: i64 = sqlx::query_scalar("SELECT seq FROM kpi_watermark WHERE name = $1")
        .bind(WATERMARK)
        .fetch_optional(store.pool())
        .await?
        .unwrap_or(0);
    let top: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM order_events")
        .fetch_one(store.pool())
        .await?;
    if top <= mark {
        return Ok(RefreshStats {
            orders: 0,
            through_seq: mark,
        });
    }
    let mut done = 0;
    if mark == 0 {
        // Nothing read yet: every order, page by page.
        let mut after = String::new();
        loop {
            let ids: Vec<String> =
                sqlx::query_scalar("SELECT id FROM orders WHERE id > $1 ORDER BY id LIMIT $2")
                    .bind(&after)
                    .bind(BATCH as i64)
                    .fetch_all(store.pool())
                    .await?;
            let Some(last) = ids.last() else { break };
            after = last.clone();
            done += recompute(store, &ids).await?;
        }
    } else {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT order_id FROM order_events WHERE seq > $1 AND seq <= $2",
        )
        .bind((mark - OVERLAP).max(0))
        .bind(top)
        .fetch_all(store.pool())
        .await?;
        for chunk in ids.chunks(BATCH) {
            done += recompute(store, chunk).await?;
        }
    }
    let mut tx = store.begin().await?;
    sqlx::query(
        "INSERT INTO kpi_watermark (name, seq) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE \
         SET seq = CASE WHEN excluded.seq > kpi_watermark.seq THEN excluded.seq \
         ELSE kpi_watermark.seq END",
    )
    .bind(WATERMARK)
    .bind(top)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    // How much the rollup recomputes: it follows the event log's rate.
    metrics::counter!("ordergate_kpi_rollup_orders_total").increment(done as u64);
    Ok(RefreshStats {
        orders: done,
        through_seq: top,
    })
}

/// Keeps the rollup up to date in the background, every `every`, so that a report (and the
/// first one after an upgrade, which reads the whole log) seldom has much to do itself.
pub async fn run_refresh(
    store: Store,
    every: std::time::Duration,
    shutdown: tokio_util::sync::CancellationToken,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.cancelled() => return,
        }
        match tokio::select! {
            r = refresh(&store) => r,
            _ = shutdown.cancelled() => return,
        } {
            Ok(s) if s.orders > 0 => {
                tracing::debug!(
                    orders = s.orders,
                    through = s.through_seq,
                    "KPI rollup refreshed."
                );
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(error = %error, "KPI rollup refresh failed."),
        }
    }
}

/// Forgets the rollup and computes every order's row again from the log.
pub async fn rebuild(store: &Store) -> Result<RefreshStats, StoreError> {
    let mut tx = store.begin().await?;
    sqlx::query("DELETE FROM kpi_orders")
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM kpi_watermark WHERE name = $1")
        .bind(WATERMARK)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    refresh(store).await
}

/// `$first, $first+1, …` for `n` values.
pub(crate) fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Computes and stores the rows of `ids`; returns how many orders exist of them.
async fn recompute(store: &Store, ids: &[String]) -> Result<usize, StoreError> {
    if ids.is_empty() {
        return Ok(0);
    }
    let list = placeholders(1, ids.len());
    let pool = store.pool();

    let sql = format!(
        "SELECT id, connector, state, created_at, canonical FROM orders WHERE id IN ({list})"
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for id in ids {
        q = q.bind(id);
    }
    let mut facts: HashMap<String, Facts> = HashMap::with_capacity(ids.len());
    let mut requested: HashMap<String, Option<String>> = HashMap::new();
    for r in q.fetch_all(pool).await? {
        let id: String = r.try_get("id")?;
        let canonical: String = r.try_get("canonical")?;
        let c: serde_json::Value = serde_json::from_str(&canonical).unwrap_or_default();
        let total = match &c["total"] {
            serde_json::Value::String(s) => Decimal::from_str(s).ok(),
            serde_json::Value::Number(n) => Decimal::from_str(&n.to_string()).ok(),
            _ => None,
        };
        requested.insert(
            id.clone(),
            c["requested_delivery"].as_str().map(str::to_string),
        );
        let created_at: i64 = r.try_get("created_at")?;
        facts.insert(
            id.clone(),
            Facts {
                order_id: id,
                received_at: created_at,
                state: r.try_get("state")?,
                channel: c["source"]["channel"].as_str().unwrap_or("unknown").into(),
                connector: r.try_get("connector")?,
                warehouse: None,
                carrier: None,
                currency: c["currency"].as_str().map(str::to_string),
                total_milli: total
                    .map(|t| (t * Decimal::from(1000)).round())
                    .and_then(|t| t.to_i64()),
                fulfilment_requested_at: None,
                shipped_at: None,
                delivered_at: None,
                promised_at: None,
                corrected: false,
                changed: false,
                returned: false,
                rating: None,
            },
        );
    }

    let kinds = placeholders(ids.len() + 1, KINDS.len());
    let sql = format!(
        "SELECT order_id, kind, at, data FROM order_events WHERE order_id IN ({list}) \
         AND kind IN ({kinds}) ORDER BY seq"
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for id in ids {
        q = q.bind(id);
    }
    for k in KINDS {
        q = q.bind(k);
    }
    let mut approved: HashSet<String> = HashSet::new();
    let mut received_seen: HashSet<String> = HashSet::new();
    for r in q.fetch_all(pool).await? {
        let id: String = r.try_get("order_id")?;
        let Some(f) = facts.get_mut(&id) else {
            continue;
        };
        let kind: String = r.try_get("kind")?;
        let at: i64 = r.try_get("at")?;
        let first = |slot: &mut Option<i64>| {
            if slot.is_none() {
                *slot = Some(at);
            }
        };
        match kind.as_str() {
            // The first receipt is when the order arrived.
            "received" if received_seen.insert(id.clone()) => f.received_at = at,
            "approve" => {
                approved.insert(id.clone());
            }
            "request_fulfilment" => first(&mut f.fulfilment_requested_at),
            // A parcel delivered or scanned with no "shipped" seen had left by then.
            "ship" | "scan" => first(&mut f.shipped_at),
            "deliver" => {
                first(&mut f.shipped_at);
                first(&mut f.delivered_at);
            }
            "corrected" => f.corrected = true,
            "changed" if approved.contains(&id) => f.changed = true,
            "request_return" | "receive_return" => f.returned = true,
            FEEDBACK_RECEIVED => {
                let data: Option<String> = r.try_get("data")?;
                let rating = data
                    .and_then(|d| serde_json::from_str::<serde_json::Value>(&d).ok())
                    .and_then(|d| d["rating"].as_i64())
                    .filter(|n| (1..=5).contains(n));
                if rating.is_some() {
                    f.rating = rating;
                }
            }
            _ => {}
        }
    }

    let sql = format!(
        "SELECT order_id, warehouse FROM fulfilments WHERE order_id IN ({list}) \
         ORDER BY created_at, fkey"
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for id in ids {
        q = q.bind(id);
    }
    for r in q.fetch_all(pool).await? {
        let id: String = r.try_get("order_id")?;
        if let Some(f) = facts.get_mut(&id) {
            if f.warehouse.is_none() {
                f.warehouse = Some(r.try_get("warehouse")?);
            }
        }
    }
    let sql = format!(
        "SELECT order_id, carrier, promised_at FROM shipments WHERE order_id IN ({list}) \
         ORDER BY created_at, id"
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for id in ids {
        q = q.bind(id);
    }
    let mut carrier_promise: HashMap<String, i64> = HashMap::new();
    for r in q.fetch_all(pool).await? {
        let id: String = r.try_get("order_id")?;
        if let Some(f) = facts.get_mut(&id) {
            if f.carrier.is_none() {
                f.carrier = Some(r.try_get("carrier")?);
            }
            if let Some(p) = r.try_get::<Option<i64>, _>("promised_at")? {
                let e = carrier_promise.entry(id).or_insert(p);
                *e = (*e).min(p);
            }
        }
    }
    for (id, f) in facts.iter_mut() {
        f.promised_at = requested
            .get(id)
            .and_then(|r| r.as_deref())
            .and_then(promised_ms)
            .or_else(|| carrier_promise.get(id).copied());
    }
    let rows: Vec<Facts> = facts.into_values().collect();
    let n = rows.len();
    // One write transaction per batch: on SQLite it takes its turn with the pipeline's writers.
    let mut tx = store.begin().await?;
    for chunk in rows.chunks(crate::store::ROWS_PER_STATEMENT) {
        upsert(&mut tx, chunk).await?;
    }
    tx.commit().await?;
    Ok(n)
}

/// The end of the promised day (a `YYYY-MM-DD…` date: its last millisecond, UTC) or the
/// promised time (RFC 3339), in Unix ms.
pub(crate) fn promised_ms(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp_millis());
    }
    let date = NaiveDate::parse_from_str(text.get(..10)?, "%Y-%m-%d").ok()?;
    let next = date.succ_opt()?.and_hms_opt(0, 0, 0)?.and_utc();
    Some(next.timestamp_millis() - 1)
}

/// Days since 1970-01-01 and the month (yyyymm) of a Unix ms time, UTC.
pub(crate) fn day_and_month(ms: i64) -> (i64, i64) {
    let t = crate::store::ms_to_time(ms);
    (
        ms.div_euclid(86_400_000),
        i64::from(t.year()) * 100 + i64::from(t.month()),
    )
}

const COLUMNS: &str = "order_id, received_at, day, month, state, channel, connector, warehouse, \
     carrier, currency, total_milli, fulfilment_requested_at, shipped_at, delivered_at, \
     promised_at, corrected, changed, returned, rating";

async fn upsert(conn: &mut sqlx::AnyConnection, rows: &[Facts]) -> Result<(), StoreError> {
    let updates = COLUMNS
        .split(", ")
        .skip(1)
        .map(|c| format!("{c} = excluded.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "INSERT INTO kpi_orders ({COLUMNS}) VALUES {} ON CONFLICT (order_id) DO UPDATE SET {updates}",
        crate::store::value_rows(rows.len(), 19)
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for f in rows {
        let (day, month) = day_and_month(f.received_at);
        q = q
            .bind(&f.order_id)
            .bind(f.received_at)
            .bind(day)
            .bind(month)
            .bind(&f.state)
            .bind(&f.channel)
            .bind(&f.connector)
            .bind(f.warehouse.as_deref())
            .bind(f.carrier.as_deref())
            .bind(f.currency.as_deref())
            .bind(f.total_milli)
            .bind(f.fulfilment_requested_at)
            .bind(f.shipped_at)
            .bind(f.delivered_at)
            .bind(f.promised_at)
            .bind(i64::from(f.corrected))
            .bind(i64::from(f.changed))
            .bind(i64::from(f.returned))
            .bind(f.rating);
    }
    q.execute(&mut *conn).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_promised_day_ends_at_its_last_millisecond() {
        let end = promised_ms("2026-03-04").unwrap();
        assert_eq!(
            crate::store::ms_to_time(end).to_rfc3339(),
            "2026-03-04T23:59:59.999+00:00"
        );
        assert_eq!(promised_ms("2026-03-04T10:00:00Z"), Some(1_772_618_400_000));
        assert_eq!(promised_ms("next week"), None);
        assert_eq!(promised_ms(""), None);
    }

    #[test]
    fn days_and_months_are_utc() {
        assert_eq!(day_and_month(0), (0, 197001));
        assert_eq!(day_and_month(-1), (-1, 196912));
        let t = chrono::DateTime::parse_from_rfc3339("2026-12-03T23:30:00Z").unwrap();
        assert_eq!(day_and_month(t.timestamp_millis()).1, 202612);
    }
}
