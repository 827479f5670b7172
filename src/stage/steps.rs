//! What the allocate, fulfil and warehouse stages share: calling a warehouse (its health kept,
//! its failure classified once), reading the order an event concerns, recording an event for an
//! order that has moved on, and building the lifecycle events.

use std::future::Future;

use async_trait::async_trait;

use super::{Effects, StageError, UnitTx};
use crate::health::HealthTracker;
use crate::model::{Envelope, OrderState, OrderStep};
use crate::partner::PartnerError;
use crate::store::{Store, StoredOrder, TransitionError};

/// Calls warehouse `warehouse` for `what`: success and failure feed its health; a retriable
/// failure (429, 5xx, timeout, no connection) is transient (retried with backoff, then
/// parked), any other (a refusal, an answer that is not what its definition says) permanent,
/// the typed partner error in the message (and so in the exception).
pub async fn warehouse_call<T>(
    health: &HealthTracker,
    warehouse: &str,
    what: &str,
    call: impl Future<Output = Result<T, PartnerError>>,
) -> Result<T, StageError> {
    match call.await {
        Ok(v) => {
            health.success(warehouse).await;
            Ok(v)
        }
        Err(e) => {
            health.failure(warehouse, &e.to_string()).await;
            let message = format!("warehouse {warehouse}: {what}: {e}");
            Err(if e.is_retriable() {
                StageError::unavailable("warehouse_unavailable", message)
            } else {
                StageError::permanent("warehouse_error", message)
            })
        }
    }
}

/// The order an event concerns: the envelope's, else the payload's `order_id`.
pub fn order_id_of(env: &Envelope) -> Result<String, StageError> {
    env.order_id
        .clone()
        .or_else(|| {
            env.payload
                .get("order_id")
                .and_then(|v| v.as_str())
                .map(str::to_string)
        })
        .ok_or_else(|| {
            StageError::permanent(
                "bad_message",
                format!("message {} ({}) names no order", env.id, env.kind),
            )
        })
}

/// The order `order_id` with its state; a missing order is a permanent error.
pub async fn load_order(
    store: &Store,
    order_id: &str,
) -> Result<(StoredOrder, OrderState), StageError> {
    let stored = store.order(order_id).await?.ok_or_else(|| {
        StageError::permanent(
            "order_missing",
            format!("order {order_id} is not in the store"),
        )
    })?;
    let state = OrderState::parse(&stored.state).ok_or_else(|| {
        StageError::permanent(
            "bad_state",
            format!("order {order_id} has an unknown state"),
        )
    })?;
    Ok((stored, state))
}

/// An event for an order that has moved on (cancelled meanwhile, allocated by another copy):
/// recorded in its history and acknowledged, not parked.
pub struct MovedOn {
    pub order_id: String,
    /// The event's type.
    pub event: String,
    pub state: OrderState,
}

#[async_trait]
impl Effects for MovedOn {
    async fn write(&mut self, tx: &mut UnitTx<'_>) -> Result<(), StageError> {
        record_moved_on(tx, &self.order_id, &self.event, self.state).await
    }
}

/// No effects: only the message's inbox record (a re-check still short, an event a stage has
/// nothing to do for).
pub struct Nothing;

#[async_trait]
impl Effects for Nothing {
    async fn write(&mut self, _tx: &mut UnitTx<'_>) -> Result<(), StageError> {
        Ok(())
    }
}

/// Appends the "event arrived for an order that moved on" entry.
pub async fn record_moved_on(
    tx: &mut UnitTx<'_>,
    order_id: &str,
    event: &str,
    state: OrderState,
) -> Result<(), StageError> {
    tracing::info!(order_id, event, state = %state, "Event for an order that has moved on; recorded.");
    let cause = tx.cause().to_string();
    Store::append_event(
        tx.conn(),
        order_id,
        "event_ignored",
        None,
        &cause,
        Some(&serde_json::json!({"event": event, "state": state})),
    )
    .await?;
    Ok(())
}

/// Moves the order by `trigger` (from state `read`, when the caller read it there: one read
/// less, see [`Store::transition_from`]); `Ok(false)` (recorded) when it has moved on meanwhile
/// and the table does not allow it any more.
pub async fn transition_or_moved_on(
    tx: &mut UnitTx<'_>,
    order_id: &str,
    read: Option<OrderState>,
    trigger: crate::model::Trigger,
    event: &str,
    data: Option<&serde_json::Value>,
) -> Result<bool, StageError> {
    let cause = tx.cause().to_string();
    let moved = match read {
        Some(from) => {
            Store::transition_from(tx.conn(), order_id, from, trigger, &cause, data).await
        }
        None => Store::transition(tx.conn(), order_id, trigger, &cause, data).await,
    };
    match moved {
        Ok(_) => Ok(true),
        Err(TransitionError::Illegal(e)) => {
            let state = OrderState::parse(&e.state).unwrap_or(OrderState::Received);
            record_moved_on(tx, order_id, event, state).await?;
            Ok(false)
        }
        Err(e) => Err(e.into()),
    }
}

/// An `order.*` event with an [`OrderStep`] payload.
pub fn step_event(kind: &str, connector: &str, step: &OrderStep) -> Envelope {
    Envelope::new(
        kind,
        connector,
        serde_json::to_value(step).unwrap_or(serde_json::Value::Null),
    )
    .with_order(&step.order_id)
}

/// Unix ms `hours` from now.
pub fn due_in(hours: u32) -> i64 {
    crate::store::now_ms() + i64::from(hours) * 3_600_000
}

/// Waits (bounded by one lease and a margin) until `try_claim` gets the claim on a side effect
/// another worker may be carrying out (a redelivered copy of the same message): polled every
/// 250 ms. A claim never refreshed for a whole lease belongs to a worker that died and is taken
/// over. Still held by another after that: an `unavailable` error (`code`), retried later.
pub async fn wait_for_claim<F, Fut>(
    mut try_claim: F,
    lease_ms: i64,
    code: &'static str,
    what: &str,
    order_id: Option<&str>,
) -> Result<(), StageError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool, crate::store::StoreError>>,
{
    let wait = std::time::Duration::from_millis(u64::try_from(lease_ms).unwrap_or(0) + 2_000);
    let deadline = tokio::time::Instant::now() + wait;
    let mut logged = false;
    loop {
        if try_claim().await? {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            let mut err =
                StageError::unavailable(code, format!("{what} is being done by another worker"));
            err.order_id = order_id.map(str::to_string);
            return Err(err);
        }
        if !logged {
            tracing::info!(
                order_id = order_id.unwrap_or_default(),
                what,
                "Another worker is doing this; waiting for it."
            );
            logged = true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}
