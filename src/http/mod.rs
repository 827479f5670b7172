//! The HTTP server: health (`/healthz`, `/readyz`), Prometheus metrics (`/metrics`), order
//! webhooks (`/hooks/orders/{connector}`, partner signatures) and the API (`/api/…`, bearer
//! token). Errors go through [`ApiError`], which maps to a status code and
//! never returns internal detail.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use subtle::ConstantTimeEq;

mod hooks;

use std::collections::HashMap;

use crate::bus::Bus;
use crate::health::HealthTracker;
use crate::intake::webhook::Endpoint;
use crate::store::{ConnectorHealth, Store};

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub bus: Arc<dyn Bus>,
    pub health: Arc<HealthTracker>,
    /// Resolved API tokens; empty means the API answers 401 to everyone.
    pub api_tokens: Arc<Vec<String>>,
    /// Webhook connectors by name.
    pub hooks: Arc<HashMap<String, Endpoint>>,
}

/// The router.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .route("/api/orders/{id}", get(get_order))
        .route("/hooks/orders/{connector}", post(hooks::order_hook))
        .with_state(state)
}

/// An API error: a status and a message safe to show.
#[derive(Debug)]
pub enum ApiError {
    Unauthorized,
    NotFound(String),
    Unavailable,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            ApiError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "missing or invalid bearer token".to_string(),
            ),
            ApiError::NotFound(what) => (StatusCode::NOT_FOUND, format!("{what} not found")),
            ApiError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "store unavailable, try again".to_string(),
            ),
        };
        let mut resp = (status, Json(json!({"error": message}))).into_response();
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        resp
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(error: crate::store::StoreError) -> Self {
        tracing::warn!(error = %error, "API store error.");
        ApiError::Unavailable
    }
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(s): State<AppState>) -> Response {
    let store_ok = s.store.ping().await.is_ok();
    let bus_ok = s.bus.ping().await.is_ok();
    let connectors: Vec<_> = s
        .health
        .snapshot()
        .into_iter()
        .map(|c| {
            json!({
                "connector": c.connector,
                "health": c.health,
                "consecutive_failures": c.consecutive_failures,
                "last_success_at": c.last_success_at,
                "last_error_at": c.last_error_at,
            })
        })
        .collect();
    let degraded = s
        .health
        .snapshot()
        .iter()
        .any(|c| c.health != ConnectorHealth::Up);
    let status = if store_ok && bus_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "ready": store_ok && bus_ok,
        "store": if store_ok { "up" } else { "down" },
        "bus": {"kind": s.bus.kind(), "status": if bus_ok { "up" } else { "down" }},
        "connectors_degraded": degraded,
        "connectors": connectors,
    });
    (status, Json(body)).into_response()
}

async fn metrics_text() -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::telemetry::prometheus().render(),
    )
        .into_response()
}

/// Checks the bearer token in constant time against every configured token.
fn authorize(s: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(ApiError::Unauthorized)?;
    let mut ok = subtle::Choice::from(0u8);
    for t in s.api_tokens.iter() {
        ok |= t.as_bytes().ct_eq(given.as_bytes());
    }
    if bool::from(ok) {
        Ok(())
    } else {
        Err(ApiError::Unauthorized)
    }
}

async fn get_order(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    authorize(&s, &headers)?;
    let order = s
        .store
        .order(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("order {id}")))?;
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
