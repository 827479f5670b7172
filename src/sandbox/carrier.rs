//! What the carrier simulators ([`super::easypost`], [`super::shippo`]) share: their objects,
//! faults and counters (labels bought per reference — more than one is a duplicate label, as
//! the real APIs sell one to a blind retry), the address rule that makes a carrier refuse an
//! address, the label files they serve, and running one on loopback.
//!
//! Test controls (not the partners'): `GET /_sim/stats`, `POST /_sim/faults`
//! ([`super::warehouse::FaultRequest`]; `drop_next_create` drops the answer of the next label
//! purchase after it was made, `slow_next_create` answers it after the client gave up,
//! `garble_next` answers 200 with a body that is not the API's), `GET /_labels/{id}.pdf` (the label files, as a storage host
//! would serve them, without auth).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rust_decimal::Decimal;
use serde_json::Value;

use super::book::json as respond;
use super::warehouse::{lock, FaultRequest, SimControl};

/// A carrier simulator's state.
pub struct CarrierSimState {
    /// Faults, requests, labels bought per reference (`created`).
    pub control: Arc<SimControl>,
    /// The API objects (shipments, transactions), as the API shows them.
    pub objects: Mutex<Vec<Value>>,
    /// Pickups scheduled.
    pub pickups: Mutex<Vec<Value>>,
    next: AtomicU64,
    /// How long one of the simulated carrier's days lasts, in ms (a day; a demo compresses
    /// it so that delivery dates pass while one watches): rates' delivery dates count in it.
    day_ms: AtomicU64,
}

impl Default for CarrierSimState {
    fn default() -> Self {
        Self {
            control: Arc::new(SimControl::new(Decimal::ZERO)),
            objects: Mutex::new(Vec::new()),
            pickups: Mutex::new(Vec::new()),
            next: AtomicU64::new(100_001),
            day_ms: AtomicU64::new(86_400_000),
        }
    }
}

impl CarrierSimState {
    /// A fresh number for ids and tracking numbers.
    pub fn next(&self) -> u64 {
        self.next.fetch_add(1, Ordering::Relaxed)
    }

    /// Makes the simulated carrier's days last `day` (rates' delivery dates move with it).
    pub fn set_day(&self, day: std::time::Duration) {
        let ms = u64::try_from(day.as_millis()).unwrap_or(u64::MAX).max(1);
        self.day_ms.store(ms, Ordering::Relaxed);
    }

    /// `days` of the simulated carrier's days.
    pub fn days(&self, days: i64) -> chrono::Duration {
        let ms = i64::try_from(self.day_ms.load(Ordering::Relaxed)).unwrap_or(i64::MAX);
        chrono::Duration::milliseconds(ms.saturating_mul(days))
    }

    /// Labels bought per reference (ordergate's label key).
    pub fn labels(&self) -> std::collections::BTreeMap<String, u32> {
        self.control.created()
    }

    /// Labels bought in all.
    pub fn label_count(&self) -> u32 {
        self.labels().values().sum()
    }

    /// Pickups scheduled (bought).
    pub fn pickup_count(&self) -> usize {
        lock(&self.pickups)
            .iter()
            .filter(|p| p["status"].as_str() == Some("scheduled"))
            .count()
    }

    /// The object whose `field` is `value`.
    pub fn find(&self, field: &str, value: &str) -> Option<Value> {
        lock(&self.objects)
            .iter()
            .find(|o| o[field].as_str() == Some(value))
            .cloned()
    }

    /// Applies `f` to the object whose `field` is `value`.
    pub fn update<T>(
        &self,
        field: &str,
        value: &str,
        f: impl FnOnce(&mut Value) -> T,
    ) -> Option<T> {
        lock(&self.objects)
            .iter_mut()
            .find(|o| o[field].as_str() == Some(value))
            .map(f)
    }
}

/// Whether the carrier refuses `address` (the sandbox's rule: a postal code starting `000`, a
/// street naming "Nowhere", or no street): the address cannot be verified.
pub fn address_refused(address: &Value) -> bool {
    let zip = address["zip"].as_str().unwrap_or_default();
    let street = address["street1"].as_str().unwrap_or_default();
    zip.starts_with("000")
        || street.trim().is_empty()
        || street.to_ascii_lowercase().contains("nowhere")
}

/// Where label file `id` is served, on the host the request came to.
pub fn label_url(headers: &HeaderMap, id: &str) -> String {
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    format!("http://{host}/_labels/{id}.pdf")
}

/// A tiny PDF standing for a label (enough to store and count).
pub fn label_pdf(id: &str) -> Vec<u8> {
    format!("%PDF-1.4\n% sandbox shipping label {id}\n%%EOF\n").into_bytes()
}

async fn label_file(Path(file): Path<String>) -> Response {
    let id = file.trim_end_matches(".pdf");
    ([("content-type", "application/pdf")], label_pdf(id)).into_response()
}

async fn stats(State(s): State<Arc<CarrierSimState>>) -> Response {
    let mut v = s.control.stats(lock(&s.objects).len());
    v["labels"] = serde_json::json!(s.label_count());
    v["labels_per_reference"] = serde_json::json!(s.labels());
    v["pickups"] = serde_json::json!(s.pickup_count());
    respond(200, v)
}

async fn faults(State(s): State<Arc<CarrierSimState>>, Json(f): Json<FaultRequest>) -> Response {
    s.control.set_faults(f);
    axum::http::StatusCode::NO_CONTENT.into_response()
}

/// The controls and label files, merged into a simulator's API routes.
pub fn controls(api: Router<Arc<CarrierSimState>>) -> Router<Arc<CarrierSimState>> {
    Router::new()
        .route("/_sim/stats", get(stats))
        .route("/_sim/faults", post(faults))
        .route("/_labels/{file}", get(label_file))
        .merge(api)
}

/// A running carrier simulator.
pub struct CarrierSandbox {
    /// Its objects, faults and counters (tests change and read them).
    pub state: Arc<CarrierSimState>,
    served: super::Served,
    base_path: &'static str,
}

impl CarrierSandbox {
    /// Serves `router(state)` on `listen` (`127.0.0.1:0` picks a free port); the API lives
    /// under `base_path` (`/v2` for EasyPost).
    pub async fn start(
        listen: &str,
        base_path: &'static str,
        router: fn(Arc<CarrierSimState>) -> Router,
    ) -> std::io::Result<Self> {
        let state = Arc::new(CarrierSimState::default());
        let served = super::Served::start(listen, router(state.clone())).await?;
        tracing::info!(addr = %served.addr, "Carrier sandbox listening.");
        Ok(Self {
            state,
            served,
            base_path,
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.served.addr
    }

    /// The base URL a carrier instance should use.
    pub fn base_url(&self) -> String {
        format!("http://{}{}", self.served.addr, self.base_path)
    }

    /// Stops serving.
    pub async fn stop(self) {
        self.served.stop().await;
    }
}
