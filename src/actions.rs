//! Operator actions as domain functions: what a person may do to an order (enter one keyed by
//! hand, complete or correct one held for review or waiting for information, change it, cancel
//! it; next approve, resolve), called by the API and the dashboard alike. Each checks the order's state, applies the change in one
//! store transaction with its audit event under the person's name, and publishes its events
//! through the outbox. No HTTP here.

use serde_json::{json, Value};

mod change;

pub use change::{apply_change, phase, write_cancel, write_change, ChangeOutcome, Phase};

use crate::bus::Bus;
use crate::model::events::{ChangeKind, OrderChange};
use crate::model::{CanonicalOrder, Envelope, EventType, OrderState, Trigger};
use crate::review;
use crate::store::{Store, StoreError, TransitionError};

/// Why an action was refused. The messages are safe to show to the caller: they name the
/// order, the state and the path, never a value from the order.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    /// No such order.
    #[error("order {0} not found")]
    NotFound(String),
    /// The order is not in a state that allows this, or changed meanwhile.
    #[error("{0}")]
    Conflict(String),
    /// The request is understood but its content is not acceptable.
    #[error("{0}")]
    Invalid(String),
    /// The order has bad fields: each named with what was expected, never its value.
    #[error("bad fields: {}", .0.join("; "))]
    InvalidFields(Vec<String>),
    /// The store failed; try again.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A correction of an order held for review (`PATCH /api/orders/{id}`).
#[derive(Debug, Clone, Default)]
pub struct Correction {
    /// A JSON merge patch (RFC 7396) on the canonical order.
    pub patch: Option<Value>,
    /// True: the person vouches for the order; it leaves the review queue and goes on.
    pub resume: bool,
    /// Why, for the audit trail.
    pub note: Option<String>,
}

/// The order after a correction.
#[derive(Debug, Clone)]
pub struct Corrected {
    /// Its state now.
    pub state: OrderState,
    /// The order as stored.
    pub order: CanonicalOrder,
}

/// Completes or corrects an order waiting in `needs_review` (read from free text, held for a
/// person) or `needs_info` (review asked for facts). The correction is applied as a merge
/// patch, must still be a valid canonical order with the same identity, and is recorded in the
/// audit trail under `actor` (`api:<name>`); with `resume` the order goes on as received and is
/// reviewed again.
pub async fn correct_order(
    store: &Store,
    bus: &dyn Bus,
    id: &str,
    correction: &Correction,
    actor: &str,
) -> Result<Corrected, ActionError> {
    let stored = store
        .order(id)
        .await?
        .ok_or_else(|| ActionError::NotFound(id.to_string()))?;
    let waiting = [OrderState::NeedsReview, OrderState::NeedsInfo];
    let Some(state) = OrderState::parse(&stored.state).filter(|s| waiting.contains(s)) else {
        return Err(ActionError::Conflict(format!(
            "order {id} is {}, not needs_review or needs_info: only orders waiting for a person or for information can be corrected here",
            stored.state,
        )));
    };
    let before =
        serde_json::to_value(&stored.order).map_err(|e| ActionError::Invalid(e.to_string()))?;
    let mut after = before.clone();
    if let Some(p) = &correction.patch {
        merge_patch(&mut after, p);
    }
    for path in [
        "/order_id",
        "/source/connector",
        "/source/external_id",
        "/source/format",
    ] {
        if before.pointer(path) != after.pointer(path) {
            return Err(ActionError::Invalid(format!("{path} cannot be changed")));
        }
    }
    let mut order: CanonicalOrder = serde_path_to_error::deserialize(after).map_err(|e| {
        // The path and the kind of problem, never the value (it may be personal data).
        ActionError::Invalid(format!(
            "not a valid canonical order: wrong type or value at {}",
            e.path()
        ))
    })?;
    if correction.resume {
        let missing = review::missing_required(&order);
        if !missing.is_empty() {
            return Err(ActionError::Invalid(format!(
                "still missing {}",
                missing.join(", ")
            )));
        }
        if let Some(x) = order.extraction.as_mut() {
            // A person checked it: nothing is uncertain or missing any more.
            x.confidence = 1.0;
            x.missing.clear();
        }
    }
    let data = json!({"patch": correction.patch, "note": correction.note});
    let mut tx = store.begin().await?;
    if !Store::replace_order(&mut tx, &order, state.as_str()).await? {
        return Err(ActionError::Conflict(format!(
            "order {id} changed meanwhile, try again"
        )));
    }
    if correction.patch.is_some() {
        Store::append_event(&mut tx, id, "corrected", None, actor, Some(&data)).await?;
    }
    let mut events = Vec::new();
    if correction.resume {
        Store::transition(&mut tx, id, Trigger::Resubmit, actor, Some(&data))
            .await
            .map_err(|e| match e {
                TransitionError::Store(e) => ActionError::Store(e),
                other => ActionError::Conflict(other.to_string()),
            })?;
        let payload = serde_json::to_value(&order).unwrap_or(Value::Null);
        events.push(
            Envelope::new(
                EventType::ORDER_RECEIVED,
                order.source.connector.clone(),
                payload,
            )
            .with_order(id),
        );
        Store::outbox_insert(&mut tx, &events).await?;
    }
    tx.commit().await.map_err(StoreError::from)?;
    tracing::info!(order_id = %id, by = %actor, resumed = correction.resume, "Order corrected.");
    crate::outbox::publish_committed(store, bus, &events).await;
    let state = if correction.resume {
        OrderState::Received
    } else {
        state
    };
    Ok(Corrected { state, order })
}

