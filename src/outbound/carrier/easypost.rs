//! Kind `easypost`: an EasyPost-shaped API. A label is a shipment (`reference` = ordergate's
//! label key) whose chosen rate is bought; EasyPost has no idempotency key and a second
//! shipment bought for the same parcel is a second label, so a purchase whose answer was lost
//! is looked up by reference (`GET /shipments?reference=`) before anything is bought again.
//! The mapping to and from EasyPost's JSON is pure ([`shipment_body`], [`choose_rate`],
//! [`read_bought`]); the I/O is the partner client's.

use async_trait::async_trait;
use serde_json::{json, Value};

use super::build::Connection;
use super::{
    address_json, buy_looked_up, cm_to_in, decimal, kg_to_oz, Carrier, Label, LabelRequest, Pickup,
    PickupRequest,
};
use crate::partner::definition::parse_time;
use crate::partner::PartnerError;

/// An EasyPost-shaped carrier API.
pub struct EasyPost {
    conn: Connection,
}

impl EasyPost {
    /// Over a connection.
    pub fn new(conn: Connection) -> Self {
        Self { conn }
    }

    /// Creates the shipment (rates) and buys the rate the request asks for.
    async fn buy_once(&self, request: &LabelRequest) -> Result<Label, PartnerError> {
        let post = reqwest::Method::POST;
        let shipment = self
            .conn
            .send(
                "shipments",
                post.clone(),
                &self.conn.url("/shipments"),
                &[],
                Some(&shipment_body(request)),
                false,
            )
            .await?;
        let id = shipment["id"]
            .as_str()
            .ok_or_else(|| self.conn.decode_error("shipment answer without id".into()))?;
        let rate = choose_rate(&shipment, request.service.as_deref())
            .map_err(|m| self.conn.decode_error(m))?;
        let bought = self
            .conn
            .send(
                "buy",
                post,
                &self.conn.url(&format!("/shipments/{id}/buy")),
                &[],
                Some(&json!({"rate": {"id": rate}})),
                false,
            )
            .await?;
        read_bought(&bought).ok_or_else(|| {
            self.conn
                .decode_error("buy answer has no tracking_code or postage_label".into())
        })
    }
}

/// `POST /shipments` for `r`: ounces and inches, the label key as `reference`.
pub fn shipment_body(r: &LabelRequest) -> Value {
    let [l, w, h] = r.dims_cm;
    json!({"shipment": {
        "to_address": address_json(&r.to),
        "from_address": address_json(&r.from),
        "parcel": {
            "length": cm_to_in(l), "width": cm_to_in(w), "height": cm_to_in(h),
            "weight": kg_to_oz(r.weight_kg),
        },
        "reference": r.key,
        "options": {"label_format": "PDF", "print_custom_1": r.order_number},
    }})
}

/// The id of the rate to buy: the cheapest of the asked service (case-insensitive), or the
/// cheapest of all when none is asked. An error lists what was offered (and the carriers'
/// messages, which is where EasyPost reports per-carrier rating failures).
pub fn choose_rate(shipment: &Value, service: Option<&str>) -> Result<String, String> {
    let rates = shipment["rates"].as_array().cloned().unwrap_or_default();
    let best = rates
        .iter()
        .filter(|r| {
            service.is_none_or(|s| {
                r["service"]
                    .as_str()
                    .is_some_and(|x| x.eq_ignore_ascii_case(s))
            })
        })
        .filter_map(|r| Some((decimal(&r["rate"])?, r["id"].as_str()?)))
        .min_by_key(|(price, _)| *price);
    match best {
        Some((_, id)) => Ok(id.to_string()),
        None => {
            let offered: Vec<&str> = rates.iter().filter_map(|r| r["service"].as_str()).collect();
            let messages: Vec<&str> = shipment["messages"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|m| m["message"].as_str())
                .collect();
            Err(format!(
                "no rate for service {:?} (offered: {}){}",
                service.unwrap_or("any"),
                if offered.is_empty() {
                    "none".to_string()
                } else {
                    offered.join(", ")
                },
                if messages.is_empty() {
                    String::new()
                } else {
                    format!("; carrier messages: {}", messages.join("; "))
                }
            ))
        }
    }
}

/// The label of a bought shipment; `None` while it is not bought.
pub fn read_bought(shipment: &Value) -> Option<Label> {
    let tracking_number = shipment["tracking_code"]
        .as_str()
        .filter(|t| !t.is_empty())?;
    let label = &shipment["postage_label"];
    if !label.is_object() {
        return None;
    }
    let rate = &shipment["selected_rate"];
    let eta = rate["delivery_date"]
        .as_str()
        .and_then(parse_time)
        .or_else(|| {
            let days = rate["delivery_days"].as_i64()?;
            let created = shipment["created_at"].as_str().and_then(parse_time)?;
            Some(created + chrono::Duration::days(days))
        });
    Some(Label {
        carrier: rate["carrier"].as_str().unwrap_or("EasyPost").to_string(),
        service: rate["service"].as_str().unwrap_or_default().to_string(),
        tracking_number: tracking_number.to_string(),
        remote_id: shipment["id"].as_str().unwrap_or_default().to_string(),
        label_url: label["label_pdf_url"]
            .as_str()
            .or_else(|| label["label_url"].as_str())
            .map(str::to_string),
        rate: decimal(&rate["rate"]),
        currency: rate["currency"].as_str().map(str::to_string),
        eta,
    })
}

#[async_trait]
impl Carrier for EasyPost {
    fn name(&self) -> &str {
        &self.conn.name
    }

