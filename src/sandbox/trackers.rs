//! Tracking aggregator simulators: the registration APIs (EasyPost `POST /v2/trackers`,
//! AfterShip `POST /tracking/2024-07/trackings`, 17TRACK `POST /track/v2.2/register`, Kuaidi100
//! `POST /poll`) with their auth and their answers to a repeated registration (EasyPost makes a
//! second tracker — it is not idempotent; AfterShip answers `4003`; 17TRACK rejects the number;
//! Kuaidi100 answers `501` 重复订阅), counting registrations; and, once a parcel is registered,
//! its carrier's news posted back as the real service does — signed with the partner's scheme
//! ([`crate::tracking::sign`]), in the partner's body shape ([`callback`]), re-posted until the
//! answer is the partner's acknowledgement — including a duplicate, a late callback (a scan
//! older than the delivery, posted after it) and delivery posted before out-for-delivery.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use tokio::sync::Mutex;

use crate::model::TrackingStatus as S;
use crate::tracking::Scheme;

/// One carrier scan the simulator reports.
#[derive(Debug, Clone, PartialEq)]
pub struct Scan {
    pub at: DateTime<Utc>,
    pub status: S,
    pub location: String,
    pub message: String,
}

impl Scan {
    /// A scan at `at`.
    pub fn new(at: DateTime<Utc>, status: S, location: &str, message: &str) -> Self {
        Self {
            at,
            status,
            location: location.into(),
            message: message.into(),
        }
    }
}

