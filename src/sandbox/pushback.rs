//! The marketplaces' push-back endpoints, simulated as the platforms document them, over one
//! shared record of what was pushed ([`PushBook`]) that tests read and change:
//!
//! * Shopify: `GET /admin/api/{v}/orders/{id}/fulfillment_orders.json` (one fulfillment order,
//!   `open` until fulfilled, then `closed`), `POST /admin/api/{v}/fulfillments.json` (201 +
//!   the fulfillment; a closed fulfillment order is refused with 422 "Invalid fulfillment order
//!   line item quantity requested."), `GET /admin/api/{v}/orders/{id}/fulfillments.json`.
//! * WooCommerce: `POST`/`GET /wp-json/wc/v3/orders/{id}/notes` (every POST is a new note),
//!   `PUT /wp-json/wc/v3/orders/{id}` (`{"status": "completed"}`).
//! * Amazon SP-API: `POST /orders/v0/orders/{id}/shipmentConfirmation` (204; a package
//!   confirmed again is refused "order already fulfilled"; an unknown `carrierCode` is
//!   refused; `Others` needs `carrierName`), `GET /orders/v0/orders/{id}` (`OrderStatus`
//!   `Shipped` once confirmed).
//! * eBay: `POST /sell/fulfillment/v1/order/{id}/shipping_fulfillment` (201 + `Location`;
//!   every POST is a new fulfillment; an unknown carrier code is refused with errorId 35000),
//!   `GET` of the same path (the list).
//! * Magento: `GET /V1/orders?searchCriteria…increment_id eq` (in [`super::magento`]),
//!   `POST /V1/order/{entity_id}/ship` (200 + the bare shipment id; a shipped order is
//!   refused "The order does not allow a shipment to be created."), `GET /V1/shipments`
//!   filtered by `order_id`.
//!
//! Creates are never deduplicated (as on the platforms): a repeated create is a second
//! fulfilment, counted. Faults: the answer of the next create lost (recorded, then answered
//! only after a delay longer than the client waits), the answer of the next create garbled
//! after it was recorded ([`Garble`]: an HTML page, cut-off JSON, another shape), the next
//! create refused with a 4xx, and a fulfilment "lost" by the platform ([`PushBook::lose`]);
//! 429, 5xx, garbage before anything is recorded and outages come from the shared fault layer ([`super::book::Faults`]). `GET /_sim/pushbacks` shows the counts,
//! `POST /_sim/pushbacks/faults` sets faults, `POST /_sim/pushbacks/lose/{order}` loses one.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::book::{json as respond, with_header, SimOrder, SimState};
use super::Platform;

/// One fulfilment the platform holds (or held: `lost`).
#[derive(Debug, Clone, Serialize)]
pub struct PushRecord {
    /// The platform's id of it.
    pub id: u64,
    /// The order, as the platform's URLs name it.
    pub order: String,
    /// Tracking numbers it carries.
    pub tracking: Vec<String>,
    /// The carrier value sent.
    pub carrier: String,
    /// Amazon's packageReferenceId.
    pub package_ref: Option<String>,
    /// The request body as received.
    pub body: Value,
    /// Made by the test ("fulfilled at the platform by someone else"), not by a push-back.
    pub external: bool,
    /// The platform lost it (no longer listed; the order is open again).
    pub lost: bool,
}

/// Faults of the push-back endpoints.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct PushFaults {
    /// Record the next this many creates, then answer each only after `answer_delay_ms`
    /// (longer than the client waits: the answer is lost).
    pub lose_next_answer: u32,
    /// The delay of a lost answer.
    pub answer_delay_ms: u64,
    /// Refuse the next this many creates with a 4xx in the platform's shape.
    pub refuse_next: u32,
    /// Record the next this many creates, then answer each with HTTP 200 and `garble`
    /// instead of the platform's answer (the create went through; its answer cannot be read).
    pub garble_next_answer: u32,
    /// What a garbled answer is.
    pub garble: Garble,
    /// Record the next this many creates only after `late_ms`, whether or not the caller still
    /// waits (a platform still working on a create when the client gave up on it). eBay's
    /// create, where every create is a new fulfilment.
    pub late_next_create: u32,
    /// How late a late create is recorded.
    pub late_ms: u64,
}

