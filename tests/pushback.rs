//! Push-back of shipments to the five marketplaces, through the real daemon (stage
//! `pushback`) against each platform's simulator on loopback: one push-back per order with the
//! platform's proof stored; each error class (already fulfilled, unknown carrier, 429, 5xx and
//! outages, 4xx refusals); a lost answer looked up, not repeated; the connector policies; and
//! reconciliation repairing what a marketplace lost. The simulators count every create they
//! accept: a second create for one order is a duplicate push-back.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failed unwrap is a failed test.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{wait_until, Profile, TestEnv};
use ordergate::app::Daemon;
use ordergate::config::Config;
use ordergate::model::{Envelope, EventType, ShipmentRef, Trigger};
use ordergate::outbound::pushback::{reconcile, Pushers};
use ordergate::sandbox::book::SimOrder;
use ordergate::sandbox::{amazon, ebay, magento, shopify, woocommerce, Platform, Sandbox};
use ordergate::store::{NewShipment, Pushback, Store};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(40);

/// The connector's name for a platform's simulator.
fn connector(p: Platform) -> String {
    format!("mkt-{}", p.as_str())
}

/// A simulator's order as the platform renders it (the raw document the pull would store).
fn raw_document(p: Platform, o: &SimOrder) -> Value {
    match p {
        Platform::Shopify => shopify::render(o),
        Platform::Woocommerce => woocommerce::render(o),
        Platform::Amazon => {
            serde_json::json!({"Order": amazon::render(o), "OrderItems": amazon::order_items(o)})
        }
        Platform::Ebay => ebay::render(o),
        Platform::Magento => magento::render(o),
    }
}

/// The order's id as the platform's push-back URLs name it (the simulator's key).
fn sim_key(p: Platform, o: &SimOrder) -> String {
    match p {
        Platform::Shopify => ordergate::sandbox::pushback::shopify_order_id(o).to_string(),
        Platform::Woocommerce | Platform::Magento => o.id.to_string(),
        Platform::Amazon => amazon::order_id(o),
        Platform::Ebay => ebay::order_id(o),
    }
}

/// Puts simulator order `o` in the store as the pipeline leaves it when it ships: received,
/// approved, allocated, fulfilment requested, shipped with one parcel; `announce` also writes
/// its `order.shipped` to the outbox (the daemon's relay publishes it). Returns (order id,
/// shipment id, the event).
async fn put_shipped(
    store: &Store,
    p: Platform,
    o: &SimOrder,
    carrier: &str,
    number: &str,
    items: Value,
    announce: bool,
) -> (String, String, Option<Envelope>) {
    let raw = serde_json::to_vec(&raw_document(p, o)).unwrap();
    let mappings = ordergate::mapping::MappingSet::load(&common::mappings_dir()).unwrap();
    let normalizer = ordergate::normalize::Normalizer::new(mappings);
    let mut order = normalizer
        .normalize(p.as_str(), &[raw.as_slice()])
        .unwrap()
        .remove(0);
    order.source.connector = connector(p);
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
    let parcel = NewShipment {
        order_id: &id,
        warehouse: Some("east"),
        carrier,
        carrier_name: Some(carrier),
        tracking_number: number,
        service: None,
        promised_at: None,
        eta: None,
        items,
    };
    let (shipment, created) = Store::record_shipment(&mut tx, &parcel)
        .await
        .unwrap()
        .shipment()
        .unwrap();
    assert!(created);
    let mut event = None;
    if announce {
        let shipped = Envelope::new(
            EventType::ORDER_SHIPPED,
            "east",
            serde_json::to_value(ShipmentRef {
                order_id: id.clone(),
                shipment_id: String::new(),
                carrier: String::new(),
                tracking_number: String::new(),
                warehouse: Some("east".into()),
                status: None,
                detail: serde_json::json!({"shipments": [shipment], "complete": true}),
            })
            .unwrap(),
        )
        .with_order(&id);
        Store::outbox_insert(&mut tx, &[&shipped]).await.unwrap();
        event = Some(shipped);
    }
    tx.commit().await.unwrap();
    (id, shipment, event)
}

struct Rig {
    _env: TestEnv,
    /// The contents every parcel shipped by [`Rig::ship`] reports (SKU → quantity).
    items: Value,
    daemon: Daemon,
    cfg: Config,
    sims: Vec<Sandbox>,
}

/// A daemon with one marketplace connector per platform in `platforms` (polling off: the
/// orders are put in the store as the pipeline leaves them), each with `policy`. `tweak`
/// edits each connector's section (custom definitions, timeouts).
async fn start(
    profile: Profile,
    platforms: &[Platform],
    policy: &str,
    tweak: impl Fn(Platform, String) -> String,
) -> Rig {
    let env = TestEnv::new(profile).await;
    let mut sims = Vec::new();
    let mut extra = String::from(
        "[pushback]\nclaim_ms = 5000\nreconcile_interval_secs = 0\n\n[health]\ndegraded_after = 1\ndown_after = 3\n",
    );
    for &p in platforms {
        let sim = common::sim::start(p, 8, 7).await;
        let section = common::sim::marketplace_section(&connector(p), &sim, env.dir.path(), 50)
            .replace(
                "lease_ms = 3000\n",
                &format!("lease_ms = 3000\nenabled = false\npushback = \"{policy}\"\ndepartment = \"marketplaces\"\n"),
            );
        extra.push_str(&tweak(p, section));
        sims.push(sim);
    }
    let mut cfg = env.config(&common::mappings_dir(), &extra);
    cfg.pipeline.max_attempts = 12;
    let daemon = Daemon::start(&cfg).await.unwrap();
    Rig {
        _env: env,
        items: serde_json::json!({}),
        daemon,
        cfg,
        sims,
    }
}

impl Rig {
    fn store(&self) -> &Store {
        &self.daemon.store
    }

    fn sim(&self, p: Platform) -> &Sandbox {
        self.sims.iter().find(|s| s.state.platform == p).unwrap()
    }

