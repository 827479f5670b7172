//! Sends what the `notify` stage recorded: due e-mails over SMTP and due webhook deliveries,
//! each step recorded (see the module above), retried with exponential backoff, parked with an
//! exception after the limit. Whether a failed send is tried again is the stages' rule
//! ([`crate::stage::should_retry`]): the relay or a subscriber down, slow or throttling is
//! retried past `max_attempts` until the e-mail or delivery is `pipeline.outage_retry_secs`
//! old; anything else counts its attempts.
//!
//! Each attempt feeds the connector health ([`HealthTracker`]) of its partner: the SMTP relay
//! as [`SMTP_HEALTH`], each subscriber by its name. A relay that cannot be reached, greets
//! late or speaks no SMTP, a subscriber that is down, answers after the timeout or answers
//! something that is not HTTP: a failure (degraded, then down); the next send that goes
//! through: up. A recipient the relay refuses for good says nothing about the relay's health.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use super::mail::{Outcome, Smtp};
use super::{metric, store as rows};
use crate::config::{NoticesConfig, PipelineConfig, SubscriberConfig};
use crate::health::HealthTracker;
use crate::stage::{should_retry, ErrorClass};
use crate::store::{now_ms, NewException, Severity, Store, StoreError};

/// The SMTP relay's name in connector health (`GET /readyz`, the connectors page).
pub const SMTP_HEALTH: &str = crate::config::HEALTH_SMTP;
/// SMTP sessions the sender runs at once.
const MAIL_SESSIONS: usize = 8;
/// Most e-mails one round of the sender takes.
const MAIL_BATCH: i64 = 50;
/// Most webhook deliveries one round takes.
const DELIVERY_BATCH: i64 = 64;