/// The connector (and format) manual entries are stored under: `manual.order.jq` reads them.
pub const MANUAL_CONNECTOR: &str = "manual";

/// Channels staff enter orders for.
const MANUAL_CHANNELS: [&str; 3] = ["phone", "walk_in", "fax"];

/// An order keyed by staff (`POST /api/orders`).
#[derive(Debug, Clone)]
pub struct Entered {
    /// The stored request.
    pub raw_id: String,
    /// The order's identity: the request's idempotency key.
    pub external_id: String,
    /// True when the same key and order had come before (nothing new stored).
    pub duplicate: bool,
}

/// Builds the canonical order of a manual entry, naming **each** bad field (`lines[1].quantity:
/// expected a number`), never a value. `key` becomes its identity (`source.external_id`).
pub fn manual_order(body: &Value, key: &str) -> Result<CanonicalOrder, Vec<String>> {
    use crate::model::{Address, Customer, OrderLine};
    fn field<T: serde::de::DeserializeOwned>(
        v: &Value,
        path: &str,
        what: &str,
        errors: &mut Vec<String>,
    ) -> Option<T> {
        match serde_path_to_error::deserialize::<_, T>(v.clone()) {
            Ok(t) => Some(t),
            Err(e) => {
                let inner = e.path().to_string();
                let at = if inner == "." || inner.is_empty() {
                    path.to_string()
                } else {
                    format!("{path}.{inner}")
                };
                errors.push(format!("{at}: expected {what}"));
                None
            }
        }
    }
    let mut errors = Vec::new();
    let Some(obj) = body.as_object() else {
        return Err(vec!["body: expected a JSON object".into()]);
    };
    const KNOWN: [&str; 14] = [
        "channel",
        "placed_at",
        "currency",
        "customer",
        "ship_to",
        "bill_to",
        "lines",
        "shipping_fee",
        "discount_total",
        "tax_total",
        "total",
        "requested_delivery",
        "notes",
        "external_number",
    ];
    for k in obj.keys().filter(|k| !KNOWN.contains(&k.as_str())) {
        errors.push(format!("{k}: unknown field"));
    }
    let channel = match obj.get("channel").and_then(Value::as_str) {
        Some(c) if MANUAL_CHANNELS.contains(&c) => Some(c),
        _ => {
            errors.push("channel: expected one of phone, walk_in, fax".into());
            None
        }
    };
    let text = |k: &str, errors: &mut Vec<String>| -> Option<String> {
        match obj.get(k) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                errors.push(format!("{k}: expected a string"));
                None
            }
        }
    };
    let currency = text("currency", &mut errors);
    if currency
        .as_deref()
        .is_some_and(|c| c.len() != 3 || !c.bytes().all(|b| b.is_ascii_uppercase()))
    {
        errors.push("currency: expected an ISO 4217 code (three capital letters)".into());
    }
    let placed_at = match obj.get("placed_at") {
        None | Some(Value::Null) => Some(chrono::Utc::now()),
        Some(v) => {
            field::<chrono::DateTime<chrono::Utc>>(v, "placed_at", "an RFC 3339 time", &mut errors)
        }
    };
    let customer = match obj.get("customer") {
        Some(v) => field::<Customer>(
            v,
            "customer",
            "a customer {name, email, phone, company}",
            &mut errors,
        ),
        None => {
            errors.push("customer: required".into());
            None
        }
    };
    let address = |k: &str, errors: &mut Vec<String>| -> Option<Address> {
        match obj.get(k) {
            None | Some(Value::Null) => None,
            Some(v) => field::<Address>(v, k, "an address of strings", errors),
        }
    };
    let ship_to = address("ship_to", &mut errors);
    let bill_to = address("bill_to", &mut errors);
    let mut lines = Vec::new();
    match obj.get("lines").and_then(Value::as_array) {
        Some(a) if !a.is_empty() => {
            for (i, line) in a.iter().enumerate() {
                let mut line = line.clone();
                if let Value::Object(m) = &mut line {
                    m.entry("line_ref")
                        .or_insert_with(|| Value::String((i + 1).to_string()));
                }
                if let Some(l) = field::<OrderLine>(
                    &line,
                    &format!("lines[{i}]"),
                    "a line {sku, name, spec, quantity (a number), unit_price (a decimal)}",
                    &mut errors,
                ) {
                    lines.push(l);
                }
            }
        }
        _ => errors.push("lines: expected a non-empty list of lines".into()),
    }
    let money = |k: &str, errors: &mut Vec<String>| -> Option<rust_decimal::Decimal> {
        let v = obj.get(k)?;
        if v.is_null() {
            return None;
        }
        let parsed = match v {
            Value::String(s) => s.trim().parse().ok(),
            Value::Number(n) => n.to_string().parse().ok(),
            _ => None,
        };
        if parsed.is_none() {
            errors.push(format!("{k}: expected a decimal amount (\"12.50\")"));
        }
        parsed
    };
    let shipping_fee = money("shipping_fee", &mut errors);
    let discount_total = money("discount_total", &mut errors);
    let tax_total = money("tax_total", &mut errors);
    let total = money("total", &mut errors);
    let requested_delivery = text("requested_delivery", &mut errors);
    let notes = text("notes", &mut errors);
    let external_number = text("external_number", &mut errors);
    if !errors.is_empty() {
        return Err(errors);
    }
    let (Some(channel), Some(placed_at), Some(customer)) = (channel, placed_at, customer) else {
        return Err(vec!["body: incomplete".into()]);
    };
    let order = serde_json::json!({
        // The connector is left empty: the normalize stage sets it from the stored document's.
        "source": {"connector": "", "format": MANUAL_CONNECTOR, "channel": channel,
                   "external_id": key, "external_number": external_number, "status": "open"},
        "placed_at": placed_at, "currency": currency, "customer": customer,
        "ship_to": ship_to, "bill_to": bill_to, "lines": lines,
        "shipping_fee": shipping_fee, "discount_total": discount_total, "tax_total": tax_total,
        "total": total, "requested_delivery": requested_delivery, "notes": notes,
    });
    serde_path_to_error::deserialize(order)
        .map_err(|e| vec![format!("{}: not a valid canonical order", e.path())])
}

