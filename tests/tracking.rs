//! The tracking stage, the delay sweep and aggregator subscriptions through the real daemon:
//! signed callbacks over HTTP attach to their parcel and move its order (never backwards),
//! duplicates and late news change nothing, two parcels keep their own histories, unknown
//! numbers wait for their parcel, delays raise one exception that closes by itself, hostile
//! callbacks are parked with reasons, and the whole way from shipped to delivered with the
//! sandbox trackers registering parcels and posting callbacks, the daemon SIGKILLed once.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failed unwrap is a failed test.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use chrono::Utc;
use common::{wait_until, Profile, TestEnv};
use ordergate::app::Daemon;
use ordergate::config::Config;
use ordergate::model::{EventType, TrackingStatus as S, Trigger};
use ordergate::sandbox::trackers::{self, Scan, TrackerSim, Webhook};
use ordergate::store::{NewShipment, Store};
use ordergate::tracking::Scheme;

const WAIT: Duration = Duration::from_secs(30);

fn secret_of(scheme: Scheme) -> String {
    format!("{}-secret-7f3a", scheme.name())
}

fn connector_of(scheme: Scheme) -> String {
    format!("trk-{}", scheme.name())
}

/// One tracking connector per scheme, secrets in files.
fn connectors(env: &TestEnv) -> String {
    let mut out = String::new();
    for scheme in Scheme::ALL {
        let file = env.dir.path().join(format!("{}.secret", scheme.name()));
        std::fs::write(&file, secret_of(scheme)).unwrap();
        out.push_str(&format!(
            "[[connectors]]\nkind = \"tracking\"\nname = \"{}\"\nscheme = \"{}\"\nsecret = \"file:{}\"\n",
            connector_of(scheme),
            scheme.name(),
            file.display()
        ));
    }
    out
}

struct Rig {
    _env: TestEnv,
    daemon: Daemon,
    cfg: Config,
    base: String,
}

async fn start(profile: Profile, tracking: &str) -> Rig {
    start_stages(profile, tracking, &[]).await
}

/// [`start`] with a daemon that runs only `stages` (all when empty).
async fn start_stages(profile: Profile, tracking: &str, stages: &[&str]) -> Rig {
    let env = TestEnv::new(profile).await;
    let extra = format!("[tracking]\n{tracking}\n\n{}", connectors(&env));
    let mut cfg = env.config(&common::mappings_dir(), &extra);
    cfg.http.listen = "127.0.0.1:0".into();
    cfg.pipeline.stages = stages.iter().map(|s| s.to_string()).collect();
    let daemon = Daemon::start(&cfg).await.unwrap();
    let base = format!("http://{}", daemon.http_addr.unwrap());
    Rig {
        _env: env,
        daemon,
        cfg,
        base,
    }
}

impl Rig {
    fn store(&self) -> &Store {
        &self.daemon.store
    }

    fn hook(&self, scheme: Scheme) -> Webhook {
        Webhook {
            url: format!("{}/hooks/tracking/{}", self.base, connector_of(scheme)),
            secret: secret_of(scheme),
        }
    }

    /// Posts a callback as the partner does, until acknowledged.
    async fn post(&self, scheme: Scheme, body: &[u8]) {
        let sim = TrackerSim::new("k", HashMap::new());
        assert!(
            sim.post_until_acknowledged(scheme, &self.hook(scheme), body)
                .await,
            "{scheme} callback acknowledged"
        );
    }
}

/// An order (the Shopify sample, source id `n`) driven to `shipped`, as the warehouse stage
/// would leave it.
async fn shipped_order(store: &Store, n: u64) -> String {
    let mappings = ordergate::mapping::MappingSet::load(&common::mappings_dir()).unwrap();
    let normalizer = ordergate::normalize::Normalizer::new(mappings);
    let mut order = normalizer
        .normalize("shopify", &[common::shopify_order(n).as_slice()])
        .unwrap()
        .remove(0);
    order.source.connector = "shop".into();
    let mut tx = store.begin().await.unwrap();
    let id = Store::upsert_order(&mut tx, &mut order, None)
        .await
        .unwrap()
        .order_id()
        .to_string();
    for t in [
        Trigger::Approve,
        Trigger::Allocate,
        Trigger::RequestFulfilment,
        Trigger::Ship,
    ] {
        Store::transition(&mut tx, &id, t, "test", None)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    id
}

/// Records a parcel and announces it (`shipment.created` through the outbox), as the warehouse
/// stage does.
async fn ship(
    rig: &Rig,
    order: &str,
    carrier: &str,
    number: &str,
    promised_at: Option<i64>,
) -> String {
    let store = rig.store();
    let parcel = NewShipment {
        order_id: order,
        warehouse: Some("wh-test"),
        carrier,
        carrier_name: None,
        tracking_number: number,
        service: None,
        promised_at,
        eta: None,
        items: serde_json::json!([]),
    };
    let mut tx = store.begin().await.unwrap();
    let (id, created) = Store::record_shipment(&mut tx, &parcel)
        .await
        .unwrap()
        .shipment()
        .unwrap();
    assert!(created);
    let event = parcel.created_event(&id);
    Store::outbox_insert(&mut tx, &[&event]).await.unwrap();
    tx.commit().await.unwrap();
    ordergate::outbox::publish_committed(store, rig.daemon.bus.as_ref(), &[event]).await;
    id
}

async fn state(store: &Store, order: &str) -> String {
    store.order(order).await.unwrap().unwrap().state
}

async fn audit_count(store: &Store, order: &str, kind: &str) -> usize {
    store
        .order_events(order)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.kind == kind)
        .count()
}

fn hours_ago(h: i64) -> chrono::DateTime<Utc> {
    Utc::now() - chrono::Duration::hours(h)
}

