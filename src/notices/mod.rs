//! Telling people what happened: customer notices by e-mail (English and Chinese, operator-
//! edited templates), department e-mails for overdue exceptions, department webhooks
//! (`[[subscribers]]`), and the customer-facing pages (order status, feedback).
//!
//! Every effect outside happens once: the `notify` stage (`crate::stage::notify`) only
//! **records** what is to be sent — a rendered e-mail with the `Message-ID` we generated, keyed
//! once per order and event; a webhook delivery keyed once per subscriber and event — in its
//! unit's transaction. The [`sender`] then sends what is due, recording each step:
//!
//! * e-mail: `pending → sending` (claimed) `→ data` (the server took sender and recipient; the
//!   message's data is about to go) `→ sent`. A failure before the data (no connection, 4xx,
//!   TLS, AUTH) leaves nothing delivered: back to `pending` with backoff, `parked` with an
//!   exception after `[notices] max_attempts`. A send found in `data` after a crash, or whose
//!   connection broke during the data, becomes `unknown`: it is **never sent again by itself**;
//!   an exception names its Message-ID, which the relay's log shows if it was taken. The
//!   residual window is the data transfer and the server's answer to it (milliseconds), plus
//!   the one write recording `sent`.
//! * webhooks: at least once with our delivery id (`X-Ordergate-Delivery`, the same on every
//!   retry), so the receiver dedupes; retried with backoff, parked after the limit.

pub mod mail;
pub mod public;
pub mod render;
pub mod sender;
pub mod store;

use serde::Deserialize;
use serde_json::Value;

use crate::config::{NoticesConfig, SubscriberConfig, DEPARTMENT_NOTICE};
use crate::model::{
    CanonicalOrder, Channel, Envelope, EventType, OrderChange, ReviewOutcome, ShipmentRef,
};
use crate::store::{Shipment, Store, StoreError};
use render::{ExceptionView, MissingFact, NoticeContext, ParcelView, Templates};

/// Prometheus metrics of this module.
pub mod metric {
    /// Notices by `notice` and `outcome` (`recorded`, `sent`, `retried`, `parked`, `unknown`,
    /// `skipped`).
    pub const NOTICES: &str = "ordergate_notices_total";
    /// E-mails waiting to be sent.
    pub const NOTICES_PENDING: &str = "ordergate_notices_pending";
    /// Webhook deliveries by `subscriber` and `outcome` (`delivered`, `retried`, `parked`).
    pub const DELIVERIES: &str = "ordergate_subscriber_deliveries_total";
    /// Webhook deliveries waiting, by `subscriber`.
    pub const DELIVERIES_PENDING: &str = "ordergate_subscriber_deliveries_pending";
    /// Status-page lookups by `outcome` (`found`, `refused`, `limited`).
    pub const STATUS_LOOKUPS: &str = "ordergate_status_lookups_total";
    /// Feedback posts by `outcome` (`recorded`, `used`, `unknown`, `invalid`, `limited`).
    pub const FEEDBACK: &str = "ordergate_feedback_total";
}

/// Wakes this process's sender when the stage recorded something to send, so it goes out at
/// once instead of at the next poll (other daemons of a cluster find it at their next poll).
static WAKE: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// Tells the sender there is something new to send.
pub fn wake_sender() {
    // Both loops if they wait; a stored permit if one is busy, so a wake is not lost.
    WAKE.notify_waiters();
    WAKE.notify_one();
}

/// Waits until [`wake_sender`] is called or `every` passes.
pub async fn wait_for_work(every: std::time::Duration) {
    tokio::select! {
        _ = WAKE.notified() => {}
        _ = tokio::time::sleep(every) => {}
    }
}

/// The order-trail entry of a customer's rating: data `{"rating": n}` (the KPI report counts
/// these from the one name they share, [`crate::kpi::FEEDBACK_RECEIVED`]).
pub const FEEDBACK_EVENT: &str = crate::kpi::FEEDBACK_RECEIVED;

/// The order-trail entry of an e-mail sent: data `{"notice", "message_id"}`.
pub const NOTICE_SENT_EVENT: &str = "notice_sent";

/// The customer notices and the events that ask for them.
pub const NOTICE_EVENTS: &[(&str, &str)] = &[
    (EventType::ORDER_NEEDS_INFO, "needs_info"),
    (EventType::ORDER_REJECTED, "rejected"),
    (EventType::ORDER_SHIPPED, "shipped"),
    (EventType::SHIPMENT_DELAYED, "delayed"),
    (EventType::ORDER_DELIVERED, "delivered"),
    (EventType::ORDER_CHANGED, "changed"),
    (EventType::ORDER_CANCELLED, "cancelled"),
];

