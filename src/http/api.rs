//! `/api/…`: orders, their history and original document, the review queue (list, complete or
//! correct with PATCH — audited under the token's name), exceptions. Every call needs a bearer
//! token; `viewer` tokens read, `operator` tokens also change.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use subtle::ConstantTimeEq;

use super::{ApiError, AppState};
use crate::config::ApiRole;
use crate::model::{CanonicalOrder, Envelope, EventType};
use crate::review;
use crate::store::{Store, STATE_RECEIVED};

/// A resolved API token.
#[derive(Clone)]
pub struct ApiKey {
    /// The token itself.
    pub token: String,
    /// Who holds it (audit entries say `api:<name>`).
    pub name: String,
    /// What it may do.
    pub role: ApiRole,
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKey")
            .field("name", &self.name)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// Checks the bearer token in constant time against every configured token and returns who
/// it is, if its role is at least `needed`.
fn authorize<'a>(
    s: &'a AppState,
    headers: &HeaderMap,
    needed: ApiRole,
) -> Result<&'a ApiKey, ApiError> {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(ApiError::Unauthorized)?;
    let mut found = None;
    for k in s.api_tokens.iter() {
        // Compare with every token, not stopping at a match, so timing says nothing.
        if bool::from(k.token.as_bytes().ct_eq(given.as_bytes())) {
            found = Some(k);
        }
    }
    let key = found.ok_or(ApiError::Unauthorized)?;
    if key.role < needed {
        return Err(ApiError::Forbidden);
    }
    Ok(key)
}

async fn load_order(s: &AppState, id: &str) -> Result<crate::store::StoredOrder, ApiError> {
    s.store
        .order(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("order {id}")))
}

pub(super) async fn get_order(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    authorize(&s, &headers, ApiRole::Viewer)?;
    let order = load_order(&s, &id).await?;
    let history = s.store.order_events(&id).await?;
    Ok(Json(json!({
        "order_id": order.order_id,
        "state": order.state,
        "created_at": order.created_at,
        "updated_at": order.updated_at,
        "raw_id": order.raw_id,
        "order": order.order,
        "history": history,
    })))
}

/// `?status=needs_review&limit=50&offset=0`
#[derive(Debug, Deserialize)]
pub(super) struct ListQuery {
    status: Option<String>,
    #[serde(default = "default_limit")]
    limit: i64,
    #[serde(default)]
    offset: i64,
}

fn default_limit() -> i64 {
    100
}

pub(super) async fn list_orders(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    authorize(&s, &headers, ApiRole::Viewer)?;
    let orders = s
        .store
        .orders_list(q.status.as_deref(), q.limit.clamp(1, 1000), q.offset.max(0))
        .await?;
    Ok(Json(json!({"orders": orders})))
}

pub(super) async fn list_exceptions(
    State(s): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    authorize(&s, &headers, ApiRole::Viewer)?;
    Ok(Json(
        json!({"exceptions": s.store.exceptions(false, 500).await?}),
    ))
}

/// The original document the order was read from, byte for byte.
pub(super) async fn order_document(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    authorize(&s, &headers, ApiRole::Viewer)?;
    let order = load_order(&s, &id).await?;
    let raw_id = order
        .raw_id
        .ok_or_else(|| ApiError::NotFound(format!("document of order {id}")))?;
    let raw = s
        .store
        .raw(&raw_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("document {raw_id}")))?;
    let content_type = match raw.format.as_str() {
        "email" | "fax" => "message/rfc822",
        "cxml" | "ubl" => "application/xml",
        _ => "application/json",
    };
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{raw_id}\""),
            ),
        ],
        raw.content,
    )
        .into_response())
}

/// `PATCH /api/orders/{id}` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct OrderPatch {
    /// A JSON merge patch (RFC 7396) on the canonical order.
    #[serde(default)]
    order: Option<Value>,
    /// True: the person vouches for the order; it leaves the review queue and goes on.
    #[serde(default)]
    resume: bool,
    /// Why, for the audit trail.
    #[serde(default)]
    note: Option<String>,
}

