//! The change stage: what an `order.updated` (the source changed a known order: a marketplace
//! update, a cXML `update` or `delete`) means for the order, the same way as a change or cancel
//! through the API ([`crate::actions::write_cancel`], [`crate::actions::write_change`]):
//!
//! * cancelled or refunded at the source → the cancel path (cancelled; asked of the warehouse;
//!   or, after shipment, a return);
//! * still `received` (not reviewed yet, or waiting for payment) → reviewed again on what the
//!   source says now (`order.received`);
//! * lines, ship-to address or requested date changed since the last review decision → the
//!   change path (re-reviewed before fulfilment; asked of the warehouse after it; after
//!   shipment an exception for a person);
//! * anything else (a note, a payment on an approved order), or an order a person holds
//!   (`needs_review`) or that is closed → recorded in the audit trail, nothing more.

use async_trait::async_trait;
use serde_json::json;

use super::{Committed, Effects, Handler, StageError, Unit, UnitTx};
use crate::actions::{self, ActionError};
use crate::model::events::{ChangeKind, OrderChange};
use crate::model::{CanonicalOrder, Envelope, EventType, OrderState, SourceStatus};
use crate::store::{now_ms, NewException, Severity, Store};

/// The audit entry of a source update that changes nothing for the order.
pub const EVENT_SOURCE_UPDATE: &str = "source_update_noted";

/// The stage.
pub struct ChangeStage {
    department: String,
    due_hours: u32,
}

impl ChangeStage {
    /// Exceptions it raises (a change after shipment) go to `department`.
    pub fn new(department: String, due_hours: u32) -> Self {
        Self {
            department,
            due_hours,
        }
    }
}

#[async_trait]
impl Handler for ChangeStage {
    fn name(&self) -> &'static str {
        "change"
    }

    async fn handle(&self, env: &Envelope, unit: Unit<'_>) -> Result<Committed, StageError> {
        let id = env.order_id.clone().ok_or_else(|| {
            StageError::permanent(
                "bad_message",
                format!("message {} ({}) names no order", env.id, env.kind),
            )
        })?;
        let stored = unit.store().order(&id).await?.ok_or_else(|| StageError {
            order_id: Some(id.clone()),
            ..StageError::permanent("order_missing", format!("order {id} is not in the store"))
        })?;
        unit.commit(SourceUpdate {
            order_id: id,
            order: stored.order,
            change_id: env.id.to_string(),
            connector: env.connector.clone(),
            department: self.department.clone(),
            due_hours: self.due_hours,
        })
        .await
    }
}

struct SourceUpdate {
    order_id: String,
    /// The order as stored after the update.
    order: CanonicalOrder,
    /// The message: identifies the change.
    change_id: String,
    connector: String,
    department: String,
    due_hours: u32,
}

impl SourceUpdate {
    fn change(&self, kind: ChangeKind, state: OrderState) -> OrderChange {
        OrderChange {
            order_id: self.order_id.clone(),
            change_id: self.change_id.clone(),
            kind,
            requested_by: format!("connector:{}", self.connector),
            state,
            fields: Default::default(),
            reason: None,
            return_requested: false,
        }
    }

    async fn note(&self, tx: &mut UnitTx<'_>, what: &str) -> Result<(), StageError> {
        let cause = tx.cause().to_string();
        Store::append_event(
            tx.conn(),
            &self.order_id,
            EVENT_SOURCE_UPDATE,
            None,
            &cause,
            Some(&json!({ "note": what })),
        )
        .await?;
        Ok(())
    }

    /// The cancel path for an order cancelled or refunded at the source.
    async fn cancel(&self, tx: &mut UnitTx<'_>, state: OrderState) -> Result<(), StageError> {
        if actions::phase(state) == actions::Phase::Closed {
            return self
                .note(
                    tx,
                    &format!("cancelled at the source; the order is {state} already"),
                )
                .await;
        }
        let mut change = self.change(ChangeKind::Cancel, state);
        change.reason = Some(
            match self.order.source.status {
                SourceStatus::Refunded => "refunded at the source",
                _ => "cancelled at the source",
            }
            .into(),
        );
        let (_, events) = actions::write_cancel(tx.conn(), &mut change, &self.connector)
            .await
            .map_err(stage_error)?;
        for e in events {
            tx.emit(e);
        }
        Ok(())
    }