/// China Standard Time, zone-less, as Kuaidi100 and SF Express write it.
fn cst(at: DateTime<Utc>) -> String {
    (at + chrono::Duration::hours(8))
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// The callback body `scheme` posts for parcel `number` of carrier `carrier` (a stable code)
/// with `scans` (any order; the newest states the parcel's status). For Kuaidi100 it is the
/// `param` JSON ([`crate::tracking::sign::sign`] makes the form); for `sf-express-form`, the
/// form body with its XML `content`.
pub fn callback(scheme: Scheme, carrier: &str, number: &str, scans: &[Scan]) -> Vec<u8> {
    let newest = scans.iter().max_by_key(|s| s.at);
    let newest_status = newest.map_or(S::Unknown, |s| s.status);
    let value = match scheme {
        Scheme::EasyPost => {
            let word = |s: S| match s {
                S::PreTransit => "pre_transit",
                S::InTransit => "in_transit",
                S::OutForDelivery => "out_for_delivery",
                S::AvailableForPickup => "available_for_pickup",
                S::Delivered => "delivered",
                S::Returned => "return_to_sender",
                S::FailedAttempt | S::Exception => "failure",
                S::Unknown => "unknown",
            };
            let details: Vec<Value> = scans
                .iter()
                .map(|s| {
                    json!({"object": "TrackingDetail", "datetime": s.at.to_rfc3339(),
                           "status": word(s.status), "message": s.message,
                           "tracking_location": {"object": "TrackingLocation", "city": s.location,
                                                 "state": null, "country": null, "zip": null}})
                })
                .collect();
            json!({"id": format!("evt_{}", short_hash(number, scans)), "object": "Event",
                   "mode": "test", "description": "tracker.updated",
                   "result": {"id": format!("trk_{}", short_hash(number, &[])), "object": "Tracker",
                              "tracking_code": number,
                              "carrier": crate::tracking::carrier::aggregator_code(scheme, carrier).unwrap_or(carrier),
                              "status": word(newest_status), "tracking_details": details}})
        }
        Scheme::Shippo => {
            let word_sub = |s: S| -> (&'static str, Option<&'static str>) {
                match s {
                    S::PreTransit => ("PRE_TRANSIT", None),
                    S::InTransit => ("TRANSIT", None),
                    S::OutForDelivery => ("TRANSIT", Some("out_for_delivery")),
                    S::AvailableForPickup => ("TRANSIT", Some("pickup_available")),
                    S::FailedAttempt => ("TRANSIT", Some("delivery_attempted")),
                    S::Delivered => ("DELIVERED", None),
                    S::Returned => ("RETURNED", None),
                    S::Exception => ("FAILURE", None),
                    S::Unknown => ("UNKNOWN", None),
                }
            };
            let word = |s: S| word_sub(s).0;
            let sub = |s: S| word_sub(s).1;
            let event = |s: &Scan| {
                json!({"status": word(s.status), "substatus": sub(s.status).map(|c| json!({"code": c})),
                       "status_details": s.message, "status_date": s.at.to_rfc3339(),
                       "location": {"city": s.location, "state": null, "country": null}})
            };
            json!({"event": "track_updated", "test": true,
                   "data": {"carrier": crate::tracking::carrier::aggregator_code(scheme, carrier).unwrap_or(carrier),
                            "tracking_number": number,
                            "tracking_status": newest.map(event),
                            "tracking_history": scans.iter().map(event).collect::<Vec<_>>()}})
        }
        Scheme::AfterShip => {
            let tag = |s: S| match s {
                S::PreTransit => "InfoReceived",
                S::InTransit => "InTransit",
                S::OutForDelivery => "OutForDelivery",
                S::AvailableForPickup => "AvailableForPickup",
                S::FailedAttempt => "AttemptFail",
                S::Delivered => "Delivered",
                S::Returned | S::Exception => "Exception",
                S::Unknown => "Expired",
            };
            let checkpoints: Vec<Value> = scans
                .iter()
                .map(|s| {
                    json!({"checkpoint_time": s.at.to_rfc3339(), "tag": tag(s.status),
                           "message": s.message, "location": s.location, "slug": carrier})
                })
                .collect();
            json!({"ts": newest.map_or(0, |s| s.at.timestamp()), "event": "tracking_update",
                   "event_id": uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, short_hash(number, scans).as_bytes()),
                   "msg": {"tracking_number": number,
                           "slug": crate::tracking::carrier::aggregator_code(scheme, carrier).unwrap_or(carrier),
                           "tag": tag(newest_status), "checkpoints": checkpoints}})
        }
        Scheme::SeventeenTrack => {
            let main = |s: S| match s {
                S::PreTransit => "InfoReceived",
                S::InTransit => "InTransit",
                S::OutForDelivery => "OutForDelivery",
                S::AvailableForPickup => "AvailableForPickup",
                S::FailedAttempt => "DeliveryFailure",
                S::Delivered => "Delivered",
                S::Returned | S::Exception => "Exception",
                S::Unknown => "NotFound",
            };
            let events: Vec<Value> = scans
                .iter()
                .map(|s| {
                    json!({"time_utc": s.at.to_rfc3339(), "time_iso": s.at.to_rfc3339(),
                           "sub_status": format!("{}_Other", main(s.status)),
                           "description": s.message, "location": s.location})
                })
                .collect();
            json!({"event": "TRACKING_UPDATED",
                   "data": {"number": number, "carrier": 100_002, "tag": null,
                            "track_info": {"latest_status": {"status": main(newest_status), "sub_status": null},
                                           "tracking": {"providers": [{"provider": {"key": 100_002, "name": carrier},
                                                                       "events": events}]}}}})
        }
        Scheme::Kuaidi100 => {
            let code = |s: S| match s {
                S::PreTransit => "101",
                S::InTransit => "0",
                S::OutForDelivery => "5",
                S::AvailableForPickup => "501",
                S::Delivered => "3",
                S::Returned => "6",
                S::FailedAttempt | S::Exception => "2",
                S::Unknown => "8",
            };
            let mut sorted: Vec<&Scan> = scans.iter().collect();
            sorted.sort_by_key(|s| std::cmp::Reverse(s.at));
            let data: Vec<Value> = sorted
                .iter()
                .map(|s| {
                    json!({"context": s.message, "time": cst(s.at), "ftime": cst(s.at),
                           "statusCode": code(s.status), "areaName": s.location})
                })
                .collect();
            // The carrier's record: the push's `lastResult`, and the whole answer to a
            // real-time query (`poll/query.do`).
            let record = json!({"message": "ok", "nu": number, "ischeck": if newest_status == S::Delivered {"1"} else {"0"},
                                "com": crate::tracking::carrier::aggregator_code(scheme, carrier).unwrap_or(carrier),
                                "status": "200", "state": code(newest_status), "data": data});
            json!({"status": "polling", "billstatus": "got", "message": "", "lastResult": record})
        }
        Scheme::SfExpress | Scheme::SfExpressForm => {
            let op = |s: S| match s {
                S::PreTransit | S::InTransit => "30",
                S::OutForDelivery | S::AvailableForPickup => "44",
                S::Delivered => "80",
                S::Returned => "648",
                S::FailedAttempt => "70",
                S::Exception | S::Unknown => "33",
            };
            let routes: Vec<Value> = scans
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    json!({"id": format!("{}{i}", short_hash(number, &[])), "mailno": number,
                           "acceptTime": cst(s.at), "acceptAddress": s.location,
                           "remark": s.message, "opCode": op(s.status)})
                })
                .collect();
            if scheme == Scheme::SfExpressForm {
                let mut xml = String::from(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Request service=\"RoutePushService\" lang=\"zh-CN\"><Body>",
                );
                for r in &routes {
                    xml.push_str("<WaybillRoute");
                    for key in [
                        "id",
                        "mailno",
                        "acceptTime",
                        "acceptAddress",
                        "remark",
                        "opCode",
                    ] {
                        let v = r[key].as_str().unwrap_or_default();
                        xml.push_str(&format!(" {key}=\"{}\"", xml_escape(v)));
                    }
                    xml.push_str("/>");
                }
                xml.push_str("</Body></Request>");
                return form_urlencoded::Serializer::new(String::new())
                    .append_pair("content", &xml)
                    .finish()
                    .into_bytes();
            }
            json!({"Body": {"WaybillRoute": routes}})
        }
    };
    serde_json::to_vec(&value).unwrap_or_default()
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn short_hash(number: &str, scans: &[Scan]) -> String {
    let mut text = number.to_string();
    for s in scans {
        text.push_str(&format!(
            "|{}|{:?}|{}",
            s.at.timestamp(),
            s.status,
            s.message
        ));
    }
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(text.as_bytes()))[..16].to_string()
}

/// Where the simulator posts a scheme's callbacks (EasyPost, AfterShip and 17TRACK have it in
/// their dashboard; Kuaidi100 takes URL and salt with each subscription).
#[derive(Debug, Clone)]
pub struct Webhook {
    /// The callback URL (`http://…/hooks/tracking/<connector>`).
    pub url: String,
    /// The webhook secret / security key the simulator signs with.
    pub secret: String,
}

