//! Shopify Admin REST 2024-10 simulator: `GET /admin/api/{version}/orders.json` with
//! `X-Shopify-Access-Token`, `updated_at_min`, `status`, `order=updated_at asc`, `limit` (≤ 250)
//! and cursor paging through `page_info` in the `Link` header (a `page_info` request accepts
//! no other filters, as on Shopify); the leaky bucket (40 calls, 2/s) reported in
//! `X-Shopify-Shop-Api-Call-Limit` and enforced with 429 + `Retry-After`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, FixedOffset, Offset, Utc};
use serde_json::{json, Value};

use super::book::{
    decode_token, encode_token, html, json as respond, merge, window, with_header, SimOrder,
    SimState,
};
use super::data::money;
use super::Platform;

const BUCKET: f64 = 40.0;
const LEAK_PER_SEC: f64 = 2.0;

/// The routes.
pub fn routes() -> Router<Arc<SimState>> {
    Router::new().route("/admin/api/{version}/orders.json", get(orders))
}

/// An injected fault in Shopify's shape (503 is Shopify's HTML error page).
pub fn fault(status: u16, retry_after: f64) -> Response {
    match status {
        429 => with_header(
            respond(429, json!({"errors": "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service."})),
            "retry-after",
            format!("{retry_after:.1}"),
        ),
        503 => html(503, "<!DOCTYPE html><html><head><title>Service unavailable</title></head><body><h1>There was a problem loading this website</h1></body></html>"),
        _ => respond(status, json!({"errors": "Internal Server Error"})),
    }
}

