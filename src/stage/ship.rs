//! The ship stage (`order.packed`, `order.shipped`).
//!
//! **Booking** (`order.packed`). An order packed at a warehouse that does not book carriers
//! itself (`[[warehouses]] books_carrier = false`) gets one: the transport rules
//! ([`crate::rules::transport`]) pick mode, service and carrier from the facts of what that
//! warehouse ships — the lines its fulfilment order was given (a split order's other warehouse
//! books its own lines), weighed from the catalog. Its parcels are the ones its confirmation
//! names, else planned from those lines ([`parcels`]). A carrier with an API sells a label per
//! parcel: its key ([`label_key`], order + parcel) is recorded
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
use crate::store::{
    FulfilmentState, NewDocument, NewException, NewShipment, Recorded, Severity, Store,
    TransitionError,
};

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

/// The transport facts of `order` (as the warehouse ships it, [`warehouse_part`]: every line
/// not cancelled is in its parcels).
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

/// What one warehouse ships of `order`: the order with only `lines` (1-based line numbers, the
/// ones its fulfilment orders were given). Without line numbers (no fulfilment order on
/// record) the whole order.
pub fn warehouse_part(order: &CanonicalOrder, lines: &[u32]) -> CanonicalOrder {
    let mut part = order.clone();
    if !lines.is_empty() {
        part.lines = order
            .lines
            .iter()
            .zip(1u32..)
            .filter(|(_, n)| lines.contains(n))
            .map(|(l, _)| l.clone())
            .collect();
    }
    part
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

/// Most parcels one order is split into by weight; what is left goes into the last one (the
/// carrier refuses an overweight parcel, which becomes an exception for a person).
pub const MAX_PARCELS: usize = 50;

/// A pickup asked of a carrier that cannot look pickups up, its answer not yet seen.
const PICKUP_REQUESTING: &str = "requesting";

/// One parcel to buy a label for.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedParcel {
    /// SKU → quantity.
    pub items: BTreeMap<String, Decimal>,
    pub weight_kg: Decimal,
}

/// The parcels of a packed order (`order` as the warehouse ships it, [`warehouse_part`]): as
/// the warehouse packed them when its confirmation says (`detail.parcels`: SKU → quantity
/// each); otherwise every line of it not cancelled in one parcel,
/// split by weight into parcels of at most `max_parcel_kg` when the carrier sets one (whole
/// units stay whole; a unit heavier than the limit travels alone).
pub fn parcels(
    order: &CanonicalOrder,
    detail: &serde_json::Value,
    catalog: &crate::catalog::Catalog,
    unit_weight: Decimal,
    max_parcel_kg: Option<Decimal>,
) -> Vec<PlannedParcel> {
    let weight = |sku: &str| {
        catalog
            .get(sku)
            .and_then(|p| p.weight_kg)
            .unwrap_or(unit_weight)
            .max(Decimal::ZERO)
    };
    let plan = |items: BTreeMap<String, Decimal>| PlannedParcel {
        weight_kg: items.iter().fold(Decimal::ZERO, |sum, (sku, q)| {
            sum.saturating_add(q.saturating_mul(weight(sku)))
        }),
        items,
    };
    let packed: Vec<BTreeMap<String, Decimal>> = detail
        .get("parcels")
        .and_then(|p| serde_json::from_value(p.clone()).ok())
        .unwrap_or_default();
    let packed: Vec<_> = packed.into_iter().filter(|p| !p.is_empty()).collect();
    if !packed.is_empty() {
        return packed.into_iter().map(plan).collect();
    }
    let all: BTreeMap<String, Decimal> = serde_json::from_value(items(order)).unwrap_or_default();
    let whole = plan(all.clone());
    let Some(max) = max_parcel_kg.filter(|m| *m > Decimal::ZERO && whole.weight_kg > *m) else {
        return vec![whole];
    };
    let mut out: Vec<PlannedParcel> = vec![plan(BTreeMap::new())];
    for (sku, quantity) in all {
        let w = weight(&sku);
        let mut left = quantity;
        while left > Decimal::ZERO {
            let full = out.len() >= MAX_PARCELS;
            let Some(current) = out.last_mut() else { break };
            let room = max - current.weight_kg;
            let fit = if full || w.is_zero() {
                left
            } else {
                room.checked_div(w).map_or(left, |n| n.floor().min(left))
            };
            let take = if fit > Decimal::ZERO {
                fit
            } else if current.items.is_empty() {
                // One unit heavier than the limit: it travels alone.
                left.min(Decimal::ONE)
            } else {
                out.push(plan(BTreeMap::new()));
                continue;
            };
            *current.items.entry(sku.clone()).or_insert(Decimal::ZERO) += take;
            current.weight_kg = current.weight_kg.saturating_add(take.saturating_mul(w));
            left -= take;
        }
    }
    out.retain(|p| !p.items.is_empty());
    out
}

