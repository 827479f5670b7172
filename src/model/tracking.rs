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
    /// The parcel's tracking number as the carrier writes it.
    pub tracking_number: String,
    /// Status of the newest event by time.
    pub status: TrackingStatus,
    /// Time of the newest event.
    pub occurred_at: Option<DateTime<Utc>>,
    /// Location of the newest event.
    pub location: Option<String>,
    /// The newest event's text, in the carrier's words.
    pub description: Option<String>,
    /// The carrier's own status code, kept beside the canonical status.
    pub raw_code: Option<String>,
    /// Every event in the payload, newest first.
    pub events: Vec<TrackingEvent>,
    /// The carrier's (or aggregator's) estimated delivery, when the payload gives one: the
    /// latest instant of an estimated window; a date alone is the end of that day (UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eta: Option<DateTime<Utc>>,
}

/// One scan or status change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TrackingEvent {
    /// When the scan happened (zone-less Chinese carrier times read as +08:00).
    pub occurred_at: Option<DateTime<Utc>>,
    /// The canonical status of the carrier's code, when the event has one.
    pub status: Option<TrackingStatus>,
    /// Where, as the carrier names the place.
    pub location: Option<String>,
    /// The carrier's text for the event.
    pub description: Option<String>,
    /// The carrier's own code for the event, kept beside the canonical status.
    pub raw_code: Option<String>,
}

/// Canonical shipment status.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum TrackingStatus {
    /// Label created or announced; the carrier does not have the parcel yet.
    PreTransit,
    /// On its way (picked up, sorted, moved between facilities, in customs).
    InTransit,
    /// With the courier for delivery today.
    OutForDelivery,
    /// Waiting at a pickup point or locker.
    AvailableForPickup,
    /// A delivery was tried and failed (nobody home, no access).
    FailedAttempt,
    /// Delivered or signed for.
    Delivered,
    /// Returned, or on its way back, to the sender.
    Returned,
    /// A problem: damaged, lost, refused, held, address unknown.
    Exception,
    /// The carrier says nothing usable (not found, expired, an unlisted code).
    Unknown,
}