/// One registration the simulator accepted (a repeated EasyPost create is a second one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    pub scheme: Scheme,
    pub number: String,
    pub carrier: String,
}

/// A number's scripted real-time query answers (one step per query, the last repeating) and
/// how many queries it got.
type Record = (Vec<Vec<Scan>>, usize);

/// The simulated aggregators.
pub struct TrackerSim {
    /// The API key every registration must carry.
    pub api_key: String,
    webhooks: HashMap<Scheme, Webhook>,
    registrations: Mutex<Vec<Registered>>,
    /// Callbacks acknowledged as the partner expects.
    acknowledged: std::sync::atomic::AtomicUsize,
    client: reqwest::Client,
    /// Shippo tracks registered: (carrier, number) -> the metadata given with the create.
    shippo_tracks: Mutex<HashMap<(String, String), String>>,
    /// Create answers to lose: the registration is made, the caller gets a 502.
    lose_answers: std::sync::atomic::AtomicUsize,
    /// Creates to carry out late (a slow aggregator): each waits this long before it registers.
    late_creates: std::sync::Mutex<(usize, std::time::Duration)>,
    /// Kuaidi100 real-time query: each number's record, one step per query (the last step
    /// repeats), and the queries answered per number.
    records: Mutex<HashMap<String, Record>>,
    /// Answers the next queries get instead of the record: (status, Retry-After seconds).
    query_faults: Mutex<std::collections::VecDeque<(u16, Option<u64>)>>,
    /// Real-time queries that got a record.
    queries: std::sync::atomic::AtomicUsize,
    /// Every real-time query: when it came and the HTTP status it got.
    query_log: Mutex<Vec<(std::time::Instant, u16)>>,
    /// 17TRACK gettrackinfo requests with more than one number.
    batches: std::sync::atomic::AtomicUsize,
    /// AfterShip list requests for a next page (with a cursor).
    next_pages: std::sync::atomic::AtomicUsize,
    /// Journeys waiting for the next parcel of a carrier, instead of the usual one.
    scripts: std::sync::Mutex<Vec<Script>>,
    /// The parcels that took a script: (tracking number, the script's name).
    scripted: std::sync::Mutex<Vec<(String, String)>>,
}

/// Another journey for the next parcel of a carrier to be registered: a demo's delayed or
/// damaged parcel. Each step is one callback with the scans it lists.
#[derive(Debug, Clone)]
pub struct Script {
    /// The carrier (stable code) whose next parcel takes it.
    pub carrier: String,
    /// What it shows (`delayed`, `damaged`).
    pub name: String,
    /// The callbacks, in the order they are posted.
    pub steps: Vec<Vec<Scan>>,
}

impl TrackerSim {
    /// A simulator posting each scheme's callbacks to its webhook.
    pub fn new(api_key: &str, webhooks: HashMap<Scheme, Webhook>) -> Arc<Self> {
        Arc::new(Self {
            api_key: api_key.into(),
            webhooks,
            registrations: Mutex::default(),
            acknowledged: Default::default(),
            client: reqwest::Client::new(),
            shippo_tracks: Mutex::default(),
            lose_answers: Default::default(),
            late_creates: Default::default(),
            records: Mutex::default(),
            query_faults: Mutex::default(),
            queries: Default::default(),
            query_log: Mutex::default(),
            batches: Default::default(),
            next_pages: Default::default(),
            scripts: Default::default(),
            scripted: Default::default(),
        })
    }

    /// The next `n` registration creates are carried out but their answers lost (502).
    pub fn lose_next_answers(&self, n: usize) {
        self.lose_answers
            .store(n, std::sync::atomic::Ordering::Relaxed);
    }

    /// The next `n` EasyPost creates wait `by` before they register (and answer): a caller
    /// whose timeout is shorter sees no answer while its tracker is still being made.
    pub fn delay_next_creates(&self, n: usize, by: std::time::Duration) {
        if let Ok(mut late) = self.late_creates.lock() {
            *late = (n, by);
        }
    }

    /// How long this create waits first (zero for all but the delayed ones).
    fn create_delay(&self) -> std::time::Duration {
        match self.late_creates.lock() {
            Ok(mut late) if late.0 > 0 => {
                late.0 -= 1;
                late.1
            }
            _ => std::time::Duration::ZERO,
        }
    }

    fn lose_answer(&self) -> bool {
        self.lose_answers
            .fetch_update(
                std::sync::atomic::Ordering::Relaxed,
                std::sync::atomic::Ordering::Relaxed,
                |n| n.checked_sub(1),
            )
            .is_ok()
    }

    /// What the carrier reports for `number` to real-time queries: `steps[i]` to the i-th query
    /// of it, the last step to every later one.
    pub async fn set_record(&self, number: &str, steps: Vec<Vec<Scan>>) {
        self.records
            .lock()
            .await
            .insert(number.to_string(), (steps, 0));
    }

    /// Answers the next real-time queries (Kuaidi100's, and EasyPost's tracker look-ups) get
    /// instead of a record, in order: a status and the
    /// `Retry-After` seconds sent with it (429), or an outage (503).
    pub async fn fail_next_queries(&self, faults: &[(u16, Option<u64>)]) {
        self.query_faults
            .lock()
            .await
            .extend(faults.iter().copied());
    }

