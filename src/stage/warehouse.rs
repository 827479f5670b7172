//! The warehouse stage (`warehouse.<connector>`): reads a stored, verified warehouse callback,
//! decodes it ([`crate::outbound::warehouse::decode`]) and acts on what it says:
//!
//! * packed → `packed` (`order.packed`);
//! * shipped → each parcel recorded as a shipment (`shipment.created` per new parcel; a
//!   partial confirmation adds parcels, a repeated one — same partner message id, Qimen
//!   `outBizCode` — adds nothing), the order `shipped` (`order.shipped`) on the first;
//! * cancelled → `cancelled` (`order.cancelled`);
//! * handover discrepancy (short or damaged) → an exception with the counts for the
//!   warehouse department;
//! * stock changed → `order.reallocate` for every backordered order lacking those SKUs.
//!
//! A callback about a fulfilment order ordergate does not know is kept (the raw document
//! stays), raised as an exception and acknowledged.

use async_trait::async_trait;

use super::steps::{due_in, step_event, transition_or_moved_on};
use super::{Committed, Effects, Handler, StageError, Unit, UnitTx};
use crate::model::{
    ChangeKind, Envelope, EventType, OrderChange, OrderState, OrderStep, RawRef, ShipmentRef,
    Trigger,
};
use crate::outbound::warehouse::{self, Parcel, WarehouseEvent, WarehouseKind};
use crate::store::{
    Fulfilment, FulfilmentState, NewException, NewShipment, Recorded, Severity, Store,
};

/// The stage's name.
pub const NAME: &str = "warehouse";
/// What it consumes.
pub const BINDINGS: &[&str] = &[EventType::WAREHOUSE_ANY];

/// Who owns a warehouse's issues (discrepancies, callbacks for unknown orders, goods still
/// owed when every parcel is delivered): its `[[warehouses]] department`, else
/// `[pipeline] default_department`; due `[pipeline] exception_due_hours` after they are
/// raised (unless `[exceptions] sla_hours` names the kind).
#[derive(Debug, Clone)]
pub struct WarehouseOwners {
    departments: std::collections::BTreeMap<String, String>,
    default_department: String,
    due_hours: u32,
}

impl WarehouseOwners {
    /// The owners the configuration names.
    pub fn from_config(config: &crate::config::Config) -> Self {
        Self {
            departments: config
                .warehouses
                .iter()
                .map(|w| (w.name.clone(), w.department.clone()))
                .collect(),
            default_department: config.pipeline.default_department.clone(),
            due_hours: config.pipeline.exception_due_hours,
        }
    }

    /// The department owning `warehouse`'s issues (the default one when it is not
    /// configured, any more).
    pub fn department(&self, warehouse: &str) -> &str {
        self.departments
            .get(warehouse)
            .unwrap_or(&self.default_department)
    }

    /// When an issue raised now is due.
    pub fn due_at(&self) -> i64 {
        due_in(self.due_hours)
    }
}

/// The stage.
pub struct WarehouseStage {
    owners: WarehouseOwners,
}

impl WarehouseStage {
    /// A stage raising its exceptions for each warehouse's owner.
    pub fn new(owners: WarehouseOwners) -> Self {
        Self { owners }
    }
}

