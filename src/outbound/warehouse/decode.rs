//! Warehouse callbacks decoded from each kind's wire format into [`WarehouseEvent`]s, pure and
//! bounded: `rest` (ShipBob webhook JSON: `order.shipped`, `order.shipment.cancelled`,
//! `order.shipment.exception`), `qimen` (`deliveryorder.confirm` XML) and `pick-list`
//! (shipped-confirmation CSV). The callback was verified before it was stored; errors name
//! the part that is wrong, never a value from it.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde_json::Value;

use super::definition::WarehouseKind;
use super::{DiscrepancyLine, Parcel, WarehouseEvent};

/// The largest callback decoded.
pub const MAX_CALLBACK_BYTES: usize = 4 * 1024 * 1024;
/// The most parcels (or CSV rows) one callback may carry.
pub const MAX_PARCELS: usize = 10_000;

/// Why a callback could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("{kind} callback of {size} bytes is over the limit of {limit}")]
    TooLarge {
        kind: &'static str,
        size: usize,
        limit: usize,
    },
    #[error("{kind} callback: {reason}")]
    Malformed { kind: &'static str, reason: String },
    #[error("{kind} callback: more than {limit} parcels or rows")]
    TooMany { kind: &'static str, limit: usize },
}

/// What a callback of `kind` says.
pub fn decode(kind: WarehouseKind, bytes: &[u8]) -> Result<Vec<WarehouseEvent>, DecodeError> {
    let name = kind.as_str();
    if bytes.len() > MAX_CALLBACK_BYTES {
        return Err(DecodeError::TooLarge {
            kind: name,
            size: bytes.len(),
            limit: MAX_CALLBACK_BYTES,
        });
    }
    let malformed = |reason: String| DecodeError::Malformed { kind: name, reason };
    match kind {
        WarehouseKind::Rest => rest(bytes).map_err(malformed),
        WarehouseKind::Qimen => qimen(bytes).map_err(malformed),
        WarehouseKind::PickList => pick_list(bytes).map_err(malformed),
    }
    .and_then(|events| {
        let parcels: usize = events
            .iter()
            .map(|e| match e {
                WarehouseEvent::Shipped { parcels, .. } => parcels.len(),
                WarehouseEvent::Discrepancy { lines, .. } => lines.len(),
                _ => 1,
            })
            .sum();
        if parcels > MAX_PARCELS {
            return Err(DecodeError::TooMany {
                kind: name,
                limit: MAX_PARCELS,
            });
        }
        Ok(events)
    })
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn number(v: &Value, what: &str) -> Result<Decimal, String> {
    text(v)
        .and_then(|t| t.parse::<Decimal>().ok())
        .ok_or_else(|| format!("{what} is not a number"))
}

/// ShipBob: `{"topic", "data": <order>}` with the order's shipments, each with `tracking` and
/// `products`. Topics other than these are acknowledged and say nothing.
fn rest(bytes: &[u8]) -> Result<Vec<WarehouseEvent>, String> {
    let body: Value =
        serde_json::from_slice(bytes).map_err(|e| format!("body is not JSON: {e}"))?;
    let topic = body["topic"]
        .as_str()
        .or_else(|| body["type"].as_str())
        .ok_or("no topic")?;
    let order = &body["data"];
    if !order.is_object() {
        return Err("no data object".into());
    }
    let key = order["reference_id"].as_str().map(str::to_string);
    let remote_id = text(&order["id"]);
    if key.is_none() && remote_id.is_none() {
        return Err("data has neither reference_id nor id".into());
    }
    let shipments = order["shipments"].as_array().cloned().unwrap_or_default();
    Ok(match topic {
        "order.shipped" | "order_shipped" => {
            let mut parcels = Vec::new();
            for (i, s) in shipments.iter().enumerate() {
                let t = &s["tracking"];
                let Some(tracking_number) = text(&t["tracking_number"]) else {
                    // A shipment not yet handed over (no tracking) is not a parcel.
                    continue;
                };
                let mut items = BTreeMap::new();
                for p in s["products"].as_array().into_iter().flatten() {
                    let sku = p["reference_id"]
                        .as_str()
                        .or_else(|| p["sku"].as_str())
                        .ok_or_else(|| {
                            format!("shipments[{i}].products: a product without reference_id")
                        })?;
                    let q = number(&p["quantity"], &format!("shipments[{i}].products.quantity"))?;
                    *items.entry(sku.to_string()).or_insert(Decimal::ZERO) += q;
                }
                parcels.push(Parcel {
                    carrier: text(&t["carrier"])
                        .ok_or_else(|| format!("shipments[{i}].tracking has no carrier"))?,
                    tracking_number,
                    service: text(&t["carrier_service"]),
                    items,
                });
            }
            if parcels.is_empty() {
                return Err("order.shipped without a tracked shipment".into());
            }
            let complete = order["status"].as_str() != Some("PartiallyFulfilled");
            vec![WarehouseEvent::Shipped {
                key,
                remote_id,
                parcels,
                complete,
                message_id: None,
            }]
        }
        "order.shipment.cancelled" | "shipment_cancelled" => vec![WarehouseEvent::Cancelled {
            key,
            remote_id,
            reason: order["cancel_reason"].as_str().map(str::to_string),
        }],
        "order.shipment.exception" | "shipment_exception" => {
            let mut lines = Vec::new();
            for s in &shipments {
                for p in s["products"].as_array().into_iter().flatten() {
                    let sku = p["reference_id"]
                        .as_str()
                        .ok_or("exception: a product without reference_id")?;
                    let planned = number(&p["quantity"], "exception: products.quantity")?;
                    let shipped = p
                        .get("shipped_quantity")
                        .map(|v| number(v, "exception: products.shipped_quantity"))
                        .transpose()?
                        .unwrap_or(planned);
                    let damaged = p
                        .get("damaged_quantity")
                        .map(|v| number(v, "exception: products.damaged_quantity"))
                        .transpose()?
                        .unwrap_or(Decimal::ZERO);
                    if shipped != planned || !damaged.is_zero() {
                        lines.push(DiscrepancyLine {
                            sku: sku.to_string(),
                            planned,
                            shipped,
                            damaged,
                        });
                    }
                }
            }
            vec![WarehouseEvent::Discrepancy {
                key,
                remote_id,
                lines,
            }]
        }
        _ => Vec::new(),
    })
}

/// The text of the first `name` child of an element of [`crate::normalize::xml`]'s shape.
fn child<'a>(element: &'a Value, name: &str) -> Option<&'a str> {
    element[name][0]["#text"].as_str()
}