#[async_trait]
impl Handler for ShipStage {
    fn name(&self) -> &'static str {
        NAME
    }

    /// It buys labels.
    fn calls_partners(&self) -> bool {
        true
    }

    async fn handle(&self, env: &Envelope, unit: Unit<'_>) -> Result<Committed, StageError> {
        if env.kind == EventType::ORDER_SHIPPED {
            return self.delivery_note(env, unit).await;
        }
        let order_id = order_id_of(env)?;
        let (stored, state) = load_order(unit.store(), &order_id).await?;
        let moved_on = MovedOn {
            order_id: order_id.clone(),
            event: env.kind.clone(),
            state,
        };
        // Shipped already: another warehouse's part went first; this one's packed part is
        // still to book (its parcels join the order).
        let joins = matches!(state, OrderState::Shipped | OrderState::InTransit);
        if state != OrderState::Packed && !joins {
            return unit.commit(moved_on).await;
        }
        let step: OrderStep = serde_json::from_value(env.payload.clone()).map_err(|e| {
            StageError::permanent("bad_message", format!("message {}: {e}", env.id))
        })?;
        let warehouse = step.warehouses.first().cloned().unwrap_or_default();
        if !self.ours_to_book.contains(&warehouse) {
            tracing::debug!(order_id = %order_id, warehouse = %warehouse, "The warehouse books its own carrier.");
            return unit.commit(Nothing).await;
        }
        // This warehouse's fulfilment orders: the lines it was given are what it packed (a
        // split order's other warehouse ships the rest).
        let ours: Vec<_> = unit
            .store()
            .fulfilments_of(&order_id)
            .await?
            .into_iter()
            .filter(|f| f.warehouse == warehouse && f.state != FulfilmentState::Cancelled)
            .collect();
        if joins && !ours.iter().any(|f| f.state == FulfilmentState::Packed) {
            return unit.commit(moved_on).await;
        }
        let lines: Vec<u32> = ours.iter().flat_map(|f| f.lines.iter().copied()).collect();
        let part = warehouse_part(&stored.order, &lines);
        let order = &part;
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
        // One booking of this order's labels at a time: a redelivered copy of the message (the
        // broker lost the connection while the first copy was still buying) waits for the first
        // instead of buying again; a claim left by a worker that died expires after one call
        // chain's longest duration.
        let lock_key = label_key(&order_id, &format!("{warehouse}#1"));
        let store = unit.store().clone();
        store
            .label_intend(
                &lock_key,
                &order_id,
                &decision.carrier,
                Some(&warehouse),
                true,
            )
            .await?;
        let lease = claim_lease_ms(&cfg);
        super::steps::wait_for_claim(
            || store.label_claim(&lock_key, lease),
            lease,
            "carrier_busy",
            &format!("buying order {order_id}'s labels"),
            Some(&order_id),
        )
        .await?;
        let claimed_for = order_id.clone();
        let outcome = async {
            let plan = parcels(
                order,
                &step.detail,
                &catalog,
                self.transport.default_unit_weight_kg,
                cfg.max_parcel_kg,
            );
            let to = ship_to(order);
            let from = Address::from(&cfg.from);
            let carrier = match booking {
                Booking::Dispatch => {
                    let key = label_key(&order_id, &format!("{warehouse}#1"));
                    unit.store()
                        .label_intend(&key, &order_id, &decision.carrier, Some(&warehouse), false)
                        .await?;
                    let doc = serde_json::json!({
                        "dispatch": key, "order_id": order_id, "order_number": order_number(order),
                        "mode": decision.mode, "rule": decision.rule, "carrier": decision.carrier,
                        "warehouse": warehouse, "ship_to": to, "items": items(order),
                        "parcels": plan.iter().map(|p| &p.items).collect::<Vec<_>>(),
                        "weight_kg": f.weight_kg.max(Decimal::new(1, 1)),
                        "created_at": chrono::Utc::now().to_rfc3339(),
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
            // One label per parcel, each under its own key: a retry reuses the labels already
            // bought and looks up a purchase whose answer was lost.
            let mut bought = Vec::with_capacity(plan.len());
            let mut first_pickup = None;
            for (n, parcel) in plan.into_iter().enumerate() {
                let key = label_key(&order_id, &format!("{warehouse}#{}", n + 1));
                let earlier = unit
                    .store()
                    .label_intend(&key, &order_id, &decision.carrier, Some(&warehouse), false)
                    .await?;
                if n == 0 {
                    first_pickup = earlier.as_ref().and_then(|l| l.pickup.clone());
                }
                let request = LabelRequest {
                    key: key.clone(),
                    order_id: order_id.clone(),
                    order_number: order_number(order),
                    to: to.clone(),
                    from: from.clone(),
                    weight_kg: parcel.weight_kg.max(Decimal::new(1, 1)),
                    dims_cm: cfg.parcel_cm,
                    service: decision.service.clone(),
                };
                store.label_claim_refresh(&lock_key).await?;
                let known = earlier
                    .as_ref()
                    .filter(|l| l.status == "bought")
                    .and_then(|l| serde_json::from_value::<Label>(l.result.clone()?).ok());
                // A row still `reserved` (the booking's lock, written before any call) means
                // no earlier attempt reached the carrier: nothing to look up first.
                let reached = earlier.as_ref().is_some_and(|l| l.status != "reserved");
                let label = match known {
                    Some(l) => l,
                    None => match carrier.buy(&request, reached).await {
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
                                "Carrier {} refused the label of parcel {} for order {order_id} (rule {}): {e}. The order waits packed; correct the order and replay, or enter the tracking by hand.",
                                decision.carrier,
                                n + 1,
                                decision.rule
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
                bought.push(Bought {
                    key,
                    label,
                    file,
                    items: parcel.items,
                });
            }
            // One pickup for the order (the carrier collects every parcel at the address), asked
            // under the first parcel's key. A carrier whose pickups cannot be looked up gets the
            // request recorded before it is sent; one recorded but never answered is not sent
            // again: a person checks with the carrier.
            let mut pickup = first_pickup.filter(|p| !p.is_null());
            let mut pickup_problem = None;
            let findable = carrier.pickups_findable();
            if let Some(first) = bought.first().filter(|_| cfg.pickup && carrier.picks_up()) {
                let unanswered = pickup
                    .as_ref()
                    .is_some_and(|p| p["status"].as_str() == Some(PICKUP_REQUESTING));
                if unanswered {
                    let v = serde_json::json!({"status": "unconfirmed"});
                    unit.store().label_pickup(&first.key, &v).await?;
                    pickup = Some(v);
                    pickup_problem = Some(self.exception(
                        "pickup_unconfirmed",
                        &order_id,
                        Some(&decision.carrier),
                        format!(
                            "A pickup for order {order_id} was asked of carrier {} but its answer was lost, and the carrier cannot look pickups up: check with the carrier whether it is scheduled before asking again.",
                            decision.carrier
                        ),
                    ));
                } else if pickup.is_none() {
                    let earliest =
                        chrono::Utc::now() + chrono::Duration::hours(i64::from(cfg.pickup_after_hours));
                    let parcels_note = if bought.len() > 1 {
                        format!(", {} parcels", bought.len())
                    } else {
                        String::new()
                    };
                    let r = PickupRequest {
                        key: first.key.clone(),
                        label: first.label.clone(),
                        address: from.clone(),
                        earliest,
                        latest: earliest
                            + chrono::Duration::hours(i64::from(cfg.pickup_window_hours.max(1))),
                        instructions: Some(format!("Order {}{parcels_note}", order_number(order))),
                    };
                    store.label_claim_refresh(&lock_key).await?;
                    if !findable {
                        let intent = serde_json::json!({"status": PICKUP_REQUESTING});
                        unit.store().label_pickup(&first.key, &intent).await?;
                    }
                    match carrier.pickup(&r).await {
                        Ok(p) => {
                            let v = serde_json::to_value(&p).unwrap_or_default();
                            unit.store().label_pickup(&first.key, &v).await?;
                            pickup = Some(v);
                        }
                        Err(e) if e.is_retriable() => {
                            if !findable && !e.may_have_been_done() {
                                // Surely not made (429, refused connection): ask again next time.
                                unit.store()
                                    .label_pickup(&first.key, &serde_json::Value::Null)
                                    .await?;
                            }
                            return Err(unavailable(&decision.carrier, order_id, "pickup", e));
                        }
                        Err(e) => {
                            let v = serde_json::json!({"status": "refused", "reason": e.to_string()});
                            unit.store().label_pickup(&first.key, &v).await?;
                            pickup_problem = Some(self.exception(
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
            }
            tracing::info!(order_id = %order_id, carrier = %decision.carrier, parcels = bought.len(), "Labels bought; order shipped.");
            unit.commit(Booked {
                order_id,
                warehouse,
                decision,
                parcels: bought,
                pickup,
                pickup_problem,
            })
            .await
        }
        .await;
        if let Err(error) = store.label_release(&lock_key).await {
            tracing::warn!(order_id = %claimed_for, error = %error, "Could not release the label claim; it expires by itself.");
        }
        outcome
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
            // The PDFs of all copies at once: they share the note's font subset.
            renderer
                .pdfs(&note)?
                .into_iter()
                .map(|(c, pdf)| Ok((c, renderer.html(&note, c)?, pdf)))
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

/// How long a claim on an order's booking lasts without a refresh: one carrier call chain's
/// longest duration (every attempt timing out, every retry delay at its longest, the last
/// unanswered purchase left to settle) and a margin.
fn claim_lease_ms(cfg: &CarrierConfig) -> i64 {
    let attempts = u64::from(cfg.max_retries) + 2;
    let chain = cfg
        .request_timeout_ms
        .saturating_mul(attempts)
        .saturating_add(1_000)
        .saturating_add(cfg.retry_max_ms.saturating_mul(u64::from(cfg.max_retries)));
    i64::try_from(chain.saturating_add(5_000)).unwrap_or(i64::MAX)
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

/// Records the parcels and ships the order (`shipment.created` each, one `order.shipped`) on
/// `conn`, for the ship stage and for tracking entered through the API; returns the events to
/// publish with the write. The order must be `packed` or `fulfilment_requested` (else
/// `Illegal`); `parcels` holds at least one.
///
/// With `join_shipped` (the ship stage), parcels of an order another warehouse already shipped
/// join it instead (`parcels_added`); without (tracking entered by a person), that is `Illegal`.
pub async fn write_shipped(
    conn: &mut AnyConnection,
    cause: &str,
    connector: &str,
    parcels: &[NewShipment<'_>],
    detail: serde_json::Value,
    join_shipped: bool,
) -> Result<Vec<Envelope>, TransitionError> {
    let mut events = Vec::new();
    let mut ids = Vec::with_capacity(parcels.len());
    for s in parcels {
        let id = match Store::record_shipment(conn, s).await? {
            Recorded::New(id) => {
                events.push(s.created_event(&id));
                id
            }
            Recorded::Again(id) => id,
            Recorded::Taken(other) => {
                return Err(TransitionError::ParcelTaken {
                    order_id: s.order_id.to_string(),
                    carrier: s.carrier.to_string(),
                    number: s.number(),
                    other,
                })
            }
        };
        ids.push(id);
    }
    let (Some(first), Some(first_id)) = (parcels.first(), ids.first().cloned()) else {
        return Ok(events);
    };
    let data = serde_json::json!({"shipment_id": first_id, "shipments": ids, "carrier": first.carrier, "detail": detail});
    match Store::transition(conn, first.order_id, Trigger::Ship, cause, Some(&data)).await {
        Ok(_) => {}
        // The order's parcels from another warehouse shipped it first (an order allocated to
        // several): these parcels join them — recorded, announced (`shipment.created`, so they
        // are tracked and pushed back), the order shipped once.
        Err(TransitionError::Illegal(e))
            if join_shipped
                && matches!(
                    OrderState::parse(&e.state),
                    Some(OrderState::Shipped | OrderState::InTransit | OrderState::Delivered)
                ) =>
        {
            Store::append_event(
                conn,
                first.order_id,
                "parcels_added",
                None,
                cause,
                Some(&data),
            )
            .await
            .map_err(TransitionError::Store)?;
            Store::fulfilments_shipped(conn, first.order_id, first.warehouse)
                .await
                .map_err(TransitionError::Store)?;
            return Ok(events);
        }
        Err(e) => return Err(e),
    }
    // The goods these parcels carry left: nothing of them is owed any more (an order is
    // delivered only when no warehouse owes goods).
    Store::fulfilments_shipped(conn, first.order_id, first.warehouse)
        .await
        .map_err(TransitionError::Store)?;
    let shipped = ShipmentRef {
        order_id: first.order_id.to_string(),
        shipment_id: first_id,
        carrier: crate::tracking::carrier::code(first.carrier),
        tracking_number: first.number(),
        warehouse: first.warehouse.map(str::to_string),
        status: None,
        detail: serde_json::json!({"shipments": ids, "complete": true, "booking": detail}),
    };
    events.push(
        Envelope::new(
            EventType::ORDER_SHIPPED,
            connector,
            serde_json::to_value(&shipped).unwrap_or_default(),
        )
        .with_order(first.order_id),
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

/// One parcel's bought label and its file.
struct Bought {
    key: String,
    label: Label,
    file: Option<(String, Vec<u8>)>,
    items: BTreeMap<String, Decimal>,
}

/// The bought labels (one per parcel): their files, the parcels, the order shipped.
struct Booked {
    order_id: String,
    warehouse: String,
    decision: Decision,
    parcels: Vec<Bought>,
    pickup: Option<serde_json::Value>,
    pickup_problem: Option<Raise>,
}

#[async_trait]
impl Effects for Booked {
    async fn write(&mut self, tx: &mut UnitTx<'_>) -> Result<(), StageError> {
        // Each parcel's label as answered, and its file when there is one: one statement.
        let answers: Vec<Vec<u8>> = self
            .parcels
            .iter()
            .map(|p| serde_json::to_vec_pretty(&p.label).unwrap_or_default())
            .collect();
        let mut docs = Vec::with_capacity(self.parcels.len() * 2);
        for (p, answer) in self.parcels.iter().zip(&answers) {
            docs.push(NewDocument {
                kind: "label",
                name: format!("{}.json", p.key),
                content_type: "application/json",
                content: answer,
            });
            if let Some((content_type, bytes)) = &p.file {
                docs.push(NewDocument {
                    kind: "label",
                    name: p.key.clone(),
                    content_type,
                    content: bytes,
                });
            }
        }
        Store::put_order_documents(tx.conn(), &self.order_id, &docs).await?;
        if let Some(r) = &self.pickup_problem {
            raise(tx, r).await?;
        }
        let items: Vec<serde_json::Value> = self
            .parcels
            .iter()
            .map(|p| serde_json::to_value(&p.items).unwrap_or_default())
            .collect();
        let shipments: Vec<NewShipment<'_>> = self
            .parcels
            .iter()
            .zip(items)
            .map(|(p, items)| NewShipment {
                order_id: &self.order_id,
                warehouse: Some(&self.warehouse),
                carrier: &p.label.carrier,
                carrier_name: Some(&p.label.carrier),
                tracking_number: &p.label.tracking_number,
                service: Some(&p.label.service),
                promised_at: None,
                eta: p.label.eta.map(|t| t.timestamp_millis()),
                items,
            })
            .collect();
        let labels: Vec<serde_json::Value> = self
            .parcels
            .iter()
            .map(|p| {
                serde_json::json!({
                    "label_key": p.key, "remote_id": p.label.remote_id,
                    "rate": p.label.rate, "currency": p.label.currency,
                })
            })
            .collect();
        let first = self.parcels.first();
        let detail = serde_json::json!({
            "carrier_instance": self.decision.carrier, "rule": self.decision.rule,
            "mode": self.decision.mode, "label_key": first.map(|p| p.key.clone()),
            "remote_id": first.map(|p| p.label.remote_id.clone()),
            "rate": first.and_then(|p| p.label.rate),
            "currency": first.and_then(|p| p.label.currency.clone()),
            "labels": labels, "pickup": self.pickup,
        });
        let cause = tx.cause().to_string();
        let connector = self.decision.carrier.clone();
        match write_shipped(tx.conn(), &cause, &connector, &shipments, detail, true).await {
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
        // Every copy's HTML and PDF: one statement.
        let docs: Vec<NewDocument<'_>> = self
            .copies
            .iter()
            .flat_map(|(copy, html, pdf)| {
                let c = copy.as_str();
                [
                    NewDocument {
                        kind: "delivery_note",
                        name: format!("{c}.html"),
                        content_type: "text/html; charset=utf-8",
                        content: html.as_bytes(),
                    },
                    NewDocument {
                        kind: "delivery_note",
                        name: format!("{c}.pdf"),
                        content_type: "application/pdf",
                        content: pdf,
                    },
                ]
            })
            .collect();
        Store::put_order_documents(tx.conn(), &self.order_id, &docs).await?;
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

    /// An order of `lines` (SKU, quantity), their refs numbered from 1.
    fn order_of(lines: &[(&str, &str)]) -> CanonicalOrder {
        let lines: Vec<_> = lines
            .iter()
            .zip(1..)
            .map(|((sku, quantity), n): (&(&str, &str), u32)| {
                serde_json::json!({"line_ref": n.to_string(), "sku": sku, "quantity": quantity, "unit_price": null})
            })
            .collect();
        serde_json::from_value(serde_json::json!({
            "source": {"format": "shopify", "channel": "web", "external_id": "1", "status": "open"},
            "placed_at": "2026-12-01T00:00:00Z",
            "customer": {},
            "lines": lines,
        }))
        .unwrap()
    }

    #[test]
    fn a_warehouse_ships_only_the_lines_it_was_given() {
        let catalog = crate::catalog::Catalog::from_csv(
            "sku,name,weight_kg,fragile,hazardous\nMUG-01,Mug,0.4,false,false\nLAMP,Lamp,1.2,true,false\n",
            std::path::Path::new("t.csv"),
        )
        .unwrap();
        let order = order_of(&[("MUG-01", "1"), ("LAMP", "2"), ("MUG-01", "3")]);
        let none = serde_json::Value::Null;
        let d = |v: &str| v.parse::<Decimal>().unwrap();
        // The lamp warehouse: line 2 only.
        let lamps = warehouse_part(&order, &[2]);
        let plan = parcels(&lamps, &none, &catalog, Decimal::ONE, None);
        assert_eq!(plan.len(), 1);
        assert_eq!(
            plan[0].items,
            BTreeMap::from([("LAMP".to_string(), d("2"))])
        );
        assert_eq!(plan[0].weight_kg, d("2.4"));
        assert!(facts(&lamps, &catalog, Decimal::ONE).fragile);
        // The other: lines 1 and 3, the same SKU in one parcel, nothing fragile.
        let mugs = warehouse_part(&order, &[1, 3]);
        let plan = parcels(&mugs, &none, &catalog, Decimal::ONE, None);
        assert_eq!(
            plan[0].items,
            BTreeMap::from([("MUG-01".to_string(), d("4"))])
        );
        let f = facts(&mugs, &catalog, Decimal::ONE);
        assert_eq!(f.weight_kg, d("1.6"));
        assert!(!f.fragile);
        // No fulfilment order on record: the whole order.
        assert_eq!(warehouse_part(&order, &[]), order);
        // A line number the order does not have ships nothing of it.
        assert!(warehouse_part(&order, &[9]).lines.is_empty());
    }

    #[test]
    fn parcels_as_packed_or_split_by_weight_with_whole_units() {
        let catalog = crate::catalog::Catalog::from_csv(
            "sku,name,weight_kg\nMUG-01,Mug,0.4\nANVIL,Anvil,30\n",
            std::path::Path::new("t.csv"),
        )
        .unwrap();
        let order = order_of(&[("MUG-01", "5"), ("ANVIL", "2")]);
        let none = serde_json::Value::Null;
        let d = |v: &str| v.parse::<Decimal>().unwrap();
        // No limit: one parcel with everything.
        let one = parcels(&order, &none, &catalog, Decimal::ONE, None);
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].weight_kg, d("62.0"));
        // A 25 kg limit: each anvil alone (heavier than the limit), the mugs together.
        let split = parcels(&order, &none, &catalog, Decimal::ONE, Some(d("25")));
        let shapes: Vec<_> = split
            .iter()
            .map(|p| (p.items.clone(), p.weight_kg))
            .collect();
        assert_eq!(
            shapes,
            vec![
                (BTreeMap::from([("ANVIL".to_string(), d("1"))]), d("30")),
                (BTreeMap::from([("ANVIL".to_string(), d("1"))]), d("30")),
                (BTreeMap::from([("MUG-01".to_string(), d("5"))]), d("2.0")),
            ]
        );
        // A 1 kg limit: two mugs a parcel, whole units only.
        let mugs = order_of(&[("MUG-01", "5")]);
        let small = parcels(&mugs, &none, &catalog, Decimal::ONE, Some(d("1")));
        let counts: Vec<_> = small.iter().map(|p| p.items["MUG-01"]).collect();
        assert_eq!(counts, vec![d("2"), d("2"), d("1")]);
        // Never more than MAX_PARCELS, whatever the quantity.
        let many = order_of(&[("ANVIL", "1000000000")]);
        let capped = parcels(&many, &none, &catalog, Decimal::ONE, Some(d("25")));
        assert_eq!(capped.len(), MAX_PARCELS);
        let total: Decimal = capped.iter().map(|p| p.items["ANVIL"]).sum();
        assert_eq!(total, d("1000000000"), "every unit is in a parcel");
        // The warehouse said how it packed: that decides, whatever the limit.
        let packed =
            serde_json::json!({"parcels": [{"MUG-01": "3"}, {"MUG-01": "2", "ANVIL": "2"}]});
        let as_packed = parcels(&order, &packed, &catalog, Decimal::ONE, Some(d("1")));
        assert_eq!(as_packed.len(), 2);
        assert_eq!(as_packed[1].weight_kg, d("60.8"));
    }
}
