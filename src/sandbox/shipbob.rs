//! ShipBob Orders API simulator (`/{version}/…`, e.g. `/2026-07/order`): bearer auth, the
//! `shipbob_channel_id` header on create, `reference_id` refused when repeated (422
//! "Duplicate reference ID"), `GET /order?ReferenceIds=`, `GET /order/{id}`, `PUT
//! /order/{id}` (refused once picking started), `POST /order/{id}/cancel` (per shipment,
//! refused once picking started), `GET /inventory-level?SearchBy=<sku>`, webhook
//! subscriptions (`POST /webhook`), 429 with `x-retry-after`, and Standard-Webhooks-signed
//! `order.shipped` / `order.shipment.cancelled` callbacks retried until a 2xx. Each order line
//! ships as its own shipment (box) with its own tracking number.
//!
//! Test controls (not ShipBob's): `GET /_sim/stats`, `PUT /_sim/stock` (`{"SKU": qty}`),
//! `POST /_sim/faults` ([`FaultRequest`]), `POST /_sim/pick/{id}` (picking starts),
//! `POST /_sim/ship/{id}` (hand over now and send `order.shipped`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::book::{json as respond, with_header};
use super::warehouse::{
    deliver, lock, lost_answer, Callback, FaultRequest, SimControl, SimSettings,
};
use crate::partner::signature::{sign_standard_webhooks, standard_webhooks_key};

/// The sandbox personal access token the simulator accepts (opens nothing real).
pub const ACCESS_TOKEN: &str = "shipbob-sandbox-pat-5f0c1e2d3b4a";
/// The sandbox webhook secret it signs callbacks with (`whsec_` + base64 of a sandbox key).
pub const WEBHOOK_SECRET: &str = "whsec_c2FuZGJveC1zaGlwYm9iLXdlYmhvb2stc2lnbmluZy1rZXk=";
/// The channel id it expects in `shipbob_channel_id`.
pub const CHANNEL_ID: &str = "100";
/// The API version in its paths.
pub const VERSION: &str = "2026-07";

/// How the simulator behaves.
pub type ShipbobSettings = SimSettings;

/// One simulated order.
#[derive(Debug, Clone)]
struct SimOrder {
    id: u64,
    body: Value,
    status: &'static str,
    /// One per product line.
    shipments: Vec<Shipment>,
}

