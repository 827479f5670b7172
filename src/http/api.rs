//! `/api/…`: orders, their history and original document, the review queue (list, complete or
//! correct with PATCH — audited under the token's name; orders held for review or waiting for
//! information), change and cancel, manual entry, exceptions. Every call needs a bearer
//! token; `viewer` tokens read, `operator` tokens also change.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use subtle::ConstantTimeEq;

use super::{ApiError, AppState};
use crate::actions;
use crate::config::ApiRole;

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
pub(super) fn authorize<'a>(
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

/// Completes or corrects an order waiting in `needs_review`: [`crate::actions::correct_order`]
/// under the token's name.
pub(super) async fn patch_order(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(patch): Json<OrderPatch>,
) -> Result<Json<Value>, ApiError> {
    let who = authorize(&s, &headers, ApiRole::Operator)?;
    let correction = actions::Correction {
        patch: patch.order,
        resume: patch.resume,
        note: patch.note,
    };
    let done = actions::correct_order(
        &s.store,
        s.bus.as_ref(),
        &id,
        &correction,
        &format!("api:{}", who.name),
    )
    .await?;
    Ok(Json(
        json!({"order_id": id, "state": done.state, "order": done.order}),
    ))
}

/// The catalog in force: the file's products overlaid with those put through the API.
pub(super) async fn list_catalog(
    State(s): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    authorize(&s, &headers, ApiRole::Viewer)?;
    let catalog = s.catalog.current().await?;
    let products: Vec<_> = catalog.products().collect();
    Ok(Json(json!({ "products": products })))
}

/// One product.
pub(super) async fn get_product(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(sku): Path<String>,
) -> Result<Json<Value>, ApiError> {
    authorize(&s, &headers, ApiRole::Viewer)?;
    let catalog = s.catalog.current().await?;
    let product = catalog
        .get(&sku)
        .ok_or_else(|| ApiError::NotFound(format!("product {sku}")))?;
    Ok(Json(json!(product)))
}

/// Adds or replaces a product (operator): it overrides the catalog file's product of that SKU.
/// The body is a product; its `sku`, when given, must be the path's.
pub(super) async fn put_product(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(sku): Path<String>,
    Json(mut body): Json<Value>,
) -> Result<Json<Value>, ApiError> {
    let who = authorize(&s, &headers, ApiRole::Operator)?;
    match body.get("sku") {
        None => {
            if let Value::Object(m) = &mut body {
                m.insert("sku".into(), Value::String(sku.clone()));
            }
        }
        Some(Value::String(given)) if *given == sku => {}
        Some(_) => {
            return Err(ApiError::Invalid(
                "sku in the body is not the path's".into(),
            ))
        }
    }
    // The path and what is wrong, never the value.
    let product: crate::catalog::Product = serde_path_to_error::deserialize(body).map_err(|e| {
        ApiError::Invalid(format!(
            "not a product: wrong or unknown field at {}",
            e.path()
        ))
    })?;
    crate::catalog::validate_product(&product).map_err(ApiError::Invalid)?;
    s.catalog
        .put(&product, &format!("api:{}", who.name))
        .await?;
    tracing::info!(sku = %product.sku, by = %who.name, "Catalog product put through the API.");
    Ok(Json(json!(product)))
}

/// Enters an order keyed by staff (phone, walk-in, a fax typed in): operator, with an
/// `Idempotency-Key` header. 202 when stored, 200 when the same key and order came before,
/// 409 when the key was used for another order, 422 naming each bad field.
pub(super) async fn create_order(
    State(s): State<AppState>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    let who = authorize(&s, &headers, ApiRole::Operator)?;
    let key = idempotency_key(&headers)
        .ok_or_else(|| ApiError::Invalid("an Idempotency-Key header is required".into()))?;
    let entered = actions::enter_order(
        &s.store,
        s.bus.as_ref(),
        key,
        &body,
        &format!("api:{}", who.name),
    )
    .await?;
    let status = if entered.duplicate {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::ACCEPTED
    };
    Ok((
        status,
        Json(json!({
            "raw_id": entered.raw_id,
            "connector": actions::MANUAL_CONNECTOR,
            "external_id": entered.external_id,
            "duplicate": entered.duplicate,
        })),
    )
        .into_response())
}

/// The request's `Idempotency-Key`, if it sent one.
fn idempotency_key(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// 200 when the change was applied here (or is the first answer again), 202 when it was asked
/// of the warehouse.
fn change_response(done: actions::ChangeDone) -> Response {
    let status = match done.outcome {
        actions::ChangeOutcome::Requested => axum::http::StatusCode::ACCEPTED,
        _ => axum::http::StatusCode::OK,
    };
    (status, Json(json!(done))).into_response()
}

/// Changes an order (operator): spec, quantity, price, requested date, address — see
/// [`crate::actions::change_order`]. An `Idempotency-Key` header makes a repeated request one
/// change. 409 when the order's state no longer allows it, 422 naming each bad field.
pub(super) async fn change_order(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    let who = authorize(&s, &headers, ApiRole::Operator)?;
    let done = actions::change_order(
        &s.store,
        s.bus.as_ref(),
        &id,
        idempotency_key(&headers),
        &body,
        &format!("api:{}", who.name),
    )
    .await?;
    Ok(change_response(done))
}

/// `POST /api/orders/{id}/cancel` body (optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CancelBody {
    /// Why, kept with the cancel.
    #[serde(default)]
    reason: Option<String>,
}

/// Cancels an order (operator): see [`crate::actions::cancel_order`]; after shipment a return
/// is requested. An `Idempotency-Key` header makes a repeated request one cancel.
pub(super) async fn cancel_order(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Option<Json<CancelBody>>,
) -> Result<Response, ApiError> {
    let who = authorize(&s, &headers, ApiRole::Operator)?;
    let reason = body.and_then(|Json(b)| b.reason);
    let done = actions::cancel_order(
        &s.store,
        s.bus.as_ref(),
        &id,
        idempotency_key(&headers),
        reason,
        &format!("api:{}", who.name),
    )
    .await?;
    Ok(change_response(done))
}
