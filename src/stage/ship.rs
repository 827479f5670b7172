//! The ship stage (`order.packed`, `order.shipped`).
//!
//! **Booking** (`order.packed`). An order packed at a warehouse that does not book carriers
//! itself (`[[warehouses]] books_carrier = false`) gets one: the transport rules
//! ([`crate::rules::transport`]) pick mode, service and carrier from the order's facts. A
//! carrier with an API sells a label: its key ([`label_key`], order + parcel) is recorded
//! BEFORE the carrier is called and the purchase carries it; a purchase whose answer was lost
//! is looked up by it before anything is bought again, so a retry, a redelivery or a restart
//! never buys a second label. The label file is stored with the order, the parcel recorded
//! (`shipment.created`, ETA from the bought rate), the order `shipped` (`order.shipped`) and a
//! pickup requested where the carrier takes them. A carrier without an API (own vehicle,
//! freight) gets a dispatch document; the order waits `packed` until its tracking is entered
//! (`POST /api/orders/{id}/shipments`). A carrier's refusal (an address it cannot verify) is an
//! exception for the transport department with the carrier's reason, the order waits; 429 and
//! 5xx are retried, then parked. A warehouse that books itself: nothing happens here.
//!
//! **Delivery note** (`order.shipped`, whoever shipped): the three copies, HTML and PDF
//! ([`crate::outbound::delivery_note`]), stored with the order once.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use rust_decimal::Decimal;
use sqlx::AnyConnection;

use super::steps::{due_in, load_order, order_id_of, MovedOn};
use super::{Committed, Effects, Handler, StageError, Unit, UnitTx};
use crate::catalog::CatalogSource;
use crate::config::{CarrierConfig, Config, TransportConfig};
use crate::health::HealthTracker;
use crate::model::{
    CanonicalOrder, Envelope, EventType, OrderState, OrderStep, ShipmentRef, Trigger,
};
use crate::outbound::carrier::{
    label_key, Address, Booking, Carriers, Label, LabelRequest, PickupRequest,
};
use crate::outbound::delivery_note::{self, Copy, NoteError, Renderer};
use crate::partner::PartnerError;
use crate::rules::transport::{self, Decision, Facts};
use crate::store::{NewException, NewShipment, Severity, Store, TransitionError};

/// The stage's name.
pub const NAME: &str = "ship";
/// What it consumes.
pub const BINDINGS: &[&str] = &[EventType::ORDER_PACKED, EventType::ORDER_SHIPPED];
/// Labels bought, per carrier instance (counter).
pub const LABELS_BOUGHT: &str = "ordergate_labels_bought_total";
/// Labels a carrier refused (an address it cannot verify), per carrier instance (counter).
pub const LABELS_REFUSED: &str = "ordergate_labels_refused_total";

/// The stage.
pub struct ShipStage {
    transport: TransportConfig,
    carriers: Carriers,
    /// Each carrier instance's settings (sender address, pickups, parcel size), by name.
    carrier_cfgs: BTreeMap<String, CarrierConfig>,
    /// Warehouses that do not book carriers themselves.
    ours_to_book: Vec<String>,
    catalog: Arc<CatalogSource>,
    health: Arc<HealthTracker>,
    /// `None` when delivery notes are off; the error when the template does not compile.
    notes: Option<Result<Arc<Renderer>, NoteError>>,
}

impl ShipStage {
    /// The stage over the configuration's `[transport]`, `[[carriers]]` and `[[warehouses]]`.
    pub fn new(config: &Config, catalog: Arc<CatalogSource>, health: Arc<HealthTracker>) -> Self {
        let shutdown = tokio_util::sync::CancellationToken::new();
        let note = &config.transport.delivery_note;
        Self {
            transport: config.transport.clone(),
            carriers: Carriers::from_config(&config.carriers, &shutdown),
            carrier_cfgs: config
                .carriers
                .iter()
                .map(|c| (c.name.clone(), c.clone()))
                .collect(),
            ours_to_book: config
                .warehouses
                .iter()
                .filter(|w| !w.books_carrier)
                .map(|w| w.name.clone())
                .collect(),
            catalog,
            health,
            notes: note.enabled.then(|| Renderer::new(note).map(Arc::new)),
        }
    }

