//! The allocate stage (`order.approved`, `order.reallocate`): routes the order's lines by the
//! routing rules (`[routing]`, [`crate::rules::routing`]), asks the candidate warehouses for
//! stock, and records the plan: `allocated` (`order.allocated`, the fulfil stage places the
//! fulfilment orders) or, short of stock, `backordered` (`order.backordered`) with ONE
//! `stock_shortage` exception for the department the category names. A backordered order is
//! allocated again on `order.reallocate` (a warehouse's stock callback, or the periodic
//! re-check); a re-check still short writes nothing, and once allocated the shortage exception
//! is resolved.

use std::sync::Arc;

use async_trait::async_trait;
use rust_decimal::Decimal;

use super::steps::{
    due_in, load_order, order_id_of, step_event, transition_or_moved_on, warehouse_call, MovedOn,
    Nothing,
};
use super::{Committed, Effects, Handler, StageError, Unit, UnitTx};
use crate::catalog::{Catalog, CatalogSource};
use crate::config::RoutingConfig;
use crate::health::HealthTracker;
use crate::model::{CanonicalOrder, Envelope, EventType, OrderState, OrderStep, Trigger};
use crate::outbound::warehouse::Warehouses;
use crate::rules::routing::{self, Facts, Need, Plan, Shortfall, Step, Stocks};
use crate::store::{NewException, Severity, Store};

/// The stage's name.
pub const NAME: &str = "allocate";
/// What it consumes.
pub const BINDINGS: &[&str] = &[EventType::ORDER_APPROVED, EventType::ORDER_REALLOCATE];

/// The stage.
pub struct AllocateStage {
    routing: RoutingConfig,
    catalog: Arc<CatalogSource>,
    warehouses: Warehouses,
    health: Arc<HealthTracker>,
}

impl AllocateStage {
    /// A stage routing by `routing` over `warehouses`, reading categories from `catalog`.
    pub fn new(
        routing: RoutingConfig,
        catalog: Arc<CatalogSource>,
        warehouses: Warehouses,
        health: Arc<HealthTracker>,
    ) -> Self {
        Self {
            routing,
            catalog,
            warehouses,
            health,
        }
    }
}

/// The lines still to ship, with their categories; a line without SKU cannot be allocated.
pub fn needs(order: &CanonicalOrder, catalog: &Catalog) -> Result<Vec<Need>, String> {
    let mut out = Vec::new();
    for (i, line) in order.lines.iter().enumerate() {
        let line_no = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let quantity = line.quantity - line.cancelled_quantity;
        if quantity <= Decimal::ZERO {
            continue;
        }
        let sku = line
            .sku
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| format!("lines[{line_no}].sku is missing"))?;
        out.push(Need {
            line_no,
            sku: sku.to_string(),
            quantity,
            category: catalog.get(sku).and_then(|p| p.category.clone()),
        });
    }
    if out.is_empty() {
        return Err("no line is left to ship".into());
    }
    Ok(out)
}

/// The facts routing looks at.
pub fn facts(order: &CanonicalOrder) -> Facts {
    let ship_to = order.ship_to.as_ref();
    Facts {
        country: ship_to.and_then(|a| a.country.clone()),
        region: ship_to.and_then(|a| a.region.clone()),
        postal_code: ship_to.and_then(|a| a.postal_code.clone()),
        channel: serde_json::to_value(order.source.channel)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default(),
        value: order.total,
    }
}

