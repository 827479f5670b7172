//! Polling for parcels on a schedule, as a tracking scheme's poll definition
//! (`connectors/tracking/<scheme>.toml`, [`definition`]) describes it: Kuaidi100's real-time
//! query `POST /poll/query.do` (one number, a signed form), 17TRACK `POST
//! /track/v2.2/gettrackinfo` (up to 40 numbers, `17token`, per-number rejections), AfterShip
//! `GET /tracking/2024-07/trackings` (up to 50 numbers, `as-api-key`, paged by cursor). Each
//! record of an answer is stored like a callback (`tracking.<connector>`, read by the same track
//! stage and mapping: the definition wraps it in the push's envelope), written with sorted keys,
//! so the same record twice is the same document: an unchanged parcel makes no new update.
//!
//! The parcels come from `tracking_subscriptions` (the subscribe stage puts every new parcel of
//! the connector's carriers on the schedule, status `polling`, after registering it where the
//! connector also subscribes). A parcel's query is claimed on its row before it is sent, so two
//! daemons never ask about one parcel at once; a parcel is not asked about again before
//! `interval_ms` (Kuaidi100 locks numbers queried more often than every half hour). Requests go
//! through the partner client, like marketplace pulls: 429 with `Retry-After` (or the
//! definition's reset header) honoured, 5xx and lost answers retried with backoff, and each
//! request's outcome counted in the connector's health (degraded, down, up again). A parcel is
//! polled until it is delivered: a record the definition calls final (Kuaidi100 `ischeck` = 1,
//! 17TRACK and AfterShip `Delivered`), or the parcel delivered by any other news; then its row
//! is `done`.

pub mod definition;
mod template;

pub use definition::PollDefinition;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::bus::Bus;
use crate::config::{ConfigError, TrackingConfig, TrackingPoll};
use crate::health::HealthTracker;
use crate::model::DocumentKind;
use crate::partner::auth::{Authenticator, Values};
use crate::partner::client::{ApiClient, Call, RawResponse, RetryPolicy};
use crate::partner::definition::select;
use crate::partner::PartnerError;
use crate::store::{now_ms, tracking_number_key, DuePoll, Store};
use crate::tracking::{carrier, Scheme};
use definition::text_at;

/// Most pages one request's answer is read to (a paging loop that never ends stops here).
const MAX_PAGES: usize = 100;

/// What one round of queries did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PollRound {
    /// Parcels asked about in answered requests.
    pub answered: usize,
    /// New documents stored (records that changed).
    pub stored: usize,
    /// Parcels no longer polled (delivered).
    pub finished: usize,
    /// Parcels whose request failed or that the service rejected (asked again at the next
    /// interval).
    pub failed: usize,
}

/// A polling tracking connector.
pub struct TrackingPoller {
    name: String,
    scheme: Scheme,
    cfg: TrackingPoll,
    def: PollDefinition,
    base_url: String,
    /// The definition's credentials, resolved (never logged).
    credentials: BTreeMap<String, String>,
    store: Store,
    bus: Arc<dyn Bus>,
    health: Arc<HealthTracker>,
    client: ApiClient,
    env: minijinja::Environment<'static>,
}

/// What an answer said about one parcel.
enum Told {
    /// Its records, as the mapping reads them.
    Records(Vec<Value>),
    /// Nothing yet (not known to the carrier, no record, or a "no result yet" code).
    Nothing,
    /// Rejected, with the service's code.
    Rejected(String),
}

