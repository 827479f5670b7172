//! What every simulator shares: the order book (orders that get created and updated, with
//! second-precision change times as the platforms keep them), fault injection (429 bursts,
//! 5xx bursts, outages), issued OAuth2 access tokens, and a log of the requests served.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use chrono::{DateTime, SubsecRound, Utc};

use super::data::{Generator, OrderFacts};
use super::Platform;

/// How a simulator starts.
#[derive(Debug, Clone)]
pub struct SandboxSettings {
    /// Orders in the book at start.
    pub orders: usize,
    /// Seed of the generated orders (same seed, same orders).
    pub seed: u64,
    /// Rate-limit headers are the platform's documented rates times this (a test speeds the
    /// platform up instead of waiting minutes).
    pub rate_scale: f64,
    /// Lifetime of issued OAuth2 access tokens.
    pub token_ttl: Duration,
}

impl Default for SandboxSettings {
    fn default() -> Self {
        Self {
            orders: 500,
            seed: 1,
            rate_scale: 1.0,
            token_ttl: Duration::from_secs(3600),
        }
    }
}

/// One simulated order.
#[derive(Debug, Clone)]
pub struct SimOrder {
    /// Numeric id (each platform renders its own id shape from it).
    pub id: u64,
    /// When it was placed.
    pub created_at: DateTime<Utc>,
    /// When it last changed (whole seconds).
    pub updated_at: DateTime<Utc>,
    /// Times it changed since creation.
    pub version: u32,
    /// What it contains.
    pub facts: OrderFacts,
}

/// Faults to inject into the next requests.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Answer this many next requests with 429.
    pub throttle_next: u32,
    /// `Retry-After` seconds sent with an injected 429 (platforms that send it).
    pub retry_after_secs: f64,
    /// Answer this many next requests with 500.
    pub fail_next: u32,
    /// Answer every request with 503 until then.
    pub outage_until: Option<Instant>,
    /// Answer the next requests with HTTP 200 and this error (code, message) in the body's
    /// `errors[]`, as SP-API does; one entry per request, taken after the faults above.
    pub errors_in_ok: Vec<(String, String)>,
    /// Answer this many next requests with HTTP 200 and a body that is not the platform's
    /// shape (taken after the faults above).
    pub garble_next: u32,
    /// Answer this many next requests only after `slow_ms` (later than a client waits).
    pub slow_next: u32,
    /// How late a slow answer comes, in milliseconds.
    pub slow_ms: u64,
}

impl Faults {
    /// The error status to answer the next request with, if one is due: 503 during an outage,
    /// then the counted 429s, then the counted 500s (each taken once).
    pub fn take_status(&mut self) -> Option<u16> {
        if self.outage_until.is_some_and(|t| Instant::now() < t) {
            return Some(503);
        }
        if self.throttle_next > 0 {
            self.throttle_next -= 1;
            return Some(429);
        }
        if self.fail_next > 0 {
            self.fail_next -= 1;
            return Some(500);
        }
        None
    }
}

/// A request the simulator served.
#[derive(Debug, Clone)]
pub struct LoggedRequest {
    /// Path.
    pub path: String,
    /// Raw query string.
    pub query: String,
    /// Status answered.
    pub status: u16,
    /// When it arrived.
    pub at: Instant,
    /// The rate-limit header answered (Shopify's call limit, Amazon's rate), as sent.
    pub rate_limit: Option<String>,
    /// The answer was an injected fault.
    pub injected: bool,
}

/// What the simulator does just before answering a given list request.
#[derive(Debug, Clone)]
enum Scheduled {
    /// Update these orders.
    Update(Vec<u64>),
    /// Revoke every issued access token.
    RevokeTokens,
}

/// Something the simulator does just before answering a list request.
#[derive(Debug, Clone)]
struct ScheduledUpdate {
    /// Before answering list request number `at` (1-based).
    at: usize,
    /// What it does.
    what: Scheduled,
}