    /// The fault queued for the next query, if any; every query is logged with the status it
    /// gets.
    async fn take_fault(&self) -> Option<(u16, Option<u64>)> {
        let fault = self.query_faults.lock().await.pop_front();
        self.query_log.lock().await.push((
            std::time::Instant::now(),
            fault.map_or(200, |(status, _)| status),
        ));
        fault
    }

    /// The scans the carrier reports to this query of `number` (none: it knows nothing yet);
    /// counts the query when it reports some.
    async fn next_step(&self, number: &str) -> Vec<Scan> {
        let scans = {
            let mut records = self.records.lock().await;
            match records.get_mut(number) {
                Some((steps, asked)) if !steps.is_empty() => {
                    let step = steps[(*asked).min(steps.len() - 1)].clone();
                    *asked += 1;
                    step
                }
                _ => Vec::new(),
            }
        };
        if !scans.is_empty() {
            self.queries
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        scans
    }

    /// Poll requests that carried more than one number (17TRACK batches) or asked for a next
    /// page (AfterShip cursors): (batches, pages after the first).
    pub fn poll_shapes(&self) -> (usize, usize) {
        (
            self.batches.load(std::sync::atomic::Ordering::Relaxed),
            self.next_pages.load(std::sync::atomic::Ordering::Relaxed),
        )
    }

    /// Real-time queries answered with a record, all numbers.
    pub fn queries(&self) -> usize {
        self.queries.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Every real-time query so far: when it came and the HTTP status it got.
    pub async fn query_log(&self) -> Vec<(std::time::Instant, u16)> {
        self.query_log.lock().await.clone()
    }

    /// Real-time queries answered for `number`.
    pub async fn queries_of(&self, number: &str) -> usize {
        self.records.lock().await.get(number).map_or(0, |(_, n)| *n)
    }

    /// The next parcel of `script.carrier` registered takes `script`'s journey.
    pub fn script(&self, script: Script) {
        self.scripts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(script);
    }

    /// The parcels that took a script: (tracking number, the script's name).
    pub fn scripted(&self) -> Vec<(String, String)> {
        self.scripted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The script waiting for the next parcel of `carrier` (a stable code), taken.
    fn take_script(&self, carrier: &str, number: &str) -> Option<Vec<Vec<Scan>>> {
        let mut scripts = self.scripts.lock().unwrap_or_else(|p| p.into_inner());
        let i = scripts.iter().position(|s| s.carrier == carrier)?;
        let script = scripts.remove(i);
        self.scripted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((number.to_string(), script.name));
        Some(script.steps)
    }

    /// Every registration accepted so far.
    pub async fn registrations(&self) -> Vec<Registered> {
        self.registrations.lock().await.clone()
    }

    /// Callbacks the gateway acknowledged.
    pub fn acknowledged(&self) -> usize {
        self.acknowledged.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The scans a registered parcel goes through, as of now: picked up two days ago, out
    /// for delivery three hours ago, delivered one hour ago.
    pub fn journey(now: DateTime<Utc>) -> [Scan; 3] {
        [
            Scan::new(
                now - chrono::Duration::hours(48),
                S::InTransit,
                "Memphis, TN",
                "Picked up",
            ),
            Scan::new(
                now - chrono::Duration::hours(3),
                S::OutForDelivery,
                "Austin, TX",
                "Out for delivery",
            ),
            Scan::new(
                now - chrono::Duration::hours(1),
                S::Delivered,
                "Austin, TX",
                "Delivered, front door",
            ),
        ]
    }

    /// Posts a parcel's journey as the service would: the pickup; then delivery before the
    /// out-for-delivery scan (out of order); the delivery again, byte for byte (a duplicate);
    /// and last the out-for-delivery scan alone (late).
    async fn post_journey(
        self: Arc<Self>,
        scheme: Scheme,
        hook: Webhook,
        carrier: String,
        number: String,
    ) {
        let steps = match self.take_script(&carrier, &number) {
            Some(steps) => steps,
            None => {
                let [pickup, out, delivered] = Self::journey(Utc::now());
                vec![
                    vec![pickup.clone()],
                    vec![pickup.clone(), delivered.clone()],
                    vec![pickup.clone(), delivered],
                    vec![pickup, out],
                ]
            }
        };
        for scans in steps {
            let body = callback(scheme, &carrier, &number, &scans);
            self.post_until_acknowledged(scheme, &hook, &body).await;
        }
    }

    /// Posts one callback, signed, until the answer is the partner's acknowledgement (the
    /// services retry on anything else, for hours); gives up after about a minute.
    pub async fn post_until_acknowledged(
        &self,
        scheme: Scheme,
        hook: &Webhook,
        body: &[u8],
    ) -> bool {
        let path = reqwest::Url::parse(&hook.url)
            .map(|u| u.path().to_string())
            .unwrap_or_default();
        let expected = crate::tracking::ack::accepted(scheme).body;
        for attempt in 0..60u64 {
            let signed = crate::tracking::sign::sign(
                scheme,
                &hook.secret,
                &path,
                body,
                Utc::now().timestamp(),
            );
            let url = match &signed.query {
                Some(q) => format!("{}?{q}", hook.url),
                None => hook.url.clone(),
            };
            let content_type = match scheme {
                Scheme::Kuaidi100 | Scheme::SfExpressForm => "application/x-www-form-urlencoded",
                _ => "application/json",
            };
            let mut req = self
                .client
                .post(url)
                .header("content-type", content_type)
                .body(signed.body.clone());
            for (k, v) in &signed.headers {
                req = req.header(*k, v);
            }
            if let Ok(resp) = req.timeout(Duration::from_secs(10)).send().await {
                let ok = resp.status().is_success();
                let text = resp.bytes().await.unwrap_or_default();
                if ok && text.as_ref() == expected.as_bytes() {
                    self.acknowledged
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    return true;
                }
            }
            tokio::time::sleep(Duration::from_millis(100 * (attempt + 1).min(10))).await;
        }
        false
    }

    async fn accept(
        self: &Arc<Self>,
        scheme: Scheme,
        number: &str,
        carrier: &str,
        hook: Option<Webhook>,
    ) {
        self.registrations.lock().await.push(Registered {
            scheme,
            number: number.to_string(),
            carrier: carrier.to_string(),
        });
        if let Some(hook) = hook.or_else(|| self.webhooks.get(&scheme).cloned()) {
            let code = crate::tracking::carrier::code(carrier);
            tokio::spawn(
                self.clone()
                    .post_journey(scheme, hook, code, number.to_string()),
            );
        }
    }

    /// The carrier a number was registered with at `scheme`, if it was.
    async fn carrier_of(&self, scheme: Scheme, number: &str) -> Option<String> {
        self.registrations
            .lock()
            .await
            .iter()
            .find(|r| r.scheme == scheme && r.number == number)
            .map(|r| r.carrier.clone())
    }

    async fn known(&self, scheme: Scheme, number: &str) -> bool {
        self.registrations
            .lock()
            .await
            .iter()
            .any(|r| r.scheme == scheme && r.number == number)
    }
}

/// The simulators' routes on one server.
pub fn router(sim: Arc<TrackerSim>) -> Router {
    Router::new()
        .route("/v2/trackers", post(easypost_create).get(easypost_list))
        .route(
            "/tracking/2024-07/trackings",
            post(aftership_create).get(aftership_list),
        )
        .route("/track/v2.2/register", post(seventeen_register))
        .route("/track/v2.2/gettrackinfo", post(seventeen_gettrackinfo))
        .route("/poll", post(kuaidi100_poll))
        .route("/poll/query.do", post(kuaidi100_query))
        .route("/tracks/", post(shippo_create))
        .route("/tracks/{carrier}/{number}", get(shippo_get))
        .route("/sim/registrations", get(registrations))
        .with_state(sim)
}

/// Serves the simulators on `addr` until `shutdown`; returns the bound address.
pub async fn serve(
    addr: std::net::SocketAddr,
    sim: Arc<TrackerSim>,
    shutdown: tokio_util::sync::CancellationToken,
) -> std::io::Result<std::net::SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, router(sim))
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await;
    });
    Ok(bound)
}