/// Enters an order keyed by staff: the canonical order is stored as a raw document of the
/// `manual` connector under its idempotency key and announced, so it is normalized and
/// reviewed like any other. The same key with the same order again is a duplicate (nothing
/// new); the same key with another order is refused.
pub async fn enter_order(
    store: &Store,
    bus: &dyn Bus,
    key: &str,
    body: &Value,
    actor: &str,
) -> Result<Entered, ActionError> {
    check_key(key)?;
    let order = manual_order(body, key).map_err(ActionError::InvalidFields)?;
    let content = serde_json::to_vec(&order).map_err(|e| ActionError::Invalid(e.to_string()))?;
    let source_name = format!("idempotency:{key}");
    if let Some(raw_id) = store
        .raw_id_by_source_name(MANUAL_CONNECTOR, &source_name)
        .await?
    {
        let earlier = store.raw(&raw_id).await?;
        // The same order entered again: placed_at defaults to now, so compare without it.
        let same = earlier
            .and_then(|r| serde_json::from_slice::<CanonicalOrder>(&r.content).ok())
            .is_some_and(|mut e| {
                e.placed_at = order.placed_at;
                e == order
            });
        if !same {
            return Err(ActionError::Conflict(format!(
                "Idempotency-Key {key} was used for another order"
            )));
        }
        return Ok(Entered {
            raw_id,
            external_id: key.to_string(),
            duplicate: true,
        });
    }
    let stored = crate::intake::store_document(
        store,
        bus,
        MANUAL_CONNECTOR,
        MANUAL_CONNECTOR,
        Some(&source_name),
        &content,
    )
    .await?;
    crate::intake::announce(store, bus, std::slice::from_ref(&stored)).await;
    tracing::info!(raw_id = %stored.raw_id, by = %actor, "Order entered by hand.");
    Ok(Entered {
        raw_id: stored.raw_id,
        external_id: key.to_string(),
        duplicate: false,
    })
}