struct Book {
    orders: Vec<SimOrder>,
    next_id: u64,
    last_stamp: DateTime<Utc>,
    generator: Generator,
    list_requests: usize,
    scheduled: Vec<ScheduledUpdate>,
}

/// A simulator's state: its book, faults, tokens and log.
pub struct SimState {
    /// The platform it simulates.
    pub platform: Platform,
    /// How it was started.
    pub settings: SandboxSettings,
    book: Mutex<Book>,
    faults: Mutex<Faults>,
    tokens: Mutex<HashSet<String>>,
    log: Mutex<Vec<LoggedRequest>>,
    /// Shopify's leaky bucket: (level, last leak).
    pub(crate) bucket: Mutex<(f64, Instant)>,
    /// Token buckets of per-operation usage plans (Amazon): operation → (tokens, last refill).
    quotas: Mutex<std::collections::HashMap<&'static str, (f64, Instant)>>,
    /// What was pushed back (fulfilments, shipments, notes), for the push-back endpoints.
    pub push: super::pushback::PushBook,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl SimState {
    /// A state with `settings.orders` orders placed over the last 30 days.
    pub fn new(platform: Platform, settings: SandboxSettings) -> Self {
        let mut generator = Generator::new(settings.seed);
        let now = Utc::now().trunc_subsecs(0);
        let mut orders = Vec::with_capacity(settings.orders);
        for i in 0..settings.orders {
            let created_at = now - chrono::Duration::seconds(generator.between(3_600, 30 * 86_400));
            let updated_at = (created_at
                + chrono::Duration::seconds(generator.between(0, 2 * 86_400)))
            .min(now - chrono::Duration::seconds(60));
            orders.push(SimOrder {
                id: 1_001 + i as u64,
                created_at,
                updated_at: updated_at.max(created_at),
                version: 0,
                facts: generator.order(),
            });
        }
        let next_id = 1_001 + settings.orders as u64;
        Self {
            platform,
            settings,
            book: Mutex::new(Book {
                orders,
                next_id,
                last_stamp: now,
                generator,
                list_requests: 0,
                scheduled: Vec::new(),
            }),
            faults: Mutex::new(Faults::default()),
            tokens: Mutex::new(HashSet::new()),
            log: Mutex::new(Vec::new()),
            bucket: Mutex::new((0.0, Instant::now())),
            quotas: Mutex::new(std::collections::HashMap::new()),
            push: super::pushback::PushBook::default(),
        }
    }

    /// Every order, in no particular order.
    pub fn orders(&self) -> Vec<SimOrder> {
        lock(&self.book).orders.clone()
    }

    /// A time for a change happening now: whole seconds, later than every earlier change.
    fn stamp(book: &mut Book) -> DateTime<Utc> {
        let now = Utc::now().trunc_subsecs(0);
        let t = now.max(book.last_stamp + chrono::Duration::seconds(1));
        book.last_stamp = t;
        t
    }

    fn apply_update(book: &mut Book, ids: &[u64]) {
        let t = Self::stamp(book);
        for o in book.orders.iter_mut().filter(|o| ids.contains(&o.id)) {
            o.version += 1;
            o.updated_at = t;
        }
    }

    /// Changes these orders now (a new version with a later change time).
    pub fn update(&self, ids: &[u64]) {
        Self::apply_update(&mut lock(&self.book), ids);
    }

    /// Places `n` new orders now; returns their ids.
    pub fn create(&self, n: usize) -> Vec<u64> {
        let mut book = lock(&self.book);
        let t = Self::stamp(&mut book);
        let mut ids = Vec::new();
        for _ in 0..n {
            let id = book.next_id;
            book.next_id += 1;
            let facts = book.generator.order();
            book.orders.push(SimOrder {
                id,
                created_at: t,
                updated_at: t,
                version: 0,
                facts,
            });
            ids.push(id);
        }
        ids
    }

    /// Updates `ids` just before answering list request number `at` (1-based, counted from
    /// the simulator's start): "an order changes while the connector is paging".
    pub fn update_during_list_request(&self, at: usize, ids: Vec<u64>) {
        lock(&self.book).scheduled.push(ScheduledUpdate {
            at,
            what: Scheduled::Update(ids),
        });
    }

    /// Revokes every issued access token just before answering list request number `at`:
    /// "the access token expires while the connector is paging".
    pub fn revoke_tokens_during_list_request(&self, at: usize) {
        lock(&self.book).scheduled.push(ScheduledUpdate {
            at,
            what: Scheduled::RevokeTokens,
        });
    }

    /// Counts a list request and applies the updates scheduled for it; handlers call this
    /// before reading the book.
    pub fn list_request(&self) {
        let mut book = lock(&self.book);
        book.list_requests += 1;
        let n = book.list_requests;
        let due: Vec<ScheduledUpdate> = book
            .scheduled
            .iter()
            .filter(|s| s.at == n)
            .cloned()
            .collect();
        book.scheduled.retain(|s| s.at != n);
        for s in due {
            match s.what {
                Scheduled::Update(ids) => Self::apply_update(&mut book, &ids),
                Scheduled::RevokeTokens => self.revoke_tokens(),
            }
        }
    }

    /// List requests answered so far.
    pub fn list_requests(&self) -> usize {
        lock(&self.book).list_requests
    }

    /// Changes the faults.
    pub fn faults(&self, f: impl FnOnce(&mut Faults)) {
        f(&mut lock(&self.faults));
    }

    /// Requests served so far.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        lock(&self.log).clone()
    }

