//! The fulfil stage (`order.allocated`, `order.change_requested`): places the fulfilment
//! order(s) with the allocated warehouses, and asks them to cancel or amend when a change comes
//! after fulfilment was requested.
//!
//! **Nothing twice.** Each fulfilment order has ordergate's key ([`fulfilment_key`]), recorded
//! in the store (`intended`) BEFORE the warehouse is called. A retry that finds the key
//! recorded but not answered looks it up at the warehouse ([`Warehouse::find`]) before it
//! creates; an answered one is not sent again. The order cancelled meanwhile: what was just
//! placed is cancelled at the warehouse.
//!
//! **Change after fulfilment.** A cancel asks every warehouse to cancel: all done →
//! `cancelled` (`order.cancelled`); one refused (picking started) → `order.change_refused` and
//! a `change_refused` exception for the business department with the warehouse's words. After
//! shipment a cancel is a return (`return_requested`). A change is applied to the order and
//! sent as an amendment; refused the same way.

use std::sync::Arc;

use async_trait::async_trait;
use rust_decimal::Decimal;

use super::steps::{load_order, order_id_of, record_moved_on, step_event, warehouse_call, MovedOn};
use super::{Committed, Effects, Handler, StageError, Unit, UnitTx};
use crate::catalog::{Catalog, CatalogSource};
use crate::health::HealthTracker;
use crate::model::{
    CanonicalOrder, ChangeKind, Envelope, EventType, OrderChange, OrderState, OrderStep, Trigger,
};
use crate::outbound::warehouse::{
    fulfilment_key, ChangeOutcome, FulfilmentLine, FulfilmentRef, FulfilmentRequest, ShipTo,
    Warehouse, Warehouses,
};
use crate::rules::routing::Assignment;
use crate::store::{Fulfilment, FulfilmentState, NewException, Severity, Store, TransitionError};

/// The stage's name.
pub const NAME: &str = "fulfil";
/// What it consumes.
pub const BINDINGS: &[&str] = &[
    EventType::ORDER_ALLOCATED,
    EventType::ORDER_CHANGE_REQUESTED,
];

/// The stage.
pub struct FulfilStage {
    catalog: Arc<CatalogSource>,
    warehouses: Warehouses,
    health: Arc<HealthTracker>,
    /// Who owns a refused change or cancel.
    change_department: String,
    due_hours: u32,
}

impl FulfilStage {
    /// A stage placing fulfilment orders with `warehouses`; refused changes go to
    /// `change_department`, due in `due_hours`.
    pub fn new(
        catalog: Arc<CatalogSource>,
        warehouses: Warehouses,
        health: Arc<HealthTracker>,
        change_department: String,
        due_hours: u32,
    ) -> Self {
        Self {
            catalog,
            warehouses,
            health,
            change_department,
            due_hours,
        }
    }

    fn warehouse(&self, name: &str) -> Result<&Arc<dyn Warehouse>, StageError> {
        self.warehouses.get(name).ok_or_else(|| {
            StageError::permanent(
                "unknown_warehouse",
                format!("warehouse {name} is not configured"),
            )
        })
    }

    /// The warehouse's reference for `f`: as answered, or looked up by our key when the answer
    /// was never seen (`None`: the warehouse has none).
    async fn reference(&self, f: &Fulfilment) -> Result<Option<FulfilmentRef>, StageError> {
        if let Some(remote_id) = &f.remote_id {
            return Ok(Some(FulfilmentRef {
                key: f.key.clone(),
                remote_id: remote_id.clone(),
            }));
        }
        let w = self.warehouse(&f.warehouse)?;
        warehouse_call(&self.health, &f.warehouse, "lookup", w.find(&f.key)).await
    }
}

/// The packing instruction of a product, if the catalog flags it.
pub fn packing_instruction(catalog: &Catalog, sku: &str) -> Option<String> {
    let p = catalog.get(sku)?;
    match (p.fragile, p.hazardous) {
        (false, false) => None,
        (true, false) => Some("FRAGILE: wrap each unit, fill voids, mark the box fragile.".into()),
        (false, true) => {
            Some("HAZARDOUS: pack and label as dangerous goods; ground transport only.".into())
        }
        (true, true) => {
            Some("FRAGILE and HAZARDOUS: wrap each unit, pack and label as dangerous goods.".into())
        }
    }
}