/// An `Idempotency-Key` must be 1 to 128 visible ASCII characters.
fn check_key(key: &str) -> Result<(), ActionError> {
    if key.is_empty() || key.len() > 128 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ActionError::Invalid(
            "Idempotency-Key: expected 1 to 128 visible ASCII characters".into(),
        ));
    }
    Ok(())
}

/// What a change or cancel through the API did.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ChangeDone {
    /// The order.
    pub order_id: String,
    /// The change: the request's Idempotency-Key, or a generated id.
    pub change_id: String,
    /// What happened.
    pub outcome: ChangeOutcome,
    /// The order's state right after.
    pub state: OrderState,
    /// True when the same key and request had come before: this is the first answer again.
    #[serde(default)]
    pub duplicate: bool,
}

/// Changes an order (`POST /api/orders/{id}/change`): spec, quantity, price, requested date,
/// address — see [`apply_change`] for the body. Before fulfilment the change is applied and the
/// order reviewed again; at the warehouse it is asked of the warehouse; after shipment it is
/// refused. `key` (the request's Idempotency-Key) makes a repeated request one change.
pub async fn change_order(
    store: &Store,
    bus: &dyn Bus,
    id: &str,
    key: Option<&str>,
    body: &Value,
    actor: &str,
) -> Result<ChangeDone, ActionError> {
    if let Some(k) = key {
        check_key(k)?;
    }
    // The version first, then the content: the change commits only on the content it read.
    let version = {
        let mut conn = store.pool().acquire().await.map_err(StoreError::from)?;
        Store::order_version(&mut conn, id).await?
    };
    let (Some((_, hash)), Some(stored)) = (version, store.order(id).await?) else {
        return Err(ActionError::NotFound(id.to_string()));
    };
    let (changed, fields) =
        apply_change(&stored.order, body).map_err(ActionError::InvalidFields)?;
    let reason = body
        .get("reason")
        .and_then(Value::as_str)
        .map(str::to_string);
    let connector = stored.order.source.connector.clone();
    record_change(
        store,
        bus,
        id,
        key,
        ChangeKind::Change,
        body,
        actor,
        |conn, change| {
            change.fields = fields;
            change.reason = reason;
            Box::pin(async move {
                write_change(conn, change, &connector, Some((&changed, &hash))).await
            })
        },
    )
    .await
}

/// Cancels an order (`POST /api/orders/{id}/cancel`): before fulfilment it is cancelled; at the
/// warehouse the cancel is asked of the warehouse; after shipment a return is requested.
/// `key` (the request's Idempotency-Key) makes a repeated request one cancel.
pub async fn cancel_order(
    store: &Store,
    bus: &dyn Bus,
    id: &str,
    key: Option<&str>,
    reason: Option<String>,
    actor: &str,
) -> Result<ChangeDone, ActionError> {
    if let Some(k) = key {
        check_key(k)?;
    }
    let stored = store
        .order(id)
        .await?
        .ok_or_else(|| ActionError::NotFound(id.to_string()))?;
    let connector = stored.order.source.connector.clone();
    let body = json!({ "reason": reason });
    record_change(
        store,
        bus,
        id,
        key,
        ChangeKind::Cancel,
        &body,
        actor,
        |conn, change| {
            change.reason = reason;
            Box::pin(async move { write_cancel(conn, change, &connector).await })
        },
    )
    .await
}

