//! What the warehouse simulators share: injected faults (429 with a retry hint, 5xx, an
//! outage, a create whose answer is lost or comes after the client gave up, a 200 that is
//! not the API's shape), the callbacks they send with retries until the
//! receiver answers as the partner expects, and the counters tests read.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use rust_decimal::Decimal;
use serde::Deserialize;

use super::book::Faults;

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// How a warehouse simulator behaves.
#[derive(Debug, Clone)]
pub struct SimSettings {
    /// Where callbacks go (ordergate's `/hooks/warehouse/<name>`); ShipBob also sends to the
    /// subscriptions made with `POST /webhook`.
    pub callback_url: Option<String>,
    /// Ship every order this long after it was created (none: only `POST /_sim/ship/{id}`).
    pub ship_after: Option<Duration>,
    /// Stock of a SKU nobody set with `PUT /_sim/stock`.
    pub default_stock: Decimal,
    /// Tries of each callback before it is given up.
    pub callback_attempts: u32,
}

impl Default for SimSettings {
    fn default() -> Self {
        Self {
            callback_url: None,
            ship_after: None,
            default_stock: Decimal::from(1000),
            callback_attempts: 30,
        }
    }
}

/// Faults of a warehouse simulator, set through `POST /_sim/faults`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRequest {
    /// Answer this many next API requests with 429 (and the retry hint below).
    #[serde(default)]
    pub throttle_next: u32,
    /// The retry hint sent with an injected 429, in seconds.
    #[serde(default)]
    pub retry_after_secs: f64,
    /// Answer this many next API requests with 500.
    #[serde(default)]
    pub fail_next: u32,
    /// Answer every API request with 503 for this long (0 ends an outage).
    #[serde(default)]
    pub outage_secs: Option<f64>,
    /// Carry out this many next creates, then drop the connection before the answer.
    #[serde(default)]
    pub drop_next_create: u32,
    /// Answer this many next API requests with 200 and a body that is not the API's shape.
    #[serde(default)]
    pub garble_next: u32,
    /// Carry out this many next creates, then answer each only after `slow_ms` (a partner
    /// slower than the client waits: the answer is lost to a client that timed out).
    #[serde(default)]
    pub slow_next_create: u32,
    /// How late a slow create answers, in milliseconds.
    #[serde(default)]
    pub slow_ms: u64,
    /// Carry out this many next creates only after `slow_ms`, whether or not the caller still
    /// waits (a partner still working on a create when the client gave up on it).
    #[serde(default)]
    pub late_next_create: u32,
    /// Carry out this many next cancels (their callbacks sent), then hold each answer until
    /// [`SimControl::release_held`] (at most 30 s): the callback overtakes the answer.
    #[serde(default)]
    pub hold_next_cancel: u32,
}

/// Faults and counters of one warehouse simulator.
#[derive(Default)]
pub struct SimControl {
    faults: Mutex<Faults>,
    drop_next_create: Mutex<u32>,
    garble_next: Mutex<u32>,
    /// Slow creates still to come, and how late each answers.
    slow_next_create: Mutex<(u32, u64)>,
    /// Late creates still to come, and how late each is carried out.
    late_next_create: Mutex<(u32, u64)>,
    /// Cancels still to hold, and whether the held ones are released.
    hold_next_cancel: Mutex<u32>,
    held_released: std::sync::atomic::AtomicBool,
    /// API requests answered, injected faults included.
    pub requests: AtomicU64,
    /// Look-ups of an object by the caller's key answered (a carrier's `GET …?reference=`):
    /// what a purchase costs beyond the purchase itself.
    pub lookups: AtomicU64,
    /// Orders created per reference (our key): more than one means a duplicate.
    created: Mutex<BTreeMap<String, u32>>,
    /// Creates refused as duplicates.
    pub duplicates_refused: AtomicU64,
    /// Callbacks delivered (answered as expected) and attempts that failed.
    pub callbacks_delivered: AtomicU64,
    pub callback_failures: AtomicU64,
    /// Stock by SKU; a SKU not set has `default_stock`.
    stock: Mutex<BTreeMap<String, Decimal>>,
    /// Stock of a SKU nobody set.
    pub default_stock: Decimal,
}