/// The fulfilment request for `lines` (1-based order line numbers) of `order`.
pub fn request(
    key: &str,
    order_id: &str,
    order: &CanonicalOrder,
    lines: &[u32],
    catalog: &Catalog,
) -> FulfilmentRequest {
    let a = order.ship_to.clone().or_else(|| order.bill_to.clone());
    let pick = |f: fn(&crate::model::Address) -> Option<String>| a.as_ref().and_then(f);
    let ship_to = ShipTo {
        name: pick(|a| a.name.clone())
            .or_else(|| order.customer.name.clone())
            .unwrap_or_default(),
        company: pick(|a| a.company.clone()).or_else(|| order.customer.company.clone()),
        lines: [pick(|a| a.line1.clone()), pick(|a| a.line2.clone())]
            .into_iter()
            .flatten()
            .collect(),
        city: pick(|a| a.city.clone()).unwrap_or_default(),
        region: pick(|a| a.region.clone()),
        postal_code: pick(|a| a.postal_code.clone()),
        country: pick(|a| a.country.clone()).unwrap_or_default(),
        email: order.customer.email.clone(),
        phone: pick(|a| a.phone.clone()).or_else(|| order.customer.phone.clone()),
    };
    let lines = order
        .lines
        .iter()
        .enumerate()
        .filter_map(|(i, l)| {
            let line_no = u32::try_from(i + 1).ok()?;
            let quantity = l.quantity - l.cancelled_quantity;
            if !lines.contains(&line_no) || quantity <= Decimal::ZERO {
                return None;
            }
            let sku = l.sku.clone().unwrap_or_default();
            Some(FulfilmentLine {
                line_no,
                name: l
                    .name
                    .clone()
                    .or_else(|| catalog.get(&sku).map(|p| p.name.clone()))
                    .unwrap_or_else(|| sku.clone()),
                packing_instruction: packing_instruction(catalog, &sku),
                sku,
                quantity,
            })
        })
        .collect();
    FulfilmentRequest {
        key: key.to_string(),
        order_id: order_id.to_string(),
        order_number: order
            .source
            .external_number
            .clone()
            .unwrap_or_else(|| order.source.external_id.clone()),
        ship_to,
        lines,
        shipping_method: None,
        requested_date: order.requested_delivery.clone(),
    }
}

/// `order` with `fields` (canonical paths such as `ship_to.city`, `lines[2].quantity` — the
/// index 0-based, as `crate::actions` writes them — or whole parts such as `lines`, `ship_to`,
/// → new values) applied; an error names the path.
pub fn apply_change(
    order: &CanonicalOrder,
    fields: &serde_json::Map<String, serde_json::Value>,
) -> Result<CanonicalOrder, String> {
    let mut doc = serde_json::to_value(order).map_err(|e| e.to_string())?;
    for (path, value) in fields {
        let mut at = &mut doc;
        for seg in path.split('.') {
            let (name, index) = match seg.split_once('[') {
                Some((n, rest)) => {
                    let i: usize = rest
                        .strip_suffix(']')
                        .and_then(|i| i.parse().ok())
                        .ok_or_else(|| format!("{path}: bad index"))?;
                    (n, Some(i))
                }
                None => (seg, None),
            };
            at = at
                .as_object_mut()
                .and_then(|o| o.get_mut(name))
                .ok_or_else(|| format!("{path}: no such field"))?;
            if let Some(i) = index {
                at = at
                    .as_array_mut()
                    .and_then(|a| a.get_mut(i))
                    .ok_or_else(|| format!("{path}: no such line"))?;
            }
        }
        *at = value.clone();
    }
    // Only the path of what does not fit is named: the value may be personal data.
    serde_path_to_error::deserialize(doc)
        .map_err(|e| format!("the changed order is not valid at {}", e.path()))
}

