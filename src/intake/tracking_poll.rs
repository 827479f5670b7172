//! Polling for carriers without push: a tracking connector with `poll` queries each open parcel
//! on a schedule (Kuaidi100's real-time query `POST /poll/query.do`, form `customer`, `param`,
//! `sign` = upper-case MD5 of `param + key + customer`) and stores every answer like a callback
//! (`tracking.<connector>`, read by the same track stage and mapping). The same answer twice
//! is the same bytes, so the same document: an unchanged parcel makes no new update.
//!
//! The parcels come from `tracking_subscriptions` (the subscribe stage puts every new parcel of
//! the connector's carriers on the schedule, status `polling`). A query is claimed on its row
//! before it is sent, so two daemons never query one parcel at once; a parcel is not queried
//! again before `interval_ms` (Kuaidi100 locks numbers queried more often than every half
//! hour). The query goes through the partner client, like marketplace pulls: 429 with
//! `Retry-After` honoured, 5xx and lost answers retried with backoff, and each query's outcome
//! counted in the connector's health (degraded, down, up again). A parcel is polled until it is
//! delivered: Kuaidi100 marks the answer signed for (`ischeck` = 1), or the parcel is delivered
//! by any other news; then its row is `done`.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::bus::Bus;
use crate::config::{ConfigError, TrackingConfig, TrackingPoll};
use crate::health::HealthTracker;
use crate::model::DocumentKind;
use crate::partner::auth::{Authenticator, Values};
use crate::partner::client::{ApiClient, Call, RetryPolicy};
use crate::partner::definition::{AuthScheme, ErrorSpec, RateLimitPolicy};
use crate::partner::PartnerError;
use crate::store::{now_ms, DuePoll, Store};
use crate::tracking::{carrier, sign, Scheme};

/// What one round of queries did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PollRound {
    /// Queries answered.
    pub answered: usize,
    /// New documents stored (answers that changed).
    pub stored: usize,
    /// Parcels no longer polled (delivered).
    pub finished: usize,
    /// Queries that failed (tried again at the next interval).
    pub failed: usize,
}

/// A polling tracking connector.
pub struct TrackingPoller {
    name: String,
    scheme: Scheme,
    cfg: TrackingPoll,
    customer: String,
    key: String,
    store: Store,
    bus: Arc<dyn Bus>,
    health: Arc<HealthTracker>,
    client: ApiClient,
}

/// The answer to one query.
enum Answer {
    /// The carrier's record, as received.
    Record(Vec<u8>, Value),
    /// Nothing known about the number yet (Kuaidi100 `returnCode` 500, 查询无结果).
    Nothing,
}

impl TrackingPoller {
    /// The poller of a tracking connector with `poll`; `None` for a push-only connector.
    pub fn new(
        cfg: &TrackingConfig,
        store: Store,
        bus: Arc<dyn Bus>,
        health: Arc<HealthTracker>,
    ) -> Result<Option<Self>, ConfigError> {
        let Some(poll) = cfg.poll.clone().filter(|_| cfg.enabled) else {
            return Ok(None);
        };
        let scheme = Scheme::parse(&cfg.scheme)
            .filter(|s| *s == Scheme::Kuaidi100)
            .ok_or_else(|| {
                ConfigError::Invalid(format!(
                    "connector {}: poll is supported for scheme kuaidi100 only",
                    cfg.name
                ))
            })?;
        let client = ApiClient::new(
            &cfg.name,
            Authenticator::new(&cfg.name, &AuthScheme::None, &Values::default(), None)
                .map_err(|e| ConfigError::Invalid(format!("connector {}: {e}", cfg.name)))?,
            ErrorSpec::default(),
            RateLimitPolicy {
                min_interval_ms: poll.min_interval_ms,
                max_wait_ms: Some(poll.retry_max_ms),
                ..RateLimitPolicy::default()
            },
            RetryPolicy {
                max_retries: poll.max_retries,
                base: Duration::from_millis(200),
                max: Duration::from_millis(poll.retry_max_ms.max(1)),
            },
            Duration::from_millis(poll.timeout_ms.max(1)),
        )
        .map_err(|e| ConfigError::Invalid(format!("connector {}: {e}", cfg.name)))?;
        Ok(Some(Self {
            name: cfg.name.clone(),
            scheme,
            customer: poll.customer.resolve()?,
            key: poll.key.resolve()?,
            cfg: poll,
            store,
            bus,
            health,
            client,
        }))
    }

    /// Whether this connector polls parcels of `code`.
    pub fn wants(poll: &TrackingPoll, code: &str) -> bool {
        poll.carriers.is_empty() || poll.carriers.iter().any(|c| carrier::code(c) == code)
    }

