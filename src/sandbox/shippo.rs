//! Shippo API simulator: `Authorization: ShippoToken <token>`; `POST /shipments` answers
//! rates; `GET /rates/{id}`; `POST /transactions` buys a rate — a label counted per
//! `metadata` (a second transaction for the same parcel is a second label, as Shippo sells
//! it), or, for an address the carrier cannot verify (postal code `000…`, a "Nowhere" street, no street), a
//! transaction with `status: ERROR` and `messages[]`; `GET /transactions?metadata=` finds
//! them; `POST /pickups` schedules a pickup of bought transactions (no lookup and no
//! idempotency key, as Shippo: a repeated request is a second pickup, counted). Faults: 429
//! with `Retry-After`, 500, outages (503), a purchase or pickup whose answer is lost (see
//! [`super::carrier`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, Query, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::book::{json as respond, with_header};
use super::carrier::{address_refused, controls, label_url, CarrierSandbox, CarrierSimState};
use super::warehouse::{lock, lost_answer};

/// The sandbox API token the simulator accepts (opens nothing real).
pub const API_TOKEN: &str = "shippo_test_5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d";

/// The routes over `state`: API behind faults and auth, controls open.
pub fn router(state: Arc<CarrierSimState>) -> Router {
    let api = Router::new()
        .route("/shipments", post(create))
        .route("/rates/{id}", get(rate))
        .route("/transactions", post(transaction).get(list))
        .route("/pickups", post(pickup))
        .layer(axum::middleware::from_fn_with_state(state.clone(), guard));
    controls(api).with_state(state)
}

/// Starts one on `listen`.
pub async fn start(listen: &str) -> std::io::Result<CarrierSandbox> {
    CarrierSandbox::start(listen, "", router).await
}

async fn guard(
    State(s): State<Arc<CarrierSimState>>,
    headers: HeaderMap,
    req: Request,
    next: Next,
) -> Response {
    if let Some((status, retry)) = s.control.take_fault() {
        return match status {
            429 => with_header(
                respond(429, json!({"detail": "Request was throttled."})),
                "retry-after",
                (retry.max(0.0).ceil() as u64).to_string(),
            ),
            503 => respond(503, json!({"detail": "Service temporarily unavailable."})),
            _ => respond(status, json!({"detail": "A server error occurred."})),
        };
    }
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("ShippoToken "));
    if token != Some(API_TOKEN) {
        return respond(401, json!({"detail": "Invalid token."}));
    }
    if s.control.take_garble() {
        return respond(200, json!({"result": "ok"}));
    }
    next.run(req).await
}

async fn create(State(s): State<Arc<CarrierSimState>>, Json(body): Json<Value>) -> Response {
    let mut missing = serde_json::Map::new();
    for f in ["address_from", "address_to", "parcels"] {
        if body[f].is_null() {
            missing.insert(f.into(), json!(["This field is required."]));
        }
    }
    if !missing.is_empty() {
        return respond(400, Value::Object(missing));
    }
    let id = format!("shp_{}", s.next());
    let rate = |provider: &str, token: &str, name: &str, amount: &str, days: i64| {
        json!({"object_id": format!("rate_{}", s.next()), "provider": provider,
               "servicelevel": {"token": token, "name": name}, "amount": amount, "currency": "USD",
               "estimated_days": days, "shipment": id, "object_created": chrono::Utc::now().to_rfc3339()})
    };
    let rates = vec![
        rate("USPS", "usps_priority", "Priority Mail", "7.90", 2),
        rate(
            "USPS",
            "usps_ground_advantage",
            "Ground Advantage",
            "5.10",
            4,
        ),
        rate(
            "DHL Express",
            "dhl_express_worldwide",
            "Express Worldwide",
            "41.20",
            1,
        ),
    ];
    let shipment = json!({"object_id": id, "object_type": "shipment", "status": "SUCCESS",
        "address_from": body["address_from"], "address_to": body["address_to"],
        "parcels": body["parcels"], "metadata": body["metadata"], "rates": rates, "messages": []});
    lock(&s.objects).push(shipment.clone());
    respond(201, shipment)
}

/// The rate `id` and the shipment it belongs to.
fn find_rate(s: &CarrierSimState, id: &str) -> Option<(Value, Value)> {
    lock(&s.objects).iter().find_map(|o| {
        let r = o["rates"]
            .as_array()?
            .iter()
            .find(|r| r["object_id"].as_str() == Some(id))?;
        Some((r.clone(), o.clone()))
    })
}