/// One thing to do, its fulfilment order looked up.
enum Act {
    /// (the fulfilment order, the warehouse's id as the callback gave it, the parcels it was
    /// packed into if it says).
    Packed(
        Fulfilment,
        Option<String>,
        Vec<std::collections::BTreeMap<String, rust_decimal::Decimal>>,
    ),
    Shipped {
        f: Fulfilment,
        remote_id: Option<String>,
        parcels: Vec<Parcel>,
        complete: bool,
        message_id: Option<String>,
    },
    Cancelled(Fulfilment, Option<String>),
    Discrepancy(Fulfilment, Vec<warehouse::DiscrepancyLine>),
    /// Backordered orders to allocate again.
    Reallocate(Vec<String>, Vec<String>),
    /// A fulfilment order not known: (what the callback said, the reference it gave).
    Unknown(&'static str, String),
}

#[async_trait]
impl Handler for WarehouseStage {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn handle(&self, env: &Envelope, unit: Unit<'_>) -> Result<Committed, StageError> {
        let raw_ref: RawRef = serde_json::from_value(env.payload.clone()).map_err(|e| {
            StageError::permanent(
                "bad_message",
                format!("message {} is not a warehouse-callback event: {e}", env.id),
            )
        })?;
        let raw = unit.store().raw(&raw_ref.raw_id).await?.ok_or_else(|| {
            StageError::permanent(
                "raw_missing",
                format!("raw document {} is not in the store", raw_ref.raw_id),
            )
            .with_raw(&raw_ref.raw_id)
        })?;
        let kind: WarehouseKind = serde_json::from_value(serde_json::json!(raw_ref.format))
            .map_err(|_| {
                StageError::permanent(
                    "bad_callback",
                    format!(
                        "warehouse callback {} has an unknown kind {:?}",
                        raw.id, raw_ref.format
                    ),
                )
                .with_raw(&raw.id)
            })?;
        let events = warehouse::decode(kind, &raw.content).map_err(|e| {
            StageError::permanent(
                "bad_callback",
                format!("warehouse callback {} from {}: {e}", raw.id, raw.connector),
            )
            .with_raw(&raw.id)
        })?;
        let connector = raw.connector.clone();
        let mut acts = Vec::new();
        for event in events {
            let act = match event {
                WarehouseEvent::StockChanged { skus } => {
                    let waiting = unit.store().backorders(10_000).await?;
                    let orders = waiting
                        .into_iter()
                        .filter(|b| {
                            b.skus
                                .iter()
                                .any(|s| skus.iter().any(|x| x.eq_ignore_ascii_case(s)))
                        })
                        .map(|b| b.order_id)
                        .collect();
                    Act::Reallocate(orders, skus)
                }
                WarehouseEvent::Packed {
                    key,
                    remote_id,
                    parcels,
                } => match find(unit.store(), &connector, key, remote_id.clone()).await? {
                    Ok(f) => Act::Packed(f, remote_id, parcels),
                    Err(r) => Act::Unknown("packed", r),
                },
                WarehouseEvent::Shipped {
                    key,
                    remote_id,
                    parcels,
                    complete,
                    message_id,
                } => match find(unit.store(), &connector, key, remote_id.clone()).await? {
                    Ok(f) => Act::Shipped {
                        f,
                        remote_id,
                        parcels,
                        complete,
                        message_id,
                    },
                    Err(r) => Act::Unknown("shipped", r),
                },
                WarehouseEvent::Cancelled {
                    key,
                    remote_id,
                    reason,
                } => match find(unit.store(), &connector, key, remote_id).await? {
                    Ok(f) => Act::Cancelled(f, reason),
                    Err(r) => Act::Unknown("cancelled", r),
                },
                WarehouseEvent::Discrepancy {
                    key,
                    remote_id,
                    lines,
                } => match find(unit.store(), &connector, key, remote_id).await? {
                    Ok(f) => Act::Discrepancy(f, lines),
                    Err(r) => Act::Unknown("discrepancy", r),
                },
            };
            acts.push(act);
        }
        unit.commit(Acts {
            acts,
            department: self.owners.department(&connector).to_string(),
            due_at: self.owners.due_at(),
            owners: self.owners.clone(),
            connector,
            raw_id: raw.id,
        })
        .await
    }
}

/// The fulfilment order a callback names, by our key or the warehouse's id; `Err` with the
/// reference given when ordergate has none.
async fn find(
    store: &Store,
    warehouse: &str,
    key: Option<String>,
    remote_id: Option<String>,
) -> Result<Result<Fulfilment, String>, StageError> {
    if let Some(k) = &key {
        if let Some(f) = store.fulfilment(k).await? {
            if f.warehouse == warehouse {
                return Ok(Ok(f));
            }
        }
    }
    if let Some(r) = &remote_id {
        if let Some(f) = store.fulfilment_by_remote(warehouse, r).await? {
            return Ok(Ok(f));
        }
    }
    let given = match (key, remote_id) {
        (Some(k), Some(r)) => format!("key {k}, warehouse id {r}"),
        (Some(k), None) => format!("key {k}"),
        (None, Some(r)) => format!("warehouse id {r}"),
        (None, None) => "no reference".into(),
    };
    Ok(Err(given))
}

/// How a warehouse that owed goods settled them when it cancelled what it had not shipped.
const CANCELLED_REST: &str = "cancelled the rest";

/// The exception kind of a parcel whose tracking number is another order's parcel already.
pub const PARCEL_TAKEN: &str = "parcel_taken";

/// The exception kind of a warehouse cancelling its part of an order that goes on.
pub const FULFILMENT_CANCELLED: &str = "fulfilment_cancelled";

/// What one callback writes.
struct Acts {
    acts: Vec<Act>,
    connector: String,
    raw_id: String,
    department: String,
    due_at: i64,
    owners: WarehouseOwners,
}

impl Acts {
    fn cause(&self) -> String {
        format!("warehouse:{}", self.connector)
    }

