//! Kind `rest`: a REST/JSON 3PL shaped like ShipBob's Orders API. The order's `reference_id`
//! is ordergate's fulfilment key; ShipBob refuses a second order with the same one (422
//! "Duplicate reference ID"), and ordergate looks the key up (`GET /order?ReferenceIds=`)
//! both after that refusal and before it sends a create again whose answer it never saw.
//! The mapping to and from ShipBob's JSON is pure ([`order_body`], [`read_order`],
//! [`status_of`]); the I/O is the partner client's.

use async_trait::async_trait;
use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::build::Connection;
use super::definition::RestPaths;
use super::{
    create_looked_up, ChangeOutcome, FulfilmentRef, FulfilmentRequest, FulfilmentStatus, Stock,
    Warehouse,
};
use crate::partner::client::{Call, RawResponse};
use crate::partner::PartnerError;

/// A ShipBob-shaped warehouse.
pub struct RestWarehouse {
    conn: Connection,
    paths: RestPaths,
}

impl RestWarehouse {
    /// Over a connection, with the definition's paths.
    pub fn new(conn: Connection, paths: RestPaths) -> Self {
        Self { conn, paths }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.conn.base_url)
    }

    fn decode_error(&self, message: String) -> PartnerError {
        PartnerError::Decode {
            platform: self.conn.name.clone(),
            message,
        }
    }

    fn json(&self, raw: &RawResponse) -> Result<Value, PartnerError> {
        serde_json::from_slice(&raw.bytes)
            .map_err(|e| self.decode_error(format!("body is not JSON: {e}")))
    }

    async fn send(
        &self,
        endpoint: &str,
        method: reqwest::Method,
        url: &str,
        query: &[(String, String)],
        body: Option<&Value>,
        idempotent: bool,
    ) -> Result<Value, PartnerError> {
        let call = Call {
            method,
            url,
            query,
            headers: &self.conn.headers,
            body: body.map(|b| ("application/json", b.to_string().into_bytes())),
            idempotent,
        };
        self.conn
            .client
            .request(endpoint, &call, &self.conn.shutdown, |raw| self.json(&raw))
            .await
    }

    /// One `POST /order`; a 422 (duplicate reference) is handed back for the lookup.
    async fn create_once(
        &self,
        request: &FulfilmentRequest,
    ) -> Result<FulfilmentRef, PartnerError> {
        let body = order_body(request);
        let answer = self
            .send(
                "create",
                reqwest::Method::POST,
                &self.url(&self.paths.order),
                &[],
                Some(&body),
                false,
            )
            .await?;
        read_order(&answer)
            .map_err(|m| self.decode_error(format!("create answer: {m}")))
            .map(|(key, remote_id, _)| FulfilmentRef {
                key: key.unwrap_or_else(|| request.key.clone()),
                remote_id,
            })
    }
}

#[async_trait]
impl Warehouse for RestWarehouse {
    fn name(&self) -> &str {
        &self.conn.name
    }

    async fn stock(&self, skus: &[String]) -> Result<Stock, PartnerError> {
        let mut stock = Stock::new();
        for sku in skus {
            let query = [("SearchBy".to_string(), sku.clone())];
            let answer = self
                .send(
                    "inventory",
                    reqwest::Method::GET,
                    &self.url(&self.paths.inventory),
                    &query,
                    None,
                    true,
                )
                .await?;
            let levels = answer
                .as_array()
                .ok_or_else(|| self.decode_error("inventory answer is not an array".into()))?;
            let mut total = Decimal::ZERO;
            for level in levels.iter().filter(|l| l["sku"].as_str() == Some(sku)) {
                total += quantity(&level["total_fulfillable_quantity"]).ok_or_else(|| {
                    self.decode_error("inventory level without total_fulfillable_quantity".into())
                })?;
            }
            stock.insert(sku.clone(), total);
        }
        Ok(stock)
    }

    async fn create(&self, request: &FulfilmentRequest) -> Result<FulfilmentRef, PartnerError> {
        create_looked_up(
            &self.conn,
            &request.key,
            false,
            |e| e.status() == Some(422),
            || self.find(&request.key),
            || self.create_once(request),
        )
        .await
    }

