//! The rulebook's KPIs (§6), from the append-only event log: order volume and sales, on-time
//! processing, on-time shipping, on-time delivery, order accuracy and customer satisfaction, by
//! day, week or month (UTC) and optionally by channel, connector, warehouse or carrier. Each
//! rate drills down to the orders that failed it ([`failing_orders`]).
//!
//! The figures are read from the rollup `kpi_orders` ([`rollup`]), which is brought up to date
//! from the log before every report: one indexed scan of the period, whatever the log's size.
//!
//! How each rate is judged (times are the first event of the kind; `now` is the report's time):
//! * **processing**: fulfilment requested within `[kpi] processing_sla_hours` of receipt. Counted
//!   once requested, or once the SLA has passed (then failed) unless the order was rejected or
//!   cancelled.
//! * **shipping** / **delivery**: shipped / delivered by the promised date (the order's requested
//!   delivery date, to the end of that day; else the carrier's promise). Counted for orders with a
//!   promised date once shipped / delivered, or once the date has passed (then failed) unless
//!   rejected or cancelled.
//! * **accuracy**: every order; failed by a correction in review, a change after approval, a
//!   return, or an exception of a complaint kind (`[kpi] complaint_kinds`).
//! * **satisfaction**: orders with a rating (`feedback_received`, 1–5); satisfied at 4 or more.

pub mod format;
pub mod rollup;

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::config::kpi::KpiConfig;
use crate::store::{Store, StoreError};
pub use rollup::{rebuild, refresh, run_refresh, RefreshStats, FEEDBACK_RECEIVED};

/// How the report's rows are cut in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    Day,
    /// ISO weeks, from Monday.
    Week,
    Month,
}

/// What the report's rows are cut by besides time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    Channel,
    Connector,
    Warehouse,
    Carrier,
}

impl Dimension {
    fn column(self) -> &'static str {
        match self {
            Dimension::Channel => "k.channel",
            Dimension::Connector => "k.connector",
            Dimension::Warehouse => "COALESCE(k.warehouse, '')",
            Dimension::Carrier => "COALESCE(k.carrier, '')",
        }
    }
}

/// The five rates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Kpi {
    Processing,
    Shipping,
    Delivery,
    Accuracy,
    Satisfaction,
}

impl Kpi {
    /// Every rate, in report order.
    pub const ALL: [Kpi; 5] = [
        Kpi::Processing,
        Kpi::Shipping,
        Kpi::Delivery,
        Kpi::Accuracy,
        Kpi::Satisfaction,
    ];

    /// Its name in reports and URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            Kpi::Processing => "processing",
            Kpi::Shipping => "shipping",
            Kpi::Delivery => "delivery",
            Kpi::Accuracy => "accuracy",
            Kpi::Satisfaction => "satisfaction",
        }
    }

    /// The rate of a name.
    pub fn parse(name: &str) -> Option<Kpi> {
        Kpi::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// SQL: the order counts toward the rate. `$3` is now, `$4` the processing SLA (ms).
    fn eligible(self) -> &'static str {
        match self {
            Kpi::Processing => {
                "(k.fulfilment_requested_at IS NOT NULL OR (k.state NOT IN ('rejected', \
                 'cancelled') AND k.received_at + $4 < $3))"
            }
            Kpi::Shipping => {
                "(k.promised_at IS NOT NULL AND (k.shipped_at IS NOT NULL OR (k.promised_at < $3 \
                 AND k.state NOT IN ('rejected', 'cancelled'))))"
            }
            Kpi::Delivery => {
                "(k.promised_at IS NOT NULL AND (k.delivered_at IS NOT NULL OR (k.promised_at < \
                 $3 AND k.state NOT IN ('rejected', 'cancelled'))))"
            }
            Kpi::Accuracy => "(1 = 1)",
            Kpi::Satisfaction => "(k.rating IS NOT NULL)",
        }
    }

    /// SQL: a counted order failed the rate. `{complaint}` is replaced by the complaint test.
    fn failed(self) -> &'static str {
        match self {
            Kpi::Processing => {
                "(k.fulfilment_requested_at IS NULL OR k.fulfilment_requested_at - k.received_at > $4)"
            }
            Kpi::Shipping => "(k.shipped_at IS NULL OR k.shipped_at > k.promised_at)",
            Kpi::Delivery => "(k.delivered_at IS NULL OR k.delivered_at > k.promised_at)",
            Kpi::Accuracy => {
                "(k.corrected = 1 OR k.changed = 1 OR k.returned = 1 OR {complaint})"
            }
            Kpi::Satisfaction => "(k.rating < 4)",
        }
    }
}