    fn exception(
        &self,
        kind: &'static str,
        order_id: &str,
        carrier: Option<&str>,
        reason: String,
    ) -> Raise {
        Raise {
            kind,
            order_id: order_id.to_string(),
            carrier: carrier.map(str::to_string),
            department: self.transport.department.clone(),
            due_at: due_in(self.transport.due_hours),
            reason,
        }
    }
}

/// The transport facts of `order` (every line not cancelled is in the parcel).
pub fn facts(
    order: &CanonicalOrder,
    catalog: &crate::catalog::Catalog,
    unit_weight: Decimal,
) -> Facts {
    let a = order.ship_to.as_ref().or(order.bill_to.as_ref());
    let mut f = Facts {
        country: a.and_then(|a| a.country.clone()),
        region: a.and_then(|a| a.region.clone()),
        channel: serde_json::to_value(order.source.channel)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string)),
        value: order.total,
        ..Facts::default()
    };
    for l in &order.lines {
        let quantity = l.quantity - l.cancelled_quantity;
        if quantity <= Decimal::ZERO {
            continue;
        }
        let p = l.sku.as_deref().and_then(|s| catalog.get(s));
        f.weight_kg += quantity * p.and_then(|p| p.weight_kg).unwrap_or(unit_weight);
        f.fragile |= p.is_some_and(|p| p.fragile);
        f.hazardous |= p.is_some_and(|p| p.hazardous);
    }
    f.days_to_promise = order
        .requested_delivery
        .as_deref()
        .and_then(|d| chrono::NaiveDate::parse_from_str(d.get(..10)?, "%Y-%m-%d").ok())
        .map(|d| (d - chrono::Utc::now().date_naive()).num_days());
    f
}

fn ship_to(order: &CanonicalOrder) -> Address {
    let addr = order.ship_to.as_ref().or(order.bill_to.as_ref());
    let pick = |f: fn(&crate::model::Address) -> Option<String>| addr.and_then(f);
    Address {
        name: pick(|a| a.name.clone())
            .or_else(|| order.customer.name.clone())
            .unwrap_or_default(),
        company: pick(|a| a.company.clone()).or_else(|| order.customer.company.clone()),
        street1: pick(|a| a.line1.clone()).unwrap_or_default(),
        street2: pick(|a| a.line2.clone()),
        city: pick(|a| a.city.clone()).unwrap_or_default(),
        state: pick(|a| a.region.clone()),
        postal_code: pick(|a| a.postal_code.clone()).unwrap_or_default(),
        country: pick(|a| a.country.clone()).unwrap_or_default(),
        phone: pick(|a| a.phone.clone()).or_else(|| order.customer.phone.clone()),
        email: order.customer.email.clone(),
    }
}

fn order_number(order: &CanonicalOrder) -> String {
    order
        .source
        .external_number
        .clone()
        .unwrap_or_else(|| order.source.external_id.clone())
}

/// The items of the parcel: SKU → quantity of every line not cancelled.
fn items(order: &CanonicalOrder) -> serde_json::Value {
    let mut m = BTreeMap::new();
    for l in &order.lines {
        let q = l.quantity - l.cancelled_quantity;
        if q > Decimal::ZERO {
            *m.entry(l.sku.clone().unwrap_or_default())
                .or_insert(Decimal::ZERO) += q;
        }
    }
    serde_json::to_value(m).unwrap_or_default()
}

