//! EasyPost API v2 simulator (`/v2/…`): the API key as the HTTP Basic user name;
//! `POST /shipments` answers rates (an address it cannot verify — postal code `000…`, a "Nowhere" street, no
//! street — is a 422 `ADDRESS.VERIFY.FAILURE`); `POST /shipments/{id}/buy` buys the rate: a
//! label and a tracking code, counted per `reference` (a shipment created and bought again
//! for the same reference is a second label, as EasyPost sells it); a second buy of the same
//! shipment is refused (`SHIPMENT.POSTAGE.EXISTS`); `GET /shipments?reference=` finds them;
//! `POST /pickups` + `/pickups/{id}/buy` schedule a pickup (`GET /pickups?reference=` finds
//! them; each created pickup is a pickup the carrier comes for once bought). Faults: 429 with `Retry-After`,
//! 500, outages (503), a purchase whose answer is lost (see [`super::carrier`]).

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

/// The sandbox API key the simulator accepts (opens nothing real).
pub const API_KEY: &str = "EZTK_sandbox_0f1e2d3c4b5a69788796a5b4";

fn error(status: u16, code: &str, message: &str, errors: Value) -> Response {
    respond(
        status,
        json!({"error": {"code": code, "message": message, "errors": errors}}),
    )
}

/// The routes over `state`: API behind faults and auth, controls open.
pub fn router(state: Arc<CarrierSimState>) -> Router {
    let api = Router::new()
        .route("/v2/shipments", post(create).get(list))
        .route("/v2/shipments/{id}", get(read))
        .route("/v2/shipments/{id}/buy", post(buy))
        .route("/v2/pickups", post(pickup).get(pickups))
        .route("/v2/pickups/{id}/buy", post(pickup_buy))
        .layer(axum::middleware::from_fn_with_state(state.clone(), guard));
    controls(api).with_state(state)
}

/// Starts one on `listen`.
pub async fn start(listen: &str) -> std::io::Result<CarrierSandbox> {
    CarrierSandbox::start(listen, "/v2", router).await
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
                error(
                    429,
                    "RATE_LIMITED",
                    "You have exceeded the rate limit. Please retry later.",
                    json!([]),
                ),
                "retry-after",
                (retry.max(0.0).ceil() as u64).to_string(),
            ),
            503 => error(
                503,
                "SERVICE.UNAVAILABLE",
                "The service is temporarily unavailable.",
                json!([]),
            ),
            _ => error(
                status,
                "INTERNAL_SERVER_ERROR",
                "We're sorry, something went wrong.",
                json!([]),
            ),
        };
    }
    let user = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.decode(b).ok()
        })
        .and_then(|b| String::from_utf8(b).ok());
    if user.as_deref().and_then(|u| u.split(':').next()) != Some(API_KEY) {
        return error(
            401,
            "APIKEY.INACTIVE",
            "The API key provided is invalid or inactive.",
            json!([]),
        );
    }
    if s.control.take_garble() {
        return respond(200, json!({"result": "ok"}));
    }
    next.run(req).await
}

fn rates(s: &CarrierSimState, shipment_id: &str) -> Value {
    let now = chrono::Utc::now();
    let rate = |carrier: &str, service: &str, price: &str, days: i64| {
        json!({"id": format!("rate_{}", s.next()), "object": "Rate", "carrier": carrier,
               "service": service, "rate": price, "currency": "USD", "delivery_days": days,
               "delivery_date": (now + s.days(days)).to_rfc3339(),
               "shipment_id": shipment_id})
    };
    json!([
        rate("USPS", "Priority", "7.58", 2),
        rate("USPS", "Express", "28.40", 1),
        rate("UPS", "Ground", "9.10", 4),
    ])
}

async fn create(State(s): State<Arc<CarrierSimState>>, Json(body): Json<Value>) -> Response {
    let sh = &body["shipment"];
    if !sh["to_address"].is_object()
        || !sh["from_address"].is_object()
        || !sh["parcel"]["weight"].is_number() && !sh["parcel"]["weight"].is_string()
    {
        return error(
            422,
            "PARAMETER.REQUIRED",
            "Missing required parameter.",
            json!([{"field": "shipment", "message": "to_address, from_address and parcel.weight are required"}]),
        );
    }
    if address_refused(&sh["to_address"]) {
        return error(
            422,
            "ADDRESS.VERIFY.FAILURE",
            "Unable to verify address.",
            json!([{"field": "address", "message": "Address not found"}]),
        );
    }
    let id = format!("shp_{}", s.next());
    let shipment = json!({
        "id": id, "object": "Shipment", "mode": "test", "reference": sh["reference"],
        "to_address": sh["to_address"], "from_address": sh["from_address"], "parcel": sh["parcel"],
        "options": sh["options"], "rates": rates(&s, &id), "messages": [],
        "selected_rate": null, "postage_label": null, "tracking_code": null, "status": "unknown",
        "created_at": chrono::Utc::now().to_rfc3339(),
    });
    lock(&s.objects).push(shipment.clone());
    respond(201, shipment)
}

async fn list(
    State(s): State<Arc<CarrierSimState>>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    if q.contains_key("reference") {
        s.control.count_lookup();
    }
    let shipments: Vec<Value> = lock(&s.objects)
        .iter()
        .filter(|o| {
            q.get("reference")
                .is_none_or(|r| o["reference"].as_str() == Some(r))
        })
        .take(100)
        .cloned()
        .collect();
    respond(200, json!({"shipments": shipments, "has_more": false}))
}