    async fn exception(
        &self,
        tx: &mut UnitTx<'_>,
        kind: &str,
        order_id: Option<&str>,
        reason: &str,
    ) -> Result<(), StageError> {
        Store::insert_exception(
            tx.conn(),
            &NewException {
                kind,
                severity: Severity::Error,
                order_id,
                raw_id: Some(&self.raw_id),
                message_id: None,
                stage: Some(NAME),
                connector: Some(&self.connector),
                department: &self.department,
                due_at: Some(self.due_at),
                reason,
            },
        )
        .await?;
        Ok(())
    }

    /// A packed or shipped callback may overtake the fulfil stage's own record of the
    /// fulfilment order (its answer, or the daemon, was lost and the retry has not come yet):
    /// the callback proves the warehouse has it, so the order is `fulfilment_requested` now
    /// (the fulfil stage's late commit then finds the order moved on).
    async fn ensure_requested(
        &self,
        tx: &mut UnitTx<'_>,
        f: &Fulfilment,
        remote_id: Option<&str>,
    ) -> Result<(), StageError> {
        if f.remote_id.is_none() {
            if let Some(r) = remote_id {
                Store::fulfilment_set(tx.conn(), &f.key, f.state, Some(r)).await?;
            }
        }
        if Store::order_state(tx.conn(), &f.order_id).await? != Some(OrderState::Allocated) {
            return Ok(());
        }
        let detail = serde_json::json!({
            "fulfilments": [{"warehouse": self.connector, "key": f.key, "remote_id": remote_id}],
            "confirmed_by": "callback", "raw_id": self.raw_id,
        });
        if transition_or_moved_on(
            tx,
            &f.order_id,
            None,
            Trigger::RequestFulfilment,
            EventType::ORDER_FULFILMENT_REQUESTED,
            Some(&detail),
        )
        .await?
        {
            let step = OrderStep {
                order_id: f.order_id.clone(),
                warehouses: vec![self.connector.clone()],
                cause: self.cause(),
                detail,
            };
            tx.emit(step_event(
                EventType::ORDER_FULFILMENT_REQUESTED,
                &self.connector,
                &step,
            ));
        }
        Ok(())
    }

