//! Operator actions as domain functions: what a person may do to an order (complete or correct
//! one held for review, and next approve, supply information, change, cancel, resolve), called
//! by the API and the dashboard alike. Each checks the order's state, applies the change in one
//! store transaction with its audit event under the person's name, and publishes its events
//! through the outbox. No HTTP here.

use serde_json::{json, Value};

use crate::bus::Bus;
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

/// Completes or corrects an order waiting in `needs_review`. The correction is applied as a
/// merge patch, must still be a valid canonical order with the same identity, and is recorded
/// in the audit trail under `actor` (`api:<name>`); with `resume` the order goes on as received.
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
    if stored.state != review::STATE_NEEDS_REVIEW {
        return Err(ActionError::Conflict(format!(
            "order {id} is {}, not {}: only orders waiting for review can be corrected here",
            stored.state,
            review::STATE_NEEDS_REVIEW
        )));
    }
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
    if !Store::replace_order(&mut tx, &order, review::STATE_NEEDS_REVIEW).await? {
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
        OrderState::NeedsReview
    };
    Ok(Corrected { state, order })
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
