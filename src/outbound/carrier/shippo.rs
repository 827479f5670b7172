//! Kind `shippo`: a Shippo-shaped API. A label is a transaction (the purchase of a rate of a
//! shipment), `metadata` = ordergate's label key on both. Shippo has no idempotency key: a
//! second transaction is a second label, so a purchase whose answer was lost is looked up
//! (`GET /transactions?metadata=`) before anything is bought again. A refused purchase comes
//! back as a transaction with `status: ERROR` and `messages[]`, which is a typed error here.
//! Pickups (`POST /pickups`, USPS and DHL Express accounts): the bought transactions, the
//! sender's address and a time window, `metadata` = the label key; Shippo has neither an
//! idempotency key nor a pickup lookup, so the ship stage never repeats a request whose answer
//! it did not see ([`Carrier::pickups_findable`]).

use async_trait::async_trait;
use serde_json::{json, Value};

use super::build::Connection;
use super::{
    address_json, buy_looked_up, decimal, Carrier, Label, LabelRequest, Pickup, PickupRequest,
};
use crate::partner::definition::parse_time;
use crate::partner::PartnerError;

/// A Shippo-shaped carrier API.
pub struct Shippo {
    conn: Connection,
}

impl Shippo {
    /// Over a connection.
    pub fn new(conn: Connection) -> Self {
        Self { conn }
    }

    /// The rate `id` (`GET /rates/{id}`): carrier, service, amount, transit days.
    async fn rate(&self, id: &str) -> Result<Value, PartnerError> {
        self.conn
            .send(
                "rate",
                reqwest::Method::GET,
                &self.conn.url(&format!("/rates/{id}")),
                &[],
                None,
                true,
            )
            .await
    }

    /// The label of a successful transaction, its rate read for carrier and service.
    async fn label_of(&self, t: &Value) -> Result<Label, PartnerError> {
        let rate_id = t["rate"].as_str().unwrap_or_default();
        let rate = if rate_id.is_empty() {
            Value::Null
        } else {
            self.rate(rate_id).await?
        };
        read_transaction(t, &rate).ok_or_else(|| {
            self.conn
                .decode_error("transaction without object_id or tracking_number".into())
        })
    }

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
        let rate = choose_rate(&shipment, request.service.as_deref())
            .map_err(|m| self.conn.decode_error(m))?;
        let body = json!({"rate": rate, "label_file_type": "PDF", "async": false, "metadata": request.key});
        let t = self
            .conn
            .send(
                "transactions",
                post,
                &self.conn.url("/transactions"),
                &[],
                Some(&body),
                false,
            )
            .await?;
        refused(&self.conn.name, &t)?;
        self.label_of(&t).await
    }
}

/// `POST /shipments` for `r`, synchronous, the label key as `metadata`.
pub fn shipment_body(r: &LabelRequest) -> Value {
    let [l, w, h] = r.dims_cm;
    json!({
        "address_from": address_json(&r.from),
        "address_to": address_json(&r.to),
        "parcels": [{"length": l.to_string(), "width": w.to_string(), "height": h.to_string(),
                     "distance_unit": "cm", "weight": r.weight_kg.to_string(), "mass_unit": "kg"}],
        "async": false,
        "metadata": r.key,
    })
}

/// The rate to buy: the cheapest whose servicelevel token or name is the asked service, or
/// the cheapest of all.
pub fn choose_rate(shipment: &Value, service: Option<&str>) -> Result<String, String> {
    let rates = shipment["rates"].as_array().cloned().unwrap_or_default();
    let is = |r: &Value, s: &str| {
        ["token", "name"].iter().any(|k| {
            r["servicelevel"][k]
                .as_str()
                .is_some_and(|x| x.eq_ignore_ascii_case(s))
        })
    };
    rates
        .iter()
        .filter(|r| service.is_none_or(|s| is(r, s)))
        .filter_map(|r| Some((decimal(&r["amount"])?, r["object_id"].as_str()?)))
        .min_by_key(|(a, _)| *a)
        .map(|(_, id)| id.to_string())
        .ok_or_else(|| {
            let offered: Vec<&str> = rates
                .iter()
                .filter_map(|r| r["servicelevel"]["token"].as_str())
                .collect();
            format!(
                "no rate for service {:?} (offered: {})",
                service.unwrap_or("any"),
                if offered.is_empty() {
                    "none".to_string()
                } else {
                    offered.join(", ")
                }
            )
        })
}

/// A transaction that is not `SUCCESS` as a typed error with Shippo's first message (its code
/// and text: an address the carrier refuses, an expired rate).
pub fn refused(platform: &str, t: &Value) -> Result<(), PartnerError> {
    let status = t["status"].as_str().unwrap_or_default();
    if status == "SUCCESS" {
        return Ok(());
    }
    let first = &t["messages"][0];
    Err(PartnerError::Partner {
        platform: platform.to_string(),
        status: 422,
        code: first["code"]
            .as_str()
            .map(str::to_string)
            .or_else(|| Some(format!("transaction {status}"))),
        message: first["text"]
            .as_str()
            .unwrap_or("the label could not be bought")
            .to_string(),
        retry_after: None,
        retriable_code: false,
    })
}