#[async_trait]
impl Handler for AllocateStage {
    fn name(&self) -> &'static str {
        NAME
    }

    /// It asks the warehouses for stock.
    fn calls_partners(&self) -> bool {
        true
    }

    /// Its only call out is a stock query, which changes nothing at the warehouse; its effects
    /// are its [`Effects`], whose inbox record catches a duplicate at commit (a duplicate then
    /// costs one stock query), so every message saves a read.
    fn check_inbox_first(&self, _: &Envelope) -> bool {
        false
    }

    async fn handle(&self, env: &Envelope, unit: Unit<'_>) -> Result<Committed, StageError> {
        if self.routing.rules.is_empty() {
            // No routing configured (a daemon that only takes orders in and reviews them):
            // approved orders stay approved.
            tracing::debug!("No routing rules; the order stays where it is.");
            return unit.commit(Nothing).await;
        }
        let order_id = order_id_of(env)?;
        let (stored, state) = load_order(unit.store(), &order_id).await?;
        if !matches!(state, OrderState::Approved | OrderState::Backordered) {
            return unit
                .commit(MovedOn {
                    order_id,
                    event: env.kind.clone(),
                    state,
                })
                .await;
        }
        let bad = |m: String| {
            let mut e = StageError::permanent("bad_order", format!("order {order_id}: {m}"));
            e.order_id = Some(order_id.clone());
            e
        };
        let catalog = self.catalog.current().await?;
        let needs = needs(&stored.order, &catalog).map_err(bad)?;
        let groups = routing::groups(&self.routing.rules, &facts(&stored.order), &needs).map_err(
            |line| {
                let mut e = StageError::permanent(
                    "no_route",
                    format!("order {order_id}: no routing rule routes lines[{line}]"),
                );
                e.order_id = Some(order_id.clone());
                e
            },
        )?;
        let mut skus: Vec<String> = needs.iter().map(|n| n.sku.clone()).collect();
        skus.sort();
        skus.dedup();
        let mut stocks = Stocks::new();
        let plan = loop {
            match routing::step(&groups, &stocks, self.routing.allow_split) {
                Step::Done(plan) => break plan,
                Step::Query(name) => {
                    let warehouse = self.warehouses.get(&name).ok_or_else(|| {
                        StageError::permanent(
                            "unknown_warehouse",
                            format!("routing names warehouse {name}, which is not configured"),
                        )
                    })?;
                    let stock =
                        warehouse_call(&self.health, &name, "stock query", warehouse.stock(&skus))
                            .await
                            .map_err(|mut e| {
                                e.order_id = Some(order_id.clone());
                                e
                            })?;
                    stocks.insert(name, stock);
                }
            }
        };
        let connector = stored.order.source.connector.clone();
        match plan {
            Plan::Allocated { assignments, split } => {
                tracing::info!(order_id = %order_id, warehouses = assignments.len(), split, "Order allocated.");
                let step = OrderStep {
                    order_id: order_id.clone(),
                    warehouses: assignments.iter().map(|a| a.warehouse.clone()).collect(),
                    cause: format!("stage:{NAME}"),
                    detail: serde_json::json!({
                        "assignments": assignments,
                        "split": split,
                        "rules": groups.iter().map(|g| g.rule.clone()).collect::<Vec<_>>(),
                        "trigger": env.kind,
                    }),
                };
                unit.commit(Allocated {
                    step,
                    connector,
                    from: state,
                    event: env.kind.clone(),
                })
                .await
            }
            Plan::Short { shortfalls } if state == OrderState::Backordered => {
                tracing::debug!(order_id = %order_id, lines = shortfalls.len(), "Still short of stock.");
                unit.commit(Nothing).await
            }
            Plan::Short { shortfalls } => {
                tracing::info!(order_id = %order_id, lines = shortfalls.len(), "Order short of stock, backordered.");
                let first = shortfalls.first().and_then(|s| s.category.clone());
                let (department, due_hours) = self.routing.shortage_owner(first.as_deref());
                unit.commit(Backordered {
                    order_id,
                    connector,
                    candidates: groups.iter().flat_map(|g| g.candidates.clone()).collect(),
                    shortfalls,
                    department: department.to_string(),
                    due_at: due_in(due_hours),
                    event: env.kind.clone(),
                })
                .await
            }
        }
    }
}

/// `allocated`; a backordered order's wait ends and its shortage exception is resolved.
struct Allocated {
    step: OrderStep,
    connector: String,
    from: OrderState,
    event: String,
}

#[async_trait]
impl Effects for Allocated {
    async fn write(&mut self, tx: &mut UnitTx<'_>) -> Result<(), StageError> {
        let id = self.step.order_id.clone();
        if !transition_or_moved_on(
            tx,
            &id,
            Some(self.from),
            Trigger::Allocate,
            &self.event,
            Some(&self.step.detail),
        )
        .await?
        {
            return Ok(());
        }
        if self.from == OrderState::Backordered {
            if let Some(b) = Store::backorder_remove(tx.conn(), &id).await? {
                let resolution = format!(
                    "Stock arrived: allocated to {} ({}).",
                    self.step.warehouses.join(", "),
                    self.event
                );
                Store::resolve_exception(tx.conn(), &b.exception_id, &resolution).await?;
            }
        }
        tx.emit(step_event(
            EventType::ORDER_ALLOCATED,
            &self.connector,
            &self.step,
        ));
        Ok(())
    }
}