    /// Order `n` of the platform's simulator, put in the store as shipped with one parcel
    /// (`carrier`, `number`); `announce` publishes its `order.shipped`. Returns (order id,
    /// simulator key, shipment id).
    async fn ship(
        &self,
        p: Platform,
        n: usize,
        carrier: &str,
        number: &str,
        announce: bool,
    ) -> (String, String, String) {
        let o = self.sim(p).state.orders()[n].clone();
        let (id, shipment, event) = put_shipped(
            self.store(),
            p,
            &o,
            carrier,
            number,
            self.items.clone(),
            announce,
        )
        .await;
        if let Some(e) = event {
            ordergate::outbox::publish_committed(self.store(), self.daemon.bus.as_ref(), &[e])
                .await;
        }
        (id, sim_key(p, &o), shipment)
    }

    /// Announces the first carrier scan of `shipment` (`shipment.in_transit`).
    async fn first_scan(&self, order_id: &str, shipment: &str, number: &str) {
        let event = Envelope::new(
            EventType::SHIPMENT_IN_TRANSIT,
            "trk",
            serde_json::to_value(ShipmentRef {
                order_id: order_id.to_string(),
                shipment_id: shipment.to_string(),
                carrier: "ups".into(),
                tracking_number: number.to_string(),
                warehouse: None,
                status: Some("in_transit".into()),
                detail: serde_json::json!({}),
            })
            .unwrap(),
        )
        .with_order(order_id);
        let store = self.store();
        let mut tx = store.begin().await.unwrap();
        Store::outbox_insert(&mut tx, &[&event]).await.unwrap();
        tx.commit().await.unwrap();
        ordergate::outbox::publish_committed(store, self.daemon.bus.as_ref(), &[event]).await;
    }

    /// Waits until every push-back of `order` has left `intended`; returns them.
    async fn settled(&self, order: &str) -> Vec<Pushback> {
        let store = self.store().clone();
        let o = order.to_string();
        wait_until(WAIT, &format!("the push-back of {order}"), move || {
            let (store, o) = (store.clone(), o.clone());
            async move {
                let rows = store.pushbacks_of(&o).await.unwrap();
                !rows.is_empty() && rows.iter().all(|r| r.status != "intended")
            }
        })
        .await;
        self.store().pushbacks_of(order).await.unwrap()
    }

    async fn history(&self, order: &str, kind: &str) -> Vec<Value> {
        self.store()
            .order_events(order)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.kind == kind)
            .map(|e| e.data.unwrap_or(Value::Null))
            .collect()
    }

    async fn stop(self) {
        self.daemon.stop().await;
        for s in self.sims {
            s.stop().await;
        }
    }
}

/// The proof the simulator's record stands for, as each platform answers it.
fn proof_of(p: Platform, record_id: u64) -> String {
    match p {
        Platform::Shopify => (4_300_000_000u64 + record_id).to_string(),
        Platform::Ebay => format!("{record_id:016}"),
        _ => record_id.to_string(),
    }
}

fn number(p: Platform, tag: &str) -> String {
    format!(
        "1Z{}{}",
        tag,
        p.as_str().len() * 1000 + p.as_str().as_bytes()[0] as usize
    )
    .to_uppercase()
}

