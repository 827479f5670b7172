//! The review stage: every `order.received` is checked by the rulebook's review rules
//! ([`crate::rules::review`], the checks of the order's channel as configured) and moved on —
//! `approved`, `needs_info` with the findings, or `rejected` with its reason code — with the
//! findings and the rules' versions in the audit trail and `order.approved` /
//! `order.needs_info` / `order.rejected` published. A pending payment waits in `received` (an
//! audit entry, no event) and is reviewed again when the source reports a change.
//!
//! A review commits only on the content it read and only from `received`: an order that has
//! moved on (a redelivery, a cancel meanwhile) or changed meanwhile (its change published its
//! own `order.received`) is recorded as skipped and acknowledged. So an approved order is never
//! reviewed again behind anyone's back, whatever the rules say now; it is reviewed again only
//! when a change resubmits it.

use std::sync::Arc;

use async_trait::async_trait;
use rust_decimal::Decimal;
use serde_json::json;

use super::{Committed, Effects, Handler, StageError, Unit, UnitTx};
use crate::catalog::CatalogSource;
use crate::config::ReviewConfig;
use crate::model::events::{ReviewFinding, ReviewOutcome};
use crate::model::{Envelope, EventType, OrderState, Trigger};
use crate::rules::review::{self as rules, Decision, Finding, Recent, Settings};
use crate::store::Store;

/// Most earlier orders the duplicates rule is shown.
const DUPLICATE_CANDIDATES: i64 = 20;

/// The audit entry of a pending payment: the order stays `received`.
pub const EVENT_WAIT: &str = "review_wait";
/// The audit entry of a review not applied (the order moved on or changed meanwhile).
pub const EVENT_SKIPPED: &str = "review_skipped";

/// The audit kinds that record a review decision, with its fingerprint (newest decides).
/// (The names of `Trigger::Approve`, `RequestInfo` and `Reject`, checked by a test.)
pub const DECISION_EVENTS: [&str; 4] = ["approve", "request_info", "reject", EVENT_WAIT];

/// The stage.
pub struct ReviewStage {
    catalog: Arc<CatalogSource>,
    config: ReviewConfig,
}

impl ReviewStage {
    /// Reviews with the catalog in force and the `[review]` settings.
    pub fn new(catalog: Arc<CatalogSource>, config: ReviewConfig) -> Self {
        Self { catalog, config }
    }
}

/// The serde name of an order's channel (`marketplace`), as the config names channels.
pub fn channel_name(channel: crate::model::Channel) -> String {
    serde_json::to_value(channel)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

#[async_trait]
impl Handler for ReviewStage {
    fn name(&self) -> &'static str {
        "review"
    }

    async fn handle(&self, env: &Envelope, unit: Unit<'_>) -> Result<Committed, StageError> {
        let id = env.order_id.clone().ok_or_else(|| {
            StageError::permanent(
                "bad_message",
                format!("message {} ({}) names no order", env.id, env.kind),
            )
        })?;
        // The content with its version, read together: if the order changes after this read,
        // the commit sees another version and skips (the change published its own event).
        let Some((stored, hash)) = unit.store().order_with_hash(&id).await? else {
            return Err(StageError {
                order_id: Some(id.clone()),
                ..StageError::permanent("order_missing", format!("order {id} is not in the store"))
            });
        };
        let state = stored.state.clone();
        if state != OrderState::Received.as_str() {
            return unit
                .commit(ReviewEffects::skip(
                    id,
                    format!("the order is {state}, not received"),
                ))
                .await;
        }
        let order = &stored.order;
        let catalog = self.catalog.current().await?;
        let channel = channel_name(order.source.channel);
        let enabled = self.config.rules_for(&channel);
        let candidates = match rules::customer_key(order) {
            Some(who) if enabled.iter().any(|r| r == rules::DUPLICATES) => {
                let window = i64::from(self.config.duplicate_window_hours) * 3_600_000;
                unit.store()
                    .duplicate_candidates(
                        &id,
                        &who,
                        &rules::lines_key(order),
                        crate::store::now_ms() - window,
                        DUPLICATE_CANDIDATES,
                    )
                    .await?
            }
            _ => Vec::new(),
        };
        let recent: Vec<Recent<'_>> = candidates
            .iter()
            .map(|(order_id, order)| Recent { order_id, order })
            .collect();
        let settings = Settings {
            rules: enabled,
            price_tolerance_pct: Decimal::try_from(self.config.price_tolerance_pct)
                .unwrap_or(Decimal::ONE),
        };
        let decision = rules::review(order, &catalog, &settings, &recent);
        tracing::info!(order_id = %id, outcome = outcome_name(&decision), "Order reviewed.");
        let outcome = |findings: Vec<ReviewFinding>| ReviewOutcome {
            order_id: id.clone(),
            connector: order.source.connector.clone(),
            external_id: order.source.external_id.clone(),
            findings,
        };
        let data = json!({
            "channel": channel,
            "rules": enabled.iter().map(|r| json!({"rule": r, "version": version_of(r)})).collect::<Vec<_>>(),
            "findings": findings_of(&decision),
            "duplicates_of": duplicate_ids(&decision, &recent),
            "fingerprint": rules::fingerprint(order),
        });
        let payload = outcome(findings_of(&decision));
        unit.commit(ReviewEffects {
            order_id: id,
            hash: Some(hash),
            decision: Some(decision),
            data,
            payload,
            connector: order.source.connector.clone(),
            skip_reason: None,
        })
        .await
    }

    /// It calls no one before its commit, and the commit checks the order's state and version
    /// again: the inbox record written with its effects catches a duplicate (which then costs
    /// one review's reads) and every message saves a read.
    fn check_inbox_first(&self, _: &Envelope) -> bool {
        false
    }
}

