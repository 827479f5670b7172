//! The canonical tracking update a carrier callback is normalized into.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A carrier's news about one shipment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TrackingUpdate {
    /// Stable lowercase carrier code (`ups`, `usps`, `sf-express`), whatever the payload called it.
    pub carrier: String,
    /// The carrier's name as the payload gave it.
    pub carrier_name: Option<String>,
    pub tracking_number: String,
    /// Status of the newest event by time.
    pub status: TrackingStatus,
    /// Time of the newest event.
    pub occurred_at: Option<DateTime<Utc>>,
    /// Location of the newest event.
    pub location: Option<String>,
    pub description: Option<String>,
    /// The carrier's own status code, kept beside the canonical status.
    pub raw_code: Option<String>,
    /// Every event in the payload.
    pub events: Vec<TrackingEvent>,
}

/// One scan or status change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TrackingEvent {
    pub occurred_at: Option<DateTime<Utc>>,
    pub status: Option<TrackingStatus>,
    pub location: Option<String>,
    pub description: Option<String>,
    pub raw_code: Option<String>,
}

/// Canonical shipment status.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum TrackingStatus {
    PreTransit,
    InTransit,
    OutForDelivery,
    AvailableForPickup,
    FailedAttempt,
    Delivered,
    Returned,
    Exception,
    Unknown,
}
