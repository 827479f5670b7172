//! Push-back: telling the marketplace an order came from that it shipped, with the tracking
//! numbers, once, with proof.
//!
//! * [`definition`] — the `[pushback]` section of a connector definition (calls, proof,
//!   look-up, error classes, carrier table): a new platform of a known kind is a file.
//! * [`exec`] — carrying a push-back out against the platform ([`Pusher`]).
//! * [`reconcile`] — the periodic comparison of "shipped here" with "shipped there".
//!
//! **Once.** The intent (order, unit) is recorded in `pushbacks` before the platform is
//! called (`Store::pushback_claim`); a push-back whose earlier attempt got no answer looks the
//! platform's fulfilments up before it creates; the proof is stored with the order in the
//! same transaction as its `pushed_back` history entry. The stage is `crate::stage::pushback`.

use std::collections::BTreeMap;
use std::sync::Arc;

use rust_decimal::prelude::ToPrimitive;

pub mod definition;
pub mod exec;
pub mod reconcile;

pub use definition::{PushbackSpec, Unit};
pub use exec::{Facts, LineFact, ParcelFact, PushError, Pushed, Pusher};

use crate::config::{ConnectorConfig, PushbackPolicy};
use crate::model::CanonicalOrder;
use crate::store::Shipment;

/// Metric names.
pub mod metric {
    /// Push-backs by connector and outcome (`created`, `found`, `already_fulfilled`,
    /// `refused`, `retry`).
    pub const PUSHBACKS: &str = "ordergate_pushbacks_total";
    /// Reconciliation checks by connector and result (`present`, `lost`, `repaired`,
    /// `failed`).
    pub const RECONCILED: &str = "ordergate_pushback_reconcile_total";
}

/// The push-back of every marketplace connector whose policy is not `never`, by connector
/// name; a connector whose push-back cannot be built keeps its reason (an exception when an
/// order of it ships).
#[derive(Clone, Default)]
pub struct Pushers {
    by_connector: BTreeMap<String, (PushbackPolicy, Result<Arc<Pusher>, String>)>,
}

impl Pushers {
    /// From the configured connectors.
    pub fn from_config(connectors: &[ConnectorConfig]) -> Self {
        let mut by_connector = BTreeMap::new();
        for c in connectors {
            let ConnectorConfig::Marketplace(m) = c else {
                continue;
            };
            if m.pushback == PushbackPolicy::Never {
                continue;
            }
            let built = match Pusher::build(m) {
                Ok(Some(p)) => Ok(p),
                Ok(None) => Err(format!(
                    "connector {}: definition {} has no [pushback] section",
                    m.name, m.platform
                )),
                Err(e) => Err(format!("connector {}: push-back: {e}", m.name)),
            };
            if let Err(reason) = &built {
                tracing::error!(connector = %m.name, reason = %reason, "Push-back cannot be built.");
            }
            by_connector.insert(m.name.clone(), (m.pushback, built));
        }
        Self { by_connector }
    }

    /// The policy and push-back of `connector`, if it pushes back.
    pub fn get(&self, connector: &str) -> Option<&(PushbackPolicy, Result<Arc<Pusher>, String>)> {
        self.by_connector.get(connector)
    }

    /// Feeds `health` with every push-back attempt of every connector (its name is the
    /// connector's: pushes and polls share it).
    pub fn watch_health(&self, health: &Arc<crate::health::HealthTracker>) {
        for (_, p) in self.by_connector.values() {
            if let Ok(p) = p {
                p.watch_health(health.clone());
            }
        }
    }

    /// Every connector that pushes back, with its push-back when it could be built.
    pub fn iter(&self) -> impl Iterator<Item = (&str, Option<&Arc<Pusher>>)> {
        self.by_connector
            .iter()
            .map(|(n, (_, p))| (n.as_str(), p.as_ref().ok()))
    }
}

/// The key of one push-back of an order: `order` (per order) or the shipment id (per parcel).
pub const ORDER_UNIT: &str = "order";

