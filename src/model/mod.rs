//! The contracts every stage speaks: the canonical order, the canonical tracking update and the
//! message envelope (ARCHITECTURE §4). The Rust types are the source of truth; the JSON Schema in
//! `mappings/canonical-order.schema.json` is generated from them and kept in sync by a test.

mod envelope;
mod order;
mod tracking;

pub use envelope::{Envelope, EventType};
pub use order::{
    Address, CanonicalOrder, Channel, Customer, Extraction, OrderLine, Origin, SourceRef,
    SourceStatus, TotalsCheck,
};
pub use tracking::{TrackingEvent, TrackingStatus, TrackingUpdate};

/// The JSON Schema of [`CanonicalOrder`], as published in `mappings/`.
pub fn canonical_order_schema() -> serde_json::Value {
    let schema = schemars::schema_for!(CanonicalOrder);
    serde_json::to_value(schema).unwrap_or(serde_json::Value::Null)
}
