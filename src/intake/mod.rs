//! Inbound connectors: where raw documents come from. Each stores what it receives as a raw
//! document and announces it as a `raw.<connector>` event; the normalize stage does the rest.
//! [`store_document`] and [`announce`] are the two steps every connector shares.

pub mod folder;
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
    let mut tx = store.begin().await?;
    let raw = Store::insert_raw(
        &mut tx,
        &NewRawDocument {
            connector,
            format,
            source_name,
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
    tx.commit().await?;
    let pending = raw.inserted || store.outbox_contains(&event.id).await?;
    if raw.inserted {
        metrics::counter!(metric::DOCUMENTS, "connector" => connector.to_string()).increment(1);
    }
    Ok(Stored {
        raw_id: raw.id,
        inserted: raw.inserted,
        event,
        pending,
    })
}

/// Publishes a stored document's event if it is still pending; true once the bus confirmed it
/// (or nothing was pending). On false the event stays in the outbox for the relay.
pub async fn announce(store: &Store, bus: &dyn Bus, stored: &Stored) -> bool {
    !stored.pending || publish_committed(store, bus, std::slice::from_ref(&stored.event)).await
}
