//! Sends what the `notify` stage recorded: due e-mails over SMTP and due webhook deliveries,
//! each step recorded (see the module above), retried with exponential backoff, parked with an
//! exception after the limit.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::mail::{Outcome, Smtp};
use super::{metric, store as rows};
use crate::config::{NoticesConfig, SubscriberConfig};
use crate::store::{now_ms, NewException, Severity, Store, StoreError};

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
}

impl Sender {
    /// The sender for the configuration; the error names the setting that cannot be used
    /// (SMTP password, CA file, a subscriber's secret).
    pub fn new(
        store: Store,
        cfg: &NoticesConfig,
        subscribers: &[SubscriberConfig],
        department: &str,
        exception_due_hours: u32,
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
            department: department.to_string(),
            exception_due_hours,
        })
    }

    /// Whether there is anything to send at all.
    pub fn active(&self) -> bool {
        self.smtp.is_some() || !self.subscribers.is_empty()
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
        let every = Duration::from_millis(self.cfg.poll_interval_ms);
        let mail = {
            let me = self.clone();
            let shutdown = shutdown.clone();
            async move {
                loop {
                    if let Err(error) = me.send_due_mail().await {
                        tracing::warn!(error = %error, "Sending notices failed; trying again.");
                    }
                    tokio::select! {
                        _ = super::wait_for_work(every) => {}
                        _ = shutdown.cancelled() => return,
                    }
                }
            }
        };
        let hooks = async move {
            loop {
                if let Err(error) = self.deliver_due().await {
                    tracing::warn!(error = %error, "Webhook deliveries failed; trying again.");
                }
                tokio::select! {
                    _ = super::wait_for_work(every) => {}
                    _ = shutdown.cancelled() => return,
                }
            }
        };
        tokio::join!(mail, hooks);
    }

    /// Sends the e-mails due now; returns how many were sent.
    pub async fn send_due_mail(&self) -> Result<usize, StoreError> {
        let Some(smtp) = &self.smtp else {
            return Ok(0);
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
        let mut sent = 0;
        for n in rows::due_notices(&self.store, 50).await? {
            if !rows::claim_notice(&self.store, &n.id).await? {
                continue;
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
            match outcome {
                Outcome::Sent(reply) => {
                    let mut tx = self.store.begin().await?;
                    rows::finish_notice(&mut tx, &n.id, "sent", None, &reply, None).await?;
                    if let Some(order_id) = &n.order_id {
                        let data =
                            serde_json::json!({"notice": n.notice, "message_id": n.message_id});
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
                    sent += 1;
                }
                Outcome::NotSent(why) if attempts < i64::from(self.cfg.max_attempts) => {
                    let next = now_ms() + self.backoff(attempts - 1);
                    let mut conn = self.store.pool().acquire().await?;
                    rows::finish_notice(&mut conn, &n.id, "pending", Some(next), &why, None)
                        .await?;
                    metrics::counter!(metric::NOTICES, "notice" => n.notice.clone(), "outcome" => "retried")
                        .increment(1);
                    tracing::warn!(notice_id = %n.id, attempt = attempts, error = %why, "Notice not sent; retrying later.");
                }
                Outcome::NotSent(why) | Outcome::Refused(why) => {
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
        }
        if let Ok(p) = rows::notices_pending(&self.store).await {
            metrics::gauge!(metric::NOTICES_PENDING).set(p as f64);
        }
        Ok(sent)
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

    /// Delivers the webhook deliveries due now, a few at a time; returns how many succeeded.
    pub async fn deliver_due(&self) -> Result<usize, StoreError> {
        if self.subscribers.is_empty() {
            return Ok(0);
        }
        let due = rows::due_deliveries(&self.store, 64).await?;
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
        Ok(ok)
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
        let (status, error) = match sent {
            Ok(resp) if resp.status().is_success() => (Some(resp.status().as_u16()), None),
            Ok(resp) => (
                Some(resp.status().as_u16()),
                Some(format!("HTTP {}", resp.status().as_u16())),
            ),
            Err(e) => (
                None,
                Some(if e.is_timeout() {
                    "timeout".to_string()
                } else if e.is_connect() {
                    "connection refused or unreachable".to_string()
                } else {
                    "request failed".to_string()
                }),
            ),
        };
        let http = status.map(i64::from);
        let name = d.subscriber.clone();
        let Some(error) = error else {
            let mut conn = self.store.pool().acquire().await?;
            rows::finish_delivery(&mut conn, &d.id, "delivered", None, http, None, None).await?;
            metrics::counter!(metric::DELIVERIES, "subscriber" => name, "outcome" => "delivered")
                .increment(1);
            return Ok(true);
        };
        if attempts < i64::from(sub.max_attempts) {
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
    tasks: &mut tokio::task::JoinSet<()>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let sender = Sender::new(
        store.clone(),
        &cfg.notices,
        &cfg.subscribers,
        &cfg.pipeline.default_department,
        cfg.pipeline.exception_due_hours,
    )
    .map_err(anyhow::Error::msg)?;
    if sender.active() {
        tasks.spawn(sender.run(shutdown));
    }
    Ok(())
}