fn basic_user(headers: &HeaderMap) -> Option<String> {
    use base64::Engine;
    let v = headers
        .get("authorization")?
        .to_str()
        .ok()?
        .strip_prefix("Basic ")?;
    let raw = base64::engine::general_purpose::STANDARD.decode(v).ok()?;
    String::from_utf8(raw)
        .ok()?
        .split(':')
        .next()
        .map(str::to_string)
}

fn error(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

/// A queued fault's status (503 when it is not a status).
fn fault_status(status: u16) -> StatusCode {
    StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE)
}

/// `resp` with `header: value` when there is a value.
fn with_header(mut resp: Response, header: &'static str, value: Option<u64>) -> Response {
    if let Some(v) = value.and_then(|v| axum::http::HeaderValue::from_str(&v.to_string()).ok()) {
        resp.headers_mut().insert(header, v);
    }
    resp
}

/// 17TRACK `POST /track/v2.2/gettrackinfo` (header `17token`, up to 40 numbers): each
/// registered number's tracking as the `TRACKING_UPDATED` push carries it in `data`
/// (`NotFound` while the carrier has reported nothing), each unregistered one rejected with
/// -18019902; an authorized request gets a queued fault instead (429, 503), as 17TRACK
/// answers over its rate.
async fn seventeen_gettrackinfo(
    State(sim): State<Arc<TrackerSim>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if headers.get("17token").and_then(|v| v.to_str().ok()) != Some(sim.api_key.as_str()) {
        return error(
            StatusCode::UNAUTHORIZED,
            json!({"code": -18010002, "data": {"errors": [{"code": -18010002, "message": "Invalid security key."}]}}),
        );
    }
    if let Some((status, retry_after)) = sim.take_fault().await {
        return with_header(
            error(
                fault_status(status),
                json!({"code": status, "data": {"errors": [{"code": status, "message": "Too many requests."}]}}),
            ),
            "retry-after",
            retry_after,
        );
    }
    let items: Vec<Value> = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default();
    if items.is_empty() || items.len() > 40 {
        let (code, message) = if items.is_empty() {
            (-18010013, "Invalid submitted data.")
        } else {
            (-18010014, "Tracking numbers exceed the 40 limit.")
        };
        return Json(
            json!({"code": code, "data": {"errors": [{"code": code, "message": message}]}}),
        )
        .into_response();
    }
    if items.len() > 1 {
        sim.batches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    let mut accepted = Vec::new();
    let mut rejected = Vec::new();
    for item in items {
        let number = item["number"].as_str().unwrap_or_default().to_string();
        let Some(carrier) = sim.carrier_of(Scheme::SeventeenTrack, &number).await else {
            rejected.push(json!({"number": number, "error": {"code": -18_019_902,
                "message": format!("Tracking number {number} is not registered yet. Register first.")}}));
            continue;
        };
        let scans = sim.next_step(&number).await;
        let push: Value =
            serde_json::from_slice(&callback(Scheme::SeventeenTrack, &carrier, &number, &scans))
                .unwrap_or(Value::Null);
        let mut data = push["data"].clone();
        if scans.is_empty() {
            data["track_info"] = json!({"latest_status": {"status": "NotFound", "sub_status": "NotFound_Other"},
                                        "tracking": {"providers": []}});
        }
        accepted.push(data);
    }
    Json(json!({"code": 0, "data": {"accepted": accepted, "rejected": rejected}})).into_response()
}

/// AfterShip `GET /tracking/2024-07/trackings` (header `as-api-key`; `tracking_numbers` up to
/// 50, `limit` up to 200, `cursor`): the account's trackings of those numbers as the
/// `tracking_update` webhook carries them in `msg` (tag `Pending` while the carrier has
/// reported nothing), paged by an opaque cursor; an authorized request gets a queued fault
/// instead, a 429 with `X-RateLimit-Reset` (the Unix time its window resets) as AfterShip's
/// Tracking API sends it.
async fn aftership_list(
    State(sim): State<Arc<TrackerSim>>,
    headers: HeaderMap,
    axum::extract::Query(q): axum::extract::Query<HashMap<String, String>>,
) -> Response {
    if headers.get("as-api-key").and_then(|v| v.to_str().ok()) != Some(sim.api_key.as_str()) {
        return error(
            StatusCode::UNAUTHORIZED,
            json!({"meta": {"code": 401, "message": "Invalid API key.", "type": "Unauthorized"}, "data": {}}),
        );
    }
    if let Some((status, wait)) = sim.take_fault().await {
        let resp = error(
            fault_status(status),
            json!({"meta": {"code": if status == 429 {429} else {500}, "type": if status == 429 {"TooManyRequests"} else {"InternalError"},
                            "message": "Something went wrong."}, "data": {}}),
        );
        let reset = wait.map(|w| Utc::now().timestamp().unsigned_abs() + w);
        return with_header(resp, "x-ratelimit-reset", reset);
    }
    let numbers: Vec<String> = q
        .get("tracking_numbers")
        .map(|n| n.split(',').map(str::to_string).collect())
        .unwrap_or_default();
    let limit = q.get("limit").map_or(Ok(100), |l| l.parse::<usize>());
    let (Ok(limit @ 1..=200), true) = (limit, numbers.len() <= 50) else {
        return error(
            StatusCode::BAD_REQUEST,
            json!({"meta": {"code": 4001, "message": "Invalid limit or more than 50 tracking numbers.", "type": "BadRequest"}, "data": {}}),
        );
    };
    let offset = match q.get("cursor") {
        None => 0,
        Some(c) => {
            sim.next_pages
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            c.strip_prefix("c-")
                .and_then(|n| n.parse::<usize>().ok())
                .unwrap_or(usize::MAX)
        }
    };
    let mut listed: Vec<Registered> = Vec::new();
    for r in sim.registrations().await {
        if r.scheme == Scheme::AfterShip
            && numbers.contains(&r.number)
            && !listed.iter().any(|l| l.number == r.number)
        {
            listed.push(r);
        }
    }
    let total = listed.len();
    let mut trackings = Vec::new();
    for r in listed.iter().skip(offset).take(limit) {
        let scans = sim.next_step(&r.number).await;
        let hook: Value = serde_json::from_slice(&callback(
            Scheme::AfterShip,
            &crate::tracking::carrier::code(&r.carrier),
            &r.number,
            &scans,
        ))
        .unwrap_or(Value::Null);
        let mut msg = hook["msg"].clone();
        if scans.is_empty() {
            msg["tag"] = json!("Pending");
        }
        trackings.push(msg);
    }
    let end = offset.saturating_add(limit);
    let more = end < total;
    Json(json!({"meta": {"code": 200, "message": "", "type": "OK"},
                "data": {"pagination": {"total": total, "next_cursor": if more { format!("c-{end}") } else { String::new() },
                                        "has_next_page": more},
                         "trackings": trackings}}))
    .into_response()
}

async fn easypost_create(
    State(sim): State<Arc<TrackerSim>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if basic_user(&headers).as_deref() != Some(sim.api_key.as_str()) {
        return error(
            StatusCode::UNAUTHORIZED,
            json!({"error": {"code": "APIKEY.INACTIVE", "message": "API key is invalid"}}),
        );
    }
    let number = body["tracker"]["tracking_code"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let carrier = body["tracker"]["carrier"]
        .as_str()
        .unwrap_or("USPS")
        .to_string();
    if number.is_empty() {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"error": {"code": "TRACKER.TRACKING_CODE.INVALID", "message": "tracking_code is required"}}),
        );
    }
    // Not idempotent: every create is a new tracker. A slow create goes on when its caller
    // stops waiting, as a real server's does (axum drops the handler when the client hangs up).
    let made = {
        let (sim, number, carrier, delay) = (
            sim.clone(),
            number.clone(),
            carrier.clone(),
            sim.create_delay(),
        );
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            sim.accept(Scheme::EasyPost, &number, &carrier, None).await;
        })
    };
    let _ = made.await;
    if sim.lose_answer() {
        return error(
            StatusCode::BAD_GATEWAY,
            json!({"error": {"code": "INTERNAL_SERVER_ERROR", "message": "Bad gateway."}}),
        );
    }
    let id = format!("trk_{}", uuid::Uuid::new_v4().simple());
    (StatusCode::CREATED, Json(json!({"id": id, "object": "Tracker", "tracking_code": number, "carrier": carrier, "status": "unknown"}))).into_response()
}