#[async_trait]
impl Handler for ShipStage {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn handle(&self, env: &Envelope, unit: Unit<'_>) -> Result<Committed, StageError> {
        if env.kind == EventType::ORDER_SHIPPED {
            return self.delivery_note(env, unit).await;
        }
        let order_id = order_id_of(env)?;
        let (stored, state) = load_order(unit.store(), &order_id).await?;
        if state != OrderState::Packed {
            return unit
                .commit(MovedOn {
                    order_id,
                    event: env.kind.clone(),
                    state,
                })
                .await;
        }
        let step: OrderStep = serde_json::from_value(env.payload.clone()).map_err(|e| {
            StageError::permanent("bad_message", format!("message {}: {e}", env.id))
        })?;
        let warehouse = step.warehouses.first().cloned().unwrap_or_default();
        if !self.ours_to_book.contains(&warehouse) {
            tracing::debug!(order_id = %order_id, warehouse = %warehouse, "The warehouse books its own carrier.");
            return unit.commit(Nothing).await;
        }
        let order = &stored.order;
        let catalog = self.catalog.current().await?;
        let f = facts(order, &catalog, self.transport.default_unit_weight_kg);
        let Some(decision) = transport::choose(&self.transport.rules, &f) else {
            let reason = format!(
                "No transport rule matches order {order_id} packed at {warehouse} (country {}, {} kg); nothing was booked.",
                f.country.as_deref().unwrap_or("?"),
                f.weight_kg.normalize()
            );
            return unit
                .commit(self.exception("no_transport_rule", &order_id, None, reason))
                .await;
        };
        let resolved = match (
            self.carriers.get(&decision.carrier),
            self.carrier_cfgs.get(&decision.carrier),
        ) {
            (Some(Ok((_, booking))), Some(cfg)) => Ok((booking.clone(), cfg.clone())),
            (Some(Err(why)), _) => Err(format!("transport rule {} picks {why}", decision.rule)),
            _ => Err(format!(
                "transport rule {} picks carrier {}, which is not configured",
                decision.rule, decision.carrier
            )),
        };
        let (booking, cfg) = match resolved {
            Ok(found) => found,
            Err(why) => {
                let reason = format!("Order {order_id}: {why}");
                let carrier = decision.carrier.clone();
                return unit
                    .commit(self.exception(
                        "carrier_unavailable",
                        &order_id,
                        Some(&carrier),
                        reason,
                    ))
                    .await;
            }
        };
        let key = label_key(&order_id, &format!("{warehouse}#1"));
        let earlier = unit
            .store()
            .label_intend(&key, &order_id, &decision.carrier, Some(&warehouse))
            .await?;
        let request = LabelRequest {
            key: key.clone(),
            order_id: order_id.clone(),
            order_number: order_number(order),
            to: ship_to(order),
            from: Address::from(&cfg.from),
            weight_kg: f.weight_kg.max(Decimal::new(1, 1)),
            dims_cm: cfg.parcel_cm,
            service: decision.service.clone(),
        };
        let carrier = match booking {
            Booking::Dispatch => {
                let doc = serde_json::json!({
                    "dispatch": key, "order_id": order_id, "order_number": request.order_number,
                    "mode": decision.mode, "rule": decision.rule, "carrier": decision.carrier,
                    "warehouse": warehouse, "ship_to": request.to, "items": items(order),
                    "weight_kg": request.weight_kg, "created_at": chrono::Utc::now().to_rfc3339(),
                    "tracking": "enter with POST /api/orders/{id}/shipments",
                });
                unit.store().label_set(&key, "dispatched", &doc).await?;
                tracing::info!(order_id = %order_id, carrier = %decision.carrier, mode = decision.mode.as_str(), "Dispatch document stored; tracking is entered later.");
                return unit
                    .commit(Dispatched {
                        order_id,
                        key,
                        decision,
                        doc,
                    })
                    .await;
            }
            Booking::Api(c) => c,
        };
        let bought = earlier
            .as_ref()
            .filter(|l| l.status == "bought")
            .and_then(|l| serde_json::from_value::<Label>(l.result.clone()?).ok());
        let label = match bought {
            Some(l) => l,
            None => match carrier.buy(&request, earlier.is_some()).await {
                Ok(l) => {
                    self.health.success(&decision.carrier).await;
                    unit.store()
                        .label_set(
                            &key,
                            "bought",
                            &serde_json::to_value(&l).unwrap_or_default(),
                        )
                        .await?;
                    metrics::counter!(LABELS_BOUGHT, "carrier" => decision.carrier.clone())
                        .increment(1);
                    l
                }
                Err(e) if e.is_retriable() => {
                    self.health.failure(&decision.carrier, &e.to_string()).await;
                    return Err(unavailable(&decision.carrier, order_id, "label", e));
                }
                Err(e) => {
                    let reason = format!(
                        "Carrier {} refused the label for order {order_id} (rule {}): {e}. The order waits packed; correct the order and replay, or enter the tracking by hand.",
                        decision.carrier, decision.rule
                    );
                    unit.store()
                        .label_set(
                            &key,
                            "refused",
                            &serde_json::json!({"reason": e.to_string()}),
                        )
                        .await?;
                    metrics::counter!(LABELS_REFUSED, "carrier" => decision.carrier.clone())
                        .increment(1);
                    return unit
                        .commit(self.exception(
                            "carrier_refused",
                            &order_id,
                            Some(&decision.carrier),
                            reason,
                        ))
                        .await;
                }
            },
        };
        let file = match carrier.label_file(&label).await {
            Ok(f) => f,
            Err(e) => {
                return Err(unavailable(&decision.carrier, order_id, "label file", e));
            }
        };
        let mut pickup = earlier.as_ref().and_then(|l| l.pickup.clone());
        let mut pickup_refused = None;
        if cfg.pickup && carrier.picks_up() && pickup.is_none() {
            let earliest =
                chrono::Utc::now() + chrono::Duration::hours(i64::from(cfg.pickup_after_hours));
            let r = PickupRequest {
                key: key.clone(),
                label: label.clone(),
                address: request.from.clone(),
                earliest,
                latest: earliest
                    + chrono::Duration::hours(i64::from(cfg.pickup_window_hours.max(1))),
                instructions: Some(format!("Order {}", request.order_number)),
            };
            match carrier.pickup(&r).await {
                Ok(p) => {
                    let v = serde_json::to_value(&p).unwrap_or_default();
                    unit.store().label_pickup(&key, &v).await?;
                    pickup = Some(v);
                }
                Err(e) if e.is_retriable() => {
                    return Err(unavailable(&decision.carrier, order_id, "pickup", e));
                }
                Err(e) => {
                    pickup_refused = Some(self.exception(
                        "pickup_refused",
                        &order_id,
                        Some(&decision.carrier),
                        format!(
                            "Carrier {} refused the pickup for order {order_id}: {e}",
                            decision.carrier
                        ),
                    ))
                }
            }
        }
        tracing::info!(order_id = %order_id, carrier = %decision.carrier, "Label bought; order shipped.");
        unit.commit(Booked {
            order_id,
            warehouse,
            key,
            decision,
            label,
            file,
            pickup,
            pickup_refused,
        })
        .await
    }
}