    /// Issues an OAuth2 access token.
    pub fn issue_token(&self) -> String {
        let t = format!("Atza|sandbox-{}", uuid::Uuid::new_v4().simple());
        lock(&self.tokens).insert(t.clone());
        t
    }

    /// True for a token this simulator issued and has not revoked.
    pub fn token_valid(&self, token: &str) -> bool {
        lock(&self.tokens).contains(token)
    }

    /// Revokes every issued access token ("they expired").
    pub fn revoke_tokens(&self) {
        lock(&self.tokens).clear();
    }

    /// Takes one request from `operation`'s token bucket (refilled at `rate` per second, at
    /// most `burst`, starting full); false when it is empty and the request is throttled.
    pub(crate) fn take_quota(&self, operation: &'static str, rate: f64, burst: f64) -> bool {
        let mut quotas = lock(&self.quotas);
        let now = Instant::now();
        let (tokens, last) = quotas.entry(operation).or_insert((burst, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * rate).min(burst);
        *last = now;
        if *tokens < 1.0 {
            return false;
        }
        *tokens -= 1.0;
        true
    }

    /// The injected fault for the next request, if any.
    fn take_fault(&self) -> Option<Fault> {
        let mut f = lock(&self.faults);
        if let Some(status) = f.take_status() {
            return Some(Fault::Status(status));
        }
        if !f.errors_in_ok.is_empty() {
            let (code, message) = f.errors_in_ok.remove(0);
            return Some(Fault::ErrorsInOk { code, message });
        }
        if f.garble_next > 0 {
            f.garble_next -= 1;
            return Some(Fault::Garbage);
        }
        if f.slow_next > 0 {
            f.slow_next -= 1;
            return Some(Fault::Slow(Duration::from_millis(f.slow_ms)));
        }
        None
    }

    fn retry_after(&self) -> f64 {
        lock(&self.faults).retry_after_secs
    }
}

/// Middleware in front of every route: injected faults answer first (in the platform's own
/// error shape); every request is logged with its status.
pub async fn faults_layer(
    State(state): State<Arc<SimState>>,
    req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let at = Instant::now();
    let fault = state.take_fault();
    let injected = fault.as_ref().is_some_and(|f| !matches!(f, Fault::Slow(_)));
    let response = match fault {
        Some(Fault::Status(status)) => fault_response(&state, status),
        Some(Fault::ErrorsInOk { code, message }) => json(
            200,
            serde_json::json!({"errors": [{"code": code, "message": message, "details": ""}]}),
        ),
        Some(Fault::Garbage) => json(200, serde_json::json!({"result": "ok"})),
        Some(Fault::Slow(delay)) => {
            tokio::time::sleep(delay).await;
            next.run(req).await
        }
        None => next.run(req).await,
    };
    let rate_limit = ["x-shopify-shop-api-call-limit", "x-amzn-ratelimit-limit"]
        .iter()
        .find_map(|h| response.headers().get(*h))
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    lock(&state.log).push(LoggedRequest {
        path,
        query,
        status: response.status().as_u16(),
        at,
        rate_limit,
        injected,
    });
    response
}

/// An injected fault.
enum Fault {
    /// An error status in the platform's shape.
    Status(u16),
    /// HTTP 200 with an error in `errors[]`.
    ErrorsInOk { code: String, message: String },
    /// HTTP 200 with a body that is not the platform's shape.
    Garbage,
    /// The real answer, late.
    Slow(Duration),
}

fn fault_response(state: &SimState, status: u16) -> Response {
    let retry_after = state.retry_after();
    match state.platform {
        Platform::Shopify => super::shopify::fault(status, retry_after),
        Platform::Woocommerce => super::woocommerce::fault(status, retry_after),
        Platform::Amazon => super::amazon::fault(status, state.settings.rate_scale),
        Platform::Ebay => super::ebay::fault(status),
        Platform::Magento => super::magento::fault(status, retry_after),
    }
}

/// A JSON response with a status.
pub fn json(status: u16, body: serde_json::Value) -> Response {
    use axum::response::IntoResponse;
    let status = axum::http::StatusCode::from_u16(status)
        .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
    (status, axum::Json(body)).into_response()
}

/// An HTML error page (what load balancers and maintenance modes answer).
pub fn html(status: u16, body: &'static str) -> Response {
    use axum::response::IntoResponse;
    let status = axum::http::StatusCode::from_u16(status)
        .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

/// Adds a header to a response.
pub fn with_header(mut resp: Response, name: &'static str, value: String) -> Response {
    if let Ok(v) = axum::http::HeaderValue::from_str(&value) {
        resp.headers_mut().insert(name, v);
    }
    resp
}

/// Opaque page token: base64url of a JSON value.
pub fn encode_token(v: &serde_json::Value) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

/// Reads a page token back.
pub fn decode_token(t: &str) -> Option<serde_json::Value> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(t)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Orders sorted by (change time, id) ascending, those at or after `from` (or strictly after,
/// when `strict`), and after the keyset position `(time, id)` when given.
pub fn window(
    mut orders: Vec<SimOrder>,
    from: Option<DateTime<Utc>>,
    strict: bool,
    after: Option<(DateTime<Utc>, u64)>,
) -> Vec<SimOrder> {
    orders.retain(|o| match from {
        Some(f) if strict => o.updated_at > f,
        Some(f) => o.updated_at >= f,
        None => true,
    });
    orders.sort_by_key(|o| (o.updated_at, o.id));
    if let Some(pos) = after {
        orders.retain(|o| (o.updated_at, o.id) > pos);
    }
    orders
}

/// The fields of an `application/x-www-form-urlencoded` body.
pub fn form_pairs(body: &str) -> std::collections::HashMap<String, String> {
    reqwest::Url::parse(&format!("http://form.invalid/?{body}"))
        .map(|u| u.query_pairs().into_owned().collect())
        .unwrap_or_default()
}

/// The fields of two JSON objects in one (big literals are built in halves: `json!` recursion).
pub fn merge(mut a: serde_json::Value, b: serde_json::Value) -> serde_json::Value {
    if let (Some(m), serde_json::Value::Object(b)) = (a.as_object_mut(), b) {
        m.extend(b);
    }
    a
}