/// One page of an answer.
struct Page {
    records: Vec<Value>,
    /// (number key, code) of each rejected number.
    rejected: Vec<(String, String)>,
    next: Option<String>,
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
        let invalid = |e: String| ConfigError::Invalid(format!("connector {}: {e}", cfg.name));
        let scheme = Scheme::parse(&cfg.scheme)
            .ok_or_else(|| invalid(format!("unknown scheme {}", cfg.scheme)))?;
        let def = PollDefinition::of(&cfg.scheme, poll.definitions.as_deref()).map_err(invalid)?;
        let mut credentials = BTreeMap::new();
        for name in &def.credentials {
            let secret = poll
                .credential(name)
                .ok_or_else(|| invalid(format!("poll.{name} is required")))?;
            credentials.insert(name.clone(), secret.resolve()?);
        }
        let values = Values {
            credentials: credentials.clone(),
            params: BTreeMap::new(),
        };
        let auth = Authenticator::new(&cfg.name, &def.auth, &values, None)
            .map_err(|e| invalid(e.to_string()))?;
        let mut rate = def.rate_limit.clone();
        rate.min_interval_ms = rate.min_interval_ms.max(poll.min_interval_ms);
        rate.max_wait_ms = Some(poll.retry_max_ms);
        let client = ApiClient::new(
            &cfg.name,
            auth,
            def.errors.clone(),
            rate,
            RetryPolicy {
                max_retries: poll.max_retries,
                base: Duration::from_millis(200),
                max: Duration::from_millis(poll.retry_max_ms.max(1)),
            },
            Duration::from_millis(poll.timeout_ms.max(1)),
        )
        .map_err(|e| invalid(e.to_string()))?;
        Ok(Some(Self {
            name: cfg.name.clone(),
            scheme,
            base_url: poll
                .api_url
                .clone()
                .unwrap_or_else(|| def.base_url.clone())
                .trim_end_matches('/')
                .to_string(),
            def,
            credentials,
            cfg: poll,
            store,
            bus,
            health,
            client,
            env: template::env(),
        }))
    }

    /// Whether this connector polls parcels of `code`.
    pub fn wants(poll: &TrackingPoll, code: &str) -> bool {
        poll.carriers.is_empty() || poll.carriers.iter().any(|c| carrier::code(c) == code)
    }

    /// Polls until shutdown.
    pub async fn run(self, shutdown: CancellationToken) {
        self.health.register(&self.name).await;
        tracing::info!(connector = %self.name, scheme = %self.scheme, "Tracking poller started.");
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

    /// Asks about every parcel due now (at most `batch`), up to the definition's batch per
    /// request.
    pub async fn round(&self, shutdown: &CancellationToken) -> Result<PollRound, PartnerError> {
        let store_err = |e: crate::store::StoreError| PartnerError::Store(e.to_string());
        let now = now_ms();
        let due = self
            .store
            .polls_due(&self.name, now, self.cfg.batch)
            .await
            .map_err(store_err)?;
        let mut round = PollRound::default();
        let mut claimed = Vec::new();
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
            if self
                .store
                .poll_claim(&parcel, &self.name, next)
                .await
                .map_err(store_err)?
            {
                claimed.push(parcel);
            }
        }
        let size = self.def.poll.batch.max(1) as usize;
        for batch in claimed.chunks(size) {
            let told = match self.query(batch, shutdown).await {
                Ok(told) => told,
                Err(PartnerError::Cancelled) => return Err(PartnerError::Cancelled),
                Err(e) => {
                    tracing::warn!(connector = %self.name, parcels = batch.len(), error = %e, "Tracking query failed; trying again at the next interval.");
                    self.health.failure(&self.name, &e.to_string()).await;
                    round.failed += batch.len();
                    continue;
                }
            };
            self.health.success(&self.name).await;
            round.answered += batch.len();
            for (parcel, told) in batch.iter().zip(told) {
                match told {
                    Told::Records(records) => {
                        let mut finished = false;
                        for record in &records {
                            if self
                                .keep(self.def.poll.document.bytes(record))
                                .await
                                .map_err(store_err)?
                            {
                                round.stored += 1;
                            }
                            finished |= self
                                .def
                                .poll
                                .final_when
                                .as_ref()
                                .is_some_and(|m| m.matches(record));
                        }
                        if finished {
                            self.finish(parcel).await.map_err(store_err)?;
                            round.finished += 1;
                        }
                    }
                    Told::Nothing => {}
                    Told::Rejected(code) => {
                        tracing::warn!(connector = %self.name, shipment_id = %parcel.shipment_id, code = %code, "The tracking service rejected the parcel's number; asking again at the next interval.");
                        round.failed += 1;
                    }
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

    /// Stores a record like a callback and announces it; true when it was new.
    async fn keep(&self, bytes: Vec<u8>) -> Result<bool, crate::store::StoreError> {
        let stored = super::store_new(
            &self.store,
            self.bus.as_ref(),
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

    /// The templates' values for a batch: the credentials, `parcels` (each with `number`,
    /// `carrier` as the service names it, `carrier_code` as ordergate does, `carrier_number`
    /// when the service's code is a number, `shipment_id`), `parcel` (the first), `numbers`
    /// and `page_size`.
    fn context(&self, batch: &[DuePoll]) -> BTreeMap<String, minijinja::Value> {
        let parcels: Vec<minijinja::Value> = batch
            .iter()
            .map(|p| {
                let theirs = carrier::aggregator_code(self.scheme, &p.carrier);
                minijinja::context! {
                    number => p.tracking_number.as_str(),
                    carrier => theirs.unwrap_or(p.carrier.as_str()),
                    carrier_code => p.carrier.as_str(),
                    carrier_number => theirs.and_then(|c| c.parse::<i64>().ok()),
                    shipment_id => p.shipment_id.as_str(),
                }
            })
            .collect();
        let mut ctx: BTreeMap<String, minijinja::Value> = self
            .credentials
            .iter()
            .map(|(k, v)| (k.clone(), minijinja::Value::from(v.as_str())))
            .collect();
        ctx.insert(
            "parcel".into(),
            parcels.first().cloned().unwrap_or_default(),
        );
        ctx.insert("parcels".into(), parcels.into());
        ctx.insert(
            "numbers".into(),
            batch
                .iter()
                .map(|p| p.tracking_number.clone())
                .collect::<Vec<_>>()
                .into(),
        );
        ctx.insert(
            "page_size".into(),
            self.cfg.page_size.unwrap_or(self.def.poll.page_size).into(),
        );
        ctx
    }

    /// One request about `batch` (every page of its answer): what it said about each parcel,
    /// in the batch's order.
    async fn query(
        &self,
        batch: &[DuePoll],
        shutdown: &CancellationToken,
    ) -> Result<Vec<Told>, PartnerError> {
        let op = &self.def.poll;
        let (body, query) = self.request(batch)?;
        let url = format!("{}{}", self.base_url, op.path);
        let method = if op.method == "GET" {
            reqwest::Method::GET
        } else {
            reqwest::Method::POST
        };
        let mut records: Vec<Value> = Vec::new();
        let mut rejected: HashMap<String, String> = HashMap::new();
        let mut page_query = query.clone();
        for _ in 0..MAX_PAGES {
            let call = Call {
                method: method.clone(),
                url: &url,
                query: &page_query,
                headers: &[],
                body: body.clone(),
                // A query changes nothing at the service: any retriable failure is retried.
                idempotent: true,
            };
            let page = self
                .client
                .request("poll", &call, shutdown, |raw| self.page(raw))
                .await?;
            records.extend(page.records);
            rejected.extend(page.rejected);
            let (Some(next), Some(n)) = (page.next, &op.next) else {
                break;
            };
            page_query = query.clone();
            page_query.push((n.param.clone(), next));
        }
        let mut by_number: HashMap<String, Vec<Value>> = HashMap::new();
        for record in records {
            let Some(number) = text_at(&record, &op.number) else {
                continue;
            };
            if op.nothing.as_ref().is_some_and(|m| m.matches(&record)) {
                continue;
            }
            by_number
                .entry(tracking_number_key(&number))
                .or_default()
                .push(record);
        }
        Ok(batch
            .iter()
            .map(|p| {
                let key = tracking_number_key(&p.tracking_number);
                if let Some(records) = by_number.remove(&key) {
                    Told::Records(records)
                } else if let Some(code) = rejected.remove(&key) {
                    Told::Rejected(code)
                } else {
                    Told::Nothing
                }
            })
            .collect())
    }

    /// The request about `batch` as the definition's templates make it: its body (a form or
    /// JSON) and query parameters.
    #[allow(clippy::type_complexity)]
    fn request(
        &self,
        batch: &[DuePoll],
    ) -> Result<(Option<(&'static str, Vec<u8>)>, Vec<(String, String)>), PartnerError> {
        let op = &self.def.poll;
        // A template that cannot render (a definition fault) is not worth retrying.
        let bad = |message: String| PartnerError::Decode {
            platform: self.name.clone(),
            message,
        };
        let mut ctx = self.context(batch);
        let mut form = form_urlencoded::Serializer::new(String::new());
        for [field, t] in &op.form {
            let value = template::render(&self.env, field, t, &minijinja::Value::from(ctx.clone()))
                .map_err(bad)?;
            form.append_pair(field, &value);
            ctx.insert(field.clone(), value.into());
        }
        let ctx = minijinja::Value::from(ctx);
        let body = if !op.form.is_empty() {
            Some((
                "application/x-www-form-urlencoded",
                form.finish().into_bytes(),
            ))
        } else if let Some(t) = &op.body {
            let json = template::render(&self.env, "body", t, &ctx).map_err(bad)?;
            Some(("application/json", json.into_bytes()))
        } else {
            None
        };
        let mut query = Vec::new();
        for (param, t) in &op.query {
            query.push((
                param.clone(),
                template::render(&self.env, param, t, &ctx).map_err(bad)?,
            ));
        }
        Ok((body, query))
    }

    /// Reads one page of an answer as the definition says.
    fn page(&self, raw: RawResponse) -> Result<Page, PartnerError> {
        let op = &self.def.poll;
        let body: Value = serde_json::from_slice(&raw.bytes).map_err(|e| PartnerError::Decode {
            platform: self.name.clone(),
            message: format!("poll answer is not JSON: {e}"),
        })?;
        if op.status.as_ref().is_some_and(|s| s.refused(&body)) {
            let code = op.refusal.code.as_deref().and_then(|p| text_at(&body, p));
            if code
                .as_ref()
                .is_some_and(|c| op.refusal.pending.contains(c))
            {
                // Nothing known yet about any number asked (Kuaidi100 500 查询无结果).
                return Ok(Page {
                    records: Vec::new(),
                    rejected: Vec::new(),
                    next: None,
                });
            }
            return Err(PartnerError::Partner {
                platform: self.name.clone(),
                status: raw.status,
                retriable_code: code
                    .as_ref()
                    .is_some_and(|c| op.refusal.retriable.contains(c)),
                message: op
                    .refusal
                    .message
                    .as_deref()
                    .and_then(|p| text_at(&body, p))
                    .unwrap_or_else(|| "poll refused".into()),
                code,
                retry_after: None,
            });
        }
        let records = match select(&body, &op.records) {
            Some(Value::Array(a)) => a.clone(),
            Some(Value::Null) | None => Vec::new(),
            Some(one) => vec![one.clone()],
        };
        let mut rejected = Vec::new();
        if let Some(r) = &op.rejected {
            for item in select(&body, &r.records)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let Some(number) = text_at(item, &r.number) else {
                    continue;
                };
                let code = r
                    .error
                    .code
                    .as_deref()
                    .and_then(|p| text_at(item, p))
                    .unwrap_or_default();
                if !r.error.pending.contains(&code) {
                    rejected.push((tracking_number_key(&number), code));
                }
            }
        }
        let next = op.next.as_ref().and_then(|n| {
            let more = n
                .more
                .as_deref()
                .is_none_or(|p| select(&body, p).and_then(Value::as_bool) == Some(true));
            text_at(&body, &n.token).filter(|t| more && !t.is_empty())
        });
        Ok(Page {
            records,
            rejected,
            next,
        })
    }
}
