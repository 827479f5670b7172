//! Change and cancel, state-aware, written inside a caller's transaction so the API
//! ([`super::change_order`], [`super::cancel_order`]) and the source (`order.updated`, the
//! change stage) go the same way:
//!
//! * before fulfilment is requested (`received`, `needs_review`, `needs_info`, `approved`,
//!   `allocated`, `backordered`): a cancel cancels (`order.cancelled`); a change is applied and
//!   the order resubmitted for review (`order.changed` + `order.received`);
//! * at the warehouse (`fulfilment_requested`, `packed`): the warehouse is asked
//!   (`order.change_requested`; the fulfil stage answers with `order.changed`,
//!   `order.cancelled` or `order.change_refused`), the stored order is left as it is;
//! * after shipment: a cancel becomes a return (`return_requested`, `order.cancelled` with
//!   `return_requested`); a change is refused;
//! * rejected, cancelled, returned: refused.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sqlx::AnyConnection;

use super::ActionError;
use crate::model::events::OrderChange;
use crate::model::{CanonicalOrder, Envelope, EventType, OrderState, Trigger};
use crate::store::{Store, TransitionError};

/// What a change or cancel did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeOutcome {
    /// Applied before fulfilment: the order is reviewed again.
    Changed,
    /// Cancelled before it shipped.
    Cancelled,
    /// Asked of the warehouse; its answer comes as an event.
    Requested,
    /// Shipped already: a return was requested.
    ReturnRequested,
}

/// Where in its life an order is, as far as a change is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Fulfilment not requested yet: applied here.
    BeforeFulfilment,
    /// At the warehouse: asked of it.
    AtWarehouse,
    /// Left the warehouse.
    Shipped,
    /// Nothing more happens to it.
    Closed,
}

/// The phase of a state.
pub fn phase(state: OrderState) -> Phase {
    use OrderState as S;
    match state {
        S::Received
        | S::NeedsReview
        | S::NeedsInfo
        | S::Approved
        | S::Allocated
        | S::Backordered => Phase::BeforeFulfilment,
        S::FulfilmentRequested | S::Packed => Phase::AtWarehouse,
        S::Shipped | S::InTransit | S::Delivered => Phase::Shipped,
        S::Rejected | S::Cancelled | S::ReturnRequested | S::Returned => Phase::Closed,
    }
}

/// The order's state inside the transaction, and its content hash.
async fn current(conn: &mut AnyConnection, id: &str) -> Result<(OrderState, String), ActionError> {
    let (state, hash) = Store::order_version(conn, id)
        .await?
        .ok_or_else(|| ActionError::NotFound(id.to_string()))?;
    let state = OrderState::parse(&state).ok_or_else(|| {
        ActionError::Conflict(format!("order {id} is in an unknown state {state}"))
    })?;
    Ok((state, hash))
}

fn event(kind: &str, connector: &str, change: &OrderChange) -> Envelope {
    let payload = serde_json::to_value(change).unwrap_or(Value::Null);
    Envelope::new(kind, connector.to_string(), payload).with_order(&change.order_id)
}

fn transition_error(e: TransitionError) -> ActionError {
    match e {
        TransitionError::Store(e) => ActionError::Store(e),
        TransitionError::NotFound(id) => ActionError::NotFound(id),
        other => ActionError::Conflict(other.to_string()),
    }
}

/// Writes a cancel of `change.order_id` as its state now allows (`change.state` is set to it);
/// returns what happened and the events to publish once the transaction commits.
pub async fn write_cancel(
    conn: &mut AnyConnection,
    change: &mut OrderChange,
    connector: &str,
) -> Result<(ChangeOutcome, Vec<Envelope>), ActionError> {
    let id = change.order_id.clone();
    let (state, _) = current(conn, &id).await?;
    change.state = state;
    let data = json!({"change_id": change.change_id, "requested_by": change.requested_by, "reason": change.reason});
    let by = change.requested_by.clone();
    match phase(state) {
        Phase::BeforeFulfilment => {
            Store::transition(conn, &id, Trigger::Cancel, &by, Some(&data))
                .await
                .map_err(transition_error)?;
            Ok((
                ChangeOutcome::Cancelled,
                vec![event(EventType::ORDER_CANCELLED, connector, change)],
            ))
        }
        Phase::AtWarehouse => {
            Store::append_event(conn, &id, "cancel_requested", None, &by, Some(&data)).await?;
            Ok((
                ChangeOutcome::Requested,
                vec![event(EventType::ORDER_CHANGE_REQUESTED, connector, change)],
            ))
        }
        Phase::Shipped => {
            Store::transition(conn, &id, Trigger::RequestReturn, &by, Some(&data))
                .await
                .map_err(transition_error)?;
            change.return_requested = true;
            Ok((
                ChangeOutcome::ReturnRequested,
                vec![event(EventType::ORDER_CANCELLED, connector, change)],
            ))
        }
        Phase::Closed => Err(ActionError::Conflict(format!(
            "order {id} is {state}: there is nothing to cancel"
        ))),
    }
}

