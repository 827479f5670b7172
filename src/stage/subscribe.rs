//! The subscribe stage: when a parcel appears (`shipment.created`), register it with each
//! tracking connector that has `subscribe` configured, so the aggregator pushes its news here.
//!
//! Idempotent on our side, whatever the aggregator does with a repeated create: the
//! registration is recorded before the call (`tracking_subscriptions`) and marked registered
//! after; a registration already made is not made again; a retry after a call whose answer was
//! never seen looks the parcel up first where the aggregator is not idempotent (EasyPost `GET
//! /v2/trackers?tracking_code=`; Shippo `GET /tracks/{carrier}/{number}`, whose `metadata` is
//! ours when we registered it); a "duplicate" answer (AfterShip `4003`, 17TRACK's rejection
//! of a registered number, Kuaidi100 `501` 重复订阅) counts as registered.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::{json, Value};

use super::{Committed, Effects, Handler, StageError, Unit, UnitTx};
use crate::config::{ConnectorConfig, TrackingConfig};
use crate::intake::tracking_poll::TrackingPoller;
use crate::model::{Envelope, ShipmentRef};
use crate::store::Store;
use crate::tracking::{carrier, Scheme};

/// The stage's name.
pub const NAME: &str = "subscribe";

/// A tracking connector that registers parcels.
#[derive(Debug, Clone)]
struct Subscriber {
    connector: TrackingConfig,
    scheme: Scheme,
}

impl Subscriber {
    /// The registration calls' timeout.
    fn timeout_ms(&self) -> u64 {
        self.connector
            .subscribe
            .as_ref()
            .map_or(30_000, |s| s.timeout_ms)
    }
}

/// The stage.
pub struct SubscribeStage {
    subscribers: Vec<Subscriber>,
    /// Polling connectors (`poll`): their parcels are put on the query schedule.
    pollers: Vec<TrackingConfig>,
    client: reqwest::Client,
}

impl SubscribeStage {
    /// The stage for the configured tracking connectors with `subscribe`.
    pub fn new(connectors: &[ConnectorConfig]) -> Self {
        let subscribers = connectors
            .iter()
            .filter_map(|c| match c {
                ConnectorConfig::Tracking(t) if t.enabled && t.subscribe.is_some() => {
                    Some(Subscriber {
                        scheme: Scheme::parse(&t.scheme)?,
                        connector: t.clone(),
                    })
                }
                _ => None,
            })
            .collect();
        let pollers = connectors
            .iter()
            .filter_map(|c| match c {
                ConnectorConfig::Tracking(t) if t.enabled && t.poll.is_some() => Some(t.clone()),
                _ => None,
            })
            .collect();
        Self {
            subscribers,
            pollers,
            client: reqwest::Client::new(),
        }
    }
}

#[async_trait]
impl Handler for SubscribeStage {
    fn name(&self) -> &'static str {
        NAME
    }

    /// It registers trackers.
    fn calls_partners(&self) -> bool {
        true
    }

    async fn handle(&self, env: &Envelope, unit: Unit<'_>) -> Result<Committed, StageError> {
        let parcel: ShipmentRef = serde_json::from_value(env.payload.clone()).map_err(|e| {
            StageError::permanent(
                "bad_message",
                format!("message {} is not a shipment event: {e}", env.id),
            )
        })?;
        let mut any = false;
        for sub in &self.subscribers {
            if wants(sub, &parcel.carrier) {
                any = true;
                self.register(unit.store(), sub, &parcel).await?;
            }
        }
        for poller in &self.pollers {
            let Some(poll) = &poller.poll else { continue };
            if TrackingPoller::wants(poll, &parcel.carrier) {
                any = true;
                let store = unit.store();
                store
                    .subscription_begin(
                        &poller.name,
                        &parcel.carrier,
                        &parcel.tracking_number,
                        &parcel.shipment_id,
                    )
                    .await?;
                store
                    .subscription_poll_from(
                        &poller.name,
                        &parcel.carrier,
                        &parcel.tracking_number,
                        crate::store::now_ms(),
                    )
                    .await?;
            }
        }
        if !any {
            // No tracking connector follows this carrier: nothing to record.
            return Ok(unit.nothing());
        }
        unit.commit(Nothing).await
    }
}

/// Whether a subscriber registers parcels of `carrier`.
fn wants(sub: &Subscriber, code: &str) -> bool {
    let carriers = sub
        .connector
        .subscribe
        .as_ref()
        .map(|s| s.carriers.as_slice())
        .unwrap_or_default();
    carriers.is_empty() || carriers.iter().any(|c| carrier::code(c) == code)
}

/// The error kind of a registration call that got no answer.
const UNANSWERED: &str = "subscription_unanswered";