impl ShipStage {
    /// Renders and stores the delivery note of a shipped order, once.
    async fn delivery_note(&self, env: &Envelope, unit: Unit<'_>) -> Result<Committed, StageError> {
        let order_id = order_id_of(env)?;
        let renderer = match &self.notes {
            None => return unit.commit(Nothing).await,
            Some(Ok(r)) => r.clone(),
            Some(Err(e)) => {
                let mut err = StageError::permanent("delivery_note_failed", e.to_string());
                err.order_id = Some(order_id);
                return Err(err);
            }
        };
        if unit
            .store()
            .order_document(&order_id, "delivery_note", "customer.pdf")
            .await?
            .is_some()
        {
            return unit.commit(Nothing).await;
        }
        let (stored, _) = load_order(unit.store(), &order_id).await?;
        let catalog = self.catalog.current().await?;
        let parcels = unit
            .store()
            .order_shipments(&order_id)
            .await?
            .into_iter()
            .map(|s| delivery_note::Parcel {
                carrier: s.carrier_name.unwrap_or(s.carrier),
                tracking_number: s.tracking_number,
            })
            .collect();
        let note = delivery_note::note(
            &order_id,
            &stored.order,
            &catalog,
            env.occurred_at.date_naive(),
            parcels,
            self.transport.delivery_note.company.clone(),
        );
        let rendered = tokio::task::spawn_blocking(move || {
            Copy::ALL
                .iter()
                .map(|c| Ok((*c, renderer.html(&note, *c)?, renderer.pdf(&note, *c)?)))
                .collect::<Result<Vec<_>, NoteError>>()
                .map(|r| (note.number.clone(), r))
        })
        .await
        .map_err(|e| StageError::transient("delivery_note_failed", e.to_string()))?;
        let (number, copies) = rendered.map_err(|e| {
            let mut err =
                StageError::permanent("delivery_note_failed", format!("order {order_id}: {e}"));
            err.order_id = Some(order_id.clone());
            err
        })?;
        unit.commit(Notes {
            order_id,
            number,
            copies,
        })
        .await
    }
}

