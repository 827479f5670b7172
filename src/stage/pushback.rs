//! The push-back stage (`order.shipped`, `shipment.in_transit`, `shipment.created`): tells the
//! marketplace an order came from that it shipped, with its tracking numbers, as the
//! connector's policy says (`on_label`: when it ships, and a per-parcel platform again for each
//! parcel added later; `on_first_scan`: at the first carrier scan; `never`).
//!
//! **Once.** The intent is recorded (`pushbacks`, claimed by this worker) before the platform
//! is called; a unit with an earlier attempt and no proof is looked up at the platform before
//! anything is created (the answer was lost, the daemon died); the proof and the order's
//! `pushed_back` history entry are written together. Retriable failures (429, 5xx, timeouts,
//! after the client's own retries) release the claim and retry the message with backoff, then
//! park it; refusals (a 4xx, an unknown carrier without fallback) and answers that cannot be
//! read after the push-back's own tries (each looked up first; `pushback_unreadable`) raise an
//! exception for the connector's department. Every try feeds the connector's health.

use async_trait::async_trait;

use super::steps::{due_in, load_order, order_id_of};
use super::{Committed, Effects, Handler, StageError, Unit, UnitTx};
use crate::config::PushbackPolicy;
use crate::model::{Envelope, EventType, ShipmentRef};
use crate::outbound::pushback::{
    facts, push_unit, record_pushed, record_refused, units, Facts, PushError, Pushed, Pushers,
    Unit as PushUnit, UnitOutcome,
};

/// The stage's name.
pub const NAME: &str = "pushback";
/// What it consumes.
pub const BINDINGS: &[&str] = &[
    EventType::ORDER_SHIPPED,
    EventType::SHIPMENT_IN_TRANSIT,
    EventType::SHIPMENT_CREATED,
];

/// The bindings `config` needs: `order.shipped` and `shipment.created` when a marketplace
/// connector pushes back when its orders ship (`on_label`), `shipment.in_transit` when one
/// does at the first scan; nothing when none pushes back.
pub fn bindings_for(config: &crate::config::Config) -> Vec<String> {
    let policies: Vec<PushbackPolicy> = config
        .connectors
        .iter()
        .filter_map(|c| match c {
            crate::config::ConnectorConfig::Marketplace(m) => Some(m.pushback),
            _ => None,
        })
        .collect();
    let mut out = Vec::new();
    if policies.contains(&PushbackPolicy::OnLabel) {
        out.extend([EventType::ORDER_SHIPPED, EventType::SHIPMENT_CREATED]);
    }
    if policies.contains(&PushbackPolicy::OnFirstScan) {
        out.push(EventType::SHIPMENT_IN_TRANSIT);
    }
    out.into_iter().map(str::to_string).collect()
}

/// The stage.
pub struct PushbackStage {
    pushers: Pushers,
    claim_ms: u64,
    due_hours: u32,
}

impl PushbackStage {
    /// A stage over the configured connectors' push-backs.
    pub fn new(pushers: Pushers, claim_ms: u64, due_hours: u32) -> Self {
        Self {
            pushers,
            claim_ms,
            due_hours,
        }
    }
}