    /// Polls until shutdown.
    pub async fn run(self, shutdown: CancellationToken) {
        self.health.register(&self.name).await;
        tracing::info!(connector = %self.name, "Tracking poller started.");
        let tick = Duration::from_millis(self.cfg.tick_ms.max(10));
        loop {
            match self.round(&shutdown).await {
                Ok(r) if r.answered + r.failed > 0 => {
                    tracing::debug!(connector = %self.name, answered = r.answered, stored = r.stored, finished = r.finished, failed = r.failed, "Tracking poll round finished.");
                }
                Ok(_) => {}
                Err(PartnerError::Cancelled) => break,
                Err(e) => {
                    tracing::warn!(connector = %self.name, error = %e, "Tracking poll round failed.")
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(tick) => {}
                _ = shutdown.cancelled() => break,
            }
        }
        tracing::info!(connector = %self.name, "Tracking poller stopped.");
    }

    /// Queries every parcel due now (at most `batch`).
    pub async fn round(&self, shutdown: &CancellationToken) -> Result<PollRound, PartnerError> {
        let store_err = |e: crate::store::StoreError| PartnerError::Store(e.to_string());
        let now = now_ms();
        let due = self
            .store
            .polls_due(&self.name, now, self.cfg.batch)
            .await
            .map_err(store_err)?;
        let mut round = PollRound::default();
        for parcel in due {
            if shutdown.is_cancelled() {
                return Err(PartnerError::Cancelled);
            }
            let delivered = self
                .store
                .shipment(&parcel.shipment_id)
                .await
                .map_err(store_err)?
                .is_some_and(|s| s.is_delivered());
            if delivered {
                self.finish(&parcel).await.map_err(store_err)?;
                round.finished += 1;
                continue;
            }
            let next = now_ms() + self.cfg.interval_ms as i64;
            if !self
                .store
                .poll_claim(&parcel, &self.name, next)
                .await
                .map_err(store_err)?
            {
                continue;
            }
            match self.query(&parcel, shutdown).await {
                Ok(Answer::Record(bytes, body)) => {
                    self.health.success(&self.name).await;
                    round.answered += 1;
                    if self.keep(bytes).await.map_err(store_err)? {
                        round.stored += 1;
                    }
                    // 签收标记: the carrier's record is final.
                    if body["ischeck"].as_str() == Some("1") || body["ischeck"].as_i64() == Some(1)
                    {
                        self.finish(&parcel).await.map_err(store_err)?;
                        round.finished += 1;
                    }
                }
                Ok(Answer::Nothing) => {
                    self.health.success(&self.name).await;
                    round.answered += 1;
                }
                Err(PartnerError::Cancelled) => return Err(PartnerError::Cancelled),
                Err(e) => {
                    tracing::warn!(connector = %self.name, shipment_id = %parcel.shipment_id, error = %e, "Tracking query failed; trying again at the next interval.");
                    self.health.failure(&self.name, &e.to_string()).await;
                    round.failed += 1;
                }
            }
        }
        Ok(round)
    }

    async fn finish(&self, parcel: &DuePoll) -> Result<(), crate::store::StoreError> {
        tracing::info!(connector = %self.name, shipment_id = %parcel.shipment_id, "Parcel delivered; no more tracking queries.");
        self.store
            .subscription_done(
                &self.name,
                &parcel.carrier,
                &parcel.tracking_number,
                "done",
                None,
                None,
            )
            .await
    }

    /// Stores an answer like a callback and announces it; true when it was new.
    async fn keep(&self, bytes: Vec<u8>) -> Result<bool, crate::store::StoreError> {
        let stored = super::store_new(
            &self.store,
            super::NewDoc {
                connector: self.name.clone(),
                format: self.scheme.name().to_string(),
                kind: DocumentKind::Tracking,
                source_name: Some("query".into()),
                content: bytes,
            },
        )
        .await?;
        super::announce(
            &self.store,
            self.bus.as_ref(),
            std::slice::from_ref(&stored),
        )
        .await;
        Ok(stored.inserted)
    }

    /// One real-time query (Kuaidi100 `poll/query.do`).
    async fn query(
        &self,
        parcel: &DuePoll,
        shutdown: &CancellationToken,
    ) -> Result<Answer, PartnerError> {
        let com = carrier::aggregator_code(self.scheme, &parcel.carrier)
            .unwrap_or(parcel.carrier.as_str());
        let param = json!({"com": com, "num": parcel.tracking_number, "resultv2": "4",
                           "show": "0", "order": "desc"})
        .to_string();
        let sign = sign::md5_upper(&[
            param.as_bytes(),
            self.key.as_bytes(),
            self.customer.as_bytes(),
        ]);
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("customer", &self.customer)
            .append_pair("sign", &sign)
            .append_pair("param", &param)
            .finish();
        let url = format!("{}/poll/query.do", self.cfg.api_url.trim_end_matches('/'));
        let call = Call {
            method: reqwest::Method::POST,
            url: &url,
            query: &[],
            headers: &[],
            body: Some(("application/x-www-form-urlencoded", form.into_bytes())),
            // A query changes nothing at Kuaidi100: any retriable failure is retried.
            idempotent: true,
        };
        let platform = self.name.clone();
        self.client
            .request("query", &call, shutdown, |raw| {
                let body: Value =
                    serde_json::from_slice(&raw.bytes).map_err(|e| PartnerError::Decode {
                        platform: platform.clone(),
                        message: format!("query answer is not JSON: {e}"),
                    })?;
                if body["nu"].as_str().is_some_and(|n| !n.is_empty()) {
                    return Ok(Answer::Record(raw.bytes.to_vec(), body));
                }
                // A refusal comes as 200 with `result: false` and a `returnCode`.
                let code = body["returnCode"].as_str().unwrap_or_default().to_string();
                if code == "500" {
                    return Ok(Answer::Nothing);
                }
                Err(PartnerError::Partner {
                    platform: platform.clone(),
                    status: raw.status,
                    message: body["message"]
                        .as_str()
                        .unwrap_or("query refused")
                        .to_string(),
                    // 501 server error, 502 server busy: worth another try.
                    retriable_code: matches!(code.as_str(), "501" | "502"),
                    code: Some(code),
                    retry_after: None,
                })
            })
            .await
    }
}