/// Each scheme's sample callback (and SF Express's form push) attaches to the parcel shipped
/// with that number and moves its order to `in_transit`; the parcel keeps every event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scheme_attaches_to_its_parcel_and_moves_the_order() {
    let rig = start(Profile::Standalone, "sweep_interval_ms = 0").await;
    let samples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/samples");
    let mappings = ordergate::mapping::MappingSet::load(&common::mappings_dir()).unwrap();
    let mut cases: Vec<(Scheme, Vec<u8>)> = Vec::new();
    for (format, case, payload) in common::facts::TRACKING_SAMPLES {
        let body = std::fs::read(samples.join(case).join(payload)).unwrap();
        let scheme = Scheme::for_format(format, &body).unwrap();
        let input = if scheme == Scheme::Kuaidi100 {
            form_urlencoded::parse(&body)
                .find(|(k, _)| k == "param")
                .map(|(_, v)| v.into_owned().into_bytes())
                .unwrap()
        } else {
            body
        };
        cases.push((scheme, input));
    }
    let form = trackers::callback(
        Scheme::SfExpressForm,
        "sf-express",
        "SF7700112233",
        &[Scan::new(
            hours_ago(5),
            S::InTransit,
            "深圳市",
            "已收取快件",
        )],
    );
    cases.push((Scheme::SfExpressForm, form));
    for (n, (scheme, input)) in cases.iter().enumerate() {
        let full = if *scheme == Scheme::Kuaidi100 {
            ordergate::tracking::sign::sign(*scheme, "x", "/", input, 0).body
        } else {
            input.clone()
        };
        let update = ordergate::tracking::normalize(&mappings, *scheme, &full)
            .unwrap()
            .remove(0);
        let order = shipped_order(rig.store(), 100 + n as u64).await;
        // The warehouse names the carrier its own way.
        let name = update
            .carrier_name
            .clone()
            .unwrap_or(update.carrier.clone());
        let parcel = ship(&rig, &order, &name, &update.tracking_number, None).await;
        rig.post(*scheme, input).await;
        wait_until(WAIT, &format!("{scheme}: order in transit"), || async {
            state(rig.store(), &order).await == "in_transit"
        })
        .await;
        let s = rig.store().shipment(&parcel).await.unwrap().unwrap();
        assert_eq!(
            s.status,
            ordergate::tracking::lattice::name(update.status),
            "{scheme}"
        );
        let history = rig.store().shipment_events(&parcel).await.unwrap();
        assert_eq!(history.len(), update.events.len().max(1), "{scheme}");
        assert_eq!(
            audit_count(rig.store(), &order, "scan").await,
            1,
            "{scheme}"
        );
    }
    rig.daemon.stop().await;
}

/// Two parcels of one order, each posted out of order, duplicated and late: each keeps its own
/// history, neither goes back from delivered, the order is delivered once, when both are.
async fn two_parcels_out_of_order_duplicate_and_late(profile: Profile) {
    let rig = start(profile, "sweep_interval_ms = 0").await;
    let mut observer = common::observe(
        &rig.daemon.bus,
        &rig.cfg,
        "trk-obs",
        &[EventType::ORDER_DELIVERED, "shipment.*"],
    )
    .await;
    let store = rig.store().clone();
    let order = shipped_order(&store, 7).await;
    let a = ship(&rig, &order, "FedEx", "771600000001", None).await;
    let b = ship(&rig, &order, "UPS", "1Z999AA10000000002", None).await;
    let [pickup, out, delivered] = TrackerSim::journey(Utc::now());

    // Parcel A: delivered before its out-for-delivery scan, the delivery resent, then late news.
    let a_delivered = trackers::callback(
        Scheme::AfterShip,
        "fedex",
        "771600000001",
        &[pickup.clone(), delivered.clone()],
    );
    rig.post(Scheme::AfterShip, &a_delivered).await;
    wait_until(WAIT, "parcel A delivered", || async {
        store.shipment(&a).await.unwrap().unwrap().is_delivered()
    })
    .await;
    assert_eq!(
        state(&store, &order).await,
        "in_transit",
        "B is not delivered yet"
    );
    rig.post(Scheme::AfterShip, &a_delivered).await;
    assert_eq!(
        store
            .raw_count(&connector_of(Scheme::AfterShip))
            .await
            .unwrap(),
        1,
        "one document"
    );
    let late = trackers::callback(
        Scheme::AfterShip,
        "fedex",
        "771600000001",
        &[pickup.clone(), out.clone()],
    );
    rig.post(Scheme::AfterShip, &late).await;
    wait_until(WAIT, "parcel A's late scan merged", || async {
        store.shipment_events(&a).await.unwrap().len() == 3
    })
    .await;
    let sa = store.shipment(&a).await.unwrap().unwrap();
    assert_eq!(
        sa.status, "delivered",
        "delivered is never followed by out_for_delivery"
    );

    // Parcel B, through another aggregator: its own history.
    let b_first = trackers::callback(
        Scheme::EasyPost,
        "ups",
        "1Z999AA10000000002",
        std::slice::from_ref(&pickup),
    );
    rig.post(Scheme::EasyPost, &b_first).await;
    wait_until(WAIT, "parcel B in transit", || async {
        store
            .shipment(&b)
            .await
            .unwrap()
            .unwrap()
            .first_scan_at
            .is_some()
    })
    .await;
    assert_eq!(store.shipment_events(&b).await.unwrap().len(), 1);
    assert_eq!(
        store.shipment_events(&a).await.unwrap().len(),
        3,
        "A's history is A's"
    );
    let b_done = trackers::callback(
        Scheme::EasyPost,
        "ups",
        "1Z999AA10000000002",
        &[pickup.clone(), delivered.clone()],
    );
    rig.post(Scheme::EasyPost, &b_done).await;
    wait_until(WAIT, "order delivered", || async {
        state(&store, &order).await == "delivered"
    })
    .await;
    let b_late = trackers::callback(
        Scheme::EasyPost,
        "ups",
        "1Z999AA10000000002",
        &[pickup, out],
    );
    rig.post(Scheme::EasyPost, &b_late).await;
    wait_until(WAIT, "parcel B's late scan merged", || async {
        store.shipment_events(&b).await.unwrap().len() == 3
    })
    .await;
    assert_eq!(state(&store, &order).await, "delivered");
    assert_eq!(audit_count(&store, &order, "deliver").await, 1);
    assert_eq!(audit_count(&store, &order, "scan").await, 1);

    let events = common::drain(&mut observer, Duration::from_secs(2)).await;
    let distinct = |kind: &str| {
        events
            .iter()
            .filter(|e| e.kind == kind)
            .map(|e| e.id)
            .collect::<std::collections::HashSet<_>>()
            .len()
    };
    assert_eq!(distinct(EventType::ORDER_DELIVERED), 1, "{events:?}");
    assert_eq!(distinct(EventType::SHIPMENT_DELIVERED), 2);
    assert_eq!(distinct(EventType::SHIPMENT_IN_TRANSIT), 2);
    rig.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_parcels_out_of_order_duplicate_and_late_standalone() {
    two_parcels_out_of_order_duplicate_and_late(Profile::Standalone).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_parcels_out_of_order_duplicate_and_late_cluster() {
    two_parcels_out_of_order_duplicate_and_late(Profile::Cluster).await;
}

/// News for a number nobody shipped is kept with one exception; when the parcel is reported it
/// is attached, the order moves, and the exception closes by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_number_is_kept_and_attached_later() {
    let rig = start(Profile::Standalone, "sweep_interval_ms = 0").await;
    let store = rig.store().clone();
    let number = "YT0000000000042";
    let scans = [
        Scan::new(hours_ago(30), S::InTransit, "杭州市", "【杭州市】已揽收"),
        Scan::new(
            hours_ago(20),
            S::InTransit,
            "上海市",
            "已到达【上海转运中心】",
        ),
    ];
    for n in 1..=2 {
        let body = trackers::callback(Scheme::Kuaidi100, "yto", number, &scans[..n]);
        rig.post(Scheme::Kuaidi100, &body).await;
    }
    wait_until(WAIT, "two kept updates", || async {
        store.unattached_count().await.unwrap() == 2
    })
    .await;
    let open: Vec<_> = store
        .exceptions(false, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "tracking_unknown_number")
        .collect();
    assert_eq!(open.len(), 1, "one exception per number: {open:?}");
    assert!(!open[0].reason.contains(number) || open[0].reason.contains("yto"));

    let order = shipped_order(&store, 42).await;
    let parcel = ship(&rig, &order, "圆通速递", number, None).await;
    wait_until(WAIT, "kept updates attached", || async {
        state(&store, &order).await == "in_transit"
    })
    .await;
    assert_eq!(store.unattached_count().await.unwrap(), 0);
    assert_eq!(store.shipment_events(&parcel).await.unwrap().len(), 2);
    let all = store.exceptions(true, 100).await.unwrap();
    let e = all.iter().find(|e| e.id == open[0].id).unwrap();
    assert_eq!(e.status, "resolved");
    assert!(e
        .resolution
        .as_deref()
        .unwrap()
        .contains("closed by itself"));
    assert_eq!(audit_count(&store, &order, "exception_closed").await, 1);
    rig.daemon.stop().await;
}

/// A stage's periodic work runs where the stage does: a daemon running only `normalize`
/// never sweeps (a parcel past its promised date raises nothing); one running `track` on the
/// same store does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_runs_only_where_the_track_stage_does() {
    let rig = start_stages(
        Profile::Standalone,
        "sweep_interval_ms = 100",
        &["normalize"],
    )
    .await;
    let store = rig.store().clone();
    let order = shipped_order(&store, 71).await;
    let promised = (Utc::now() - chrono::Duration::hours(2)).timestamp_millis();
    ship(&rig, &order, "UPS", "1Z000NOSWEEP", Some(promised)).await;
    let late = |store: Store| async move {
        store
            .exceptions(true, 500)
            .await
            .unwrap()
            .iter()
            .filter(|e| e.kind == "shipment_late")
            .count()
    };
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(late(store).await, 0, "no sweep without the track stage");
    let Rig {
        _env, daemon, cfg, ..
    } = rig;
    daemon.stop().await;
    let mut cfg = cfg;
    cfg.pipeline.stages = vec!["track".into()];
    let daemon = Daemon::start(&cfg).await.unwrap();
    let store = daemon.store.clone();
    wait_until(WAIT, "the track stage's sweep", || async {
        late(store.clone()).await == 1
    })
    .await;
    daemon.stop().await;
}