/// Completes or corrects an order waiting in `needs_review`. The correction is applied as a
/// merge patch, must still be a valid canonical order with the same identity, and is recorded
/// in the audit trail under the token's name; with `resume` the order goes on as received.
pub(super) async fn patch_order(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(patch): Json<OrderPatch>,
) -> Result<Json<Value>, ApiError> {
    let who = authorize(&s, &headers, ApiRole::Operator)?;
    let stored = load_order(&s, &id).await?;
    if stored.state != review::STATE_NEEDS_REVIEW {
        return Err(ApiError::Conflict(format!(
            "order {id} is {}, not {}: only orders waiting for review can be corrected here",
            stored.state,
            review::STATE_NEEDS_REVIEW
        )));
    }
    let before =
        serde_json::to_value(&stored.order).map_err(|e| ApiError::Invalid(e.to_string()))?;
    let mut after = before.clone();
    if let Some(p) = &patch.order {
        merge_patch(&mut after, p);
    }
    for path in [
        "/order_id",
        "/source/connector",
        "/source/external_id",
        "/source/format",
    ] {
        if before.pointer(path) != after.pointer(path) {
            return Err(ApiError::Invalid(format!("{path} cannot be changed")));
        }
    }
    let mut order: CanonicalOrder = serde_json::from_value(after)
        .map_err(|e| ApiError::Invalid(format!("not a valid canonical order: {e}")))?;
    if patch.resume {
        let missing = review::missing_required(&order);
        if !missing.is_empty() {
            return Err(ApiError::Invalid(format!(
                "still missing {}",
                missing.join(", ")
            )));
        }
        if let Some(x) = order.extraction.as_mut() {
            // A person checked it: nothing is uncertain or missing any more.
            x.confidence = 1.0;
            x.missing.clear();
        }
    }
    let cause = format!("api:{}", who.name);
    let data = json!({"patch": patch.order, "note": patch.note});
    let mut tx = s.store.begin().await?;
    if !Store::replace_order(&mut tx, &order, review::STATE_NEEDS_REVIEW).await? {
        return Err(ApiError::Conflict(format!(
            "order {id} changed meanwhile, try again"
        )));
    }
    if patch.order.is_some() {
        Store::append_event(&mut tx, &id, "corrected", None, &cause, Some(&data)).await?;
    }
    let mut events = Vec::new();
    if patch.resume {
        Store::set_order_state(&mut tx, &id, review::STATE_NEEDS_REVIEW, STATE_RECEIVED).await?;
        Store::append_event(
            &mut tx,
            &id,
            "review_completed",
            Some((Some(review::STATE_NEEDS_REVIEW), STATE_RECEIVED)),
            &cause,
            Some(&data),
        )
        .await?;
        let payload = serde_json::to_value(&order).unwrap_or(Value::Null);
        events.push(
            Envelope::new(
                EventType::ORDER_RECEIVED,
                order.source.connector.clone(),
                payload,
            )
            .with_order(&id),
        );
        Store::outbox_insert(&mut tx, &events).await?;
    }
    tx.commit().await.map_err(crate::store::StoreError::from)?;
    tracing::info!(order_id = %id, by = %who.name, resumed = patch.resume, "Order corrected through the API.");
    crate::stage::publish_committed(&s.store, s.bus.as_ref(), &events).await;
    let state = if patch.resume {
        STATE_RECEIVED
    } else {
        review::STATE_NEEDS_REVIEW
    };
    Ok(Json(
        json!({"order_id": id, "state": state, "order": order}),
    ))
}

/// RFC 7396 JSON merge patch.
fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = Value::Object(Default::default());
            }
            if let Value::Object(t) = target {
                for (k, v) in p {
                    if v.is_null() {
                        t.remove(k);
                    } else {
                        merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                    }
                }
            }
        }
        other => *target = other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_patch_follows_rfc_7396() {
        let mut t = json!({"a": "b", "c": {"d": "e", "f": "g"}});
        merge_patch(&mut t, &json!({"a": "z", "c": {"f": null}}));
        assert_eq!(t, json!({"a": "z", "c": {"d": "e"}}));
        let mut t = json!({"a": [1, 2]});
        merge_patch(&mut t, &json!({"a": [3]}));
        assert_eq!(t, json!({"a": [3]}));
    }
}