    /// The change path for lines, address or date changed at the source.
    async fn change_lines(&self, tx: &mut UnitTx<'_>, state: OrderState) -> Result<(), StageError> {
        let mut change = self.change(ChangeKind::Change, state);
        for (k, v) in [
            ("lines", serde_json::to_value(&self.order.lines)),
            ("ship_to", serde_json::to_value(&self.order.ship_to)),
            (
                "requested_delivery",
                serde_json::to_value(&self.order.requested_delivery),
            ),
        ] {
            change.fields.insert(k.into(), v.unwrap_or_default());
        }
        change.reason = Some("changed at the source".into());
        match actions::write_change(tx.conn(), &mut change, &self.connector, None).await {
            Ok((_, events)) => {
                for e in events {
                    tx.emit(e);
                }
                Ok(())
            }
            Err(ActionError::Conflict(why)) => {
                // Shipped or closed: nothing to apply it to; a person answers the source.
                let reason = format!(
                    "order {} ({} {}) changed at the source, but {why}",
                    self.order_id, self.connector, self.order.source.external_id
                );
                Store::insert_exception(
                    tx.conn(),
                    &NewException {
                        kind: "change_not_applied",
                        severity: Severity::Warning,
                        order_id: Some(&self.order_id),
                        raw_id: None,
                        message_id: Some(&self.change_id),
                        stage: Some("change"),
                        connector: Some(&self.connector),
                        department: &self.department,
                        due_at: Some(now_ms() + i64::from(self.due_hours) * 3_600_000),
                        reason: &reason,
                    },
                )
                .await?;
                let mut refused = change.clone();
                refused.reason = Some(why.clone());
                tx.emit(
                    Envelope::new(
                        EventType::ORDER_CHANGE_REFUSED,
                        self.connector.clone(),
                        serde_json::to_value(&refused).unwrap_or_default(),
                    )
                    .with_order(&self.order_id),
                );
                self.note(tx, &format!("change not applied: {why}")).await
            }
            Err(e) => Err(stage_error(e)),
        }
    }
}

fn stage_error(e: ActionError) -> StageError {
    match e {
        ActionError::Store(e) => e.into(),
        other => StageError::transient("order_busy", other.to_string()),
    }
}

#[async_trait]
impl Effects for SourceUpdate {
    async fn write(&mut self, tx: &mut UnitTx<'_>) -> Result<(), StageError> {
        let Some((state, _)) = Store::order_version(tx.conn(), &self.order_id).await? else {
            return Err(StageError::permanent(
                "order_missing",
                format!("order {} is not in the store", self.order_id),
            ));
        };
        let Some(state) = OrderState::parse(&state) else {
            return Err(StageError::permanent(
                "illegal_transition",
                format!("order {} is in an unknown state {state}", self.order_id),
            ));
        };
        if matches!(
            self.order.source.status,
            SourceStatus::Cancelled | SourceStatus::Refunded
        ) {
            return self.cancel(tx, state).await;
        }
        match state {
            OrderState::Received => {
                // Not reviewed yet, or waiting for payment: reviewed on what the source says now.
                self.note(tx, "reviewed again on the source's update")
                    .await?;
                let payload = serde_json::to_value(&self.order).unwrap_or_default();
                tx.emit(
                    Envelope::new(EventType::ORDER_RECEIVED, self.connector.clone(), payload)
                        .with_order(&self.order_id),
                );
                return Ok(());
            }
            OrderState::NeedsReview => {
                return self
                    .note(tx, "updated at the source while a person holds it")
                    .await
            }
            s if actions::phase(s) == actions::Phase::Closed => {
                return self.note(tx, &format!("the order is {s}")).await
            }
            _ => {}
        }
        let reviewed =
            Store::last_event_of(tx.conn(), &self.order_id, &super::review::DECISION_EVENTS)
                .await?
                .and_then(|(_, data)| data)
                .and_then(|d| d["fingerprint"].as_str().map(str::to_string));
        if reviewed.as_deref() == Some(crate::rules::review::fingerprint(&self.order).as_str()) {
            return self
                .note(tx, "no change to lines, address or requested date")
                .await;
        }
        self.change_lines(tx, state).await
    }
}
