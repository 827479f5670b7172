//! Carriers: the one interface every carrier kind with an API implements (an EasyPost-shaped
//! API: shipment → rates → buy; a Shippo-shaped one: shipment → rates → transaction), plus
//! kinds without an API (`dispatch`: own vehicle or a freight forwarder — a dispatch document,
//! tracking entered later through the API).
//!
//! **One label per parcel.** Every purchase carries ordergate's own key ([`label_key`],
//! derived from order + parcel) as the partner's reference (EasyPost `reference`, Shippo
//! `metadata`). The ship stage records the intent before the call; a purchase whose answer was
//! lost (timeout, cut connection, 5xx) is looked up by that key ([`Carrier::find`]) before it
//! is sent again, because neither API refuses a repeated purchase: a blind retry buys (and
//! bills) a second label.

use std::future::Future;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::partner::PartnerError;

pub mod build;
pub mod definition;
pub mod easypost;
pub mod shippo;

pub use build::{Booking, Carriers};
pub use definition::CarrierKind;

/// ordergate's key for the label of parcel `parcel` (`<warehouse>#1`) of `order_id`: stable,
/// so a retry, a redelivered message or a restarted daemon names the same purchase.
pub fn label_key(order_id: &str, parcel: &str) -> String {
    let id = uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        format!("label:{order_id}:{parcel}").as_bytes(),
    );
    format!("ogl-{}", id.simple())
}

/// An address on a label.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Address {
    pub name: String,
    pub company: Option<String>,
    pub street1: String,
    pub street2: Option<String>,
    pub city: String,
    pub state: Option<String>,
    pub postal_code: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    pub phone: Option<String>,
    pub email: Option<String>,
}

impl From<&crate::config::FromAddress> for Address {
    fn from(a: &crate::config::FromAddress) -> Self {
        Address {
            name: a.name.clone(),
            company: a.company.clone(),
            street1: a.street1.clone(),
            street2: a.street2.clone(),
            city: a.city.clone(),
            state: a.state.clone(),
            postal_code: a.postal_code.clone(),
            country: a.country.clone(),
            phone: a.phone.clone(),
            email: a.email.clone(),
        }
    }
}

/// One label to buy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelRequest {
    /// ordergate's key ([`label_key`]).
    pub key: String,
    pub order_id: String,
    /// The order number people see.
    pub order_number: String,
    pub to: Address,
    pub from: Address,
    /// The parcel's weight.
    pub weight_kg: Decimal,
    /// Length, width, height.
    pub dims_cm: [Decimal; 3],
    /// The service the transport rule asks for; none: the cheapest rate.
    pub service: Option<String>,
}

/// A bought label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Label {
    /// The carrier as the API names it (`USPS`, `UPS`).
    pub carrier: String,
    /// The service bought.
    pub service: String,
    pub tracking_number: String,
    /// The partner's id of the purchase (EasyPost shipment, Shippo transaction).
    pub remote_id: String,
    /// Where the label file is.
    pub label_url: Option<String>,
    /// What it cost.
    pub rate: Option<Decimal>,
    pub currency: Option<String>,
    /// When the carrier expects to deliver.
    pub eta: Option<DateTime<Utc>>,
}

/// A pickup to ask for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PickupRequest {
    /// The label key (the pickup's reference).
    pub key: String,
    pub label: Label,
    pub address: Address,
    pub earliest: DateTime<Utc>,
    pub latest: DateTime<Utc>,
    pub instructions: Option<String>,
}

/// A scheduled pickup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pickup {
    pub id: String,
    pub confirmation: Option<String>,
    pub status: String,
    pub earliest: DateTime<Utc>,
    pub latest: DateTime<Utc>,
}

/// A carrier with an API. Errors are [`PartnerError`]s: retriable ones (429, 5xx, timeouts)
/// are retried (a purchase after looking its key up), others — an address the carrier
/// refuses — become an exception for the transport department.
#[async_trait]
pub trait Carrier: Send + Sync {
    /// The instance's name.
    fn name(&self) -> &str;

    /// Buys the label keyed `request.key`, never a second one: with `look_first` (an earlier
    /// attempt may have reached the carrier) the key is looked up before anything is bought,
    /// and after a failure that may have gone through it is looked up again.
    async fn buy(&self, request: &LabelRequest, look_first: bool) -> Result<Label, PartnerError>;

