//! The review rule for orders read from free text (e-mail, fax): which facts an order must have
//! before it can go on, and whether an extraction is confident enough. Orders from structured
//! sources (marketplace APIs, EDI) carry no `extraction` and are not held.

use crate::model::CanonicalOrder;

/// The state an order waits in for a person.
pub const STATE_NEEDS_REVIEW: &str = crate::model::OrderState::NeedsReview.as_str();

/// Canonical paths of the facts every order needs to be fulfilled, that it lacks.
pub fn missing_required(order: &CanonicalOrder) -> Vec<String> {
    let mut missing = Vec::new();
    let blank = |s: &Option<String>| s.as_deref().is_none_or(|v| v.trim().is_empty());
    if blank(&order.customer.name) && blank(&order.customer.email) && blank(&order.customer.phone) {
        missing.push("customer.name".to_string());
    }
    match &order.ship_to {
        None => missing.push("ship_to".to_string()),
        Some(a) => {
            for (path, v) in [
                ("ship_to.line1", &a.line1),
                ("ship_to.city", &a.city),
                ("ship_to.country", &a.country),
            ] {
                if blank(v) {
                    missing.push(path.to_string());
                }
            }
        }
    }
    if order.lines.is_empty() {
        missing.push("lines".to_string());
    }
    for (i, l) in order.lines.iter().enumerate() {
        if blank(&l.sku) && blank(&l.name) {
            missing.push(format!("lines[{i}].sku"));
        }
        if l.quantity.is_zero() {
            missing.push(format!("lines[{i}].quantity"));
        }
    }
    missing
}

/// Why an extracted order must wait for a person, or `None` when it may go on: confidence
/// below the threshold, a required fact missing, or a fact in doubt (a failed cross-check or
/// competing readings, listed in `extraction.doubts`). The reason names each of them.
pub fn hold_reason(order: &CanonicalOrder, threshold: f64) -> Option<String> {
    let extraction = order.extraction.as_ref()?;
    let mut missing: Vec<String> = extraction.missing.clone();
    for m in missing_required(order) {
        if !missing.contains(&m) {
            missing.push(m);
        }
    }
    let mut why = Vec::new();
    if extraction.confidence < threshold {
        why.push(format!(
            "extraction confidence {:.2} is below {threshold:.2}",
            extraction.confidence
        ));
    }
    if !missing.is_empty() {
        why.push(format!("missing {}", missing.join(", ")));
    }
    if !extraction.doubts.is_empty() {
        why.push(format!("in doubt: {}", extraction.doubts.join("; ")));
    }
    (!why.is_empty()).then(|| why.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Extraction;

    fn order() -> CanonicalOrder {
        serde_json::from_value(serde_json::json!({
            "source": {"format": "email", "channel": "email", "external_id": "PO-1", "status": "open"},
            "placed_at": "2026-01-01T00:00:00Z", "currency": "USD",
            "customer": {"name": "A", "email": null, "phone": null},
            "ship_to": {"name": "A", "line1": "1 Main St", "city": "Austin", "region": "TX",
                        "postal_code": "78701", "country": "US"},
            "lines": [{"line_ref": "1", "sku": "X", "name": null, "quantity": 2, "unit_price": "1.00"}],
            "total": "2.00"
        }))
        .unwrap()
    }

    #[test]
    fn structured_orders_are_never_held() {
        let mut o = order();
        o.ship_to = None;
        assert_eq!(hold_reason(&o, 0.8), None);
        assert_eq!(missing_required(&o), vec!["ship_to"]);
    }

    #[test]
    fn low_confidence_or_missing_facts_hold_an_extracted_order() {
        let mut o = order();
        o.extraction = Some(Extraction {
            confidence: 0.95,
            missing: vec![],
            document: None,
            doubts: vec![],
        });
        assert_eq!(hold_reason(&o, 0.8), None);
        o.extraction = Some(Extraction {
            confidence: 0.5,
            missing: vec![],
            document: None,
            doubts: vec![],
        });
        assert!(hold_reason(&o, 0.8).unwrap().contains("below 0.80"));
        o.extraction = Some(Extraction {
            confidence: 0.95,
            missing: vec!["ship_to.postal_code".into()],
            document: None,
            doubts: vec![],
        });
        assert!(hold_reason(&o, 0.8)
            .unwrap()
            .contains("ship_to.postal_code"));
        o.extraction = Some(Extraction {
            confidence: 0.95,
            missing: vec![],
            document: None,
            doubts: vec![],
        });
        o.lines.clear();
        assert_eq!(hold_reason(&o, 0.8).unwrap(), "missing lines");
        o.extraction = Some(Extraction {
            confidence: 0.95,
            missing: vec![],
            document: None,
            doubts: vec!["total: the lines add up to 2.00, the stated total is 3.00".into()],
        });
        o.lines = order().lines;
        let why = hold_reason(&o, 0.8).unwrap();
        assert!(
            why.starts_with("in doubt: total: the lines add up"),
            "{why}"
        );
    }
}