fn outcome_name(d: &Decision) -> &'static str {
    match d {
        Decision::Approve => "approved",
        Decision::NeedsInfo { .. } => "needs_info",
        Decision::Reject { .. } => "rejected",
        Decision::Wait { .. } => "wait",
    }
}

fn version_of(rule: &str) -> u32 {
    rules::RULES
        .iter()
        .find(|(r, _)| *r == rule)
        .map_or(0, |(_, v)| *v)
}

/// The findings as events and the audit trail carry them; a rejection's reason first.
pub fn findings_of(d: &Decision) -> Vec<ReviewFinding> {
    let one = |f: &Finding| ReviewFinding {
        rule: f.rule.to_string(),
        version: f.version,
        code: f.code.to_string(),
        path: f.path.clone(),
        message: f.message.clone(),
    };
    match d {
        Decision::Approve => Vec::new(),
        Decision::NeedsInfo { findings } => findings.iter().map(one).collect(),
        Decision::Reject { finding } | Decision::Wait { finding } => vec![one(finding)],
    }
}

/// The earlier orders a suspected duplicate resembles, for the person who asks the customer.
fn duplicate_ids(d: &Decision, recent: &[Recent<'_>]) -> Vec<String> {
    let suspected = matches!(d, Decision::NeedsInfo { findings } if findings.iter().any(|f| f.rule == rules::DUPLICATES));
    if suspected {
        recent.iter().map(|r| r.order_id.to_string()).collect()
    } else {
        Vec::new()
    }
}

/// What a review writes: the transition with its findings, or an audit entry.
struct ReviewEffects {
    order_id: String,
    /// The content hash reviewed; `None` for a skip.
    hash: Option<String>,
    decision: Option<Decision>,
    data: serde_json::Value,
    payload: ReviewOutcome,
    connector: String,
    skip_reason: Option<String>,
}

impl ReviewEffects {
    fn skip(order_id: String, reason: String) -> Self {
        Self {
            payload: ReviewOutcome {
                order_id: order_id.clone(),
                connector: String::new(),
                external_id: String::new(),
                findings: Vec::new(),
            },
            order_id,
            hash: None,
            decision: None,
            data: serde_json::Value::Null,
            connector: String::new(),
            skip_reason: Some(reason),
        }
    }

    /// Why the review no longer applies (the order moved on, or its content changed since
    /// the review read version `hash`), read in the unit's transaction; `None` when it does.
    async fn moved_on(
        &self,
        tx: &mut UnitTx<'_>,
        hash: &str,
    ) -> Result<Option<String>, StageError> {
        Ok(
            match Store::order_version(tx.conn(), &self.order_id).await? {
                Some((state, h)) if state == OrderState::Received.as_str() && h == hash => None,
                Some((state, _)) if state != OrderState::Received.as_str() => {
                    Some(format!("the order is {state}, not received"))
                }
                _ => Some(
                    "the order changed while it was reviewed; its change is reviewed instead"
                        .into(),
                ),
            },
        )
    }

    async fn write_skip(&self, tx: &mut UnitTx<'_>, reason: &str) -> Result<(), StageError> {
        tracing::info!(order_id = %self.order_id, reason = %reason, "Review skipped.");
        let cause = tx.cause().to_string();
        Store::append_event(
            tx.conn(),
            &self.order_id,
            EVENT_SKIPPED,
            None,
            &cause,
            Some(&json!({ "reason": reason })),
        )
        .await?;
        Ok(())
    }
}

#[async_trait]
impl Effects for ReviewEffects {
    async fn write(&mut self, tx: &mut UnitTx<'_>) -> Result<(), StageError> {
        if let Some(reason) = &self.skip_reason {
            return self.write_skip(tx, &reason.clone()).await;
        }
        let (Some(decision), Some(hash)) = (&self.decision, &self.hash) else {
            return Ok(());
        };
        let (trigger, kind) = match decision {
            Decision::Approve => (Trigger::Approve, EventType::ORDER_APPROVED),
            Decision::NeedsInfo { .. } => (Trigger::RequestInfo, EventType::ORDER_NEEDS_INFO),
            Decision::Reject { .. } => (Trigger::Reject, EventType::ORDER_REJECTED),
            Decision::Wait { .. } => {
                if let Some(skip) = self.moved_on(tx, hash).await? {
                    return self.write_skip(tx, &skip).await;
                }
                let cause = tx.cause().to_string();
                Store::append_event(
                    tx.conn(),
                    &self.order_id,
                    EVENT_WAIT,
                    None,
                    &cause,
                    Some(&self.data),
                )
                .await?;
                return Ok(());
            }
        };
        // The move happens only on the version of the content the review read (one statement):
        // an order changed or moved on meanwhile is skipped, saying which.
        let cause = tx.cause().to_string();
        let moved = Store::transition_at_version(
            tx.conn(),
            &self.order_id,
            OrderState::Received,
            trigger,
            hash,
            &cause,
            Some(&self.data),
        )
        .await
        .map_err(StageError::from)?;
        if !moved {
            let skip = self
                .moved_on(tx, hash)
                .await?
                .unwrap_or_else(|| "the order moved on while it was reviewed".to_string());
            return self.write_skip(tx, &skip).await;
        }
        let payload = serde_json::to_value(&self.payload).unwrap_or(serde_json::Value::Null);
        tx.emit(Envelope::new(kind, self.connector.clone(), payload).with_order(&self.order_id));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decision_events_are_the_triggers_names() {
        assert_eq!(
            DECISION_EVENTS[..3],
            [
                Trigger::Approve.as_str(),
                Trigger::RequestInfo.as_str(),
                Trigger::Reject.as_str()
            ]
        );
    }
}
