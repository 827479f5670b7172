//! The normalize stage: raw document → mapping → canonical order(s), stored once per source
//! order, `order.received` (new) or `order.updated` (changed at the source) published.

use std::sync::Arc;

use async_trait::async_trait;

use super::{Committed, Effects, Handler, StageError, Unit, UnitTx};
use crate::model::{CanonicalOrder, Envelope, EventType, TotalsCheck, Trigger};
use crate::normalize::Normalizer;
use crate::review;
use crate::store::{now_ms, NewException, Severity, Store, UpsertOutcome};

pub use crate::model::RawRef;

/// The stage.
pub struct NormalizeStage {
    normalizer: Arc<Normalizer>,
    /// Mapping runs at once: one per core. The stage has many messages in flight (waiting on
    /// commits and confirms), but more CPU-bound mapping runs than cores only add threads,
    /// context switches and allocator contention.
    cpu: Arc<tokio::sync::Semaphore>,
    department: String,
    due_hours: u32,
    review_threshold: f64,
}

impl NormalizeStage {
    /// A stage running `normalizer`; exceptions it raises go to `department`; orders read
    /// from free text below `review_threshold` confidence wait for a person.
    pub fn new(
        normalizer: Arc<Normalizer>,
        department: String,
        due_hours: u32,
        review_threshold: f64,
    ) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            normalizer,
            cpu: Arc::new(tokio::sync::Semaphore::new(cores)),
            department,
            due_hours,
            review_threshold,
        }
    }
}

#[async_trait]
impl Handler for NormalizeStage {
    fn name(&self) -> &'static str {
        "normalize"
    }

    async fn handle(&self, env: &Envelope, unit: Unit<'_>) -> Result<Committed, StageError> {
        let raw_ref: RawRef = serde_json::from_value(env.payload.clone()).map_err(|e| {
            StageError::permanent(
                "bad_message",
                format!("message {} is not a raw-document event: {e}", env.id),
            )
        })?;
        let raw = unit.store().raw(&raw_ref.raw_id).await?.ok_or_else(|| {
            StageError::permanent(
                "raw_missing",
                format!("raw document {} is not in the store", raw_ref.raw_id),
            )
            .with_raw(&raw_ref.raw_id)
        })?;
        let normalizer = self.normalizer.clone();
        let format = raw_ref.format.clone();
        let content = raw.content;
        let large = content.len() >= crate::mem::LARGE_DOCUMENT_BYTES;
        let name = raw.source_name.clone().unwrap_or_else(|| raw.id.clone());
        let permit =
            self.cpu.clone().acquire_owned().await.map_err(|e| {
                StageError::transient("mapping_failed", format!("mapping slot: {e}"))
            })?;
        let result = tokio::task::spawn_blocking(move || {
            if large {
                // What intake freed of it (the file read, the statement's buffers) goes back
                // first, so it does not add to the peak of decoding it.
                crate::mem::release();
            }
            // The document's bytes, its decoded tree and the mapping's outputs are each dropped
            // as soon as the next is made, so a large document holds one of them at a time.
            let input = normalizer.decode(&format, &[content.as_slice()]);
            drop(content);
            let orders = input.and_then(|input| normalizer.map(&format, input));
            drop(permit);
            if large {
                // What the document took is free now; without this the allocator keeps it
                // for reuse and the daemon stays at its peak long after.
                crate::mem::release();
            }
            orders
        })
        .await
        .map_err(|e| StageError::transient("mapping_failed", format!("mapping task: {e}")))?;
        let orders = result.map_err(|e| {
            let message = format!("document {name} ({} {}): {e}", raw_ref.format, raw.id);
            let err = if e.is_permanent() {
                StageError::permanent("bad_input", message)
            } else {
                StageError::transient("mapping_failed", message)
            };
            err.with_raw(&raw.id)
        })?;
        if orders.is_empty() {
            tracing::info!(raw_id = %raw.id, "Document holds no orders.");
        }
        let committed = unit
            .commit(OrderEffects {
                orders,
                raw_id: raw.id,
                connector: raw.connector,
                department: self.department.clone(),
                due_hours: self.due_hours,
                review_threshold: self.review_threshold,
            })
            .await;
        if large {
            // A list page's orders, their events and statements are free again too.
            crate::mem::release();
        }
        committed
    }

    /// Its only effects are the unit's writes: a duplicate is caught by the inbox at commit.
    fn check_inbox_first(&self, _: &Envelope) -> bool {
        false
    }
}