/// What to report.
#[derive(Debug, Clone)]
pub struct KpiQuery {
    /// Orders received from (inclusive) …
    pub from: DateTime<Utc>,
    /// … to (exclusive).
    pub to: DateTime<Utc>,
    pub period: Period,
    pub by: Option<Dimension>,
    /// The time open questions are judged at (an order past its SLA, a date passed).
    pub now: DateTime<Utc>,
}

/// A rate: how many orders counted and how many met it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Rate {
    pub counted: i64,
    pub met: i64,
    /// `met / counted`, `null` when nothing counted.
    pub rate: Option<f64>,
}

impl Rate {
    fn new(counted: i64, failed: i64) -> Rate {
        let met = counted - failed;
        Rate {
            counted,
            met,
            rate: (counted > 0).then(|| met as f64 / counted as f64),
        }
    }

    fn add(self, other: Rate) -> Rate {
        Rate::new(
            self.counted + other.counted,
            self.counted - self.met + other.counted - other.met,
        )
    }
}

/// Sales in one currency.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sales {
    /// `null`: orders that state no currency.
    pub currency: Option<String>,
    pub amount: Decimal,
}

/// One row of the report: a period, and a group when cut by a dimension.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct KpiRow {
    /// `2026-12-03`, the Monday of a week, or `2026-12`; `total` for the sum row.
    pub period: String,
    /// The dimension's value (`web`, `shopify-eu`); `null` when not cut.
    pub group: Option<String>,
    pub orders: i64,
    pub sales: Vec<Sales>,
    pub processing: Rate,
    pub shipping: Rate,
    pub delivery: Rate,
    pub accuracy: Rate,
    pub satisfaction: Rate,
}

impl KpiRow {
    /// The rate of `kpi`.
    pub fn rate(&self, kpi: Kpi) -> Rate {
        match kpi {
            Kpi::Processing => self.processing,
            Kpi::Shipping => self.shipping,
            Kpi::Delivery => self.delivery,
            Kpi::Accuracy => self.accuracy,
            Kpi::Satisfaction => self.satisfaction,
        }
    }

    fn merge(&mut self, other: &KpiRow) {
        self.orders += other.orders;
        for s in &other.sales {
            match self.sales.iter_mut().find(|x| x.currency == s.currency) {
                Some(x) => x.amount += s.amount,
                None => self.sales.push(s.clone()),
            }
        }
        self.sales.sort_by(|a, b| a.currency.cmp(&b.currency));
        self.processing = self.processing.add(other.processing);
        self.shipping = self.shipping.add(other.shipping);
        self.delivery = self.delivery.add(other.delivery);
        self.accuracy = self.accuracy.add(other.accuracy);
        self.satisfaction = self.satisfaction.add(other.satisfaction);
    }
}

/// The KPI report.
#[derive(Debug, Clone, Serialize)]
pub struct KpiReport {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub period: Period,
    pub by: Option<Dimension>,
    pub processing_sla_hours: f64,
    /// By period (oldest first), then group.
    pub rows: Vec<KpiRow>,
    /// The whole range.
    pub total: KpiRow,
}

/// An order that failed a rate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FailedOrder {
    pub order_id: String,
    pub received_at: DateTime<Utc>,
    pub channel: String,
    pub connector: String,
    /// Why it failed, in words.
    pub why: String,
}

/// The complaint test for [`Kpi::failed`], with its kinds bound from `$first` on.
fn complaint_sql(kinds: &[String], first: usize) -> String {
    if kinds.is_empty() {
        return "(1 = 0)".into();
    }
    format!(
        "k.order_id IN (SELECT order_id FROM exceptions WHERE order_id IS NOT NULL AND kind IN ({}))",
        rollup::placeholders(first, kinds.len())
    )
}

fn case_sum(cond: &str) -> String {
    format!("CAST(SUM(CASE WHEN {cond} THEN 1 ELSE 0 END) AS BIGINT)")
}

/// Thousandths as an amount with at least two decimals (`932.50`, `0.125`).
fn money(milli: i64) -> Decimal {
    let mut d = Decimal::new(milli, 3).normalize();
    if d.scale() < 2 {
        d.rescale(2);
    }
    d
}

/// The period's label of a row's bucket value.
fn label(period: Period, bucket: i64) -> String {
    match period {
        Period::Day | Period::Week => NaiveDate::from_ymd_opt(1970, 1, 1)
            .and_then(|d| d.checked_add_signed(chrono::Duration::days(bucket)))
            .map(|d| d.to_string())
            .unwrap_or_default(),
        Period::Month => format!("{:04}-{:02}", bucket / 100, bucket % 100),
    }
}