#[async_trait]
impl Handler for PushbackStage {
    fn name(&self) -> &'static str {
        NAME
    }

    /// It tells the marketplace.
    fn calls_partners(&self) -> bool {
        true
    }

    async fn handle(&self, env: &Envelope, unit: Unit<'_>) -> Result<Committed, StageError> {
        let order_id = order_id_of(env)?;
        let (stored, state) = load_order(unit.store(), &order_id).await?;
        let connector = stored.order.source.connector.clone();
        // Nothing to push (a connector that does not push back, an event its policy does not
        // act on) is acknowledged without a transaction: the decision reads the order and the
        // configuration, never what an earlier copy of the message did.
        let Some((policy, pusher)) = self.pushers.get(&connector) else {
            return Ok(unit.nothing());
        };
        let per_parcel = pusher.as_ref().is_ok_and(|p| p.unit() == PushUnit::Parcel);
        let wanted = match policy {
            // A parcel added to an order that shipped already is told to a per-parcel platform
            // when it is recorded; the order's first parcels come with `order.shipped`.
            PushbackPolicy::OnLabel if env.kind == EventType::SHIPMENT_CREATED => {
                per_parcel && state.is_shipped()
            }
            PushbackPolicy::OnLabel => env.kind == EventType::ORDER_SHIPPED,
            PushbackPolicy::OnFirstScan => env.kind == EventType::SHIPMENT_IN_TRANSIT,
            PushbackPolicy::Never => false,
        };
        if !wanted {
            return Ok(unit.nothing());
        }
        let pusher = pusher.as_ref().map_err(|reason| {
            let mut e = StageError::permanent("pushback_config", reason.clone());
            e.order_id = Some(order_id.clone());
            e
        })?;
        let shipments = unit.store().order_shipments(&order_id).await?;
        if shipments.is_empty() {
            let mut e = StageError::transient(
                "pushback_no_parcels",
                format!("order {order_id} shipped without a recorded parcel"),
            );
            e.order_id = Some(order_id.clone());
            return Err(e);
        }
        // At the first scan of a parcel (or when a parcel is added), a per-parcel platform is
        // told about that parcel.
        let scanned: Option<String> = (env.kind != EventType::ORDER_SHIPPED)
            .then(|| serde_json::from_value::<ShipmentRef>(env.payload.clone()).ok())
            .flatten()
            .map(|r| r.shipment_id)
            .filter(|s| !s.is_empty());
        let mut done = Vec::new();
        let mut refused = Vec::new();
        for (key, parcels) in units(pusher.unit(), &shipments) {
            if key != crate::outbound::pushback::ORDER_UNIT
                && scanned.as_ref().is_some_and(|s| *s != key)
            {
                continue;
            }
            let f = facts(pusher, &order_id, &stored.order, &parcels, &shipments);
            match push_unit(unit.store(), pusher, &f, &key, self.claim_ms, false).await? {
                UnitOutcome::Already(_) => {}
                UnitOutcome::Pushed(p) => done.push((key, f, p)),
                UnitOutcome::Busy => {
                    let mut e = StageError::transient(
                        "pushback_busy",
                        format!("the push-back of order {order_id} ({key}) is being made by another worker"),
                    );
                    e.order_id = Some(order_id.clone());
                    return Err(e);
                }
                UnitOutcome::Failed(e) if e.is_retriable() => {
                    let mut err = StageError::unavailable("pushback_unavailable", e.to_string());
                    err.order_id = Some(order_id.clone());
                    return Err(err);
                }
                UnitOutcome::Failed(e) => refused.push((key, e)),
            }
        }
        unit.commit(Record {
            order_id,
            pusher: pusher.clone(),
            done,
            refused,
            due_at: due_in(self.due_hours),
        })
        .await
    }
}

/// The proofs and refusals of one message.
struct Record {
    order_id: String,
    pusher: std::sync::Arc<crate::outbound::pushback::Pusher>,
    done: Vec<(String, Facts, Pushed)>,
    refused: Vec<(String, PushError)>,
    due_at: i64,
}

#[async_trait]
impl Effects for Record {
    async fn write(&mut self, tx: &mut UnitTx<'_>) -> Result<(), StageError> {
        let cause = tx.cause().to_string();
        for (key, f, p) in &self.done {
            tracing::info!(order_id = %f.order_id, connector = %self.pusher.connector, unit = %key, proof = %p.proof, how = p.how, "Pushed back to the marketplace.");
            record_pushed(
                tx.conn(),
                &self.pusher.connector,
                f,
                key,
                p,
                "pushed_back",
                &cause,
            )
            .await?;
        }
        for (key, e) in &self.refused {
            tracing::warn!(order_id = %self.order_id, connector = %self.pusher.connector, unit = %key, error = %e, "Push-back refused; exception raised.");
            record_refused(
                tx.conn(),
                &self.pusher,
                &self.order_id,
                key,
                e,
                NAME,
                &cause,
                self.due_at,
            )
            .await?;
        }
        Ok(())
    }
}