/// Each platform: an order shipped → exactly one push-back accepted by its simulator, the
/// platform's proof stored with the order and in its history.
async fn one_pushback_per_platform_with_proof(profile: Profile) {
    let rig = start(profile, &Platform::ALL, "on_label", |_, s| s).await;
    let mut shipped = Vec::new();
    for p in Platform::ALL {
        let n = number(p, "A");
        shipped.push((p, rig.ship(p, 0, "UPS", &n, true).await, n));
    }
    for (p, (order, key, _), n) in &shipped {
        let rows = rig.settled(order).await;
        let sim = &rig.sim(*p).state.push;
        if sim.creates(key) != 1 {
            let ex = rig.store().exceptions(true, 10).await.unwrap();
            panic!(
                "{p:?}: {rows:?} {:?}",
                ex.iter().map(|e| e.reason.clone()).collect::<Vec<_>>()
            );
        }
        let records = sim.records(key);
        assert_eq!(records.len(), 1, "{p:?}");
        assert_eq!(rows.len(), 1, "{p:?}");
        let row = &rows[0];
        assert_eq!(row.status, "pushed", "{p:?}");
        assert_eq!(row.how.as_deref(), Some("created"), "{p:?}");
        let proof = row.proof.clone().unwrap();
        match p {
            // SP-API answers 204: only acceptance, the request id is kept.
            Platform::Amazon => assert!(proof.starts_with("accepted:"), "{proof}"),
            _ => assert_eq!(proof, proof_of(*p, records[0].id), "{p:?}"),
        }
        match p {
            Platform::Woocommerce => {
                assert!(records[0].tracking[0].contains(n.as_str()), "{p:?} note");
                assert!(sim.completed(key), "the Woo order is completed");
            }
            _ => assert_eq!(records[0].tracking, vec![n.clone()], "{p:?}"),
        }
        // The carrier table: each platform's own spelling of UPS.
        let want_carrier = match p {
            Platform::Magento => "ups",
            Platform::Woocommerce => "",
            _ => "UPS",
        };
        assert_eq!(records[0].carrier, want_carrier, "{p:?}");
        let history = rig.history(order, "pushed_back").await;
        assert_eq!(history.len(), 1, "{p:?}");
        assert_eq!(history[0]["proof"], proof.as_str());
    }
    // Delivered again (a redelivery): nothing more.
    let (order, key, _) = &shipped[0].1;
    let again = Envelope::new(
        EventType::ORDER_SHIPPED,
        "east",
        serde_json::json!({"order_id": order}),
    )
    .with_order(order);
    ordergate::outbox::publish_committed(rig.store(), rig.daemon.bus.as_ref(), &[again]).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(rig.sim(Platform::Shopify).state.push.creates(key), 1);
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_pushback_per_platform_with_proof_standalone() {
    one_pushback_per_platform_with_proof(Profile::Standalone).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_pushback_per_platform_with_proof_cluster() {
    one_pushback_per_platform_with_proof(Profile::Cluster).await;
}

/// Shopify, Amazon and Magento say "already fulfilled" (a closed fulfillment order, a package
/// confirmed before, an order that allows no shipment): the platform's existing fulfilment is
/// fetched as proof and nothing is created. WooCommerce and eBay have no such error (a note or
/// a shipping fulfillment is always added), so they are not in this test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn already_fulfilled_fetches_the_existing_fulfilment_as_proof() {
    let platforms = [Platform::Shopify, Platform::Amazon, Platform::Magento];
    let rig = start(Profile::Standalone, &platforms, "on_label", |_, s| s).await;
    let mut shipped = Vec::new();
    for p in platforms {
        let o = rig.sim(p).state.orders()[1].clone();
        let existing = rig
            .sim(p)
            .state
            .push
            .fulfil_externally(&sim_key(p, &o), "EXTERNAL1", "UPS");
        let n = number(p, "B");
        shipped.push((p, rig.ship(p, 1, "UPS", &n, true).await, existing));
    }
    for (p, (order, key, _), existing) in &shipped {
        let rows = rig.settled(order).await;
        let row = &rows[0];
        assert_eq!(row.status, "pushed", "{p:?}");
        assert_eq!(row.how.as_deref(), Some("already_fulfilled"), "{p:?}");
        let proof = row.proof.clone().unwrap();
        match p {
            Platform::Amazon => assert_eq!(proof, *key),
            _ => assert_eq!(proof, proof_of(*p, *existing), "{p:?}"),
        }
        let sim = &rig.sim(*p).state.push;
        assert_eq!(sim.creates(key), 0, "{p:?}: nothing created");
        assert_eq!(sim.records(key).len(), 1, "{p:?}: no duplicate");
    }
    rig.stop().await;
}

/// A carrier none of the tables knows: each platform gets its fallback (Shopify the name as
/// free text, Amazon `Others` with `carrierName`, eBay `Other`, Magento `custom`, WooCommerce
/// the name in the note). A table entry the platform refuses (eBay errorId 35000) is pushed
/// again with the fallback; a definition without fallback raises an exception and sends
/// nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_carriers_use_the_fallback_or_raise_an_exception() {
    let rig = start(Profile::Standalone, &Platform::ALL, "on_label", |_, s| s).await;
    let mut shipped = Vec::new();
    for p in Platform::ALL {
        let n = number(p, "C");
        shipped.push((p, rig.ship(p, 2, "Acme Freight", &n, true).await, n));
    }
    for (p, (order, key, _), n) in &shipped {
        let rows = rig.settled(order).await;
        assert_eq!(rows[0].status, "pushed", "{p:?}");
        let sim = &rig.sim(*p).state.push;
        assert_eq!(sim.creates(key), 1, "{p:?}");
        let r = &sim.records(key)[0];
        match p {
            Platform::Shopify => assert_eq!(r.carrier, "Acme Freight"),
            Platform::Amazon => {
                assert_eq!(r.carrier, "Others");
                assert_eq!(r.body["packageDetail"]["carrierName"], "Acme Freight");
            }
            Platform::Ebay => assert_eq!(r.carrier, "Other"),
            Platform::Magento => {
                assert_eq!(r.carrier, "custom");
                assert_eq!(r.body["tracks"][0]["title"], "Acme Freight");
            }
            Platform::Woocommerce => assert!(r.tracking[0].contains("Acme Freight")),
        }
        let history = rig.history(order, "pushed_back").await;
        assert_eq!(history[0]["carrier_fallback"], true, "{p:?}");
        let _ = n;
    }
    rig.stop().await;

    // Operator-edited definitions: eBay's table maps UPS to a code eBay refuses; Amazon's has
    // no fallback.
    let defs = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(common::sim::definitions_dir()).unwrap() {
        let e = entry.unwrap();
        if e.path().extension().is_some_and(|x| x == "toml") {
            let mut text = std::fs::read_to_string(e.path()).unwrap();
            if e.file_name() == "ebay.toml" {
                text = text.replace("ups = \"UPS\"", "ups = \"UPSX\"");
            }
            if e.file_name() == "amazon.toml" {
                text = text.replace("fallback_carrier = \"Others\"", "");
            }
            std::fs::write(defs.path().join(e.file_name()), text).unwrap();
        }
    }
    let defs_dir = defs.path().display().to_string();
    let rig = start(
        Profile::Standalone,
        &[Platform::Ebay, Platform::Amazon],
        "on_label",
        |_, s| {
            s.replace(
                &format!(
                    "definitions = \"{}\"",
                    common::sim::definitions_dir().display()
                ),
                &format!("definitions = \"{defs_dir}\""),
            )
        },
    )
    .await;
    let (order, key, _) = rig.ship(Platform::Ebay, 0, "UPS", "1ZREFUSED1", true).await;
    let rows = rig.settled(&order).await;
    assert_eq!(rows[0].status, "pushed");
    let sim = &rig.sim(Platform::Ebay).state.push;
    assert_eq!(sim.creates(&key), 1);
    assert_eq!(sim.records(&key)[0].carrier, "Other");
    let refused = rig
        .sim(Platform::Ebay)
        .state
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/shipping_fulfillment") && r.status == 400)
        .count();
    assert_eq!(refused, 1, "UPSX was refused once, then Other accepted");

    let (order, key, _) = rig
        .ship(Platform::Amazon, 0, "Acme Freight", "ACME0001", true)
        .await;
    let rows = rig.settled(&order).await;
    assert_eq!(rows[0].status, "failed");
    assert_eq!(rig.sim(Platform::Amazon).state.push.creates(&key), 0);
    let ex = rig.store().exceptions(false, 50).await.unwrap();
    let ex: Vec<_> = ex
        .iter()
        .filter(|e| e.order_id.as_deref() == Some(order.as_str()))
        .collect();
    assert_eq!(ex.len(), 1);
    assert_eq!(ex[0].kind, "pushback_unknown_carrier");
    assert_eq!(ex[0].department, "marketplaces");
    rig.stop().await;
}

