//! `/api/reports/…` (viewer): the KPI report with its drill-down, and the exceptions report by
//! kind and root cause — the same functions as `ordergate report`.

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use super::api::authorize;
use super::{ApiError, AppState};
use crate::config::ApiRole;
use crate::kpi::{self, Dimension, Kpi, KpiQuery, Period};

/// `?from=2026-11-01&to=2026-12-01&period=month&by=channel&failed=shipping&group=web&limit=`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct KpiParams {
    /// A date or RFC 3339 time; default: 30 days before `to`.
    from: Option<String>,
    /// Default: now.
    to: Option<String>,
    #[serde(default = "default_period")]
    period: Period,
    by: Option<Dimension>,
    /// A rate: list the orders that failed it instead of the figures.
    failed: Option<Kpi>,
    /// With `failed` and `by`: only this group.
    group: Option<String>,
    limit: Option<i64>,
}

fn default_period() -> Period {
    Period::Day
}

/// The report's range from the query: `to` defaults to now, `from` to 30 days before it.
pub fn range(
    from: Option<&str>,
    to: Option<&str>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), String> {
    let to = match to {
        Some(t) => kpi::parse_time(t)?,
        None => Utc::now(),
    };
    let from = match from {
        Some(f) => kpi::parse_time(f)?,
        None => to - chrono::Duration::days(30),
    };
    if from >= to {
        return Err("from must be before to".into());
    }
    Ok((from, to))
}

pub(super) async fn kpi_report(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(p): Query<KpiParams>,
) -> Result<Json<Value>, ApiError> {
    authorize(&s, &headers, ApiRole::Viewer)?;
    let (from, to) = range(p.from.as_deref(), p.to.as_deref()).map_err(ApiError::Invalid)?;
    let q = KpiQuery {
        from,
        to,
        period: p.period,
        by: p.by,
        now: Utc::now(),
    };
    if let Some(rate) = p.failed {
        let orders = kpi::failing_orders(
            &s.store,
            &s.ops.kpi,
            &q,
            rate,
            p.group.as_deref(),
            p.limit.unwrap_or(1000).clamp(1, 10_000),
        )
        .await?;
        return Ok(Json(
            json!({"kpi": rate, "from": from, "to": to, "orders": orders}),
        ));
    }
    Ok(Json(json!(kpi::report(&s.store, &s.ops.kpi, &q).await?)))
}

/// `?from=&to=`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RangeParams {
    from: Option<String>,
    to: Option<String>,
}

pub(super) async fn exceptions_report(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(p): Query<RangeParams>,
) -> Result<Json<Value>, ApiError> {
    authorize(&s, &headers, ApiRole::Viewer)?;
    let (from, to) = range(p.from.as_deref(), p.to.as_deref()).map_err(ApiError::Invalid)?;
    let lines = kpi::exceptions_report(&s.store, from, to, Utc::now()).await?;
    Ok(Json(json!({"from": from, "to": to, "lines": lines})))
}