    async fn shipped(
        &self,
        tx: &mut UnitTx<'_>,
        f: &Fulfilment,
        parcels: &[Parcel],
        complete: bool,
        message_id: Option<&str>,
    ) -> Result<(), StageError> {
        if let Some(m) = message_id {
            if !Store::warehouse_message_first(tx.conn(), &self.connector, m).await? {
                tracing::info!(order_id = %f.order_id, "Repeated shipping confirmation; nothing added.");
                return Ok(());
            }
        }
        let mut new_parcels = Vec::new();
        let mut taken = 0;
        for p in parcels {
            let shipment = NewShipment {
                order_id: &f.order_id,
                warehouse: Some(&self.connector),
                carrier: &p.carrier,
                carrier_name: Some(&p.carrier),
                tracking_number: &p.tracking_number,
                service: p.service.as_deref(),
                promised_at: None,
                eta: None,
                items: serde_json::to_value(&p.items).unwrap_or_default(),
            };
            match Store::record_shipment(tx.conn(), &shipment).await? {
                Recorded::New(id) => {
                    tx.emit(shipment.created_event(&id));
                    new_parcels.push(id);
                }
                Recorded::Again(_) => {}
                Recorded::Taken(other) => {
                    let reason = format!(
                        "Warehouse {} reported parcel {} {} for order {}, but that tracking \
                         number is order {other}'s parcel already: it is not recorded for order \
                         {}. One of the two reports is wrong; ask the warehouse.",
                        self.connector,
                        p.carrier,
                        shipment.number(),
                        f.order_id,
                        f.order_id
                    );
                    self.exception(tx, PARCEL_TAKEN, Some(&f.order_id), &reason)
                        .await?;
                    taken += 1;
                }
            }
        }
        if taken > 0 && taken == parcels.len() {
            // No parcel of its own: the order is not shipped on numbers that are not its
            // own; it waits (packed) for the right ones, from the warehouse or a person.
            return Ok(());
        }
        // A partial confirmation leaves the rest owed (the order is not delivered before it
        // ships); a late partial after the final one changes nothing.
        let now = match (complete, f.state) {
            (_, FulfilmentState::Shipped) | (true, _) => FulfilmentState::Shipped,
            (false, _) => FulfilmentState::PartShipped,
        };
        if f.state != now {
            Store::fulfilment_set(tx.conn(), &f.key, now, None).await?;
        }
        let data = serde_json::json!({
            "warehouse": self.connector, "raw_id": self.raw_id,
            "parcels": parcels.len(), "complete": complete,
        });
        let state = Store::order_state(tx.conn(), &f.order_id).await?;
        if matches!(
            state,
            Some(OrderState::FulfilmentRequested | OrderState::Packed)
        ) && transition_or_moved_on(
            tx,
            &f.order_id,
            None,
            Trigger::Ship,
            EventType::ORDER_SHIPPED,
            Some(&data),
        )
        .await?
        {
            let shipped = ShipmentRef {
                order_id: f.order_id.clone(),
                shipment_id: String::new(),
                carrier: String::new(),
                tracking_number: String::new(),
                warehouse: Some(self.connector.clone()),
                status: None,
                detail: serde_json::json!({"shipments": new_parcels, "complete": complete}),
            };
            tx.emit(
                Envelope::new(
                    EventType::ORDER_SHIPPED,
                    self.connector.clone(),
                    serde_json::to_value(&shipped).unwrap_or_default(),
                )
                .with_order(&f.order_id),
            );
        } else if !new_parcels.is_empty() {
            let cause = tx.cause().to_string();
            Store::append_event(
                tx.conn(),
                &f.order_id,
                "parcels_added",
                None,
                &cause,
                Some(&data),
            )
            .await?;
        }
        if complete && new_parcels.is_empty() {
            // The final confirmation added no parcel: the ones before may all be delivered
            // already, and only the goods this warehouse owed kept the order from it.
            self.deliver_if_done(tx, &f.order_id, super::track::SHIPPED_REST, &data)
                .await?;
        }
        Ok(())
    }