/// 429 with Retry-After, a 500 on the create (which may have gone through: looked up first)
/// and an outage longer than the client's retries: each ends in one accepted push-back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_server_errors_and_outages_end_in_one_pushback() {
    let rig = start(Profile::Standalone, &Platform::ALL, "on_label", |_, s| s).await;
    // 429 + Retry-After: 1 on the first call.
    for p in Platform::ALL {
        rig.sim(p).state.faults(|f| {
            f.throttle_next = 1;
            f.retry_after_secs = 1.0;
        });
    }
    let started = Instant::now();
    let mut shipped = Vec::new();
    for p in Platform::ALL {
        shipped.push((p, rig.ship(p, 0, "UPS", &number(p, "D"), true).await));
    }
    for (p, (order, key, _)) in &shipped {
        assert_eq!(rig.settled(order).await[0].status, "pushed", "{p:?}");
        assert_eq!(rig.sim(*p).state.push.creates(key), 1, "{p:?}");
        let throttled = rig
            .sim(*p)
            .state
            .requests()
            .iter()
            .filter(|r| r.status == 429)
            .count();
        assert_eq!(throttled, 1, "{p:?}");
    }
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "Retry-After honoured"
    );

    // A 500 on each call in turn (the create's may have gone through: looked up first).
    for p in Platform::ALL {
        rig.sim(p).state.faults(|f| f.fail_next = 1);
    }
    let mut shipped = Vec::new();
    for p in Platform::ALL {
        shipped.push((p, rig.ship(p, 1, "UPS", &number(p, "E"), true).await));
    }
    for (p, (order, key, _)) in &shipped {
        assert_eq!(rig.settled(order).await[0].status, "pushed", "{p:?}");
        assert_eq!(rig.sim(*p).state.push.creates(key), 1, "{p:?}");
    }

    // An outage of 3 s: the client's retries run out, the stage retries the message later.
    for p in Platform::ALL {
        rig.sim(p).state.faults(|f| {
            f.outage_until = Some(std::time::Instant::now() + Duration::from_secs(3));
        });
    }
    let mut shipped = Vec::new();
    for p in Platform::ALL {
        shipped.push((p, rig.ship(p, 2, "UPS", &number(p, "F"), true).await));
    }
    for (p, (order, key, _)) in &shipped {
        let rows = rig.settled(order).await;
        assert_eq!(rows[0].status, "pushed", "{p:?}");
        let refused = rig
            .sim(*p)
            .state
            .requests()
            .iter()
            .filter(|r| r.status == 503)
            .count();
        assert!(
            refused >= 2,
            "{p:?}: retried through the outage ({refused} refused)"
        );
        assert_eq!(rig.sim(*p).state.push.creates(key), 1, "{p:?}");
    }
    rig.stop().await;
}

/// A 4xx that is none of the classified ones: an exception for the connector's department,
/// the push-back marked failed, nothing created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_is_an_exception_for_the_connectors_department() {
    let rig = start(Profile::Standalone, &Platform::ALL, "on_label", |_, s| s).await;
    for p in Platform::ALL {
        rig.sim(p)
            .state
            .push
            .set_faults(ordergate::sandbox::pushback::PushFaults {
                refuse_next: 1,
                ..Default::default()
            });
    }
    let mut shipped = Vec::new();
    for p in Platform::ALL {
        shipped.push((p, rig.ship(p, 3, "UPS", &number(p, "G"), true).await));
    }
    let open = |all: &[ordergate::store::ExceptionRecord], order: &str| {
        all.iter()
            .filter(|e| e.order_id.as_deref() == Some(order))
            .cloned()
            .collect::<Vec<_>>()
    };
    for (p, (order, key, _)) in &shipped {
        let rows = rig.settled(order).await;
        assert_eq!(rows[0].status, "failed", "{p:?}");
        assert_eq!(rig.sim(*p).state.push.creates(key), 0, "{p:?}");
        let all = rig.store().exceptions(false, 100).await.unwrap();
        let ex = open(&all, order);
        assert_eq!(ex.len(), 1, "{p:?}");
        assert_eq!(ex[0].kind, "pushback_refused");
        assert_eq!(ex[0].department, "marketplaces");
        assert_eq!(ex[0].connector.as_deref(), Some(connector(*p).as_str()));
        assert!(ex[0].reason.contains("400"), "{}", ex[0].reason);
        assert_eq!(rig.history(order, "pushback_failed").await.len(), 1);
    }
    // Reconciliation leaves refused ones alone; asked to retry them (the cause fixed), it
    // pushes each once.
    let pushers = Pushers::from_config(&rig.cfg.connectors);
    let plain = reconcile::run_once(rig.store(), &pushers, &rig.cfg.pushback, 24)
        .await
        .unwrap();
    assert!(plain.iter().all(|r| r.checked == 0), "{plain:?}");
    let retried = reconcile::run_once_with(rig.store(), &pushers, &rig.cfg.pushback, 24, true)
        .await
        .unwrap();
    assert!(retried.iter().all(|r| r.repaired == 1), "{retried:?}");
    for (p, (order, key, _)) in &shipped {
        assert_eq!(rig.sim(*p).state.push.creates(key), 1, "{p:?}");
        let rows = rig.store().pushbacks_of(order).await.unwrap();
        assert_eq!(rows[0].status, "pushed", "{p:?}");
        assert_eq!(rig.history(order, "pushed_back").await.len(), 1, "{p:?}");
    }
    rig.stop().await;
}

