//! The dashboard's pages (reads; viewers and operators). Each gathers what it shows from the
//! store, the bus and the health tracker, and renders one template.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use minijinja::context;
use minijinja::value::Serde;
use serde::Deserialize;
use sqlx::Row;

use super::session::{reader, Session};
use super::{page, page_headers, UiError};
use crate::http::AppState;
use crate::kpi::{self, Dimension, Kpi, KpiQuery, Period};
use crate::model::state::ALL as STATES;
use crate::store::{ExceptionFilter, StoreError};

/// What every page's layout needs: who is signed in, whether they may act, the CSRF token.
fn me(session: &Session) -> minijinja::Value {
    context! {
        holder => session.holder.clone(),
        role => if session.can_act() { "operator" } else { "viewer" },
        can_act => session.can_act(),
        csrf => session.csrf.clone(),
    }
}

/// `GET /ui/pipeline`: orders by state, queue depths, parked messages, the outbox, exceptions.
pub(super) async fn pipeline(
    State(s): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, UiError> {
    let session = reader(&s, &headers).await?;
    let pool = s.store.pool();
    let counts_pool = pool.clone();
    let by_state = s
        .ops
        .counts("orders_by_state", move || async move {
            let mut out = BTreeMap::new();
            for r in sqlx::query("SELECT state, COUNT(*) AS n FROM orders GROUP BY state")
                .fetch_all(&counts_pool)
                .await?
            {
                out.insert(r.try_get("state")?, r.try_get("n")?);
            }
            Ok(out)
        })
        .await?;
    let states: Vec<_> = STATES
        .iter()
        .map(|st| context! { state => st.as_str(), count => by_state.get(st.as_str()).copied().unwrap_or(0) })
        .collect();
    let mut queues = Vec::new();
    for q in &s.ops.queues {
        let depth = s.bus.depth(q).await.ok();
        queues.push(context! { name => q, depth => depth });
    }
    let parked: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM parked_messages WHERE replayed_at IS NULL")
            .fetch_one(pool)
            .await
            .map_err(StoreError::from)?;
    let outbox = s.store.outbox_pending().await?;
    let (active, overdue): (i64, i64) = {
        let r = sqlx::query(
            "SELECT COUNT(*) AS active, \
             CAST(SUM(CASE WHEN due_at < $1 THEN 1 ELSE 0 END) AS BIGINT) AS overdue \
             FROM exceptions WHERE status IN ('open', 'acknowledged')",
        )
        .bind(crate::store::now_ms())
        .fetch_one(pool)
        .await
        .map_err(StoreError::from)?;
        (
            r.try_get("active").map_err(StoreError::from)?,
            r.try_get::<Option<i64>, _>("overdue")
                .map_err(StoreError::from)?
                .unwrap_or(0),
        )
    };
    page(
        "pipeline.html",
        context! {
            me => me(&session), nav => "pipeline", refresh => 10,
            states, queues, parked, outbox,
            exceptions_active => active, exceptions_overdue => overdue,
            total => by_state.values().sum::<i64>(),
        },
    )
}

/// The rate-limit budget as the connectors page says it: "8 of 40 calls left (header), 3 s
/// ago, whole again in 12 s".
fn headroom_text(h: &crate::partner::client::Headroom, now: chrono::DateTime<Utc>) -> String {
    let n = |v: f64| {
        if v.fract() == 0.0 {
            format!("{v:.0}")
        } else {
            format!("{v:.1}")
        }
    };
    let mut text = match h.limit {
        Some(limit) => format!("{} of {} calls left", n(h.remaining), n(limit)),
        None => format!("{} calls left", n(h.remaining)),
    };
    text.push_str(&format!(
        " ({}, {} s ago",
        h.header,
        (now - h.observed_at).num_seconds().max(0)
    ));
    match h.reset_at {
        Some(at) if at > now => {
            text.push_str(&format!(", whole again in {} s", (at - now).num_seconds()))
        }
        Some(_) => text.push_str(", whole again by now"),
        None => {}
    }
    text.push(')');
    text
}

/// `GET /ui/connectors`: health, last success and error, failures in a row, rate-limit
/// headroom, last order.
pub(super) async fn connectors(
    State(s): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, UiError> {
    let session = reader(&s, &headers).await?;
    let counts_pool = s.store.pool().clone();
    let last_order = s
        .ops
        .counts("last_order_by_connector", move || async move {
            let mut out = BTreeMap::new();
            for r in sqlx::query(
                "SELECT connector, MAX(created_at) AS last FROM orders GROUP BY connector",
            )
            .fetch_all(&counts_pool)
            .await?
            {
                out.insert(r.try_get("connector")?, r.try_get("last")?);
            }
            Ok(out)
        })
        .await?;
    let now = Utc::now();
    let ago = |ms: i64| {
        let secs = (now.timestamp_millis() - ms).max(0) / 1000;
        match secs {
            0..=119 => format!("{secs} s"),
            120..=7199 => format!("{} min", secs / 60),
            7200..=172_799 => format!("{} h", secs / 3600),
            _ => format!("{} d", secs / 86_400),
        }
    };
    let mut rows = Vec::new();
    let snapshot = s.health.snapshot();
    for c in &snapshot {
        rows.push(context! {
            name => c.connector.clone(),
            health => Serde(c.health),
            last_success_at => Serde(c.last_success_at),
            last_error => c.last_error.clone(),
            last_error_at => Serde(c.last_error_at),
            failures => c.consecutive_failures,
            since_order => last_order.get(&c.connector).map(|t| ago(*t)),
            headroom => s.health.headroom(&c.connector).map(|h| headroom_text(&h, now)),
        });
    }
    for (name, t) in &last_order {
        if !snapshot.iter().any(|c| &c.connector == name) {
            rows.push(context! { name, health => "not running here", failures => 0, since_order => ago(*t) });
        }
    }
    page(
        "connectors.html",
        context! { me => me(&session), nav => "connectors", refresh => 15, connectors => rows },
    )
}

/// `?status=&kind=&department=&owner=&overdue=on`
#[derive(Debug, Default, Deserialize)]
pub(super) struct ExceptionParams {
    status: Option<String>,
    kind: Option<String>,
    department: Option<String>,
    owner: Option<String>,
    overdue: Option<String>,
}

fn blank_none(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// `GET /ui/exceptions`: the board, filtered.
pub(super) async fn exceptions(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(p): Query<ExceptionParams>,
) -> Result<Response, UiError> {
    let session = reader(&s, &headers).await?;
    let status = blank_none(p.status);
    if let Some(st) = status.as_deref() {
        if st != "all" && !crate::store::exceptions::STATUSES.contains(&st) {
            return Err(UiError::Invalid(format!("unknown status {st:?}")));
        }
    }
    let filter = ExceptionFilter {
        status: status.clone(),
        kind: blank_none(p.kind.clone()),
        department: blank_none(p.department.clone()),
        owner: blank_none(p.owner.clone()),
        order_id: None,
        overdue: p.overdue.is_some(),
        limit: 200,
        offset: 0,
    };
    let list = s.store.exceptions_matching(&filter).await?;
    let now = Utc::now();
    let rows: Vec<_> = list
        .iter()
        .map(|e| {
            let overdue = crate::store::exceptions::ACTIVE.contains(&e.status.as_str())
                && e.due_at.is_some_and(|d| d < now);
            context! { e => Serde(e), overdue }
        })
        .collect();
    page(
        "exceptions.html",
        context! {
            me => me(&session), nav => "exceptions", exceptions => rows,
            root_causes => s.root_causes.as_ref(),
            statuses => crate::store::exceptions::STATUSES,
            f => context! {
                status => status, kind => filter.kind, department => filter.department,
                owner => filter.owner, overdue => filter.overdue,
            },
        },
    )
}

/// `GET /ui/review`: orders waiting for a person or for information.
pub(super) async fn review(
    State(s): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, UiError> {
    let session = reader(&s, &headers).await?;
    let mut orders = s.store.orders_list(Some("needs_review"), 200, 0).await?;
    orders.extend(s.store.orders_list(Some("needs_info"), 200, 0).await?);
    page(
        "review.html",
        context! { me => me(&session), nav => "review", refresh => 30, orders => Serde(orders) },
    )
}

/// `?q=<order id or the source's id>&state=`
#[derive(Debug, Default, Deserialize)]
pub(super) struct SearchParams {
    q: Option<String>,
    state: Option<String>,
}

/// `GET /ui/orders`: search by id or the source's order id, or list by state.
pub(super) async fn orders(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(p): Query<SearchParams>,
) -> Result<Response, UiError> {
    let session = reader(&s, &headers).await?;
    let q = blank_none(p.q);
    let state = blank_none(p.state);
    let found = match &q {
        Some(text) => {
            let rows = sqlx::query(
                "SELECT id FROM orders WHERE id = $1 OR external_id = $1 ORDER BY created_at DESC LIMIT 50",
            )
            .bind(text)
            .fetch_all(s.store.pool())
            .await
            .map_err(StoreError::from)?;
            let mut out = Vec::new();
            for r in rows {
                let id: String = r.try_get("id").map_err(StoreError::from)?;
                if let Some(o) = s.store.order(&id).await? {
                    out.push(context! {
                        order_id => o.order_id, state => o.state,
                        connector => o.order.source.connector,
                        external_id => o.order.source.external_id,
                        created_at => Serde(o.created_at), updated_at => Serde(o.updated_at),
                    });
                }
            }
            out
        }
        None => s
            .store
            .orders_list(state.as_deref(), 100, 0)
            .await?
            .into_iter()
            .map(|o| minijinja::Value::from(Serde(o)))
            .collect(),
    };
    page(
        "orders.html",
        context! {
            me => me(&session), nav => "orders", orders => found, q, state,
            states => STATES.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        },
    )
}

/// `GET /ui/orders/{id}`: the order, its audit trail, parcels, fulfilments, exceptions, and —
/// while it waits for a person — its original document beside it with the correction form.
pub(super) async fn order(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let session = reader(&s, &headers).await?;
    let o = s
        .store
        .order(&id)
        .await?
        .ok_or_else(|| UiError::NotFound(format!("order {id}")))?;
    let history = s.store.order_events(&id).await?;
    let shipments = s.store.order_shipments(&id).await?;
    let fulfilments = s.store.fulfilments_of(&id).await?;
    let exceptions = s
        .store
        .exceptions_matching(&ExceptionFilter {
            status: Some("all".into()),
            order_id: Some(id.clone()),
            limit: 100,
            ..ExceptionFilter::default()
        })
        .await?;
    let waiting = matches!(o.state.as_str(), "needs_review" | "needs_info");
    let document = match (&o.raw_id, waiting) {
        (Some(raw_id), true) => s.store.raw(raw_id).await?.map(|raw| {
            let text = String::from_utf8_lossy(&raw.content);
            // The page shows the start; the whole document is a link away.
            text.chars().take(20_000).collect::<String>()
        }),
        _ => None,
    };
    let missing: Vec<String> = o
        .order
        .extraction
        .as_ref()
        .map(|e| {
            e.missing
                .iter()
                .filter(|p| !p.split('.').any(|seg| seg.parse::<usize>().is_ok()))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    let canonical = serde_json::to_string_pretty(&o.order).unwrap_or_default();
    page(
        "order.html",
        context! {
            me => me(&session), nav => "orders", refresh => if waiting { 0 } else { 5 },
            o => Serde(o), history => Serde(history), shipments => Serde(shipments),
            fulfilments => Serde(fulfilments), exceptions => Serde(exceptions), waiting, document,
            missing, canonical,
        },
    )
}

/// `GET /ui/orders/{id}/document`: the original document as text (or as a download when it
/// is not text).
pub(super) async fn document(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    reader(&s, &headers).await?;
    let o = s
        .store
        .order(&id)
        .await?
        .ok_or_else(|| UiError::NotFound(format!("order {id}")))?;
    let raw_id = o
        .raw_id
        .ok_or_else(|| UiError::NotFound(format!("document of order {id}")))?;
    let raw = s
        .store
        .raw(&raw_id)
        .await?
        .ok_or_else(|| UiError::NotFound(format!("document {raw_id}")))?;
    let (kind, disposition) = if std::str::from_utf8(&raw.content).is_ok() {
        ("text/plain; charset=utf-8", "inline".to_string())
    } else {
        (
            "application/octet-stream",
            format!("attachment; filename=\"{raw_id}\""),
        )
    };
    Ok((
        page_headers(),
        [
            (header::CONTENT_TYPE, kind.to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        raw.content,
    )
        .into_response())
}

/// `?from=&to=&period=&by=&failed=&group=`
#[derive(Debug, Default, Deserialize)]
pub(super) struct KpiParams {
    from: Option<String>,
    to: Option<String>,
    period: Option<String>,
    by: Option<String>,
    failed: Option<String>,
    group: Option<String>,
}

fn word<T: serde::de::DeserializeOwned>(v: Option<&str>) -> Result<Option<T>, UiError> {
    match v.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(w) => serde_json::from_value(serde_json::Value::String(w.to_string()))
            .map(Some)
            .map_err(|_| UiError::Invalid(format!("unknown choice {w:?}"))),
    }
}

/// `GET /ui/kpi`: the KPI report as bars, and a rate's failing orders on request.
pub(super) async fn kpi(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(p): Query<KpiParams>,
) -> Result<Response, UiError> {
    let session = reader(&s, &headers).await?;
    let blank = |v: &Option<String>| v.clone().filter(|t| !t.trim().is_empty());
    let (from, to) = crate::http::reports_range(blank(&p.from).as_deref(), blank(&p.to).as_deref())
        .map_err(UiError::Invalid)?;
    let period: Period = word(p.period.as_deref())?.unwrap_or(Period::Day);
    let by: Option<Dimension> = word(p.by.as_deref())?;
    let failed: Option<Kpi> = word(p.failed.as_deref())?;
    let q = KpiQuery {
        from,
        to,
        period,
        by,
        now: Utc::now(),
    };
    let report = kpi::report(&s.store, &s.ops.kpi, &q).await?;
    let drill = match failed {
        Some(rate) => Some(
            kpi::failing_orders(
                &s.store,
                &s.ops.kpi,
                &q,
                rate,
                blank(&p.group).as_deref(),
                500,
            )
            .await?,
        ),
        None => None,
    };
    let bar = |r: kpi::Rate| {
        context! {
            pct => r.rate.map(|v| (v * 1000.0).round() / 10.0),
            width => r.rate.map(|v| (v * 100.0).round() as i64).unwrap_or(0),
            met => r.met, counted => r.counted,
        }
    };
    let rows: Vec<_> = report
        .rows
        .iter()
        .chain([&report.total])
        .map(|r| {
            context! {
                period => r.period.clone(), group => r.group.clone(), orders => r.orders,
                sales => r.sales.iter().map(|x| format!("{} {}", x.amount, x.currency.clone().unwrap_or_default())).collect::<Vec<_>>().join(" + "),
                rates => Kpi::ALL.iter().map(|k| context! { kpi => k.as_str(), bar => bar(r.rate(*k)) }).collect::<Vec<_>>(),
            }
        })
        .collect();
    page(
        "kpi.html",
        context! {
            me => me(&session), nav => "kpi", rows,
            kpis => Kpi::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
            from => from.format("%Y-%m-%d").to_string(), to => to.format("%Y-%m-%d").to_string(),
            period => Serde(period), by => Serde(by),
            failed => failed.map(Kpi::as_str), group => blank(&p.group), drill => Serde(drill),
            sla => s.ops.kpi.processing_sla_hours,
        },
    )
}
