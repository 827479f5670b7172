//! The HTTP side of a partner connector (marketplace pull, warehouses): one request with auth, a timeout, rate-limit pacing, retries
//! with exponential backoff and jitter (honouring `Retry-After`), one token refresh on an
//! expired access token, and the platform's error body turned into a typed [`PartnerError`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::Rng;
use reqwest::header::HeaderMap;
use tokio_util::sync::CancellationToken;

use super::auth::{without_url, Authenticator};
use super::definition::{select, ErrorSpec, RateLimitPolicy};
use super::error::PartnerError;

/// How often and how patiently a request is retried.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// First delay; doubles each retry.
    pub base: Duration,
    /// Longest delay (also caps `Retry-After`).
    pub max: Duration,
}

impl RetryPolicy {
    /// The delay before retry number `attempt` (0-based): exponential with "equal jitter"
    /// (between half and all of the exponential delay), so many clients do not retry in step.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .base
            .saturating_mul(2u32.saturating_pow(attempt.min(20)))
            .min(self.max);
        let half = exp / 2;
        let jitter = rand::rng().random_range(0..=half.as_millis() as u64);
        half + Duration::from_millis(jitter)
    }
}

/// One request to send: what [`ApiClient::request`] needs besides auth.
#[derive(Debug, Clone)]
pub struct Call<'a> {
    /// The HTTP method.
    pub method: reqwest::Method,
    /// The full URL.
    pub url: &'a str,
    /// Query parameters.
    pub query: &'a [(String, String)],
    /// Headers besides auth (`shipbob_channel_id`).
    pub headers: &'a [(String, String)],
    /// The body and its content type.
    pub body: Option<(&'static str, Vec<u8>)>,
    /// Whether sending it twice does no harm (reads, cancels): then any retriable failure is
    /// retried. A create is not: see [`ApiClient::request`].
    pub idempotent: bool,
}

/// A 2xx answer as it came.
#[derive(Debug)]
pub struct RawResponse {
    /// The status.
    pub status: u16,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub bytes: axum::body::Bytes,
}

/// A successful response.
#[derive(Debug)]
pub struct Response {
    /// Its headers (Link, totals).
    pub headers: HeaderMap,
    /// Its JSON body.
    pub body: serde_json::Value,
}

#[derive(Debug)]
struct Pacing {
    /// No request before this (global: call-limit and min-interval pauses).
    global_next: Instant,
    /// Per endpoint: the interval the platform's rate header asks for, and when the last
    /// request went out. The next one waits for the interval known *now*, so the rate the
    /// first answer announces already spaces the second request.
    endpoints: HashMap<String, (Duration, Option<Instant>)>,
}

/// The rate-limit budget a partner's headers announced on its latest answer, for the
/// connectors page: the calls left (and of how many), and when the budget resets if the
/// partner says so.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Headroom {
    /// Calls left in the current window or bucket.
    pub remaining: f64,
    /// The window's or bucket's size, when given.
    pub limit: Option<f64>,
    /// When the budget is whole again, when the partner says.
    pub reset_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The header it came from.
    pub header: String,
    /// When the answer carrying it arrived.
    pub observed_at: chrono::DateTime<chrono::Utc>,
}

/// The standard budget headers (`X-RateLimit-*` as GitHub, ShipBob, EasyPost and many others
/// send them; `RateLimit-*` of the IETF draft): remaining, limit, reset.
const BUDGET_HEADERS: [(&str, &str, &str); 2] = [
    (
        "x-ratelimit-remaining",
        "x-ratelimit-limit",
        "x-ratelimit-reset",
    ),
    ("ratelimit-remaining", "ratelimit-limit", "ratelimit-reset"),
];

/// A reset header's instant: Unix seconds when it looks like one, else seconds from now.
fn reset_at(
    value: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<chrono::DateTime<chrono::Utc>> {
    let secs = value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)?;
    if secs > 1_000_000_000.0 {
        chrono::DateTime::from_timestamp(secs as i64, 0)
    } else {
        Some(now + chrono::Duration::milliseconds((secs * 1000.0) as i64))
    }
}