/// The facts of one push-back: the order's lines and `parcels` (in the order they were
/// recorded; `all` gives each its 1-based position), with the platform's carrier values.
pub fn facts(
    pusher: &Pusher,
    order_id: &str,
    order: &CanonicalOrder,
    parcels: &[&Shipment],
    all: &[Shipment],
) -> Facts {
    // A single parcel whose contents the warehouse reported (SKU → quantity) carries those
    // lines only; otherwise every line is told (Amazon and eBay then see the whole order with
    // the first parcel, and a later parcel's repeat is answered as already fulfilled).
    let contents: Option<BTreeMap<String, i64>> = match parcels {
        [one] => one.items.as_object().filter(|m| !m.is_empty()).map(|m| {
            m.iter()
                .filter_map(|(sku, q)| {
                    let q = crate::partner::definition::scalar_text(q)?;
                    Some((sku.clone(), q.parse::<f64>().ok()?.round() as i64))
                })
                .collect()
        }),
        _ => None,
    };
    let lines_of = |contents: Option<&BTreeMap<String, i64>>| -> Vec<LineFact> {
        order
            .lines
            .iter()
            .enumerate()
            .filter_map(|(i, l)| {
                let mut quantity = (l.quantity - l.cancelled_quantity).round().to_i64()?;
                if let Some(c) = contents {
                    quantity = quantity.min(*c.get(l.sku.as_deref().unwrap_or_default())?);
                }
                (quantity > 0).then(|| LineFact {
                    line_ref: if l.line_ref.is_empty() {
                        (i + 1).to_string()
                    } else {
                        l.line_ref.clone()
                    },
                    sku: l.sku.clone(),
                    quantity,
                })
            })
            .collect()
    };
    // Contents that match no line (SKUs spelled otherwise) tell nothing: every line.
    let mut lines = lines_of(contents.as_ref());
    if lines.is_empty() {
        lines = lines_of(None);
    }
    let shipped_at = parcels
        .iter()
        .map(|p| p.created_at)
        .min()
        .and_then(chrono::DateTime::from_timestamp_millis)
        .unwrap_or_else(chrono::Utc::now);
    let parcels = parcels
        .iter()
        .map(|s| {
            let name = s.carrier_name.clone().unwrap_or_else(|| s.carrier.clone());
            let (carrier_code, carrier_fallback) = pusher
                .carrier_code(&s.carrier, &name, false)
                .unwrap_or_default();
            let position = all.iter().position(|a| a.id == s.id).unwrap_or(0) + 1;
            ParcelFact {
                shipment_id: s.id.clone(),
                carrier: s.carrier.clone(),
                carrier_name: name,
                carrier_code,
                carrier_fallback,
                tracking_number: s.tracking_number.clone(),
                tracking_url: crate::tracking::carrier::tracking_url(
                    &s.carrier,
                    &s.tracking_number,
                )
                .unwrap_or_default(),
                package_ref: position.to_string(),
            }
        })
        .collect();
    Facts {
        order_id: order_id.to_string(),
        external_id: order.source.external_id.clone(),
        external_number: order.source.external_number.clone(),
        lines,
        parcels,
        shipped_at: shipped_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        ship_date: shipped_at.format("%Y-%m-%d").to_string(),
        params: pusher.params().clone(),
    }
}

/// The push-back units of an order with `unit`: (unit key, its parcels).
pub fn units(unit: Unit, shipments: &[Shipment]) -> Vec<(String, Vec<&Shipment>)> {
    match unit {
        Unit::Order => vec![(ORDER_UNIT.to_string(), shipments.iter().collect())],
        Unit::Parcel => shipments.iter().map(|s| (s.id.clone(), vec![s])).collect(),
    }
}

/// How one push-back unit went.
#[derive(Debug)]
pub enum UnitOutcome {
    /// It was pushed before (this proof).
    Already(String),
    /// Pushed now.
    Pushed(Pushed),
    /// Another worker is at it.
    Busy,
    /// Failed; the intent stays (released for a retry when retriable).
    Failed(PushError),
}

