//! eBay Sell Fulfillment v1 simulator: the OAuth2 token endpoint (`POST
//! /identity/v1/oauth2/token`, refresh-token grant, client credentials in HTTP Basic) and `GET
//! /sell/fulfillment/v1/order` with a bearer token, `filter=lastmodifieddate:[FROM..]`,
//! `limit` (≤ 200) and `offset`; newest-created orders first; `total`, `next` and `prev` in the
//! body; `{"errors": [{"errorId", "domain", "category", "message"}]}` bodies.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::book::{form_pairs, json as respond, merge, window, SimOrder, SimState};
use super::data::money;
use super::woocommerce::basic_ok;
use super::Platform;

/// The OAuth2 token endpoint's path.
pub const TOKEN_PATH: &str = "/identity/v1/oauth2/token";

/// The routes.
pub fn routes() -> Router<Arc<SimState>> {
    Router::new()
        .route(TOKEN_PATH, post(token))
        .route("/sell/fulfillment/v1/order", get(orders))
}

fn error(status: u16, id: u32, domain: &str, category: &str, message: &str) -> Response {
    respond(
        status,
        json!({"errors": [{"errorId": id, "domain": domain, "category": category, "message": message}]}),
    )
}

/// An injected fault in eBay's shape.
pub fn fault(status: u16) -> Response {
    match status {
        429 => error(429, 2001, "ACCESS", "REQUEST", "Too many requests. The request limit has been reached for the resource."),
        _ => error(status, 2003, "ACCESS", "APPLICATION", "There was a problem with an eBay internal system or process. Contact eBay developer support for assistance."),
    }
}

async fn token(State(state): State<Arc<SimState>>, headers: HeaderMap, body: String) -> Response {
    let creds: HashMap<&str, &str> = Platform::Ebay.credentials().iter().copied().collect();
    let form = form_pairs(&body);
    if !basic_ok(&headers, creds["client_id"], creds["client_secret"]) {
        return respond(
            401,
            json!({"error": "invalid_client", "error_description": "client authentication failed"}),
        );
    }
    if form.get("grant_type").map(String::as_str) != Some("refresh_token") {
        return respond(
            400,
            json!({"error": "unsupported_grant_type", "error_description": "grant type in request is not supported by the authorization server"}),
        );
    }
    if form.get("refresh_token").map(String::as_str) != Some(creds["refresh_token"]) {
        return respond(
            400,
            json!({"error": "invalid_grant", "error_description": "the provided authorization refresh token is invalid or was issued to another client"}),
        );
    }
    respond(
        200,
        json!({
            "access_token": state.issue_token(),
            "expires_in": state.settings.token_ttl.as_secs(),
            "token_type": "User Access Token",
        }),
    )
}

fn parse_filter(filter: &str) -> Option<DateTime<Utc>> {
    let inner = filter
        .strip_prefix("lastmodifieddate:[")?
        .strip_suffix(']')?;
    let from = inner.split("..").next()?;
    crate::partner::definition::parse_time(from)
}

async fn orders(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if !token.is_some_and(|t| state.token_valid(t)) {
        return error(401, 1001, "OAuth", "REQUEST", "Invalid access token");
    }
    let limit: usize = match q.get("limit").map(|v| v.parse::<usize>()) {
        None => 50,
        Some(Ok(n)) if (1..=200).contains(&n) => n,
        Some(_) => {
            return error(
                400,
                30700,
                "API_FULFILLMENT",
                "REQUEST",
                "Invalid limit. Supported ranges 1 - 200.",
            )
        }
    };
    let offset: usize = match q.get("offset").map(|v| v.parse::<usize>()) {
        None => 0,
        Some(Ok(n)) => n,
        Some(_) => return error(400, 30800, "API_FULFILLMENT", "REQUEST", "Invalid offset."),
    };
    let from = match q.get("filter") {
        Some(f) => match parse_filter(f) {
            Some(t) => Some(t),
            None => return error(400, 30850, "API_FULFILLMENT", "REQUEST", "Invalid filter."),
        },
        None => None,
    };
    state.list_request();
    let mut all = window(state.orders(), from, false, None);
    all.sort_by_key(|o| std::cmp::Reverse((o.created_at, o.id)));
    let total = all.len();
    let page: Vec<Value> = all.iter().skip(offset).take(limit).map(render).collect();
    let host = headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1");
    let href =
        |off: usize| format!("http://{host}/sell/fulfillment/v1/order?limit={limit}&offset={off}");
    let mut body = json!({"href": href(offset), "total": total, "limit": limit, "offset": offset, "orders": page});
    if offset + limit < total {
        body["next"] = json!(href(offset + limit));
    }
    if offset > 0 {
        body["prev"] = json!(href(offset.saturating_sub(limit)));
    }
    respond(200, body)
}

fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

fn amount(cents: i64, currency: &str) -> Value {
    json!({"value": money(cents), "currency": currency})
}