/// Writes a change of `change.order_id` as its state now allows. `changed` is the order with
/// the change applied and the content hash it was made from (refused if the stored order
/// changed since); `None` when the stored order already is the changed one (a source update).
pub async fn write_change(
    conn: &mut AnyConnection,
    change: &mut OrderChange,
    connector: &str,
    changed: Option<(&CanonicalOrder, &str)>,
) -> Result<(ChangeOutcome, Vec<Envelope>), ActionError> {
    let id = change.order_id.clone();
    let (state, hash) = current(conn, &id).await?;
    change.state = state;
    let by = change.requested_by.clone();
    let data = json!({"change_id": change.change_id, "requested_by": by, "fields": change.fields, "reason": change.reason});
    match phase(state) {
        Phase::BeforeFulfilment => {}
        Phase::AtWarehouse => {
            Store::append_event(conn, &id, "change_requested", None, &by, Some(&data)).await?;
            return Ok((
                ChangeOutcome::Requested,
                vec![event(EventType::ORDER_CHANGE_REQUESTED, connector, change)],
            ));
        }
        Phase::Shipped => {
            return Err(ActionError::Conflict(format!(
                "order {id} is {state}: it can no longer be changed (cancel it to request a return)"
            )))
        }
        Phase::Closed => {
            return Err(ActionError::Conflict(format!(
                "order {id} is {state}: it can no longer be changed"
            )))
        }
    }
    if let Some((order, from_hash)) = changed {
        if from_hash != hash || !Store::replace_order(conn, order, state.as_str()).await? {
            return Err(ActionError::Conflict(format!(
                "order {id} changed meanwhile, try again"
            )));
        }
    }
    Store::append_event(conn, &id, "changed", None, &by, Some(&data)).await?;
    if state != OrderState::Received {
        Store::transition(conn, &id, Trigger::Resubmit, &by, Some(&data))
            .await
            .map_err(transition_error)?;
    }
    let stored = load(conn, &id).await?;
    let payload = serde_json::to_value(&stored).unwrap_or(Value::Null);
    Ok((
        ChangeOutcome::Changed,
        vec![
            event(EventType::ORDER_CHANGED, connector, change),
            Envelope::new(EventType::ORDER_RECEIVED, connector.to_string(), payload)
                .with_order(&id),
        ],
    ))
}