/// The create is recorded by the platform but its answer never arrives (the client times
/// out): the platform's fulfilments are looked up, ours is found, nothing is sent again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_answer_is_looked_up_and_not_pushed_twice() {
    let rig = start(Profile::Standalone, &Platform::ALL, "on_label", |_, s| {
        s.replace("request_timeout_ms = 3000", "request_timeout_ms = 1000")
    })
    .await;
    for p in Platform::ALL {
        rig.sim(p)
            .state
            .push
            .set_faults(ordergate::sandbox::pushback::PushFaults {
                lose_next_answer: 1,
                answer_delay_ms: 2500,
                ..Default::default()
            });
    }
    let mut shipped = Vec::new();
    for p in Platform::ALL {
        shipped.push((p, rig.ship(p, 0, "UPS", &number(p, "H"), true).await));
    }
    for (p, (order, key, _)) in &shipped {
        let rows = rig.settled(order).await;
        assert_eq!(rows[0].status, "pushed", "{p:?}");
        assert_eq!(rows[0].how.as_deref(), Some("found"), "{p:?}");
        let sim = &rig.sim(*p).state.push;
        assert_eq!(sim.creates(key), 1, "{p:?}: looked up, not created again");
        if *p != Platform::Amazon {
            assert_eq!(
                rows[0].proof.clone().unwrap(),
                proof_of(*p, sim.records(key)[0].id),
                "{p:?}"
            );
        }
        if *p == Platform::Woocommerce {
            assert!(sim.completed(key), "the follow-up ran after the look-up");
        }
    }
    rig.stop().await;
}

/// An eBay create (every create is a new fulfilment) the platform records only after our LAST
/// try gave up (no retries left): the stage retries the push-back after its backoff, and its
/// look-up must not run while the create is still on its way — it would miss it and create a
/// second fulfilment. The chain's end waits for the unanswered create to settle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ebay_create_late_past_the_last_retry_is_not_pushed_again() {
    let ebay = Platform::Ebay;
    let rig = start(Profile::Standalone, &[ebay], "on_label", |_, s| {
        let s = s
            .replace("request_timeout_ms = 3000", "request_timeout_ms = 800")
            .replace("max_retries = 2", "max_retries = 0");
        assert!(s.contains("max_retries = 0"));
        s
    })
    .await;
    rig.sim(ebay)
        .state
        .push
        .set_faults(ordergate::sandbox::pushback::PushFaults {
            late_next_create: 1,
            late_ms: 1500,
            ..Default::default()
        });
    let (order, key, _) = rig.ship(ebay, 0, "UPS", &number(ebay, "L"), true).await;
    let rows = rig.settled(&order).await;
    assert_eq!(rows[0].status, "pushed");
    // Whatever a second create would have made is made by now.
    tokio::time::sleep(Duration::from_millis(1_600)).await;
    let sim = &rig.sim(ebay).state.push;
    assert_eq!(
        sim.creates(&key),
        1,
        "a create still in flight after the last try must not be sent again"
    );
    assert_eq!(rows[0].how.as_deref(), Some("found"), "looked up");
    assert_eq!(rig.history(&order, "pushed_back").await.len(), 1);
    rig.stop().await;
}