/// A garbled answer to a create that went through.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Garble {
    /// An HTML error page (a proxy's or a maintenance page) with status 200.
    #[default]
    Html,
    /// The platform's JSON cut off halfway.
    Truncated,
    /// JSON, but not the shape the platform's API answers.
    Shape,
}

#[derive(Default)]
struct Inner {
    next_id: u64,
    records: Vec<PushRecord>,
    completed: BTreeSet<String>,
    faults: PushFaults,
}

/// What a simulator was told about shipments.
#[derive(Default)]
pub struct PushBook {
    inner: Mutex<Inner>,
}

impl PushBook {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The fulfilments of `order` the platform lists (not lost).
    pub fn records(&self, order: &str) -> Vec<PushRecord> {
        self.lock()
            .records
            .iter()
            .filter(|r| r.order == order && !r.lost)
            .cloned()
            .collect()
    }

    /// Every fulfilment ever recorded, lost ones included.
    pub fn all(&self) -> Vec<PushRecord> {
        self.lock().records.clone()
    }

    /// Creates accepted from the API for `order` (lost ones included, external ones not):
    /// more than one means a push-back was made twice.
    pub fn creates(&self, order: &str) -> usize {
        self.lock()
            .records
            .iter()
            .filter(|r| r.order == order && !r.external)
            .count()
    }

    /// Creates accepted from the API, per order.
    pub fn creates_per_order(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for r in self.lock().records.iter().filter(|r| !r.external) {
            *out.entry(r.order.clone()).or_insert(0) += 1;
        }
        out
    }

    /// The platform loses every fulfilment of `order` (the order reads as unshipped again).
    pub fn lose(&self, order: &str) -> usize {
        let mut inner = self.lock();
        inner.completed.remove(order);
        let mut n = 0;
        for r in inner.records.iter_mut().filter(|r| r.order == order) {
            r.lost = true;
            n += 1;
        }
        n
    }

    /// `order` is fulfilled at the platform by someone else, with `tracking`.
    pub fn fulfil_externally(&self, order: &str, tracking: &str, carrier: &str) -> u64 {
        self.add(
            order,
            vec![tracking.to_string()],
            carrier,
            Some("1".into()),
            Value::Null,
            true,
        )
    }

    /// Sets the faults.
    pub fn set_faults(&self, faults: PushFaults) {
        self.lock().faults = faults;
    }

    /// Whether WooCommerce's order `order` is `completed`.
    pub fn completed(&self, order: &str) -> bool {
        self.lock().completed.contains(order)
    }

    fn add(
        &self,
        order: &str,
        tracking: Vec<String>,
        carrier: &str,
        package_ref: Option<String>,
        body: Value,
        external: bool,
    ) -> u64 {
        let mut inner = self.lock();
        inner.next_id += 1;
        let id = 7_000 + inner.next_id;
        inner.records.push(PushRecord {
            id,
            order: order.to_string(),
            tracking,
            carrier: carrier.to_string(),
            package_ref,
            body,
            external,
            lost: false,
        });
        id
    }

    /// Takes a refusal fault, if one is due.
    fn take_refusal(&self) -> bool {
        let mut inner = self.lock();
        if inner.faults.refuse_next > 0 {
            inner.faults.refuse_next -= 1;
            return true;
        }
        false
    }

    /// Takes a lost-answer fault: the delay to wait before answering.
    fn take_lost_answer(&self) -> Option<Duration> {
        let mut inner = self.lock();
        if inner.faults.lose_next_answer > 0 {
            inner.faults.lose_next_answer -= 1;
            return Some(Duration::from_millis(inner.faults.answer_delay_ms.max(1)));
        }
        None
    }