#[async_trait]
impl Handler for FulfilStage {
    fn name(&self) -> &'static str {
        NAME
    }

    /// It places warehouse orders.
    fn calls_partners(&self) -> bool {
        true
    }

    /// A change is read from the inbox first: applied again, it would ask the warehouses
    /// again. A fulfilment step needs no read: a copy after the commit finds the order moved
    /// on, and one before it finds the fulfilment intent and looks the warehouse up before
    /// any create.
    fn check_inbox_first(&self, env: &Envelope) -> bool {
        env.kind == EventType::ORDER_CHANGE_REQUESTED
    }

    async fn handle(&self, env: &Envelope, unit: Unit<'_>) -> Result<Committed, StageError> {
        if env.kind == EventType::ORDER_CHANGE_REQUESTED {
            return self.change(env, unit).await;
        }
        let order_id = order_id_of(env)?;
        let (stored, state) = load_order(unit.store(), &order_id).await?;
        match state {
            OrderState::Allocated => {}
            // Cancelled before the fulfilment was recorded as requested: whatever an earlier
            // attempt placed is cancelled at the warehouse.
            OrderState::Cancelled => return self.cancel_placed(env, unit, &order_id).await,
            _ => {
                return unit
                    .commit(MovedOn {
                        order_id,
                        event: env.kind.clone(),
                        state,
                    })
                    .await
            }
        }
        let step: OrderStep = serde_json::from_value(env.payload.clone()).map_err(|e| {
            StageError::permanent("bad_message", format!("message {}: {e}", env.id))
        })?;
        let assignments: Vec<Assignment> =
            serde_json::from_value(step.detail.get("assignments").cloned().unwrap_or_default())
                .map_err(|e| {
                    StageError::permanent(
                        "bad_message",
                        format!("message {}: detail.assignments: {e}", env.id),
                    )
                })?;
        let catalog = self.catalog.current().await?;
        let mut placed = Vec::new();
        for a in &assignments {
            let w = self.warehouse(&a.warehouse)?;
            let key = fulfilment_key(&order_id, &a.warehouse);
            let req = request(&key, &order_id, &stored.order, &a.lines, &catalog);
            let earlier = unit
                .store()
                .fulfilment_intend(&key, &order_id, &a.warehouse, &a.lines)
                .await?;
            let found = match &earlier {
                None => None,
                Some(f) => self.reference(f).await?,
            };
            let r = match found {
                Some(r) => r,
                None => warehouse_call(&self.health, &a.warehouse, "create", w.create(&req))
                    .await
                    .map_err(|mut e| {
                        e.order_id = Some(order_id.clone());
                        e
                    })?,
            };
            placed.push((a.warehouse.clone(), r));
        }
        // Cancelled while the warehouses were being asked: the commit's transition finds it
        // cancelled and the unit is retried, which cancels what was placed.
        tracing::info!(order_id = %order_id, fulfilments = placed.len(), "Fulfilment requested.");
        unit.commit(Requested {
            connector: stored.order.source.connector.clone(),
            order_id,
            placed,
            event: env.kind.clone(),
        })
        .await
    }
}

impl FulfilStage {
    /// The order was cancelled: cancels at the warehouse what was placed for it and records it.
    async fn cancel_placed(
        &self,
        env: &Envelope,
        unit: Unit<'_>,
        order_id: &str,
    ) -> Result<Committed, StageError> {
        let mut cancelled = Vec::new();
        for f in unit.store().fulfilments_of(order_id).await? {
            if matches!(
                f.state,
                FulfilmentState::Cancelled | FulfilmentState::Shipped
            ) {
                continue;
            }
            if let Some(r) = self.reference(&f).await? {
                let w = self.warehouse(&f.warehouse)?;
                unit.store().fulfilment_cancel_asked(&f.key).await?;
                let outcome = warehouse_call(
                    &self.health,
                    &f.warehouse,
                    "cancel",
                    w.cancel(&r, "order cancelled"),
                )
                .await?;
                cancelled.push((f.key.clone(), r.remote_id, outcome));
            } else {
                cancelled.push((f.key.clone(), String::new(), ChangeOutcome::Done));
            }
        }
        unit.commit(CancelledMeanwhile {
            order_id: order_id.to_string(),
            event: env.kind.clone(),
            cancelled,
        })
        .await
    }