/// The customer notice an event asks for, if any.
pub fn notice_for(event_type: &str) -> Option<&'static str> {
    NOTICE_EVENTS
        .iter()
        .find(|(event, _)| *event == event_type)
        .map(|(_, notice)| *notice)
}

/// The event types the `notify` stage acts on under `notices` and `subscribers`, as topic
/// patterns within its standard bindings (`stage`): each enabled customer notice's event,
/// the overdue exception when a department has an address, and every subscriber's patterns
/// (one whose first word is a wildcard stands for all of `stage`; one naming a kind outside
/// `stage` is left out, as the stage never took it).
pub fn events_wanted(
    notices: &NoticesConfig,
    subscribers: &[SubscriberConfig],
    stage: &[&str],
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |p: &str| {
        if !out.iter().any(|o| o == p) {
            out.push(p.to_string());
        }
    };
    if notices.mail_enabled() {
        for (event, notice) in NOTICE_EVENTS {
            if notices.events.iter().any(|e| e == notice) {
                add(event);
            }
        }
        if !notices.departments.is_empty() {
            add(crate::exceptions::EXCEPTION_OVERDUE);
        }
    }
    for pattern in subscribers
        .iter()
        .filter(|s| s.enabled)
        .flat_map(|s| &s.events)
    {
        let first = pattern.split('.').next().unwrap_or_default();
        if !pattern.contains(['*', '#']) {
            if stage
                .iter()
                .any(|b| crate::bus::topology::topic_matches(b, pattern))
            {
                add(pattern);
            }
        } else if first == "*" || first == "#" {
            stage.iter().for_each(|b| add(b));
        } else {
            stage
                .iter()
                .filter(|b| b.split('.').next() == Some(first))
                .for_each(|b| add(b));
        }
    }
    out
}

/// An e-mail to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewNotice {
    pub id: String,
    /// `<notice>:<order or exception>:<scope>`: one e-mail per order and event.
    pub dedupe_key: String,
    pub order_id: Option<String>,
    pub notice: String,
    pub lang: String,
    pub recipient: String,
    pub sender: String,
    pub message_id: String,
    pub subject: String,
    pub raw: String,
    /// The delivered notice's feedback token (its hash is stored).
    pub feedback_token: Option<String>,
}

/// A webhook delivery to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDelivery {
    /// The delivery id: derived from subscriber and event, so recording it again is one row.
    pub id: String,
    pub subscriber: String,
    pub event_id: String,
    pub event_type: String,
    pub body: String,
}

/// Why a notice could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    /// Reading the order failed: try again.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The event or a template is wrong: retrying gives the same answer.
    #[error("{0}")]
    Invalid(String),
}

/// What the `notify` stage needs: the settings, the templates, the subscribers.
#[derive(Debug)]
pub struct Notifier {
    cfg: NoticesConfig,
    templates: Templates,
    subscribers: Vec<SubscriberConfig>,
}

impl Notifier {
    /// From the configuration.
    pub fn new(cfg: &NoticesConfig, subscribers: &[SubscriberConfig]) -> Self {
        Self {
            templates: Templates::new(&cfg.templates_dir),
            cfg: cfg.clone(),
            subscribers: subscribers.to_vec(),
        }
    }

    /// The webhook deliveries `env` asks for.
    pub fn deliveries(&self, env: &Envelope) -> Vec<NewDelivery> {
        let wanting: Vec<&SubscriberConfig> = self
            .subscribers
            .iter()
            .filter(|s| s.wants(&env.kind))
            .collect();
        if wanting.is_empty() {
            return Vec::new();
        }
        let body = String::from_utf8(env.to_bytes()).unwrap_or_default();
        wanting
            .into_iter()
            .map(|s| NewDelivery {
                id: format!(
                    "dlv_{}",
                    uuid::Uuid::new_v5(
                        &uuid::Uuid::NAMESPACE_OID,
                        format!("{}:{}", s.name, env.id).as_bytes()
                    )
                    .simple()
                ),
                subscriber: s.name.clone(),
                event_id: env.id.to_string(),
                event_type: env.kind.clone(),
                body: body.clone(),
            })
            .collect()
    }

