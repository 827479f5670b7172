//! The customer pages (no account): `GET|POST /status` (HTML form, English and Chinese),
//! `GET /api/public/status` (JSON), `GET|POST /feedback/{token}`; and the operators'
//! `GET /api/subscribers`. Lookups and feedback posts are rate limited per client IP.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::{api::authorize, ApiError, AppState};
use crate::config::ApiRole;
use crate::notices::metric;
use crate::notices::public::{lookup, page_language, REFUSAL};
use crate::notices::store::{self as rows, TokenUse};

/// Most bytes a form post may have.
const FORM_LIMIT: usize = 4096;

/// The client: the connection's peer, or the first `X-Forwarded-For` entry when trusted.
fn client_ip(s: &AppState, req: &Request) -> IpAddr {
    client_of(s, req.headers(), req.extensions())
}

/// [`client_ip`] from a request's parts (the dashboard's sign-in limit).
pub(crate) fn client_of(
    s: &AppState,
    headers: &HeaderMap,
    extensions: &axum::http::Extensions,
) -> IpAddr {
    if s.notices.trust_forwarded_for {
        let forwarded = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.trim().parse().ok());
        if let Some(ip) = forwarded {
            return ip;
        }
    }
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::from([0, 0, 0, 0]))
}

/// The query's pairs.
fn query_pairs(req: &Request) -> Vec<(String, String)> {
    form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

fn field<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn language(req: &Request) -> &'static str {
    let q = query_pairs(req);
    page_language(
        field(&q, "lang"),
        req.headers()
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    )
}

/// A customer page's body, at most [`FORM_LIMIT`] bytes: over it 413, unreadable (cut off,
/// or slower than `http.body_timeout_secs`) 400.
async fn small_body(req: Request) -> Result<axum::body::Bytes, Response> {
    axum::body::to_bytes(req.into_body(), FORM_LIMIT)
        .await
        .map_err(|e| {
            let (status, message) = if super::limits::over_limit(&e) {
                (StatusCode::PAYLOAD_TOO_LARGE, "body too large")
            } else {
                (StatusCode::BAD_REQUEST, "body could not be read")
            };
            (status, Json(json!({ "error": message }))).into_response()
        })
}

/// A form body's pairs.
async fn form_pairs(req: Request) -> Result<Vec<(String, String)>, Response> {
    let body = small_body(req).await?;
    Ok(form_urlencoded::parse(&body).into_owned().collect())
}

fn limited_headers(wait: u64) -> [(header::HeaderName, String); 1] {
    [(header::RETRY_AFTER, wait.to_string())]
}

/// `GET /status`: the form.
pub(super) async fn status_form(State(s): State<AppState>, req: Request) -> Response {
    let lang = language(&req);
    Html(s.notices.status_page(lang, "", None, false, false)).into_response()
}