/// A create that went through but whose answer cannot be read (HTTP 200 with an HTML page,
/// JSON cut off halfway, JSON of another shape) or comes after the timeout (slow): the
/// platform is looked up before anything is sent again (creates are not idempotent), so each
/// order ends with exactly one fulfilment at the simulator, found there; the connector's health
/// records the failure and is up again after. A platform whose answers can never be read
/// parks the push-back with a `pushback_unreadable` exception naming the connector and the
/// reason, never the body; its health goes down and comes back up when it answers again, and
/// the other marketplace connector pushes on untouched throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_garbled_or_late_answer_is_looked_up_and_never_sent_twice() {
    use ordergate::sandbox::pushback::{Garble, PushFaults};
    use ordergate::store::ConnectorHealth;
    let platforms = [Platform::Shopify, Platform::Ebay, Platform::Woocommerce];
    let rig = start(Profile::Standalone, &platforms, "on_label", |_, s| {
        s.replace("request_timeout_ms = 3000", "request_timeout_ms = 1000")
    })
    .await;
    let health = |c: &str| {
        rig.daemon
            .health
            .snapshot()
            .into_iter()
            .find(|s| s.connector == c)
    };
    let woo = Platform::Woocommerce;
    let mut n_woo = 0;
    // The other connector ships an order in every round; it is pushed once, its health up.
    let other_ships = |n: usize| {
        let rig = &rig;
        async move {
            let (order, key, _) = rig
                .ship(woo, n, "UPS", &number(woo, &format!("W{n}")), true)
                .await;
            assert_eq!(rig.settled(&order).await[0].status, "pushed");
            assert_eq!(
                rig.sim(woo).state.push.creates(&key),
                1,
                "the other connector"
            );
        }
    };
    // Garbled answers to creates that went through, then a late one (slow).
    let rounds: [(&str, PushFaults); 4] = [
        (
            "html",
            PushFaults {
                garble_next_answer: 1,
                garble: Garble::Html,
                ..Default::default()
            },
        ),
        (
            "truncated",
            PushFaults {
                garble_next_answer: 1,
                garble: Garble::Truncated,
                ..Default::default()
            },
        ),
        (
            "shape",
            PushFaults {
                garble_next_answer: 1,
                garble: Garble::Shape,
                ..Default::default()
            },
        ),
        (
            "slow",
            PushFaults {
                lose_next_answer: 1,
                answer_delay_ms: 2500,
                ..Default::default()
            },
        ),
    ];
    for (n, (what, faults)) in rounds.iter().enumerate() {
        let mut shipped = Vec::new();
        for p in [Platform::Shopify, Platform::Ebay] {
            rig.sim(p).state.push.set_faults(faults.clone());
            shipped.push((
                p,
                rig.ship(p, n, "UPS", &number(p, &format!("R{n}")), true)
                    .await,
            ));
        }
        other_ships(n_woo).await;
        n_woo += 1;
        for (p, (order, key, _)) in &shipped {
            let rows = rig.settled(order).await;
            assert_eq!(rows[0].status, "pushed", "{what} {p:?}");
            assert_eq!(
                rows[0].how.as_deref(),
                Some("found"),
                "{what} {p:?}: looked up"
            );
            let sim = &rig.sim(*p).state.push;
            assert_eq!(
                sim.creates(key),
                1,
                "{what} {p:?}: exactly one fulfilment, not sent again"
            );
            assert_eq!(
                rows[0].proof.clone().unwrap(),
                proof_of(*p, sim.records(key)[0].id),
                "{what} {p:?}"
            );
            assert_eq!(
                rig.history(order, "pushed_back").await.len(),
                1,
                "{what} {p:?}"
            );
            let h = health(&connector(*p)).expect("health tracked");
            assert_eq!(h.health, ConnectorHealth::Up, "{what} {p:?}: up again");
            let error = h.last_error.unwrap_or_default();
            let expected = if *what == "slow" {
                "timed out"
            } else {
                "could not be read"
            };
            assert!(
                error.contains(expected),
                "{what} {p:?}: the failure was recorded: {error}"
            );
        }
    }
    assert_eq!(
        health(&connector(woo)).unwrap().last_error,
        None,
        "the other connector never failed"
    );

    // A platform whose every answer is garbage (nothing reaches it): tried with backoff, looked
    // up, then parked with an exception; health down.
    let shopify = Platform::Shopify;
    rig.sim(shopify).state.faults(|f| f.garble_next = 1_000);
    let (order, key, _) = rig
        .ship(shopify, 5, "UPS", &number(shopify, "X"), true)
        .await;
    other_ships(n_woo).await;
    n_woo += 1;
    let rows = rig.settled(&order).await;
    assert_eq!(rows[0].status, "failed");
    assert_eq!(rig.sim(shopify).state.push.creates(&key), 0);
    let all = rig.store().exceptions(false, 100).await.unwrap();
    let ex: Vec<_> = all
        .iter()
        .filter(|e| e.order_id.as_deref() == Some(order.as_str()))
        .collect();
    assert_eq!(ex.len(), 1, "{ex:?}");
    assert_eq!(ex[0].kind, "pushback_unreadable");
    assert_eq!(
        ex[0].connector.as_deref(),
        Some(connector(shopify).as_str())
    );
    assert_eq!(ex[0].department, "marketplaces");
    assert!(
        ex[0].reason.contains(&connector(shopify)),
        "{}",
        ex[0].reason
    );
    assert!(
        ex[0].reason.contains("could not be read"),
        "{}",
        ex[0].reason
    );
    assert!(
        !ex[0].reason.contains("\"result\""),
        "not the body: {}",
        ex[0].reason
    );
    assert_eq!(
        health(&connector(shopify)).unwrap().health,
        ConnectorHealth::Down
    );
    for p in [Platform::Ebay, Platform::Woocommerce] {
        assert_eq!(
            health(&connector(p)).unwrap().health,
            ConnectorHealth::Up,
            "{p:?}"
        );
    }

    // It answers again: the next order is pushed once and health is up; the parked one, retried
    // by reconciliation, is looked up and pushed once.
    rig.sim(shopify).state.faults(|f| f.garble_next = 0);
    let (next, next_key, _) = rig
        .ship(shopify, 6, "UPS", &number(shopify, "Y"), true)
        .await;
    assert_eq!(rig.settled(&next).await[0].status, "pushed");
    assert_eq!(rig.sim(shopify).state.push.creates(&next_key), 1);
    assert_eq!(
        health(&connector(shopify)).unwrap().health,
        ConnectorHealth::Up
    );
    let pushers = Pushers::from_config(&rig.cfg.connectors);
    reconcile::run_once_with(rig.store(), &pushers, &rig.cfg.pushback, 24, true)
        .await
        .unwrap();
    assert_eq!(
        rig.store().pushbacks_of(&order).await.unwrap()[0].status,
        "pushed"
    );
    assert_eq!(rig.sim(shopify).state.push.creates(&key), 1);
    other_ships(n_woo).await;
    rig.stop().await;
}

/// `on_first_scan` waits for the parcel's first carrier scan; `never` pushes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_on_first_scan_and_never() {
    let mut rig = start(
        Profile::Standalone,
        &[Platform::Ebay],
        "on_first_scan",
        |_, s| s,
    )
    .await;
    // The parcel holds one unit of the first line only: eBay is told that line.
    let first = rig.sim(Platform::Ebay).state.orders()[0].facts.lines[0]
        .sku
        .to_string();
    rig.items = serde_json::json!({ first: "1" });
    let (order, key, shipment) = rig.ship(Platform::Ebay, 0, "UPS", "1ZSCAN0001", true).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(rig.store().pushbacks_of(&order).await.unwrap().is_empty());
    assert_eq!(rig.sim(Platform::Ebay).state.push.creates(&key), 0);
    rig.first_scan(&order, &shipment, "1ZSCAN0001").await;
    let rows = rig.settled(&order).await;
    assert_eq!(rows[0].status, "pushed");
    assert_eq!(rows[0].unit_key, shipment, "eBay is told per parcel");
    assert_eq!(rig.sim(Platform::Ebay).state.push.creates(&key), 1);
    let body = &rig.sim(Platform::Ebay).state.push.records(&key)[0].body;
    let lines = body["lineItems"].as_array().unwrap();
    assert_eq!(lines.len(), 1, "{body}");
    assert_eq!(lines[0]["quantity"], 1);
    rig.stop().await;

    let rig = start(Profile::Standalone, &[Platform::Shopify], "never", |_, s| s).await;
    let (order, key, shipment) = rig
        .ship(Platform::Shopify, 0, "UPS", "1ZNEVER001", true)
        .await;
    rig.first_scan(&order, &shipment, "1ZNEVER001").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(rig.store().pushbacks_of(&order).await.unwrap().is_empty());
    assert_eq!(rig.sim(Platform::Shopify).state.push.creates(&key), 0);
    assert!(rig
        .sim(Platform::Shopify)
        .state
        .requests()
        .iter()
        .all(|r| !r.path.contains("fulfill")));
    rig.stop().await;
}

