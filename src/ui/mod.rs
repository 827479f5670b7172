//! The operations dashboard at `/ui`: server-rendered pages (minijinja templates embedded from
//! `src/ui/templates`) for the desk that runs ordergate — the pipeline at a glance, connectors,
//! the exceptions board, the review queue, order search and the order page, KPI charts.
//!
//! People sign in with an API token ([`session`]): it becomes a session cookie (HttpOnly,
//! SameSite=Strict, the value never stored — only its hash) with the token's role. Viewers
//! read; operators also act. Every form carries the session's CSRF token; a POST without it is
//! refused. Actions go through the same domain functions as the API (`crate::exceptions`,
//! `crate::actions`). No script is needed; `static/refresh.js` (vendored, ours) only reloads
//! pages that ask for live refresh.

mod actions;
mod pages;
pub mod session;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::http::Method;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use minijinja::Environment;

use crate::config::kpi::KpiConfig;
use crate::http::routes::{at, Access, Route};

/// What the dashboard and the reports need besides the API's state.
#[derive(Debug, Clone, Default)]
pub struct Ops {
    /// The KPI rules and the session lifetime.
    pub kpi: KpiConfig,
    /// The bus queues whose depth the pipeline page shows.
    pub queues: Vec<String>,
    /// Whole-table counts (orders by state, each connector's newest order), kept for
    /// [`COUNTS_TTL`]: on a million orders they cost a scan, and every open pipeline page
    /// asks for them every few seconds.
    pub counts: Arc<Mutex<HashMap<&'static str, Cached>>>,
}

/// Counts by name (state, connector).
pub type Counts = BTreeMap<String, i64>;

/// How long the pipeline's whole-table counts are reused.
pub const COUNTS_TTL: Duration = Duration::from_secs(5);

/// Counts as last loaded, and whether a request is loading them again.
#[derive(Debug, Clone)]
pub struct Cached {
    at: Instant,
    counts: Counts,
    loading: bool,
}

impl Ops {
    /// The counts named `name`: from the cache while fresh; when stale, the stale ones while one
    /// task loads them again with `load` in the background (so no page waits for a count over a
    /// million orders once the first one is loaded); the first time, loaded here.
    pub(crate) async fn counts<F, Fut>(
        &self,
        name: &'static str,
        load: F,
    ) -> Result<Counts, crate::store::StoreError>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut:
            std::future::Future<Output = Result<Counts, crate::store::StoreError>> + Send + 'static,
    {
        {
            let mut cache = self.counts.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(c) = cache.get_mut(name) {
                if c.at.elapsed() >= COUNTS_TTL && !c.loading {
                    c.loading = true;
                    let cache = self.counts.clone();
                    tokio::spawn(async move {
                        let fresh = load().await;
                        let mut cache = cache.lock().unwrap_or_else(|p| p.into_inner());
                        if let Some(c) = cache.get_mut(name) {
                            c.loading = false;
                            match fresh {
                                Ok(counts) => {
                                    c.counts = counts;
                                    c.at = Instant::now();
                                }
                                Err(error) => {
                                    tracing::warn!(error = %error, counts = name, "Dashboard counts not refreshed.");
                                }
                            }
                        }
                    });
                }
                return Ok(c.counts.clone());
            }
        }
        let counts = load().await?;
        let mut cache = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        cache.insert(
            name,
            Cached {
                at: Instant::now(),
                counts: counts.clone(),
                loading: false,
            },
        );
        Ok(counts)
    }
}

/// The dashboard's routes, under `/ui`: rows of the server's route table
/// ([`crate::http::routes`]).
pub fn routes() -> Vec<Route> {
    use Access::*;
    use Method as M;
    vec![
        at(M::GET, "/ui", Public, || async {
            Redirect::to("/ui/pipeline")
        }),
        at(M::GET, "/ui/", Public, || async {
            Redirect::to("/ui/pipeline")
        }),
        at(M::GET, "/ui/login", Public, session::login_page),
        at(M::POST, "/ui/login", SignIn, session::login),
        at(M::POST, "/ui/logout", SignOut, session::logout),
        at(M::GET, "/ui/static/{file}", Public, static_file),
        at(M::GET, "/ui/pipeline", Page, pages::pipeline),
        at(M::GET, "/ui/connectors", Page, pages::connectors),
        at(M::GET, "/ui/exceptions", Page, pages::exceptions),
        at(M::POST, "/ui/exceptions/{id}", Action, actions::exception),
        at(M::GET, "/ui/review", Page, pages::review),
        at(M::GET, "/ui/orders", Page, pages::orders),
        at(M::GET, "/ui/orders/{id}", Page, pages::order),
        at(M::GET, "/ui/orders/{id}/document", Page, pages::document),
        at(M::POST, "/ui/orders/{id}/correct", Action, actions::correct),
        at(M::GET, "/ui/kpi", Page, pages::kpi),
    ]
}

