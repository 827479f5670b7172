//! Warehouses: the one interface every warehouse kind implements (a REST 3PL shaped like
//! ShipBob's Orders API, an RPC WMS shaped like the Qimen contract, a pick-list folder), and
//! the types the allocation and fulfil stages exchange with it.
//!
//! **Nothing twice.** [`Warehouse::create`] is given ordergate's own key
//! ([`fulfilment_key`], derived from the order and the warehouse). An implementation sends it
//! as the partner's reference (ShipBob `reference_id`, Qimen `deliveryOrderCode`, the pick
//! list's file name) and, before it sends a create whose earlier answer it never saw, looks
//! the key up ([`Warehouse::find`]) — never relying on the partner to drop a repeat.

use std::collections::BTreeMap;
use std::future::Future;

use async_trait::async_trait;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::partner::PartnerError;

pub mod build;
pub mod callback;
pub mod decode;
pub mod definition;
pub mod picklist;
pub mod qimen;
pub mod rest;

pub use build::BuildError;
pub use decode::{decode, DecodeError};
pub use definition::WarehouseKind;

/// ordergate's key for the fulfilment order of `order_id` at `warehouse`: stable, so a retry
/// (or a redelivered message, or a restarted daemon) names the same fulfilment order.
pub fn fulfilment_key(order_id: &str, warehouse: &str) -> String {
    let id = uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        format!("fulfilment:{order_id}:{warehouse}").as_bytes(),
    );
    format!("og-{}", id.simple())
}

/// One line to ship.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FulfilmentLine {
    /// The order line's number (1-based), to map answers back.
    pub line_no: u32,
    pub sku: String,
    pub name: String,
    pub quantity: Decimal,
    /// A packing instruction (fragile, hazardous), if the catalog flags the product.
    #[serde(default)]
    pub packing_instruction: Option<String>,
}

/// Where to ship.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ShipTo {
    pub name: String,
    pub company: Option<String>,
    pub lines: Vec<String>,
    pub city: String,
    pub region: Option<String>,
    pub postal_code: Option<String>,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    pub email: Option<String>,
    pub phone: Option<String>,
}

/// What a warehouse is asked to fulfil.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FulfilmentRequest {
    /// ordergate's key ([`fulfilment_key`]).
    pub key: String,
    /// The order.
    pub order_id: String,
    /// The order number people see (the source's external id).
    pub order_number: String,
    pub ship_to: ShipTo,
    pub lines: Vec<FulfilmentLine>,
    /// The shipping service asked for, if any.
    #[serde(default)]
    pub shipping_method: Option<String>,
    /// When the customer wants it, if they said.
    #[serde(default)]
    pub requested_date: Option<String>,
}

/// The warehouse's fulfilment order, as ordergate keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FulfilmentRef {
    /// ordergate's key.
    pub key: String,
    /// The warehouse's own id for it.
    pub remote_id: String,
}

/// Where a fulfilment order is at the warehouse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FulfilmentStatus {
    /// Accepted, not yet picked.
    Accepted,
    /// Picking or packing started.
    InProgress,
    Packed,
    Shipped,
    Cancelled,
    /// The warehouse reports a problem.
    Exception,
}

/// How a cancel or an amend went: the warehouse may refuse (picking started).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ChangeOutcome {
    Done,
    /// The warehouse said no, in its words.
    Refused {
        reason: String,
    },
}

/// Stock of each SKU asked for (SKUs the warehouse does not carry are absent or zero).
pub type Stock = BTreeMap<String, Decimal>;

/// One warehouse, of whatever kind. Errors are [`PartnerError`]s: retriable ones (429, 5xx,
/// timeouts) are retried by the stage with backoff, others park with an exception.
#[async_trait]
pub trait Warehouse: Send + Sync {
    /// The connector's name (`east-3pl`).
    fn name(&self) -> &str;

    /// Quantities the warehouse can ship now for each of `skus`.
    async fn stock(&self, skus: &[String]) -> Result<Stock, PartnerError>;

    /// Places the fulfilment order keyed by `request.key`. Must not create a second order for
    /// the same key: where the partner does not refuse a duplicate itself, the implementation
    /// looks the key up first when an earlier attempt may have reached the partner.
    async fn create(&self, request: &FulfilmentRequest) -> Result<FulfilmentRef, PartnerError>;

    /// The fulfilment order with ordergate's `key`, if the warehouse has one.
    async fn find(&self, key: &str) -> Result<Option<FulfilmentRef>, PartnerError>;

    /// Where it is.
    async fn status(&self, order: &FulfilmentRef) -> Result<FulfilmentStatus, PartnerError>;

    /// Asks to cancel; the warehouse may refuse.
    async fn cancel(
        &self,
        order: &FulfilmentRef,
        reason: &str,
    ) -> Result<ChangeOutcome, PartnerError>;

    /// Asks to amend to `request`; the warehouse may refuse.
    async fn amend(
        &self,
        order: &FulfilmentRef,
        request: &FulfilmentRequest,
    ) -> Result<ChangeOutcome, PartnerError>;
}