fn shop_time(t: DateTime<Utc>) -> String {
    let offset = FixedOffset::west_opt(5 * 3600).unwrap_or_else(|| Utc.fix());
    t.with_timezone(&offset)
        .format("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

async fn orders(
    State(state): State<Arc<SimState>>,
    Path(version): Path<String>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let token = headers
        .get("x-shopify-access-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if token != Platform::Shopify.credentials()[0].1 {
        return respond(
            401,
            json!({"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}),
        );
    }
    // The leaky bucket.
    let level = {
        let mut b = state.bucket.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let leaked =
            now.duration_since(b.1).as_secs_f64() * LEAK_PER_SEC * state.settings.rate_scale;
        b.0 = (b.0 - leaked).max(0.0);
        b.1 = now;
        if b.0 + 1.0 > BUCKET {
            return fault(429, 2.0);
        }
        b.0 += 1.0;
        b.0.ceil() as u32
    };
    let limit: usize = match q.get("limit").map(|l| l.parse::<usize>()) {
        None => 50,
        Some(Ok(l)) if (1..=250).contains(&l) => l,
        Some(_) => {
            return respond(
                400,
                json!({"errors": {"limit": ["must be between 1 and 250"]}}),
            )
        }
    };
    state.list_request();
    let (from, after) = match q.get("page_info") {
        Some(info) => {
            if q.keys()
                .any(|k| k != "page_info" && k != "limit" && k != "fields")
            {
                return respond(
                    400,
                    json!({"errors": {"page_info": ["page_info cannot be combined with other filters than limit and fields"]}}),
                );
            }
            let Some(cursor) = decode_token(info) else {
                return respond(400, json!({"errors": {"page_info": ["Invalid value."]}}));
            };
            let from = cursor["updated_at_min"].as_str().and_then(parse);
            let last = cursor["last_value"]
                .as_i64()
                .and_then(DateTime::from_timestamp_millis);
            let id = cursor["last_id"].as_u64().unwrap_or(0);
            (from, last.map(|t| (t, id)))
        }
        None => {
            let from = match q.get("updated_at_min") {
                Some(s) => match parse(s) {
                    Some(t) => Some(t),
                    None => {
                        return respond(400, json!({"errors": {"updated_at_min": ["is invalid"]}}))
                    }
                },
                None => None,
            };
            (from, None)
        }
    };
    let all = window(state.orders(), from, false, after);
    let page: Vec<&SimOrder> = all.iter().take(limit).collect();
    let body = json!({"orders": page.iter().map(|o| render(o)).collect::<Vec<_>>()});
    let mut resp = respond(200, body);
    resp = with_header(resp, "x-shopify-shop-api-call-limit", format!("{level}/40"));
    resp = with_header(resp, "x-shopify-api-version", version.clone());
    if all.len() > limit {
        if let Some(last) = page.last() {
            let host = headers
                .get("host")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("127.0.0.1");
            let info = encode_token(&json!({
                "direction": "next",
                "last_id": last.id,
                "last_value": last.updated_at.timestamp_millis(),
                "updated_at_min": from.map(|t| t.to_rfc3339()),
            }));
            resp = with_header(
                resp,
                "link",
                format!("<http://{host}/admin/api/{version}/orders.json?limit={limit}&page_info={info}>; rel=\"next\""),
            );
        }
    }
    resp
}

fn parse(s: &str) -> Option<DateTime<Utc>> {
    crate::partner::definition::parse_time(s)
}

/// One order in Admin REST 2024-10 shape.
pub fn render(o: &SimOrder) -> Value {
    let f = &o.facts;
    let id = 5_512_300_000_000u64 + o.id;
    let name = format!("{} {}", f.customer.first, f.customer.last);
    let address = json!({
        "first_name": f.customer.first, "last_name": f.customer.last, "name": name,
        "company": null, "address1": f.address.line1, "address2": f.address.line2,
        "city": f.address.city, "province": f.address.region, "province_code": f.address.region_code,
        "zip": f.address.postal_code, "country": f.address.country_name,
        "country_code": f.address.country, "phone": f.customer.phone,
        "latitude": null, "longitude": null,
    });
    let lines: Vec<Value> = f
        .lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let tax = if i == 0 { f.tax_cents } else { 0 };
            json!({
                "id": id * 10 + i as u64, "admin_graphql_api_id": format!("gid://shopify/LineItem/{}", id * 10 + i as u64),
                "sku": l.sku, "name": l.name, "title": l.name, "variant_title": null,
                "quantity": l.quantity, "current_quantity": l.quantity, "fulfillable_quantity": l.quantity,
                "price": money(l.unit_cents), "total_discount": "0.00", "discount_allocations": [],
                "requires_shipping": true, "taxable": true, "gift_card": false,
                "vendor": "Sandbox Goods", "product_id": 8_000_000 + i as u64, "variant_id": 9_000_000 + i as u64,
                "fulfillment_status": null,
                "tax_lines": if tax > 0 { json!([{"price": money(tax), "rate": 0.08, "title": "Sales tax"}]) } else { json!([]) },
            })
        })
        .collect();
    let fulfilled = o.version % 2 == 1;
    merge(
        json!({
            "id": id,
            "admin_graphql_api_id": format!("gid://shopify/Order/{id}"),
            "name": format!("#{}", 1000 + o.id),
            "order_number": 1000 + o.id,
            "number": o.id,
            "email": f.customer.email,
            "contact_email": f.customer.email,
            "phone": null,
            "currency": f.currency,
            "presentment_currency": f.currency,
            "created_at": shop_time(o.created_at),
            "processed_at": shop_time(o.created_at),
            "updated_at": shop_time(o.updated_at),
            "cancelled_at": null,
            "cancel_reason": null,
            "closed_at": null,
            "confirmed": true,
            "financial_status": "paid",
            "fulfillment_status": if fulfilled { json!("fulfilled") } else { Value::Null },
            "source_name": "web",
            "tags": format!("sandbox, rev-{}", o.version),
            "note": f.note,
            "note_attributes": [],
        }),
        json!({
            "subtotal_price": money(f.subtotal_cents()),
            "total_line_items_price": money(f.subtotal_cents()),
            "total_discounts": "0.00",
            "total_tax": money(f.tax_cents),
            "total_price": money(f.total_cents()),
            "current_total_price": money(f.total_cents()),
            "taxes_included": false,
            "customer": {"id": 7_100_000 + o.id, "email": f.customer.email, "first_name": f.customer.first, "last_name": f.customer.last, "phone": f.customer.phone},
            "billing_address": address,
            "shipping_address": address,
            "line_items": lines,
            "shipping_lines": [{"id": id + 1, "title": "Standard", "code": "STANDARD", "price": money(f.shipping_cents), "source": "shopify", "discount_allocations": [], "tax_lines": []}],
            "discount_codes": [],
            "refunds": [],
            "fulfillments": [],
        }),
    )
}