/// Why a page could not be served.
#[derive(Debug)]
pub enum UiError {
    /// No session: a page redirects to the sign-in, an action is refused with 401.
    SignIn,
    Unauthenticated,
    /// The session's role may not do this, or the form's CSRF token is missing or wrong.
    Forbidden(&'static str),
    NotFound(String),
    Conflict(String),
    Invalid(String),
    Unavailable,
}

impl From<crate::store::StoreError> for UiError {
    fn from(error: crate::store::StoreError) -> Self {
        tracing::warn!(error = %error, "Dashboard store error.");
        UiError::Unavailable
    }
}

impl From<crate::actions::ActionError> for UiError {
    fn from(error: crate::actions::ActionError) -> Self {
        use crate::actions::ActionError as A;
        match error {
            A::NotFound(what) => UiError::NotFound(what),
            A::Conflict(why) => UiError::Conflict(why),
            A::Invalid(why) => UiError::Invalid(why),
            A::InvalidFields(fields) => {
                UiError::Invalid(format!("bad fields: {}", fields.join("; ")))
            }
            A::Store(e) => e.into(),
        }
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            UiError::SignIn => return Redirect::to("/ui/login").into_response(),
            UiError::Unauthenticated => (StatusCode::UNAUTHORIZED, "Sign in first.".to_string()),
            UiError::Forbidden(why) => (StatusCode::FORBIDDEN, why.to_string()),
            UiError::NotFound(what) => (StatusCode::NOT_FOUND, format!("{what} not found.")),
            UiError::Conflict(why) => (StatusCode::CONFLICT, why),
            UiError::Invalid(why) => (StatusCode::UNPROCESSABLE_ENTITY, why),
            UiError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "The store is unavailable; try again.".to_string(),
            ),
        };
        let body = render(
            "error.html",
            minijinja::context! { status => status.as_u16(), message => message },
        )
        .unwrap_or_else(|_| "error".into());
        (status, page_headers(), Html(body)).into_response()
    }
}

/// Headers of every page: no caching of personal data, no framing, scripts only from here.
pub(crate) fn page_headers() -> [(header::HeaderName, &'static str); 4] {
    [
        (header::CACHE_CONTROL, "no-store"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; form-action 'self'; frame-ancestors 'none'",
        ),
    ]
}

fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.add_filter("when", when);
        for (name, source) in TEMPLATES {
            // The templates are ours and compiled in; a broken one fails the tests.
            if let Err(error) = env.add_template(name, source) {
                tracing::error!(template = name, error = %error, "Dashboard template does not compile.");
            }
        }
        env
    })
}

/// The `when` filter: a time (RFC 3339 text or Unix ms) as `2026-12-03 14:05 UTC`; `-` when
/// absent.
fn when(v: minijinja::Value) -> String {
    let time = if let Some(ms) = v.as_i64() {
        chrono::DateTime::from_timestamp_millis(ms)
    } else if let Some(text) = v.as_str() {
        chrono::DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|t| t.with_timezone(&chrono::Utc))
    } else {
        None
    };
    time.map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| "-".into())
}

const TEMPLATES: [(&str, &str); 10] = [
    ("base.html", include_str!("templates/base.html")),
    ("error.html", include_str!("templates/error.html")),
    ("login.html", include_str!("templates/login.html")),
    ("pipeline.html", include_str!("templates/pipeline.html")),
    ("connectors.html", include_str!("templates/connectors.html")),
    ("exceptions.html", include_str!("templates/exceptions.html")),
    ("review.html", include_str!("templates/review.html")),
    ("orders.html", include_str!("templates/orders.html")),
    ("order.html", include_str!("templates/order.html")),
    ("kpi.html", include_str!("templates/kpi.html")),
];

/// Renders a template.
pub(crate) fn render(name: &str, ctx: minijinja::Value) -> Result<String, minijinja::Error> {
    environment().get_template(name)?.render(ctx)
}

/// A rendered page as a response.
pub(crate) fn page(name: &str, ctx: minijinja::Value) -> Result<Response, UiError> {
    let body = render(name, ctx).map_err(|error| {
        tracing::error!(template = name, error = %error, "Dashboard page does not render.");
        UiError::Unavailable
    })?;
    Ok((page_headers(), Html(body)).into_response())
}

async fn static_file(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "app.css" => (include_str!("static/app.css"), "text/css; charset=utf-8"),
        "refresh.js" => (
            include_str!("static/refresh.js"),
            "text/javascript; charset=utf-8",
        ),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn counts_are_loaded_once_then_refreshed_in_the_background() {
        let ops = Ops::default();
        let one = || async { Ok(Counts::from([("a".to_string(), 1)])) };
        let two = || async { Ok(Counts::from([("a".to_string(), 2)])) };
        assert_eq!(ops.counts("x", one).await.unwrap()["a"], 1);
        // Fresh: the loader is not asked.
        assert_eq!(ops.counts("x", two).await.unwrap()["a"], 1);
        // Stale: the stale counts now, the fresh ones once the background load is done.
        if let Some(c) = ops.counts.lock().unwrap().get_mut("x") {
            c.at = Instant::now() - COUNTS_TTL * 2;
        }
        assert_eq!(ops.counts("x", two).await.unwrap()["a"], 1);
        for _ in 0..100 {
            if ops.counts("x", two).await.unwrap()["a"] == 2 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the counts were not refreshed");
    }
}
