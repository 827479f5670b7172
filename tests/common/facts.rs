//! Checks the facts of a sample's `expected.json` (samples/README.md) against normalized orders.
//!
//! Comparison rules: money as numbers ("19.9" = "19.90"), times as instants, strings exactly;
//! `source` is `source.format`, `status_hint` is `source.status`. A list page's expected.json
//! describes its first order.

use chrono::{DateTime, Utc};
use ordergate::model::CanonicalOrder;
use rust_decimal::Decimal;
use serde_json::Value;
use std::path::Path;
use std::str::FromStr;

/// Compares `expected.json` in `case_dir` with `orders[0]`; returns every mismatch.
pub fn check_order_facts(case_dir: &Path, orders: &[CanonicalOrder]) -> Vec<String> {
    let expected = read_expected(case_dir);
    let Some(order) = orders.first() else {
        return vec!["no order was produced".into()];
    };
    let got = serde_json::to_value(order).expect("an order serializes");
    let mut errs = Vec::new();
    let Value::Object(facts) = &expected else {
        return vec!["expected.json is not an object".into()];
    };
    for (key, want) in facts {
        match key.as_str() {
            "source" => cmp_str(&mut errs, key, want, &got["source"]["format"]),
            "status_hint" => cmp_str(&mut errs, key, want, &got["source"]["status"]),
            "external_id" => cmp_str(&mut errs, key, want, &got["source"]["external_id"]),
            "currency" => cmp_str(&mut errs, key, want, &got[key.as_str()]),
            "placed_at" => cmp_time(&mut errs, key, want, &got[key.as_str()]),
            "total" => cmp_money(&mut errs, key, want, &got[key.as_str()]),
            "customer" | "ship_to" => cmp_object(&mut errs, key, want, &got[key.as_str()]),
            "lines" => {
                let (Value::Array(want_lines), Value::Array(got_lines)) = (want, &got["lines"])
                else {
                    errs.push(format!("lines: expected {want}, got {}", got["lines"]));
                    continue;
                };
                if want_lines.len() != got_lines.len() {
                    errs.push(format!(
                        "lines: expected {} lines, got {}",
                        want_lines.len(),
                        got_lines.len()
                    ));
                }
                for (i, (w, g)) in want_lines.iter().zip(got_lines).enumerate() {
                    let Value::Object(w) = w else { continue };
                    for (k, wv) in w {
                        let p = format!("lines[{i}].{k}");
                        match k.as_str() {
                            "unit_price" => cmp_money(&mut errs, &p, wv, &g[k.as_str()]),
                            "quantity" => cmp_money(&mut errs, &p, wv, &g[k.as_str()]),
                            _ => cmp_str(&mut errs, &p, wv, &g[k.as_str()]),
                        }
                    }
                }
            }
            other => errs.push(format!("{other}: fact not understood by the checker")),
        }
    }
    errs
}

fn cmp_object(errs: &mut Vec<String>, key: &str, want: &Value, got: &Value) {
    match want {
        Value::Object(w) => {
            for (k, wv) in w {
                cmp_str(
                    errs,
                    &format!("{key}.{k}"),
                    wv,
                    got.get(k).unwrap_or(&Value::Null),
                );
            }
        }
        _ => cmp_str(errs, key, want, got),
    }
}

fn cmp_str(errs: &mut Vec<String>, key: &str, want: &Value, got: &Value) {
    if want != got {
        errs.push(format!("{key}: expected {want}, got {got}"));
    }
}

fn decimal(v: &Value) -> Option<Decimal> {
    let text = match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    Decimal::from_str(&text).ok()
}

fn cmp_money(errs: &mut Vec<String>, key: &str, want: &Value, got: &Value) {
    if want.is_null() && got.is_null() {
        return;
    }
    match (decimal(want), decimal(got)) {
        (Some(w), Some(g)) if w == g => {}
        _ => errs.push(format!("{key}: expected {want}, got {got}")),
    }
}

fn cmp_time(errs: &mut Vec<String>, key: &str, want: &Value, got: &Value) {
    let parse = |v: &Value| {
        v.as_str()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.with_timezone(&Utc))
    };
    match (parse(want), parse(got)) {
        (Some(w), Some(g)) if w == g => {}
        _ => errs.push(format!("{key}: expected {want}, got {got}")),
    }
}

/// The tracking samples: (scheme, case folder, callback body as received).
pub const TRACKING_SAMPLES: [(&str, &str, &str); 6] = [
    (
        "easypost",
        "easypost-tracker-updated-usps-in-transit",
        "event.json",
    ),
    ("shippo", "shippo-track-updated-ups-transit", "webhook.json"),
    (
        "aftership",
        "aftership-tracking-update-fedex-out-for-delivery",
        "webhook.json",
    ),
    (
        "17track",
        "17track-tracking-updated-usps-in-transit",
        "webhook.json",
    ),
    (
        "kuaidi100",
        "kuaidi100-push-yuantong-in-transit",
        "body.form",
    ),
    ("sf-express", "sf-express-route-push-json", "body.json"),
];

/// A case's `expected.json`.
fn read_expected(case_dir: &Path) -> Value {
    let path = case_dir.join("expected.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Compares a tracking sample's `expected.json` in `case_dir` with `updates[0]` normalized from
/// scheme `format` (samples/README.md: `carrier` is the canonical `carrier_name`, `source` the
/// format, `events_count` the number of events); returns every mismatch.
pub fn check_tracking_facts(
    case_dir: &Path,
    format: &str,
    updates: &[ordergate::model::TrackingUpdate],
) -> Vec<String> {
    let expected = read_expected(case_dir);
    let Some(update) = updates.first() else {
        return vec!["no tracking update was produced".into()];
    };
    let got = serde_json::to_value(update).expect("an update serializes");
    let Value::Object(facts) = &expected else {
        return vec!["expected.json is not an object".into()];
    };
    let mut errs = Vec::new();
    for (key, want) in facts {
        match key.as_str() {
            "source" => cmp_str(&mut errs, key, want, &Value::from(format)),
            "carrier" => cmp_str(&mut errs, key, want, &got["carrier_name"]),
            "events_count" => cmp_str(&mut errs, key, want, &Value::from(update.events.len())),
            "occurred_at" => cmp_time(&mut errs, key, want, &got[key.as_str()]),
            "tracking_number" | "status" | "location" => {
                cmp_str(&mut errs, key, want, &got[key.as_str()])
            }
            other => errs.push(format!("{other}: fact not understood by the checker")),
        }
    }
    errs
}
