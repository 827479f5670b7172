//! WooCommerce REST v3 simulator: `GET /wp-json/wc/v3/orders` with HTTP Basic (consumer key and
//! secret), `page`/`per_page` (≤ 100), `modified_after` (strictly after, as WordPress date
//! queries are), `orderby=modified&order=asc`, `dates_are_gmt`; `X-WP-Total`,
//! `X-WP-TotalPages` and `Link` headers; a page past the end is an empty array.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::book::{html, json as respond, merge, window, with_header, SimOrder, SimState};
use super::data::money;
use super::Platform;

/// The routes.
pub fn routes() -> Router<Arc<SimState>> {
    Router::new().route("/wp-json/wc/v3/orders", get(orders))
}

/// An injected fault in WooCommerce's shape (503 is WordPress's maintenance page).
pub fn fault(status: u16, retry_after: f64) -> Response {
    match status {
        429 => with_header(
            respond(429, json!({"code": "rest_too_many_requests", "message": "Too many requests.", "data": {"status": 429}})),
            "retry-after",
            format!("{}", retry_after.ceil() as u64),
        ),
        503 => html(503, "<!DOCTYPE html><html><head><title>Maintenance</title></head><body><p>Briefly unavailable for scheduled maintenance. Check back in a minute.</p></body></html>"),
        _ => respond(status, json!({"code": "internal_server_error", "message": "There has been a critical error on this website.", "data": {"status": status}})),
    }
}

/// True when the request carries the sandbox's consumer key and secret.
pub fn basic_ok(headers: &HeaderMap, user: &str, pass: &str) -> bool {
    use base64::Engine;
    let Some(v) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let Some(b64) = v.strip_prefix("Basic ") else {
        return false;
    };
    base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .is_some_and(|s| s == format!("{user}:{pass}"))
}

fn param_error(param: &str, message: &str) -> Response {
    respond(
        400,
        json!({"code": "rest_invalid_param", "message": format!("Invalid parameter(s): {param}"), "data": {"status": 400, "params": {param: message}}}),
    )
}

async fn orders(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let creds = Platform::Woocommerce.credentials();
    if !basic_ok(&headers, creds[0].1, creds[1].1) {
        return respond(
            401,
            json!({"code": "woocommerce_rest_cannot_view", "message": "Sorry, you cannot list resources.", "data": {"status": 401}}),
        );
    }
    let per_page: usize = match q.get("per_page").map(|v| v.parse::<usize>()) {
        None => 10,
        Some(Ok(n)) if (1..=100).contains(&n) => n,
        Some(_) => {
            return param_error(
                "per_page",
                "per_page must be between 1 (inclusive) and 100 (inclusive)",
            )
        }
    };
    let page: usize = match q.get("page").map(|v| v.parse::<usize>()) {
        None => 1,
        Some(Ok(n)) if n >= 1 => n,
        Some(_) => return param_error("page", "page must be greater than or equal to 1"),
    };
    let from = match q.get("modified_after") {
        Some(s) => match crate::partner::definition::parse_time(s) {
            Some(t) => Some(t),
            None => return param_error("modified_after", "Invalid date."),
        },
        None => None,
    };
    if q.get("orderby").map(String::as_str) != Some("modified")
        || q.get("order").map(String::as_str) != Some("asc")
    {
        // The simulator only serves the order an incremental sync needs.
        return param_error(
            "orderby",
            "the sandbox serves orderby=modified&order=asc only",
        );
    }
    state.list_request();
    let all = window(state.orders(), from, true, None);
    let total = all.len();
    let pages = total.div_ceil(per_page);
    let slice: Vec<Value> = all
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(render)
        .collect();
    let mut resp = respond(200, Value::Array(slice));
    resp = with_header(resp, "x-wp-total", total.to_string());
    resp = with_header(resp, "x-wp-totalpages", pages.to_string());
    if page < pages {
        let host = headers
            .get("host")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("127.0.0.1");
        resp = with_header(
            resp,
            "link",
            format!(
                "<http://{host}/wp-json/wc/v3/orders?page={}>; rel=\"next\"",
                page + 1
            ),
        );
    }
    resp
}

fn local(t: DateTime<Utc>) -> String {
    (t + chrono::Duration::hours(1))
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string()
}