/// What a normalized document writes: its orders, their history, exceptions and events.
struct OrderEffects {
    orders: Vec<CanonicalOrder>,
    raw_id: String,
    connector: String,
    department: String,
    due_hours: u32,
    review_threshold: f64,
}

#[async_trait]
impl Effects for OrderEffects {
    async fn write(&mut self, tx: &mut UnitTx<'_>) -> Result<(), StageError> {
        let cause = tx.cause().to_string();
        let raw_id = self.raw_id.as_str();
        for order in self.orders.iter_mut() {
            order.source.connector = self.connector.clone();
            if let Some(x) = order.extraction.as_mut() {
                x.document.get_or_insert_with(|| raw_id.to_string());
            }
            if let Some(o) = order.origin.as_mut() {
                o.mailbox.get_or_insert_with(|| self.connector.clone());
            }
            // A customer's answer in an order's e-mail thread completes that order.
            let owner = super::reply::Owner {
                department: &self.department,
                due_hours: self.due_hours,
            };
            if super::reply::take(tx, order, raw_id, &owner).await? {
                continue;
            }
            let outcome = Store::upsert_order(tx.conn(), order, Some(raw_id)).await?;
            let event_data = serde_json::json!({"raw_id": raw_id});
            match outcome {
                UpsertOutcome::Created(id) => {
                    tracing::info!(order_id = %id, external_id = %order.source.external_id, "Order received.");
                    Store::append_event(
                        tx.conn(),
                        &id,
                        "received",
                        Some((None, "received")),
                        &cause,
                        Some(&event_data),
                    )
                    .await?;
                    flag_totals(tx, &self.department, self.due_hours, &id, raw_id, order).await?;
                    match review::hold_reason(order, self.review_threshold) {
                        None => tx.emit(order_event(EventType::ORDER_RECEIVED, &id, order)),
                        Some(reason) => {
                            tracing::info!(order_id = %id, reason = %reason, "Order waits for review.");
                            Store::transition(
                                tx.conn(),
                                &id,
                                Trigger::HoldForReview,
                                &cause,
                                Some(&serde_json::json!({"reason": reason})),
                            )
                            .await
                            .map_err(StageError::from)?;
                            tx.emit(order_event(EventType::ORDER_NEEDS_REVIEW, &id, order));
                        }
                    }
                }
                UpsertOutcome::Updated(id) => {
                    tracing::info!(order_id = %id, external_id = %order.source.external_id, "Order changed at the source.");
                    Store::append_event(
                        tx.conn(),
                        &id,
                        "source_updated",
                        None,
                        &cause,
                        Some(&event_data),
                    )
                    .await?;
                    tx.emit(order_event(EventType::ORDER_UPDATED, &id, order));
                }
                UpsertOutcome::Unchanged(id) => {
                    tracing::debug!(order_id = %id, "Order already known, unchanged.");
                }
            }
        }
        Ok(())
    }
}

/// An order whose parts do not add up to its total is kept but flagged with an exception.
async fn flag_totals(
    tx: &mut UnitTx<'_>,
    department: &str,
    due_hours: u32,
    order_id: &str,
    raw_id: &str,
    order: &CanonicalOrder,
) -> Result<(), StageError> {
    if let TotalsCheck::Mismatch { stated, computed } = order.check_totals() {
        let reason = format!(
            "order {} from {}: stated total {stated} but lines, shipping, tax and discounts add up to {computed}",
            order.source.external_id, order.source.connector
        );
        Store::insert_exception(
            tx.conn(),
            &NewException {
                kind: "totals_mismatch",
                severity: Severity::Warning,
                order_id: Some(order_id),
                raw_id: Some(raw_id),
                message_id: None,
                stage: Some("normalize"),
                connector: Some(&order.source.connector),
                department,
                due_at: Some(now_ms() + i64::from(due_hours) * 3_600_000),
                reason: &reason,
            },
        )
        .await?;
    }
    Ok(())
}

fn order_event(kind: &str, order_id: &str, order: &CanonicalOrder) -> Envelope {
    let payload = serde_json::to_value(order).unwrap_or(serde_json::Value::Null);
    Envelope::new(kind, order.source.connector.clone(), payload).with_order(order_id)
}