impl SimControl {
    /// Controls with this default stock per SKU.
    pub fn new(default_stock: Decimal) -> Self {
        Self {
            default_stock,
            ..Self::default()
        }
    }

    /// Applies a fault request.
    pub fn set_faults(&self, f: FaultRequest) {
        let mut faults = lock(&self.faults);
        faults.throttle_next = f.throttle_next;
        faults.retry_after_secs = f.retry_after_secs;
        faults.fail_next = f.fail_next;
        if let Some(secs) = f.outage_secs {
            faults.outage_until =
                (secs > 0.0).then(|| Instant::now() + Duration::from_secs_f64(secs.min(86_400.0)));
        }
        *lock(&self.drop_next_create) = f.drop_next_create;
        *lock(&self.garble_next) = f.garble_next;
        *lock(&self.slow_next_create) = (f.slow_next_create, f.slow_ms);
        *lock(&self.late_next_create) = (f.late_next_create, f.slow_ms);
        *lock(&self.hold_next_cancel) = f.hold_next_cancel;
        if f.hold_next_cancel > 0 {
            self.held_released.store(false, Ordering::SeqCst);
        }
    }

    /// Holds this cancel's answer (the cancel is carried out) until the held answers are
    /// released, if one is due; at most 30 s.
    pub async fn hold_cancel(&self) {
        if !take_one(&self.hold_next_cancel) {
            return;
        }
        let until = Instant::now() + Duration::from_secs(30);
        while !self.held_released.load(Ordering::SeqCst) && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Lets the held cancels answer.
    pub fn release_held(&self) {
        self.held_released.store(true, Ordering::SeqCst);
    }

    /// Goes down (503 to everything) or comes back up.
    pub fn set_outage(&self, down: bool) {
        lock(&self.faults).outage_until =
            down.then(|| Instant::now() + Duration::from_secs(86_400));
    }

    /// The injected status for the next API request, with the retry hint for a 429.
    pub fn take_fault(&self) -> Option<(u16, f64)> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let mut f = lock(&self.faults);
        f.take_status().map(|s| (s, f.retry_after_secs))
    }

    /// Counts a look-up by the caller's key.
    pub fn count_lookup(&self) {
        self.lookups.fetch_add(1, Ordering::Relaxed);
    }

    /// Whether this create's answer is to be lost (the create is carried out).
    pub fn take_drop_create(&self) -> bool {
        take_one(&self.drop_next_create)
    }

    /// How late this create answers, if it is to be slow.
    pub fn take_slow_create(&self) -> Option<Duration> {
        let mut slow = lock(&self.slow_next_create);
        (slow.0 > 0).then(|| {
            slow.0 -= 1;
            Duration::from_millis(slow.1)
        })
    }

    /// How long this create waits before it is carried out, if it is to be late.
    pub fn take_late_create(&self) -> Option<Duration> {
        let mut late = lock(&self.late_next_create);
        (late.0 > 0).then(|| {
            late.0 -= 1;
            Duration::from_millis(late.1)
        })
    }

    /// Waits out a slow create's delay, if one is due (the create is already carried out).
    pub async fn slow_create(&self) {
        if let Some(delay) = self.take_slow_create() {
            tokio::time::sleep(delay).await;
        }
    }

    /// Whether this answer is to be garbled.
    pub fn take_garble(&self) -> bool {
        take_one(&self.garble_next)
    }

    /// Counts an order created for `reference`.
    pub fn count_created(&self, reference: &str) {
        *lock(&self.created)
            .entry(reference.to_string())
            .or_insert(0) += 1;
    }

    /// Orders created per reference.
    pub fn created(&self) -> BTreeMap<String, u32> {
        lock(&self.created).clone()
    }