/// What a warehouse callback says, decoded from its kind's wire format (the warehouse stage
/// acts on these; one callback may say several things).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum WarehouseEvent {
    /// The fulfilment order with ordergate's `key` (or the warehouse's `remote_id`) was packed.
    Packed {
        key: Option<String>,
        remote_id: Option<String>,
        /// The parcels it was packed into, SKU → quantity each, when the warehouse says (a
        /// pick-list confirmation's `parcel` column); empty: one parcel, or not said. The ship
        /// stage buys one label per parcel.
        parcels: Vec<BTreeMap<String, Decimal>>,
    },
    /// Handed to the carrier, one entry per parcel.
    Shipped {
        key: Option<String>,
        remote_id: Option<String>,
        parcels: Vec<Parcel>,
        /// `false` for a partial confirmation (more parcels follow).
        complete: bool,
        /// The partner's dedupe id for this message (Qimen `outBizCode`, a webhook id).
        message_id: Option<String>,
    },
    /// The warehouse cancelled it (or confirmed a cancel).
    Cancelled {
        key: Option<String>,
        remote_id: Option<String>,
        reason: Option<String>,
    },
    /// Handover discrepancy: fewer or damaged units than planned.
    Discrepancy {
        key: Option<String>,
        remote_id: Option<String>,
        lines: Vec<DiscrepancyLine>,
    },
    /// Stock of SKUs changed (arrived): backordered orders may be allocated again.
    StockChanged { skus: Vec<String> },
}

/// One parcel handed to a carrier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Parcel {
    /// The carrier as the warehouse named it (`UPS`, `顺丰`); stable codes come from
    /// `crate::tracking` carrier tables.
    pub carrier: String,
    pub tracking_number: String,
    #[serde(default)]
    pub service: Option<String>,
    /// SKU → quantity in this parcel, if the warehouse says.
    #[serde(default)]
    pub items: BTreeMap<String, Decimal>,
}

/// A line that did not leave as planned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiscrepancyLine {
    pub sku: String,
    pub planned: Decimal,
    pub shipped: Decimal,
    #[serde(default)]
    pub damaged: Decimal,
}

/// The configured warehouses by connector name.
#[derive(Clone, Default)]
pub struct Warehouses {
    by_name: BTreeMap<String, std::sync::Arc<dyn Warehouse>>,
}

impl Warehouses {
    /// Adds (or replaces) one.
    pub fn insert(&mut self, warehouse: std::sync::Arc<dyn Warehouse>) {
        self.by_name.insert(warehouse.name().to_string(), warehouse);
    }

    /// The warehouse named `name`.
    pub fn get(&self, name: &str) -> Option<&std::sync::Arc<dyn Warehouse>> {
        self.by_name.get(name)
    }

    /// Their names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }

    /// Whether none is configured.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}

/// Places a fulfilment order without ever making a second one for `key`: the partner's
/// refusal of a duplicate (`duplicate`) is answered with the existing order, and after a
/// failure that may have gone through (timeout, lost connection, 5xx) the key is looked up
/// before the create is sent again. `look_first` looks it up before the first send too — for
/// partners that accept a repeated create (Qimen), where the earlier attempt may have been
/// made by a daemon that died before it saw the answer.
pub(crate) async fn create_looked_up<F, FF, S, SF>(
    conn: &build::Connection,
    key: &str,
    look_first: bool,
    duplicate: impl Fn(&PartnerError) -> bool,
    find: F,
    send: S,
) -> Result<FulfilmentRef, PartnerError>
where
    F: Fn() -> FF,
    FF: Future<Output = Result<Option<FulfilmentRef>, PartnerError>>,
    S: Fn() -> SF,
    SF: Future<Output = Result<FulfilmentRef, PartnerError>>,
{
    let retry = conn.retry();
    let mut look = look_first;
    let mut attempt = 0u32;
    loop {
        if look {
            if let Some(found) = find().await? {
                tracing::info!(warehouse = %conn.name, key, remote_id = %found.remote_id, "Fulfilment order found by its key; not created again.");
                return Ok(found);
            }
        }
        let error = match send().await {
            Ok(created) => return Ok(created),
            Err(e) => e,
        };
        if duplicate(&error) {
            return find().await?.ok_or(error);
        }
        if !error.is_retriable() || attempt >= retry.max_retries {
            conn.client.settle(&error, &conn.shutdown).await;
            return Err(error);
        }
        look = look || error.may_have_been_done();
        let delay = conn.client.settle_delay(attempt, &error);
        tracing::warn!(warehouse = %conn.name, key, attempt = attempt + 1, delay_ms = delay.as_millis() as u64, error = %error, "Fulfilment create failed; retrying.");
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = conn.shutdown.cancelled() => return Err(PartnerError::Cancelled),
        }
        attempt += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fulfilment_key_is_stable_per_order_and_warehouse() {
        assert_eq!(fulfilment_key("o1", "east"), fulfilment_key("o1", "east"));
        assert_ne!(fulfilment_key("o1", "east"), fulfilment_key("o1", "west"));
        assert_ne!(fulfilment_key("o1", "east"), fulfilment_key("o2", "east"));
        assert!(fulfilment_key("o1", "east").len() <= 40);
    }
}