    /// A change or cancel after fulfilment was requested.
    async fn change(&self, env: &Envelope, unit: Unit<'_>) -> Result<Committed, StageError> {
        let change: OrderChange = serde_json::from_value(env.payload.clone()).map_err(|e| {
            StageError::permanent("bad_message", format!("message {}: {e}", env.id))
        })?;
        let order_id = change.order_id.clone();
        let (stored, state) = load_order(unit.store(), &order_id).await?;
        let connector = stored.order.source.connector.clone();
        let moved_on = |state| MovedOn {
            order_id: order_id.clone(),
            event: env.kind.clone(),
            state,
        };
        if matches!(
            state,
            OrderState::Cancelled | OrderState::ReturnRequested | OrderState::Returned
        ) {
            return unit.commit(moved_on(state)).await;
        }
        if change.kind == ChangeKind::Cancel && state.is_shipped() {
            return unit
                .commit(Decided {
                    change,
                    connector,
                    outcome: Outcome::Return,
                    department: self.change_department.clone(),
                    due_hours: self.due_hours,
                })
                .await;
        }
        if change.kind == ChangeKind::Change && state.is_shipped() {
            return unit
                .commit(Decided {
                    change,
                    connector,
                    outcome: Outcome::Refused(
                        vec![(
                            "ordergate".into(),
                            format!("the order is {state}; a shipped order cannot be changed"),
                        )],
                        Vec::new(),
                    ),
                    department: self.change_department.clone(),
                    due_hours: self.due_hours,
                })
                .await;
        }
        let changed = match change.kind {
            ChangeKind::Cancel => None,
            ChangeKind::Change => {
                Some(apply_change(&stored.order, &change.fields).map_err(|m| {
                    let mut e = StageError::permanent(
                        "bad_change",
                        format!("change {} of order {order_id}: {m}", change.change_id),
                    );
                    e.order_id = Some(order_id.clone());
                    e
                })?)
            }
        };
        let catalog = self.catalog.current().await?;
        let reason = change
            .reason
            .clone()
            .unwrap_or_else(|| "customer request".into());
        let mut done = Vec::new();
        let mut refused = Vec::new();
        let mut remotes = Vec::new();
        for f in unit.store().fulfilments_of(&order_id).await? {
            if matches!(f.state, FulfilmentState::Cancelled) {
                continue;
            }
            let Some(r) = self.reference(&f).await? else {
                done.push(f.key.clone());
                continue;
            };
            let w = self.warehouse(&f.warehouse)?;
            let outcome = match &changed {
                None => {
                    // Recorded first: the warehouse's cancelled callback may come before its
                    // answer, and before this unit commits.
                    unit.store().fulfilment_cancel_asked(&f.key).await?;
                    warehouse_call(&self.health, &f.warehouse, "cancel", w.cancel(&r, &reason))
                        .await?
                }
                Some(order) => {
                    let req = request(&f.key, &order_id, order, &f.lines, &catalog);
                    warehouse_call(&self.health, &f.warehouse, "amend", w.amend(&r, &req)).await?
                }
            };
            match outcome {
                ChangeOutcome::Done => {
                    if changed.is_some() {
                        // A WMS amends by cancelling and creating again (Qimen): the order it
                        // holds now may have a new id, which later cancels must use.
                        let now =
                            warehouse_call(&self.health, &f.warehouse, "lookup", w.find(&f.key))
                                .await?;
                        if let Some(now) = now.filter(|now| now.remote_id != r.remote_id) {
                            remotes.push((f.key.clone(), now.remote_id));
                        }
                    }
                    done.push(f.key.clone())
                }
                ChangeOutcome::Refused { reason } => refused.push((f.warehouse.clone(), reason)),
            }
        }
        let outcome = match (refused.is_empty(), changed) {
            (false, None) => Outcome::Refused(refused, done),
            (false, Some(_)) => Outcome::Refused(refused, Vec::new()),
            (true, None) => Outcome::Cancelled(done),
            (true, Some(order)) => Outcome::Changed(Box::new(order), state, remotes),
        };
        unit.commit(Decided {
            change,
            connector,
            outcome,
            department: self.change_department.clone(),
            due_hours: self.due_hours,
        })
        .await
    }
}