fn gmt(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S").to_string()
}

/// One order in REST v3 shape (store time zone UTC+1).
pub fn render(o: &SimOrder) -> Value {
    let f = &o.facts;
    let status = match o.version % 3 {
        0 => "processing",
        1 => "completed",
        _ => "on-hold",
    };
    let billing = json!({
        "first_name": f.customer.first, "last_name": f.customer.last, "company": "",
        "address_1": f.address.line1, "address_2": f.address.line2.unwrap_or(""),
        "city": f.address.city, "state": f.address.region_code, "postcode": f.address.postal_code,
        "country": f.address.country, "email": f.customer.email, "phone": f.customer.phone.clone().unwrap_or_default(),
    });
    let mut shipping = billing.clone();
    if let Some(m) = shipping.as_object_mut() {
        m.remove("email");
    }
    let lines: Vec<Value> = f
        .lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let total = l.unit_cents * i64::from(l.quantity);
            let tax = if i == 0 { f.tax_cents } else { 0 };
            json!({
                "id": o.id * 10 + i as u64, "name": l.name, "product_id": 300 + i as u64, "variation_id": 0,
                "quantity": l.quantity, "tax_class": "", "subtotal": money(total), "subtotal_tax": money(tax),
                "total": money(total), "total_tax": money(tax),
                "taxes": if tax > 0 { json!([{"id": 1, "total": money(tax), "subtotal": money(tax)}]) } else { json!([]) },
                "meta_data": [], "sku": l.sku, "price": l.unit_cents as f64 / 100.0,
                "image": {"id": "", "src": ""}, "parent_name": null,
            })
        })
        .collect();
    merge(
        json!({
            "id": o.id,
            "parent_id": 0,
            "status": status,
            "currency": f.currency,
            "version": "9.3.3",
            "prices_include_tax": false,
            "date_created": local(o.created_at),
            "date_modified": local(o.updated_at),
            "discount_total": "0.00",
            "discount_tax": "0.00",
            "shipping_total": money(f.shipping_cents),
            "shipping_tax": "0.00",
            "cart_tax": money(f.tax_cents),
            "total": money(f.total_cents()),
            "total_tax": money(f.tax_cents),
            "customer_id": 0,
            "order_key": format!("wc_order_{:013x}", o.id * 7919),
            "billing": billing,
            "shipping": shipping,
        }),
        json!({
            "payment_method": "stripe",
            "payment_method_title": "Credit card (Stripe)",
            "transaction_id": format!("pi_sandbox{:08}", o.id),
            "customer_ip_address": "203.0.113.10",
            "customer_user_agent": "Mozilla/5.0",
            "created_via": "checkout",
            "customer_note": f.note.unwrap_or(""),
            "date_completed": if status == "completed" { json!(local(o.updated_at)) } else { Value::Null },
            "date_paid": local(o.created_at),
            "cart_hash": "",
            "number": o.id.to_string(),
            "meta_data": [],
            "line_items": lines,
            "tax_lines": [{"id": o.id * 10 + 9, "rate_code": "US-TAX-1", "rate_id": 1, "label": "Tax", "compound": false, "tax_total": money(f.tax_cents), "shipping_tax_total": "0.00", "rate_percent": 8, "meta_data": []}],
            "shipping_lines": [{"id": o.id * 10 + 8, "method_title": "Flat rate", "method_id": "flat_rate", "instance_id": "1", "total": money(f.shipping_cents), "total_tax": "0.00", "taxes": [], "meta_data": []}],
            "fee_lines": [],
            "coupon_lines": [],
            "refunds": [],
            "payment_url": "",
            "is_editable": false,
            "needs_payment": false,
            "needs_processing": true,
            "date_created_gmt": gmt(o.created_at),
            "date_modified_gmt": gmt(o.updated_at),
            "date_completed_gmt": if status == "completed" { json!(gmt(o.updated_at)) } else { Value::Null },
            "date_paid_gmt": gmt(o.created_at),
            "currency_symbol": "$",
            "_links": {"self": [{"href": format!("/wp-json/wc/v3/orders/{}", o.id)}], "collection": [{"href": "/wp-json/wc/v3/orders"}]},
        }),
    )
}