/// Claims and pushes one unit: the intent is recorded before the platform is called; an
/// earlier attempt without proof makes the platform be looked up first. `reclaim`: take a
/// pushed one too (reconciliation re-pushing what the platform lost; it looked already).
pub async fn push_unit(
    store: &crate::store::Store,
    pusher: &Pusher,
    facts: &Facts,
    unit_key: &str,
    claim_ms: u64,
    reclaim: bool,
) -> Result<UnitOutcome, crate::store::StoreError> {
    use crate::store::Claim;
    let lease = i64::try_from(claim_ms).unwrap_or(i64::MAX / 2);
    let claim = store
        .pushback_claim(
            &facts.order_id,
            unit_key,
            &pusher.connector,
            &facts.tracking_numbers(),
            lease,
            reclaim,
        )
        .await?;
    let look_first = match claim {
        Claim::Done(p) => return Ok(UnitOutcome::Already(p.proof.unwrap_or_default())),
        Claim::Busy => return Ok(UnitOutcome::Busy),
        Claim::First => false,
        // Reconciliation has just looked: it found nothing.
        Claim::Earlier(_) if reclaim => false,
        Claim::Earlier(_) => true,
    };
    match pusher.push(facts, look_first).await {
        Ok(p) => {
            metrics::counter!(metric::PUSHBACKS, "connector" => pusher.connector.clone(), "outcome" => p.how).increment(1);
            Ok(UnitOutcome::Pushed(p))
        }
        Err(e) => {
            let outcome = if e.is_retriable() { "retry" } else { "refused" };
            metrics::counter!(metric::PUSHBACKS, "connector" => pusher.connector.clone(), "outcome" => outcome).increment(1);
            if e.is_retriable() {
                store.pushback_release(&facts.order_id, unit_key).await?;
            }
            Ok(UnitOutcome::Failed(e))
        }
    }
}

/// Records a pushed unit with the order: the proof, and a `pushed_back` entry in its history
/// (`event`: the history entry's kind, `pushed_back` or `pushback_repaired`).
pub async fn record_pushed(
    conn: &mut sqlx::AnyConnection,
    connector: &str,
    facts: &Facts,
    unit_key: &str,
    pushed: &Pushed,
    event: &str,
    cause: &str,
) -> Result<(), crate::store::StoreError> {
    let how = if event == "pushed_back" {
        pushed.how
    } else {
        "repushed"
    };
    crate::store::Store::pushback_done(conn, &facts.order_id, unit_key, &pushed.proof, how).await?;
    crate::store::Store::append_event(
        conn,
        &facts.order_id,
        event,
        None,
        cause,
        Some(&serde_json::json!({
            "connector": connector,
            "unit": unit_key,
            "proof": pushed.proof,
            "how": pushed.how,
            "carrier_fallback": pushed.carrier_fallback,
            "tracking_numbers": facts.tracking_numbers(),
        })),
    )
    .await
}

/// Records a refused unit: the intent marked failed, an exception for the connector's
/// department (the platform's words, never personal data) and a `pushback_failed` entry.
#[allow(clippy::too_many_arguments)]
pub async fn record_refused(
    conn: &mut sqlx::AnyConnection,
    pusher: &Pusher,
    order_id: &str,
    unit_key: &str,
    error: &PushError,
    stage: &str,
    cause: &str,
    due_at: i64,
) -> Result<String, crate::store::StoreError> {
    use crate::store::{NewException, Severity, Store};
    let kind = match error {
        PushError::UnknownCarrier { .. } => "pushback_unknown_carrier",
        PushError::NothingToFulfil { .. } => "pushback_nothing_to_fulfil",
        PushError::Template(_) => "pushback_definition",
        PushError::Partner(e) if exec::is_unreadable(e) => "pushback_unreadable",
        PushError::Refused { .. } | PushError::Partner(_) => "pushback_refused",
    };
    let reason = format!(
        "The push-back of order {order_id} ({unit_key}) to {} failed: {error}",
        pusher.connector
    );
    Store::pushback_failed(conn, order_id, unit_key).await?;
    let id = Store::insert_exception(
        conn,
        &NewException {
            kind,
            severity: Severity::Error,
            order_id: Some(order_id),
            raw_id: None,
            message_id: None,
            stage: Some(stage),
            connector: Some(&pusher.connector),
            department: &pusher.department,
            due_at: Some(due_at),
            reason: &reason,
        },
    )
    .await?;
    Store::append_event(
        conn,
        order_id,
        "pushback_failed",
        None,
        cause,
        Some(&serde_json::json!({"connector": pusher.connector, "unit": unit_key, "kind": kind, "exception_id": id})),
    )
    .await?;
    Ok(id)
}