/// Runs `round` until `shutdown`: at once again after a full batch (more are due; waiting for a
/// wake-up would cap the sender at one batch per `every` once nothing new wakes it), else after
/// a wake-up or `every`.
async fn rounds<F, Fut>(every: Duration, shutdown: CancellationToken, failed: &str, round: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<bool, StoreError>>,
{
    loop {
        let full = match round().await {
            Ok(full) => full,
            Err(error) => {
                tracing::warn!(error = %error, "{failed}");
                false
            }
        };
        if full && !shutdown.is_cancelled() {
            continue;
        }
        tokio::select! {
            _ = super::wait_for_work(every) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

/// What the sender needs.
#[derive(Clone)]
pub struct Sender {
    store: Store,
    cfg: NoticesConfig,
    smtp: Option<Smtp>,
    subscribers: Arc<HashMap<String, (SubscriberConfig, Vec<u8>)>>,
    client: reqwest::Client,
    /// Who owns the exceptions of parked sends.
    department: String,
    exception_due_hours: u32,
    /// How long a send failing through a partner outage is tried again past its attempts
    /// (`pipeline.outage_retry_secs`).
    outage_retry_secs: u64,
    /// Every attempt's outcome moves its partner's health.
    health: Arc<HealthTracker>,
}

impl Sender {
    /// The sender for the configuration (`pipeline` gives the owner of its exceptions and the
    /// outage window); the error names the setting that cannot be used (SMTP password, CA
    /// file, a subscriber's secret).
    pub fn new(
        store: Store,
        cfg: &NoticesConfig,
        subscribers: &[SubscriberConfig],
        pipeline: &PipelineConfig,
        health: Arc<HealthTracker>,
    ) -> Result<Self, String> {
        let smtp = if cfg.mail_enabled() {
            Some(Smtp::new(cfg)?)
        } else {
            None
        };
        let mut subs = HashMap::new();
        for s in subscribers.iter().filter(|s| s.enabled) {
            let key = s
                .secret
                .resolve()
                .map_err(|e| format!("subscriber {} secret: {e}", s.name))?;
            subs.insert(s.name.clone(), (s.clone(), key.into_bytes()));
        }
        Ok(Self {
            store,
            cfg: cfg.clone(),
            smtp,
            subscribers: Arc::new(subs),
            client: reqwest::Client::new(),
            department: pipeline.default_department.clone(),
            exception_due_hours: pipeline.exception_due_hours,
            outage_retry_secs: pipeline.outage_retry_secs,
            health,
        })
    }

    /// Shows the partners in connector health from the start (their remembered state).
    async fn register_health(&self) {
        if self.smtp.is_some() {
            self.health.register(SMTP_HEALTH).await;
        }
        for name in self.subscribers.keys() {
            self.health.register(name).await;
        }
    }

    /// Whether there is anything to send at all.
    pub fn active(&self) -> bool {
        self.smtp.is_some() || !self.subscribers.is_empty()
    }

    /// Whether a send that failed `tries` times so far (this one counted), first recorded at
    /// `created_at`, is tried again, by the stages' rule.
    fn retries(&self, class: ErrorClass, tries: i64, max_attempts: u32, created_at: i64) -> bool {
        let age = Duration::from_millis(u64::try_from(now_ms() - created_at).unwrap_or(0));
        let tries = u64::try_from(tries).unwrap_or(0);
        should_retry(class, tries, max_attempts, age, self.outage_retry_secs)
    }

    /// The delay before attempt `attempts + 1`.
    fn backoff(&self, attempts: i64) -> i64 {
        let base = self.cfg.retry_base_ms.max(1);
        let factor = 1u64 << attempts.clamp(0, 30);
        base.saturating_mul(factor)
            .min(self.cfg.retry_max_ms.max(base)) as i64
    }

    /// Runs until `shutdown`: e-mails and webhook deliveries in two loops.
    pub async fn run(self, shutdown: CancellationToken) {
        if !self.active() {
            return;
        }
        self.register_health().await;
        let every = Duration::from_millis(self.cfg.poll_interval_ms);
        let mail = {
            let me = self.clone();
            rounds(
                every,
                shutdown.clone(),
                "Sending notices failed; trying again.",
                move || {
                    let me = me.clone();
                    async move { me.send_due_mail().await.map(|(_, full)| full) }
                },
            )
        };
        let hooks = rounds(
            every,
            shutdown,
            "Webhook deliveries failed; trying again.",
            move || {
                let me = self.clone();
                async move { me.deliver_due().await.map(|(_, full)| full) }
            },
        );
        tokio::join!(mail, hooks);
    }

    /// Sends the e-mails due now (up to [`MAIL_BATCH`]); returns how many were sent and
    /// whether the batch was full (more may be due).
    pub async fn send_due_mail(&self) -> Result<(usize, bool), StoreError> {
        let Some(smtp) = &self.smtp else {
            return Ok((0, false));
        };
        // Longer than any one send can take (every step has the timeout).
        let lease = (self.cfg.timeout_ms as i64).saturating_mul(8).max(60_000);
        for n in rows::stale_notices(&self.store, lease).await? {
            let why = format!(
                "the sender stopped while the data of e-mail {} ({} for order {}) was under way; \
                 it is not sent again by itself: look for Message-ID {} in the SMTP relay's log, \
                 then resolve this exception",
                n.id,
                n.notice,
                n.order_id.as_deref().unwrap_or("-"),
                n.message_id
            );
            self.settle_failed(&n, "unknown", &why).await?;
        }
        // E-mails are independent (each is claimed before it is sent): up to MAIL_SESSIONS
        // SMTP sessions at once, so one slow session does not hold up the rest.
        let due = rows::due_notices(&self.store, MAIL_BATCH).await?;
        let full = due.len() as i64 >= MAIL_BATCH;
        let outcomes: Vec<Result<bool, StoreError>> = futures_util::stream::iter(due)
            .map(|n| self.send_one(smtp, n))
            .buffer_unordered(MAIL_SESSIONS)
            .collect()
            .await;
        let mut sent = 0;
        for outcome in outcomes {
            if outcome? {
                sent += 1;
            }
        }
        if let Ok(p) = rows::notices_pending(&self.store).await {
            metrics::gauge!(metric::NOTICES_PENDING).set(p as f64);
        }
        Ok((sent, full))
    }

    /// Claims and sends one due e-mail and records the outcome; true when it was sent.
    async fn send_one(&self, smtp: &Smtp, n: rows::DueNotice) -> Result<bool, StoreError> {
        if !rows::claim_notice(&self.store, &n.id).await? {
            return Ok(false);
        }
        let store = self.store.clone();
        let id = n.id.clone();
        let outcome = smtp
            .send(
                &n.sender,
                &n.recipient,
                n.raw.as_bytes(),
                move || async move {
                    match rows::notice_data(&store, &id).await {
                        Ok(true) => Ok(()),
                        Ok(false) => Err("the e-mail was taken by another sender".to_string()),
                        Err(e) => Err(e.to_string()),
                    }
                },
            )
            .await;
        let attempts = n.attempts + 1;
        let class = mail_class(&outcome);
        match &outcome {
            Outcome::Sent(_) => self.health.success(SMTP_HEALTH).await,
            Outcome::Unavailable(why) | Outcome::NotSent(why) | Outcome::Unknown(why) => {
                // The step only: the relay's reply may quote the recipient's address.
                let step = why.split(": ").next().unwrap_or_default();
                let why = format!("SMTP relay: e-mail not sent ({step})");
                self.health.failure(SMTP_HEALTH, &why).await
            }
            // A refusal of this message (a recipient, a size): no news of the relay.
            Outcome::Refused(_) => {}
        }
        match outcome {
            Outcome::Sent(reply) => {
                let mut tx = self.store.begin().await?;
                rows::finish_notice(&mut tx, &n.id, "sent", None, &reply, None).await?;
                if let Some(order_id) = &n.order_id {
                    let data = serde_json::json!({"notice": n.notice, "message_id": n.message_id});
                    Store::append_event(
                        &mut tx,
                        order_id,
                        super::NOTICE_SENT_EVENT,
                        None,
                        "notices:smtp",
                        Some(&data),
                    )
                    .await?;
                }
                tx.commit().await?;
                metrics::counter!(metric::NOTICES, "notice" => n.notice.clone(), "outcome" => "sent")
                    .increment(1);
                tracing::info!(notice_id = %n.id, notice = %n.notice, "Notice sent.");
                return Ok(true);
            }
            Outcome::Unavailable(why) | Outcome::NotSent(why)
                if self.retries(class, attempts, self.cfg.max_attempts, n.created_at) =>
            {
                let next = now_ms() + self.backoff(attempts - 1);
                let mut conn = self.store.pool().acquire().await?;
                rows::finish_notice(&mut conn, &n.id, "pending", Some(next), &why, None).await?;
                metrics::counter!(metric::NOTICES, "notice" => n.notice.clone(), "outcome" => "retried")
                    .increment(1);
                tracing::warn!(notice_id = %n.id, attempt = attempts, error = %why, "Notice not sent; retrying later.");
            }
            Outcome::Unavailable(why) | Outcome::NotSent(why) | Outcome::Refused(why) => {
                let why = format!(
                    "e-mail {} ({} for order {}) not sent after {attempts} attempt(s): {why}",
                    n.id,
                    n.notice,
                    n.order_id.as_deref().unwrap_or("-")
                );
                self.settle_failed(&n, "parked", &why).await?;
            }
            Outcome::Unknown(why) => {
                let why = format!(
                    "e-mail {} ({} for order {}): {why}; it is not sent again by itself: look \
                     for Message-ID {} in the SMTP relay's log, then resolve this exception",
                    n.id,
                    n.notice,
                    n.order_id.as_deref().unwrap_or("-"),
                    n.message_id
                );
                self.settle_failed(&n, "unknown", &why).await?;
            }
        }
        Ok(false)
    }

    /// Parks an e-mail (or marks its outcome unknown) with an exception, in one transaction.
    async fn settle_failed(
        &self,
        n: &rows::DueNotice,
        status: &'static str,
        why: &str,
    ) -> Result<(), StoreError> {
        let kind = if status == "unknown" {
            "notice_unconfirmed"
        } else {
            "notice_failed"
        };
        let mut tx = self.store.begin().await?;
        let exception_id = Store::insert_exception(
            &mut tx,
            &NewException {
                kind,
                severity: Severity::Error,
                order_id: n.order_id.as_deref(),
                raw_id: None,
                message_id: None,
                stage: Some(crate::stage::notify::NAME),
                connector: None,
                department: &self.department,
                due_at: Some(now_ms() + i64::from(self.exception_due_hours) * 3_600_000),
                reason: why,
            },
        )
        .await?;
        rows::finish_notice(&mut tx, &n.id, status, None, why, Some(&exception_id)).await?;
        tx.commit().await?;
        metrics::counter!(metric::NOTICES, "notice" => n.notice.clone(), "outcome" => status)
            .increment(1);
        tracing::error!(notice_id = %n.id, exception_id = %exception_id, status, "Notice not delivered; exception raised.");
        Ok(())
    }

    /// Delivers the webhook deliveries due now (up to [`DELIVERY_BATCH`]), a few at a time;
    /// returns how many succeeded and whether the batch was full (more may be due).
    pub async fn deliver_due(&self) -> Result<(usize, bool), StoreError> {
        if self.subscribers.is_empty() {
            return Ok((0, false));
        }
        let due = rows::due_deliveries(&self.store, DELIVERY_BATCH).await?;
        let full = due.len() as i64 >= DELIVERY_BATCH;
        let mut ok = 0;
        for chunk in due.chunks(8) {
            let results =
                futures_util::future::join_all(chunk.iter().map(|d| self.deliver(d))).await;
            for r in results {
                if r? {
                    ok += 1;
                }
            }
        }
        for name in self.subscribers.keys() {
            if let Ok(s) = rows::subscriber_stats(&self.store, name).await {
                metrics::gauge!(metric::DELIVERIES_PENDING, "subscriber" => name.clone())
                    .set(s.pending as f64);
            }
        }
        Ok((ok, full))
    }

    /// One delivery attempt; true if delivered.
    async fn deliver(&self, d: &rows::DueDelivery) -> Result<bool, StoreError> {
        let Some((sub, key)) = self.subscribers.get(&d.subscriber) else {
            // Removed from the configuration: left pending until it comes back.
            return Ok(false);
        };
        if !rows::claim_delivery(&self.store, &d.id).await? {
            return Ok(false);
        }
        let attempts = d.attempts + 1;
        let t = chrono::Utc::now().timestamp();
        let signature = crate::partner::signature::sign_ordergate(key, t, d.body.as_bytes());
        let sent = self
            .client
            .post(&sub.url)
            .timeout(Duration::from_millis(sub.timeout_ms))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signature)
            .header(DELIVERY_HEADER, &d.id)
            .header(EVENT_HEADER, &d.event_type)
            .body(d.body.clone())
            .send()
            .await;
        // A subscriber down, slow, throttling or answering something that is not HTTP is
        // unavailable; any other refusal (4xx but 408 and 429) counts toward max_attempts.
        let (status, error) = match sent {
            Ok(resp) if resp.status().is_success() => (Some(resp.status().as_u16()), None),
            Ok(resp) => {
                let code = resp.status().as_u16();
                let class = if crate::partner::error::retriable_status(code) {
                    ErrorClass::Unavailable
                } else {
                    ErrorClass::Transient
                };
                (Some(code), Some((format!("HTTP {code}"), class)))
            }
            Err(e) => (
                None,
                Some((
                    if e.is_timeout() {
                        "timeout".to_string()
                    } else if e.is_connect() {
                        "connection refused or unreachable".to_string()
                    } else {
                        "request failed".to_string()
                    },
                    ErrorClass::Unavailable,
                )),
            ),
        };
        let http = status.map(i64::from);
        let name = d.subscriber.clone();
        match &error {
            None => self.health.success(&name).await,
            Some((e, _)) => {
                let why = format!("subscriber {name}: {e}");
                self.health.failure(&name, &why).await
            }
        }
        let Some((error, class)) = error else {
            let mut conn = self.store.pool().acquire().await?;
            rows::finish_delivery(&mut conn, &d.id, "delivered", None, http, None, None).await?;
            metrics::counter!(metric::DELIVERIES, "subscriber" => name, "outcome" => "delivered")
                .increment(1);
            return Ok(true);
        };
        if self.retries(class, attempts, sub.max_attempts, d.created_at) {
            let next = now_ms() + self.backoff(attempts - 1);
            let mut conn = self.store.pool().acquire().await?;
            rows::finish_delivery(
                &mut conn,
                &d.id,
                "pending",
                Some(next),
                http,
                Some(&error),
                None,
            )
            .await?;
            metrics::counter!(metric::DELIVERIES, "subscriber" => name, "outcome" => "retried")
                .increment(1);
            tracing::warn!(subscriber = %d.subscriber, delivery_id = %d.id, attempt = attempts, error = %error, "Webhook delivery failed; retrying later.");
            return Ok(false);
        }
        let why = format!(
            "webhook delivery {} ({}) to subscriber {} failed {attempts} time(s), last: {error}",
            d.id, d.event_type, d.subscriber
        );
        let mut tx = self.store.begin().await?;
        let exception_id = Store::insert_exception(
            &mut tx,
            &NewException {
                kind: "subscriber_failed",
                severity: Severity::Error,
                order_id: None,
                raw_id: None,
                message_id: None,
                stage: Some(crate::stage::notify::NAME),
                connector: Some(&d.subscriber),
                department: &self.department,
                due_at: Some(now_ms() + i64::from(self.exception_due_hours) * 3_600_000),
                reason: &why,
            },
        )
        .await?;
        rows::finish_delivery(
            &mut tx,
            &d.id,
            "parked",
            None,
            http,
            Some(&error),
            Some(&exception_id),
        )
        .await?;
        tx.commit().await?;
        metrics::counter!(metric::DELIVERIES, "subscriber" => name, "outcome" => "parked")
            .increment(1);
        tracing::error!(subscriber = %d.subscriber, delivery_id = %d.id, exception_id = %exception_id, "Webhook delivery parked.");
        Ok(false)
    }
}

/// How an e-mail that was not sent is retried: the relay down, slow or throttling
/// ([`Outcome::Unavailable`]) through the outage window, a failure on our side up to
/// `max_attempts`, a refusal never.
fn mail_class(outcome: &Outcome) -> ErrorClass {
    match outcome {
        Outcome::Unavailable(_) => ErrorClass::Unavailable,
        Outcome::NotSent(_) => ErrorClass::Transient,
        Outcome::Sent(_) | Outcome::Refused(_) | Outcome::Unknown(_) => ErrorClass::Permanent,
    }
}

/// The signature header of webhook deliveries (`t=<unix seconds>,v1=<hex>`).
pub const SIGNATURE_HEADER: &str = "X-Ordergate-Signature";
/// Our delivery id: the same on every retry of a delivery.
pub const DELIVERY_HEADER: &str = "X-Ordergate-Delivery";
/// The event type.
pub const EVENT_HEADER: &str = "X-Ordergate-Event";

/// Starts the sender for `cfg` in `tasks` when e-mail or subscribers are configured.
pub fn spawn(
    cfg: &crate::config::Config,
    store: &Store,
    health: &Arc<HealthTracker>,
    tasks: &mut tokio::task::JoinSet<()>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let sender = Sender::new(
        store.clone(),
        &cfg.notices,
        &cfg.subscribers,
        &cfg.pipeline,
        health.clone(),
    )
    .map_err(anyhow::Error::msg)?;
    if sender.active() {
        tasks.spawn(sender.run(shutdown));
    }
    Ok(())
}