/// `POST /status`: a lookup from the form.
pub(super) async fn status_post(State(s): State<AppState>, req: Request) -> Response {
    let lang = language(&req);
    let ip = client_ip(&s, &req);
    if let Err(wait) = s.notices.status_limit.check(ip) {
        metrics::counter!(metric::STATUS_LOOKUPS, "outcome" => "limited").increment(1);
        let page = s.notices.status_page(lang, "", None, false, true);
        return (
            StatusCode::TOO_MANY_REQUESTS,
            limited_headers(wait),
            Html(page),
        )
            .into_response();
    }
    let form = match form_pairs(req).await {
        Ok(form) => form,
        Err(refused) => return refused,
    };
    let order = field(&form, "order").unwrap_or("").to_string();
    let contact = field(&form, "contact").unwrap_or("");
    match lookup(&s.store, &order, contact).await {
        Ok(Some(answer)) => {
            metrics::counter!(metric::STATUS_LOOKUPS, "outcome" => "found").increment(1);
            Html(
                s.notices
                    .status_page(lang, &order, Some(&answer), false, false),
            )
            .into_response()
        }
        Ok(None) => {
            metrics::counter!(metric::STATUS_LOOKUPS, "outcome" => "refused").increment(1);
            // Word for word the same page whatever failed (the number typed is not echoed);
            // 200, since the page itself is fine (the JSON API answers 404).
            Html(s.notices.status_page(lang, "", None, true, false)).into_response()
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// `GET /api/public/status?order=…&contact=…`: the same lookup as JSON.
pub(super) async fn status_json(State(s): State<AppState>, req: Request) -> Response {
    let ip = client_ip(&s, &req);
    let q = query_pairs(&req);
    let order = field(&q, "order").unwrap_or("");
    let contact = field(&q, "contact").unwrap_or("");
    status_answer(&s, ip, order, contact).await
}

/// `POST /api/public/status` with `{"order": …, "contact": …}`: the same, keeping the contact
/// out of URLs and access logs.
pub(super) async fn status_json_post(State(s): State<AppState>, req: Request) -> Response {
    let ip = client_ip(&s, &req);
    let body = match small_body(req).await {
        Ok(b) => serde_json::from_slice::<serde_json::Value>(&b).unwrap_or_default(),
        Err(refused) => return refused,
    };
    let order = body["order"].as_str().unwrap_or("");
    let contact = body["contact"].as_str().unwrap_or("");
    status_answer(&s, ip, order, contact).await
}

/// The JSON answer of a lookup, after the rate limit.
async fn status_answer(s: &AppState, ip: IpAddr, order: &str, contact: &str) -> Response {
    if let Err(wait) = s.notices.status_limit.check(ip) {
        metrics::counter!(metric::STATUS_LOOKUPS, "outcome" => "limited").increment(1);
        return (
            StatusCode::TOO_MANY_REQUESTS,
            limited_headers(wait),
            Json(json!({"error": "too many lookups; try again later"})),
        )
            .into_response();
    }
    match lookup(&s.store, order, contact).await {
        Ok(Some(answer)) => {
            metrics::counter!(metric::STATUS_LOOKUPS, "outcome" => "found").increment(1);
            Json(answer).into_response()
        }
        Ok(None) => {
            metrics::counter!(metric::STATUS_LOOKUPS, "outcome" => "refused").increment(1);
            (StatusCode::NOT_FOUND, Json(json!({"error": REFUSAL}))).into_response()
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// `GET /feedback/{token}`: the rating form.
pub(super) async fn feedback_form(
    State(s): State<AppState>,
    Path(token): Path<String>,
    req: Request,
) -> Response {
    let lang = language(&req);
    let (status, state) = match rows::token_state(&s.store, &token).await {
        Ok(TokenUse::Recorded(_)) => (StatusCode::OK, "open"),
        Ok(TokenUse::Used) => (StatusCode::GONE, "used"),
        Ok(TokenUse::Unknown) => (StatusCode::NOT_FOUND, "unknown"),
        Err(e) => return ApiError::from(e).into_response(),
    };
    (status, Html(s.notices.feedback_page(lang, &token, state))).into_response()
}

/// `POST /feedback/{token}`: `rating=1..5` (form) or `{"rating": n}` (JSON); a token works
/// once. Answers HTML to a form and JSON to JSON.
pub(super) async fn feedback_post(
    State(s): State<AppState>,
    Path(token): Path<String>,
    req: Request,
) -> Response {
    let lang = language(&req);
    let ip = client_ip(&s, &req);
    let json_body = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let answer = |status: StatusCode, state: &str, headers: HeaderMap| -> Response {
        metrics::counter!(metric::FEEDBACK, "outcome" => state.to_string()).increment(1);
        if json_body {
            (status, headers, Json(json!({"result": state}))).into_response()
        } else {
            (
                status,
                headers,
                Html(s.notices.feedback_page(lang, &token, state)),
            )
                .into_response()
        }
    };
    if let Err(wait) = s.notices.feedback_limit.check(ip) {
        let mut h = HeaderMap::new();
        if let Ok(v) = wait.to_string().parse() {
            h.insert(header::RETRY_AFTER, v);
        }
        return answer(StatusCode::TOO_MANY_REQUESTS, "limited", h);
    }
    let body = match small_body(req).await {
        Ok(b) => b,
        Err(refused) => return refused,
    };
    let rating: Option<i64> = if json_body {
        serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["rating"].as_i64())
    } else {
        let form: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
        field(&form, "rating").and_then(|r| r.trim().parse().ok())
    };
    let Some(rating) = rating.filter(|r| (1..=5).contains(r)) else {
        return answer(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            HeaderMap::new(),
        );
    };
    match rows::use_token(&s.store, &token, rating as u8).await {
        Ok(TokenUse::Recorded(_)) => answer(StatusCode::OK, "thanks", HeaderMap::new()),
        Ok(TokenUse::Used) => answer(StatusCode::GONE, "used", HeaderMap::new()),
        Ok(TokenUse::Unknown) => answer(StatusCode::NOT_FOUND, "unknown", HeaderMap::new()),
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// `GET /api/subscribers` (viewer): each configured subscriber with its delivery counts and
/// last error. The URL is shown without its query (it may carry a key).
pub(super) async fn subscribers(
    State(s): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    authorize(&s, &headers, ApiRole::Viewer)?;
    let mut out = Vec::new();
    for sub in &s.notices.subscribers {
        let stats = rows::subscriber_stats(&s.store, &sub.name).await?;
        out.push(json!({
            "name": sub.name,
            "url": sub.url.split('?').next().unwrap_or(""),
            "events": sub.events,
            "enabled": sub.enabled,
            "deliveries": stats,
        }));
    }
    Ok(Json(json!({ "subscribers": out })))
}
