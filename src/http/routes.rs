//! The route table: every route the HTTP server answers, with who may call it. The axum
//! [`Router`] is built from this table and nothing else ([`router`]), and a guard in front of
//! every route enforces the bearer-token roles the table names *before* the handler or any
//! extractor reads the request (an unauthenticated call with a malformed body is a 401, not a
//! 422). The security suite (`tests/security.rs`) walks [`table`] with every kind of credential,
//! so a new route cannot be added without its access being stated and tested.
//!
//! To add a route: add one [`at`] line to [`declared`] (or to `crate::ui::routes` for the
//! dashboard) with its [`Access`].

use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::handler::Handler;
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::Router;

use super::{api, exceptions, hooks, public, reports, shipping, ApiError, AppState};
use crate::config::ApiRole;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: the index, health, metrics, the customer forms, the sign-in page, static files.
    Public,
    /// Anyone, counted per client: over the limit 429 with `Retry-After` (the status lookups
    /// and feedback posts).
    RateLimited,
    /// A bearer token of role `viewer` or more (else 401; the guard checks it).
    Viewer,
    /// A bearer token of role `operator` (a viewer's gets 403; the guard checks it).
    Operator,
    /// A dashboard page: a session cookie of any role; without one, a redirect to `/ui/login`.
    Page,
    /// A dashboard form: an operator's session cookie (else 401/403) and that session's CSRF
    /// token in the form (else 403).
    Action,
    /// The dashboard's sign-out form: a session cookie of any role and that session's CSRF
    /// token (else 401/403).
    SignOut,
    /// The dashboard's sign-in form: the double-submit CSRF cookie, then a valid API token.
    SignIn,
    /// A partner's signature, per connector and scheme (`crate::intake::webhook`,
    /// `crate::tracking::verify`, `crate::outbound::warehouse::callback`).
    PartnerSigned,
}

/// One row of the table.
#[derive(Debug, Clone)]
pub struct RouteSpec {
    pub method: Method,
    /// The axum path, parameters in braces (`/api/orders/{id}`).
    pub path: &'static str,
    pub access: Access,
}

/// A row and its handler.
pub struct Route {
    spec: RouteSpec,
    handler: MethodRouter<AppState>,
}