/// What a registration call came to.
enum Outcome {
    /// Registered now (with the aggregator's id, if it gave one) or before (a duplicate).
    Registered(Option<String>),
    /// Try again later.
    Transient(String),
    /// No answer came (a timeout, a lost connection): the aggregator may have registered it.
    Unanswered(String),
    /// The aggregator refused the parcel.
    Refused(String),
}

impl SubscribeStage {
    async fn register(
        &self,
        store: &Store,
        sub: &Subscriber,
        parcel: &ShipmentRef,
    ) -> Result<(), StageError> {
        let name = sub.connector.name.as_str();
        let record = store
            .subscription_begin(
                name,
                &parcel.carrier,
                &parcel.tracking_number,
                &parcel.shipment_id,
            )
            .await?;
        if record.status != "pending" {
            return Ok(());
        }
        // One registration of a parcel at a time: a copy of the message redelivered while the
        // first is still registering waits for it instead of making a second tracker.
        let (carrier, number) = (&parcel.carrier, &parcel.tracking_number);
        let lease = i64::try_from(sub.timeout_ms().saturating_mul(2))
            .unwrap_or(i64::MAX / 2)
            .saturating_add(5_000);
        super::steps::wait_for_claim(
            || store.subscription_claim(name, carrier, number, lease),
            lease,
            "subscription_busy",
            &format!("registering parcel {}", parcel.shipment_id),
            Some(&parcel.order_id),
        )
        .await?;
        let outcome = self.register_claimed(store, sub, parcel).await;
        // A create whose answer never came may still be on its way through the aggregator:
        // the claim is kept until it lapses (twice the call's timeout and 5 s), so the retry's
        // look-up comes after that call has been made or dropped, not while it is in flight.
        let unanswered = matches!(&outcome, Err(e) if e.kind == UNANSWERED);
        if !unanswered {
            if let Err(error) = store.subscription_release(name, carrier, number).await {
                tracing::warn!(error = %error, "Could not release the registration claim; it expires by itself.");
            }
        }
        outcome
    }

    /// [`Self::register`] once the parcel's registration is claimed.
    async fn register_claimed(
        &self,
        store: &Store,
        sub: &Subscriber,
        parcel: &ShipmentRef,
    ) -> Result<(), StageError> {
        let name = sub.connector.name.as_str();
        let record = store
            .subscription_begin(
                name,
                &parcel.carrier,
                &parcel.tracking_number,
                &parcel.shipment_id,
            )
            .await?;
        if record.status != "pending" {
            return Ok(());
        }
        if record.attempts > 0 {
            // EasyPost and Shippo register again on a repeated create: look up first.
            let found = match sub.scheme {
                Scheme::EasyPost => match self.easypost_lookup(sub, parcel).await? {
                    Outcome::Registered(found) => found,
                    // A look-up that failed tells nothing: creating now could make a second
                    // tracker.
                    Outcome::Transient(why) | Outcome::Unanswered(why) | Outcome::Refused(why) => {
                        return Err(StageError::unavailable(
                            "subscription_failed",
                            format!(
                                "looking parcel {} up with {name}: {why}",
                                parcel.shipment_id
                            ),
                        ))
                    }
                },
                Scheme::Shippo => self.shippo_lookup(sub, parcel).await?,
                _ => None,
            };
            if let Some(id) = found {
                store
                    .subscription_done(
                        name,
                        &parcel.carrier,
                        &parcel.tracking_number,
                        "registered",
                        Some(&id),
                        None,
                    )
                    .await?;
                return Ok(());
            }
        }
        store
            .subscription_attempt(name, &parcel.carrier, &parcel.tracking_number)
            .await?;
        match self.create(sub, parcel).await? {
            Outcome::Registered(id) => {
                tracing::info!(connector = %name, shipment_id = %parcel.shipment_id, "Parcel registered with its tracker.");
                store
                    .subscription_done(
                        name,
                        &parcel.carrier,
                        &parcel.tracking_number,
                        "registered",
                        id.as_deref(),
                        None,
                    )
                    .await?;
                Ok(())
            }
            Outcome::Transient(why) => Err(StageError::unavailable(
                "subscription_failed",
                format!(
                    "registering parcel {} with {name}: {why}",
                    parcel.shipment_id
                ),
            )),
            Outcome::Unanswered(why) => Err(StageError::unavailable(
                UNANSWERED,
                format!(
                    "registering parcel {} with {name}: {why}; looked up once the call has settled",
                    parcel.shipment_id
                ),
            )),
            Outcome::Refused(why) => {
                store
                    .subscription_done(
                        name,
                        &parcel.carrier,
                        &parcel.tracking_number,
                        "failed",
                        None,
                        Some(&why),
                    )
                    .await?;
                Err(StageError::permanent(
                    "subscription_refused",
                    format!(
                        "{name} refused to track parcel {} ({} {}): {why}",
                        parcel.shipment_id, parcel.carrier, parcel.tracking_number
                    ),
                ))
            }
        }
    }