async fn rate(State(s): State<Arc<CarrierSimState>>, Path(id): Path<String>) -> Response {
    match find_rate(&s, &id) {
        Some((r, _)) => respond(200, r),
        None => respond(404, json!({"detail": "Not found."})),
    }
}

async fn transaction(
    State(s): State<Arc<CarrierSimState>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let rate_id = body["rate"].as_str().unwrap_or_default();
    let Some((rate, shipment)) = find_rate(&s, rate_id) else {
        return respond(400, json!({"rate": ["Rate not found."]}));
    };
    let id = format!("txn_{}", s.next());
    let metadata = body["metadata"].as_str().unwrap_or_default().to_string();
    let now = chrono::Utc::now();
    let mut t = json!({"object_id": id, "object_type": "transaction", "object_created": now.to_rfc3339(),
        "rate": rate_id, "metadata": metadata, "label_file_type": body["label_file_type"]});
    if address_refused(&shipment["address_to"]) {
        t["object_state"] = json!("INVALID");
        t["status"] = json!("ERROR");
        t["messages"] = json!([{"source": rate["provider"], "code": "ADDRESS_INVALID",
            "text": "The recipient address could not be verified; check the postal code and street."}]);
        t["tracking_number"] = Value::Null;
        lock(&s.objects).push(t.clone());
        return respond(201, t);
    }
    let days = rate["estimated_days"].as_i64().unwrap_or(3);
    t["object_state"] = json!("VALID");
    t["status"] = json!("SUCCESS");
    t["messages"] = json!([]);
    t["tracking_number"] = json!(format!("92055{:017}", s.next()));
    t["tracking_status"] = json!("UNKNOWN");
    t["label_url"] = json!(label_url(&headers, &id));
    t["eta"] = json!((now + s.days(days)).to_rfc3339());
    lock(&s.objects).push(t.clone());
    s.control.count_created(&metadata);
    s.control.slow_create().await;
    if s.control.take_drop_create() {
        return lost_answer();
    }
    respond(201, t)
}

async fn list(
    State(s): State<Arc<CarrierSimState>>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    if q.contains_key("metadata") {
        s.control.count_lookup();
    }
    let results: Vec<Value> = lock(&s.objects)
        .iter()
        .filter(|o| o["object_type"].as_str() == Some("transaction"))
        .filter(|o| {
            q.get("metadata")
                .is_none_or(|m| o["metadata"].as_str() == Some(m))
        })
        .take(100)
        .cloned()
        .collect();
    respond(
        200,
        json!({"count": results.len(), "next": null, "previous": null, "results": results}),
    )
}

async fn pickup(State(s): State<Arc<CarrierSimState>>, Json(body): Json<Value>) -> Response {
    let mut missing = serde_json::Map::new();
    for f in [
        "carrier_account",
        "location",
        "transactions",
        "requested_start_time",
        "requested_end_time",
    ] {
        if body[f].is_null() {
            missing.insert(f.into(), json!(["This field is required."]));
        }
    }
    if body["location"]["address"].is_null() {
        missing.insert(
            "location".into(),
            json!({"address": ["This field is required."]}),
        );
    }
    if !missing.is_empty() {
        return respond(400, Value::Object(missing));
    }
    let ids: Vec<String> = body["transactions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t.as_str().map(str::to_string))
        .collect();
    let bought = |id: &str| {
        lock(&s.objects)
            .iter()
            .any(|o| o["object_id"].as_str() == Some(id) && o["status"].as_str() == Some("SUCCESS"))
    };
    if ids.is_empty() || !ids.iter().all(|id| bought(id)) {
        return respond(
            400,
            json!({"transactions": ["Every transaction must be a successful label purchase."]}),
        );
    }
    let id = format!("pickup_{}", s.next());
    let p = json!({"object_id": id, "object_created": chrono::Utc::now().to_rfc3339(),
        "carrier_account": body["carrier_account"], "location": body["location"],
        "transactions": ids, "requested_start_time": body["requested_start_time"],
        "requested_end_time": body["requested_end_time"],
        "confirmed_start_time": body["requested_start_time"],
        "confirmed_end_time": body["requested_end_time"],
        "cancel_by_time": body["requested_start_time"],
        "status": "CONFIRMED", "confirmation_code": format!("PU{}", s.next()),
        "metadata": body["metadata"], "messages": []});
    lock(&s.pickups).push(p.clone());
    if s.control.take_drop_create() {
        return lost_answer();
    }
    respond(201, p)
}
