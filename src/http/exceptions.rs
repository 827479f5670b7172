//! `/api/exceptions`: the exception workflow over HTTP — list with filters, one with its
//! history, and `PATCH` for a workflow step (operator), each through
//! [`crate::exceptions::change_exception`] under the token's name.

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::api::authorize;
use super::{ApiError, AppState};
use crate::config::ApiRole;
use crate::exceptions::{change_exception, ExceptionChange};
use crate::store::ExceptionFilter;

/// `?status=&kind=&department=&owner=&overdue=true&order=&limit=&offset=`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ExceptionQuery {
    /// `open`, `acknowledged`, `resolved`, `wont_fix`, or `all`; default: open and
    /// acknowledged.
    status: Option<String>,
    kind: Option<String>,
    department: Option<String>,
    owner: Option<String>,
    #[serde(default)]
    overdue: bool,
    order: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

pub(super) async fn list(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<ExceptionQuery>,
) -> Result<Json<Value>, ApiError> {
    authorize(&s, &headers, ApiRole::Viewer)?;
    if let Some(st) = q.status.as_deref() {
        if st != "all" && !crate::store::exceptions::STATUSES.contains(&st) {
            return Err(ApiError::Invalid(format!(
                "status must be all or one of: {}",
                crate::store::exceptions::STATUSES.join(", ")
            )));
        }
    }
    let filter = ExceptionFilter {
        status: q.status,
        kind: q.kind,
        department: q.department,
        owner: q.owner,
        order_id: q.order,
        overdue: q.overdue,
        limit: q.limit.unwrap_or(100).clamp(1, 1000),
        offset: q.offset.unwrap_or(0).max(0),
    };
    Ok(Json(
        json!({"exceptions": s.store.exceptions_matching(&filter).await?}),
    ))
}

pub(super) async fn get_one(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    authorize(&s, &headers, ApiRole::Viewer)?;
    let e = s
        .store
        .exception(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("exception {id}")))?;
    let history = s.store.exception_history(&id).await?;
    Ok(Json(json!({"exception": e, "history": history})))
}

pub(super) async fn patch(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(change): Json<ExceptionChange>,
) -> Result<Json<Value>, ApiError> {
    let who = authorize(&s, &headers, ApiRole::Operator)?;
    let actor = format!("api:{}", who.name);
    let e = change_exception(&s.store, &id, &change, &actor, &s.root_causes)
        .await
        .map_err(|e| match e {
            crate::actions::ActionError::NotFound(what) => ApiError::NotFound(what),
            other => other.into(),
        })?;
    let history = s.store.exception_history(&id).await?;
    Ok(Json(json!({"exception": e, "history": history})))
}