/// A carrier failure worth retrying (429, 5xx, timeouts): the stage retries through the
/// outage window, then parks.
fn unavailable(carrier: &str, order_id: String, what: &str, e: PartnerError) -> StageError {
    let mut err = StageError::unavailable(
        "carrier_unavailable",
        format!("carrier {carrier}: {what} for order {order_id}: {e}"),
    );
    err.order_id = Some(order_id);
    err
}

/// Records a parcel and ships the order (`shipment.created`, `order.shipped`) on `conn`, for
/// the ship stage and for tracking entered through the API; returns the events to publish
/// with the write. The order must be `packed` or `fulfilment_requested` (else `Illegal`).
pub async fn write_shipped(
    conn: &mut AnyConnection,
    cause: &str,
    connector: &str,
    s: &NewShipment<'_>,
    detail: serde_json::Value,
) -> Result<Vec<Envelope>, TransitionError> {
    let mut events = Vec::new();
    let (id, new) = Store::record_shipment(conn, s).await?;
    if new {
        events.push(s.created_event(&id));
    }
    let data = serde_json::json!({"shipment_id": id, "carrier": s.carrier, "detail": detail});
    Store::transition(conn, s.order_id, Trigger::Ship, cause, Some(&data)).await?;
    let shipped = ShipmentRef {
        order_id: s.order_id.to_string(),
        shipment_id: id.clone(),
        carrier: crate::tracking::carrier::code(s.carrier),
        tracking_number: s.number(),
        warehouse: s.warehouse.map(str::to_string),
        status: None,
        detail: serde_json::json!({"shipments": [id], "complete": true, "booking": detail}),
    };
    events.push(
        Envelope::new(
            EventType::ORDER_SHIPPED,
            connector,
            serde_json::to_value(&shipped).unwrap_or_default(),
        )
        .with_order(s.order_id),
    );
    Ok(events)
}

/// Nothing to write (the message is recorded in the inbox).
struct Nothing;

#[async_trait]
impl Effects for Nothing {
    async fn write(&mut self, _: &mut UnitTx<'_>) -> Result<(), StageError> {
        Ok(())
    }
}

/// An exception for the transport department; the order waits.
struct Raise {
    kind: &'static str,
    order_id: String,
    carrier: Option<String>,
    department: String,
    due_at: i64,
    reason: String,
}

#[async_trait]
impl Effects for Raise {
    async fn write(&mut self, tx: &mut UnitTx<'_>) -> Result<(), StageError> {
        tracing::warn!(order_id = %self.order_id, kind = self.kind, "Transport exception raised; the order waits.");
        raise(tx, self).await
    }
}

async fn raise(tx: &mut UnitTx<'_>, r: &Raise) -> Result<(), StageError> {
    Store::insert_exception(
        tx.conn(),
        &NewException {
            kind: r.kind,
            severity: Severity::Error,
            order_id: Some(&r.order_id),
            raw_id: None,
            message_id: None,
            stage: Some(NAME),
            connector: r.carrier.as_deref(),
            department: &r.department,
            due_at: Some(r.due_at),
            reason: &r.reason,
        },
    )
    .await?;
    Ok(())
}

/// A dispatch document stored; the order waits for its tracking.
struct Dispatched {
    order_id: String,
    key: String,
    decision: Decision,
    doc: serde_json::Value,
}

#[async_trait]
impl Effects for Dispatched {
    async fn write(&mut self, tx: &mut UnitTx<'_>) -> Result<(), StageError> {
        let body = serde_json::to_vec_pretty(&self.doc).unwrap_or_default();
        Store::put_order_document(
            tx.conn(),
            &self.order_id,
            "dispatch",
            &format!("{}.json", self.key),
            "application/json",
            &body,
        )
        .await?;
        let cause = tx.cause().to_string();
        let data = serde_json::json!({"decision": self.decision, "key": self.key});
        Store::append_event(
            tx.conn(),
            &self.order_id,
            "dispatch_document",
            None,
            &cause,
            Some(&data),
        )
        .await?;
        Ok(())
    }
}

/// A bought label: the file, the parcel, the order shipped.
struct Booked {
    order_id: String,
    warehouse: String,
    key: String,
    decision: Decision,
    label: Label,
    file: Option<(String, Vec<u8>)>,
    pickup: Option<serde_json::Value>,
    pickup_refused: Option<Raise>,
}

