//! Inbound connectors: where raw documents come from. Each stores what it receives as a raw
//! document and announces it as a `raw.<connector>` event; the normalize stage does the rest.
//! [`store_document`] and [`announce`] are the two steps every connector shares.

pub mod folder;
pub mod imap;
pub mod pull;
pub mod webhook;

use crate::bus::Bus;
use crate::model::Envelope;
use crate::stage::normalize::RawRef;
use crate::stage::publish_committed;
use crate::store::{NewRawDocument, Store, StoreError};
use crate::telemetry::metric;

/// A document stored by [`store_document`].
#[derive(Debug, Clone)]
pub struct Stored {
    /// The raw document's id.
    pub raw_id: String,
    /// False when the same bytes had already come through this connector.
    pub inserted: bool,
    /// The `raw.<connector>` event announcing it.
    pub event: Envelope,
    /// Whether the event still waits in the outbox (new, or left there by a crash).
    pub pending: bool,
}

/// Stores a document and queues its event in one transaction. The same bytes through the same
/// connector are the same raw document and the same event, so storing twice is harmless.
pub async fn store_document(
    store: &Store,
    connector: &str,
    format: &str,
    source_name: Option<&str>,
    content: &[u8],
) -> Result<Stored, StoreError> {
    let mut stored = store_documents(store, connector, format, &[(source_name, content)]).await?;
    stored.pop().ok_or_else(|| {
        StoreError::Db(sqlx::Error::Protocol(
            "a stored document went missing".into(),
        ))
    })
}

/// Stores several documents of one connector (a page of orders) and queues their events, all in
/// one transaction; returns them in order.
pub async fn store_documents(
    store: &Store,
    connector: &str,
    format: &str,
    docs: &[(Option<&str>, &[u8])],
) -> Result<Vec<Stored>, StoreError> {
    let mut tx = store.begin().await?;
    let mut stored = Vec::with_capacity(docs.len());
    for (source_name, content) in docs {
        let raw = Store::insert_raw(
            &mut tx,
            &NewRawDocument {
                connector,
                format,
                source_name: *source_name,
                content,
            },
        )
        .await?;
        let event = RawRef {
            raw_id: raw.id.clone(),
            format: format.to_string(),
            source_name: source_name.map(str::to_string),
        }
        .event(connector);
        if raw.inserted {
            Store::outbox_insert(&mut tx, std::slice::from_ref(&event)).await?;
        }
        stored.push(Stored {
            raw_id: raw.id,
            inserted: raw.inserted,
            event,
            pending: raw.inserted,
        });
    }
    tx.commit().await?;
    // A document stored before (by a run whose publish failed) may still have its event in the
    // outbox: it is pending too.
    for s in stored.iter_mut().filter(|s| !s.inserted) {
        s.pending = store.outbox_contains(&s.event.id).await?;
    }
    let new = stored.iter().filter(|s| s.inserted).count();
    if new > 0 {
        metrics::counter!(metric::DOCUMENTS, "connector" => connector.to_string())
            .increment(new as u64);
    }
    Ok(stored)
}

/// Publishes the stored documents' pending events together; true once the bus confirmed them
/// (or nothing was pending). On false the events stay in the outbox for the relay.
pub async fn announce(store: &Store, bus: &dyn Bus, stored: &[Stored]) -> bool {
    let pending: Vec<Envelope> = stored
        .iter()
        .filter(|s| s.pending)
        .map(|s| s.event.clone())
        .collect();
    publish_committed(store, bus, &pending).await
}
