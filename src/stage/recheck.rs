//! The periodic look at backordered orders: every `routing.recheck_interval_secs` it publishes
//! `order.reallocate` for each order waiting for stock, through the outbox, and the allocate
//! stage asks the warehouses again. A warehouse's stock callback does the same at once for the
//! orders lacking its SKUs (warehouse stage); this catches warehouses that never call back.
//! Several daemons may each do it: a second `order.reallocate` finds the order allocated and
//! is recorded and acknowledged.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::steps::step_event;
use crate::bus::Bus;
use crate::model::{EventType, OrderStep};
use crate::store::{Store, StoreError};

/// Most orders one look re-allocates (the oldest first); the rest wait for the next.
const BATCH: i64 = 1_000;

/// Publishes `order.reallocate` for the orders waiting for stock; returns how many.
pub async fn recheck_once(store: &Store, bus: &dyn Bus) -> Result<usize, StoreError> {
    let waiting = store.backorders(BATCH).await?;
    if waiting.is_empty() {
        return Ok(0);
    }
    let events: Vec<_> = waiting
        .iter()
        .map(|b| {
            let step = OrderStep {
                order_id: b.order_id.clone(),
                warehouses: Vec::new(),
                cause: "recheck".into(),
                detail: serde_json::json!({"skus": b.skus}),
            };
            step_event(EventType::ORDER_REALLOCATE, "ordergate", &step)
        })
        .collect();
    let mut tx = store.begin().await?;
    Store::outbox_insert(&mut tx, &events).await?;
    tx.commit().await?;
    crate::outbox::publish_committed(store, bus, &events).await;
    Ok(events.len())
}

/// Looks every `interval` until shutdown; a zero interval does nothing.
pub async fn run(store: Store, bus: Arc<dyn Bus>, interval: Duration, shutdown: CancellationToken) {
    if interval.is_zero() {
        return;
    }
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.cancelled() => return,
        }
        match recheck_once(&store, bus.as_ref()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(orders = n, "Backordered orders sent to allocation again."),
            Err(error) => tracing::warn!(error = %error, "Re-check of backordered orders failed."),
        }
    }
}