    /// The label bought under ordergate's `key`, if the carrier has one.
    async fn find(&self, key: &str) -> Result<Option<Label>, PartnerError>;

    /// The label file (content type, bytes), fetched from its URL.
    async fn label_file(&self, label: &Label) -> Result<Option<(String, Vec<u8>)>, PartnerError>;

    /// Whether the kind can request pickups.
    fn picks_up(&self) -> bool;

    /// Whether a pickup request whose answer was lost can be found again by its key. Where it
    /// cannot (Shippo has no pickup lookup), the ship stage records the request before it is
    /// sent and never sends it blindly again: an unconfirmed one is an exception for a person.
    fn pickups_findable(&self) -> bool {
        true
    }

    /// Requests (and buys) a pickup for the label.
    async fn pickup(&self, request: &PickupRequest) -> Result<Pickup, PartnerError>;
}

/// Buys without ever buying twice for `key`: see [`Carrier::buy`]. `find` looks the key up,
/// `send` makes one purchase (its own non-idempotent calls are not retried by the client
/// after an answer that may have gone through).
pub(crate) async fn buy_looked_up<F, FF, S, SF>(
    conn: &build::Connection,
    key: &str,
    look_first: bool,
    find: F,
    send: S,
) -> Result<Label, PartnerError>
where
    F: Fn() -> FF,
    FF: Future<Output = Result<Option<Label>, PartnerError>>,
    S: Fn() -> SF,
    SF: Future<Output = Result<Label, PartnerError>>,
{
    let retry = conn.client.retry_policy();
    let mut look = look_first;
    let mut attempt = 0u32;
    loop {
        if look {
            if let Some(found) = find().await? {
                tracing::info!(carrier = %conn.name, key, "Label found by its key; not bought again.");
                return Ok(found);
            }
        }
        let error = match send().await {
            Ok(label) => return Ok(label),
            Err(e) => e,
        };
        if !error.is_retriable() || attempt >= retry.max_retries {
            conn.client.settle(&error, &conn.shutdown).await;
            return Err(error);
        }
        look = look || error.may_have_been_done();
        let delay = conn.client.settle_delay(attempt, &error);
        tracing::warn!(carrier = %conn.name, key, attempt = attempt + 1, delay_ms = delay.as_millis() as u64, error = %error, "Label purchase failed; retrying.");
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = conn.shutdown.cancelled() => return Err(PartnerError::Cancelled),
        }
        attempt += 1;
    }
}

/// An address as both EasyPost and Shippo take it (`zip` for the postal code).
pub fn address_json(a: &Address) -> serde_json::Value {
    serde_json::json!({
        "name": a.name, "company": a.company, "street1": a.street1, "street2": a.street2,
        "city": a.city, "state": a.state, "zip": a.postal_code, "country": a.country,
        "phone": a.phone, "email": a.email,
    })
}

/// A money amount or count sent as a string or a number.
pub fn decimal(v: &serde_json::Value) -> Option<Decimal> {
    match v {
        serde_json::Value::String(s) => s.parse().ok(),
        serde_json::Value::Number(n) => n.to_string().parse().ok(),
        _ => None,
    }
}

/// Kilograms as ounces (EasyPost weighs in ounces), rounded up to a tenth.
pub fn kg_to_oz(kg: Decimal) -> Decimal {
    (kg * Decimal::new(35_274, 3))
        .round_dp_with_strategy(1, rust_decimal::RoundingStrategy::AwayFromZero)
}

/// Centimetres as inches, rounded up to a tenth.
pub fn cm_to_in(cm: Decimal) -> Decimal {
    (cm / Decimal::new(254, 2))
        .round_dp_with_strategy(1, rust_decimal::RoundingStrategy::AwayFromZero)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_label_key_is_stable_per_order_and_parcel() {
        assert_eq!(label_key("o1", "east#1"), label_key("o1", "east#1"));
        assert_ne!(label_key("o1", "east#1"), label_key("o1", "east#2"));
        assert_ne!(label_key("o1", "east#1"), label_key("o2", "east#1"));
        assert!(label_key("o1", "east#1").len() <= 40);
    }

    #[test]
    fn units() {
        assert_eq!(kg_to_oz(Decimal::ONE), Decimal::new(353, 1));
        assert_eq!(cm_to_in(Decimal::from(254)), Decimal::from(100));
    }
}
