//! The outbox: events are written in the same store transaction as the effects they announce,
//! then published with confirms right after the commit ([`publish_committed`], used by intake,
//! the HTTP API and every stage alike). The relay ([`run`]) publishes what was committed but not
//! published (the process died between commit and publish, or the broker was away); stages
//! publish their own events at once, so it only looks at rows older than a grace period.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::bus::Bus;
use crate::model::Envelope;
use crate::store::Store;

/// How the relay works.
#[derive(Debug, Clone)]
pub struct RelaySettings {
    /// Time between sweeps.
    pub interval: Duration,
    /// Rows younger than this are left to the stage that wrote them.
    pub min_age: Duration,
    /// How long a sweep owns the rows it claimed.
    pub lease: Duration,
    /// Rows per sweep.
    pub batch: i64,
}

impl Default for RelaySettings {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(1),
            min_age: Duration::from_secs(5),
            lease: Duration::from_secs(30),
            batch: 500,
        }
    }
}

/// Publishes stale outbox rows once; returns how many were published.
pub async fn sweep(store: &Store, bus: &dyn Bus, s: &RelaySettings) -> Result<usize, String> {
    let rows = store
        .outbox_claim(
            s.batch,
            s.min_age.as_millis() as i64,
            s.lease.as_millis() as i64,
        )
        .await
        .map_err(|e| e.to_string())?;
    if rows.is_empty() {
        return Ok(0);
    }
    let events: Vec<_> = rows.into_iter().map(|r| r.envelope).collect();
    bus.publish(&events).await.map_err(|e| e.to_string())?;
    let ids: Vec<uuid::Uuid> = events.iter().map(|e| e.id).collect();
    store.outbox_delete(&ids).await.map_err(|e| e.to_string())?;
    Ok(events.len())
}

/// Runs sweeps until shutdown.
pub async fn run(store: Store, bus: Arc<dyn Bus>, s: RelaySettings, shutdown: CancellationToken) {
    loop {
        match sweep(&store, bus.as_ref(), &s).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(events = n, "Outbox relay published stale events."),
            Err(error) => tracing::warn!(error = %error, "Outbox relay sweep failed."),
        }
        tokio::select! {
            _ = tokio::time::sleep(s.interval) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

/// Publishes committed outbox events with confirms and forgets them. A failure leaves them in
/// the outbox for the relay; it is logged, not returned, because the effects are safe.
///
/// Returns once the bus confirmed the events. Deleting their outbox rows is cleanup, not part of
/// the guarantee (a row left behind is published again by the relay, and deduped downstream), so
/// it runs in the background, grouped with other deletes, instead of adding a commit to every
/// message's path before its ack.
pub async fn publish_committed(store: &Store, bus: &dyn Bus, events: &[Envelope]) -> bool {
    if events.is_empty() {
        return true;
    }
    match bus.publish(events).await {
        Ok(()) => {
            let ids: Vec<uuid::Uuid> = events.iter().map(|e| e.id).collect();
            let store = store.clone();
            tokio::spawn(async move {
                if let Err(error) = store.outbox_delete(&ids).await {
                    tracing::warn!(error = %error, "Published events stay in the outbox; the relay may publish them again.");
                }
            });
            true
        }
        Err(error) => {
            tracing::warn!(error = %error, events = events.len(), "Publish failed; the outbox relay will retry.");
            false
        }
    }
}