/// `allocated` → `backordered`, the wait recorded with its one shortage exception.
struct Backordered {
    order_id: String,
    connector: String,
    candidates: Vec<String>,
    shortfalls: Vec<Shortfall>,
    department: String,
    due_at: i64,
    event: String,
}

#[async_trait]
impl Effects for Backordered {
    async fn write(&mut self, tx: &mut UnitTx<'_>) -> Result<(), StageError> {
        let id = self.order_id.clone();
        let detail =
            serde_json::json!({"shortfalls": self.shortfalls, "candidates": self.candidates});
        if !transition_or_moved_on(
            tx,
            &id,
            Some(OrderState::Approved),
            Trigger::Allocate,
            &self.event,
            Some(&detail),
        )
        .await?
        {
            return Ok(());
        }
        let cause = tx.cause().to_string();
        Store::transition(tx.conn(), &id, Trigger::Backorder, &cause, Some(&detail))
            .await
            .map_err(StageError::from)?;
        let lines: Vec<String> = self
            .shortfalls
            .iter()
            .map(|s| {
                format!(
                    "lines[{}] {} needs {}, at most {} available",
                    s.line_no, s.sku, s.needed, s.available
                )
            })
            .collect();
        let reason = format!(
            "Order {id} is short of stock at {}: {}.",
            self.candidates.join(", "),
            lines.join("; ")
        );
        let exception_id = Store::insert_exception(
            tx.conn(),
            &NewException {
                kind: "stock_shortage",
                severity: Severity::Warning,
                order_id: Some(&id),
                raw_id: None,
                message_id: None,
                stage: Some(NAME),
                connector: Some(&self.connector),
                department: &self.department,
                due_at: Some(self.due_at),
                reason: &reason,
            },
        )
        .await?;
        let mut skus: Vec<String> = self.shortfalls.iter().map(|s| s.sku.clone()).collect();
        skus.dedup();
        Store::backorder_insert(tx.conn(), &id, &skus, &exception_id).await?;
        let step = OrderStep {
            order_id: id,
            warehouses: self.candidates.clone(),
            cause: format!("stage:{NAME}"),
            detail: serde_json::json!({
                "shortfalls": self.shortfalls,
                "department": self.department,
                "exception_id": exception_id,
            }),
        };
        tx.emit(step_event(
            EventType::ORDER_BACKORDERED,
            &self.connector,
            &step,
        ));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(lines: serde_json::Value) -> CanonicalOrder {
        let mut v = serde_json::json!({
            "source": {"connector": "c", "format": "shopify", "channel": "web",
                       "external_id": "1", "status": "open"},
            "placed_at": "2026-03-04T10:11:12Z",
            "currency": "USD",
            "customer": {"name": "A", "email": "a@example.com"},
            "ship_to": {"name": "A", "line1": "1 Main St", "city": "Austin", "region": "TX",
                        "postal_code": "78701", "country": "US"},
            "lines": [],
            "total": "40.00"
        });
        v["lines"] = lines;
        for l in v["lines"].as_array_mut().unwrap() {
            l["unit_price"] = serde_json::json!("10.00");
            l["name"] = serde_json::Value::Null;
        }
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn needs_skip_cancelled_lines_and_name_a_missing_sku() {
        let catalog = Catalog::from_csv(
            "sku,name,category\nMUG,Mug,kitchen\n",
            std::path::Path::new("c.csv"),
        )
        .unwrap();
        let o = order(serde_json::json!([
            {"line_ref": "1", "sku": "MUG", "quantity": 2, "cancelled_quantity": 1},
            {"line_ref": "2", "sku": "CUP", "quantity": 1, "cancelled_quantity": 1},
            {"line_ref": "3", "sku": "PEN", "quantity": 3}
        ]));
        let n = needs(&o, &catalog).unwrap();
        assert_eq!(n.len(), 2);
        assert_eq!((n[0].line_no, n[0].quantity), (1, Decimal::ONE));
        assert_eq!(n[0].category.as_deref(), Some("kitchen"));
        assert_eq!((n[1].line_no, n[1].category.as_deref()), (3, None));
        let o = order(serde_json::json!([{"line_ref": "1", "quantity": 2}]));
        assert_eq!(needs(&o, &catalog).unwrap_err(), "lines[1].sku is missing");
        let f = facts(&o);
        assert_eq!(
            (f.country.as_deref(), f.channel.as_str(), f.value),
            (Some("US"), "web", Some(Decimal::from(40)))
        );
    }
}
