//! The outbox relay: publishes events that were committed but not published (the process died
//! between commit and publish, or the broker was away). Stages publish their own events right
//! after commit, so the relay only looks at rows older than a grace period.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::bus::Bus;
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

/// Moves what the bus set aside in its parking queue (a consumer kept dying on a message, or
/// it was not an envelope) into the dead-letter store with an exception, so it is owned by
/// someone and can be replayed like anything a stage parked. Returns how many were moved.
pub async fn adopt_dead_letters(
    store: &Store,
    bus: &dyn Bus,
    topology: &crate::bus::Topology,
    pipeline: &crate::config::PipelineConfig,
) -> Result<usize, crate::bus::BusError> {
    let keep = |letter: crate::bus::DeadLetter| -> futures_util::future::BoxFuture<'_, bool> {
        Box::pin(async move {
            // Replay goes back to the queue it came from, else to the first stage queue that
            // takes its type.
            let queue = letter
                .queue
                .clone()
                .or_else(|| {
                    topology
                        .route(&letter.envelope.kind)
                        .next()
                        .map(|q| q.name.clone())
                })
                .unwrap_or_else(|| topology.unrouted_queue.clone());
            let err = super::StageError::permanent("dead_lettered", letter.reason.clone());
            match super::park(store, pipeline, None, &queue, &letter.envelope, &err).await {
                Ok(exception_id) => {
                    tracing::warn!(message_id = %letter.envelope.id, queue = %queue, exception_id = %exception_id, "Dead-lettered message moved to the dead-letter store.");
                    true
                }
                Err(error) => {
                    tracing::warn!(error = %error, "Cannot store a dead-lettered message; it stays in the parking queue.");
                    false
                }
            }
        })
    };
    bus.drain_dead_letters(100, &keep).await
}
