//! A customer's reply in the thread of an order's message. An e-mail or fax whose
//! `In-Reply-To` / `References` name the Message-ID an order came in (its `origin`) is not a new
//! order: it answers that one. Its raw message is kept like every message (the normalize stage
//! read it from the store) and named in the order's audit trail.
//!
//! * The order waits for information (`needs_info`): the facts read from the reply fill what
//!   the order lacked — empty fields, and the fields review found doubtful — and the order is
//!   resubmitted (`received`, `order.received`, reviewed again).
//! * A person holds it (`needs_review`): the facts are filled in the same way, for that person.
//! * Any other state, a reply that brings nothing, or a reply from someone other than the
//!   customer: an exception, so a person reads it; nothing of the order changes.

use serde_json::{json, Value};

use super::{StageError, UnitTx};
use crate::model::{CanonicalOrder, Channel, Envelope, EventType, OrderState, Trigger};
use crate::store::{now_ms, NewException, Severity, Store};

/// The audit entry of a reply.
pub const EVENT_REPLY: &str = "customer_reply";

/// Most thread entries looked up (the newest).
const MAX_REFERENCES: usize = 20;

/// The facts a reply may fill, as canonical paths.
const FACTS: [&str; 15] = [
    "customer.name",
    "customer.email",
    "customer.phone",
    "customer.company",
    "ship_to.name",
    "ship_to.company",
    "ship_to.line1",
    "ship_to.line2",
    "ship_to.city",
    "ship_to.region",
    "ship_to.postal_code",
    "ship_to.country",
    "ship_to.phone",
    "currency",
    "requested_delivery",
];

/// Where an exception about a reply goes.
pub struct Owner<'a> {
    /// The department.
    pub department: &'a str,
    /// Hours until it is due.
    pub due_hours: u32,
}

/// Takes `reply` (an order read from a message) as a reply to an earlier order's thread, if it
/// is one; true when it was (then it is not stored as an order).
pub async fn take(
    tx: &mut UnitTx<'_>,
    reply: &CanonicalOrder,
    raw_id: &str,
    owner: &Owner<'_>,
) -> Result<bool, StageError> {
    if !matches!(reply.source.channel, Channel::Email | Channel::Fax) {
        return Ok(false);
    }
    let Some(origin) = &reply.origin else {
        return Ok(false);
    };
    let start = origin.references.len().saturating_sub(MAX_REFERENCES);
    let thread: Vec<String> = origin.references[start..]
        .iter()
        .filter(|r| Some(r.as_str()) != origin.message_id.as_deref())
        .cloned()
        .collect();
    let Some((id, state, order)) = Store::order_by_origin_message(tx.conn(), &thread).await? else {
        return Ok(false);
    };
    let cause = tx.cause().to_string();
    if !same_sender(&order, reply) {
        let why =
            "a reply in the order's thread from another sender than the customer; not applied";
        return refer(tx, &id, raw_id, owner, &cause, why).await;
    }
    let state = OrderState::parse(&state);
    if !matches!(state, Some(OrderState::NeedsInfo | OrderState::NeedsReview)) {
        let why = format!(
            "the customer replied in the order's thread while it is {}; a person reads it",
            state.map_or("in an unknown state", OrderState::as_str)
        );
        return refer(tx, &id, raw_id, owner, &cause, &why).await;
    }
    let doubtful = doubtful_paths(tx, &id).await?;
    let mut filled_order = order.clone();
    let filled = fill(&mut filled_order, reply, &doubtful);
    if filled.is_empty() {
        let why = "the customer replied in the order's thread, but no missing fact could be read from the reply";
        return refer(tx, &id, raw_id, owner, &cause, why).await;
    }
    let state = state.unwrap_or(OrderState::NeedsInfo);
    if !Store::replace_order(tx.conn(), &filled_order, state.as_str()).await? {
        return Err(StageError::transient(
            "order_busy",
            format!("order {id} changed while a reply was applied"),
        ));
    }
    let data = json!({"raw_id": raw_id, "filled": filled});
    Store::append_event(tx.conn(), &id, EVENT_REPLY, None, &cause, Some(&data)).await?;
    tracing::info!(order_id = %id, raw_id = %raw_id, filled = ?filled, "Customer reply applied.");
    if state == OrderState::NeedsInfo {
        Store::transition(tx.conn(), &id, Trigger::Resubmit, &cause, Some(&data))
            .await
            .map_err(StageError::from)?;
        let payload = serde_json::to_value(&filled_order).unwrap_or_default();
        tx.emit(
            Envelope::new(
                EventType::ORDER_RECEIVED,
                filled_order.source.connector.clone(),
                payload,
            )
            .with_order(&id),
        );
    }
    Ok(true)
}