/// A shipment: (id, status, (carrier, tracking number) once handed over).
type Shipment = (u64, &'static str, Option<(String, String)>);

/// The simulator's state.
pub struct ShipbobState {
    /// How it was started.
    pub settings: ShipbobSettings,
    /// Faults and counters.
    pub control: Arc<SimControl>,
    orders: Mutex<Vec<SimOrder>>,
    subscriptions: Mutex<Vec<(Vec<String>, String)>>,
    next_id: AtomicU64,
    amended: AtomicU64,
    /// This simulator's shipper number in its tracking numbers: two simulators (two ShipBob
    /// accounts) never hand out the same one, as UPS numbers carry the shipper's account.
    shipper: u64,
}

/// Simulators started in this process, for [`ShipbobState::shipper`].
static SHIPPERS: AtomicU64 = AtomicU64::new(0);

impl ShipbobState {
    /// A fresh simulator.
    pub fn new(settings: ShipbobSettings) -> Self {
        Self {
            control: Arc::new(SimControl::new(settings.default_stock)),
            settings,
            orders: Mutex::new(Vec::new()),
            subscriptions: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(700_001),
            amended: AtomicU64::new(0),
            shipper: SHIPPERS.fetch_add(1, Ordering::Relaxed) % 1000,
        }
    }

    /// Orders held (cancelled ones included).
    pub fn order_count(&self) -> usize {
        lock(&self.orders).len()
    }

    /// Orders created per reference id.
    pub fn created(&self) -> BTreeMap<String, u32> {
        self.control.created()
    }

    /// Orders amended (`PUT /order/{id}` accepted).
    pub fn amended(&self) -> u64 {
        self.amended.load(Ordering::Relaxed)
    }

    /// The order ids with this reference.
    pub fn ids_of(&self, reference: &str) -> Vec<u64> {
        lock(&self.orders)
            .iter()
            .filter(|o| o.body["reference_id"].as_str() == Some(reference))
            .map(|o| o.id)
            .collect()
    }

    /// The create body of order `id` as received.
    pub fn body_of(&self, id: u64) -> Option<Value> {
        lock(&self.orders)
            .iter()
            .find(|o| o.id == id)
            .map(|o| o.body.clone())
    }

    /// Applies `f` to order `id` if it is still being processed.
    fn processing<T>(&self, id: u64, f: impl FnOnce(&mut SimOrder) -> T) -> Option<T> {
        let mut orders = lock(&self.orders);
        let o = orders
            .iter_mut()
            .find(|o| o.id == id && o.status == "Processing")?;
        Some(f(o))
    }

    /// Picking of order `id` starts: from now on it cannot be cancelled or amended.
    pub fn pick(&self, id: u64) -> bool {
        self.processing(id, |o| {
            for s in &mut o.shipments {
                s.1 = "Processing";
            }
        })
        .is_some()
    }

    /// Hands order `id` over to the carrier and sends `order.shipped`.
    pub fn ship(self: &Arc<Self>, id: u64) -> bool {
        let shipper = self.shipper;
        let Some(shipped) = self.processing(id, |o| {
            o.status = "Fulfilled";
            for s in &mut o.shipments {
                s.1 = "Completed";
                s.2 = Some(("UPS".into(), format!("1ZSB{shipper:03}{:09}", s.0)));
            }
            render(o)
        }) else {
            return false;
        };
        self.send_callback("order.shipped", shipped);
        true
    }

    fn send_callback(&self, topic: &str, order: Value) {
        let mut urls: Vec<String> = lock(&self.subscriptions)
            .iter()
            .filter(|(topics, _)| topics.iter().any(|t| t == topic))
            .map(|(_, url)| url.clone())
            .collect();
        urls.extend(self.settings.callback_url.clone());
        let body =
            json!({"topic": topic, "timestamp": chrono::Utc::now().to_rfc3339(), "data": order});
        for url in urls {
            let callback = Callback {
                url,
                headers: vec![
                    (
                        "webhook-id".into(),
                        format!("msg_{}", uuid::Uuid::new_v4().simple()),
                    ),
                    ("x-webhook-topic".into(), topic.to_string()),
                ],
                body: body.to_string().into_bytes(),
                content_type: "application/json",
            };
            deliver(
                self.control.clone(),
                callback,
                self.settings.callback_attempts,
                |c| {
                    let key = standard_webhooks_key(WEBHOOK_SECRET).unwrap_or_default();
                    let id = c
                        .headers
                        .iter()
                        .find(|(k, _)| k == "webhook-id")
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default();
                    let t = chrono::Utc::now().timestamp();
                    vec![
                        ("webhook-timestamp".into(), t.to_string()),
                        (
                            "webhook-signature".into(),
                            sign_standard_webhooks(&key, &id, t, &c.body),
                        ),
                    ]
                },
                |status, _| (200..300).contains(&status),
            );
        }
    }
}

/// The order as ShipBob shows it.
fn render(o: &SimOrder) -> Value {
    let products = o.body["products"].as_array().cloned().unwrap_or_default();
    let shipments: Vec<Value> = o
        .shipments
        .iter()
        .enumerate()
        .map(|(i, (id, status, tracking))| {
            json!({
                "id": id,
                "order_id": o.id,
                "status": status,
                "tracking": tracking.as_ref().map(|(carrier, number)| json!({
                    "carrier": carrier, "tracking_number": number, "carrier_service": "Ground",
                    "shipping_date": chrono::Utc::now().to_rfc3339(),
                })),
                "products": products.get(i).map(|p| vec![json!({
                    "reference_id": p["reference_id"], "name": p["name"], "quantity": p["quantity"],
                })]).unwrap_or_default(),
                "is_tracking_uploaded": false,
            })
        })
        .collect();
    json!({
        "id": o.id,
        "created_date": chrono::Utc::now().to_rfc3339(),
        "reference_id": o.body["reference_id"],
        "order_number": o.body["order_number"],
        "status": o.status,
        "channel": {"id": CHANNEL_ID.parse::<u64>().unwrap_or(0), "name": "ordergate"},
        "recipient": o.body["recipient"],
        "products": o.body["products"],
        "shipments": shipments,
    })
}

/// The routes over `state`, API behind auth and faults, controls open.
pub fn router(state: Arc<ShipbobState>) -> Router {
    let api = Router::new()
        .route("/{version}/order", post(create).get(list))
        .route("/{version}/order/{id}", get(read).put(amend))
        .route("/{version}/order/{id}/cancel", post(cancel))
        .route("/{version}/inventory-level", get(inventory))
        .route("/{version}/webhook", post(subscribe))
        .layer(axum::middleware::from_fn_with_state(state.clone(), guard));
    Router::new()
        .route("/_sim/stats", get(stats))
        .route("/_sim/stock", axum::routing::put(set_stock))
        .route("/_sim/faults", post(set_faults))
        .route("/_sim/pick/{id}", post(sim_pick))
        .route("/_sim/ship/{id}", post(sim_ship))
        .merge(api)
        .with_state(state)
}

/// ShipBob's problem-details body.
fn problem(status: u16, title: &str, detail: &str, errors: Value) -> Response {
    respond(
        status,
        json!({"type": "https://tools.ietf.org/html/rfc9110#section-15.5", "title": title,
               "status": status, "detail": detail, "errors": errors}),
    )
}

/// Faults first, then the bearer token.
async fn guard(
    State(s): State<Arc<ShipbobState>>,
    headers: HeaderMap,
    req: Request,
    next: Next,
) -> Response {
    if let Some((status, retry)) = s.control.take_fault() {
        return match status {
            429 => {
                let secs = retry.max(0.0).ceil() as u64;
                let r = respond(
                    429,
                    json!({"statusCode": 429, "message": format!("Rate limit is exceeded. Try again in {secs} seconds.")}),
                );
                with_header(
                    with_header(r, "x-retry-after", secs.to_string()),
                    "x-remaining-calls",
                    "0".into(),
                )
            }
            503 => problem(
                503,
                "Service Unavailable",
                "The service is temporarily unavailable.",
                json!({}),
            ),
            _ => problem(
                status,
                "Internal Server Error",
                "An unexpected error occurred.",
                json!({}),
            ),
        };
    }
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if bearer != Some(ACCESS_TOKEN) {
        return problem(
            401,
            "Unauthorized",
            "Invalid or missing access token.",
            json!({}),
        );
    }
    if s.control.take_garble() {
        return respond(200, json!({"result": "ok"}));
    }
    next.run(req).await
}

async fn create(
    State(s): State<Arc<ShipbobState>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if headers
        .get("shipbob_channel_id")
        .and_then(|v| v.to_str().ok())
        != Some(CHANNEL_ID)
    {
        return problem(
            400,
            "Bad Request",
            "shipbob_channel_id header is required.",
            json!({"shipbob_channel_id": ["The channel id is missing or unknown."]}),
        );
    }
    let Some(reference) = body["reference_id"].as_str().filter(|r| !r.is_empty()) else {
        return problem(
            400,
            "One or more validation errors occurred.",
            "",
            json!({"ReferenceId": ["The ReferenceId field is required."]}),
        );
    };
    let products = body["products"].as_array().cloned().unwrap_or_default();
    if products.is_empty() || body["recipient"]["address"]["country"].as_str().is_none() {
        return problem(
            400,
            "One or more validation errors occurred.",
            "",
            json!({"Products": ["At least one product and a recipient address are required."]}),
        );
    }
    // A late create is made after its delay even when the caller has hung up meanwhile (axum
    // drops the handler then; the spawned create goes on, as a real server's would).
    let late = s.control.take_late_create();
    let made = {
        let (s, reference, body) = (s.clone(), reference.to_string(), body.clone());
        tokio::spawn(async move {
            if let Some(delay) = late {
                tokio::time::sleep(delay).await;
            }
            let placed = place(&s, &reference, &body, &products);
            if let (Some(order), Some(after)) = (&placed, s.settings.ship_after) {
                let (state, id) = (s.clone(), order.id);
                tokio::spawn(async move {
                    tokio::time::sleep(after).await;
                    state.ship(id);
                });
            }
            placed
        })
    };
    let order = match made.await {
        Ok(Some(order)) => order,
        Ok(None) => {
            return problem(
                422,
                "Duplicate reference ID",
                "An order with this reference_id already exists.",
                json!({"ReferenceId": ["Duplicate reference ID"]}),
            )
        }
        Err(_) => {
            return problem(
                500,
                "Internal Server Error",
                "An unexpected error occurred.",
                json!({}),
            )
        }
    };
    s.control.slow_create().await;
    if s.control.take_drop_create() {
        return lost_answer();
    }
    respond(201, render(&order))
}

/// Places order `reference` (`body`, its `products`); `None`: a reference it holds already,
/// refused (and counted).
fn place(s: &ShipbobState, reference: &str, body: &Value, products: &[Value]) -> Option<SimOrder> {
    let mut orders = lock(&s.orders);
    if orders
        .iter()
        .any(|o| o.body["reference_id"].as_str() == Some(reference))
    {
        s.control.duplicates_refused.fetch_add(1, Ordering::Relaxed);
        return None;
    }
    let id = s.next_id.fetch_add(1, Ordering::Relaxed);
    let shipments = products
        .iter()
        .map(|_| {
            (
                s.next_id.fetch_add(1, Ordering::Relaxed) + 9_000_000,
                "None",
                None,
            )
        })
        .collect();
    for p in products {
        let q = p["quantity"].to_string().parse().unwrap_or(Decimal::ZERO);
        s.control
            .commit_stock(p["reference_id"].as_str().unwrap_or(""), q);
    }
    let o = SimOrder {
        id,
        body: body.clone(),
        status: "Processing",
        shipments,
    };
    orders.push(o.clone());
    s.control.count_created(reference);
    Some(o)
}

async fn list(
    State(s): State<Arc<ShipbobState>>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let refs: Vec<&str> = q
        .get("ReferenceIds")
        .map(|r| r.split(',').collect())
        .unwrap_or_default();
    let orders: Vec<Value> = lock(&s.orders)
        .iter()
        .filter(|o| {
            refs.is_empty()
                || o.body["reference_id"]
                    .as_str()
                    .is_some_and(|r| refs.contains(&r))
        })
        .take(250)
        .map(render)
        .collect();
    respond(200, Value::Array(orders))
}

fn not_found() -> Response {
    problem(404, "Not Found", "Order not found.", json!({}))
}

async fn read(State(s): State<Arc<ShipbobState>>, Path((_, id)): Path<(String, u64)>) -> Response {
    match lock(&s.orders).iter().find(|o| o.id == id) {
        Some(o) => respond(200, render(o)),
        None => not_found(),
    }
}

async fn amend(
    State(s): State<Arc<ShipbobState>>,
    Path((_, id)): Path<(String, u64)>,
    Json(body): Json<Value>,
) -> Response {
    let mut orders = lock(&s.orders);
    let Some(o) = orders.iter_mut().find(|o| o.id == id) else {
        return not_found();
    };
    if o.status != "Processing" || o.shipments.iter().any(|s| s.1 != "None") {
        return problem(
            422,
            "Order cannot be modified",
            "Picking has started for this order.",
            json!({}),
        );
    }
    let reference = o.body["reference_id"].clone();
    o.body = body;
    o.body["reference_id"] = reference;
    s.amended.fetch_add(1, Ordering::Relaxed);
    o.shipments
        .truncate(o.body["products"].as_array().map_or(0, Vec::len));
    while o.shipments.len() < o.body["products"].as_array().map_or(0, Vec::len) {
        o.shipments.push((
            s.next_id.fetch_add(1, Ordering::Relaxed) + 9_000_000,
            "None",
            None,
        ));
    }
    respond(200, render(o))
}

async fn cancel(
    State(s): State<Arc<ShipbobState>>,
    Path((_, id)): Path<(String, u64)>,
) -> Response {
    let (answer, cancelled) = {
        let mut orders = lock(&s.orders);
        let Some(o) = orders.iter_mut().find(|o| o.id == id) else {
            return not_found();
        };
        let results: Vec<Value> = o
            .shipments
            .iter_mut()
            .map(|sh| {
                let ok = matches!(sh.1, "None" | "Cancelled");
                if ok {
                    sh.1 = "Cancelled";
                }
                json!({"action": "Cancel", "is_success": ok, "shipment_id": sh.0,
                       "reason": if ok { Value::Null } else { json!("Shipment is already being processed and cannot be cancelled") }})
            })
            .collect();
        let all = o.shipments.iter().all(|sh| sh.1 == "Cancelled");
        if all {
            o.status = "Cancelled";
        }
        (
            json!({"order": render(o), "canceled_shipment_results": results}),
            all.then(|| render(o)),
        )
    };
    if let Some(order) = cancelled {
        s.send_callback("order.shipment.cancelled", order);
    }
    s.control.hold_cancel().await;
    respond(200, answer)
}

async fn inventory(
    State(s): State<Arc<ShipbobState>>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let Some(sku) = q.get("SearchBy").filter(|x| !x.is_empty()) else {
        return problem(
            400,
            "One or more validation errors occurred.",
            "",
            json!({"SearchBy": ["required in this simulator"]}),
        );
    };
    let qty = s.control.stock_of(sku);
    respond(
        200,
        json!([{ "id": 40_000 + sku.len(), "name": sku, "sku": sku,
                 "total_fulfillable_quantity": qty, "total_onhand_quantity": qty,
                 "total_committed_quantity": 0, "is_active": true }]),
    )
}

async fn subscribe(State(s): State<Arc<ShipbobState>>, Json(body): Json<Value>) -> Response {
    let topics: Vec<String> = body["topics"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t.as_str().map(str::to_string))
        .collect();
    let Some(url) = body["url"].as_str() else {
        return problem(
            400,
            "One or more validation errors occurred.",
            "",
            json!({"url": ["required"]}),
        );
    };
    lock(&s.subscriptions).push((topics.clone(), url.to_string()));
    respond(
        201,
        json!({"id": lock(&s.subscriptions).len(), "topics": topics, "url": url}),
    )
}

async fn stats(State(s): State<Arc<ShipbobState>>) -> Response {
    respond(200, s.control.stats(s.order_count()))
}

async fn set_stock(
    State(s): State<Arc<ShipbobState>>,
    Json(stock): Json<BTreeMap<String, Decimal>>,
) -> Response {
    s.control.set_stock(stock);
    no_content()
}

async fn set_faults(State(s): State<Arc<ShipbobState>>, Json(f): Json<FaultRequest>) -> Response {
    s.control.set_faults(f);
    no_content()
}

async fn sim_pick(State(s): State<Arc<ShipbobState>>, Path(id): Path<u64>) -> Response {
    if s.pick(id) {
        no_content()
    } else {
        not_found()
    }
}

async fn sim_ship(State(s): State<Arc<ShipbobState>>, Path(id): Path<u64>) -> Response {
    if s.ship(id) {
        no_content()
    } else {
        not_found()
    }
}

fn no_content() -> Response {
    use axum::response::IntoResponse;
    axum::http::StatusCode::NO_CONTENT.into_response()
}

/// A running ShipBob simulator.
pub struct ShipbobSandbox {
    /// Its orders, stock, faults and counters (tests change and read them).
    pub state: Arc<ShipbobState>,
    served: super::Served,
}

impl ShipbobSandbox {
    /// Starts one on `listen` (`127.0.0.1:0` picks a free port).
    pub async fn start(listen: &str, settings: ShipbobSettings) -> std::io::Result<Self> {
        let state = Arc::new(ShipbobState::new(settings));
        let served = super::Served::start(listen, router(state.clone())).await?;
        tracing::info!(addr = %served.addr, "ShipBob sandbox listening.");
        Ok(Self { state, served })
    }

    /// Where it listens.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.served.addr
    }

    /// The base URL a `rest` warehouse instance should use.
    pub fn base_url(&self) -> String {
        format!("http://{}/{VERSION}", self.served.addr)
    }

    /// Stops serving.
    pub async fn stop(self) {
        self.served.stop().await;
    }
}