    /// Sets the stock of SKUs.
    pub fn set_stock(&self, stock: BTreeMap<String, Decimal>) {
        lock(&self.stock).extend(stock);
    }

    /// The stock of `sku`.
    pub fn stock_of(&self, sku: &str) -> Decimal {
        lock(&self.stock)
            .get(sku)
            .copied()
            .unwrap_or(self.default_stock)
    }

    /// Takes `quantity` of `sku` out of stock (an order committed it), never below zero.
    pub fn commit_stock(&self, sku: &str, quantity: Decimal) {
        let mut stock = lock(&self.stock);
        let have = stock.get(sku).copied().unwrap_or(self.default_stock);
        stock.insert(sku.to_string(), (have - quantity).max(Decimal::ZERO));
    }

    /// The counters as JSON (`GET /_sim/stats`).
    pub fn stats(&self, orders: usize) -> serde_json::Value {
        let created = self.created();
        let duplicates: u32 = created.values().map(|n| n.saturating_sub(1)).sum();
        serde_json::json!({
            "orders": orders,
            "requests": self.requests.load(Ordering::Relaxed),
            "created_per_reference": created,
            "duplicate_orders": duplicates,
            "duplicates_refused": self.duplicates_refused.load(Ordering::Relaxed),
            "callbacks_delivered": self.callbacks_delivered.load(Ordering::Relaxed),
            "callback_failures": self.callback_failures.load(Ordering::Relaxed),
        })
    }
}

fn take_one(slot: &Mutex<u32>) -> bool {
    let mut n = lock(slot);
    if *n > 0 {
        *n -= 1;
        true
    } else {
        false
    }
}

/// A 2xx whose body breaks off: the client sees the status but loses the answer (the
/// connection is cut), as when a proxy or the network fails after the partner committed.
pub fn lost_answer() -> Response {
    let stream = futures_util::stream::once(async {
        Err::<axum::body::Bytes, std::io::Error>(std::io::Error::other("connection dropped"))
    });
    (
        axum::http::StatusCode::OK,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        Body::from_stream(stream),
    )
        .into_response()
}

/// One callback to send: where, headers, body, and what answer counts as received.
#[derive(Clone)]
pub struct Callback {
    /// The receiver.
    pub url: String,
    /// Headers (the signature is computed per attempt by `sign`).
    pub headers: Vec<(String, String)>,
    /// The body (the same on every attempt).
    pub body: Vec<u8>,
    /// The content type.
    pub content_type: &'static str,
}

/// Sends `callback` (signed afresh per attempt by `sign`) until `accepted` says the answer is
/// the partner's success, retrying with backoff (0.2 s doubling to 10 s) for up to
/// `attempts` tries; counts deliveries and failures in `control`.
pub fn deliver(
    control: Arc<SimControl>,
    callback: Callback,
    attempts: u32,
    sign: impl Fn(&Callback) -> Vec<(String, String)> + Send + Sync + 'static,
    accepted: impl Fn(u16, &[u8]) -> bool + Send + Sync + 'static,
) {
    tokio::spawn(async move {
        let http = match reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()
        {
            Ok(h) => h,
            Err(error) => {
                tracing::error!(error = %error, "Sandbox cannot build an HTTP client.");
                return;
            }
        };
        let mut delay = Duration::from_millis(200);
        for _ in 0..attempts.max(1) {
            let mut req = http
                .post(&callback.url)
                .header("content-type", callback.content_type)
                .body(callback.body.clone());
            for (k, v) in callback.headers.iter().chain(sign(&callback).iter()) {
                req = req.header(k.as_str(), v.as_str());
            }
            match req.send().await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let body = resp.bytes().await.unwrap_or_default();
                    if accepted(status, &body) {
                        control.callbacks_delivered.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                    tracing::debug!(status, "Sandbox callback not accepted; retrying.");
                }
                Err(error) => tracing::debug!(error = %error, "Sandbox callback failed; retrying."),
            }
            control.callback_failures.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(10));
        }
    });
}
