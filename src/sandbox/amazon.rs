//! Amazon SP-API Orders v0 simulator: the Login with Amazon token endpoint
//! (`POST /auth/o2/token`, refresh-token grant, client id and secret in the form), `GET
//! /orders/v0/orders` (`MarketplaceIds` required, `LastUpdatedAfter`, `MaxResultsPerPage` ≤ 100,
//! `NextToken` paging, which ignores the other filters) and `GET
//! /orders/v0/orders/{orderId}/orderItems`, with `x-amz-access-token`, the usage-plan header
//! `x-amzn-RateLimit-Limit` on every answer, each operation's usage plan enforced as a token
//! bucket (rate and burst as documented, rate times `rate_scale`) and `{"errors": [...]}` bodies
//! (403 Unauthorized for an expired token, 429 QuotaExceeded without `Retry-After`).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::book::{
    decode_token, encode_token, form_pairs, json as respond, merge, window, with_header, SimOrder,
    SimState,
};
use super::data::money;
use super::Platform;

/// The LWA token endpoint's path.
pub const TOKEN_PATH: &str = "/auth/o2/token";
/// getOrders' documented rate (requests per second).
const ORDERS_RATE: f64 = 0.0167;
/// getOrders' documented burst.
const ORDERS_BURST: f64 = 20.0;
/// getOrderItems' documented rate.
const ITEMS_RATE: f64 = 0.5;
/// getOrderItems' documented burst.
const ITEMS_BURST: f64 = 30.0;
const MARKETPLACE: &str = "ATVPDKIKX0DER";

/// The routes.
pub fn routes() -> Router<Arc<SimState>> {
    Router::new()
        .route(TOKEN_PATH, post(token))
        .route("/orders/v0/orders", get(orders))
        .route("/orders/v0/orders/{id}/orderItems", get(items))
}

fn error(status: u16, code: &str, message: &str) -> Response {
    respond(
        status,
        json!({"errors": [{"code": code, "message": message, "details": ""}]}),
    )
}

fn rate(resp: Response, rate: f64, scale: f64) -> Response {
    with_header(resp, "x-amzn-ratelimit-limit", format!("{}", rate * scale))
}

fn quota_exceeded(rate_per_sec: f64, scale: f64) -> Response {
    rate(
        error(
            429,
            "QuotaExceeded",
            "You exceeded your quota for the requested resource.",
        ),
        rate_per_sec,
        scale,
    )
}

/// An injected fault in SP-API's shape.
pub fn fault(status: u16, scale: f64) -> Response {
    match status {
        429 => quota_exceeded(ORDERS_RATE, scale),
        503 => error(
            503,
            "ServiceUnavailable",
            "Service is temporarily unavailable. Please try again later.",
        ),
        _ => error(
            status,
            "InternalFailure",
            "We encountered an internal error. Please try again.",
        ),
    }
}

async fn token(State(state): State<Arc<SimState>>, body: String) -> Response {
    let form = form_pairs(&body);
    let creds: HashMap<&str, &str> = Platform::Amazon.credentials().iter().copied().collect();
    let field = |k: &str| form.get(k).map(String::as_str);
    if field("grant_type") != Some("refresh_token") {
        return respond(
            400,
            json!({"error": "unsupported_grant_type", "error_description": "The authorization grant type is not supported by the authorization server"}),
        );
    }
    if field("client_id") != creds.get("client_id").copied()
        || field("client_secret") != creds.get("client_secret").copied()
    {
        return respond(
            401,
            json!({"error": "invalid_client", "error_description": "Client authentication failed"}),
        );
    }
    if field("refresh_token") != creds.get("refresh_token").copied() {
        return respond(
            400,
            json!({"error": "invalid_grant", "error_description": "The request has an invalid grant parameter : refresh_token"}),
        );
    }
    respond(
        200,
        json!({
            "access_token": state.issue_token(),
            "refresh_token": creds.get("refresh_token"),
            "token_type": "bearer",
            "expires_in": state.settings.token_ttl.as_secs(),
        }),
    )
}