/// The stored order, read inside the transaction.
async fn load(conn: &mut AnyConnection, id: &str) -> Result<CanonicalOrder, ActionError> {
    use sqlx::Row;
    let row = sqlx::query("SELECT canonical FROM orders WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(crate::store::StoreError::from)?
        .ok_or_else(|| ActionError::NotFound(id.to_string()))?;
    let text: String = row
        .try_get("canonical")
        .map_err(crate::store::StoreError::from)?;
    serde_json::from_str(&text).map_err(|source| {
        ActionError::Store(crate::store::StoreError::Corrupt {
            what: format!("order {id}"),
            source,
        })
    })
}

/// A change asked for through the API (`POST /api/orders/{id}/change`) applied to `order`:
/// the changed order and the fields changed (canonical paths → new values). Each bad field is
/// named with what was expected, never its value.
///
/// The body: `lines` (a list of `{line_ref, sku?, name?, spec?, quantity?, unit_price?}`, each
/// naming a line of the order), `ship_to` (address fields to replace), `requested_delivery`,
/// `total`, and `reason` (kept with the change). When lines change and no `total` is given,
/// a total that added up before is computed again, so the change itself raises no mismatch.
pub fn apply_change(
    order: &CanonicalOrder,
    body: &Value,
) -> Result<(CanonicalOrder, Map<String, Value>), Vec<String>> {
    let mut errors = Vec::new();
    let Some(obj) = body.as_object() else {
        return Err(vec!["body: expected a JSON object".into()]);
    };
    const KNOWN: [&str; 5] = ["lines", "ship_to", "requested_delivery", "total", "reason"];
    for k in obj.keys().filter(|k| !KNOWN.contains(&k.as_str())) {
        errors.push(format!("{k}: unknown field"));
    }
    let mut out = order.clone();
    let mut fields = Map::new();
    let consistent_before = order.check_totals() == crate::model::TotalsCheck::Consistent;
    let mut lines_changed = false;
    match obj.get("lines") {
        None | Some(Value::Null) => {}
        Some(Value::Array(lines)) => {
            for (i, l) in lines.iter().enumerate() {
                lines_changed |= apply_line(&mut out, i, l, &mut fields, &mut errors);
            }
        }
        Some(_) => errors.push("lines: expected a list of line changes".into()),
    }
    match obj.get("ship_to") {
        None | Some(Value::Null) => {}
        Some(Value::Object(a)) => apply_address(&mut out, a, &mut fields, &mut errors),
        Some(_) => errors.push("ship_to: expected an object of address fields".into()),
    }
    match obj.get("requested_delivery") {
        None => {}
        Some(Value::Null) => {
            out.requested_delivery = None;
            fields.insert("requested_delivery".into(), Value::Null);
        }
        Some(Value::String(s)) => {
            out.requested_delivery = Some(s.clone());
            fields.insert("requested_delivery".into(), Value::String(s.clone()));
        }
        Some(_) => errors.push("requested_delivery: expected a date as a string".into()),
    }
    if let Some(v) = obj.get("total").filter(|v| !v.is_null()) {
        match decimal(v) {
            Some(t) => {
                out.total = Some(t);
                fields.insert("total".into(), Value::String(t.to_string()));
            }
            None => errors.push("total: expected a decimal amount (\"12.50\")".into()),
        }
    } else if lines_changed && consistent_before {
        if let crate::model::TotalsCheck::Mismatch { computed, .. } = out.check_totals() {
            out.total = Some(computed);
            fields.insert("total".into(), Value::String(computed.to_string()));
        }
    }
    if obj
        .get("reason")
        .is_some_and(|r| !r.is_null() && !r.is_string())
    {
        errors.push("reason: expected a string".into());
    }
    if errors.is_empty() && fields.is_empty() {
        errors.push("body: nothing to change (lines, ship_to, requested_delivery or total)".into());
    }
    if errors.is_empty() {
        Ok((out, fields))
    } else {
        Err(errors)
    }
}

/// A decimal amount given as a string or a number.
fn decimal(v: &Value) -> Option<rust_decimal::Decimal> {
    match v {
        Value::String(s) => s.trim().parse().ok(),
        Value::Number(n) => n.to_string().parse().ok(),
        _ => None,
    }
}

/// Applies one line change; true when something changed.
fn apply_line(
    out: &mut CanonicalOrder,
    i: usize,
    change: &Value,
    fields: &mut Map<String, Value>,
    errors: &mut Vec<String>,
) -> bool {
    let at = format!("lines[{i}]");
    let Some(c) = change.as_object() else {
        errors.push(format!("{at}: expected an object naming a line_ref"));
        return false;
    };
    let line_ref = match c.get("line_ref") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => {
            errors.push(format!(
                "{at}.line_ref: expected the line_ref of one of the order's lines"
            ));
            return false;
        }
    };
    let Some(n) = out.lines.iter().position(|l| l.line_ref == line_ref) else {
        errors.push(format!("{at}.line_ref: the order has no such line"));
        return false;
    };
    let mut changed = false;
    for (k, v) in c {
        let path = format!("lines[{n}].{k}");
        let line = &mut out.lines[n];
        match k.as_str() {
            "line_ref" => continue,
            "sku" | "name" | "spec" => {
                let text = match v {
                    Value::Null => None,
                    Value::String(s) => Some(s.clone()),
                    _ => {
                        errors.push(format!("{at}.{k}: expected a string"));
                        continue;
                    }
                };
                match k.as_str() {
                    "sku" => line.sku = text,
                    "name" => line.name = text,
                    _ => line.spec = text,
                }
            }
            "quantity" => match v.as_number().and_then(|n| n.to_string().parse().ok()) {
                Some(q) => line.quantity = q,
                None => {
                    errors.push(format!("{at}.quantity: expected a number"));
                    continue;
                }
            },
            "unit_price" => match decimal(v) {
                Some(p) => line.unit_price = Some(p),
                None => {
                    errors.push(format!(
                        "{at}.unit_price: expected a decimal amount (\"12.50\")"
                    ));
                    continue;
                }
            },
            _ => {
                errors.push(format!("{at}.{k}: unknown field"));
                continue;
            }
        }
        fields.insert(path, v.clone());
        changed = true;
    }
    changed
}

