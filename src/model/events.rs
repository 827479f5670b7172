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
    /// A tracking callback was stored for a connector: `tracking.<connector>`; payload
    /// [`RawRef`] (its format is the tracking scheme).
    pub fn tracking(connector: &str) -> String {
        format!("tracking.{connector}")
    }
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

/// What a stored document is: it decides the event that announces it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DocumentKind {
    /// An order document: `raw.<connector>`, for the normalize stage.
    #[default]
    Order,
    /// A tracking callback: `tracking.<connector>`, for the tracking stage.
    Tracking,
}

impl RawRef {
    /// The `raw.<connector>` event for a stored order document.
    pub fn event(&self, connector: &str) -> Envelope {
        self.announcement(DocumentKind::Order, connector)
    }

    /// The event announcing a stored document of `kind`. Its id is derived from the raw
    /// document id, so announcing the same document twice yields the same event (deduped).
    pub fn announcement(&self, kind: DocumentKind, connector: &str) -> Envelope {
        let routing_key = match kind {
            DocumentKind::Order => EventType::raw(connector),
            DocumentKind::Tracking => EventType::tracking(connector),
        };
        let mut env = Envelope::new(
            routing_key,
            connector,
            serde_json::to_value(self).unwrap_or(serde_json::Value::Null),
        );
        env.id = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, self.raw_id.as_bytes());
        env
    }
}