    /// The e-mail `env` asks for, if any: a customer notice, or a department's overdue
    /// exception. `None` when e-mail is off, the notice is not enabled, the order's platform
    /// mails its buyers, or there is no address.
    pub async fn notice(
        &self,
        store: &Store,
        env: &Envelope,
    ) -> Result<Option<NewNotice>, PrepareError> {
        if !self.cfg.mail_enabled() {
            return Ok(None);
        }
        if env.kind == crate::exceptions::EXCEPTION_OVERDUE {
            return self.department_notice(env);
        }
        let Some(notice) = notice_for(&env.kind) else {
            return Ok(None);
        };
        if !self.cfg.events.iter().any(|e| e == notice) {
            return Ok(None);
        }
        let order_id = env
            .order_id
            .clone()
            .or_else(|| env.payload["order_id"].as_str().map(str::to_string))
            .ok_or_else(|| {
                PrepareError::Invalid(format!("event {} ({}) names no order", env.id, env.kind))
            })?;
        let Some(stored) = store.order(&order_id).await? else {
            return Err(PrepareError::Invalid(format!(
                "event {} names order {order_id}, which is not stored",
                env.id
            )));
        };
        let order = &stored.order;
        if self.quiet(order) {
            skipped(notice, "quiet_connector");
            return Ok(None);
        }
        let Some(recipient) = recipient(order) else {
            skipped(notice, "no_address");
            return Ok(None);
        };
        let lang = self.language(order);
        let parcels = store.order_shipments(&order_id).await?;
        let mut ctx = self.base_context(notice, &lang, order);
        let scope = fill(&mut ctx, notice, env, &parcels)?;
        let feedback_token = (notice == "delivered").then(new_token);
        if let Some(t) = &feedback_token {
            ctx.feedback_url = Some(format!(
                "{}/feedback/{t}",
                self.cfg.base_url.trim_end_matches('/')
            ));
        }
        let thread = order
            .origin
            .as_ref()
            .filter(|_| matches!(order.source.channel, Channel::Email | Channel::Fax))
            .map(|o| mail::Thread {
                in_reply_to: o.message_id.clone(),
                references: o.references.clone(),
                subject: o.subject.clone(),
            })
            .unwrap_or_default();
        let mut n = self
            .compose(&ctx, &recipient, &thread)
            .map_err(|e| PrepareError::Invalid(format!("order {order_id}: {e}")))?;
        n.dedupe_key = format!("{notice}:{order_id}:{scope}");
        n.order_id = Some(order_id);
        n.feedback_token = feedback_token;
        Ok(Some(n))
    }

    /// Renders `ctx` (its notice, in its language) and builds the message to `to`: a notice
    /// with a fresh id and Message-ID; the caller sets its key, order and token.
    fn compose(
        &self,
        ctx: &NoticeContext,
        to: &str,
        thread: &mail::Thread,
    ) -> Result<NewNotice, String> {
        let rendered = self.templates.render(&ctx.notice, &ctx.lang, ctx)?;
        let message_id = mail::new_message_id(&self.cfg.from);
        let built = mail::build(&self.cfg, to, &message_id, &rendered, thread)?;
        Ok(NewNotice {
            id: format!("ntc_{}", uuid::Uuid::now_v7().simple()),
            dedupe_key: String::new(),
            order_id: None,
            notice: ctx.notice.clone(),
            lang: ctx.lang.clone(),
            recipient: built.recipient,
            sender: built.sender,
            message_id,
            subject: built.subject,
            raw: built.raw,
            feedback_token: None,
        })
    }