    async fn find(&self, key: &str) -> Result<Option<FulfilmentRef>, PartnerError> {
        let query = [("ReferenceIds".to_string(), key.to_string())];
        let answer = self
            .send(
                "find",
                reqwest::Method::GET,
                &self.url(&self.paths.order),
                &query,
                None,
                true,
            )
            .await?;
        let orders = answer
            .as_array()
            .ok_or_else(|| self.decode_error("order list is not an array".into()))?;
        for o in orders {
            let (reference, remote_id, status) =
                read_order(o).map_err(|m| self.decode_error(format!("order list: {m}")))?;
            if reference.as_deref() == Some(key) && status != "Cancelled" {
                return Ok(Some(FulfilmentRef {
                    key: key.to_string(),
                    remote_id,
                }));
            }
        }
        Ok(None)
    }

    async fn status(&self, order: &FulfilmentRef) -> Result<FulfilmentStatus, PartnerError> {
        let url = self.url(&format!("{}/{}", self.paths.order, order.remote_id));
        let answer = self
            .send("status", reqwest::Method::GET, &url, &[], None, true)
            .await?;
        status_of(&answer).map_err(|m| self.decode_error(format!("order: {m}")))
    }

    async fn cancel(
        &self,
        order: &FulfilmentRef,
        reason: &str,
    ) -> Result<ChangeOutcome, PartnerError> {
        let url = self.url(&format!("{}/{}/cancel", self.paths.order, order.remote_id));
        let body = json!({"reason": reason});
        match self
            .send(
                "cancel",
                reqwest::Method::POST,
                &url,
                &[],
                Some(&body),
                true,
            )
            .await
        {
            Ok(answer) => {
                cancel_outcome(&answer).map_err(|m| self.decode_error(format!("cancel: {m}")))
            }
            Err(
                e @ PartnerError::Partner {
                    status: 409 | 422, ..
                },
            ) => Ok(refused(e)),
            Err(e) => Err(e),
        }
    }

    async fn amend(
        &self,
        order: &FulfilmentRef,
        request: &FulfilmentRequest,
    ) -> Result<ChangeOutcome, PartnerError> {
        let url = self.url(&format!("{}/{}", self.paths.order, order.remote_id));
        let body = order_body(request);
        match self
            .send("amend", reqwest::Method::PUT, &url, &[], Some(&body), true)
            .await
        {
            Ok(_) => Ok(ChangeOutcome::Done),
            Err(
                e @ PartnerError::Partner {
                    status: 409 | 422, ..
                },
            ) => Ok(refused(e)),
            Err(e) => Err(e),
        }
    }
}

/// A refusal in the partner's words.
fn refused(e: PartnerError) -> ChangeOutcome {
    let reason = match e {
        PartnerError::Partner { message, code, .. } => code.map_or(message.clone(), |c| {
            if message == "no error message" {
                c
            } else {
                format!("{c}: {message}")
            }
        }),
        other => other.to_string(),
    };
    ChangeOutcome::Refused { reason }
}