/// The budget `headers` announce (`call_limit_header` is the definition's `used/limit` header),
/// if they announce one.
pub fn headroom_of(headers: &HeaderMap, call_limit_header: Option<&str>) -> Option<Headroom> {
    let now = chrono::Utc::now();
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some((name, v)) = call_limit_header.and_then(|n| Some((n, text(n)?))) {
        let mut parts = v.split('/').map(|s| s.trim().parse::<f64>());
        if let (Some(Ok(used)), Some(Ok(limit))) = (parts.next(), parts.next()) {
            if used.is_finite() && limit.is_finite() && limit > 0.0 {
                return Some(Headroom {
                    remaining: (limit - used).max(0.0),
                    limit: Some(limit),
                    reset_at: None,
                    header: name.to_string(),
                    observed_at: now,
                });
            }
        }
    }
    for (remaining, limit, reset) in BUDGET_HEADERS {
        let Some(left) = text(remaining).and_then(|v| v.parse::<f64>().ok()) else {
            continue;
        };
        if !left.is_finite() {
            continue;
        }
        return Some(Headroom {
            remaining: left.max(0.0),
            limit: text(limit)
                .and_then(|v| v.parse::<f64>().ok())
                .filter(|l| l.is_finite()),
            reset_at: text(reset).and_then(|v| reset_at(v, now)),
            header: remaining.to_string(),
            observed_at: now,
        });
    }
    None
}

/// Talks to one platform for one connector.
pub struct ApiClient {
    platform: String,
    http: reqwest::Client,
    auth: Authenticator,
    errors: ErrorSpec,
    rate: RateLimitPolicy,
    retry: RetryPolicy,
    timeout: Duration,
    pacing: Mutex<Pacing>,
    /// The budget the latest answer announced.
    headroom: Mutex<Option<Headroom>>,
}