/// Whether the reply comes from the customer: its sender is the order's reply address or the
/// customer's e-mail (case aside).
fn same_sender(order: &CanonicalOrder, reply: &CanonicalOrder) -> bool {
    let norm = |s: Option<&str>| s.map(|v| v.trim().to_lowercase()).filter(|v| !v.is_empty());
    let from = norm(reply.origin.as_ref().and_then(|o| o.reply_to.as_deref()))
        .or_else(|| norm(reply.customer.email.as_deref()));
    let Some(from) = from else { return false };
    [
        norm(order.origin.as_ref().and_then(|o| o.reply_to.as_deref())),
        norm(order.customer.email.as_deref()),
    ]
    .into_iter()
    .flatten()
    .any(|known| known == from)
}

/// The paths the order's last review found missing or doubtful.
async fn doubtful_paths(tx: &mut UnitTx<'_>, id: &str) -> Result<Vec<String>, StageError> {
    let last = Store::last_event_of(tx.conn(), id, &[Trigger::RequestInfo.as_str()]).await?;
    Ok(last
        .and_then(|(_, data)| data)
        .and_then(|d| d.get("findings").and_then(Value::as_array).cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|f| f["path"].as_str().map(str::to_string))
        .collect())
}

/// Fills `order` from `reply`: each fact the order lacks or review found doubtful, when the
/// reply has it; the reply's lines when the order has none or its lines were in doubt. Returns
/// the paths filled.
pub fn fill(
    order: &mut CanonicalOrder,
    reply: &CanonicalOrder,
    doubtful: &[String],
) -> Vec<String> {
    let (Ok(mut target), Ok(source)) = (serde_json::to_value(&*order), serde_json::to_value(reply))
    else {
        return Vec::new();
    };
    if target["ship_to"].is_null() && !source["ship_to"].is_null() {
        target["ship_to"] = json!({"name": null, "line1": null, "city": null, "region": null,
                                   "postal_code": null, "country": null});
    }
    let in_doubt = |path: &str| {
        doubtful.iter().any(|d| {
            d == path
                || path
                    .strip_prefix(d.as_str())
                    .is_some_and(|rest| rest.starts_with('.'))
        })
    };
    let blank = |v: Option<&Value>| {
        v.is_none_or(|v| v.is_null() || v.as_str().is_some_and(|s| s.trim().is_empty()))
    };
    let mut filled = Vec::new();
    for path in FACTS {
        let pointer = format!("/{}", path.replace('.', "/"));
        let given = source
            .pointer(&pointer)
            .filter(|v| !blank(Some(v)))
            .cloned();
        let Some(given) = given else { continue };
        let had = target.pointer(&pointer);
        if (blank(had) || in_doubt(path)) && had != Some(&given) {
            if let Some(slot) = target.pointer_mut(&pointer) {
                *slot = given;
                filled.push(path.to_string());
            }
        }
    }
    let lines_in_doubt = doubtful
        .iter()
        .any(|d| d == "lines" || d.starts_with("lines["));
    if !reply.lines.is_empty() && (order.lines.is_empty() || lines_in_doubt) {
        target["lines"] = source["lines"].clone();
        filled.push("lines".into());
        if !source["total"].is_null() {
            target["total"] = source["total"].clone();
        }
    }
    match serde_json::from_value::<CanonicalOrder>(target) {
        Ok(mut o) => {
            if let Some(x) = o.extraction.as_mut() {
                x.missing.retain(|m| {
                    !filled
                        .iter()
                        .any(|f| m == f || m.starts_with(&format!("{f}[")))
                });
            }
            *order = o;
            filled
        }
        Err(_) => Vec::new(),
    }
}

