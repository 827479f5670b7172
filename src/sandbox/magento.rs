//! Magento 2 REST simulator: `GET /rest/default/V1/orders` (and `/rest/V1/orders`) with an
//! integration bearer token and `searchCriteria` — one `updated_at` filter with
//! `gteq`/`gt`/`from`, `sortOrders` by `updated_at`, `pageSize`, `currentPage` — answering
//! `{"items", "search_criteria", "total_count"}`. As Magento does, a page past the end answers
//! the last page again.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::book::{html, json as respond, window, with_header, SimOrder, SimState};
use super::data::money;
use super::Platform;

/// The routes.
pub fn routes() -> Router<Arc<SimState>> {
    Router::new()
        .route("/rest/default/V1/orders", get(orders))
        .route("/rest/V1/orders", get(orders))
}

/// An injected fault in Magento's shape (503 is its maintenance page).
pub fn fault(status: u16, retry_after: f64) -> Response {
    match status {
        429 => with_header(
            respond(429, json!({"message": "Too Many Requests"})),
            "retry-after",
            format!("{}", retry_after.ceil() as u64),
        ),
        503 => html(503, "<!doctype html><html><head><title>Error 503: Service Unavailable</title></head><body><h1>Service Temporarily Unavailable</h1><p>The server is temporarily unable to service your request due to maintenance downtime.</p></body></html>"),
        _ => respond(status, json!({"message": "Internal Error. Details are available in Magento log file. Report ID: webapi-sandbox"})),
    }
}

async fn orders(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let expected = format!("Bearer {}", Platform::Magento.credentials()[0].1);
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return respond(
            401,
            json!({"message": "The consumer isn't authorized to access %resources.", "parameters": {"resources": "Magento_Sales::actions_view"}}),
        );
    }
    let get = |k: &str| q.get(k).map(String::as_str);
    let page_size: usize = get("searchCriteria[pageSize]")
        .and_then(|v| v.parse().ok())
        .unwrap_or(20)
        .max(1);
    let current: usize = get("searchCriteria[currentPage]")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .max(1);
    let f = "searchCriteria[filter_groups][0][filters][0]";
    let (from, strict) = match get(&format!("{f}[field]")) {
        Some("updated_at") => {
            let Some(t) =
                get(&format!("{f}[value]")).and_then(crate::partner::definition::parse_time)
            else {
                return respond(
                    400,
                    json!({"message": "Invalid value of \"%value\" provided for the %fieldName field.", "parameters": {"fieldName": "updated_at"}}),
                );
            };
            match get(&format!("{f}[condition_type]")).unwrap_or("eq") {
                "gteq" | "from" => (Some(t), false),
                "gt" => (Some(t), true),
                other => {
                    return respond(
                        400,
                        json!({"message": format!("The sandbox supports gteq, gt and from on updated_at, not {other}.")}),
                    )
                }
            }
        }
        None => (None, false),
        // The push-back's look-up of an order's entity_id by its increment id.
        Some("increment_id") if get(&format!("{f}[condition_type]")).unwrap_or("eq") == "eq" => {
            return super::pushback::magento_by_increment_id(
                &state,
                get(&format!("{f}[value]")).unwrap_or(""),
            );
        }
        Some(other) => {
            return respond(
                400,
                json!({"message": format!("The sandbox filters on updated_at only, not {other}.")}),
            )
        }
    };
    if get("searchCriteria[sortOrders][0][field]") != Some("updated_at")
        || get("searchCriteria[sortOrders][0][direction]") != Some("ASC")
    {
        return respond(
            400,
            json!({"message": "The sandbox serves sortOrders updated_at ASC only."}),
        );
    }
    state.list_request();
    let all = window(state.orders(), from, strict, None);
    let total = all.len();
    let last_page = total.div_ceil(page_size).max(1);
    // Magento answers a page past the end with the last page.
    let page = current.min(last_page);
    let items: Vec<Value> = all
        .iter()
        .skip((page - 1) * page_size)
        .take(page_size)
        .map(render)
        .collect();
    let mut criteria = serde_json::Map::new();
    criteria.insert("page_size".into(), json!(page_size));
    criteria.insert("current_page".into(), json!(current));
    if let Some(t) = from {
        criteria.insert("filter_groups".into(), json!([{"filters": [{"field": "updated_at", "value": time(t), "condition_type": if strict { "gt" } else { "gteq" }}]}]));
    }
    criteria.insert(
        "sort_orders".into(),
        json!([{"field": "updated_at", "direction": "ASC"}]),
    );
    respond(
        200,
        json!({"items": items, "search_criteria": criteria, "total_count": total}),
    )
}

fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// One order in the `salesOrderRepositoryV1` shape.
pub fn render(o: &SimOrder) -> Value {
    let f = &o.facts;
    let (state, status) = match o.version % 3 {
        0 => ("processing", "processing"),
        1 => ("complete", "complete"),
        _ => ("holded", "holded"),
    };
    let mut street = vec![f.address.line1.clone()];
    if let Some(l2) = f.address.line2 {
        street.push(l2.to_string());
    }
    let address = |kind: &str| {
        json!({
            "address_type": kind, "entity_id": o.id * 2 + u64::from(kind == "shipping"), "parent_id": o.id,
            "firstname": f.customer.first, "lastname": f.customer.last, "company": null,
            "street": street, "city": f.address.city, "region": f.address.region, "region_code": f.address.region_code,
            "postcode": f.address.postal_code, "country_id": f.address.country,
            "telephone": f.customer.phone.clone().unwrap_or_else(|| "0000000000".into()), "email": f.customer.email,
        })
    };
    let items: Vec<Value> = f
        .lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let row = l.unit_cents * i64::from(l.quantity);
            let tax = if i == 0 { f.tax_cents } else { 0 };
            json!({
                "item_id": o.id * 10 + i as u64, "order_id": o.id, "quote_item_id": o.id * 10 + i as u64,
                "sku": l.sku, "name": l.name, "product_type": "simple", "product_id": 2000 + i as u64,
                "qty_ordered": l.quantity, "qty_invoiced": l.quantity, "qty_shipped": if state == "complete" { l.quantity } else { 0 },
                "qty_canceled": 0, "qty_refunded": 0,
                "price": l.unit_cents as f64 / 100.0, "base_price": l.unit_cents as f64 / 100.0, "original_price": l.unit_cents as f64 / 100.0,
                "row_total": row as f64 / 100.0, "base_row_total": row as f64 / 100.0,
                "tax_amount": tax as f64 / 100.0, "tax_percent": if tax > 0 { 8 } else { 0 },
                "discount_amount": 0, "weight": 0.5, "is_virtual": 0,
                "created_at": time(o.created_at), "updated_at": time(o.updated_at),
                "store_id": 1,
            })
        })
        .collect();
    let qty: u32 = f.lines.iter().map(|l| l.quantity).sum();
    let mut order = json!({
        "entity_id": o.id,
        "increment_id": format!("{:09}", o.id),
        "state": state,
        "status": status,
        "store_id": 1,
        "store_name": "Main Website\nMain Website Store\nDefault Store View",
        "created_at": time(o.created_at),
        "updated_at": time(o.updated_at),
        "customer_email": f.customer.email,
        "customer_firstname": f.customer.first,
        "customer_lastname": f.customer.last,
        "customer_is_guest": 1,
        "customer_note": f.note,
        "base_currency_code": f.currency,
        "order_currency_code": f.currency,
        "global_currency_code": f.currency,
        "store_currency_code": f.currency,
        "subtotal": f.subtotal_cents() as f64 / 100.0,
        "shipping_amount": f.shipping_cents as f64 / 100.0,
        "tax_amount": f.tax_cents as f64 / 100.0,
        "discount_amount": 0,
        "grand_total": f.total_cents() as f64 / 100.0,
        "base_grand_total": f.total_cents() as f64 / 100.0,
        "total_paid": f.total_cents() as f64 / 100.0,
    });
    let more = json!({
        "total_qty_ordered": qty,
        "total_item_count": f.lines.len(),
        "shipping_description": "Flat Rate - Fixed",
        "weight": 0.5 * f64::from(qty),
        "items": items,
        "billing_address": address("billing"),
        "payment": {"method": "checkmo", "amount_ordered": f.total_cents() as f64 / 100.0, "additional_information": ["Check / Money order"]},
        "status_histories": [],
        "extension_attributes": {
            "shipping_assignments": [{
                "shipping": {"address": address("shipping"), "method": "flatrate_flatrate", "total": {"shipping_amount": money(f.shipping_cents), "base_shipping_amount": money(f.shipping_cents)}},
                "items": [],
            }],
        },
    });
    if let (Some(a), Value::Object(b)) = (order.as_object_mut(), more) {
        a.extend(b);
    }
    order
}