impl ApiClient {
    /// A client; every request times out after `timeout`.
    pub fn new(
        platform: &str,
        auth: Authenticator,
        errors: ErrorSpec,
        rate: RateLimitPolicy,
        retry: RetryPolicy,
        timeout: Duration,
    ) -> Result<Self, PartnerError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("ordergate/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| PartnerError::Transport {
                platform: platform.to_string(),
                message: e.to_string(),
            })?;
        let now = Instant::now();
        Ok(Self {
            platform: platform.to_string(),
            http,
            auth,
            errors,
            rate,
            retry,
            timeout,
            pacing: Mutex::new(Pacing {
                global_next: now,
                endpoints: HashMap::new(),
            }),
            headroom: Mutex::new(None),
        })
    }

    /// The rate-limit budget the partner's latest answer announced, if it announces one.
    pub fn headroom(&self) -> Option<Headroom> {
        self.headroom
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// GETs `url` with `query`, retrying retriable failures. `endpoint` names the operation for
    /// per-endpoint pacing (`list`, `items`).
    pub async fn get(
        &self,
        endpoint: &str,
        url: &str,
        query: &[(String, String)],
        shutdown: &CancellationToken,
    ) -> Result<Response, PartnerError> {
        let call = Call {
            method: reqwest::Method::GET,
            url,
            query,
            headers: &[],
            body: None,
            idempotent: true,
        };
        self.request(endpoint, &call, shutdown, |raw| self.json_body(raw))
            .await
    }

    /// Sends `call`, retrying retriable failures with backoff (a partner's `Retry-After` wins
    /// when longer). `decode` turns a 2xx answer into the result and may refuse it (a body
    /// that is not what the definition says, errors inside a 2xx); its errors are retried by
    /// the same rule. A call that is not idempotent is retried only after an answer that says
    /// it was not carried out (429): after a timeout, a lost connection or a 5xx it may have
    /// been, and the caller looks its own key up before trying again.
    pub async fn request<T>(
        &self,
        endpoint: &str,
        call: &Call<'_>,
        shutdown: &CancellationToken,
        decode: impl Fn(RawResponse) -> Result<T, PartnerError>,
    ) -> Result<T, PartnerError> {
        let mut attempt = 0u32;
        let mut refreshed = false;
        loop {
            self.wait_turn(endpoint, shutdown).await?;
            let error = match self.attempt(endpoint, call).await.and_then(&decode) {
                Ok(r) => return Ok(r),
                Err(e) => e,
            };
            if let Some(status) = error.status() {
                if !refreshed && self.auth.refreshes_on(status) {
                    refreshed = true;
                    tracing::info!(platform = %self.platform, status, "Access token refused; refreshing it once.");
                    self.auth.invalidate().await;
                    continue;
                }
            }
            let safe = call.idempotent || !error.may_have_been_done();
            if !safe || !error.is_retriable() || attempt >= self.retry.max_retries {
                return Err(error);
            }
            let delay = self.retry_delay(attempt, &error);
            tracing::warn!(platform = %self.platform, endpoint, attempt = attempt + 1, delay_ms = delay.as_millis() as u64, error = %error, "Request failed; retrying.");
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = shutdown.cancelled() => return Err(PartnerError::Cancelled),
            }
            attempt += 1;
        }
    }

    /// The pause before retry number `attempt` (0-based) after `error`: the backoff, or the
    /// partner's `Retry-After` when longer, never over the policy's maximum.
    pub fn retry_delay(&self, attempt: u32, error: &PartnerError) -> Duration {
        self.retry
            .backoff(attempt)
            .max(error.retry_after().unwrap_or_default())
            .min(self.retry.max)
    }

    /// The pause before a create that failed with `error` is looked up (or sent again): as
    /// [`Self::retry_delay`], and after a timeout at least the timeout again and a second. A
    /// create that timed out may still be on its way through the partner; a look-up made
    /// before it lands misses it and a second one is made.
    pub fn settle_delay(&self, attempt: u32, error: &PartnerError) -> Duration {
        let delay = self.retry_delay(attempt, error);
        match error {
            PartnerError::Timeout { timeout, .. } => {
                delay.max(timeout.saturating_add(Duration::from_secs(1)))
            }
            _ => delay,
        }
    }

    /// Lets a create that failed with `error` settle before its caller gives up on it: after a
    /// timeout, waits the timeout again and a second (or until `shutdown`). The caller's own
    /// retries wait [`Self::settle_delay`] before their look-up; a caller that has run out of
    /// retries hands the work back (the stage retries it after its backoff, maybe on another
    /// worker once the claim is released), and that retry's look-up must not run while the
    /// unanswered create is still on its way through the partner either.
    pub async fn settle(&self, error: &PartnerError, shutdown: &CancellationToken) {
        if let PartnerError::Timeout { timeout, .. } = error {
            tokio::select! {
                _ = tokio::time::sleep(timeout.saturating_add(Duration::from_secs(1))) => {}
                _ = shutdown.cancelled() => {}
            }
        }
    }

    /// The retry policy (callers that retry themselves, such as a create looked up first).
    pub fn retry_policy(&self) -> RetryPolicy {
        self.retry
    }

    /// The partner's name, for errors built by callers.
    pub fn platform(&self) -> &str {
        &self.platform
    }

    /// One try of `call`: auth, send, rate headers observed, a non-2xx answer as a typed
    /// error.
    async fn attempt(&self, endpoint: &str, call: &Call<'_>) -> Result<RawResponse, PartnerError> {
        let mut req = self
            .http
            .request(call.method.clone(), call.url)
            .query(call.query);
        for (name, value) in call.headers {
            req = req.header(name.as_str(), value.as_str());
        }
        if let Some((content_type, body)) = &call.body {
            req = req
                .header(reqwest::header::CONTENT_TYPE, *content_type)
                .body(body.clone());
        }
        let req = self.auth.apply(&self.http, req).await?;
        let resp = req.send().await.map_err(|e| self.transport(e))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        self.observe_rate(endpoint, &headers);
        let bytes = resp.bytes().await.map_err(|e| self.transport(e))?;
        if !(200..300).contains(&status) {
            let body = serde_json::from_slice::<serde_json::Value>(&bytes).ok();
            let retry_after = self
                .retry_after(&headers)
                .or_else(|| (status == 429).then(|| self.reset_wait(&headers)).flatten());
            return Err(self.partner_error(status, body.as_ref(), retry_after));
        }
        Ok(RawResponse {
            status,
            headers,
            bytes,
        })
    }

    /// Waits until the rate-limit policy lets `endpoint` send.
    async fn wait_turn(
        &self,
        endpoint: &str,
        shutdown: &CancellationToken,
    ) -> Result<(), PartnerError> {
        let wait = {
            let mut p = self.pacing.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            let (interval, last) = p
                .endpoints
                .get(endpoint)
                .copied()
                .unwrap_or((Duration::ZERO, None));
            let at = last
                .map_or(now, |l| l + interval)
                .max(p.global_next)
                .max(now);
            p.endpoints
                .insert(endpoint.to_string(), (interval, Some(at)));
            p.global_next = at + Duration::from_millis(self.rate.min_interval_ms);
            at - now
        };
        if wait.is_zero() {
            return Ok(());
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => Ok(()),
            _ = shutdown.cancelled() => Err(PartnerError::Cancelled),
        }
    }

    /// Reads rate-limit headers into the pacing state.
    fn observe_rate(&self, endpoint: &str, headers: &HeaderMap) {
        if let Some(h) = headroom_of(headers, self.rate.call_limit_header.as_deref()) {
            *self.headroom.lock().unwrap_or_else(|e| e.into_inner()) = Some(h);
        }
        let max_wait = Duration::from_millis(self.rate.max_wait_ms.unwrap_or(60_000));
        let header = |name: &Option<String>| {
            name.as_deref()
                .and_then(|n| headers.get(n))
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
        };
        let mut p = self.pacing.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(v) = header(&self.rate.call_limit_header) {
            let mut parts = v.split('/').map(|s| s.trim().parse::<f64>());
            if let (Some(Ok(used)), Some(Ok(limit))) = (parts.next(), parts.next()) {
                let threshold = self.rate.call_limit_threshold.unwrap_or(0.8);
                if limit > 0.0 && used / limit >= threshold {
                    let wait = Duration::from_millis(self.rate.call_limit_wait_ms.unwrap_or(1_000))
                        .min(max_wait);
                    p.global_next = p.global_next.max(Instant::now() + wait);
                    tracing::debug!(platform = %self.platform, used, limit, "Call limit nearly reached; slowing down.");
                }
            }
        }
        if let Some(v) = header(&self.rate.rate_header) {
            if let Ok(rps) = v.parse::<f64>() {
                if rps > 0.0 && rps.is_finite() {
                    let interval = Duration::from_secs_f64(1.0 / rps).min(max_wait);
                    let slot = p
                        .endpoints
                        .entry(endpoint.to_string())
                        .or_insert((interval, None));
                    slot.0 = interval;
                }
            }
        }
    }

    /// A 2xx answer's JSON body; a body with errors where the definition puts them is an
    /// error (Amazon answers 200 with `errors[]`).
    pub fn json_body(&self, raw: RawResponse) -> Result<Response, PartnerError> {
        let body = serde_json::from_slice::<serde_json::Value>(&raw.bytes).map_err(|e| {
            PartnerError::Decode {
                platform: self.platform.clone(),
                message: format!("body is not JSON: {e}"),
            }
        })?;
        if let Some(path) = &self.errors.path {
            if select(&body, path).is_some_and(has_errors) {
                let retry_after = self.retry_after(&raw.headers);
                return Err(self.partner_error(raw.status, Some(&body), retry_after));
            }
        }
        Ok(Response {
            headers: raw.headers,
            body,
        })
    }

    /// The wait a response asks for: `Retry-After`, or the header the definition names
    /// (ShipBob `x-retry-after`).
    fn retry_after(&self, headers: &HeaderMap) -> Option<Duration> {
        self.rate
            .retry_after_header
            .as_deref()
            .and_then(|h| retry_after_in(headers, h))
            .or_else(|| retry_after(headers))
    }

    /// The wait until the rate-limit window resets, from the definition's `reset_header`.
    fn reset_wait(&self, headers: &HeaderMap) -> Option<Duration> {
        let value = headers
            .get(self.rate.reset_header.as_deref()?)?
            .to_str()
            .ok()?;
        let now = chrono::Utc::now();
        (reset_at(value, now)? - now).to_std().ok()
    }

    fn transport(&self, e: reqwest::Error) -> PartnerError {
        if e.is_timeout() {
            PartnerError::Timeout {
                platform: self.platform.clone(),
                timeout: self.timeout,
            }
        } else {
            PartnerError::Transport {
                platform: self.platform.clone(),
                message: without_url(&e),
            }
        }
    }

    /// The platform's error body as a typed error.
    pub fn partner_error(
        &self,
        status: u16,
        body: Option<&serde_json::Value>,
        retry_after: Option<Duration>,
    ) -> PartnerError {
        let (code, message) = body
            .map(|b| error_fields(&self.errors, b))
            .unwrap_or((None, None));
        let retriable_code = code
            .as_ref()
            .is_some_and(|c| self.errors.retriable_codes.contains(c));
        PartnerError::Partner {
            platform: self.platform.clone(),
            status,
            code,
            message: shorten(message.unwrap_or_else(|| "no error message".into())),
            retry_after,
            retriable_code,
        }
    }
}