async fn read(State(s): State<Arc<CarrierSimState>>, Path(id): Path<String>) -> Response {
    match s.find("id", &id) {
        Some(o) => respond(200, o),
        None => error(
            404,
            "SHIPMENT.NOT_FOUND",
            "The requested resource could not be found.",
            json!([]),
        ),
    }
}

async fn buy(
    State(s): State<Arc<CarrierSimState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    let rate_id = body["rate"]["id"].as_str().unwrap_or_default().to_string();
    let tracking = format!("9400{:018}", s.next());
    let url = label_url(&headers, &id);
    // A late purchase is made after its delay even when the caller has hung up meanwhile
    // (axum drops the handler then; the spawned purchase goes on, as a real server's would).
    let late = s.control.take_late_create();
    let made = {
        let s = s.clone();
        tokio::spawn(async move {
            if let Some(delay) = late {
                tokio::time::sleep(delay).await;
            }
            purchase(&s, &id, &rate_id, &tracking, &url)
        })
    };
    let Ok(bought) = made.await else {
        return error(
            500,
            "INTERNAL_SERVER_ERROR",
            "The purchase failed.",
            json!([]),
        );
    };
    let (shipment, _) = match bought {
        None => {
            return error(
                404,
                "SHIPMENT.NOT_FOUND",
                "The requested resource could not be found.",
                json!([]),
            )
        }
        Some(Err((code, message))) => return error(422, code, message, json!([])),
        Some(Ok(x)) => x,
    };
    s.control.slow_create().await;
    if s.control.take_drop_create() {
        return lost_answer();
    }
    respond(200, shipment)
}

/// Buys rate `rate_id` of shipment `id`: the shipment and its reference, or why not (`None`:
/// no such shipment).
#[allow(clippy::type_complexity)]
fn purchase(
    s: &CarrierSimState,
    id: &str,
    rate_id: &str,
    tracking: &str,
    url: &str,
) -> Option<Result<(Value, String), (&'static str, &'static str)>> {
    let bought = s.update("id", id, |o| {
        if o["postage_label"].is_object() {
            return Err(("SHIPMENT.POSTAGE.EXISTS", "Shipment already has postage."));
        }
        let Some(rate) = o["rates"].as_array().and_then(|r| r.iter().find(|r| r["id"].as_str() == Some(rate_id))).cloned() else {
            return Err(("SHIPMENT.RATE.NOT_FOUND", "The rate could not be found."));
        };
        o["selected_rate"] = rate;
        o["tracking_code"] = json!(tracking);
        o["postage_label"] = json!({"object": "PostageLabel", "label_url": url, "label_file_type": "application/pdf"});
        o["status"] = json!("pre_transit");
        Ok((o.clone(), o["reference"].as_str().unwrap_or_default().to_string()))
    });
    if let Some(Ok((_, reference))) = &bought {
        s.control.count_created(reference);
    }
    bought
}

async fn pickup(State(s): State<Arc<CarrierSimState>>, Json(body): Json<Value>) -> Response {
    let p = &body["pickup"];
    let Some(shipment) = p["shipment"]["id"].as_str().and_then(|id| s.find("id", id)) else {
        return error(
            422,
            "PICKUP.SHIPMENT.REQUIRED",
            "A bought shipment is required.",
            json!([]),
        );
    };
    if !shipment["postage_label"].is_object()
        || p["min_datetime"].as_str().is_none()
        || p["max_datetime"].as_str().is_none()
        || !p["address"].is_object()
    {
        return error(
            422,
            "PICKUP.INVALID",
            "A bought shipment, an address and a time window are required.",
            json!([]),
        );
    }
    let id = format!("pickup_{}", s.next());
    let pickup = json!({"id": id, "object": "Pickup", "status": "unknown", "reference": p["reference"],
        "min_datetime": p["min_datetime"], "max_datetime": p["max_datetime"], "address": p["address"],
        "shipment_id": shipment["id"], "confirmation": null,
        "pickup_rates": [{"id": format!("pickuprate_{}", s.next()), "carrier": "USPS", "service": "NextDay", "rate": "0.00", "currency": "USD"}]});
    lock(&s.pickups).push(pickup.clone());
    respond(201, pickup)
}

async fn pickups(
    State(s): State<Arc<CarrierSimState>>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let pickups: Vec<Value> = lock(&s.pickups)
        .iter()
        .filter(|p| {
            q.get("reference")
                .is_none_or(|r| p["reference"].as_str() == Some(r))
        })
        .take(100)
        .cloned()
        .collect();
    respond(200, json!({"pickups": pickups, "has_more": false}))
}

async fn pickup_buy(
    State(s): State<Arc<CarrierSimState>>,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    let confirmation = format!("WTC{}", s.next());
    let mut pickups = lock(&s.pickups);
    let Some(p) = pickups.iter_mut().find(|p| p["id"].as_str() == Some(&id)) else {
        return error(
            404,
            "PICKUP.NOT_FOUND",
            "The requested resource could not be found.",
            json!([]),
        );
    };
    if body["carrier"].as_str().is_none() || body["service"].as_str().is_none() {
        return error(
            422,
            "PICKUP.RATE.REQUIRED",
            "carrier and service are required.",
            json!([]),
        );
    }
    if p["status"].as_str() == Some("scheduled") {
        return error(
            422,
            "PICKUP.ALREADY_SCHEDULED",
            "The pickup is already scheduled.",
            json!([]),
        );
    }
    p["status"] = json!("scheduled");
    p["confirmation"] = json!(confirmation);
    respond(200, p.clone())
}