/// The sweep: a parcel past its promised date raises one exception (not one per sweep), closed
/// by itself when delivered; a parcel quiet for days is suspected lost and closes when scanned
/// again; a carrier's damage report raises an exception in the carrier's words.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delays_losses_and_damage_raise_one_exception_each_that_closes_by_itself() {
    let rig = start(
        Profile::Standalone,
        "sweep_interval_ms = 100\nlost_after_days = 5\ndepartment = \"transport\"",
    )
    .await;
    let store = rig.store().clone();
    let late_order = shipped_order(&store, 61).await;
    let promised = (Utc::now() - chrono::Duration::hours(2)).timestamp_millis();
    let late = ship(&rig, &late_order, "UPS", "1Z000LATE", Some(promised)).await;
    let by_kind = |kind: &'static str| {
        let store = store.clone();
        async move {
            store
                .exceptions(true, 500)
                .await
                .unwrap()
                .into_iter()
                .filter(|e| e.kind == kind)
                .collect::<Vec<_>>()
        }
    };
    wait_until(WAIT, "a late exception", || async {
        !by_kind("shipment_late").await.is_empty()
    })
    .await;
    // Several more sweeps: still one.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let raised = by_kind("shipment_late").await;
    assert_eq!(raised.len(), 1, "{raised:?}");
    assert_eq!(raised[0].department, "transport");
    assert!(raised[0].due_at.is_some());
    assert_eq!(
        audit_count(&store, &late_order, "shipment_delayed").await,
        1
    );
    let [pickup, _, delivered] = TrackerSim::journey(Utc::now());
    let body = trackers::callback(Scheme::AfterShip, "ups", "1Z000LATE", &[pickup, delivered]);
    rig.post(Scheme::AfterShip, &body).await;
    wait_until(WAIT, "late exception closed on delivery", || async {
        by_kind("shipment_late").await[0].status == "resolved"
    })
    .await;
    assert!(by_kind("shipment_late").await[0]
        .resolution
        .as_deref()
        .unwrap()
        .contains("delivered"));
    assert!(store.shipment(&late).await.unwrap().unwrap().is_delivered());

    // Quiet for ten days: suspected lost; a new scan closes it.
    let lost_order = shipped_order(&store, 62).await;
    ship(&rig, &lost_order, "DHL Express", "JD0000LOST", None).await;
    let old = trackers::callback(
        Scheme::EasyPost,
        "dhl",
        "JD0000LOST",
        &[Scan::new(
            hours_ago(240),
            S::InTransit,
            "Leipzig",
            "Processed",
        )],
    );
    rig.post(Scheme::EasyPost, &old).await;
    wait_until(WAIT, "a lost exception", || async {
        !by_kind("shipment_lost").await.is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(by_kind("shipment_lost").await.len(), 1);
    let again = trackers::callback(
        Scheme::EasyPost,
        "dhl",
        "JD0000LOST",
        &[
            Scan::new(hours_ago(240), S::InTransit, "Leipzig", "Processed"),
            Scan::new(hours_ago(1), S::InTransit, "Austin", "Arrived at facility"),
        ],
    );
    rig.post(Scheme::EasyPost, &again).await;
    wait_until(WAIT, "lost exception closed on a new scan", || async {
        by_kind("shipment_lost").await[0].status == "resolved"
    })
    .await;

    // Damage in the carrier's words.
    let damaged_order = shipped_order(&store, 63).await;
    ship(&rig, &damaged_order, "顺丰", "SF0000DAMAGE", None).await;
    let body = trackers::callback(
        Scheme::SfExpress,
        "sf-express",
        "SF0000DAMAGE",
        &[
            Scan::new(hours_ago(6), S::InTransit, "深圳市", "已收取快件"),
            Scan::new(
                hours_ago(2),
                S::Exception,
                "广州市",
                "快件外包装破损，已联系寄件人",
            ),
        ],
    );
    rig.post(Scheme::SfExpress, &body).await;
    wait_until(WAIT, "a damage exception", || async {
        !by_kind("shipment_exception").await.is_empty()
    })
    .await;
    let e = &by_kind("shipment_exception").await[0];
    assert!(e.reason.contains("快件外包装破损"), "{}", e.reason);
    assert!(e.reason.contains("carrier code 33"), "{}", e.reason);
    rig.daemon.stop().await;
}

/// Signed but hostile bodies (deep nesting, bad encoding, XML entities in SF Express's form
/// push) are stored as received, then parked by the track stage with the reason; nothing is
/// attached and the server keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_callbacks_are_parked_with_reasons() {
    let rig = start(Profile::Standalone, "sweep_interval_ms = 0").await;
    let store = rig.store().clone();
    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    rig.post(Scheme::AfterShip, deep.as_bytes()).await;
    let mut bad =
        br#"{"msg": {"tracking_number": "1Z1", "slug": "ups", "checkpoints": [{"message": ""#
            .to_vec();
    bad.extend_from_slice(&[0xff, 0xfe, 0x80]);
    bad.extend_from_slice(br#""}]}}"#);
    rig.post(Scheme::AfterShip, &bad).await;
    let xml = r#"<?xml version="1.0"?><!DOCTYPE Request [<!ENTITY x SYSTEM "file:///etc/passwd">]><Request service="RoutePushService"><Body><WaybillRoute mailno="SF1" remark="&x;" opCode="80"/></Body></Request>"#;
    let form = form_urlencoded::Serializer::new(String::new())
        .append_pair("content", xml)
        .finish();
    rig.post(Scheme::SfExpressForm, form.as_bytes()).await;
    wait_until(WAIT, "three parked callbacks", || async {
        store
            .exceptions(false, 100)
            .await
            .unwrap()
            .iter()
            .filter(|e| e.kind == "bad_input" && e.stage.as_deref() == Some("track"))
            .count()
            == 3
    })
    .await;
    let reasons: Vec<String> = store
        .exceptions(false, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "bad_input")
        .map(|e| e.reason)
        .collect();
    assert!(reasons.iter().any(|r| r.contains("DOCTYPE")), "{reasons:?}");
    assert!(
        reasons.iter().any(|r| r.contains("aftership")),
        "{reasons:?}"
    );
    assert_eq!(store.unattached_count().await.unwrap(), 0);
    // Still serving.
    let order = shipped_order(&store, 77).await;
    ship(&rig, &order, "UPS", "1ZSTILLOK", None).await;
    let [pickup, ..] = TrackerSim::journey(Utc::now());
    rig.post(
        Scheme::AfterShip,
        &trackers::callback(Scheme::AfterShip, "ups", "1ZSTILLOK", &[pickup]),
    )
    .await;
    wait_until(WAIT, "order in transit", || async {
        state(&store, &order).await == "in_transit"
    })
    .await;
    rig.daemon.stop().await;
}

/// The whole way, in both profiles: parcels are announced, the subscribe stage registers each
/// with its aggregator (the sandbox trackers), which post the journey back (duplicate, late,
/// out of order); the daemon is SIGKILLed once in the middle. Every order is delivered once,
/// every parcel registered once.
async fn sandbox_trackers_deliver_every_order_once(profile: Profile) {
    const PER_SCHEME: usize = 3;
    let env = TestEnv::new(profile).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let schemes = [
        (Scheme::EasyPost, "ups", "UPS"),
        (Scheme::AfterShip, "fedex", "FedEx"),
        (Scheme::SeventeenTrack, "usps", "USPS"),
        (Scheme::Kuaidi100, "sf-express", "顺丰速运"),
        (Scheme::Shippo, "dhl", "DHL Express"),
    ];
    let api_key = "sim-api-key-31";
    let mut webhooks = HashMap::new();
    for (scheme, ..) in schemes {
        webhooks.insert(
            scheme,
            Webhook {
                url: format!("{base}/hooks/tracking/{}", connector_of(scheme)),
                secret: secret_of(scheme),
            },
        );
    }
    let sim = TrackerSim::new(api_key, webhooks);
    let shutdown = tokio_util::sync::CancellationToken::new();
    let sim_addr = trackers::serve(
        "127.0.0.1:0".parse().unwrap(),
        sim.clone(),
        shutdown.clone(),
    )
    .await
    .unwrap();
    let key_file = env.dir.path().join("api.key");
    std::fs::write(&key_file, api_key).unwrap();
    let mut connectors = String::new();
    for (scheme, code, _) in schemes {
        let file = env.dir.path().join(format!("{}.secret", scheme.name()));
        std::fs::write(&file, secret_of(scheme)).unwrap();
        connectors.push_str(&format!(
            "[[connectors]]\nkind = \"tracking\"\nname = \"{name}\"\nscheme = \"{s}\"\nsecret = \"file:{secret}\"\n\
             subscribe = {{ api_url = \"http://{sim_addr}\", api_key = \"file:{key}\", callback_url = \"{base}/hooks/tracking/{name}\", carriers = [\"{code}\"], timeout_ms = 3000 }}\n",
            name = connector_of(scheme),
            s = scheme.name(),
            secret = file.display(),
            key = key_file.display(),
        ));
    }
    let bus = match profile {
        // A delivery the killed process held comes again after 20 s (60 by default).
        Profile::Standalone => {
            "kind = \"embedded\"\npoll_interval_ms = 50\nlease_ms = 20000".to_string()
        }
        Profile::Cluster => format!("kind = \"amqp\"\nurl = \"{}\"", common::amqp_url()),
    };
    let cfg_path = env.dir.path().join("og.toml");
    std::fs::write(
        &cfg_path,
        format!(
            "[store]\nurl = \"{store}\"\nmax_connections = 8\n[bus]\n{bus}\nnamespace = \"{ns}\"\n\
             [pipeline]\nretry_base_ms = 100\nretry_max_ms = 1000\n[http]\nlisten = \"127.0.0.1:{port}\"\n\
             [mappings]\ndir = \"{maps}\"\n[tracking]\nsweep_interval_ms = 0\n{connectors}",
            store = env.store_url(),
            ns = env.namespace,
            maps = common::mappings_dir().display(),
        ),
    )
    .unwrap();
    let store = Store::connect(&env.store_url(), 4, "normal").await.unwrap();
    let mut orders = Vec::new();
    for (i, (_, code, name)) in schemes.iter().enumerate() {
        for k in 0..PER_SCHEME {
            let n = (i * PER_SCHEME + k) as u64;
            let order = shipped_order(&store, 500 + n).await;
            let number = format!("{}E2E{n:06}", code.to_uppercase().replace('-', ""));
            let parcel = NewShipment {
                order_id: &order,
                warehouse: Some("wh-test"),
                carrier: name,
                carrier_name: None,
                tracking_number: &number,
                service: None,
                promised_at: None,
                eta: None,
                items: serde_json::json!([]),
            };
            let mut tx = store.begin().await.unwrap();
            let (id, _) = Store::record_shipment(&mut tx, &parcel)
                .await
                .unwrap()
                .shipment()
                .unwrap();
            // Announced through the outbox: the daemon's relay publishes it.
            Store::outbox_insert(&mut tx, &[parcel.created_event(&id)])
                .await
                .unwrap();
            tx.commit().await.unwrap();
            orders.push(order);
        }
    }
    let run = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_ordergate"))
            .args(["run", "--config"])
            .arg(&cfg_path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let delivered = |store: Store, orders: Vec<String>| async move {
        let mut n = 0;
        for o in &orders {
            if state(&store, o).await == "delivered" {
                n += 1;
            }
        }
        n
    };
    let mut child = run();
    wait_until(Duration::from_secs(90), "some parcel scanned", || {
        let (store, orders) = (store.clone(), orders.clone());
        async move {
            for o in &orders {
                if state(&store, o).await != "shipped" {
                    return true;
                }
            }
            false
        }
    })
    .await;
    // In the middle: SIGKILL, then start again.
    child.kill().unwrap();
    child.wait().unwrap();
    let mut child = run();
    wait_until(Duration::from_secs(120), "every order delivered", || {
        let (store, orders) = (store.clone(), orders.clone());
        async move { delivered(store, orders.clone()).await == orders.len() }
    })
    .await;
    // The late callbacks come after the deliveries.
    wait_until(
        Duration::from_secs(90),
        "every parcel's whole journey",
        || {
            let (store, orders) = (store.clone(), orders.clone());
            async move {
                for o in &orders {
                    let parcels = store.order_shipments(o).await.unwrap();
                    if store.shipment_events(&parcels[0].id).await.unwrap().len() < 3 {
                        return false;
                    }
                }
                true
            }
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    for o in &orders {
        assert_eq!(
            audit_count(&store, o, "deliver").await,
            1,
            "{o} delivered once"
        );
        assert_eq!(audit_count(&store, o, "scan").await, 1, "{o} scanned once");
        let parcels = store.order_shipments(o).await.unwrap();
        assert_eq!(parcels.len(), 1);
        assert_eq!(
            store.shipment_events(&parcels[0].id).await.unwrap().len(),
            3,
            "{o}"
        );
    }
    // A registration the SIGKILL cut short is the aggregator's already (its journey came)
    // while our record of it waits for the message to come again (at once from RabbitMQ,
    // after the embedded bus's lease) and for the dead process's claim to lapse (twice the
    // call's timeout and 5 s); then it is looked up and marked: wait for that.
    wait_until(
        Duration::from_secs(60),
        "every registration recorded",
        || {
            let store = store.clone();
            async move {
                let mut n = 0;
                for (scheme, ..) in schemes {
                    n += store
                        .subscription_count(&connector_of(scheme), "registered")
                        .await
                        .unwrap();
                }
                n == (schemes.len() * PER_SCHEME) as i64
            }
        },
    )
    .await;
    let regs = sim.registrations().await;
    for (scheme, ..) in schemes {
        let n = regs.iter().filter(|r| r.scheme == scheme).count();
        assert_eq!(n, PER_SCHEME, "{scheme} registrations: {regs:?}");
        assert_eq!(
            store
                .subscription_count(&connector_of(scheme), "registered")
                .await
                .unwrap(),
            PER_SCHEME as i64
        );
    }
    child.kill().unwrap();
    child.wait().unwrap();
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_trackers_deliver_every_order_once_standalone() {
    sandbox_trackers_deliver_every_order_once(Profile::Standalone).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_trackers_deliver_every_order_once_cluster() {
    sandbox_trackers_deliver_every_order_once(Profile::Cluster).await;
}

/// The tracker simulators (no webhooks) on a loopback port, until the token is cancelled.
async fn simulator(
    api_key: &str,
) -> (
    std::sync::Arc<TrackerSim>,
    std::net::SocketAddr,
    tokio_util::sync::CancellationToken,
) {
    let sim = TrackerSim::new(api_key, HashMap::new());
    let shutdown = tokio_util::sync::CancellationToken::new();
    let addr = trackers::serve(
        "127.0.0.1:0".parse().unwrap(),
        sim.clone(),
        shutdown.clone(),
    )
    .await
    .unwrap();
    (sim, addr, shutdown)
}

/// A file holding `text`, for a secret reference in a test's config.
fn secret_file(text: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("og-trk-{}.secret", uuid::Uuid::new_v4()));
    std::fs::write(&path, text).unwrap();
    path
}

/// A standalone daemon with one tracking connector `name` of `scheme` that registers parcels
/// of `carriers` with the aggregator at `api` (key `key_text`); `more` adds to its `subscribe`.
async fn registering(
    name: &str,
    scheme: &str,
    api: &str,
    key_text: &str,
    carriers: &str,
    more: &str,
) -> Rig {
    let key = secret_file(key_text);
    start(
        Profile::Standalone,
        &format!(
            "sweep_interval_ms = 0\n[[connectors]]\nkind = \"tracking\"\nname = \"{name}\"\n\
             scheme = \"{scheme}\"\nsecret = \"file:{key}\"\n\
             subscribe = {{ api_url = \"{api}\", api_key = \"file:{key}\", carriers = {carriers}{more} }}\n",
            key = key.display()
        ),
    )
    .await
}

/// Waits (up to `within`) until `connector` has `n` registrations in `status`.
async fn wait_registrations(
    store: &Store,
    connector: &str,
    status: &str,
    n: i64,
    within: Duration,
) {
    wait_until(
        within,
        &format!("{n} registration(s) of {connector} {status}"),
        || async { store.subscription_count(connector, status).await.unwrap() == n },
    )
    .await;
}

/// A Shippo `track_updated` callback for `scans` with the carrier's `eta`.
fn shippo_with_eta(number: &str, scans: &[Scan], eta: chrono::DateTime<Utc>) -> Vec<u8> {
    let mut v: serde_json::Value =
        serde_json::from_slice(&trackers::callback(Scheme::Shippo, "ups", number, scans)).unwrap();
    v["data"]["eta"] = serde_json::json!(eta.to_rfc3339());
    serde_json::to_vec(&v).unwrap()
}

/// The carrier's ETA reaches the parcel (a revised one too, even without a new scan; a late
/// callback's is not taken) and the sweep judges the parcel by it: past the ETA is late even
/// when the promised date is days away; an ETA ahead is not late.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_carrier_eta_reaches_the_parcel_and_the_sweep_judges_by_it() {
    let rig = start(
        Profile::Standalone,
        "sweep_interval_ms = 100\ndepartment = \"transport\"",
    )
    .await;
    let store = rig.store().clone();
    let late_for = |number: &'static str| {
        let store = store.clone();
        async move {
            store
                .exceptions(true, 500)
                .await
                .unwrap()
                .into_iter()
                .filter(|e| e.kind == "shipment_late" && e.reason.contains(number))
                .collect::<Vec<_>>()
        }
    };
    let eta_of = |id: String| {
        let store = store.clone();
        async move { store.shipment(&id).await.unwrap().unwrap().eta }
    };
    let promised = (Utc::now() + chrono::Duration::days(3)).timestamp_millis();
    let [pickup, out, _] = TrackerSim::journey(Utc::now());

    // Promised in three days, but the carrier expected it two hours ago: late.
    let order = shipped_order(&store, 71).await;
    let parcel = ship(&rig, &order, "UPS", "1Z0000ETA1", Some(promised)).await;
    let passed = Utc::now() - chrono::Duration::hours(2);
    rig.post(
        Scheme::Shippo,
        &shippo_with_eta("1Z0000ETA1", std::slice::from_ref(&pickup), passed),
    )
    .await;
    wait_until(WAIT, "the parcel carries the carrier's ETA", || async {
        eta_of(parcel.clone()).await == Some(passed.timestamp_millis())
    })
    .await;
    wait_until(WAIT, "late by the carrier's ETA", || async {
        !late_for("1Z0000ETA1").await.is_empty()
    })
    .await;
    let raised = late_for("1Z0000ETA1").await;
    assert_eq!(raised.len(), 1, "{raised:?}");
    assert!(
        raised[0].reason.contains("the carrier's ETA"),
        "{}",
        raised[0].reason
    );

    // Promised in three days, expected tomorrow: not late.
    let order = shipped_order(&store, 72).await;
    let parcel = ship(&rig, &order, "UPS", "1Z0000ETA2", Some(promised)).await;
    let tomorrow = Utc::now() + chrono::Duration::days(1);
    rig.post(
        Scheme::Shippo,
        &shippo_with_eta("1Z0000ETA2", &[pickup.clone(), out.clone()], tomorrow),
    )
    .await;
    wait_until(WAIT, "the second parcel's ETA", || async {
        eta_of(parcel.clone()).await == Some(tomorrow.timestamp_millis())
    })
    .await;
    // A late callback (its newest scan older than the parcel's) brings a stale estimate: kept out.
    let stale = Utc::now() + chrono::Duration::days(9);
    rig.post(
        Scheme::Shippo,
        &shippo_with_eta("1Z0000ETA2", std::slice::from_ref(&pickup), stale),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(
        eta_of(parcel.clone()).await,
        Some(tomorrow.timestamp_millis())
    );
    assert!(late_for("1Z0000ETA2").await.is_empty());
    // The carrier revises its estimate without a new scan: taken.
    let revised = Utc::now() + chrono::Duration::days(2);
    rig.post(
        Scheme::Shippo,
        &shippo_with_eta("1Z0000ETA2", &[pickup, out], revised),
    )
    .await;
    wait_until(WAIT, "the revised ETA", || async {
        eta_of(parcel.clone()).await == Some(revised.timestamp_millis())
    })
    .await;
    assert!(late_for("1Z0000ETA2").await.is_empty());
    rig.daemon.stop().await;
}

/// Shippo registration (`POST /tracks/`, `Authorization: ShippoToken`) of each new parcel, once:
/// Shippo registers again on a repeated create, so after a lost answer the parcel is looked up
/// (`GET /tracks/{carrier}/{number}`, our metadata) instead of registered twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shippo_registration_is_made_once_even_when_its_answer_is_lost() {
    let token = "shippo-test-token-4";
    let (sim, sim_addr, shutdown) = simulator(token).await;
    let rig = registering(
        "shippo-reg",
        "shippo",
        &format!("http://{sim_addr}"),
        token,
        r#"["ups", "dhl"]"#,
        "",
    )
    .await;
    let store = rig.store().clone();
    // The first create is carried out, its answer lost.
    sim.lose_next_answers(1);
    let first = shipped_order(&store, 81).await;
    ship(&rig, &first, "UPS", "1Z00SHIPPO1", None).await;
    wait_registrations(&store, "shippo-reg", "registered", 1, WAIT).await;
    let second = shipped_order(&store, 82).await;
    ship(&rig, &second, "DHL Express", "JD00SHIPPO2", None).await;
    wait_registrations(&store, "shippo-reg", "registered", 2, WAIT).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut regs: Vec<(String, String)> = sim
        .registrations()
        .await
        .into_iter()
        .filter(|r| r.scheme == Scheme::Shippo)
        .map(|r| (r.carrier, r.number))
        .collect();
    regs.sort();
    assert_eq!(
        regs,
        vec![
            ("dhl_express".to_string(), "JD00SHIPPO2".to_string()),
            ("ups".to_string(), "1Z00SHIPPO1".to_string()),
        ],
        "one registration per parcel, in Shippo's carrier tokens"
    );
    rig.daemon.stop().await;
    shutdown.cancel();
}

/// EasyPost makes a second tracker when a create is repeated, so a create whose answer never
/// came is looked up, not repeated: a create still in flight when the call timed out keeps the
/// parcel's claim until the call has settled (it registers meanwhile and the look-up finds it),
/// and a look-up that fails is retried, never taken for "not there".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn easypost_registration_is_made_once_when_its_answer_is_late_or_lost() {
    let key_text = "easypost-test-key-5";
    let (sim, sim_addr, shutdown) = simulator(key_text).await;
    let rig = registering(
        "easypost-reg",
        "easypost",
        &format!("http://{sim_addr}"),
        key_text,
        r#"["ups"]"#,
        ", timeout_ms = 400",
    )
    .await;
    let store = rig.store().clone();
    // The first create takes 3 s at EasyPost: the call times out after 0.4 s and the message
    // is retried well before the tracker is made.
    sim.delay_next_creates(1, Duration::from_secs(3));
    let late_done = tokio::time::Instant::now() + Duration::from_millis(3_500);
    let first = shipped_order(&store, 91).await;
    ship(&rig, &first, "UPS", "1Z00EASYPOST1", None).await;
    wait_registrations(&store, "easypost-reg", "registered", 1, WAIT).await;
    // The second create's answer is lost (502) and the first look-up fails (503).
    sim.lose_next_answers(1);
    sim.fail_next_queries(&[(503, None)]).await;
    let second = shipped_order(&store, 92).await;
    ship(&rig, &second, "UPS", "1Z00EASYPOST2", None).await;
    wait_registrations(&store, "easypost-reg", "registered", 2, WAIT).await;
    // Whatever the late create was going to make is made by now.
    tokio::time::sleep_until(late_done).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut regs: Vec<String> = sim
        .registrations()
        .await
        .into_iter()
        .filter(|r| r.scheme == Scheme::EasyPost)
        .map(|r| r.number)
        .collect();
    regs.sort();
    assert_eq!(
        regs,
        vec!["1Z00EASYPOST1".to_string(), "1Z00EASYPOST2".to_string()],
        "one tracker per parcel"
    );
    rig.daemon.stop().await;
    shutdown.cancel();
}

/// An aggregator nobody answers at (connection refused: the request never left) is tried
/// again at the stage's pace, not after the claim a create in flight keeps (twice the 30 s
/// timeout and 5 s): registered within seconds of the aggregator coming up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registration_refused_a_connection_is_tried_again_soon() {
    let key_text = "easypost-test-key-6";
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let rig = registering(
        "easypost-down",
        "easypost",
        &format!("http://127.0.0.1:{port}"),
        key_text,
        r#"["ups"]"#,
        "",
    )
    .await;
    let store = rig.store().clone();
    let order = shipped_order(&store, 93).await;
    ship(&rig, &order, "UPS", "1Z00EASYDOWN1", None).await;
    wait_registrations(&store, "easypost-down", "pending", 1, WAIT).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let sim = TrackerSim::new(key_text, HashMap::new());
    let shutdown = tokio_util::sync::CancellationToken::new();
    trackers::serve(
        format!("127.0.0.1:{port}").parse().unwrap(),
        sim.clone(),
        shutdown.clone(),
    )
    .await
    .unwrap();
    // Within seconds: a claim kept as for a create in flight would hold it for 65 s.
    let within = Duration::from_secs(10);
    wait_registrations(&store, "easypost-down", "registered", 1, within).await;
    assert_eq!(sim.registrations().await.len(), 1);
    rig.daemon.stop().await;
    shutdown.cancel();
}

/// A polling connector (Kuaidi100 real-time query) carries a parcel to delivered: each distinct
/// answer is one document (an unchanged one is not a new update), a 429's Retry-After is
/// honoured, an outage takes the connector's health down and a good answer up again, nothing
/// is applied twice, and the delivered parcel is not queried again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_carries_a_parcel_to_delivered_through_a_429_and_an_outage() {
    let key_text = "k100-query-key-5";
    let (sim, sim_addr, shutdown) = simulator(key_text).await;
    let (key, customer) = (secret_file(key_text), secret_file("CUSTOMER-77"));
    let number = "YT7000000001";
    let at = |h: i64| Utc::now() - chrono::Duration::hours(h);
    let pickup = Scan::new(at(30), S::InTransit, "杭州市", "【杭州市】快件已揽收");
    let moved = Scan::new(at(10), S::InTransit, "上海市", "快件离开【上海转运中心】");
    let out = Scan::new(at(2), S::OutForDelivery, "北京市", "【北京市】派件中");
    let delivered = Scan::new(at(1), S::Delivered, "北京市", "已签收，本人签收");
    // Until the outage is over the carrier knows the pickup only (the same answer each time).
    sim.set_record(number, vec![vec![pickup.clone()]]).await;
    // The first query is told to come back in a second.
    sim.fail_next_queries(&[(429, Some(1))]).await;
    let rig = start(
        Profile::Standalone,
        &format!(
            "sweep_interval_ms = 0\n[health]\ndegraded_after = 1\ndown_after = 2\n\
             [[connectors]]\nkind = \"tracking\"\nname = \"k100-poll\"\nscheme = \"kuaidi100\"\n\
             secret = \"file:{key}\"\n\
             poll = {{ api_url = \"http://{sim_addr}\", customer = \"file:{customer}\", key = \"file:{key}\", \
             carriers = [\"yto\"], interval_ms = 300, tick_ms = 100, max_retries = 2, retry_max_ms = 3000 }}\n",
            key = key.display(),
            customer = customer.display(),
        ),
    )
    .await;
    let store = rig.store().clone();
    let order = shipped_order(&store, 91).await;
    let parcel = ship(&rig, &order, "圆通速递", number, None).await;
    wait_until(WAIT, "order in transit from a polled answer", || async {
        state(&store, &order).await == "in_transit"
    })
    .await;
    let log = sim.query_log().await;
    assert_eq!(log[0].1, 429, "{log:?}");
    assert_eq!(log[1].1, 200, "{log:?}");
    assert!(
        log[1].0 - log[0].0 >= Duration::from_millis(950),
        "Retry-After honoured: {:?}",
        log[1].0 - log[0].0
    );
    // An outage: every attempt of two queries fails.
    sim.fail_next_queries(&[(503, None); 6]).await;
    wait_until(WAIT, "connector down", || async {
        store
            .connector_state("k100-poll")
            .await
            .unwrap()
            .is_some_and(|s| s.health == ordergate::store::ConnectorHealth::Down)
    })
    .await;
    sim.set_record(
        number,
        vec![
            vec![pickup.clone(), moved.clone()],
            vec![pickup, moved, out, delivered],
        ],
    )
    .await;
    wait_until(WAIT, "order delivered", || async {
        state(&store, &order).await == "delivered"
    })
    .await;
    let health = store.connector_state("k100-poll").await.unwrap().unwrap();
    assert_eq!(health.health, ordergate::store::ConnectorHealth::Up);
    wait_until(WAIT, "polling stopped", || async {
        store.subscription_count("k100-poll", "done").await.unwrap() == 1
    })
    .await;
    let asked = sim.queries_of(number).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(
        sim.queries_of(number).await,
        asked,
        "a delivered parcel is not queried"
    );
    assert_eq!(asked, 2, "one query per answer after the outage");
    // Three distinct answers, three documents; each scan once; scanned and delivered once.
    assert_eq!(store.raw_count("k100-poll").await.unwrap(), 3);
    assert_eq!(store.shipment_events(&parcel).await.unwrap().len(), 4);
    assert_eq!(audit_count(&store, &order, "scan").await, 1);
    assert_eq!(audit_count(&store, &order, "deliver").await, 1);
    rig.daemon.stop().await;
    shutdown.cancel();
}