    fn settings<'a>(
        &self,
        sub: &'a Subscriber,
    ) -> Result<(&'a crate::config::TrackingSubscribe, String), StageError> {
        let s = sub.connector.subscribe.as_ref().ok_or_else(|| {
            StageError::permanent("config", format!("{} has no subscribe", sub.connector.name))
        })?;
        let key = s.api_key.resolve().map_err(|e| {
            StageError::permanent("config", format!("{} api_key: {e}", sub.connector.name))
        })?;
        Ok((s, key))
    }

    async fn easypost_lookup(
        &self,
        sub: &Subscriber,
        parcel: &ShipmentRef,
    ) -> Result<Outcome, StageError> {
        let (s, key) = self.settings(sub)?;
        let url = format!("{}/v2/trackers", s.api_url.trim_end_matches('/'));
        let req = self
            .client
            .get(url)
            .basic_auth(&key, Some(""))
            .query(&[("tracking_code", parcel.tracking_number.as_str())])
            .timeout(Duration::from_millis(s.timeout_ms));
        let (status, body) = call(req).await;
        Ok(match status {
            200 => body["trackers"]
                .as_array()
                .and_then(|t| t.first())
                .and_then(|t| t["id"].as_str())
                .map_or(Outcome::Registered(None), |id| {
                    Outcome::Registered(Some(id.to_string()))
                }),
            _ => Outcome::Transient(format!("lookup answered {status}")),
        })
    }

    /// Whether Shippo has our registration of the parcel: `GET /tracks/{carrier}/{number}`
    /// answers for any number, so ours is the one carrying our metadata.
    async fn shippo_lookup(
        &self,
        sub: &Subscriber,
        parcel: &ShipmentRef,
    ) -> Result<Option<String>, StageError> {
        let (s, key) = self.settings(sub)?;
        let Some(their) = carrier::aggregator_code(sub.scheme, &parcel.carrier) else {
            return Ok(None);
        };
        let url = format!(
            "{}/tracks/{their}/{}",
            s.api_url.trim_end_matches('/'),
            parcel.tracking_number
        );
        let req = self
            .client
            .get(url)
            .header("authorization", format!("ShippoToken {key}"))
            .timeout(Duration::from_millis(s.timeout_ms));
        let (status, body) = call(req).await;
        match status {
            200 if body["metadata"].as_str() == Some(shippo_metadata(parcel).as_str()) => {
                Ok(Some(format!("{their}/{}", parcel.tracking_number)))
            }
            200 => Ok(None),
            _ => Err(StageError::unavailable(
                "subscription_failed",
                format!(
                    "looking parcel {} up with {}: answered {status}",
                    parcel.shipment_id, sub.connector.name
                ),
            )),
        }
    }

    /// The create call of the connector's aggregator.
    async fn create(&self, sub: &Subscriber, parcel: &ShipmentRef) -> Result<Outcome, StageError> {
        let (s, key) = self.settings(sub)?;
        let base = s.api_url.trim_end_matches('/');
        let timeout = Duration::from_millis(s.timeout_ms);
        let their = carrier::aggregator_code(sub.scheme, &parcel.carrier);
        let number = parcel.tracking_number.as_str();
        let outcome = match sub.scheme {
            Scheme::EasyPost => {
                let body = json!({"tracker": {"tracking_code": number, "carrier": their}});
                let req = self
                    .client
                    .post(format!("{base}/v2/trackers"))
                    .basic_auth(&key, Some(""))
                    .json(&body);
                let (status, body) = call(req.timeout(timeout)).await;
                match status {
                    200 | 201 => Outcome::Registered(body["id"].as_str().map(str::to_string)),
                    _ => classify(status, &body["error"]["message"]),
                }
            }
            Scheme::AfterShip => {
                let body =
                    json!({"tracking_number": number, "slug": their, "order_id": parcel.order_id});
                let req = self
                    .client
                    .post(format!("{base}/tracking/2024-07/trackings"))
                    .header("as-api-key", &key)
                    .json(&body);
                let (status, body) = call(req.timeout(timeout)).await;
                match (status, body["meta"]["code"].as_i64()) {
                    (200 | 201, _) => {
                        Outcome::Registered(body["data"]["id"].as_str().map(str::to_string))
                    }
                    (_, Some(4003)) => Outcome::Registered(None),
                    _ => classify(status, &body["meta"]["message"]),
                }
            }
            Scheme::SeventeenTrack => {
                let key17 = their.and_then(|c| c.parse::<i64>().ok());
                let body = json!([{"number": number, "carrier": key17}]);
                let req = self
                    .client
                    .post(format!("{base}/track/v2.2/register"))
                    .header("17token", &key)
                    .json(&body);
                let (status, body) = call(req.timeout(timeout)).await;
                let accepted = body["data"]["accepted"]
                    .as_array()
                    .is_some_and(|a| !a.is_empty());
                let rejected = body["data"]["rejected"]
                    .as_array()
                    .and_then(|r| r.first())
                    .cloned();
                match (status, body["code"].as_i64(), rejected) {
                    (200, Some(0), _) if accepted => Outcome::Registered(None),
                    // A number registered before is rejected with this code.
                    (200, Some(0), Some(r)) if r["error"]["code"].as_i64() == Some(-18_019_901) => {
                        Outcome::Registered(None)
                    }
                    (200, Some(0), Some(r)) => Outcome::Refused(
                        r["error"]["message"]
                            .as_str()
                            .unwrap_or("rejected")
                            .to_string(),
                    ),
                    _ => classify(status, &body["message"]),
                }
            }
            Scheme::Kuaidi100 => {
                let callback = s.callback_url.clone().unwrap_or_default();
                let salt = sub.connector.secret.resolve().map_err(|e| {
                    StageError::permanent("config", format!("{} secret: {e}", sub.connector.name))
                })?;
                let param = json!({"company": their.unwrap_or(parcel.carrier.as_str()), "number": number, "key": key,
                                   "parameters": {"callbackurl": callback, "salt": salt, "resultv2": "1"}});
                let form = [("schema", "json".to_string()), ("param", param.to_string())];
                let req = self.client.post(format!("{base}/poll")).form(&form);
                let (status, body) = call(req.timeout(timeout)).await;
                match (status, body["returnCode"].as_str()) {
                    (200, Some("200")) => Outcome::Registered(None),
                    // 重复订阅: subscribed before.
                    (200, Some("501")) => Outcome::Registered(None),
                    (200, Some(code)) if code.starts_with('5') => {
                        Outcome::Transient(format!("returnCode {code}"))
                    }
                    (200, Some(code)) => Outcome::Refused(format!(
                        "returnCode {code}: {}",
                        body["message"].as_str().unwrap_or("")
                    )),
                    _ => classify(status, &body["message"]),
                }
            }
            Scheme::Shippo => match their {
                // Shippo wants its own carrier token; it does not detect the carrier.
                None => Outcome::Refused(format!(
                    "Shippo has no carrier token for carrier {}",
                    parcel.carrier
                )),
                Some(their) => {
                    let body = json!({"carrier": their, "tracking_number": number,
                                      "metadata": shippo_metadata(parcel)});
                    let req = self
                        .client
                        .post(format!("{base}/tracks/"))
                        .header("authorization", format!("ShippoToken {key}"))
                        .json(&body);
                    let (status, body) = call(req.timeout(timeout)).await;
                    match status {
                        200 | 201 => Outcome::Registered(Some(format!("{their}/{number}"))),
                        _ => classify(status, &body["detail"]),
                    }
                }
            },
            Scheme::SfExpress | Scheme::SfExpressForm => {
                Outcome::Refused(format!("registration with {} is not supported", sub.scheme))
            }
        };
        Ok(outcome)
    }
}

