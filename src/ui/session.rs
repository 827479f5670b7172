//! Dashboard sign-in: an API token is exchanged for a session cookie. The cookie's value is
//! 32 random bytes; the store keeps only its SHA-256 (migration 0014, `ui_sessions`), the
//! holder's name and the CSRF token every form of the session carries. Each request looks the
//! holder up among the tokens in force, so a token removed from the configuration ends its
//! sessions. The sign-in form itself is protected by a double-submit cookie.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{page, UiError};
use crate::config::ApiRole;
use crate::http::AppState;

/// The session cookie.
const COOKIE: &str = "og_session";
/// The sign-in form's double-submit cookie.
const LOGIN_COOKIE: &str = "og_login";

/// Dashboard sign-ins by outcome (`signed_in`, `refused`, `limited`): a burst of refusals is someone
/// guessing tokens.
const SIGNINS: &str = "ordergate_ui_signins_total";

/// Who is signed in.
#[derive(Debug, Clone)]
pub struct Session {
    /// The token holder's name (audit entries say `ui:<name>`).
    pub holder: String,
    pub role: ApiRole,
    /// The token forms must carry.
    pub csrf: String,
}

impl Session {
    /// The actor written in audit entries.
    pub fn actor(&self) -> String {
        format!("ui:{}", self.holder)
    }

    /// Whether the session may act (operator).
    pub fn can_act(&self) -> bool {
        self.role >= ApiRole::Operator
    }
}

/// A submitted form's fields.
#[derive(Debug, Default)]
pub struct Form(pub HashMap<String, String>);

impl Form {
    /// Parses an `application/x-www-form-urlencoded` body.
    pub fn parse(body: &[u8]) -> Form {
        Form(form_urlencoded::parse(body).into_owned().collect())
    }

    /// A field, trimmed; `None` when absent or blank.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
    }
}

fn random_hex() -> String {
    use rand::Rng;
    let bytes: [u8; 32] = rand::rng().random();
    hex::encode(bytes)
}