/// The label of a successful transaction and its rate (`GET /rates/{id}`).
pub fn read_transaction(t: &Value, rate: &Value) -> Option<Label> {
    let tracking_number = t["tracking_number"].as_str().filter(|x| !x.is_empty())?;
    let eta = t["eta"].as_str().and_then(parse_time).or_else(|| {
        let days = rate["estimated_days"].as_i64()?;
        let created = t["object_created"].as_str().and_then(parse_time)?;
        Some(created + chrono::Duration::days(days))
    });
    Some(Label {
        carrier: rate["provider"].as_str().unwrap_or("Shippo").to_string(),
        service: rate["servicelevel"]["token"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        tracking_number: tracking_number.to_string(),
        remote_id: t["object_id"].as_str()?.to_string(),
        label_url: t["label_url"].as_str().map(str::to_string),
        rate: decimal(&rate["amount"]),
        currency: rate["currency"].as_str().map(str::to_string),
        eta,
    })
}

#[async_trait]
impl Carrier for Shippo {
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
                &self.conn.url("/transactions"),
                &[("metadata".to_string(), key.to_string())],
                None,
                true,
            )
            .await?;
        let results = answer["results"].as_array().ok_or_else(|| {
            self.conn
                .decode_error("transaction list without results".into())
        })?;
        let found = results.iter().find(|t| {
            t["metadata"].as_str() == Some(key) && t["status"].as_str() == Some("SUCCESS")
        });
        match found {
            Some(t) => self.label_of(t).await.map(Some),
            None => Ok(None),
        }
    }

    async fn label_file(&self, label: &Label) -> Result<Option<(String, Vec<u8>)>, PartnerError> {
        self.conn.label_file(label).await
    }

    fn picks_up(&self) -> bool {
        self.conn.pickups
    }

    fn pickups_findable(&self) -> bool {
        false
    }

    /// One `POST /pickups` for the label's transaction (not retried after an answer that may
    /// have gone through: the client sends it as a non-idempotent call).
    async fn pickup(&self, r: &PickupRequest) -> Result<Pickup, PartnerError> {
        let account = self
            .conn
            .values
            .params
            .get("carrier_account")
            .cloned()
            .ok_or_else(|| {
                self.conn.decode_error(
                    "pickups need params.carrier_account (the USPS or DHL Express account's object id)"
                        .into(),
                )
            })?;
        let location_type = self
            .conn
            .values
            .params
            .get("building_location_type")
            .cloned()
            .unwrap_or_else(|| "Shipping Dock".to_string());
        let body = json!({
            "carrier_account": account,
            "location": {
                "building_location_type": location_type,
                "instructions": r.instructions,
                "address": address_json(&r.address),
            },
            "transactions": [r.label.remote_id],
            "requested_start_time": r.earliest.to_rfc3339(),
            "requested_end_time": r.latest.to_rfc3339(),
            "metadata": r.key,
        });
        let p = self
            .conn
            .send(
                "pickups",
                reqwest::Method::POST,
                &self.conn.url("/pickups"),
                &[],
                Some(&body),
                false,
            )
            .await?;
        if p["status"].as_str() == Some("ERROR") {
            let mut refusal = p.clone();
            refusal["status"] = json!("pickup ERROR");
            refused(&self.conn.name, &refusal)?;
        }
        read_pickup(&p, r).ok_or_else(|| {
            self.conn
                .decode_error("pickup answer without object_id or status".into())
        })
    }
}

/// A pickup as Shippo answers it: `status` `PENDING` | `CONFIRMED` | `ERROR` | `CANCELLED`,
/// `confirmation_code`, the carrier's confirmed window. `ERROR` is the carrier's refusal.
fn read_pickup(p: &Value, r: &PickupRequest) -> Option<Pickup> {
    let status = p["status"].as_str()?.to_ascii_lowercase();
    let time = |f: &str| p[f].as_str().and_then(parse_time);
    Some(Pickup {
        id: p["object_id"].as_str()?.to_string(),
        confirmation: p["confirmation_code"].as_str().map(str::to_string),
        status,
        earliest: time("confirmed_start_time").unwrap_or(r.earliest),
        latest: time("confirmed_end_time").unwrap_or(r.latest),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_refusals_and_transactions() {
        let s = json!({"rates": [
            {"object_id": "r1", "amount": "12.00", "servicelevel": {"token": "usps_priority", "name": "Priority Mail"}},
            {"object_id": "r2", "amount": "5.00", "servicelevel": {"token": "usps_ground_advantage", "name": "Ground Advantage"}},
        ]});
        assert_eq!(choose_rate(&s, Some("Priority Mail")).unwrap(), "r1");
        assert_eq!(choose_rate(&s, None).unwrap(), "r2");
        assert!(choose_rate(&s, Some("dhl"))
            .unwrap_err()
            .contains("usps_priority"));
        let bad = json!({"status": "ERROR", "messages": [{"code": "ADDRESS_INVALID", "text": "The address could not be verified."}]});
        let e = refused("shippo", &bad).unwrap_err();
        assert!(!e.is_retriable());
        assert!(e.to_string().contains("ADDRESS_INVALID"), "{e}");
        let ok = json!({"status": "SUCCESS", "object_id": "t1", "tracking_number": "SH1", "rate": "r1",
            "label_url": "http://x/l.pdf", "eta": "2026-12-09T12:00:00Z"});
        assert!(refused("shippo", &ok).is_ok());
        let l = read_transaction(&ok, &s["rates"][0]).unwrap();
        assert_eq!(
            (l.tracking_number.as_str(), l.service.as_str()),
            ("SH1", "usps_priority")
        );
    }
}