fn children<'a>(element: &'a Value, name: &str) -> impl Iterator<Item = &'a Value> {
    element[name].as_array().into_iter().flatten()
}

/// Qimen `deliveryorder.confirm`: `<request><deliveryOrder>` with `deliveryOrderCode` (our
/// key), `deliveryOrderId`, `status`, `outBizCode` (the dedupe id), `confirmType` (0 final,
/// 1 partial); `<packages><package>` with `logisticsCode`/`logisticsName`, `expressCode`
/// (tracking number) and items; `<orderLines>` with `planQty`/`actualQty`.
fn qimen(bytes: &[u8]) -> Result<Vec<WarehouseEvent>, String> {
    let doc = crate::normalize::xml::xml_to_json(bytes).map_err(|e| format!("not XML: {e}"))?;
    let request = &doc["request"];
    if !request.is_object() {
        return Err("root element is not <request>".into());
    }
    let order = &request["deliveryOrder"][0];
    let key = child(order, "deliveryOrderCode").map(str::to_string);
    let remote_id = child(order, "deliveryOrderId").map(str::to_string);
    if key.is_none() && remote_id.is_none() {
        return Err("deliveryOrder has neither deliveryOrderCode nor deliveryOrderId".into());
    }
    let status = child(order, "status").unwrap_or("DELIVERED");
    if matches!(status, "CANCELED" | "CLOSED") {
        return Ok(vec![WarehouseEvent::Cancelled {
            key,
            remote_id,
            reason: child(order, "remark").map(str::to_string),
        }]);
    }
    if status == "ACCEPT" || status == "NEW" {
        return Ok(Vec::new());
    }
    let complete = match child(order, "confirmType").unwrap_or("0") {
        "0" => true,
        "1" => false,
        _ => return Err("confirmType is neither 0 nor 1".into()),
    };
    let mut parcels = Vec::new();
    for (i, package) in children(&request["packages"][0], "package").enumerate() {
        let mut items = BTreeMap::new();
        for item in children(&package["items"][0], "item") {
            let sku = child(item, "itemCode")
                .ok_or_else(|| format!("package {i}: an item without itemCode"))?;
            let q: Decimal = child(item, "quantity")
                .and_then(|q| q.parse().ok())
                .ok_or_else(|| format!("package {i}: item quantity is not a number"))?;
            *items.entry(sku.to_string()).or_insert(Decimal::ZERO) += q;
        }
        parcels.push(Parcel {
            carrier: child(package, "logisticsCode")
                .or_else(|| child(package, "logisticsName"))
                .ok_or_else(|| format!("package {i} has no logisticsCode"))?
                .to_string(),
            tracking_number: child(package, "expressCode")
                .ok_or_else(|| format!("package {i} has no expressCode"))?
                .to_string(),
            service: None,
            items,
        });
    }
    let mut events = Vec::new();
    if !parcels.is_empty() {
        events.push(WarehouseEvent::Shipped {
            key: key.clone(),
            remote_id: remote_id.clone(),
            parcels,
            complete,
            message_id: child(order, "outBizCode").map(str::to_string),
        });
    }
    if complete {
        let mut lines = Vec::new();
        for line in children(&request["orderLines"][0], "orderLine") {
            let qty = |name: &str| -> Result<Option<Decimal>, String> {
                child(line, name)
                    .map(|q| {
                        q.parse()
                            .map_err(|_| format!("orderLine {name} is not a number"))
                    })
                    .transpose()
            };
            let (Some(planned), Some(shipped)) = (qty("planQty")?, qty("actualQty")?) else {
                continue;
            };
            if shipped < planned {
                lines.push(DiscrepancyLine {
                    sku: child(line, "itemCode")
                        .ok_or("orderLine without itemCode")?
                        .to_string(),
                    planned,
                    shipped,
                    damaged: Decimal::ZERO,
                });
            }
        }
        if !lines.is_empty() {
            events.push(WarehouseEvent::Discrepancy {
                key,
                remote_id,
                lines,
            });
        }
    }
    if events.is_empty() {
        return Err("a confirmation with no package".into());
    }
    Ok(events)
}