/// A route: `method path`, answered by `handler`, callable by `access`.
pub fn at<H, T>(method: Method, path: &'static str, access: Access, handler: H) -> Route
where
    H: Handler<T, AppState>,
    T: 'static,
{
    let filter = MethodFilter::try_from(method.clone()).unwrap_or(MethodFilter::GET);
    Route {
        spec: RouteSpec {
            method,
            path,
            access,
        },
        handler: on(filter, handler),
    }
}

/// The server's routes.
fn declared() -> Vec<Route> {
    use Access::*;
    use Method as M;
    let mut routes = vec![
        at(M::GET, "/", Public, super::index),
        at(M::GET, "/healthz", Public, super::healthz),
        at(M::GET, "/readyz", Public, super::readyz),
        at(M::GET, "/metrics", Public, super::metrics_text),
        at(M::GET, "/api/orders", Viewer, api::list_orders),
        at(M::POST, "/api/orders", Operator, api::create_order),
        at(M::GET, "/api/orders/{id}", Viewer, api::get_order),
        at(M::PATCH, "/api/orders/{id}", Operator, api::patch_order),
        at(
            M::GET,
            "/api/orders/{id}/document",
            Viewer,
            api::order_document,
        ),
        at(
            M::POST,
            "/api/orders/{id}/change",
            Operator,
            api::change_order,
        ),
        at(
            M::POST,
            "/api/orders/{id}/cancel",
            Operator,
            api::cancel_order,
        ),
        at(M::GET, "/api/exceptions", Viewer, exceptions::list),
        at(M::GET, "/api/exceptions/{id}", Viewer, exceptions::get_one),
        at(
            M::PATCH,
            "/api/exceptions/{id}",
            Operator,
            exceptions::patch,
        ),
        at(M::GET, "/api/catalog", Viewer, api::list_catalog),
        at(M::GET, "/api/catalog/{sku}", Viewer, api::get_product),
        at(M::PUT, "/api/catalog/{sku}", Operator, api::put_product),
        // carrier
        at(
            M::GET,
            "/api/orders/{id}/delivery-note",
            Viewer,
            shipping::delivery_note,
        ),
        at(
            M::POST,
            "/api/orders/{id}/shipments",
            Operator,
            shipping::enter_shipment,
        ),
        // ops: reports (the dashboard's routes are appended below)
        at(M::GET, "/api/reports/kpi", Viewer, reports::kpi_report),
        at(
            M::GET,
            "/api/reports/exceptions",
            Viewer,
            reports::exceptions_report,
        ),
        // partners
        at(
            M::POST,
            "/hooks/orders/{connector}",
            PartnerSigned,
            hooks::order_hook,
        ),
        at(
            M::POST,
            "/hooks/tracking/{connector}",
            PartnerSigned,
            hooks::tracking_hook,
        ),
        at(
            M::POST,
            "/hooks/warehouse/{connector}",
            PartnerSigned,
            hooks::warehouse_hook,
        ),
        // notices: the customer pages (no token) and the subscribers' deliveries
        at(M::GET, "/status", Public, public::status_form),
        at(M::POST, "/status", RateLimited, public::status_post),
        at(
            M::GET,
            "/api/public/status",
            RateLimited,
            public::status_json,
        ),
        at(
            M::POST,
            "/api/public/status",
            RateLimited,
            public::status_json_post,
        ),
        at(M::GET, "/feedback/{token}", Public, public::feedback_form),
        at(
            M::POST,
            "/feedback/{token}",
            RateLimited,
            public::feedback_post,
        ),
        at(M::GET, "/api/subscribers", Viewer, public::subscribers),
    ];
    routes.extend(crate::ui::routes());
    routes
}

/// Every route the server answers and who may call it.
pub fn table() -> Vec<RouteSpec> {
    declared().into_iter().map(|r| r.spec).collect()
}

/// The router of [`declared`] over `state`, each route behind the [`guard`].
pub(super) fn router(state: AppState) -> Router {
    let routes = declared();
    let access: Arc<Vec<RouteSpec>> = Arc::new(routes.iter().map(|r| r.spec.clone()).collect());
    let mut router = Router::new();
    for r in routes {
        router = router.route(r.spec.path, r.handler);
    }
    router
        .with_state(state.clone())
        .route_layer(axum::middleware::from_fn_with_state(
            state,
            move |state: State<AppState>, req: Request, next: Next| {
                let access = access.clone();
                async move { guard(&access, state, req, next).await }
            },
        ))
}

/// Enforces the bearer roles of the route's row; refuses (404) a route the table lacks.
async fn guard(
    table: &[RouteSpec],
    State(s): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let Some(path) = req.extensions().get::<MatchedPath>() else {
        return ApiError::NotFound("route".into()).into_response();
    };
    // HEAD is answered by the GET route.
    let method = if req.method() == Method::HEAD {
        Method::GET
    } else {
        req.method().clone()
    };
    let Some(needed) = table
        .iter()
        .find(|r| r.method == method && r.path == path.as_str())
        .map(|r| r.access)
    else {
        tracing::error!(path = %path.as_str(), method = %req.method(), "A route missing from the route table was called: refused.");
        return ApiError::NotFound("route".into()).into_response();
    };
    let role = match needed {
        Access::Viewer => Some(ApiRole::Viewer),
        Access::Operator => Some(ApiRole::Operator),
        _ => None,
    };
    if let Some(role) = role {
        if let Err(refused) = api::authorize(&s, req.headers(), role) {
            return refused.into_response();
        }
    }
    next.run(req).await
}