async fn easypost_list(
    State(sim): State<Arc<TrackerSim>>,
    headers: HeaderMap,
    axum::extract::Query(q): axum::extract::Query<HashMap<String, String>>,
) -> Response {
    if basic_user(&headers).as_deref() != Some(sim.api_key.as_str()) {
        return error(
            StatusCode::UNAUTHORIZED,
            json!({"error": {"code": "APIKEY.INACTIVE", "message": "API key is invalid"}}),
        );
    }
    if let Some((status, retry_after)) = sim.take_fault().await {
        return with_header(
            error(
                fault_status(status),
                json!({"error": {"code": if status == 429 { "RATE_LIMITED" } else { "INTERNAL_SERVER_ERROR" }, "message": "The request could not be served."}}),
            ),
            "retry-after",
            retry_after,
        );
    }
    let number = q.get("tracking_code").cloned().unwrap_or_default();
    let trackers: Vec<Value> = sim
        .registrations()
        .await
        .iter()
        .filter(|r| r.scheme == Scheme::EasyPost && r.number == number)
        .enumerate()
        .map(|(i, r)| json!({"id": format!("trk_{}_{i}", r.number), "tracking_code": r.number, "carrier": r.carrier}))
        .collect();
    Json(json!({"trackers": trackers, "has_more": false})).into_response()
}