fn has_errors(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Array(a) => !a.is_empty(),
        serde_json::Value::Object(o) => !o.is_empty(),
        serde_json::Value::String(s) => !s.is_empty(),
        _ => false,
    }
}

/// The code and message from an error body as the definition locates them.
pub fn error_fields(
    spec: &ErrorSpec,
    body: &serde_json::Value,
) -> (Option<String>, Option<String>) {
    use super::definition::scalar_text;
    let errors = match &spec.path {
        Some(p) => select(body, p),
        None => Some(body),
    };
    let Some(errors) = errors else {
        return (None, None);
    };
    let first = match errors {
        serde_json::Value::Array(a) => a.first().unwrap_or(errors),
        other => other,
    };
    match first {
        serde_json::Value::String(s) => (None, Some(s.clone())),
        serde_json::Value::Object(o) => {
            let field = |name: &Option<String>| {
                name.as_deref().and_then(|n| o.get(n)).and_then(scalar_text)
            };
            let code = field(&spec.code);
            let message = field(&spec.message).or_else(|| serde_json::to_string(first).ok());
            (code, message)
        }
        other => (None, serde_json::to_string(other).ok()),
    }
}

fn shorten(mut s: String) -> String {
    if s.len() > 300 {
        let mut end = 300;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
    s
}

/// `Retry-After` in seconds (fractions allowed, as Shopify sends) or as an HTTP date.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    retry_after_in(headers, "retry-after")
}