    fn department_notice(&self, env: &Envelope) -> Result<Option<NewNotice>, PrepareError> {
        #[derive(Deserialize)]
        struct Overdue {
            exception_id: String,
            kind: String,
            department: String,
            #[serde(default)]
            owner: Option<String>,
            #[serde(default)]
            order_id: Option<String>,
            #[serde(default)]
            due_at: Option<chrono::DateTime<chrono::Utc>>,
            #[serde(default)]
            severity: Option<String>,
            #[serde(default)]
            reason: Option<String>,
        }
        let o: Overdue = serde_json::from_value(env.payload.clone()).map_err(|e| {
            PrepareError::Invalid(format!("event {} is not an overdue exception: {e}", env.id))
        })?;
        let Some(address) = self.cfg.departments.get(&o.department) else {
            return Ok(None);
        };
        let lang = self.cfg.default_language().to_string();
        let ctx = NoticeContext {
            notice: DEPARTMENT_NOTICE.into(),
            lang: lang.clone(),
            status_url: self.status_url(),
            reply_to: self.reply_to(),
            exception: Some(ExceptionView {
                id: o.exception_id.clone(),
                kind: o.kind,
                department: o.department,
                severity: o.severity.unwrap_or_default(),
                owner: o.owner,
                order_id: o.order_id.clone(),
                due_at: o.due_at.map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string()),
                reason: o.reason.unwrap_or_default(),
            }),
            ..NoticeContext::default()
        };
        let mut n = self
            .compose(&ctx, address, &mail::Thread::default())
            .map_err(|e| PrepareError::Invalid(format!("department e-mail: {e}")))?;
        // The event's id is one per exception and deadline.
        n.dedupe_key = format!("{DEPARTMENT_NOTICE}:{}:{}", o.exception_id, env.id);
        n.order_id = o.order_id;
        Ok(Some(n))
    }

    /// Whether the order's platform mails its buyers itself (by connector name or format).
    fn quiet(&self, order: &CanonicalOrder) -> bool {
        self.cfg
            .quiet
            .iter()
            .any(|q| *q == order.source.connector || *q == order.source.format)
    }

    /// The order's language: by ship-to (else bill-to) country, else the default.
    pub fn language(&self, order: &CanonicalOrder) -> String {
        language(&self.cfg, order)
    }

    fn status_url(&self) -> String {
        format!("{}/status", self.cfg.base_url.trim_end_matches('/'))
    }

    fn reply_to(&self) -> String {
        let from = self.cfg.reply_to.as_deref().unwrap_or(&self.cfg.from);
        from.parse::<lettre::message::Mailbox>()
            .map(|m| m.email.to_string())
            .unwrap_or_else(|_| from.to_string())
    }

    fn base_context(&self, notice: &str, lang: &str, order: &CanonicalOrder) -> NoticeContext {
        NoticeContext {
            notice: notice.into(),
            lang: lang.into(),
            order_number: order_number(order),
            customer_name: order
                .customer
                .name
                .clone()
                .or_else(|| order.ship_to.as_ref().and_then(|a| a.name.clone())),
            status_url: self.status_url(),
            reply_to: self.reply_to(),
            ..NoticeContext::default()
        }
    }
}

/// The order's language under `cfg`.
pub fn language(cfg: &NoticesConfig, order: &CanonicalOrder) -> String {
    let country = order
        .ship_to
        .as_ref()
        .and_then(|a| a.country.clone())
        .or_else(|| order.bill_to.as_ref().and_then(|a| a.country.clone()))
        .map(|c| c.trim().to_ascii_uppercase());
    if let Some(c) = country {
        for (lang, countries) in &cfg.countries {
            if countries.iter().any(|k| k.eq_ignore_ascii_case(&c)) {
                return lang.clone();
            }
        }
    }
    cfg.default_language().to_string()
}

/// The number the customer knows: the source's order number, else its id.
pub fn order_number(order: &CanonicalOrder) -> String {
    order
        .source
        .external_number
        .clone()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| order.source.external_id.clone())
}

/// Where the customer's e-mail goes: an e-mail order's reply address, else the customer's.
fn recipient(order: &CanonicalOrder) -> Option<String> {
    let from_origin = order
        .origin
        .as_ref()
        .filter(|_| matches!(order.source.channel, Channel::Email | Channel::Fax))
        .and_then(|o| o.reply_to.clone());
    from_origin
        .or_else(|| order.customer.email.clone())
        .map(|a| a.trim().to_string())
        .filter(|a| a.contains('@'))
}

fn skipped(notice: &str, why: &'static str) {
    metrics::counter!(metric::NOTICES, "notice" => notice.to_string(), "outcome" => "skipped", "why" => why)
        .increment(1);
}

/// A feedback token: 128 random bits, hex.
fn new_token() -> String {
    use rand::Rng;
    let bytes: [u8; 16] = rand::rng().random();
    hex::encode(bytes)
}

/// The SHA-256 of a feedback token, as stored.
pub fn token_hash(token: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}

/// A date as notices show it.
fn day(ms: Option<i64>) -> Option<String> {
    ms.map(|t| crate::store::ms_to_time(t).format("%Y-%m-%d").to_string())
}

/// A parcel as customers see it.
pub fn parcel_view(s: &Shipment) -> ParcelView {
    ParcelView {
        carrier: s.carrier.clone(),
        carrier_name: s
            .carrier_name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| s.carrier.clone()),
        tracking_number: s.tracking_number.clone(),
        tracking_url: crate::tracking::carrier::tracking_url(&s.carrier, &s.tracking_number),
        eta: day(s.eta),
        status: s.status.clone(),
        location: s.location.clone(),
        delivered: day(s.delivered_at),
    }
}