    /// Takes a late-create fault: the delay before the create is recorded.
    fn take_late_create(&self) -> Option<Duration> {
        let mut inner = self.lock();
        if inner.faults.late_next_create > 0 {
            inner.faults.late_next_create -= 1;
            return Some(Duration::from_millis(inner.faults.late_ms.max(1)));
        }
        None
    }

    /// Takes a garbled-answer fault, if one is due.
    fn take_garble(&self) -> Option<Garble> {
        let mut inner = self.lock();
        if inner.faults.garble_next_answer > 0 {
            inner.faults.garble_next_answer -= 1;
            return Some(inner.faults.garble);
        }
        None
    }

    fn shipped(&self, order: &str) -> bool {
        self.lock()
            .records
            .iter()
            .any(|r| r.order == order && !r.lost)
    }
}

/// Answers a create after the lost-answer delay, or garbled, if that fault is due.
async fn maybe_lose(state: &SimState, resp: Response) -> Response {
    if let Some(delay) = state.push.take_lost_answer() {
        tokio::time::sleep(delay).await;
    }
    match state.push.take_garble() {
        None => resp,
        Some(Garble::Html) => super::book::html(
            200,
            "<html><head><title>Service Unavailable</title></head><body><h1>Please try again later</h1></body></html>",
        ),
        Some(Garble::Truncated) => (
            axum::http::StatusCode::OK,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            "{\"fulfillment\": {\"id\": 43000",
        )
            .into_response(),
        Some(Garble::Shape) => respond(200, json!({"status": "queued", "ok": true})),
    }
}

/// The platform's push-back routes (merged into its router before the fault layer).
pub fn routes(platform: Platform) -> Router<Arc<SimState>> {
    let r = Router::new()
        .route("/_sim/pushbacks", get(stats))
        .route("/_sim/pushbacks/faults", post(set_faults))
        .route("/_sim/pushbacks/lose/{order}", post(lose));
    match platform {
        Platform::Shopify => r
            .route(
                "/admin/api/{version}/orders/{id}/fulfillment_orders.json",
                get(shopify_fulfillment_orders),
            )
            .route(
                "/admin/api/{version}/fulfillments.json",
                post(shopify_create),
            )
            .route(
                "/admin/api/{version}/orders/{id}/fulfillments.json",
                get(shopify_fulfillments),
            ),
        Platform::Woocommerce => r
            .route(
                "/wp-json/wc/v3/orders/{id}/notes",
                get(woo_notes).post(woo_add_note),
            )
            .route("/wp-json/wc/v3/orders/{id}", axum::routing::put(woo_update)),
        Platform::Amazon => r
            .route(
                "/orders/v0/orders/{id}/shipmentConfirmation",
                post(amazon_confirm),
            )
            .route("/orders/v0/orders/{id}", get(amazon_order)),
        Platform::Ebay => r.route(
            "/sell/fulfillment/v1/order/{id}/shipping_fulfillment",
            get(ebay_list).post(ebay_create),
        ),
        Platform::Magento => r
            .route("/rest/default/V1/order/{id}/ship", post(magento_ship))
            .route("/rest/V1/order/{id}/ship", post(magento_ship))
            .route("/rest/default/V1/shipments", get(magento_shipments))
            .route("/rest/V1/shipments", get(magento_shipments)),
    }
}

async fn stats(State(state): State<Arc<SimState>>) -> Response {
    let all = state.push.all();
    respond(
        200,
        json!({
            "creates_per_order": state.push.creates_per_order(),
            "fulfilments": all,
        }),
    )
}

async fn set_faults(State(state): State<Arc<SimState>>, body: String) -> Response {
    match serde_json::from_str::<PushFaults>(&body) {
        Ok(f) => {
            state.push.set_faults(f);
            respond(200, json!({"ok": true}))
        }
        Err(e) => respond(400, json!({"error": e.to_string()})),
    }
}

