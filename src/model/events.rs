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
    /// A warehouse callback was stored for a connector: `warehouse.<connector>`; payload
    /// [`RawRef`] (its format is the warehouse kind).
    pub fn warehouse(connector: &str) -> String {
        format!("warehouse.{connector}")
    }
    /// The pattern every warehouse callback matches.
    pub const WAREHOUSE_ANY: &'static str = "warehouse.*";
    /// The pattern every tracking callback matches.
    pub const TRACKING_ANY: &'static str = "tracking.*";

    // Review (payload [`ReviewOutcome`]).
    /// Review passed: the order is to be allocated.
    pub const ORDER_APPROVED: &'static str = "order.approved";
    /// Review found missing or doubtful facts: the customer is asked (notice stage).
    pub const ORDER_NEEDS_INFO: &'static str = "order.needs_info";
    /// Review refused the order, with its reason code.
    pub const ORDER_REJECTED: &'static str = "order.rejected";

    // Allocation and fulfilment (payload [`OrderStep`]).
    /// Warehouses chosen; the fulfil stage places the fulfilment order(s).
    pub const ORDER_ALLOCATED: &'static str = "order.allocated";
    /// Short of stock: waits for stock.
    pub const ORDER_BACKORDERED: &'static str = "order.backordered";
    /// A backordered order is to be allocated again (stock arrived, or the periodic re-check).
    pub const ORDER_REALLOCATE: &'static str = "order.reallocate";
    /// The warehouse accepted the fulfilment order.
    pub const ORDER_FULFILMENT_REQUESTED: &'static str = "order.fulfilment_requested";
    /// The warehouse packed it.
    pub const ORDER_PACKED: &'static str = "order.packed";
    /// Handed to the carrier (every parcel is a shipment, see [`ShipmentRef`]).
    pub const ORDER_SHIPPED: &'static str = "order.shipped";
    /// Every parcel delivered.
    pub const ORDER_DELIVERED: &'static str = "order.delivered";

    // Change and cancel (payload [`OrderChange`]).
    /// A change or cancel of an order whose fulfilment was requested: the warehouse is to be
    /// asked (fulfil stage).
    pub const ORDER_CHANGE_REQUESTED: &'static str = "order.change_requested";
    /// A change was applied.
    pub const ORDER_CHANGED: &'static str = "order.changed";
    /// The order was cancelled (or, after shipment, a return requested).
    pub const ORDER_CANCELLED: &'static str = "order.cancelled";
    /// A change or cancel could not be applied (the warehouse refused); an exception was
    /// raised for the business department.
    pub const ORDER_CHANGE_REFUSED: &'static str = "order.change_refused";

    // Shipments and tracking (payload [`ShipmentRef`]).
    /// A parcel was reported by a warehouse or carrier: subscribe it with its tracker.
    pub const SHIPMENT_CREATED: &'static str = "shipment.created";
    /// First carrier scan of a parcel.
    pub const SHIPMENT_IN_TRANSIT: &'static str = "shipment.in_transit";
    /// A parcel is late (past its promised date or the carrier's ETA).
    pub const SHIPMENT_DELAYED: &'static str = "shipment.delayed";
    /// A parcel was delivered.
    pub const SHIPMENT_DELIVERED: &'static str = "shipment.delivered";

    // Patterns for consumers of whole families (department subscribers, notices).
    /// Every order event.
    pub const ORDER_ANY: &'static str = "order.*";
    /// Every shipment event.
    pub const SHIPMENT_ANY: &'static str = "shipment.*";
    /// Every exception event (`exception.overdue`, …; see `crate::exceptions`).
    pub const EXCEPTION_ANY: &'static str = "exception.*";
}

/// The payload of `order.approved`, `order.needs_info` and `order.rejected`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewOutcome {
    /// The order.
    pub order_id: String,
    /// Its source connector and id, for subscribers that speak to the source.
    pub connector: String,
    pub external_id: String,
    /// What review found (empty when approved); the first is the reason of a rejection.
    #[serde(default)]
    pub findings: Vec<ReviewFinding>,
}

/// One finding of a review rule, as events and the API carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewFinding {
    /// The rule (`contact`).
    pub rule: String,
    /// Its version.
    pub version: u32,
    /// The reason code (`contact_missing`).
    pub code: String,
    /// The canonical path concerned (`customer.email`).
    pub path: String,
    /// What is wrong, for people; never the value.
    pub message: String,
}

/// The payload of the allocation and fulfilment events: which order, which step, and where.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderStep {
    /// The order.
    pub order_id: String,
    /// The warehouse connectors concerned (the allocation), in order.
    #[serde(default)]
    pub warehouses: Vec<String>,
    /// What caused it (`stage:allocate`, `warehouse:<connector>`, `api:<name>`).
    pub cause: String,
    /// Step details (stock shortfall, fulfilment ids, parcels), free-form.
    #[serde(default)]
    pub detail: serde_json::Value,
}

/// What a change asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// Amend spec, quantity, price, requested date or address.
    Change,
    /// Cancel.
    Cancel,
}

/// The payload of `order.change_requested`, `order.changed`, `order.cancelled` and
/// `order.change_refused`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderChange {
    /// The order.
    pub order_id: String,
    /// Identifies the change (the API's idempotency key, or the source document's id), so a
    /// change applied twice is one change.
    pub change_id: String,
    /// Change or cancel.
    pub kind: ChangeKind,
    /// Who asked (`api:<name>`, `connector:<name>`).
    pub requested_by: String,
    /// The order's state when it was asked.
    pub state: super::OrderState,
    /// The fields changed (canonical paths → new values); empty for a cancel.
    #[serde(default)]
    pub fields: serde_json::Map<String, serde_json::Value>,
    /// Why (a cancel reason, or why it was refused).
    #[serde(default)]
    pub reason: Option<String>,
    /// For `order.cancelled` after shipment: a return was requested instead.
    #[serde(default)]
    pub return_requested: bool,
}

/// The payload of the `shipment.*` events and `order.shipped` / `order.delivered`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShipmentRef {
    /// The order.
    pub order_id: String,
    /// The shipment (one parcel); empty for an order-level event.
    #[serde(default)]
    pub shipment_id: String,
    /// Stable lowercase carrier code (`ups`, `sf-express`).
    #[serde(default)]
    pub carrier: String,
    /// The carrier's tracking number.
    #[serde(default)]
    pub tracking_number: String,
    /// The warehouse that shipped it, if any.
    #[serde(default)]
    pub warehouse: Option<String>,
    /// The canonical tracking status (`in_transit`, `delivered`), when it is a tracking event.
    #[serde(default)]
    pub status: Option<String>,
    /// Details (ETA, delay, location), free-form.
    #[serde(default)]
    pub detail: serde_json::Value,
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
    /// A warehouse callback: `warehouse.<connector>`, for the warehouse stage.
    Warehouse,
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
            DocumentKind::Warehouse => EventType::warehouse(connector),
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
