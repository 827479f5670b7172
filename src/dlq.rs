//! The dead-letter store as ops see it: `ordergate dlq list` and `ordergate dlq replay`.

use crate::bus::Bus;
use crate::store::{ParkedMessage, Store, StoreError};

/// Why a replay failed.
#[derive(Debug, thiserror::Error)]
pub enum DlqError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("replaying {id}: {source}")]
    Bus {
        id: String,
        source: crate::bus::BusError,
    },
    #[error("no parked message {0}")]
    NotFound(String),
}

/// Parked messages not yet replayed.
pub async fn list(store: &Store, limit: i64) -> Result<Vec<ParkedMessage>, StoreError> {
    store.parked(limit).await
}

/// Puts parked messages back on the queue they came from with a fresh attempt count, and marks
/// them replayed (resolving their exceptions). `ids` empty means all. The message goes back on
/// the queue before it is marked, so a crash in between replays it twice (the stage's inbox
/// recognises the second) rather than never.
pub async fn replay(store: &Store, bus: &dyn Bus, ids: &[String]) -> Result<Vec<String>, DlqError> {
    let parked = store.parked(i64::MAX).await?;
    for id in ids {
        if !parked.iter().any(|p| &p.id == id) {
            return Err(DlqError::NotFound(id.clone()));
        }
    }
    let mut done = Vec::new();
    for p in parked
        .into_iter()
        .filter(|p| ids.is_empty() || ids.contains(&p.id))
    {
        let mut env = p.envelope.clone();
        env.attempt = 0;
        bus.send_to_queue(&p.queue, &env)
            .await
            .map_err(|source| DlqError::Bus {
                id: p.id.clone(),
                source,
            })?;
        let mut tx = store.begin().await?;
        Store::mark_replayed(&mut tx, &p).await?;
        tx.commit().await.map_err(StoreError::from)?;
        tracing::info!(parked_id = %p.id, queue = %p.queue, message_id = %env.id, "Parked message replayed.");
        done.push(p.id);
    }
    Ok(done)
}