    /// A warehouse cancelled its part of an order that goes on without it (another warehouse
    /// has the rest, or part of the order left already): those lines will not reach the
    /// customer, and nobody would notice, so a person decides — re-allocate them or cancel
    /// them with the customer — through a `fulfilment_cancelled` exception for the
    /// warehouse's department.
    async fn part_cancelled(
        &self,
        tx: &mut UnitTx<'_>,
        f: &Fulfilment,
        reason: Option<&str>,
        detail: &serde_json::Value,
    ) -> Result<(), StageError> {
        let lines: Vec<String> = f.lines.iter().map(u32::to_string).collect();
        let why = reason.map(|r| format!(" ({r})")).unwrap_or_default();
        let text = format!(
            "Warehouse {} cancelled its fulfilment order {} of order {} (order lines {}) \
             without shipping it{why}, while the rest of the order goes on: those lines will \
             not reach the customer. Re-allocate them, or cancel them with the customer.",
            f.warehouse,
            f.key,
            f.order_id,
            lines.join(", ")
        );
        Store::insert_exception(
            tx.conn(),
            &NewException {
                kind: FULFILMENT_CANCELLED,
                severity: Severity::Error,
                order_id: Some(&f.order_id),
                raw_id: Some(&self.raw_id),
                message_id: None,
                stage: Some(NAME),
                connector: Some(&f.warehouse),
                department: self.owners.department(&f.warehouse),
                due_at: Some(self.owners.due_at()),
                reason: &text,
            },
        )
        .await?;
        let cause = tx.cause().to_string();
        Store::append_event(
            tx.conn(),
            &f.order_id,
            FULFILMENT_CANCELLED,
            None,
            &cause,
            Some(&serde_json::json!({
                "fulfilment": f.key, "warehouse": f.warehouse, "lines": f.lines,
                "detail": detail,
            })),
        )
        .await?;
        tracing::warn!(order_id = %f.order_id, warehouse = %f.warehouse, "The warehouse cancelled its part of an order that goes on; exception raised.");
        Ok(())
    }