#[async_trait]
impl Effects for Booked {
    async fn write(&mut self, tx: &mut UnitTx<'_>) -> Result<(), StageError> {
        let l = &self.label;
        let label_doc = serde_json::to_vec_pretty(l).unwrap_or_default();
        Store::put_order_document(
            tx.conn(),
            &self.order_id,
            "label",
            &format!("{}.json", self.key),
            "application/json",
            &label_doc,
        )
        .await?;
        if let Some((content_type, bytes)) = &self.file {
            Store::put_order_document(
                tx.conn(),
                &self.order_id,
                "label",
                &self.key,
                content_type,
                bytes,
            )
            .await?;
        }
        if let Some(r) = &self.pickup_refused {
            raise(tx, r).await?;
        }
        let shipment = NewShipment {
            order_id: &self.order_id,
            warehouse: Some(&self.warehouse),
            carrier: &l.carrier,
            carrier_name: Some(&l.carrier),
            tracking_number: &l.tracking_number,
            service: Some(&l.service),
            promised_at: None,
            eta: l.eta.map(|t| t.timestamp_millis()),
            items: serde_json::Value::Null,
        };
        let detail = serde_json::json!({
            "carrier_instance": self.decision.carrier, "rule": self.decision.rule,
            "mode": self.decision.mode, "label_key": self.key, "remote_id": l.remote_id,
            "rate": l.rate, "currency": l.currency, "pickup": self.pickup,
        });
        let cause = tx.cause().to_string();
        let connector = self.decision.carrier.clone();
        match write_shipped(tx.conn(), &cause, &connector, &shipment, detail).await {
            Ok(events) => {
                for e in events {
                    tx.emit(e);
                }
                Ok(())
            }
            Err(TransitionError::Illegal(e)) => {
                let state = OrderState::parse(&e.state).unwrap_or(OrderState::Received);
                super::steps::record_moved_on(tx, &self.order_id, EventType::ORDER_PACKED, state)
                    .await
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// The delivery note's copies, stored with the order.
struct Notes {
    order_id: String,
    number: String,
    copies: Vec<(Copy, String, Vec<u8>)>,
}

#[async_trait]
impl Effects for Notes {
    async fn write(&mut self, tx: &mut UnitTx<'_>) -> Result<(), StageError> {
        for (copy, html, pdf) in &self.copies {
            let c = copy.as_str();
            Store::put_order_document(
                tx.conn(),
                &self.order_id,
                "delivery_note",
                &format!("{c}.html"),
                "text/html; charset=utf-8",
                html.as_bytes(),
            )
            .await?;
            Store::put_order_document(
                tx.conn(),
                &self.order_id,
                "delivery_note",
                &format!("{c}.pdf"),
                "application/pdf",
                pdf,
            )
            .await?;
        }
        let cause = tx.cause().to_string();
        let data = serde_json::json!({"number": self.number});
        Store::append_event(
            tx.conn(),
            &self.order_id,
            "delivery_note",
            None,
            &cause,
            Some(&data),
        )
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_weigh_and_flag_the_order() {
        let catalog = crate::catalog::Catalog::from_csv(
            "sku,name,weight_kg,fragile,hazardous\nMUG-01,Mug,0.4,true,false\n",
            std::path::Path::new("t.csv"),
        )
        .unwrap();
        let order: CanonicalOrder = serde_json::from_value(serde_json::json!({
            "source": {"format": "shopify", "channel": "web", "external_id": "1", "status": "open"},
            "placed_at": "2026-12-01T00:00:00Z",
            "customer": {},
            "ship_to": {"country": "DE"},
            "lines": [{"line_ref": "1", "sku": "MUG-01", "quantity": "3", "unit_price": null},
                      {"line_ref": "2", "sku": "X", "quantity": "1", "unit_price": null}],
        }))
        .unwrap();
        let f = facts(&order, &catalog, Decimal::ONE);
        assert_eq!(f.weight_kg, Decimal::new(22, 1));
        assert!(f.fragile && !f.hazardous);
        assert_eq!(f.channel.as_deref(), Some("web"));
        assert_eq!(f.country.as_deref(), Some("DE"));
    }
}
