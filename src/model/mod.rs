//! The contracts every stage speaks: the canonical order, the canonical tracking update, the
//! message envelope, the events with their payloads and the order states (ARCHITECTURE §4). The Rust types are the source of truth; the JSON Schema in
//! `mappings/canonical-order.schema.json` is generated from them and kept in sync by a test.

mod envelope;
pub mod events;
mod order;
pub mod state;
mod tracking;

pub use envelope::Envelope;
pub use events::{
    ChangeKind, DocumentKind, EventType, OrderChange, OrderStep, RawRef, ReviewFinding,
    ReviewOutcome, ShipmentRef,
};
pub use order::{
    read_decimal, read_quantity, Address, CanonicalOrder, Channel, Customer, Extraction, OrderLine,
    Origin, SourceRef, SourceStatus, TotalsCheck, Unreadable,
};
pub use state::{OrderState, Trigger};
pub use tracking::{TrackingEvent, TrackingStatus, TrackingUpdate};

/// The JSON Schema of [`CanonicalOrder`], as published in `mappings/`.
pub fn canonical_order_schema() -> serde_json::Value {
    let schema = schemars::schema_for!(CanonicalOrder);
    serde_json::to_value(schema).unwrap_or(serde_json::Value::Null)
}