    /// The order delivered when every parcel is and no warehouse owes goods any more (see
    /// [`super::track::deliver_if_done`]).
    async fn deliver_if_done(
        &self,
        tx: &mut UnitTx<'_>,
        order_id: &str,
        settled: &str,
        data: &serde_json::Value,
    ) -> Result<(), StageError> {
        let cause = tx.cause().to_string();
        let mut out = Vec::new();
        super::track::deliver_if_done(
            tx.conn(),
            &cause,
            &self.owners,
            order_id,
            settled,
            data,
            &mut out,
        )
        .await?;
        for env in out {
            tx.emit(env);
        }
        Ok(())
    }
}

#[async_trait]
impl Effects for Acts {
    async fn write(&mut self, tx: &mut UnitTx<'_>) -> Result<(), StageError> {
        let step = |order_id: &str, detail| OrderStep {
            order_id: order_id.to_string(),
            warehouses: vec![self.connector.clone()],
            cause: self.cause(),
            detail,
        };
        for act in &self.acts {
            match act {
                Act::Packed(f, remote_id, parcels) => {
                    self.ensure_requested(tx, f, remote_id.as_deref()).await?;
                    let first = matches!(
                        f.state,
                        FulfilmentState::Requested | FulfilmentState::Intended
                    );
                    if first {
                        Store::fulfilment_set(tx.conn(), &f.key, FulfilmentState::Packed, None)
                            .await?;
                    }
                    let mut detail = serde_json::json!({"raw_id": self.raw_id, "key": f.key});
                    if !parcels.is_empty() {
                        detail["parcels"] = serde_json::json!(parcels);
                    }
                    // An order allocated to several warehouses: another's part was packed or
                    // shipped first. This part is announced all the same (`order.packed` for
                    // this warehouse), so its carrier is booked and its parcels join the order.
                    let state = Store::order_state(tx.conn(), &f.order_id).await?;
                    let joins = first
                        && matches!(
                            state,
                            Some(OrderState::Packed | OrderState::Shipped | OrderState::InTransit)
                        );
                    let announce = if joins {
                        let cause = tx.cause().to_string();
                        Store::append_event(
                            tx.conn(),
                            &f.order_id,
                            "part_packed",
                            None,
                            &cause,
                            Some(&detail),
                        )
                        .await?;
                        true
                    } else {
                        transition_or_moved_on(
                            tx,
                            &f.order_id,
                            state,
                            Trigger::Pack,
                            EventType::ORDER_PACKED,
                            Some(&detail),
                        )
                        .await?
                    };
                    if announce {
                        let s = step(&f.order_id, detail);
                        tx.emit(step_event(EventType::ORDER_PACKED, &self.connector, &s));
                    }
                }
                Act::Shipped {
                    f,
                    remote_id,
                    parcels,
                    complete,
                    message_id,
                } => {
                    self.ensure_requested(tx, f, remote_id.as_deref()).await?;
                    self.shipped(tx, f, parcels, *complete, message_id.as_deref())
                        .await?
                }
                Act::Cancelled(f, reason) => {
                    Store::fulfilment_set(tx.conn(), &f.key, FulfilmentState::Cancelled, None)
                        .await?;
                    if f.cancel_asked {
                        // The answer to ordergate's own cancel, which may overtake the
                        // warehouse's answer to the call and the change's commit: the change
                        // decides the order (cancelled, or refused elsewhere), not this.
                        let cause = tx.cause().to_string();
                        Store::append_event(
                            tx.conn(),
                            &f.order_id,
                            "fulfilment_cancel_confirmed",
                            None,
                            &cause,
                            Some(&serde_json::json!({
                                "raw_id": self.raw_id, "fulfilment": f.key, "warehouse": f.warehouse,
                            })),
                        )
                        .await?;
                        continue;
                    }
                    let state = Store::order_state(tx.conn(), &f.order_id).await?;
                    let detail = serde_json::json!({"raw_id": self.raw_id, "reason": reason});
                    // Another warehouse still has (or shipped) its part: the order goes on
                    // without this one's goods, it is not cancelled.
                    let others = Store::fulfilments_on(tx.conn(), &f.order_id)
                        .await?
                        .iter()
                        .any(|o| o.key != f.key && o.state != FulfilmentState::Cancelled);
                    if !others
                        && transition_or_moved_on(
                            tx,
                            &f.order_id,
                            None,
                            Trigger::Cancel,
                            EventType::ORDER_CANCELLED,
                            Some(&detail),
                        )
                        .await?
                    {
                        let change = OrderChange {
                            order_id: f.order_id.clone(),
                            change_id: self.raw_id.clone(),
                            kind: ChangeKind::Cancel,
                            requested_by: self.cause(),
                            state: state.unwrap_or(OrderState::FulfilmentRequested),
                            fields: serde_json::Map::new(),
                            reason: reason.clone(),
                            return_requested: false,
                        };
                        tx.emit(
                            Envelope::new(
                                EventType::ORDER_CANCELLED,
                                self.connector.clone(),
                                serde_json::to_value(&change).unwrap_or_default(),
                            )
                            .with_order(&f.order_id),
                        );
                    } else {
                        if f.state != FulfilmentState::Cancelled
                            && state != Some(OrderState::Cancelled)
                        {
                            self.part_cancelled(tx, f, reason.as_deref(), &detail)
                                .await?;
                        }
                        // What this warehouse cancelled is owed no more, so the parcels
                        // delivered may complete the order.
                        self.deliver_if_done(tx, &f.order_id, CANCELLED_REST, &detail)
                            .await?;
                    }
                }
                Act::Discrepancy(f, lines) => {
                    let counts: Vec<String> = lines
                        .iter()
                        .map(|l| {
                            format!(
                                "{}: planned {}, shipped {}, damaged {}",
                                l.sku, l.planned, l.shipped, l.damaged
                            )
                        })
                        .collect();
                    let reason = format!(
                        "Handover discrepancy at {} for order {}: {}.",
                        self.connector,
                        f.order_id,
                        counts.join("; ")
                    );
                    self.exception(tx, "handover_discrepancy", Some(&f.order_id), &reason)
                        .await?;
                }
                Act::Reallocate(orders, skus) => {
                    for order_id in orders {
                        let s = step(order_id, serde_json::json!({"skus": skus}));
                        tx.emit(step_event(EventType::ORDER_REALLOCATE, &self.connector, &s));
                    }
                }
                Act::Unknown(what, given) => {
                    tracing::warn!(connector = %self.connector, what, "Warehouse callback for an unknown fulfilment order; kept as an exception.");
                    let reason = format!(
                        "Warehouse {} reported {what} for a fulfilment order ordergate does not know ({given}); the callback is kept as raw document {}.",
                        self.connector, self.raw_id
                    );
                    self.exception(tx, "unknown_fulfilment", None, &reason)
                        .await?;
                }
            }
        }
        Ok(())
    }
}
