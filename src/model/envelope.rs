//! The envelope every bus message travels in.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A bus message: `{id, type, occurred_at, order_id?, connector, attempt, payload}`. The AMQP
/// `message_id` is `id` and the routing key is `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// Unique per event; consumers dedupe on it, so a redelivered copy has no second effect.
    pub id: Uuid,
    /// The event type, also the routing key (`raw.shop-eu`, `order.received`).
    #[serde(rename = "type")]
    pub kind: String,
    /// When the event happened.
    pub occurred_at: DateTime<Utc>,
    /// The canonical order it concerns, once there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    /// The connector the event came from or goes to.
    pub connector: String,
    /// How many times processing was tried before this copy (0 on first delivery).
    #[serde(default)]
    pub attempt: u32,
    /// The event's body.
    pub payload: serde_json::Value,
}

impl Envelope {
    /// A new event with a fresh time-ordered id.
    pub fn new(
        kind: impl Into<String>,
        connector: impl Into<String>,
        payload: serde_json::Value,
    ) -> Self {
        Self {
            id: Uuid::now_v7(),
            kind: kind.into(),
            occurred_at: Utc::now(),
            order_id: None,
            connector: connector.into(),
            attempt: 0,
            payload,
        }
    }

    /// Sets the order the event concerns.
    pub fn with_order(mut self, order_id: impl Into<String>) -> Self {
        self.order_id = Some(order_id.into());
        self
    }

    /// The JSON bytes sent on the wire.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serializing a struct of strings, numbers and a Value cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads an envelope from the wire.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}