/// Keeps the reply for a person: an audit entry naming the raw message and an exception.
async fn refer(
    tx: &mut UnitTx<'_>,
    order_id: &str,
    raw_id: &str,
    owner: &Owner<'_>,
    cause: &str,
    why: &str,
) -> Result<bool, StageError> {
    let data = json!({"raw_id": raw_id, "filled": [], "note": why});
    Store::append_event(tx.conn(), order_id, EVENT_REPLY, None, cause, Some(&data)).await?;
    Store::insert_exception(
        tx.conn(),
        &NewException {
            kind: EVENT_REPLY,
            severity: Severity::Warning,
            order_id: Some(order_id),
            raw_id: Some(raw_id),
            message_id: None,
            stage: Some("normalize"),
            connector: None,
            department: owner.department,
            due_at: Some(now_ms() + i64::from(owner.due_hours) * 3_600_000),
            reason: &format!("order {order_id}: {why}"),
        },
    )
    .await?;
    tracing::info!(order_id = %order_id, raw_id = %raw_id, reason = %why, "Customer reply kept for a person.");
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(v: Value) -> CanonicalOrder {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_reply_fills_what_was_missing_or_doubtful_and_nothing_else() {
        let mut o = order(json!({
            "source": {"format": "email", "channel": "email", "external_id": "PO-1", "status": "open"},
            "placed_at": "2026-01-01T00:00:00Z", "currency": "USD",
            "customer": {"name": "Lucia", "email": "lucia@cafe.example.com", "phone": null},
            "ship_to": {"name": "Cafe", "line1": "1 Main St", "city": "Boston", "region": "MA",
                        "postal_code": "0213", "country": "US"},
            "lines": [{"line_ref": "1", "sku": "HB-1KG", "name": null, "quantity": 2, "unit_price": "20.00"}],
            "extraction": {"confidence": 0.8, "missing": ["customer.phone"], "document": null}
        }));
        let reply = order(json!({
            "source": {"format": "email", "channel": "email", "external_id": "<r@x>", "status": "open"},
            "placed_at": "2026-01-02T00:00:00Z", "currency": null,
            "customer": {"name": "Lucia F", "email": "lucia@cafe.example.com", "phone": "(617) 555-0173"},
            "ship_to": {"name": "Other", "line1": "9 Elm St", "city": "Boston", "region": "MA",
                        "postal_code": "02136", "country": "US"},
            "lines": []
        }));
        let filled = fill(&mut o, &reply, &["ship_to.postal_code".to_string()]);
        assert_eq!(filled, vec!["customer.phone", "ship_to.postal_code"]);
        assert_eq!(
            o.ship_to.as_ref().unwrap().postal_code.as_deref(),
            Some("02136")
        );
        // Present and not in doubt: kept as the order said.
        assert_eq!(
            o.ship_to.as_ref().unwrap().line1.as_deref(),
            Some("1 Main St")
        );
        assert_eq!(o.customer.name.as_deref(), Some("Lucia"));
        assert_eq!(o.lines.len(), 1);
        assert!(o.extraction.unwrap().missing.is_empty());
    }

    #[test]
    fn only_the_customer_may_answer() {
        let o = order(json!({
            "source": {"format": "email", "channel": "email", "external_id": "PO-1", "status": "open"},
            "placed_at": "2026-01-01T00:00:00Z", "currency": "USD",
            "customer": {"name": "Lucia", "email": "Lucia@Cafe.example.com", "phone": null},
            "ship_to": null, "lines": []
        }));
        let mut reply = o.clone();
        assert!(same_sender(&o, &reply));
        reply.customer.email = Some("mallory@example.com".into());
        assert!(!same_sender(&o, &reply));
    }
}