/// A shipped-confirmation CSV: header `key,carrier,tracking_number,sku,quantity` (extra
/// columns ignored), one row per parcel and SKU; the rows of one key and tracking number are
/// one parcel. Every key in the file is one `Shipped`. A key whose rows have no carrier and no
/// tracking number is `Packed`: the warehouse packed it and ordergate books the carrier
/// (`books_carrier = false`); an optional `parcel` column numbers the parcels it was packed
/// into (the rows of one key and parcel number are one parcel, one label each).
fn pick_list(bytes: &[u8]) -> Result<Vec<WarehouseEvent>, String> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let headers = reader
        .headers()
        .map_err(|e| format!("unreadable header: {e}"))?
        .clone();
    let column = |name: &str| {
        headers
            .iter()
            .position(|h| h.eq_ignore_ascii_case(name))
            .ok_or_else(|| format!("no column {name:?}"))
    };
    let (k, c, t, s, q) = (
        column("key")?,
        column("carrier")?,
        column("tracking_number")?,
        column("sku")?,
        column("quantity")?,
    );
    let parcel_column = headers
        .iter()
        .position(|h| h.eq_ignore_ascii_case("parcel"));
    // key → (tracking number → parcel), in file order.
    let mut by_key: Vec<(String, Vec<Parcel>)> = Vec::new();
    // key → (parcel number, numeric first → SKU → quantity) for packed, untracked rows.
    type Numbered = BTreeMap<(Option<u64>, String), BTreeMap<String, Decimal>>;
    let mut packed: BTreeMap<String, Numbered> = BTreeMap::new();
    for (i, row) in reader.records().enumerate() {
        if i >= MAX_PARCELS {
            return Err(format!("more than {MAX_PARCELS} rows"));
        }
        let row = row.map_err(|e| format!("row {}: {e}", i + 2))?;
        let field = |n: usize, name: &str| {
            row.get(n)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| format!("row {}: {name} is empty", i + 2))
        };
        let key = field(k, "key")?;
        let untracked =
            row.get(t).is_none_or(str::is_empty) && row.get(c).is_none_or(str::is_empty);
        if untracked {
            if !by_key.iter().any(|(x, _)| x == key) {
                by_key.push((key.to_string(), Vec::new()));
            }
            if let Some(n) = parcel_column
                .and_then(|p| row.get(p))
                .filter(|v| !v.is_empty())
            {
                let quantity: Decimal = field(q, "quantity")?
                    .parse()
                    .map_err(|_| format!("row {}: quantity is not a number", i + 2))?;
                *packed
                    .entry(key.to_string())
                    .or_default()
                    .entry((n.parse().ok(), n.to_string()))
                    .or_default()
                    .entry(field(s, "sku")?.to_string())
                    .or_insert(Decimal::ZERO) += quantity;
            }
            continue;
        }
        let tracking = field(t, "tracking_number")?;
        let quantity: Decimal = field(q, "quantity")?
            .parse()
            .map_err(|_| format!("row {}: quantity is not a number", i + 2))?;
        let sku = field(s, "sku")?;
        let slot = match by_key.iter().position(|(x, _)| x == key) {
            Some(p) => &mut by_key[p].1,
            None => {
                by_key.push((key.to_string(), Vec::new()));
                let last = by_key.len() - 1;
                &mut by_key[last].1
            }
        };
        let parcel = match slot.iter().position(|p| p.tracking_number == tracking) {
            Some(p) => &mut slot[p],
            None => {
                slot.push(Parcel {
                    carrier: field(c, "carrier")?.to_string(),
                    tracking_number: tracking.to_string(),
                    service: None,
                    items: BTreeMap::new(),
                });
                let last = slot.len() - 1;
                &mut slot[last]
            }
        };
        *parcel.items.entry(sku.to_string()).or_insert(Decimal::ZERO) += quantity;
    }
    if by_key.is_empty() {
        return Err("no rows".into());
    }
    Ok(by_key
        .into_iter()
        .map(|(key, parcels)| {
            if parcels.is_empty() {
                let parcels = packed
                    .remove(&key)
                    .map(|by_number| by_number.into_values().collect())
                    .unwrap_or_default();
                return WarehouseEvent::Packed {
                    key: Some(key),
                    remote_id: None,
                    parcels,
                };
            }
            WarehouseEvent::Shipped {
                key: Some(key),
                remote_id: None,
                parcels,
                complete: true,
                message_id: None,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipbob_shipped_cancelled_exception_and_others() {
        let shipped = br#"{"topic":"order.shipped","data":{"id":7,"reference_id":"og-1","status":"Fulfilled",
            "shipments":[{"id":1,"status":"Completed","tracking":{"carrier":"UPS","tracking_number":"1Z1","carrier_service":"Ground"},
            "products":[{"reference_id":"A","quantity":2}]},
            {"id":2,"status":"Completed","tracking":{"carrier":"USPS","tracking_number":"94"},"products":[{"reference_id":"B","quantity":1}]}]}}"#;
        let events = decode(WarehouseKind::Rest, shipped).unwrap();
        let WarehouseEvent::Shipped {
            key,
            remote_id,
            parcels,
            complete,
            ..
        } = &events[0]
        else {
            panic!("{events:?}")
        };
        assert_eq!(key.as_deref(), Some("og-1"));
        assert_eq!(remote_id.as_deref(), Some("7"));
        assert!(complete);
        assert_eq!(parcels.len(), 2);
        assert_eq!(parcels[0].items["A"], Decimal::from(2));
        assert_eq!(parcels[0].service.as_deref(), Some("Ground"));
        let cancelled = br#"{"topic":"order.shipment.cancelled","data":{"id":7,"reference_id":"og-1","status":"Cancelled"}}"#;
        assert!(matches!(
            decode(WarehouseKind::Rest, cancelled).unwrap()[0],
            WarehouseEvent::Cancelled { .. }
        ));
        let exception = br#"{"topic":"order.shipment.exception","data":{"id":7,"reference_id":"og-1","status":"Exception",
            "shipments":[{"products":[{"reference_id":"A","quantity":3,"shipped_quantity":2,"damaged_quantity":1}]}]}}"#;
        let WarehouseEvent::Discrepancy { lines, .. } =
            &decode(WarehouseKind::Rest, exception).unwrap()[0]
        else {
            panic!()
        };
        assert_eq!(lines[0].shipped, Decimal::from(2));
        let delivered = br#"{"topic":"order.delivered","data":{"id":7}}"#;
        assert!(decode(WarehouseKind::Rest, delivered).unwrap().is_empty());
    }

    #[test]
    fn bad_rest_bodies_are_named_errors() {
        for (body, says) in [
            (&b"not json"[..], "not JSON"),
            (br#"{"data":{}}"#, "no topic"),
            (br#"{"topic":"order.shipped","data":{"id":1,"shipments":[]}}"#, "without a tracked"),
            (
                br#"{"topic":"order.shipped","data":{"id":1,"shipments":[{"tracking":{"tracking_number":"x"}}]}}"#,
                "no carrier",
            ),
        ] {
            let e = decode(WarehouseKind::Rest, body).unwrap_err().to_string();
            assert!(e.contains(says), "{e}");
        }
        let big = vec![b' '; MAX_CALLBACK_BYTES + 1];
        assert!(matches!(
            decode(WarehouseKind::Rest, &big),
            Err(DecodeError::TooLarge { .. })
        ));
    }

    #[test]
    fn qimen_confirm_final_partial_and_short() {
        let xml = |confirm: &str, actual: &str| {
            format!(
                "<?xml version=\"1.0\" encoding=\"utf-8\"?><request><deliveryOrder><deliveryOrderCode>og-2</deliveryOrderCode>\
                 <deliveryOrderId>W9</deliveryOrderId><status>DELIVERED</status><outBizCode>ob-1</outBizCode>\
                 <confirmType>{confirm}</confirmType></deliveryOrder><packages><package><logisticsCode>SF</logisticsCode>\
                 <logisticsName>顺丰</logisticsName><expressCode>SF100</expressCode><items><item><itemCode>A</itemCode>\
                 <quantity>2</quantity></item></items></package></packages><orderLines><orderLine><itemCode>A</itemCode>\
                 <planQty>3</planQty><actualQty>{actual}</actualQty></orderLine></orderLines></request>"
            )
        };
        let events = decode(WarehouseKind::Qimen, xml("0", "2").as_bytes()).unwrap();
        assert_eq!(events.len(), 2);
        let WarehouseEvent::Shipped {
            key,
            parcels,
            complete,
            message_id,
            ..
        } = &events[0]
        else {
            panic!()
        };
        assert_eq!(key.as_deref(), Some("og-2"));
        assert!(complete);
        assert_eq!(message_id.as_deref(), Some("ob-1"));
        assert_eq!(parcels[0].carrier, "SF");
        assert_eq!(parcels[0].tracking_number, "SF100");
        assert!(
            matches!(&events[1], WarehouseEvent::Discrepancy { lines, .. } if lines[0].shipped == Decimal::from(2))
        );
        let partial = decode(WarehouseKind::Qimen, xml("1", "2").as_bytes()).unwrap();
        assert_eq!(partial.len(), 1);
        assert!(matches!(
            &partial[0],
            WarehouseEvent::Shipped {
                complete: false,
                ..
            }
        ));
        let e = decode(WarehouseKind::Qimen, xml("7", "2").as_bytes()).unwrap_err();
        assert!(e.to_string().contains("confirmType"), "{e}");
        let e = decode(WarehouseKind::Qimen, b"<response/>").unwrap_err();
        assert!(e.to_string().contains("<request>"), "{e}");
    }

    #[test]
    fn pick_list_confirmations_group_by_key_and_parcel() {
        let csv = "key,carrier,tracking_number,sku,quantity\nog-1,DHL,JD1,A,1\nog-1,DHL,JD1,B,2\nog-1,DHL,JD2,A,1\nog-2,UPS,1Z,C,1\n";
        let events = decode(WarehouseKind::PickList, csv.as_bytes()).unwrap();
        assert_eq!(events.len(), 2);
        let WarehouseEvent::Shipped { key, parcels, .. } = &events[0] else {
            panic!()
        };
        assert_eq!(key.as_deref(), Some("og-1"));
        assert_eq!(parcels.len(), 2);
        assert_eq!(parcels[0].items.len(), 2);
        let e = decode(WarehouseKind::PickList, b"key,carrier,sku,quantity\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("tracking_number"), "{e}");
        let e = decode(
            WarehouseKind::PickList,
            b"key,carrier,tracking_number,sku,quantity\nog-1,DHL,JD1,A,lots\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("row 2: quantity"), "{e}");
        let packed = decode(
            WarehouseKind::PickList,
            b"key,carrier,tracking_number,sku,quantity\nog-3,,,A,1\n",
        )
        .unwrap();
        assert_eq!(
            packed,
            vec![WarehouseEvent::Packed {
                key: Some("og-3".into()),
                remote_id: None,
                parcels: vec![],
            }]
        );
        // Packed into numbered parcels (numbers sort as numbers): one parcel each.
        let packed = decode(
            WarehouseKind::PickList,
            b"key,carrier,tracking_number,sku,quantity,parcel\nog-4,,,A,2,10\nog-4,,,B,1,2\nog-4,,,A,1,2\n",
        )
        .unwrap();
        let d = |v: i64| Decimal::from(v);
        assert_eq!(
            packed,
            vec![WarehouseEvent::Packed {
                key: Some("og-4".into()),
                remote_id: None,
                parcels: vec![
                    BTreeMap::from([("A".to_string(), d(1)), ("B".to_string(), d(1))]),
                    BTreeMap::from([("A".to_string(), d(2))]),
                ],
            }]
        );
        let e = decode(
            WarehouseKind::PickList,
            b"key,carrier,tracking_number,sku,quantity,parcel\nog-5,,,A,some,1\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("row 2: quantity"), "{e}");
    }
}