    async fn buy(&self, request: &LabelRequest, look_first: bool) -> Result<Label, PartnerError> {
        buy_looked_up(
            &self.conn,
            &request.key,
            look_first,
            || self.find(&request.key),
            || self.buy_once(request),
        )
        .await
    }

    async fn find(&self, key: &str) -> Result<Option<Label>, PartnerError> {
        let answer = self
            .conn
            .send(
                "lookup",
                reqwest::Method::GET,
                &self.conn.url("/shipments"),
                &[("reference".to_string(), key.to_string())],
                None,
                true,
            )
            .await?;
        let shipments = answer["shipments"].as_array().ok_or_else(|| {
            self.conn
                .decode_error("shipment list without shipments".into())
        })?;
        Ok(shipments
            .iter()
            .filter(|s| s["reference"].as_str() == Some(key))
            .find_map(read_bought))
    }

    async fn label_file(&self, label: &Label) -> Result<Option<(String, Vec<u8>)>, PartnerError> {
        self.conn.label_file(label).await
    }

    fn picks_up(&self) -> bool {
        self.conn.pickups
    }

    /// Schedules one pickup per label key: the key is the pickup's `reference`, and pickups
    /// are looked up by it first (`GET /pickups?reference=`), so a retry after a lost answer
    /// buys the one already created (or answers the one already scheduled) instead of a second.
    async fn pickup(&self, r: &PickupRequest) -> Result<Pickup, PartnerError> {
        let found = self
            .conn
            .send(
                "pickups_lookup",
                reqwest::Method::GET,
                &self.conn.url("/pickups"),
                &[("reference".to_string(), r.key.clone())],
                None,
                true,
            )
            .await?;
        let earlier = found["pickups"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| {
                p["reference"].as_str() == Some(r.key.as_str())
                    && p["status"].as_str() != Some("canceled")
            })
            .cloned();
        let pickup = match earlier {
            Some(p) if p["status"].as_str() == Some("scheduled") => {
                tracing::info!(carrier = %self.conn.name, key = %r.key, "Pickup found by its key; not scheduled again.");
                return Ok(read_pickup(&p, r));
            }
            Some(p) => p,
            None => {
                let body = json!({"pickup": {
                    "shipment": {"id": r.label.remote_id},
                    "address": address_json(&r.address),
                    "min_datetime": r.earliest.to_rfc3339(),
                    "max_datetime": r.latest.to_rfc3339(),
                    "reference": r.key,
                    "instructions": r.instructions,
                    "is_account_address": false,
                }});
                self.conn
                    .send(
                        "pickups",
                        reqwest::Method::POST,
                        &self.conn.url("/pickups"),
                        &[],
                        Some(&body),
                        false,
                    )
                    .await?
            }
        };
        let id = pickup["id"]
            .as_str()
            .ok_or_else(|| self.conn.decode_error("pickup answer without id".into()))?;
        let rate = pickup["pickup_rates"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| Some((decimal(&p["rate"])?, p)))
            .min_by_key(|(price, _)| *price)
            .map(|(_, p)| p.clone())
            .ok_or_else(|| {
                self.conn
                    .decode_error("pickup answer without pickup_rates".into())
            })?;
        let bought = self
            .conn
            .send(
                "pickup_buy",
                reqwest::Method::POST,
                &self.conn.url(&format!("/pickups/{id}/buy")),
                &[],
                Some(&json!({"carrier": rate["carrier"], "service": rate["service"]})),
                false,
            )
            .await?;
        Ok(read_pickup(&bought, r))
    }
}

/// A pickup as EasyPost answers it.
fn read_pickup(p: &Value, r: &PickupRequest) -> Pickup {
    Pickup {
        id: p["id"].as_str().unwrap_or_default().to_string(),
        confirmation: p["confirmation"].as_str().map(str::to_string),
        status: p["status"].as_str().unwrap_or("unknown").to_string(),
        earliest: r.earliest,
        latest: r.latest,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;

    #[test]
    fn the_cheapest_rate_of_the_service_is_bought() {
        let s = json!({"rates": [
            {"id": "rate_1", "service": "Express", "rate": "30.10"},
            {"id": "rate_2", "service": "Ground", "rate": "7.20"},
            {"id": "rate_3", "service": "express", "rate": "25.00"},
        ]});
        assert_eq!(choose_rate(&s, Some("Express")).unwrap(), "rate_3");
        assert_eq!(choose_rate(&s, None).unwrap(), "rate_2");
        let e = choose_rate(&s, Some("Overnight")).unwrap_err();
        assert!(e.contains("offered: Express, Ground, express"), "{e}");
    }

    #[test]
    fn a_bought_shipment_is_a_label() {
        let s = json!({"id": "shp_1", "reference": "ogl-1", "tracking_code": "EZ1000",
            "postage_label": {"label_url": "http://x/l.png", "label_pdf_url": "http://x/l.pdf"},
            "selected_rate": {"carrier": "USPS", "service": "Priority", "rate": "7.58",
                "currency": "USD", "delivery_date": "2026-12-08T17:00:00Z"}});
        let l = read_bought(&s).unwrap();
        assert_eq!(l.tracking_number, "EZ1000");
        assert_eq!(l.label_url.as_deref(), Some("http://x/l.pdf"));
        assert_eq!(l.rate, Some(Decimal::new(758, 2)));
        assert!(l.eta.is_some());
        assert_eq!(
            read_bought(&json!({"id": "shp_2", "tracking_code": null})),
            None
        );
    }
}
