//! The HTTP server: health (`/healthz`, `/readyz`), Prometheus metrics (`/metrics`), order
//! webhooks (`/hooks/orders/{connector}`, partner signatures) and the API (`/api/…`, bearer
//! token). Errors go through [`ApiError`], which maps to a status code and
//! never returns internal detail.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde_json::json;

mod api;
mod exceptions;
mod hooks;
mod limits;
mod public;
mod reports;
pub mod routes;
mod server;
mod shipping;

pub use api::ApiKey;
pub(crate) use public::client_of;
/// The reports' time range (`from`, `to`; defaults: the 30 days up to now), shared with the
/// CLI and the dashboard.
pub use reports::range as reports_range;

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
    pub api_tokens: Arc<Vec<ApiKey>>,
    /// Webhook connectors by name.
    pub hooks: Arc<HashMap<String, Endpoint>>,
    /// Tracking callback connectors by name.
    pub tracking: Arc<HashMap<String, crate::intake::tracking::TrackingEndpoint>>,
    /// Warehouse callback endpoints by warehouse name.
    pub warehouses: Arc<HashMap<String, crate::outbound::warehouse::callback::CallbackEndpoint>>,
    /// Stores webhook documents with group commit.
    pub documents: Arc<crate::intake::DocumentWriter>,
    /// The catalog in force (file + products put through the API).
    pub catalog: Arc<crate::catalog::CatalogSource>,
    /// The root-cause categories exceptions may be given.
    pub root_causes: Arc<Vec<String>>,
    /// The customer pages' limits and templates, and the configured subscribers.
    pub notices: Arc<crate::notices::public::PublicPages>,
    /// The KPI rules and the queues the dashboard shows (`crate::ui`).
    pub ops: Arc<crate::ui::Ops>,
}

/// What the HTTP server serves besides its own state: the daemon's parts it shares.
pub struct Parts {
    /// The store.
    pub store: Store,
    /// The bus (API actions publish through the outbox).
    pub bus: Arc<dyn Bus>,
    /// Connector health, for `/readyz` and the API.
    pub health: Arc<HealthTracker>,
    /// Webhook endpoints by connector name (from [`crate::intake::start`]).
    pub hooks: HashMap<String, Endpoint>,
    /// Tracking callback endpoints by connector name (from [`crate::intake::start`]).
    pub tracking: HashMap<String, crate::intake::tracking::TrackingEndpoint>,
    /// Warehouse callback endpoints by warehouse name (from
    /// [`crate::outbound::warehouse::callback::endpoints`]).
    pub warehouses: HashMap<String, crate::outbound::warehouse::callback::CallbackEndpoint>,
    /// The catalog in force, for `/api/catalog`.
    pub catalog: Arc<crate::catalog::CatalogSource>,
    /// The root-cause categories exceptions may be given (`exceptions.root_causes`).
    pub root_causes: Vec<String>,
    /// Where a first start with no `http.api_tokens` keeps the operator token it generates
    /// (the SQLite store's folder); `None`: the API stays closed until tokens are configured.
    pub local_token_dir: Option<std::path::PathBuf>,
    /// The customer pages and subscribers (from `[notices]` and `[[subscribers]]`).
    pub notices: crate::notices::public::PublicPages,
    /// The KPI rules and the queues the dashboard shows.
    pub ops: crate::ui::Ops,
}

/// The file a generated operator token is kept in, inside [`Parts::local_token_dir`].
pub const LOCAL_TOKEN_FILE: &str = "api-token";

/// The operator token of a standalone install with no `http.api_tokens`: read from
/// `dir/api-token`, or generated there on first start (owner-only permissions). The token
/// itself is never logged; the file's path is.
fn local_operator_token(dir: &std::path::Path) -> anyhow::Result<ApiKey> {
    use anyhow::Context;
    let path = dir.join(LOCAL_TOKEN_FILE);
    let existing =
        match crate::config::read_bounded_text(&path, crate::config::MAX_SECRET_FILE_BYTES) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            // Never overwritten: it may be a mistake to repair by hand (a directory, a FIFO).
            Err(e) => anyhow::bail!("the API token file {}: {e}", path.display()),
        };
    let token = match existing.trim() {
        t if !t.is_empty() => t.to_string(),
        _ => {
            use rand::Rng;
            let bytes: [u8; 32] = rand::rng().random();
            let token = hex::encode(bytes);
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options
                .open(&path)
                .with_context(|| format!("writing {}", path.display()))?;
            std::io::Write::write_all(&mut file, format!("{token}\n").as_bytes())
                .with_context(|| format!("writing {}", path.display()))?;
            tracing::info!(file = %path.display(), "No API token configured: generated an operator token in this file (configure http.api_tokens to replace it).");
            token
        }
    };
    tracing::info!(file = %path.display(), "API: operator token from the generated file; send it as 'Authorization: Bearer <token>'.");
    Ok(ApiKey {
        token,
        name: "local-operator".into(),
        role: crate::config::ApiRole::Operator,
    })
}