/// What our Shippo registration of a parcel carries, so a lookup can tell it from none.
fn shippo_metadata(parcel: &ShipmentRef) -> String {
    format!("ordergate:{}", parcel.shipment_id)
}

/// The status [`call`] gives when no connection could be made: the request never left.
const NOT_SENT: u16 = 1;

/// Sends a request; the status (0 when nothing came back, [`NOT_SENT`] when no connection
/// could be made) and the JSON body (null if none).
async fn call(req: reqwest::RequestBuilder) -> (u16, Value) {
    match req.send().await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let body = resp
                .bytes()
                .await
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok());
            (status, body.unwrap_or(Value::Null))
        }
        Err(e) => {
            tracing::warn!(error = %e, "Tracker registration call failed.");
            (if e.is_connect() { NOT_SENT } else { 0 }, Value::Null)
        }
    }
}

/// An unexpected answer: 429, 5xx, no answer and no connection are worth retrying; other 4xx
/// are refusals.
fn classify(status: u16, message: &Value) -> Outcome {
    let text = message.as_str().unwrap_or("no message").to_string();
    match status {
        0 => Outcome::Unanswered("no answer".into()),
        // Nothing reached the aggregator: the claim is released and the call tried again.
        NOT_SENT => Outcome::Transient("no connection".into()),
        429 | 500..=599 => Outcome::Transient(format!("HTTP {status}: {text}")),
        _ => Outcome::Refused(format!("HTTP {status}: {text}")),
    }
}

/// The stage writes nothing but its inbox record.
struct Nothing;

#[async_trait]
impl Effects for Nothing {
    async fn write(&mut self, _tx: &mut UnitTx<'_>) -> Result<(), StageError> {
        Ok(())
    }
}