async fn lose(State(state): State<Arc<SimState>>, Path(order): Path<String>) -> Response {
    respond(200, json!({"lost": state.push.lose(&order)}))
}

fn order_where(state: &SimState, f: impl Fn(&SimOrder) -> bool) -> Option<SimOrder> {
    state.orders().into_iter().find(|o| f(o))
}

// --- Shopify ---------------------------------------------------------------------------

/// Shopify's numeric order id of a simulated order (as `shopify::render` gives it).
pub fn shopify_order_id(o: &SimOrder) -> u64 {
    5_512_300_000_000u64 + o.id
}

const FO_OFFSET: u64 = 1_000_000_000_000;

fn shopify_auth(headers: &HeaderMap) -> Option<Response> {
    let token = headers
        .get("x-shopify-access-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    (token != Platform::Shopify.credentials()[0].1).then(|| {
        respond(
            401,
            json!({"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}),
        )
    })
}

fn shopify_order(state: &SimState, id: &str) -> Option<SimOrder> {
    let id: u64 = id.parse().ok()?;
    order_where(state, |o| shopify_order_id(o) == id)
}

async fn shopify_fulfillment_orders(
    State(state): State<Arc<SimState>>,
    Path((_version, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = shopify_auth(&headers) {
        return r;
    }
    let Some(o) = shopify_order(&state, &id) else {
        return respond(404, json!({"errors": "Not Found"}));
    };
    let order_id = shopify_order_id(&o);
    let closed = state.push.shipped(&order_id.to_string());
    let lines: Vec<Value> = o
        .facts
        .lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            json!({"id": order_id * 10 + 5 + i as u64, "line_item_id": order_id * 10 + i as u64,
                   "quantity": l.quantity, "fulfillable_quantity": if closed { 0 } else { l.quantity }})
        })
        .collect();
    respond(
        200,
        json!({"fulfillment_orders": [{
            "id": order_id + FO_OFFSET, "order_id": order_id,
            "status": if closed { "closed" } else { "open" },
            "assigned_location_id": 24_826_418, "request_status": "unsubmitted",
            "line_items": lines,
        }]}),
    )
}

async fn shopify_create(
    State(state): State<Arc<SimState>>,
    Path(_version): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    if let Some(r) = shopify_auth(&headers) {
        return r;
    }
    let Ok(b) = serde_json::from_str::<Value>(&body) else {
        return respond(
            400,
            json!({"errors": {"fulfillment": "Required parameter missing or invalid"}}),
        );
    };
    let f = &b["fulfillment"];
    let fo = f["line_items_by_fulfillment_order"][0]["fulfillment_order_id"].as_u64();
    let Some(order_id) = fo.and_then(|fo| fo.checked_sub(FO_OFFSET)) else {
        return respond(
            422,
            json!({"errors": ["Fulfillment payloads fulfillment order must be greater than 0"]}),
        );
    };
    if state.push.take_refusal() {
        return respond(
            400,
            json!({"errors": {"fulfillment": "Required parameter missing or invalid"}}),
        );
    }
    if order_where(&state, |o| shopify_order_id(o) == order_id).is_none() {
        return respond(404, json!({"errors": "Not Found"}));
    }
    let order = order_id.to_string();
    if state.push.shipped(&order) {
        return respond(
            422,
            json!({"errors": ["Invalid fulfillment order line item quantity requested."]}),
        );
    }
    let t = &f["tracking_info"];
    let number = t["number"].as_str().unwrap_or_default().to_string();
    let company = t["company"].as_str().unwrap_or_default().to_string();
    let id = state
        .push
        .add(&order, vec![number], &company, None, b.clone(), false);
    let resp = respond(201, json!({"fulfillment": shopify_fulfillment(&state, id)}));
    maybe_lose(&state, resp).await
}

fn shopify_fulfillment(state: &SimState, id: u64) -> Value {
    let r = state.push.all().into_iter().find(|r| r.id == id);
    let Some(r) = r else { return Value::Null };
    let url = r.body["fulfillment"]["tracking_info"]["url"].clone();
    json!({
        "id": 4_300_000_000u64 + r.id, "order_id": r.order.parse::<u64>().unwrap_or(0),
        "status": "success", "tracking_company": r.carrier,
        "tracking_number": r.tracking.first(), "tracking_numbers": r.tracking,
        "tracking_url": url, "tracking_urls": [url],
    })
}

async fn shopify_fulfillments(
    State(state): State<Arc<SimState>>,
    Path((_version, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = shopify_auth(&headers) {
        return r;
    }
    if shopify_order(&state, &id).is_none() {
        return respond(404, json!({"errors": "Not Found"}));
    }
    let list: Vec<Value> = state
        .push
        .records(&id)
        .iter()
        .map(|r| shopify_fulfillment(&state, r.id))
        .collect();
    respond(200, json!({"fulfillments": list}))
}

// --- WooCommerce -------------------------------------------------------------------------

fn woo_auth(headers: &HeaderMap) -> Option<Response> {
    let creds = Platform::Woocommerce.credentials();
    (!super::woocommerce::basic_ok(headers, creds[0].1, creds[1].1)).then(|| {
        respond(
            401,
            json!({"code": "woocommerce_rest_cannot_view", "message": "Sorry, you cannot list resources.", "data": {"status": 401}}),
        )
    })
}

fn woo_missing() -> Response {
    respond(
        404,
        json!({"code": "woocommerce_rest_shop_order_invalid_id", "message": "Invalid ID.", "data": {"status": 404}}),
    )
}

fn woo_order(state: &SimState, id: &str) -> Option<SimOrder> {
    let id: u64 = id.parse().ok()?;
    order_where(state, |o| o.id == id)
}

fn woo_note(r: &PushRecord) -> Value {
    json!({"id": r.id, "author": "system", "date_created": "2026-03-04T10:11:12",
           "note": r.body["note"], "customer_note": r.body["customer_note"]})
}

async fn woo_add_note(
    State(state): State<Arc<SimState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    if let Some(r) = woo_auth(&headers) {
        return r;
    }
    if woo_order(&state, &id).is_none() {
        return woo_missing();
    }
    let b: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let Some(note) = b["note"].as_str().filter(|n| !n.is_empty()) else {
        return respond(
            400,
            json!({"code": "rest_missing_callback_param", "message": "Missing parameter(s): note", "data": {"status": 400, "params": ["note"]}}),
        );
    };
    if state.push.take_refusal() {
        return respond(
            400,
            json!({"code": "rest_invalid_param", "message": "Invalid parameter(s): customer_note", "data": {"status": 400}}),
        );
    }
    let id = state
        .push
        .add(&id, vec![note.to_string()], "", None, b.clone(), false);
    let record = state.push.all().into_iter().find(|r| r.id == id);
    let resp = respond(201, record.as_ref().map(woo_note).unwrap_or(Value::Null));
    maybe_lose(&state, resp).await
}

async fn woo_notes(
    State(state): State<Arc<SimState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = woo_auth(&headers) {
        return r;
    }
    if woo_order(&state, &id).is_none() {
        return woo_missing();
    }
    let mut notes: Vec<Value> = state.push.records(&id).iter().map(woo_note).collect();
    if state.push.completed(&id) {
        notes.push(json!({"id": 1, "author": "system", "date_created": "2026-03-04T10:11:12",
                          "note": "Order status changed from Processing to Completed.", "customer_note": false}));
    }
    respond(200, Value::Array(notes))
}

async fn woo_update(
    State(state): State<Arc<SimState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    if let Some(r) = woo_auth(&headers) {
        return r;
    }
    let Some(o) = woo_order(&state, &id) else {
        return woo_missing();
    };
    let b: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let mut order = super::woocommerce::render(&o);
    if let Some(status) = b["status"].as_str() {
        if status == "completed" {
            state.push.lock().completed.insert(id.clone());
        }
        order["status"] = json!(status);
    }
    respond(200, order)
}

// --- Amazon ------------------------------------------------------------------------------

/// carrierCode values the simulator accepts (a part of amzn-base.xsd's CarrierCode list).
const AMAZON_CARRIERS: &[&str] = &[
    "UPS",
    "USPS",
    "FedEx",
    "DHL",
    "DHL eCommerce",
    "Amazon Shipping",
    "Canada Post",
    "Royal Mail",
    "DPD",
    "OnTrac",
    "SF Express",
    "Yanwen",
    "4PX",
    "Others",
];

fn amazon_error(status: u16, code: &str, message: &str) -> Response {
    respond(
        status,
        json!({"errors": [{"code": code, "message": message, "details": ""}]}),
    )
}

fn amazon_auth(state: &SimState, headers: &HeaderMap) -> Option<Response> {
    let ok = headers
        .get("x-amz-access-token")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| state.token_valid(t));
    (!ok).then(|| {
        amazon_error(
            403,
            "Unauthorized",
            "Access to requested resource is denied.",
        )
    })
}

async fn amazon_confirm(
    State(state): State<Arc<SimState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    if let Some(r) = amazon_auth(&state, &headers) {
        return r;
    }
    if order_where(&state, |o| super::amazon::order_id(o) == id).is_none() {
        return amazon_error(404, "InvalidInput", "Invalid Input");
    }
    let Ok(b) = serde_json::from_str::<Value>(&body) else {
        return amazon_error(400, "InvalidInput", "Could not parse the request body.");
    };
    if b["marketplaceId"].as_str() != Some("ATVPDKIKX0DER") {
        return amazon_error(400, "InvalidInput", "Invalid marketplaceId.");
    }
    let p = &b["packageDetail"];
    let package = p["packageReferenceId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if package.parse::<u64>().map_or(true, |n| n == 0) {
        return amazon_error(
            400,
            "InvalidInput",
            "PackageReferenceId: is invalid, must be a positive numeric value.",
        );
    }
    let carrier = p["carrierCode"].as_str().unwrap_or_default().to_string();
    if !AMAZON_CARRIERS.contains(&carrier.as_str())
        || (carrier == "Others" && p["carrierName"].as_str().unwrap_or("").is_empty())
    {
        return amazon_error(
            400,
            "InvalidInput",
            &format!("Value {carrier:?} for carrierCode is invalid."),
        );
    }
    let number = p["trackingNumber"].as_str().unwrap_or_default().to_string();
    if number.is_empty() || p["orderItems"].as_array().is_none_or(|a| a.is_empty()) {
        return amazon_error(
            400,
            "InvalidInput",
            "trackingNumber and orderItems are required.",
        );
    }
    if state.push.take_refusal() {
        return amazon_error(
            400,
            "InvalidInput",
            "OrderItemId is invalid, please obtain the value through the getOrderItems API.",
        );
    }
    let repeated = state
        .push
        .records(&id)
        .iter()
        .any(|r| r.package_ref.as_deref() == Some(package.as_str()));
    if repeated {
        return amazon_error(400, "InvalidInput", "Failed to create package due to not finding a matching package or order already fulfilled");
    }
    state
        .push
        .add(&id, vec![number], &carrier, Some(package), b.clone(), false);
    let resp = with_header(
        with_header(
            (axum::http::StatusCode::NO_CONTENT, "").into_response(),
            "x-amzn-requestid",
            uuid::Uuid::new_v4().to_string(),
        ),
        "x-amzn-ratelimit-limit",
        format!("{}", 2.0 * state.settings.rate_scale),
    );
    maybe_lose(&state, resp).await
}

async fn amazon_order(
    State(state): State<Arc<SimState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = amazon_auth(&state, &headers) {
        return r;
    }
    let Some(o) = order_where(&state, |o| super::amazon::order_id(o) == id) else {
        return amazon_error(404, "InvalidInput", "Invalid Input");
    };
    let mut order = super::amazon::render(&o);
    order["OrderStatus"] = json!(if state.push.shipped(&id) {
        "Shipped"
    } else {
        "Unshipped"
    });
    with_header(
        respond(200, json!({"payload": order})),
        "x-amzn-ratelimit-limit",
        format!("{}", 0.5 * state.settings.rate_scale),
    )
}

// --- eBay --------------------------------------------------------------------------------

/// shippingCarrierCode values the simulator accepts (part of ShippingCarrierCodeType).
const EBAY_CARRIERS: &[&str] = &[
    "UPS",
    "USPS",
    "FedEx",
    "DHL",
    "CanadaPost",
    "RoyalMail",
    "AustraliaPost",
    "DPD",
    "GLS",
    "SFExpress",
    "Yanwen",
    "FourPX",
    "Other",
];

fn ebay_error(status: u16, id: u32, message: &str) -> Response {
    respond(
        status,
        json!({"errors": [{"errorId": id, "domain": "API_FULFILLMENT", "category": "REQUEST", "message": message}]}),
    )
}

fn ebay_auth(state: &SimState, headers: &HeaderMap) -> Option<Response> {
    let ok = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| state.token_valid(t));
    (!ok).then(|| {
        respond(
            401,
            json!({"errors": [{"errorId": 1001, "domain": "OAuth", "category": "REQUEST", "message": "Invalid access token"}]}),
        )
    })
}

fn ebay_fulfillment(r: &PushRecord) -> Value {
    json!({
        "fulfillmentId": format!("{:016}", r.id),
        "shipmentTrackingNumber": r.tracking.first(),
        "shippingCarrierCode": r.carrier,
        "shippedDate": r.body["shippedDate"],
        "lineItems": r.body["lineItems"],
    })
}

async fn ebay_create(
    State(state): State<Arc<SimState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    if let Some(r) = ebay_auth(&state, &headers) {
        return r;
    }
    if order_where(&state, |o| super::ebay::order_id(o) == id).is_none() {
        return ebay_error(404, 32100, "Invalid order ID");
    }
    let b: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let carrier = b["shippingCarrierCode"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if !EBAY_CARRIERS.contains(&carrier.as_str()) {
        return ebay_error(400, 35000, "Invalid shipping carrier code");
    }
    let number = b["trackingNumber"].as_str().unwrap_or_default().to_string();
    if number.is_empty() || b["lineItems"].as_array().is_none_or(|a| a.is_empty()) {
        return ebay_error(
            400,
            32200,
            "The trackingNumber and lineItems fields are required.",
        );
    }
    if state.push.take_refusal() {
        return ebay_error(400, 32600, "Invalid line item ID.");
    }
    // A late create is recorded after its delay even when the caller has hung up meanwhile
    // (axum drops the handler then; the spawned create goes on, as a real server's would).
    let late = state.push.take_late_create();
    let made = {
        let (state, id, carrier) = (state.clone(), id.clone(), carrier.clone());
        tokio::spawn(async move {
            if let Some(delay) = late {
                tokio::time::sleep(delay).await;
            }
            state.push.add(&id, vec![number], &carrier, None, b, false)
        })
    };
    let Ok(fid) = made.await else {
        return ebay_error(500, 10500, "System error.");
    };
    let host = headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1");
    let resp = with_header(
        (axum::http::StatusCode::CREATED, "").into_response(),
        "location",
        format!("http://{host}/sell/fulfillment/v1/order/{id}/shipping_fulfillment/{fid:016}"),
    );
    maybe_lose(&state, resp).await
}

async fn ebay_list(
    State(state): State<Arc<SimState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = ebay_auth(&state, &headers) {
        return r;
    }
    if order_where(&state, |o| super::ebay::order_id(o) == id).is_none() {
        return ebay_error(404, 32100, "Invalid order ID");
    }
    let list: Vec<Value> = state
        .push
        .records(&id)
        .iter()
        .map(ebay_fulfillment)
        .collect();
    respond(200, json!({"fulfillments": list, "total": list.len()}))
}

// --- Magento -----------------------------------------------------------------------------

fn magento_auth(headers: &HeaderMap) -> Option<Response> {
    let expected = format!("Bearer {}", Platform::Magento.credentials()[0].1);
    (headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str())).then(|| {
        respond(
            401,
            json!({"message": "The consumer isn't authorized to access %resources.", "parameters": {"resources": "Magento_Sales::ship"}}),
        )
    })
}

/// `GET /V1/orders` filtered by `increment_id eq` (the push-back's look-up of entity_id).
pub fn magento_by_increment_id(state: &SimState, increment_id: &str) -> Response {
    let items: Vec<Value> = state
        .orders()
        .iter()
        .filter(|o| format!("{:09}", o.id) == increment_id)
        .map(super::magento::render)
        .collect();
    let n = items.len();
    respond(
        200,
        json!({"items": items, "search_criteria": {"filter_groups": [{"filters": [{"field": "increment_id", "value": increment_id, "condition_type": "eq"}]}]}, "total_count": n}),
    )
}

async fn magento_ship(
    State(state): State<Arc<SimState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    if let Some(r) = magento_auth(&headers) {
        return r;
    }
    let Some(o) = id
        .parse::<u64>()
        .ok()
        .and_then(|n| order_where(&state, |o| o.id == n))
    else {
        return respond(
            404,
            json!({"message": "The entity that was requested doesn't exist. Verify the entity and try again."}),
        );
    };
    if state.push.take_refusal() {
        return respond(
            400,
            json!({"message": "\"%fieldName\" is required. Enter and try again.", "parameters": {"fieldName": "track_number"}}),
        );
    }
    let order = o.id.to_string();
    if state.push.shipped(&order) {
        return respond(
            400,
            json!({"message": "Shipment Document Validation Error(s):\nThe order does not allow a shipment to be created.\nYou can't create a shipment without products.", "parameters": []}),
        );
    }
    let b: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let tracks = b["tracks"].as_array().cloned().unwrap_or_default();
    let numbers: Vec<String> = tracks
        .iter()
        .filter_map(|t| t["track_number"].as_str().map(str::to_string))
        .collect();
    let carrier = tracks
        .first()
        .and_then(|t| t["carrier_code"].as_str())
        .unwrap_or_default()
        .to_string();
    let sid = state
        .push
        .add(&order, numbers, &carrier, None, b.clone(), false);
    let resp = respond(200, json!(sid));
    maybe_lose(&state, resp).await
}

async fn magento_shipments(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    if let Some(r) = magento_auth(&headers) {
        return r;
    }
    let f = "searchCriteria[filter_groups][0][filters][0]";
    let field = q.get(&format!("{f}[field]")).map(String::as_str);
    let value = q.get(&format!("{f}[value]")).cloned().unwrap_or_default();
    if field != Some("order_id") {
        return respond(
            400,
            json!({"message": "The sandbox filters shipments on order_id only."}),
        );
    }
    let items: Vec<Value> = state
        .push
        .records(&value)
        .iter()
        .map(|r| {
            json!({
                "entity_id": r.id, "order_id": r.order.parse::<u64>().unwrap_or(0),
                "increment_id": format!("{:09}", r.id),
                "tracks": r.body["tracks"],
            })
        })
        .collect();
    let n = items.len();
    respond(200, json!({"items": items, "total_count": n}))
}