/// The order's id in eBay's `NN-NNNNN-NNNNN` shape.
pub fn order_id(o: &SimOrder) -> String {
    format!(
        "{:02}-{:05}-{:05}",
        10 + o.id % 90,
        (o.id * 31) % 100_000,
        o.id % 100_000
    )
}

/// One order in Fulfillment v1 shape.
pub fn render(o: &SimOrder) -> Value {
    let f = &o.facts;
    let c = f.currency;
    let order_id = order_id(o);
    let fulfilled = o.version % 2 == 1;
    let contact = json!({
        "addressLine1": f.address.line1, "addressLine2": f.address.line2, "city": f.address.city,
        "stateOrProvince": f.address.region_code, "postalCode": f.address.postal_code,
        "countryCode": f.address.country,
    });
    let full_name = format!("{} {}", f.customer.first, f.customer.last);
    let lines: Vec<Value> = f
        .lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let cost = l.unit_cents * i64::from(l.quantity);
            let tax = if i == 0 { f.tax_cents } else { 0 };
            let ship = if i == 0 { f.shipping_cents } else { 0 };
            json!({
                "lineItemId": format!("{}", 10_000_000_000u64 + o.id * 10 + i as u64),
                "legacyItemId": format!("{}", 110_000_000_000u64 + i as u64),
                "legacyVariationId": null,
                "sku": l.sku,
                "title": l.name,
                "lineItemCost": amount(cost, c),
                "quantity": l.quantity,
                "soldFormat": "FIXED_PRICE",
                "listingMarketplaceId": "EBAY_US",
                "purchaseMarketplaceId": "EBAY_US",
                "lineItemFulfillmentStatus": if fulfilled { "FULFILLED" } else { "NOT_STARTED" },
                "total": amount(cost + tax + ship, c),
                "deliveryCost": {"shippingCost": amount(ship, c)},
                "appliedPromotions": [],
                "taxes": if tax > 0 { json!([{"amount": amount(tax, c), "taxType": "STATE_SALES_TAX"}]) } else { json!([]) },
                "properties": {"buyerProtection": true},
                "lineItemFulfillmentInstructions": {"shipByDate": time(o.created_at + chrono::Duration::days(3)), "guaranteedDelivery": false},
            })
        })
        .collect();
    merge(
        json!({
            "orderId": order_id,
            "legacyOrderId": format!("{}-{}", 110_000_000_000u64 + o.id, 2_000_000_000_000u64 + o.id),
            "creationDate": time(o.created_at),
            "lastModifiedDate": time(o.updated_at),
            "orderFulfillmentStatus": if fulfilled { "FULFILLED" } else { "NOT_STARTED" },
            "orderPaymentStatus": "PAID",
            "sellerId": "sandbox_seller",
            "buyer": {
                "username": format!("buyer_{:06}", o.id * 13 % 1_000_000),
                "taxAddress": {"stateOrProvince": f.address.region_code, "postalCode": f.address.postal_code, "countryCode": f.address.country},
                "buyerRegistrationAddress": {"fullName": full_name, "contactAddress": contact, "email": f.customer.email, "primaryPhone": {"phoneNumber": f.customer.phone}},
            },
            "pricingSummary": {
                "priceSubtotal": amount(f.subtotal_cents(), c),
                "deliveryCost": amount(f.shipping_cents, c),
                "tax": amount(f.tax_cents, c),
                "total": amount(f.total_cents(), c),
            },
        }),
        json!({
            "cancelStatus": {"cancelState": "NONE_REQUESTED", "cancelRequests": []},
            "paymentSummary": {
                "totalDueSeller": amount(f.total_cents(), c),
                "refunds": [],
                "payments": [{"paymentMethod": "EBAY", "paymentReferenceId": format!("PAY{:010}", o.id), "paymentDate": time(o.created_at), "amount": amount(f.total_cents(), c), "paymentStatus": "PAID"}],
            },
            "fulfillmentStartInstructions": [{
                "fulfillmentInstructionsType": "SHIP_TO",
                "minEstimatedDeliveryDate": time(o.created_at + chrono::Duration::days(4)),
                "maxEstimatedDeliveryDate": time(o.created_at + chrono::Duration::days(8)),
                "ebaySupportedFulfillment": false,
                "shippingStep": {
                    "shipTo": {"fullName": full_name, "contactAddress": contact, "primaryPhone": {"phoneNumber": f.customer.phone}, "email": f.customer.email},
                    "shippingCarrierCode": "USPS",
                    "shippingServiceCode": "USPSPriority",
                },
            }],
            "fulfillmentHrefs": [],
            "lineItems": lines,
            "buyerCheckoutNotes": f.note,
            "salesRecordReference": format!("{}", 1000 + o.id),
            "totalFeeBasisAmount": amount(f.total_cents(), c),
            "totalMarketplaceFee": amount(f.total_cents() * 13 / 100, c),
        }),
    )
}