/// Starts the HTTP server in `tasks` when `cfg.listen` is set (API tokens resolved first);
/// returns the address it listens on. The server stops gracefully on `shutdown`.
pub async fn serve(
    cfg: &crate::config::HttpConfig,
    parts: Parts,
    tasks: &mut tokio::task::JoinSet<()>,
    shutdown: tokio_util::sync::CancellationToken,
) -> anyhow::Result<Option<std::net::SocketAddr>> {
    use anyhow::Context;
    if cfg.listen.is_empty() {
        return Ok(None);
    }
    let tokens = cfg
        .api_tokens
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let (name, role) = t.identity(i);
            t.secret()
                .resolve()
                .map(|token| ApiKey { token, name, role })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let tokens = match (&parts.local_token_dir, tokens.is_empty()) {
        (Some(dir), true) => vec![local_operator_token(dir)?],
        (None, true) => {
            tracing::warn!("No http.api_tokens configured: the API answers 401 to every call.");
            tokens
        }
        (_, false) => tokens,
    };
    let state = AppState {
        documents: Arc::new(crate::intake::DocumentWriter::new(
            parts.store.clone(),
            parts.bus.as_ref(),
        )),
        store: parts.store,
        bus: parts.bus,
        health: parts.health,
        api_tokens: Arc::new(tokens),
        hooks: Arc::new(parts.hooks),
        tracking: Arc::new(parts.tracking),
        warehouses: Arc::new(parts.warehouses),
        catalog: parts.catalog,
        root_causes: Arc::new(parts.root_causes),
        notices: Arc::new(parts.notices),
        ops: Arc::new(parts.ops),
    };
    let listener = tokio::net::TcpListener::bind(&cfg.listen)
        .await
        .with_context(|| format!("listening on {}", cfg.listen))?;
    let addr = listener.local_addr()?;
    let body_timeout = std::time::Duration::from_secs(cfg.body_timeout_secs.max(1));
    let header_timeout = std::time::Duration::from_secs(cfg.header_timeout_secs.max(1));
    let router = app_with(state, body_timeout);
    tasks.spawn(server::run(listener, router, header_timeout, shutdown));
    tracing::info!(addr = %addr, "HTTP server listening.");
    Ok(Some(addr))
}

/// The router: the routes of the table in [`routes`], each behind its access guard, with
/// the default body timeout.
pub fn app(state: AppState) -> Router {
    app_with(state, crate::config::HttpConfig::default_body_timeout())
}

/// [`app`] with request bodies given `body_timeout` to arrive ([`limits`]).
pub fn app_with(state: AppState, body_timeout: std::time::Duration) -> Router {
    routes::router(state).layer(axum::middleware::from_fn(
        move |req: axum::extract::Request, next: axum::middleware::Next| {
            limits::body_deadline(body_timeout, req, next)
        },
    ))
}

/// An API error: a status and a message safe to show.
#[derive(Debug)]
pub enum ApiError {
    Unauthorized,
    /// The token's role may not do this.
    Forbidden,
    NotFound(String),
    /// The order is not in a state that allows this.
    Conflict(String),
    /// The request is understood but its content is not acceptable.
    Invalid(String),
    /// The order has bad fields, each named (never its value).
    InvalidFields(Vec<String>),
    Unavailable,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            ApiError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "missing or invalid bearer token".to_string(),
            ),
            ApiError::Forbidden => (
                StatusCode::FORBIDDEN,
                "this token's role may not do that".to_string(),
            ),
            ApiError::NotFound(what) => (StatusCode::NOT_FOUND, format!("{what} not found")),
            ApiError::Conflict(why) => (StatusCode::CONFLICT, why),
            ApiError::Invalid(why) => (StatusCode::UNPROCESSABLE_ENTITY, why),
            ApiError::InvalidFields(fields) => {
                return (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    Json(json!({"error": "the order has bad fields", "fields": fields})),
                )
                    .into_response();
            }
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

impl From<crate::actions::ActionError> for ApiError {
    fn from(error: crate::actions::ActionError) -> Self {
        use crate::actions::ActionError as A;
        match error {
            A::NotFound(id) => ApiError::NotFound(format!("order {id}")),
            A::Conflict(why) => ApiError::Conflict(why),
            A::Invalid(why) => ApiError::Invalid(why),
            A::InvalidFields(fields) => ApiError::InvalidFields(fields),
            A::Store(e) => e.into(),
        }
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(error: crate::store::StoreError) -> Self {
        tracing::warn!(error = %error, "API store error.");
        ApiError::Unavailable
    }
}

/// `GET /`: what this server offers, for a person who opens it in a browser.
async fn index() -> &'static str {
    concat!(
        "ordergate ",
        env!("CARGO_PKG_VERSION"),
        " — order integration gateway\n\n",
        "GET  /healthz                 liveness\n",
        "GET  /readyz                  store, bus and connector health (JSON)\n",
        "GET  /metrics                 Prometheus metrics\n",
        "GET  /api/orders              orders (bearer token; see README \"API\")\n",
        "POST /api/orders              enter an order keyed by staff (Idempotency-Key header)\n",
        "GET  /api/orders/{id}         an order and its history\n",
        "GET  /api/orders/{id}/delivery-note?copy=customer&format=pdf  the delivery note\n",
        "POST /api/orders/{id}/shipments  enter the tracking of a parcel shipped without a carrier API\n",
        "GET  /api/exceptions          open exceptions\n",
        "GET  /api/catalog             the products (PUT /api/catalog/{sku} adds or changes one)\n",
        "GET  /api/subscribers         department webhooks and their deliveries\n",
        "GET  /status                  customers: order status by number and e-mail or phone\n",
        "GET  /api/reports/kpi         the KPIs by period and group (and /api/reports/exceptions)\n",
        "GET  /ui                      the operations dashboard (sign in with an API token)\n",
        "POST /hooks/orders/{name}     order webhooks (partner signatures)\n",
        "POST /hooks/tracking/{name}   carrier tracking callbacks (partner signatures)\n",
        "POST /hooks/warehouse/{name}  warehouse callbacks (partner signatures)\n\n",
        "The API needs 'Authorization: Bearer <token>': the tokens in http.api_tokens, or on a\n",
        "standalone install without any, the one generated in the file 'api-token' beside the\n",
        "SQLite store. Documentation: README.md in the source tree.\n",
    )
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