/// A quantity as ShipBob sends it (a JSON number).
fn quantity(v: &Value) -> Option<Decimal> {
    match v {
        Value::Number(n) => n.to_string().parse().ok(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// The `POST /order` body: `reference_id` is the key; fragile lines' packing instructions go
/// into `gift_message` (ShipBob's only free-text field on the order, printed on the packing
/// slip) and a `packing_instruction` tag per line.
pub fn order_body(r: &FulfilmentRequest) -> Value {
    let address = json!({
        "address1": r.ship_to.lines.first().cloned().unwrap_or_default(),
        "address2": r.ship_to.lines.get(1..).map(|l| l.join(", ")).unwrap_or_default(),
        "company_name": r.ship_to.company,
        "city": r.ship_to.city,
        "state": r.ship_to.region,
        "country": r.ship_to.country,
        "zip_code": r.ship_to.postal_code,
    });
    let products: Vec<Value> = r
        .lines
        .iter()
        .map(|l| {
            json!({
                "reference_id": l.sku,
                "name": l.name,
                "quantity": serde_json::Number::from_string_unchecked(l.quantity.normalize().to_string()),
                "external_line_id": l.line_no,
            })
        })
        .collect();
    let mut tags = vec![json!({"name": "ordergate_order_id", "value": r.order_id})];
    let mut notes = Vec::new();
    for l in &r.lines {
        if let Some(p) = &l.packing_instruction {
            tags.push(json!({"name": "packing_instruction", "value": format!("{}: {p}", l.sku)}));
            notes.push(format!("{} ({}): {p}", l.name, l.sku));
        }
    }
    let mut body = json!({
        "reference_id": r.key,
        "order_number": r.order_number,
        "type": "DTC",
        "shipping_method": r.shipping_method.clone().unwrap_or_else(|| "Standard".into()),
        "recipient": {
            "name": r.ship_to.name,
            "address": address,
            "email": r.ship_to.email,
            "phone_number": r.ship_to.phone,
        },
        "products": products,
        "tags": tags,
    });
    if !notes.is_empty() {
        body["gift_message"] = Value::String(notes.join("; "));
    }
    if let Some(d) = &r.requested_date {
        body["purchase_date"] = Value::String(d.clone());
    }
    body
}

/// `(reference_id, id, status)` of an order object.
pub fn read_order(o: &Value) -> Result<(Option<String>, String, String), String> {
    let id = match &o["id"] {
        Value::Number(n) => n.to_string(),
        Value::String(s) if !s.is_empty() => s.clone(),
        _ => return Err("order without id".into()),
    };
    let status = o["status"]
        .as_str()
        .ok_or("order without status")?
        .to_string();
    Ok((o["reference_id"].as_str().map(str::to_string), id, status))
}

/// ShipBob's order status (and its shipments') as ordergate's.
pub fn status_of(o: &Value) -> Result<FulfilmentStatus, String> {
    let (_, _, status) = read_order(o)?;
    let shipments: Vec<&str> = o["shipments"]
        .as_array()
        .map(|a| a.iter().filter_map(|s| s["status"].as_str()).collect())
        .unwrap_or_default();
    let any = |s: &str| shipments.contains(&s);
    Ok(match status.as_str() {
        "Fulfilled" => FulfilmentStatus::Shipped,
        "Cancelled" => FulfilmentStatus::Cancelled,
        "Exception" => FulfilmentStatus::Exception,
        "PartiallyFulfilled" => FulfilmentStatus::InProgress,
        "Processing" | "ImportReview" if any("LabeledCreated") => FulfilmentStatus::Packed,
        "Processing" if any("Processing") => FulfilmentStatus::InProgress,
        "Processing" | "ImportReview" => FulfilmentStatus::Accepted,
        other => return Err(format!("unknown order status {other:?}")),
    })
}

/// A cancel answer: `{order, canceled_shipment_results[{is_success, reason}]}`; done only when
/// every shipment was cancelled.
pub fn cancel_outcome(answer: &Value) -> Result<ChangeOutcome, String> {
    let results = answer["canceled_shipment_results"]
        .as_array()
        .ok_or("no canceled_shipment_results")?;
    let refusals: Vec<String> = results
        .iter()
        .filter(|r| r["is_success"].as_bool() != Some(true))
        .map(|r| {
            r["reason"]
                .as_str()
                .unwrap_or("shipment not cancelled")
                .to_string()
        })
        .collect();
    Ok(if refusals.is_empty() {
        ChangeOutcome::Done
    } else {
        ChangeOutcome::Refused {
            reason: refusals.join("; "),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_table() {
        let o = |status: &str, shipment: &str| json!({"id": 1, "status": status, "shipments": [{"status": shipment}]});
        for (status, shipment, want) in [
            ("Processing", "None", FulfilmentStatus::Accepted),
            ("Processing", "Processing", FulfilmentStatus::InProgress),
            ("Processing", "LabeledCreated", FulfilmentStatus::Packed),
            ("Fulfilled", "Completed", FulfilmentStatus::Shipped),
            (
                "PartiallyFulfilled",
                "Completed",
                FulfilmentStatus::InProgress,
            ),
            ("Cancelled", "Cancelled", FulfilmentStatus::Cancelled),
            ("Exception", "Exception", FulfilmentStatus::Exception),
            ("ImportReview", "ImportReview", FulfilmentStatus::Accepted),
        ] {
            assert_eq!(
                status_of(&o(status, shipment)),
                Ok(want),
                "{status}/{shipment}"
            );
        }
        assert!(status_of(&o("Lost", "None")).is_err());
        assert!(status_of(&json!({"status": "Processing"})).is_err());
    }

    #[test]
    fn partial_cancel_is_refused_with_the_reasons() {
        let a = json!({"order": {}, "canceled_shipment_results": [
            {"action": "Cancel", "is_success": true, "reason": null, "shipment_id": 1},
            {"action": "Cancel", "is_success": false, "reason": "Shipment is being picked", "shipment_id": 2}
        ]});
        assert_eq!(
            cancel_outcome(&a),
            Ok(ChangeOutcome::Refused {
                reason: "Shipment is being picked".into()
            })
        );
        let done = json!({"canceled_shipment_results": [{"is_success": true}]});
        assert_eq!(cancel_outcome(&done), Ok(ChangeOutcome::Done));
    }
}