fn digest(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

fn same(a: &str, b: &str) -> bool {
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// A cookie's value from the request.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// `Set-Cookie` for `name`; `Secure` when the request came over HTTPS (a proxy says so).
fn set_cookie(headers: &HeaderMap, name: &str, value: &str, max_age_s: i64) -> HeaderValue {
    let secure = headers
        .get("x-forwarded-proto")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"));
    let text = format!(
        "{name}={value}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age={max_age_s}{}",
        if secure { "; Secure" } else { "" }
    );
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The session of the request, if it has a live one whose holder's token is still in force.
pub async fn current(s: &AppState, headers: &HeaderMap) -> Result<Option<Session>, UiError> {
    let Some(id) = cookie(headers, COOKIE) else {
        return Ok(None);
    };
    let row: Option<(String, String)> = sqlx::query_as(
        "SELECT holder, csrf FROM ui_sessions WHERE id_hash = $1 AND expires_at > $2",
    )
    .bind(digest(id))
    .bind(crate::store::now_ms())
    .fetch_optional(s.store.pool())
    .await
    .map_err(crate::store::StoreError::from)?;
    let Some((holder, csrf)) = row else {
        return Ok(None);
    };
    let Some(key) = s.api_tokens.iter().find(|k| k.name == holder) else {
        return Ok(None);
    };
    Ok(Some(Session {
        holder,
        role: key.role,
        csrf,
    }))
}

/// The session of a page request; none sends the browser to the sign-in.
pub async fn reader(s: &AppState, headers: &HeaderMap) -> Result<Session, UiError> {
    current(s, headers).await?.ok_or(UiError::SignIn)
}

/// The session of an action: signed in (else 401), an operator (else 403) and the form's CSRF
/// token its own (else 403).
pub async fn writer(s: &AppState, headers: &HeaderMap, form: &Form) -> Result<Session, UiError> {
    let session = current(s, headers).await?.ok_or(UiError::Unauthenticated)?;
    if !form.get("csrf").is_some_and(|t| same(t, &session.csrf)) {
        return Err(UiError::Forbidden(
            "The form's security token is missing or stale: reload the page and try again.",
        ));
    }
    if !session.can_act() {
        return Err(UiError::Forbidden(
            "Your token's role (viewer) may look, not change.",
        ));
    }
    Ok(session)
}

fn login_form(headers: &HeaderMap, status: StatusCode, message: Option<&str>) -> Response {
    let csrf = random_hex();
    let mut resp = match page(
        "login.html",
        minijinja::context! { csrf => csrf.clone(), message => message },
    ) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    *resp.status_mut() = status;
    resp.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(headers, LOGIN_COOKIE, &csrf, 3600),
    );
    resp
}

/// `GET /ui/login`.
pub(super) async fn login_page(headers: HeaderMap) -> Response {
    login_form(&headers, StatusCode::OK, None)
}

/// `POST /ui/login`: `token` and the form's `csrf`. A client past `http.signin_failures_per_minute`
/// failed sign-ins is answered 429 with `Retry-After`, whatever it sends, until the minute is
/// over (guessing tokens is that slow); other clients are not affected.
pub(super) async fn login(
    State(s): State<AppState>,
    headers: HeaderMap,
    extensions: axum::http::Extensions,
    body: axum::body::Bytes,
) -> Result<Response, UiError> {
    let client = crate::http::client_of(&s, &headers, &extensions);
    if let Err(wait) = s.notices.signin_limit.over(client) {
        tracing::warn!(
            retry_after_s = wait,
            "Dashboard sign-in refused: too many failed sign-ins from this client."
        );
        metrics::counter!(SIGNINS, "outcome" => "limited").increment(1);
        let mut resp = login_form(
            &headers,
            StatusCode::TOO_MANY_REQUESTS,
            Some("Too many failed sign-ins: wait a minute and try again."),
        );
        if let Ok(value) = HeaderValue::from_str(&wait.to_string()) {
            resp.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return Ok(resp);
    }
    let form = Form::parse(&body);
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if expected.is_empty() || !form.get("csrf").is_some_and(|t| same(t, expected)) {
        return Err(UiError::Forbidden(
            "The sign-in form's security token is missing or stale: reload the page.",
        ));
    }
    let given = form.get("token").unwrap_or_default();
    let mut found = None;
    for k in s.api_tokens.iter() {
        // Compare with every token, so timing says nothing.
        if same(&k.token, given) {
            found = Some(k);
        }
    }
    let Some(key) = found.filter(|_| !given.is_empty()) else {
        tracing::info!("Dashboard sign-in refused: unknown token.");
        metrics::counter!(SIGNINS, "outcome" => "refused").increment(1);
        // Counted towards the client's limit; the next sign-in past it is refused above.
        let _ = s.notices.signin_limit.check(client);
        return Ok(login_form(
            &headers,
            StatusCode::UNAUTHORIZED,
            Some("That token is not valid."),
        ));
    };
    let id = random_hex();
    let now = crate::store::now_ms();
    let ttl = s.ops.kpi.session_ms();
    // A person waits on this write: ahead of pipeline work, as intake is.
    let mut tx = s.store.begin_urgent().await?;
    sqlx::query(
        "INSERT INTO ui_sessions (id_hash, holder, role, csrf, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(digest(&id))
    .bind(&key.name)
    .bind(if key.role >= ApiRole::Operator {
        "operator"
    } else {
        "viewer"
    })
    .bind(random_hex())
    .bind(now)
    .bind(now + ttl)
    .execute(&mut *tx)
    .await
    .map_err(crate::store::StoreError::from)?;
    // Expired sessions are forgotten at each sign-in.
    sqlx::query("DELETE FROM ui_sessions WHERE expires_at < $1")
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(crate::store::StoreError::from)?;
    tx.commit().await.map_err(crate::store::StoreError::from)?;
    tracing::info!(holder = %key.name, "Dashboard sign-in.");
    metrics::counter!(SIGNINS, "outcome" => "signed_in").increment(1);
    let mut resp = Redirect::to("/ui/pipeline").into_response();
    resp.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&headers, COOKIE, &id, ttl / 1000),
    );
    resp.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&headers, LOGIN_COOKIE, "", 0),
    );
    Ok(resp)
}

/// `POST /ui/logout`: ends the session (viewers too; the CSRF token is still required).
pub(super) async fn logout(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, UiError> {
    let form = Form::parse(&body);
    let session = current(&s, &headers)
        .await?
        .ok_or(UiError::Unauthenticated)?;
    if !form.get("csrf").is_some_and(|t| same(t, &session.csrf)) {
        return Err(UiError::Forbidden(
            "The form's security token is missing or stale: reload the page and try again.",
        ));
    }
    if let Some(id) = cookie(&headers, COOKIE) {
        let mut tx = s.store.begin().await?;
        sqlx::query("DELETE FROM ui_sessions WHERE id_hash = $1")
            .bind(digest(id))
            .execute(&mut *tx)
            .await
            .map_err(crate::store::StoreError::from)?;
        tx.commit().await.map_err(crate::store::StoreError::from)?;
    }
    let mut resp = Redirect::to("/ui/login").into_response();
    resp.headers_mut()
        .append(header::SET_COOKIE, set_cookie(&headers, COOKIE, "", 0));
    Ok(resp)
}