type WriteFuture<'a> = std::pin::Pin<
    Box<
        dyn std::future::Future<Output = Result<(ChangeOutcome, Vec<Envelope>), ActionError>>
            + Send
            + 'a,
    >,
>;

/// Writes a change or cancel under its idempotency key: the same key and request again answer
/// as the first time, with nothing written; the key with another request is refused.
#[allow(clippy::too_many_arguments)]
async fn record_change<F>(
    store: &Store,
    bus: &dyn Bus,
    id: &str,
    key: Option<&str>,
    kind: ChangeKind,
    body: &Value,
    actor: &str,
    write: F,
) -> Result<ChangeDone, ActionError>
where
    F: for<'a> FnOnce(&'a mut sqlx::AnyConnection, &'a mut OrderChange) -> WriteFuture<'a>,
{
    let kind_name = match kind {
        ChangeKind::Change => "change",
        ChangeKind::Cancel => "cancel",
    };
    let request_hash = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(
            format!("{kind_name}\n{body}").as_bytes(),
        ))
    };
    let change_id = key.map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_string);
    let mut tx = store.begin().await?;
    if let Some(earlier) = Store::change_record(&mut tx, id, &change_id).await? {
        return earlier_answer(id, &change_id, kind_name, &request_hash, earlier);
    }
    let mut change = OrderChange {
        order_id: id.to_string(),
        change_id: change_id.clone(),
        kind,
        requested_by: actor.to_string(),
        state: OrderState::Received,
        fields: Default::default(),
        reason: None,
        return_requested: false,
    };
    let (outcome, events) = write(&mut tx, &mut change).await?;
    let (state, _) = Store::order_version(&mut tx, id)
        .await?
        .ok_or_else(|| ActionError::NotFound(id.to_string()))?;
    let done = ChangeDone {
        order_id: id.to_string(),
        change_id: change_id.clone(),
        outcome,
        state: OrderState::parse(&state).unwrap_or(change.state),
        duplicate: false,
    };
    let record = crate::store::ChangeRecord {
        kind: kind_name.to_string(),
        request_hash,
        outcome: serde_json::to_value(&done).unwrap_or(Value::Null),
    };
    if key.is_some()
        && !Store::insert_change_record(&mut tx, id, &change_id, &record, actor).await?
    {
        return Err(ActionError::Conflict(format!(
            "a request with Idempotency-Key {change_id} is being applied to order {id}; try again"
        )));
    }
    Store::outbox_insert(&mut tx, &events).await?;
    tx.commit().await.map_err(StoreError::from)?;
    tracing::info!(order_id = %id, change_id = %change_id, by = %actor, outcome = ?outcome, "Order {kind_name} applied.");
    crate::outbox::publish_committed(store, bus, &events).await;
    Ok(done)
}

/// The first answer to a change asked again under the same key, or a refusal when the key
/// came with another request.
fn earlier_answer(
    id: &str,
    key: &str,
    kind: &str,
    request_hash: &str,
    earlier: crate::store::ChangeRecord,
) -> Result<ChangeDone, ActionError> {
    if earlier.kind != kind || earlier.request_hash != request_hash {
        return Err(ActionError::Conflict(format!(
            "Idempotency-Key {key} was used for another request on order {id}"
        )));
    }
    let mut done: ChangeDone = serde_json::from_value(earlier.outcome).map_err(|source| {
        ActionError::Store(StoreError::Corrupt {
            what: format!("change {key} of order {id}"),
            source,
        })
    })?;
    done.duplicate = true;
    Ok(done)
}

/// RFC 7396 JSON merge patch.
fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = Value::Object(Default::default());
            }
            if let Value::Object(t) = target {
                for (k, v) in p {
                    if v.is_null() {
                        t.remove(k);
                    } else {
                        merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                    }
                }
            }
        }
        other => *target = other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_patch_follows_rfc_7396() {
        let mut t = json!({"a": "b", "c": {"d": "e", "f": "g"}});
        merge_patch(&mut t, &json!({"a": "z", "c": {"f": null}}));
        assert_eq!(t, json!({"a": "z", "c": {"d": "e"}}));
        let mut t = json!({"a": [1, 2]});
        merge_patch(&mut t, &json!({"a": [3]}));
        assert_eq!(t, json!({"a": [3]}));
    }
}