/// Computes the report (bringing the rollup up to date first).
pub async fn report(store: &Store, cfg: &KpiConfig, q: &KpiQuery) -> Result<KpiReport, StoreError> {
    refresh(store).await?;
    let bucket = match q.period {
        Period::Day => "k.day",
        Period::Week => "((k.day + 3) / 7) * 7 - 3",
        Period::Month => "k.month",
    };
    let group = q.by.map(Dimension::column);
    let complaint = complaint_sql(&cfg.complaint_kinds, 5);
    let mut sums = Vec::new();
    for kpi in Kpi::ALL {
        let failed = kpi.failed().replace("{complaint}", &complaint);
        sums.push(format!(
            "{} AS {k}_n, {} AS {k}_f",
            case_sum(kpi.eligible()),
            case_sum(&format!("{} AND {failed}", kpi.eligible())),
            k = kpi.as_str()
        ));
    }
    let sql = format!(
        "SELECT {bucket} AS bucket, {g} AS grp, k.currency AS currency, COUNT(*) AS orders, \
         CAST(SUM(COALESCE(k.total_milli, 0)) AS BIGINT) AS sales, {sums} \
         FROM kpi_orders k WHERE k.received_at >= $1 AND k.received_at < $2 \
         GROUP BY {bucket}{gg}, k.currency",
        g = group.unwrap_or("''"),
        gg = group.map(|g| format!(", {g}")).unwrap_or_default(),
        sums = sums.join(", "),
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(q.from.timestamp_millis())
        .bind(q.to.timestamp_millis())
        .bind(q.now.timestamp_millis())
        .bind(cfg.processing_sla_ms());
    for k in &cfg.complaint_kinds {
        query = query.bind(k);
    }
    let mut rows: BTreeMap<(i64, String), KpiRow> = BTreeMap::new();
    for r in query.fetch_all(store.pool()).await? {
        let bucket: i64 = r.try_get("bucket")?;
        let grp: String = r.try_get("grp")?;
        let rate = |k: Kpi| -> Result<Rate, sqlx::Error> {
            Ok(Rate::new(
                r.try_get(format!("{}_n", k.as_str()).as_str())?,
                r.try_get(format!("{}_f", k.as_str()).as_str())?,
            ))
        };
        let part = KpiRow {
            period: label(q.period, bucket),
            group: q.by.map(|_| grp.clone()),
            orders: r.try_get("orders")?,
            sales: vec![Sales {
                currency: r.try_get("currency")?,
                amount: money(r.try_get("sales")?),
            }],
            processing: rate(Kpi::Processing)?,
            shipping: rate(Kpi::Shipping)?,
            delivery: rate(Kpi::Delivery)?,
            accuracy: rate(Kpi::Accuracy)?,
            satisfaction: rate(Kpi::Satisfaction)?,
        };
        let row = rows.entry((bucket, grp)).or_insert_with(|| KpiRow {
            period: part.period.clone(),
            group: part.group.clone(),
            ..KpiRow::default()
        });
        row.merge(&part);
    }
    let rows: Vec<KpiRow> = rows.into_values().collect();
    let mut total = KpiRow {
        period: "total".into(),
        ..KpiRow::default()
    };
    for r in &rows {
        total.merge(r);
    }
    Ok(KpiReport {
        from: q.from,
        to: q.to,
        period: q.period,
        by: q.by,
        processing_sla_hours: cfg.processing_sla_hours,
        rows,
        total,
    })
}

/// The orders received in `q`'s range (and of `group`, when `q.by` is set) that failed `kpi`,
/// oldest first, at most `limit`.
pub async fn failing_orders(
    store: &Store,
    cfg: &KpiConfig,
    q: &KpiQuery,
    kpi: Kpi,
    group: Option<&str>,
    limit: i64,
) -> Result<Vec<FailedOrder>, StoreError> {
    refresh(store).await?;
    let complaint = complaint_sql(&cfg.complaint_kinds, 7);
    let failed = kpi.failed().replace("{complaint}", &complaint);
    let group_cond = match (q.by, group) {
        (Some(d), Some(_)) => format!("AND {} = $6", d.column()),
        _ => "AND ($6 = $6)".into(),
    };
    let sql = format!(
        "SELECT k.order_id, k.received_at, k.channel, k.connector, k.fulfilment_requested_at, \
         k.shipped_at, k.delivered_at, k.promised_at, k.corrected, k.changed, k.returned, \
         k.rating, {complaint} AS complaint \
         FROM kpi_orders k WHERE k.received_at >= $1 AND k.received_at < $2 \
         AND {} AND {failed} {group_cond} ORDER BY k.received_at, k.order_id LIMIT $5",
        kpi.eligible()
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(q.from.timestamp_millis())
        .bind(q.to.timestamp_millis())
        .bind(q.now.timestamp_millis())
        .bind(cfg.processing_sla_ms())
        .bind(limit)
        .bind(group.unwrap_or(""));
    for k in &cfg.complaint_kinds {
        query = query.bind(k);
    }
    let time = |v: Option<i64>| {
        v.map(|t| crate::store::ms_to_time(t).to_rfc3339())
            .unwrap_or_else(|| "never".into())
    };
    let mut out = Vec::new();
    for r in query.fetch_all(store.pool()).await? {
        let received: i64 = r.try_get("received_at")?;
        let promised: Option<i64> = r.try_get("promised_at")?;
        let why = match kpi {
            Kpi::Processing => {
                let req: Option<i64> = r.try_get("fulfilment_requested_at")?;
                format!(
                    "fulfilment requested {} (SLA {} h)",
                    time(req),
                    cfg.processing_sla_hours
                )
            }
            Kpi::Shipping => format!(
                "shipped {}, promised by {}",
                time(r.try_get("shipped_at")?),
                time(promised)
            ),
            Kpi::Delivery => format!(
                "delivered {}, promised by {}",
                time(r.try_get("delivered_at")?),
                time(promised)
            ),
            Kpi::Accuracy => {
                let mut why = Vec::new();
                for (col, word) in [
                    ("corrected", "corrected in review"),
                    ("changed", "changed after approval"),
                    ("returned", "returned"),
                    ("complaint", "complaint"),
                ] {
                    if r.try_get::<bool, _>(col)
                        .or_else(|_| r.try_get::<i64, _>(col).map(|v| v != 0))?
                    {
                        why.push(word);
                    }
                }
                why.join(", ")
            }
            Kpi::Satisfaction => {
                let rating: Option<i64> = r.try_get("rating")?;
                format!("rated {}", rating.unwrap_or_default())
            }
        };
        out.push(FailedOrder {
            order_id: r.try_get("order_id")?,
            received_at: crate::store::ms_to_time(received),
            channel: r.try_get("channel")?,
            connector: r.try_get("connector")?,
            why,
        });
    }
    Ok(out)
}

/// One line of the exceptions report: a kind and root-cause category.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExceptionsLine {
    pub kind: String,
    /// `null`: no root cause recorded yet.
    pub root_cause_category: Option<String>,
    pub total: i64,
    /// Open or acknowledged.
    pub active: i64,
    pub resolved: i64,
    pub wont_fix: i64,
    /// Active and past their due time.
    pub overdue: i64,
}

/// Exceptions raised in `[from, to)` by kind and root-cause category, most frequent first:
/// what the prevention review looks at.
pub async fn exceptions_report(
    store: &Store,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Vec<ExceptionsLine>, StoreError> {
    let rows = sqlx::query(
        "SELECT kind, root_cause_category, COUNT(*) AS total, \
         CAST(SUM(CASE WHEN status IN ('open', 'acknowledged') THEN 1 ELSE 0 END) AS BIGINT) AS active, \
         CAST(SUM(CASE WHEN status = 'resolved' THEN 1 ELSE 0 END) AS BIGINT) AS resolved, \
         CAST(SUM(CASE WHEN status = 'wont_fix' THEN 1 ELSE 0 END) AS BIGINT) AS wont_fix, \
         CAST(SUM(CASE WHEN status IN ('open', 'acknowledged') AND due_at < $3 THEN 1 ELSE 0 END) AS BIGINT) AS overdue \
         FROM exceptions WHERE created_at >= $1 AND created_at < $2 \
         GROUP BY kind, root_cause_category ORDER BY COUNT(*) DESC, kind, root_cause_category",
    )
    .bind(from.timestamp_millis())
    .bind(to.timestamp_millis())
    .bind(now.timestamp_millis())
    .fetch_all(store.pool())
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(ExceptionsLine {
                kind: r.try_get("kind")?,
                root_cause_category: r.try_get("root_cause_category")?,
                total: r.try_get("total")?,
                active: r.try_get("active")?,
                resolved: r.try_get("resolved")?,
                wont_fix: r.try_get("wont_fix")?,
                overdue: r.try_get("overdue")?,
            })
        })
        .collect()
}

/// A date (`2026-12-01`) or time (RFC 3339) as given on the command line or in a query.
pub fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc())
        .ok_or_else(|| format!("{text:?} is neither a date (YYYY-MM-DD) nor an RFC 3339 time"))
}