/// The fulfilment orders placed: recorded, `fulfilment_requested`.
struct Requested {
    order_id: String,
    connector: String,
    placed: Vec<(String, FulfilmentRef)>,
    event: String,
}

#[async_trait]
impl Effects for Requested {
    async fn write(&mut self, tx: &mut UnitTx<'_>) -> Result<(), StageError> {
        let detail = serde_json::json!({
            "fulfilments": self.placed.iter().map(|(w, r)| serde_json::json!({
                "warehouse": w, "key": r.key, "remote_id": r.remote_id,
            })).collect::<Vec<_>>(),
        });
        let cause = tx.cause().to_string();
        match Store::transition_from(
            tx.conn(),
            &self.order_id,
            OrderState::Allocated,
            Trigger::RequestFulfilment,
            &cause,
            Some(&detail),
        )
        .await
        {
            Ok(_) => {}
            // Cancelled between the look and the commit: try again, which cancels what was
            // placed.
            Err(TransitionError::Illegal(e)) if e.state == OrderState::Cancelled.as_str() => {
                return Err(StageError::transient(
                    "order_cancelled_meanwhile",
                    format!(
                        "order {} was cancelled while its fulfilment was placed",
                        self.order_id
                    ),
                ));
            }
            Err(TransitionError::Illegal(e)) => {
                let state = OrderState::parse(&e.state).unwrap_or(OrderState::Received);
                return record_moved_on(tx, &self.order_id, &self.event, state).await;
            }
            Err(e) => return Err(e.into()),
        }
        for (_, r) in &self.placed {
            Store::fulfilment_set(
                tx.conn(),
                &r.key,
                FulfilmentState::Requested,
                Some(&r.remote_id),
            )
            .await?;
        }
        let step = OrderStep {
            order_id: self.order_id.clone(),
            warehouses: self.placed.iter().map(|(w, _)| w.clone()).collect(),
            cause: format!("stage:{NAME}"),
            detail,
        };
        tx.emit(step_event(
            EventType::ORDER_FULFILMENT_REQUESTED,
            &self.connector,
            &step,
        ));
        Ok(())
    }
}

/// Fulfilment orders of an order cancelled meanwhile: their cancellation recorded.
struct CancelledMeanwhile {
    order_id: String,
    event: String,
    /// (key, remote id, the warehouse's answer).
    cancelled: Vec<(String, String, ChangeOutcome)>,
}

#[async_trait]
impl Effects for CancelledMeanwhile {
    async fn write(&mut self, tx: &mut UnitTx<'_>) -> Result<(), StageError> {
        for (key, remote, outcome) in &self.cancelled {
            if *outcome == ChangeOutcome::Done {
                let remote = (!remote.is_empty()).then_some(remote.as_str());
                Store::fulfilment_set(tx.conn(), key, FulfilmentState::Cancelled, remote).await?;
            }
        }
        let cause = tx.cause().to_string();
        Store::append_event(
            tx.conn(),
            &self.order_id,
            "fulfilment_cancelled",
            None,
            &cause,
            Some(&serde_json::json!({"event": self.event, "fulfilments": self.cancelled})),
        )
        .await?;
        Ok(())
    }
}

