//! N2's baseline: `mappings/shopify.order.jq` written by hand in Rust, for a bare Shopify Order
//! (webhook body). Same input (the decoded JSON value), same output (a [`CanonicalOrder`]); the
//! suite checks both give equal orders before timing either.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::Value;

use ordergate::model::{
    Address, CanonicalOrder, Channel, Customer, OrderLine, SourceRef, SourceStatus,
};

/// Trimmed string, "" → None (the jq `nz`).
fn nz(v: &Value) -> Option<String> {
    let s = v.as_str()?.trim();
    (!s.is_empty()).then(|| s.to_string())
}

fn dec(v: &Value) -> Option<Decimal> {
    match v {
        Value::String(s) => Decimal::from_str(s.trim()).ok(),
        Value::Number(n) => Decimal::from_str(&n.to_string()).ok(),
        _ => None,
    }
}

/// The jq `dec_sum` of one field over an array: exact to 4 places.
fn dec_sum<'a>(items: impl Iterator<Item = &'a Value>) -> Decimal {
    items.filter_map(dec).sum::<Decimal>().round_dp(4)
}

fn arr(v: &Value) -> &[Value] {
    v.as_array().map_or(&[], Vec::as_slice)
}

fn address(a: &Value) -> Option<Address> {
    if a.is_null() {
        return None;
    }
    Some(Address {
        name: nz(&a["name"]),
        company: nz(&a["company"]),
        line1: nz(&a["address1"]),
        line2: nz(&a["address2"]),
        city: nz(&a["city"]),
        region: nz(&a["province_code"]).or_else(|| nz(&a["province"])),
        postal_code: nz(&a["zip"]),
        country: nz(&a["country_code"]),
        phone: nz(&a["phone"]),
    })
}

fn status(o: &Value) -> SourceStatus {
    let fin = o["financial_status"].as_str();
    if nz(&o["cancelled_at"]).is_some() {
        SourceStatus::Cancelled
    } else if fin == Some("refunded") {
        SourceStatus::Refunded
    } else if fin == Some("partially_refunded") {
        SourceStatus::PartiallyRefunded
    } else if o["fulfillment_status"].as_str() == Some("fulfilled") {
        SourceStatus::Fulfilled
    } else if fin == Some("pending") {
        SourceStatus::PendingPayment
    } else {
        SourceStatus::Open
    }
}

fn id_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Maps one Shopify Order; None when it is not one.
pub fn map(o: &Value) -> Option<CanonicalOrder> {
    let refunds = arr(&o["refunds"]);
    let refund_lines: Vec<&Value> = refunds
        .iter()
        .flat_map(|r| arr(&r["refund_line_items"]))
        .collect();
    let refund_amounts: Vec<&Value> = refunds
        .iter()
        .flat_map(|r| arr(&r["transactions"]))
        .filter(|t| t["kind"] == "refund" && t["status"] == "success")
        .map(|t| &t["amount"])
        .collect();
    let lines = arr(&o["line_items"])
        .iter()
        .map(|l| {
            let cancelled: Decimal = refund_lines
                .iter()
                .filter(|r| r["line_item_id"] == l["id"])
                .filter_map(|r| dec(&r["quantity"]))
                .sum();
            Some(OrderLine {
                line_ref: id_text(&l["id"]),
                sku: nz(&l["sku"]),
                name: nz(&l["name"]),
                spec: nz(&l["variant_title"]),
                quantity: dec(&l["quantity"])?.normalize(),
                cancelled_quantity: cancelled.normalize(),
                unit_price: dec(&l["price"]),
                discount: Some(dec_sum(
                    arr(&l["discount_allocations"]).iter().map(|d| &d["amount"]),
                )),
                tax: Some(dec_sum(arr(&l["tax_lines"]).iter().map(|t| &t["price"]))),
            })
        })
        .collect::<Option<Vec<_>>>()?;
    let word = |v: &Value, default: &str| v.as_str().unwrap_or(default).to_string();
    let placed_at: DateTime<Utc> = DateTime::parse_from_rfc3339(o["created_at"].as_str()?)
        .ok()?
        .with_timezone(&Utc);
    let billing = &o["billing_address"];
    Some(CanonicalOrder {
        order_id: None,
        source: SourceRef {
            connector: String::new(),
            format: "shopify".into(),
            channel: Channel::Marketplace,
            external_id: id_text(&o["id"]),
            external_number: nz(&o["name"]),
            status: status(o),
            raw_status: Some(format!(
                "{}/{}",
                word(&o["financial_status"], "unknown"),
                word(&o["fulfillment_status"], "unfulfilled")
            )),
        },
        placed_at,
        currency: nz(&o["currency"]),
        customer: Customer {
            name: nz(&billing["name"]),
            email: nz(&o["email"]),
            phone: nz(&o["phone"])
                .or_else(|| nz(&billing["phone"]))
                .or_else(|| nz(&o["customer"]["phone"]))
                .or_else(|| nz(&o["shipping_address"]["phone"])),
            company: nz(&billing["company"]),
        },
        ship_to: address(&o["shipping_address"]),
        bill_to: address(billing),
        lines,
        shipping_fee: Some(dec_sum(
            arr(&o["shipping_lines"]).iter().map(|s| &s["price"]),
        )),
        discount_total: dec(&o["total_discounts"]),
        tax_total: dec(&o["total_tax"]),
        prices_include_tax: o["taxes_included"] == Value::Bool(true),
        total: dec(&o["total_price"]),
        refunded_total: Some(if refund_amounts.is_empty() {
            Decimal::ZERO
        } else {
            dec_sum(refund_amounts.into_iter())
        }),
        requested_delivery: None,
        origin: None,
        notes: nz(&o["note"]),
        extraction: None,
    })
}
