//! The notify stage: for the order, shipment and exception events it is bound to (with
//! `bus.only_wanted`, those of the enabled e-mails and subscribers: [`bindings_for`]), records
//! what is to be sent — the customer's e-mail (`crate::notices`), the department's e-mail for an overdue
//! exception, a delivery per `[[subscribers]]` entry that wants the event — in the unit's
//! transaction. It calls nobody: the notices sender (`crate::notices::sender`) sends what is
//! recorded, so a redelivered event, or the same fact announced twice, is one e-mail and one
//! delivery per subscriber (their keys are unique).

use async_trait::async_trait;

use super::{Committed, Effects, Handler, StageError, Unit, UnitTx};
use crate::model::{Envelope, EventType};
use crate::notices::{metric, store as rows, NewDelivery, NewNotice, Notifier, PrepareError};

/// The stage's name.
pub const NAME: &str = "notify";

/// What it can consume: every order, shipment and exception event.
pub const BINDINGS: &[&str] = &[
    EventType::ORDER_ANY,
    EventType::SHIPMENT_ANY,
    EventType::EXCEPTION_ANY,
];

/// The bindings `config` needs (see [`crate::notices::events_wanted`]): a lifecycle event
/// that is no one's e-mail and no subscriber's is not delivered to this stage at all.
pub fn bindings_for(config: &crate::config::Config) -> Vec<String> {
    crate::notices::events_wanted(&config.notices, &config.subscribers, BINDINGS)
}

/// The stage.
pub struct NotifyStage {
    notifier: Notifier,
}

impl NotifyStage {
    /// The stage for `[notices]` and `[[subscribers]]`.
    pub fn new(
        notices: &crate::config::NoticesConfig,
        subscribers: &[crate::config::SubscriberConfig],
    ) -> Self {
        Self {
            notifier: Notifier::new(notices, subscribers),
        }
    }
}

#[async_trait]
impl Handler for NotifyStage {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn handle(&self, env: &Envelope, unit: Unit<'_>) -> Result<Committed, StageError> {
        check_subject(env)?;
        let deliveries = self.notifier.deliveries(env);
        let notice = self
            .notifier
            .notice(unit.store(), env)
            .await
            .map_err(|e| match e {
                PrepareError::Store(e) => StageError::from(e),
                PrepareError::Invalid(why) => StageError::permanent("notice_invalid", why),
            })?;
        if notice.is_none() && deliveries.is_empty() {
            // Most lifecycle events (received, approved, allocated, …) are no one's notice and
            // no subscriber's: acknowledged without a transaction or an inbox record.
            return Ok(unit.nothing());
        }
        let committed = unit.commit(Record { notice, deliveries }).await?;
        crate::notices::wake_sender();
        Ok(committed)
    }

    /// It only writes: the keys of its rows catch a duplicate.
    fn check_inbox_first(&self, _: &Envelope) -> bool {
        false
    }
}

/// Every event this stage takes names what it is about: an order (`order.*`, `shipment.*`)
/// or an exception (`exception.*`). One that names neither was not sent by ordergate's
/// stages: it is parked as a bad message (an exception a person sees) — also when no e-mail
/// or subscriber would have used it, so it is neither dropped unseen nor forwarded to a
/// department's webhook.
fn check_subject(env: &Envelope) -> Result<(), StageError> {
    if env.kind.starts_with("exception.") {
        let named = env
            .payload
            .get("exception_id")
            .and_then(|v| v.as_str())
            .is_some_and(|id| !id.is_empty());
        if named {
            return Ok(());
        }
        return Err(StageError::permanent(
            "bad_message",
            format!("message {} ({}) names no exception", env.id, env.kind),
        ));
    }
    super::steps::order_id_of(env).map(|_| ())
}

/// The rows of one event.
struct Record {
    notice: Option<NewNotice>,
    deliveries: Vec<NewDelivery>,
}

#[async_trait]
impl Effects for Record {
    async fn write(&mut self, tx: &mut UnitTx<'_>) -> Result<(), StageError> {
        if let Some(n) = &self.notice {
            if rows::insert_notice(tx.conn(), n).await? {
                metrics::counter!(metric::NOTICES, "notice" => n.notice.clone(), "outcome" => "recorded")
                    .increment(1);
            }
        }
        for d in &self.deliveries {
            rows::insert_delivery(tx.conn(), d).await?;
        }
        Ok(())
    }
}