/// A retry hint in `header`, in seconds or as an HTTP date.
fn retry_after_in(headers: &HeaderMap, header: &str) -> Option<Duration> {
    let v = headers.get(header)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    (at.with_timezone(&chrono::Utc) - chrono::Utc::now())
        .to_std()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_of_each_platform() {
        let amazon = ErrorSpec {
            path: Some("errors".into()),
            code: Some("code".into()),
            message: Some("message".into()),
            retriable_codes: vec![],
        };
        let b = serde_json::json!({"errors": [{"code": "QuotaExceeded", "message": "slow down", "details": ""}]});
        assert_eq!(
            error_fields(&amazon, &b),
            (Some("QuotaExceeded".into()), Some("slow down".into()))
        );
        let shopify = ErrorSpec {
            path: Some("errors".into()),
            ..ErrorSpec::default()
        };
        let b = serde_json::json!({"errors": "[API] Invalid API key"});
        assert_eq!(
            error_fields(&shopify, &b).1.as_deref(),
            Some("[API] Invalid API key")
        );
        let woo = ErrorSpec {
            code: Some("code".into()),
            message: Some("message".into()),
            ..ErrorSpec::default()
        };
        let b = serde_json::json!({"code": "woocommerce_rest_cannot_view", "message": "no", "data": {"status": 401}});
        assert_eq!(
            error_fields(&woo, &b).0.as_deref(),
            Some("woocommerce_rest_cannot_view")
        );
    }

    #[test]
    fn headroom_from_a_call_limit_or_the_standard_budget_headers() {
        let mut h = HeaderMap::new();
        assert_eq!(headroom_of(&h, Some("X-Shopify-Shop-Api-Call-Limit")), None);
        h.insert("x-shopify-shop-api-call-limit", "32/40".parse().unwrap());
        let s = headroom_of(&h, Some("X-Shopify-Shop-Api-Call-Limit")).unwrap();
        assert_eq!((s.remaining, s.limit, s.reset_at), (8.0, Some(40.0), None));
        // Not the definition's header: not read as one.
        assert_eq!(headroom_of(&h, None), None);
        let mut h = HeaderMap::new();
        h.insert("x-ratelimit-remaining", "7".parse().unwrap());
        h.insert("x-ratelimit-limit", "100".parse().unwrap());
        h.insert("x-ratelimit-reset", "30".parse().unwrap());
        let s = headroom_of(&h, None).unwrap();
        assert_eq!((s.remaining, s.limit), (7.0, Some(100.0)));
        let in_secs = (s.reset_at.unwrap() - s.observed_at).num_seconds();
        assert!((29..=30).contains(&in_secs), "{in_secs}");
        h.insert("x-ratelimit-reset", "1900000000".parse().unwrap());
        let s = headroom_of(&h, None).unwrap();
        assert_eq!(s.reset_at.unwrap().timestamp(), 1_900_000_000);
        h.insert("x-ratelimit-remaining", "lots".parse().unwrap());
        assert_eq!(headroom_of(&h, None), None);
    }

    #[test]
    fn retry_after_forms() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", "2.0".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert("retry-after", "soon".parse().unwrap());
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn backoff_grows_with_jitter_and_caps() {
        let p = RetryPolicy {
            max_retries: 5,
            base: Duration::from_millis(100),
            max: Duration::from_millis(1000),
        };
        for attempt in 0..10 {
            let d = p.backoff(attempt);
            let exp = (100u64 << attempt.min(20)).min(1000);
            assert!(
                d.as_millis() as u64 >= exp / 2 && d.as_millis() as u64 <= exp,
                "{attempt} {d:?}"
            );
        }
    }
}