async fn aftership_create(
    State(sim): State<Arc<TrackerSim>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if headers.get("as-api-key").and_then(|v| v.to_str().ok()) != Some(sim.api_key.as_str()) {
        return error(
            StatusCode::UNAUTHORIZED,
            json!({"meta": {"code": 401, "message": "Invalid API key.", "type": "Unauthorized"}, "data": {}}),
        );
    }
    let number = body["tracking_number"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let slug = body["slug"].as_str().unwrap_or("fedex").to_string();
    if sim.known(Scheme::AfterShip, &number).await {
        return error(
            StatusCode::BAD_REQUEST,
            json!({"meta": {"code": 4003, "message": "Tracking already exists.", "type": "BadRequest"}, "data": {}}),
        );
    }
    sim.accept(Scheme::AfterShip, &number, &slug, None).await;
    (StatusCode::CREATED, Json(json!({"meta": {"code": 201}, "data": {"id": uuid::Uuid::new_v4().simple().to_string(), "tracking_number": number, "slug": slug}}))).into_response()
}

async fn seventeen_register(
    State(sim): State<Arc<TrackerSim>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if headers.get("17token").and_then(|v| v.to_str().ok()) != Some(sim.api_key.as_str()) {
        return error(
            StatusCode::UNAUTHORIZED,
            json!({"code": -1, "data": {"errors": [{"code": -18010002, "message": "Invalid access key."}]}}),
        );
    }
    let mut accepted = Vec::new();
    let mut rejected = Vec::new();
    for item in body.as_array().into_iter().flatten().take(40) {
        let number = item["number"].as_str().unwrap_or_default().to_string();
        if sim.known(Scheme::SeventeenTrack, &number).await {
            rejected.push(json!({"number": number, "error": {"code": -18_019_901, "message": "The tracking number already registered."}}));
        } else {
            let carrier = match item["carrier"].as_i64() {
                Some(21051) => "usps",
                Some(100_002) => "ups",
                Some(100_003) => "fedex",
                Some(100_001) => "dhl",
                _ => "unknown",
            };
            sim.accept(Scheme::SeventeenTrack, &number, carrier, None)
                .await;
            accepted.push(json!({"number": number, "carrier": 100_002}));
        }
    }
    Json(json!({"code": 0, "data": {"accepted": accepted, "rejected": rejected}})).into_response()
}

async fn kuaidi100_poll(State(sim): State<Arc<TrackerSim>>, body: axum::body::Bytes) -> Response {
    let param: Value = form_urlencoded::parse(&body)
        .find(|(k, _)| k == "param")
        .and_then(|(_, v)| serde_json::from_str(&v).ok())
        .unwrap_or(Value::Null);
    if param["key"].as_str() != Some(sim.api_key.as_str()) {
        return Json(
            json!({"result": false, "returnCode": "601", "message": "POLL:KEY已过期或不存在"}),
        )
        .into_response();
    }
    let number = param["number"].as_str().unwrap_or_default().to_string();
    let company = param["company"].as_str().unwrap_or_default().to_string();
    let url = param["parameters"]["callbackurl"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let salt = param["parameters"]["salt"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if number.is_empty() || url.is_empty() {
        return Json(json!({"result": false, "returnCode": "700", "message": "参数错误"}))
            .into_response();
    }
    if sim.known(Scheme::Kuaidi100, &number).await {
        return Json(json!({"result": false, "returnCode": "501", "message": "重复订阅"}))
            .into_response();
    }
    sim.accept(
        Scheme::Kuaidi100,
        &number,
        &company,
        Some(Webhook { url, secret: salt }),
    )
    .await;
    Json(json!({"result": true, "returnCode": "200", "message": "提交成功"})).into_response()
}

async fn registrations(State(sim): State<Arc<TrackerSim>>) -> Response {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for r in sim.registrations().await {
        *counts.entry(r.scheme.name()).or_default() += 1;
    }
    Json(json!({"registrations": counts, "acknowledged": sim.acknowledged()})).into_response()
}

fn shippo_authorized(sim: &TrackerSim, headers: &HeaderMap) -> bool {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("ShippoToken "))
        == Some(sim.api_key.as_str())
}

/// A Shippo Track object as `GET /tracks/{carrier}/{number}` and the create answer it.
fn shippo_track(carrier: &str, number: &str, metadata: Option<&str>) -> Value {
    json!({"carrier": carrier, "tracking_number": number, "metadata": metadata,
           "eta": null, "servicelevel": {"token": null, "name": null},
           "tracking_status": {"status": "UNKNOWN", "status_details": "", "status_date": null},
           "tracking_history": [], "transaction": null, "test": true})
}

/// Shippo `POST /tracks/` (JSON or form): registers a webhook for the number. Not idempotent:
/// a repeated create is a second registration (and every update is posted twice).
async fn shippo_create(
    State(sim): State<Arc<TrackerSim>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if !shippo_authorized(&sim, &headers) {
        return error(
            StatusCode::UNAUTHORIZED,
            json!({"detail": "Invalid token."}),
        );
    }
    let json_body: Option<Value> = serde_json::from_slice(&body).ok();
    let field = |name: &str| -> String {
        match &json_body {
            Some(v) => v[name].as_str().unwrap_or_default().to_string(),
            None => form_urlencoded::parse(&body)
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default(),
        }
    };
    let (carrier, number, metadata) = (
        field("carrier"),
        field("tracking_number"),
        field("metadata"),
    );
    if carrier.is_empty() || number.is_empty() {
        return error(
            StatusCode::BAD_REQUEST,
            json!({"carrier": ["This field is required."], "tracking_number": ["This field is required."]}),
        );
    }
    sim.shippo_tracks
        .lock()
        .await
        .insert((carrier.clone(), number.clone()), metadata.clone());
    sim.accept(Scheme::Shippo, &number, &carrier, None).await;
    if sim.lose_answer() {
        return error(StatusCode::BAD_GATEWAY, json!({"detail": "Bad gateway."}));
    }
    (
        StatusCode::CREATED,
        Json(shippo_track(&carrier, &number, Some(&metadata))),
    )
        .into_response()
}

/// Shippo `GET /tracks/{carrier}/{number}`: the number's status, whether registered or not;
/// `metadata` is what the registration gave (null when never registered).
async fn shippo_get(
    State(sim): State<Arc<TrackerSim>>,
    headers: HeaderMap,
    axum::extract::Path((carrier, number)): axum::extract::Path<(String, String)>,
) -> Response {
    if !shippo_authorized(&sim, &headers) {
        return error(
            StatusCode::UNAUTHORIZED,
            json!({"detail": "Invalid token."}),
        );
    }
    let metadata = sim
        .shippo_tracks
        .lock()
        .await
        .get(&(carrier.clone(), number.clone()))
        .cloned();
    Json(shippo_track(&carrier, &number, metadata.as_deref())).into_response()
}

/// Kuaidi100 real-time query `POST /poll/query.do` (form `customer`, `sign`, `param`): the
/// sign checked (upper-case MD5 of `param + key + customer`), then the number's record as it
/// stands (`returnCode` 500 查询无结果 for a number the carrier does not know), or the fault
/// queued for this query (429 with `Retry-After`, 503).
async fn kuaidi100_query(State(sim): State<Arc<TrackerSim>>, body: axum::body::Bytes) -> Response {
    if let Some((status, retry_after)) = sim.take_fault().await {
        return with_header(
            error(
                fault_status(status),
                json!({"result": false, "returnCode": status.to_string(), "message": "服务器繁忙"}),
            ),
            "retry-after",
            retry_after,
        );
    }
    let field = |name: &str| {
        form_urlencoded::parse(&body)
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    let (customer, sign, param) = (field("customer"), field("sign"), field("param"));
    let expected = crate::tracking::sign::md5_upper(&[
        param.as_bytes(),
        sim.api_key.as_bytes(),
        customer.as_bytes(),
    ]);
    if customer.is_empty() || sign != expected {
        return Json(json!({"result": false, "returnCode": "503", "message": "验证签名失败"}))
            .into_response();
    }
    let param: Value = serde_json::from_str(&param).unwrap_or(Value::Null);
    let (number, com) = (
        param["num"].as_str().unwrap_or_default().to_string(),
        param["com"].as_str().unwrap_or_default().to_string(),
    );
    let scans = sim.next_step(&number).await;
    if scans.is_empty() {
        return Json(
            json!({"result": false, "returnCode": "500", "message": "查询无结果，请隔段时间再查"}),
        )
        .into_response();
    }
    let code = crate::tracking::carrier::code(&com);
    let push: Value = serde_json::from_slice(&callback(Scheme::Kuaidi100, &code, &number, &scans))
        .unwrap_or(Value::Null);
    Json(push["lastResult"].clone()).into_response()
}