/// How a change after fulfilment ended.
enum Outcome {
    /// Every warehouse cancelled (these keys).
    Cancelled(Vec<String>),
    /// Every warehouse amended: the changed order, stored while the order is in this state;
    /// the (key, remote id) of fulfilment orders the warehouse holds under a new id.
    Changed(Box<CanonicalOrder>, OrderState, Vec<(String, String)>),
    /// A cancel after shipment: a return.
    Return,
    /// (warehouse, its words); for a cancel, the keys the other warehouses did cancel.
    Refused(Vec<(String, String)>, Vec<String>),
}

/// A decided change: recorded, its event emitted, a refusal an exception.
struct Decided {
    change: OrderChange,
    connector: String,
    outcome: Outcome,
    department: String,
    due_hours: u32,
}

#[async_trait]
impl Effects for Decided {
    async fn write(&mut self, tx: &mut UnitTx<'_>) -> Result<(), StageError> {
        let id = self.change.order_id.clone();
        let cause = tx.cause().to_string();
        let data = serde_json::json!({"change_id": self.change.change_id, "requested_by": self.change.requested_by});
        let mut out = self.change.clone();
        let kind = match &self.outcome {
            Outcome::Cancelled(keys) => {
                Store::transition(tx.conn(), &id, Trigger::Cancel, &cause, Some(&data))
                    .await
                    .map_err(StageError::from)?;
                for k in keys {
                    Store::fulfilment_set(tx.conn(), k, FulfilmentState::Cancelled, None).await?;
                }
                EventType::ORDER_CANCELLED
            }
            Outcome::Return => {
                Store::transition(tx.conn(), &id, Trigger::RequestReturn, &cause, Some(&data))
                    .await
                    .map_err(StageError::from)?;
                out.return_requested = true;
                EventType::ORDER_CANCELLED
            }
            Outcome::Changed(order, state, remotes) => {
                if !Store::replace_order(tx.conn(), order, state.as_str()).await? {
                    return Err(StageError::transient(
                        "order_busy",
                        format!("order {id} moved on while its change was applied"),
                    ));
                }
                for (key, remote) in remotes.iter() {
                    Store::fulfilment_moved(tx.conn(), key, remote).await?;
                }
                let fields: Vec<&String> = self.change.fields.keys().collect();
                Store::append_event(
                    tx.conn(),
                    &id,
                    "changed",
                    None,
                    &cause,
                    Some(
                        &serde_json::json!({"change_id": self.change.change_id, "fields": fields}),
                    ),
                )
                .await?;
                EventType::ORDER_CHANGED
            }
            Outcome::Refused(words, cancelled) => {
                let what = match self.change.kind {
                    ChangeKind::Cancel => "cancel",
                    ChangeKind::Change => "change",
                };
                // What the other warehouses did cancel stays cancelled (their goods will not
                // come, which the person deciding must know); the refusing ones may still
                // cancel later on their own, which is then theirs to report.
                for k in cancelled {
                    Store::fulfilment_set(tx.conn(), k, FulfilmentState::Cancelled, None).await?;
                }
                Store::fulfilments_cancel_withdrawn(tx.conn(), &id).await?;
                let said: Vec<String> = words.iter().map(|(w, r)| format!("{w}: {r}")).collect();
                let partly = if cancelled.is_empty() {
                    String::new()
                } else {
                    format!(
                        " Cancelled meanwhile, so those goods will not come: fulfilment order(s) {}.",
                        cancelled.join(", ")
                    )
                };
                let reason = format!(
                    "The {what} {} of order {id} (asked by {}) was refused: {}.{partly}",
                    self.change.change_id,
                    self.change.requested_by,
                    said.join("; ")
                );
                Store::insert_exception(
                    tx.conn(),
                    &NewException {
                        kind: "change_refused",
                        severity: Severity::Error,
                        order_id: Some(&id),
                        raw_id: None,
                        message_id: None,
                        stage: Some(NAME),
                        connector: Some(&self.connector),
                        department: &self.department,
                        due_at: Some(super::steps::due_in(self.due_hours)),
                        reason: &reason,
                    },
                )
                .await?;
                Store::append_event(
                    tx.conn(),
                    &id,
                    "change_refused",
                    None,
                    &cause,
                    Some(&serde_json::json!({"change_id": self.change.change_id, "refused": said, "cancelled": cancelled})),
                )
                .await?;
                out.reason = Some(said.join("; "));
                EventType::ORDER_CHANGE_REFUSED
            }
        };
        tx.emit(
            Envelope::new(
                kind,
                self.connector.clone(),
                serde_json::to_value(&out).unwrap_or(serde_json::Value::Null),
            )
            .with_order(&id),
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order() -> CanonicalOrder {
        serde_json::from_value(serde_json::json!({
            "source": {"connector": "c", "format": "shopify", "channel": "web",
                       "external_id": "1001", "external_number": "#1001", "status": "open"},
            "placed_at": "2026-03-04T10:11:12Z",
            "currency": "USD",
            "customer": {"name": "Ana", "email": "a@example.com", "phone": "+15550100"},
            "ship_to": {"name": "Ana", "line1": "1 Main St", "line2": "Apt 2", "city": "Austin",
                        "region": "TX", "postal_code": "78701", "country": "US"},
            "lines": [
                {"line_ref": "1", "sku": "GLASS", "name": null, "quantity": 2,
                 "unit_price": "10.00"},
                {"line_ref": "2", "sku": "MUG", "name": "Mug", "quantity": 1,
                 "cancelled_quantity": 1, "unit_price": "10.00"},
                {"line_ref": "3", "sku": "ACID", "name": null, "quantity": 1, "unit_price": "10.00"}
            ],
            "total": "40.00"
        }))
        .unwrap()
    }

    #[test]
    fn the_request_carries_packing_instructions_and_only_its_lines() {
        let catalog = Catalog::from_csv(
            "sku,name,fragile,hazardous\nGLASS,Wine Glass,true,false\nMUG,Mug,,\nACID,Descaler,false,true\n",
            std::path::Path::new("c.csv"),
        )
        .unwrap();
        let r = request("og-k", "og_1", &order(), &[1, 2, 3], &catalog);
        assert_eq!(r.order_number, "#1001");
        assert_eq!(r.ship_to.lines, vec!["1 Main St", "Apt 2"]);
        assert_eq!(r.ship_to.phone.as_deref(), Some("+15550100"));
        // Line 2 is cancelled at the source: not shipped.
        assert_eq!(
            r.lines.iter().map(|l| l.line_no).collect::<Vec<_>>(),
            vec![1, 3]
        );
        assert_eq!(r.lines[0].name, "Wine Glass");
        assert!(r.lines[0]
            .packing_instruction
            .as_deref()
            .unwrap()
            .starts_with("FRAGILE"));
        assert!(r.lines[1]
            .packing_instruction
            .as_deref()
            .unwrap()
            .starts_with("HAZARDOUS"));
        let r = request("og-k", "og_1", &order(), &[3], &catalog);
        assert_eq!(r.lines.len(), 1);
    }

    #[test]
    fn a_change_is_applied_by_canonical_path() {
        let mut fields = serde_json::Map::new();
        fields.insert("ship_to.city".into(), serde_json::json!("Dallas"));
        fields.insert("lines[2].quantity".into(), serde_json::json!(4));
        let o = apply_change(&order(), &fields).unwrap();
        assert_eq!(o.ship_to.unwrap().city.as_deref(), Some("Dallas"));
        assert_eq!(o.lines[2].quantity, Decimal::from(4));
        for (path, want) in [
            ("lines[9].quantity", "lines[9].quantity: no such line"),
            ("lines[x].quantity", "lines[x].quantity: bad index"),
            ("ship_to.planet", "ship_to.planet: no such field"),
        ] {
            let mut f = serde_json::Map::new();
            f.insert(path.into(), serde_json::json!(1));
            assert_eq!(apply_change(&order(), &f).unwrap_err(), want);
        }
        let mut f = serde_json::Map::new();
        f.insert("lines[0].quantity".into(), serde_json::json!("many"));
        assert!(apply_change(&order(), &f)
            .unwrap_err()
            .starts_with("the changed order is not valid"));
    }
}