/// Fills the event's facts into `ctx`; returns the dedupe scope within the order.
fn fill(
    ctx: &mut NoticeContext,
    notice: &str,
    env: &Envelope,
    parcels: &[Shipment],
) -> Result<String, PrepareError> {
    let bad = |e: serde_json::Error| {
        PrepareError::Invalid(format!(
            "event {} ({}) has a bad payload: {e}",
            env.id, env.kind
        ))
    };
    match notice {
        "needs_info" | "rejected" => {
            let r: ReviewOutcome = serde_json::from_value(env.payload.clone()).map_err(bad)?;
            ctx.missing = r
                .findings
                .iter()
                .map(|f| MissingFact {
                    path: f.path.clone(),
                    code: f.code.clone(),
                    message: f.message.clone(),
                })
                .collect();
            if let Some(first) = r.findings.first() {
                ctx.reason_code = Some(first.code.clone());
                ctx.reason = Some(first.message.clone());
            }
            // Asked again after a reply: a new request, keyed by the event.
            Ok(env.id.to_string())
        }
        "shipped" | "delivered" => {
            ctx.parcels = parcels.iter().map(parcel_view).collect();
            Ok(String::new())
        }
        "delayed" => {
            let r: ShipmentRef = serde_json::from_value(env.payload.clone()).map_err(bad)?;
            ctx.parcels = parcels
                .iter()
                .filter(|p| p.id == r.shipment_id)
                .map(parcel_view)
                .collect();
            let finding = r.detail["finding"].as_str().map(str::to_string);
            ctx.delay = finding.clone();
            Ok(format!(
                "{}:{}",
                r.shipment_id,
                finding.unwrap_or_else(|| "late".into())
            ))
        }
        "changed" | "cancelled" => {
            let c: OrderChange = serde_json::from_value(env.payload.clone()).map_err(bad)?;
            ctx.fields = c.fields.keys().cloned().collect();
            ctx.reason = c.reason.clone();
            ctx.return_requested = c.return_requested;
            Ok(c.change_id)
        }
        _ => Ok(match &env.payload {
            Value::Null => String::new(),
            _ => env.id.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_map_to_their_notices() {
        assert_eq!(notice_for("order.shipped"), Some("shipped"));
        assert_eq!(notice_for("shipment.delayed"), Some("delayed"));
        assert_eq!(notice_for("order.approved"), None);
    }

    #[test]
    fn the_stage_is_bound_to_what_notices_and_subscribers_act_on() {
        let stage = crate::stage::notify::BINDINGS;
        let subscriber = |events: &[&str], enabled: bool| -> SubscriberConfig {
            let toml = format!(
                "name = \"s\"\nurl = \"http://127.0.0.1:1/h\"\nevents = {events:?}\n\
                 secret = \"env:NONE\"\nenabled = {enabled}\n"
            );
            toml::from_str(&toml).expect("subscriber")
        };
        let off = NoticesConfig::default();
        // Nothing configured: the stage takes nothing.
        assert!(events_wanted(&off, &[], stage).is_empty());
        let mut mail = NoticesConfig {
            smtp_host: "127.0.0.1".into(),
            events: vec!["shipped".into(), "delivered".into()],
            ..NoticesConfig::default()
        };
        assert_eq!(
            events_wanted(&mail, &[], stage),
            ["order.shipped", "order.delivered"]
        );
        mail.departments
            .insert("ops".into(), "ops@example.com".into());
        assert!(events_wanted(&mail, &[], stage).contains(&"exception.overdue".to_string()));
        // Exact kinds as given, a wildcard within its first word, a leading wildcard as the
        // whole stage, kinds the stage never took left out, a disabled subscriber nothing.
        let subs = [
            subscriber(
                &["order.allocated", "shipment.*", "tracking.aftership"],
                true,
            ),
            subscriber(&["exception.#"], true),
            subscriber(&["order.approved"], false),
        ];
        assert_eq!(
            events_wanted(&off, &subs, stage),
            ["order.allocated", "shipment.*", "exception.*"]
        );
        assert_eq!(
            events_wanted(&off, &[subscriber(&["#"], true)], stage),
            stage
        );
    }

    #[test]
    fn message_ids_use_the_senders_domain() {
        let id = mail::new_message_id("Shop <shop@example.com>");
        assert!(
            id.starts_with("<ntc.") && id.ends_with("@example.com>"),
            "{id}"
        );
    }
}
