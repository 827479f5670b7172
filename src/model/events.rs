//! The events the pipeline publishes: their routing keys (the envelope's `type`) and one typed
//! payload per event. A stage binds its queue to these keys (`stage::all`), so the names live
//! in one place.

use serde::{Deserialize, Serialize};

use super::Envelope;

/// The event types, as routing keys.
pub struct EventType;

impl EventType {
    /// A raw document was stored for a connector: `raw.<connector>`; payload [`RawRef`].
    pub fn raw(connector: &str) -> String {
        format!("raw.{connector}")
    }
    /// The pattern every raw event matches.
    pub const RAW_ANY: &'static str = "raw.*";
    /// A canonical order was created from a source document; payload: the canonical order.
    pub const ORDER_RECEIVED: &'static str = "order.received";
    /// A known source order changed at the source (status, refunds, lines); payload: the
    /// canonical order as it is now.
    pub const ORDER_UPDATED: &'static str = "order.updated";
    /// An order read from free text waits for a person to complete or correct it; payload:
    /// the canonical order.
    pub const ORDER_NEEDS_REVIEW: &'static str = "order.needs_review";
}

/// The payload of a `raw.<connector>` event: which stored document to normalize.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RawRef {
    /// The stored raw document.
    pub raw_id: String,
    /// Its format: picks the mapping.
    pub format: String,
    /// File name, message id, request id.
    #[serde(default)]
    pub source_name: Option<String>,
}

impl RawRef {
    /// The `raw.<connector>` event for a stored document. Its id is derived from the raw
    /// document id, so announcing the same document twice yields the same event (deduped).
    pub fn event(&self, connector: &str) -> Envelope {
        let mut env = Envelope::new(
            EventType::raw(connector),
            connector,
            serde_json::to_value(self).unwrap_or(serde_json::Value::Null),
        );
        env.id = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, self.raw_id.as_bytes());
        env
    }
}