/// Replaces the address fields given.
fn apply_address(
    out: &mut CanonicalOrder,
    given: &Map<String, Value>,
    fields: &mut Map<String, Value>,
    errors: &mut Vec<String>,
) {
    let mut address = serde_json::to_value(out.ship_to.clone())
        .ok()
        .filter(Value::is_object)
        .unwrap_or_else(|| {
            json!({"name": null, "line1": null, "city": null, "region": null,
                   "postal_code": null, "country": null})
        });
    const KNOWN: [&str; 9] = [
        "name",
        "company",
        "line1",
        "line2",
        "city",
        "region",
        "postal_code",
        "country",
        "phone",
    ];
    let mut any = false;
    for (k, v) in given {
        if !KNOWN.contains(&k.as_str()) {
            errors.push(format!("ship_to.{k}: unknown field"));
            continue;
        }
        if !(v.is_string() || v.is_null()) {
            errors.push(format!("ship_to.{k}: expected a string"));
            continue;
        }
        address[k] = v.clone();
        fields.insert(format!("ship_to.{k}"), v.clone());
        any = true;
    }
    if any {
        match serde_json::from_value(address) {
            Ok(a) => out.ship_to = Some(a),
            Err(_) => errors.push("ship_to: not a valid address".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order() -> CanonicalOrder {
        serde_json::from_value(json!({
            "source": {"connector": "shop", "format": "shopify", "channel": "marketplace",
                       "external_id": "1001", "status": "open"},
            "placed_at": "2026-03-04T10:11:12Z", "currency": "USD",
            "customer": {"name": "Ana Ruiz", "email": "ana@example.com", "phone": null},
            "ship_to": {"name": "Ana Ruiz", "line1": "1 Main St", "city": "Austin",
                        "region": "TX", "postal_code": "78701", "country": "US"},
            "lines": [{"line_ref": "1", "sku": "MUG-01", "name": "Mug", "quantity": 2,
                       "unit_price": "19.99"}],
            "shipping_fee": "5.00", "total": "44.98"
        }))
        .unwrap()
    }

    #[test]
    fn a_change_applies_and_keeps_the_totals_adding_up() {
        let (o, fields) = apply_change(
            &order(),
            &json!({"lines": [{"line_ref": "1", "quantity": 3}],
                    "ship_to": {"postal_code": "78702"}, "requested_delivery": "2026-12-24"}),
        )
        .unwrap();
        assert_eq!(o.lines[0].quantity, rust_decimal::Decimal::from(3));
        assert_eq!(o.total, Some("64.97".parse().unwrap()));
        assert_eq!(o.ship_to.unwrap().postal_code.as_deref(), Some("78702"));
        assert_eq!(o.requested_delivery.as_deref(), Some("2026-12-24"));
        for k in [
            "lines[0].quantity",
            "ship_to.postal_code",
            "requested_delivery",
            "total",
        ] {
            assert!(fields.contains_key(k), "{k} in {fields:?}");
        }
    }

    #[test]
    fn every_bad_field_is_named_without_its_value() {
        let errors = apply_change(
            &order(),
            &json!({"lines": [{"line_ref": "9", "quantity": 1},
                              {"line_ref": "1", "quantity": "three", "unit_price": "cheap", "colour": "red"}],
                    "ship_to": {"postal_code": 78702, "planet": "Mars"},
                    "requested_delivery": 5, "total": "lots", "extra": true}),
        )
        .unwrap_err();
        for path in [
            "lines[0].line_ref",
            "lines[1].quantity",
            "lines[1].unit_price",
            "lines[1].colour",
            "ship_to.postal_code",
            "ship_to.planet",
            "requested_delivery",
            "total",
            "extra",
        ] {
            assert!(
                errors.iter().any(|e| e.starts_with(path)),
                "{path} in {errors:?}"
            );
        }
        let text = errors.join(" ");
        for v in ["three", "cheap", "red", "78702", "Mars", "lots"] {
            assert!(!text.contains(v), "{v} in {text}");
        }
        assert!(
            apply_change(&order(), &json!({})).is_err(),
            "nothing to change"
        );
    }

    #[test]
    fn phases_follow_the_states() {
        use OrderState as S;
        assert_eq!(phase(S::Backordered), Phase::BeforeFulfilment);
        assert_eq!(phase(S::Packed), Phase::AtWarehouse);
        assert_eq!(phase(S::InTransit), Phase::Shipped);
        assert_eq!(phase(S::Rejected), Phase::Closed);
        // Every state a change applies in may be resubmitted or already is received.
        for s in crate::model::state::ALL {
            if phase(s) == Phase::BeforeFulfilment && s != S::Received {
                assert!(
                    crate::model::state::next(s, Trigger::Resubmit).is_some(),
                    "{s}"
                );
            }
            if matches!(phase(s), Phase::BeforeFulfilment) {
                assert!(
                    crate::model::state::next(s, Trigger::Cancel).is_some(),
                    "{s}"
                );
            }
            if phase(s) == Phase::Shipped {
                assert!(
                    crate::model::state::next(s, Trigger::RequestReturn).is_some(),
                    "{s}"
                );
            }
        }
    }
}