/// Every platform loses the fulfilment it accepted: reconciliation finds each missing, pushes
/// it again (one fulfilment listed at the platform afterwards) and records the repair; the
/// next run finds everything present.
async fn reconciliation_repairs_what_the_marketplace_lost(profile: Profile) {
    let rig = start(profile, &Platform::ALL, "on_label", |_, s| s).await;
    let mut shipped = Vec::new();
    for p in Platform::ALL {
        shipped.push((p, rig.ship(p, 0, "UPS", &number(p, "R"), true).await));
    }
    for (_, (order, _, _)) in &shipped {
        assert_eq!(rig.settled(order).await[0].status, "pushed");
    }
    let pushers = Pushers::from_config(&rig.cfg.connectors);
    let first = reconcile::run_once(rig.store(), &pushers, &rig.cfg.pushback, 24)
        .await
        .unwrap();
    for r in &first {
        assert_eq!((r.checked, r.present, r.lost), (1, 1, 0), "{r:?}");
    }
    for (p, (_, key, _)) in &shipped {
        assert_eq!(rig.sim(*p).state.push.lose(key), 1, "{p:?}");
        assert!(rig.sim(*p).state.push.records(key).is_empty());
    }
    let second = reconcile::run_once(rig.store(), &pushers, &rig.cfg.pushback, 24)
        .await
        .unwrap();
    for r in &second {
        assert_eq!(
            (r.checked, r.lost, r.repaired, r.failed),
            (1, 1, 1, 0),
            "{r:?}"
        );
    }
    for (p, (order, key, _)) in &shipped {
        let sim = &rig.sim(*p).state.push;
        assert_eq!(
            sim.records(key).len(),
            1,
            "{p:?}: one fulfilment listed after the repair"
        );
        let row = &rig.store().pushbacks_of(order).await.unwrap()[0];
        assert_eq!(row.how.as_deref(), Some("repushed"), "{p:?}");
        let repaired = rig.history(order, "pushback_repaired").await;
        assert_eq!(repaired.len(), 1, "{p:?}");
        assert_eq!(repaired[0]["proof"], row.proof.clone().unwrap().as_str());
    }
    let third = reconcile::run_once(rig.store(), &pushers, &rig.cfg.pushback, 24)
        .await
        .unwrap();
    for r in &third {
        assert_eq!((r.present, r.lost), (1, 0), "{r:?}");
    }
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconciliation_repairs_what_the_marketplace_lost_standalone() {
    reconciliation_repairs_what_the_marketplace_lost(Profile::Standalone).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconciliation_repairs_what_the_marketplace_lost_cluster() {
    reconciliation_repairs_what_the_marketplace_lost(Profile::Cluster).await;
}

/// Reconciliation runs where the push-back stage does: what the marketplace lost is not pushed
/// again while only a daemon without the stage runs, however often its interval passes; a
/// daemon with the stage repairs it, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconciliation_runs_only_where_the_pushback_stage_does() {
    let p = Platform::Shopify;
    let rig = start(Profile::Standalone, &[p], "on_label", |_, s| s).await;
    let (order, key, _) = rig.ship(p, 0, "UPS", &number(p, "G"), true).await;
    assert_eq!(rig.settled(&order).await[0].status, "pushed");
    assert_eq!(rig.sim(p).state.push.lose(&key), 1);
    let Rig {
        _env,
        daemon,
        cfg,
        sims,
        ..
    } = rig;
    daemon.stop().await;
    let sim = &sims[0].state.push;
    let repaired = |store: Store| {
        let order = order.clone();
        async move {
            store
                .order_events(&order)
                .await
                .unwrap()
                .iter()
                .filter(|e| e.kind == "pushback_repaired")
                .count()
        }
    };

    let mut cfg = cfg;
    cfg.pushback.reconcile_interval_secs = 1;
    cfg.pipeline.stages = vec!["normalize".into()];
    let daemon = Daemon::start(&cfg).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(
        sim.records(&key).is_empty(),
        "no reconciliation without the pushback stage"
    );
    assert_eq!(repaired(daemon.store.clone()).await, 0);
    daemon.stop().await;

    cfg.pipeline.stages = vec!["pushback".into()];
    let daemon = Daemon::start(&cfg).await.unwrap();
    let store = daemon.store.clone();
    wait_until(WAIT, "the lost push-back repaired", || async {
        repaired(store.clone()).await == 1
    })
    .await;
    assert_eq!(sim.records(&key).len(), 1, "pushed again once");
    daemon.stop().await;
    for s in sims {
        s.stop().await;
    }
}

/// The shipped definitions all carry a valid `[pushback]`.
#[test]
fn every_marketplace_definition_declares_its_pushback() {
    for p in Platform::ALL {
        let def = ordergate::partner::definition::load(
            Path::new(&common::sim::definitions_dir()),
            p.as_str(),
        )
        .unwrap();
        let spec = def.pushback.expect("a [pushback] section");
        spec.validate().unwrap();
        assert!(spec.carriers.contains_key("ups"), "{p:?}");
    }
}

/// The daemon binary is SIGKILLed while each platform holds the answer of its create: the
/// restarted daemon finds the intent without proof, looks each platform up once the claim has
/// run out, finds the push-back and records it — one create per order on every platform.
async fn one_pushback_per_order_under_sigkill(profile: Profile) {
    let env = TestEnv::new(profile).await;
    let mut sims = Vec::new();
    let mut connectors = String::new();
    for p in Platform::ALL {
        let sim = common::sim::start(p, 4, 11).await;
        sim.state
            .push
            .set_faults(ordergate::sandbox::pushback::PushFaults {
                lose_next_answer: 1,
                answer_delay_ms: 6_000,
                ..Default::default()
            });
        connectors.push_str(
            &common::sim::marketplace_section(&connector(p), &sim, env.dir.path(), 50).replace(
                "lease_ms = 3000\n",
                "lease_ms = 3000\nenabled = false\npushback = \"on_label\"\n",
            ),
        );
        sims.push(sim);
    }
    let bus = match profile {
        Profile::Standalone => "kind = \"embedded\"\npoll_interval_ms = 50".to_string(),
        Profile::Cluster => format!("kind = \"amqp\"\nurl = \"{}\"", common::amqp_url()),
    };
    let cfg_path = env.dir.path().join("og.toml");
    std::fs::write(
        &cfg_path,
        format!(
            "[store]\nurl = \"{store}\"\nmax_connections = 8\n[bus]\n{bus}\nnamespace = \"{ns}\"\n\
             retry_tiers_ms = [100, 200, 400, 800, 1600]\nlease_ms = 3000\n\
             [pipeline]\nretry_base_ms = 100\nretry_max_ms = 1000\nmax_attempts = 40\n[http]\nlisten = \"\"\n\
             [mappings]\ndir = \"{maps}\"\n[pushback]\nclaim_ms = 3000\nreconcile_interval_secs = 0\n{connectors}",
            store = env.store_url(),
            ns = env.namespace,
            maps = common::mappings_dir().display(),
        ),
    )
    .unwrap();
    let store = Store::connect(&env.store_url(), 4, "normal").await.unwrap();
    let mut orders = Vec::new();
    for (i, p) in Platform::ALL.into_iter().enumerate() {
        let sim = &sims[i];
        let o = sim.state.orders()[0].clone();
        let (id, _, _) = put_shipped(
            &store,
            p,
            &o,
            "UPS",
            &number(p, "K"),
            serde_json::json!({}),
            true,
        )
        .await;
        orders.push((p, id, sim_key(p, &o)));
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
    let mut child = run();
    // Every platform recorded the create; none of the answers has arrived.
    let creates = |sims: &[Sandbox], orders: &[(Platform, String, String)]| {
        orders
            .iter()
            .enumerate()
            .map(|(i, (_, _, key))| sims[i].state.push.creates(key))
            .collect::<Vec<_>>()
    };
    let deadline = Instant::now() + WAIT;
    while creates(&sims, &orders).contains(&0) {
        assert!(
            Instant::now() < deadline,
            "creates: {:?}",
            creates(&sims, &orders)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    for (_, id, _) in &orders {
        let rows = store.pushbacks_of(id).await.unwrap();
        assert_eq!(rows[0].status, "intended", "killed before any answer");
    }
    let mut child = run();
    for (p, id, _) in &orders {
        let (store, id) = (store.clone(), id.clone());
        wait_until(
            WAIT,
            &format!("{p:?} pushed after the restart"),
            move || {
                let (store, id) = (store.clone(), id.clone());
                async move {
                    store
                        .pushbacks_of(&id)
                        .await
                        .unwrap()
                        .iter()
                        .all(|r| r.status == "pushed")
                }
            },
        )
        .await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(creates(&sims, &orders), vec![1; 5], "one create per order");
    for (p, id, _) in &orders {
        let rows = store.pushbacks_of(id).await.unwrap();
        assert_eq!(rows[0].how.as_deref(), Some("found"), "{p:?}");
        assert!(rows[0].attempts >= 2, "{p:?}");
    }
    // Every platform loses it; `ordergate reconcile pushback` repairs each, once.
    for (i, (_, _, key)) in orders.iter().enumerate() {
        assert_eq!(sims[i].state.push.lose(key), 1);
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ordergate"))
        .args(["reconcile", "pushback", "--config"])
        .arg(&cfg_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reports: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(reports.len(), 5);
    for r in &reports {
        assert_eq!((&r["lost"], &r["repaired"]), (&1.into(), &1.into()), "{r}");
    }
    for (i, (p, id, key)) in orders.iter().enumerate() {
        assert_eq!(sims[i].state.push.records(key).len(), 1, "{p:?}");
        assert_eq!(
            sims[i].state.push.creates(key),
            2,
            "{p:?}: the lost one and the repair"
        );
        assert_eq!(
            store.pushbacks_of(id).await.unwrap()[0].how.as_deref(),
            Some("repushed")
        );
    }
    for s in sims {
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_pushback_per_order_under_sigkill_standalone() {
    one_pushback_per_order_under_sigkill(Profile::Standalone).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_pushback_per_order_under_sigkill_cluster() {
    one_pushback_per_order_under_sigkill(Profile::Cluster).await;
}

/// A per-parcel platform (eBay) is told about a parcel added after the order shipped, once;
/// the first parcel is not told again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parcel_added_later_is_pushed_to_a_per_parcel_platform() {
    let rig = start(Profile::Standalone, &[Platform::Ebay], "on_label", |_, s| s).await;
    let (order, key, first) = rig.ship(Platform::Ebay, 0, "UPS", "1ZFIRST001", true).await;
    assert_eq!(rig.settled(&order).await.len(), 1);
    let parcel = NewShipment {
        order_id: &order,
        warehouse: Some("east"),
        carrier: "FedEx",
        carrier_name: Some("FedEx"),
        tracking_number: "7777SECOND",
        service: None,
        promised_at: None,
        eta: None,
        items: serde_json::json!({}),
    };
    let store = rig.store();
    let mut tx = store.begin().await.unwrap();
    let (second, _) = Store::record_shipment(&mut tx, &parcel)
        .await
        .unwrap()
        .shipment()
        .unwrap();
    let event = parcel.created_event(&second);
    Store::outbox_insert(&mut tx, &[&event]).await.unwrap();
    tx.commit().await.unwrap();
    ordergate::outbox::publish_committed(store, rig.daemon.bus.as_ref(), &[event]).await;
    let store2 = store.clone();
    let o = order.clone();
    wait_until(WAIT, "the second parcel pushed", move || {
        let (store, o) = (store2.clone(), o.clone());
        async move {
            let rows = store.pushbacks_of(&o).await.unwrap();
            rows.len() == 2 && rows.iter().all(|r| r.status == "pushed")
        }
    })
    .await;
    let rows = store.pushbacks_of(&order).await.unwrap();
    let keys: Vec<&str> = rows.iter().map(|r| r.unit_key.as_str()).collect();
    assert!(keys.contains(&first.as_str()) && keys.contains(&second.as_str()));
    let sim = &rig.sim(Platform::Ebay).state.push;
    assert_eq!(sim.creates(&key), 2, "one per parcel");
    let carriers: Vec<String> = sim
        .records(&key)
        .iter()
        .map(|r| r.carrier.clone())
        .collect();
    assert_eq!(carriers, vec!["UPS".to_string(), "FedEx".to_string()]);
    rig.stop().await;
}