fn authorized(state: &SimState, headers: &HeaderMap) -> bool {
    headers
        .get("x-amz-access-token")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| state.token_valid(t))
}

async fn orders(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let scale = state.settings.rate_scale;
    if !authorized(&state, &headers) {
        return rate(
            error(
                403,
                "Unauthorized",
                "Access to requested resource is denied.",
            ),
            ORDERS_RATE,
            scale,
        );
    }
    if !state.take_quota("getOrders", ORDERS_RATE * scale, ORDERS_BURST) {
        return quota_exceeded(ORDERS_RATE, scale);
    }
    if q.get("MarketplaceIds").map(String::as_str) != Some(MARKETPLACE) {
        return rate(
            error(
                400,
                "InvalidInput",
                "MarketplaceIds is required and must name a marketplace you participate in.",
            ),
            ORDERS_RATE,
            scale,
        );
    }
    let limit: usize = match q.get("MaxResultsPerPage").map(|v| v.parse::<usize>()) {
        None => 100,
        Some(Ok(n)) if (1..=100).contains(&n) => n,
        Some(_) => {
            return rate(
                error(
                    400,
                    "InvalidInput",
                    "MaxResultsPerPage must be between 1 and 100.",
                ),
                ORDERS_RATE,
                scale,
            )
        }
    };
    state.list_request();
    let (from, after, limit) = match q.get("NextToken") {
        Some(t) => {
            let Some(c) = decode_token(t) else {
                return rate(
                    error(400, "InvalidInput", "Invalid NextToken."),
                    ORDERS_RATE,
                    scale,
                );
            };
            let from = c["from"].as_i64().and_then(DateTime::from_timestamp_millis);
            let last = c["last"].as_i64().and_then(DateTime::from_timestamp_millis);
            let id = c["id"].as_u64().unwrap_or(0);
            (
                from,
                last.map(|l| (l, id)),
                c["limit"].as_u64().map_or(limit, |l| l as usize),
            )
        }
        None => {
            let Some(from) = q
                .get("LastUpdatedAfter")
                .and_then(|s| crate::partner::definition::parse_time(s))
            else {
                return rate(
                    error(
                        400,
                        "InvalidInput",
                        "Either CreatedAfter or LastUpdatedAfter must be specified.",
                    ),
                    ORDERS_RATE,
                    scale,
                );
            };
            (Some(from), None, limit)
        }
    };
    let all = window(state.orders(), from, false, after);
    let page: Vec<&SimOrder> = all.iter().take(limit).collect();
    let mut payload = json!({
        "Orders": page.iter().map(|o| render(o)).collect::<Vec<_>>(),
        "LastUpdatedBefore": (Utc::now() - chrono::Duration::minutes(2)).format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    });
    if all.len() > limit {
        if let Some(last) = page.last() {
            payload["NextToken"] = json!(encode_token(&json!({
                "from": from.map(|t| t.timestamp_millis()),
                "last": last.updated_at.timestamp_millis(),
                "id": last.id,
                "limit": limit,
            })));
        }
    }
    rate(
        respond(200, json!({"payload": payload})),
        ORDERS_RATE,
        scale,
    )
}

async fn items(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let scale = state.settings.rate_scale;
    if !authorized(&state, &headers) {
        return rate(
            error(
                403,
                "Unauthorized",
                "Access to requested resource is denied.",
            ),
            ITEMS_RATE,
            scale,
        );
    }
    if !state.take_quota("getOrderItems", ITEMS_RATE * scale, ITEMS_BURST) {
        return quota_exceeded(ITEMS_RATE, scale);
    }
    let Some(order) = state.orders().into_iter().find(|o| order_id(o) == id) else {
        return rate(
            error(404, "InvalidInput", "Invalid Input"),
            ITEMS_RATE,
            scale,
        );
    };
    let items = order_items(&order);
    rate(
        respond(
            200,
            json!({"payload": {"AmazonOrderId": id, "OrderItems": items}}),
        ),
        ITEMS_RATE,
        scale,
    )
}