/// Polling as the 17TRACK and AfterShip poll definitions describe it
/// (`connectors/tracking/<scheme>.toml`), against their simulators: the connector registers
/// each parcel, then asks about the parcels due together (17TRACK: one `gettrackinfo` of both
/// numbers; AfterShip: `GET /trackings` of both, one tracking a page, so the cursor is
/// followed); a 429's wait is honoured (17TRACK `Retry-After`, AfterShip `X-RateLimit-Reset`);
/// an outage takes the connector's health down and a good answer up again; each distinct record
/// is one document (the same record asked again is not a new document, nor a new event); the
/// order moves to `in_transit` and `delivered` once; delivered parcels are not asked about
/// again; a connector with a wrong key is refused (401, not retried) and goes down.
async fn a_polled_aggregator_carries_two_parcels_to_delivered(scheme: Scheme) {
    let key_text = format!("{}-poll-key-3", scheme.name());
    let (sim, sim_addr, shutdown) = simulator(&key_text).await;
    let (key, wrong) = (secret_file(&key_text), secret_file("not-the-key"));
    let conn = format!("{}-poll", scheme.name());
    let bad = format!("{}-poll-badkey", scheme.name());
    let (a, b, c) = (
        "1Z999AA10000000071",
        "1Z999AA10000000072",
        "JD0146000007300",
    );
    let pickup_a = Scan::new(hours_ago(30), S::InTransit, "Memphis, TN", "Picked up");
    let moved_a = Scan::new(
        hours_ago(10),
        S::InTransit,
        "Dallas, TX",
        "Departed facility",
    );
    let out_a = Scan::new(
        hours_ago(3),
        S::OutForDelivery,
        "Austin, TX",
        "Out for delivery",
    );
    let done_a = Scan::new(hours_ago(2), S::Delivered, "Austin, TX", "Delivered");
    let pickup_b = Scan::new(hours_ago(20), S::InTransit, "Louisville, KY", "Picked up");
    let done_b = Scan::new(hours_ago(1), S::Delivered, "Austin, TX", "Delivered, porch");
    // Until the outage is over the carrier knows A's pickup only; B nothing yet.
    sim.set_record(a, vec![vec![pickup_a.clone()]]).await;
    // The first poll request is told to wait a second (17TRACK: Retry-After 1; AfterShip: the
    // window resets in two seconds at the most).
    let wait = if scheme == Scheme::AfterShip { 2 } else { 1 };
    sim.fail_next_queries(&[(429, Some(wait))]).await;
    let rig = start(
        Profile::Standalone,
        &format!(
            "sweep_interval_ms = 0\n[health]\ndegraded_after = 1\ndown_after = 2\n\
             [[connectors]]\nkind = \"tracking\"\nname = \"{conn}\"\nscheme = \"{scheme}\"\n\
             secret = \"file:{key}\"\n\
             subscribe = {{ api_url = \"http://{sim_addr}\", api_key = \"file:{key}\", carriers = [\"ups\"] }}\n\
             poll = {{ api_url = \"http://{sim_addr}\", api_key = \"file:{key}\", carriers = [\"ups\"], \
             interval_ms = 300, tick_ms = 700, page_size = 1, max_retries = 2, retry_max_ms = 3000 }}\n\
             [[connectors]]\nkind = \"tracking\"\nname = \"{bad}\"\nscheme = \"{scheme}\"\n\
             secret = \"file:{key}\"\n\
             poll = {{ api_url = \"http://{sim_addr}\", api_key = \"file:{wrong}\", carriers = [\"dhl\"], \
             interval_ms = 300, tick_ms = 200, max_retries = 2, retry_max_ms = 3000 }}\n",
            key = key.display(),
            wrong = wrong.display(),
        ),
    )
    .await;
    let store = rig.store().clone();
    let order = shipped_order(&store, 93).await;
    let parcel_a = ship(&rig, &order, "UPS", a, None).await;
    let parcel_b = ship(&rig, &order, "UPS", b, None).await;
    let other = shipped_order(&store, 94).await;
    ship(&rig, &other, "DHL", c, None).await;
    wait_until(WAIT, "order in transit from a polled record", || async {
        state(&store, &order).await == "in_transit"
    })
    .await;
    let log = sim.query_log().await;
    assert_eq!(log[0].1, 429, "{log:?}");
    let retried = log.iter().skip(1).find(|(_, s)| *s == 200).unwrap();
    assert!(
        retried.0 - log[0].0 >= Duration::from_millis(950),
        "the 429's wait honoured: {:?}",
        retried.0 - log[0].0
    );
    // An outage: every attempt of two requests fails.
    sim.fail_next_queries(&[(503, None); 6]).await;
    wait_until(WAIT, "connector down", || async {
        store
            .connector_state(&conn)
            .await
            .unwrap()
            .is_some_and(|s| s.health == ordergate::store::ConnectorHealth::Down)
    })
    .await;
    sim.set_record(a, vec![vec![pickup_a.clone(), moved_a, out_a, done_a]])
        .await;
    sim.set_record(b, vec![vec![pickup_b.clone()], vec![pickup_b, done_b]])
        .await;
    wait_until(WAIT, "order delivered", || async {
        state(&store, &order).await == "delivered"
    })
    .await;
    let health = store.connector_state(&conn).await.unwrap().unwrap();
    assert_eq!(health.health, ordergate::store::ConnectorHealth::Up);
    wait_until(WAIT, "polling stopped", || async {
        store.subscription_count(&conn, "done").await.unwrap() == 2
    })
    .await;
    let asked = (sim.queries_of(a).await, sim.queries_of(b).await);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        (sim.queries_of(a).await, sim.queries_of(b).await),
        asked,
        "a delivered parcel is not asked about"
    );
    // Each parcel registered once, and asked about together with the other.
    let registered = sim
        .registrations()
        .await
        .iter()
        .filter(|r| r.scheme == scheme)
        .count();
    assert_eq!(registered, 2, "one registration per parcel");
    let (batches, next_pages) = sim.poll_shapes();
    if scheme == Scheme::SeventeenTrack {
        assert!(batches >= 1, "both numbers in one gettrackinfo");
    } else {
        assert!(next_pages >= 1, "the second page followed by its cursor");
    }
    // A's pickup, A's whole journey, B's pickup, B's delivery: four distinct records, four
    // documents, however often each was asked about; each scan once; scanned and delivered once.
    assert_eq!(store.raw_count(&conn).await.unwrap(), 4);
    assert_eq!(store.shipment_events(&parcel_a).await.unwrap().len(), 4);
    assert_eq!(store.shipment_events(&parcel_b).await.unwrap().len(), 2);
    assert_eq!(audit_count(&store, &order, "scan").await, 1);
    assert_eq!(audit_count(&store, &order, "deliver").await, 1);
    // The connector with a wrong key: refused, down, nothing stored.
    wait_until(WAIT, "wrong key: connector down", || async {
        store
            .connector_state(&bad)
            .await
            .unwrap()
            .is_some_and(|s| s.health == ordergate::store::ConnectorHealth::Down)
    })
    .await;
    let state_bad = store.connector_state(&bad).await.unwrap().unwrap();
    assert!(
        state_bad
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("401")),
        "{:?}",
        state_bad.last_error
    );
    assert_eq!(store.raw_count(&bad).await.unwrap(), 0);
    rig.daemon.stop().await;
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_17track_gettrackinfo_carries_parcels_to_delivered() {
    a_polled_aggregator_carries_two_parcels_to_delivered(Scheme::SeventeenTrack).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_aftership_trackings_carries_parcels_to_delivered() {
    a_polled_aggregator_carries_two_parcels_to_delivered(Scheme::AfterShip).await;
}