/// The order's items as getOrderItems answers them (`OrderItems`).
pub fn order_items(order: &SimOrder) -> Vec<Value> {
    let f = &order.facts;
    f
        .lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let tax = if i == 0 { f.tax_cents } else { 0 };
            let ship = if i == 0 { f.shipping_cents } else { 0 };
            json!({
                "ASIN": format!("B0{:08}", 4000 + i as u64 + order.id % 97),
                "SellerSKU": l.sku,
                "OrderItemId": format!("{:014}", order.id * 100 + i as u64),
                "Title": l.name,
                "QuantityOrdered": l.quantity,
                "QuantityShipped": if shipped(order) { l.quantity } else { 0 },
                "ProductInfo": {"NumberOfItems": "1"},
                "ItemPrice": {"CurrencyCode": f.currency, "Amount": money(l.unit_cents * i64::from(l.quantity))},
                "ItemTax": {"CurrencyCode": f.currency, "Amount": money(tax)},
                "ShippingPrice": {"CurrencyCode": f.currency, "Amount": money(ship)},
                "ShippingTax": {"CurrencyCode": f.currency, "Amount": "0.00"},
                "PromotionDiscount": {"CurrencyCode": f.currency, "Amount": "0.00"},
                "PromotionDiscountTax": {"CurrencyCode": f.currency, "Amount": "0.00"},
                "IsGift": "false",
                "ConditionId": "New",
                "ConditionSubtypeId": "New",
                "IsTransparency": false,
                "SerialNumberRequired": false,
            })
        })
        .collect()
}

/// The order's id in Amazon's 3-7-7 shape.
pub fn order_id(o: &SimOrder) -> String {
    format!(
        "{:03}-{:07}-{:07}",
        100 + o.id % 900,
        (o.id * 7_919) % 10_000_000,
        o.id
    )
}

fn shipped(o: &SimOrder) -> bool {
    o.version % 2 == 1
}

fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// One order in Orders v0 shape.
pub fn render(o: &SimOrder) -> Value {
    let f = &o.facts;
    let qty: u32 = f.lines.iter().map(|l| l.quantity).sum();
    let shipped = shipped(o);
    merge(
        json!({
            "AmazonOrderId": order_id(o),
            "SellerOrderId": format!("SO-{}", o.id),
            "PurchaseDate": time(o.created_at),
            "LastUpdateDate": time(o.updated_at),
            "OrderStatus": if shipped { "Shipped" } else { "Unshipped" },
            "FulfillmentChannel": "MFN",
            "SalesChannel": "Amazon.com",
            "ShipServiceLevel": "Std US D2D Dom",
            "OrderTotal": {"CurrencyCode": f.currency, "Amount": money(f.total_cents())},
            "NumberOfItemsShipped": if shipped { qty } else { 0 },
            "NumberOfItemsUnshipped": if shipped { 0 } else { qty },
            "PaymentMethod": "Other",
            "PaymentMethodDetails": ["Standard"],
            "MarketplaceId": MARKETPLACE,
            "ShipmentServiceLevelCategory": "Standard",
            "OrderType": "StandardOrder",
            "EarliestShipDate": time(o.created_at + chrono::Duration::days(1)),
            "LatestShipDate": time(o.created_at + chrono::Duration::days(3)),
        }),
        json!({
            "IsBusinessOrder": false,
            "IsPrime": o.id.is_multiple_of(3),
            "IsPremiumOrder": false,
            "IsGlobalExpressEnabled": false,
            "IsReplacementOrder": false,
            "IsSoldByAB": false,
            "IsISPU": false,
            "IsAccessPointOrder": false,
            "HasRegulatedItems": false,
            "ShippingAddress": {
                "Name": format!("{} {}", f.customer.first, f.customer.last),
                "AddressLine1": f.address.line1,
                "AddressLine2": f.address.line2,
                "City": f.address.city,
                "StateOrRegion": f.address.region_code,
                "PostalCode": f.address.postal_code,
                "CountryCode": f.address.country,
                "Phone": f.customer.phone,
                "AddressType": "Residential",
            },
            "BuyerInfo": {"BuyerEmail": format!("{:016x}@marketplace.amazon.com", o.id * 104_729)},
        }),
    )
}
