//! The order lifecycle after review, end to end through the real daemon and the warehouse
//! simulators (ShipBob-like REST, Qimen-like WMS) on loopback:
//!
//! * 500 orders from the Shopify simulator → review → allocation over two warehouses (by
//!   category and by region) → fulfilment requested → the simulators ship them (callbacks) →
//!   `shipped`, in both profiles, the daemon binary SIGKILLed once in the middle; every
//!   warehouse got exactly one fulfilment order per order allocated to it;
//! * a stock shortage → `backordered` with one exception for the category's department →
//!   stock arrives → the periodic re-check allocates it → fulfilled once, exception resolved;
//! * warehouse 429s, 5xx, a lost create answer and an outage → retried, health
//!   degraded/down/up, nothing lost, no duplicate; an answer that is not what the definition
//!   says → a typed partner error in the exception, parked;
//! * a cancel after fulfilment was requested that the WMS refuses (picking started) →
//!   `order.change_refused` and a `change_refused` exception with the WMS's words.
//!
//! Time is scaled: retries from 50 ms, an outage of a few seconds stands for ten minutes.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failed unwrap is a failed test.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::lifecycle::{
    count, free_port, once_each, qimen_section, qimen_sim, shipbob_section, shipbob_sim,
    shop_order, state_count,
};
use common::{sim, wait_until, Profile, TestEnv};
use ordergate::sandbox::qimen::QimenSandbox;
use ordergate::sandbox::shipbob::ShipbobSandbox;
use ordergate::sandbox::shipout::ShipOut;
use ordergate::sandbox::warehouse::FaultRequest;
use ordergate::sandbox::Platform;
use ordergate::store::Store;
use rust_decimal::Decimal;

/// Routing over two warehouses: lighting (fragile lamps) from `factory`, the US and Canada
/// from `east`, everything else from `factory`; lighting shortages are production's.
fn routing(recheck_secs: u64) -> String {
    format!(
        r#"
[routing]
recheck_interval_secs = {recheck_secs}
shortage_department = "procurement"
change_department = "sales"

[[routing.rules]]
name = "lighting-by-category"
categories = ["lighting"]
warehouses = ["factory"]

[[routing.rules]]
name = "north-america-by-region"
countries = ["US", "CA"]
warehouses = ["east"]

[[routing.rules]]
name = "rest"
warehouses = ["factory"]

[routing.categories.lighting]
department = "production"
due_hours = 72
"#
    )
}

/// The whole configuration text of a test daemon (tests/common/lifecycle.rs) with fast
/// retries.
fn config_text(env: &TestEnv, port: u16, extra: &str) -> String {
    common::lifecycle::config_text(env, port, common::lifecycle::FAST_RETRIES, extra)
}

fn run_binary(cfg: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_ordergate"))
        .args(["run", "--config"])
        .arg(cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

async fn five_hundred_orders_ship(profile: Profile) {
    let started = Instant::now();
    let env = TestEnv::new(profile).await;
    let port = free_port();
    let shop = sim::start(Platform::Shopify, 500, 21).await;
    let east = shipbob_sim(port, "east", Some(Duration::from_millis(300))).await;
    let factory = shipbob_sim(port, "factory", Some(Duration::from_millis(300))).await;
    let extra = format!(
        "{}{}{}{}",
        sim::marketplace_section("shop", &shop, env.dir.path(), 50),
        shipbob_section(env.dir.path(), "east", &east.base_url(), 2000),
        shipbob_section(env.dir.path(), "factory", &factory.base_url(), 2000),
        routing(0),
    );
    let cfg = env.dir.path().join("og.toml");
    std::fs::write(&cfg, config_text(&env, port, &extra)).unwrap();
    let store = Store::connect(&env.store_url(), 4, "normal").await.unwrap();

    let mut child = run_binary(&cfg);
    // Killed in the middle: some orders requested at the warehouses, most not.
    wait_until(
        Duration::from_secs(120),
        "a first fulfilment order",
        || async { count(&store, "SELECT COUNT(*) FROM fulfilments").await >= 40 },
    )
    .await;
    child.kill().unwrap();
    child.wait().unwrap();
    let at_kill = count(&store, "SELECT COUNT(*) FROM fulfilments").await;
    let mut child = run_binary(&cfg);

    let settled = || async {
        let orders = count(&store, "SELECT COUNT(*) FROM orders").await;
        let approved = count(
            &store,
            "SELECT COUNT(DISTINCT order_id) FROM order_events WHERE kind = 'approve'",
        )
        .await;
        let shipped = state_count(&store, "shipped").await;
        orders == 500 && approved > 0 && shipped == approved
    };
    wait_until(
        Duration::from_secs(300),
        "every approved order shipped",
        settled,
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let shipped = state_count(&store, "shipped").await;
    assert!(
        shipped >= 250,
        "most generated orders pass review and ship: {shipped}"
    );
    for s in [
        "approved",
        "allocated",
        "backordered",
        "fulfilment_requested",
        "packed",
    ] {
        assert_eq!(state_count(&store, s).await, 0, "no order left {s}");
    }
    once_each(&store, "east", &east.state.created()).await;
    once_each(&store, "factory", &factory.state.created()).await;
    // By category: every lamp line went to the factory; by region: every other line of a
    // US or Canadian order to the east.
    let lamps_east = east
        .state
        .created()
        .keys()
        .flat_map(|k| east.state.ids_of(k))
        .filter_map(|id| east.state.body_of(id))
        .filter(|b| b.to_string().contains("LAMP-DESK-01"))
        .count();
    assert_eq!(lamps_east, 0, "lamps are the factory's");
    let shipments = count(&store, "SELECT COUNT(*) FROM shipments").await;
    assert!(shipments >= shipped, "a shipment per parcel: {shipments}");
    let parked = ordergate::dlq::list(&store, 10).await.unwrap();
    assert!(parked.is_empty(), "nothing parked: {parked:?}");
    eprintln!(
        "{profile:?}: 500 orders, {shipped} shipped, {at_kill} fulfilment orders at the kill, {:?}",
        started.elapsed()
    );
    child.kill().unwrap();
    child.wait().unwrap();
    shop.stop().await;
    east.stop().await;
    factory.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_hundred_orders_ship_standalone_with_a_sigkill() {
    five_hundred_orders_ship(Profile::Standalone).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_hundred_orders_ship_cluster_with_a_sigkill() {
    five_hundred_orders_ship(Profile::Cluster).await;
}

/// The configuration of a test daemon on `env` with `extra`.
fn config(env: &TestEnv, port: u16, extra: &str) -> ordergate::config::Config {
    let text = config_text(env, port, extra);
    let mut cfg = ordergate::config::Config::from_toml(&text, "test", Vec::new()).unwrap();
    cfg.anchor_paths(env.dir.path());
    cfg
}

/// An in-process daemon on `env` with `extra`.
async fn daemon(env: &TestEnv, port: u16, extra: &str) -> ordergate::app::Daemon {
    ordergate::app::Daemon::start(&config(env, port, extra))
        .await
        .unwrap()
}

/// The `east` and `factory` ShipBob simulators, the factory out of lamps; the folder
/// connector's folder; and the configuration's extra text: that connector, both warehouses and
/// [`routing`] re-checking stock every `recheck_secs`.
async fn out_of_lamps(
    env: &TestEnv,
    port: u16,
    recheck_secs: u64,
) -> (ShipbobSandbox, ShipbobSandbox, PathBuf, String) {
    let east = shipbob_sim(port, "east", None).await;
    let factory = shipbob_sim(port, "factory", None).await;
    factory
        .state
        .control
        .set_stock([("TEST-LAMP".to_string(), Decimal::ZERO)].into());
    let (section, inbox) = folder(env);
    let extra = format!(
        "{section}{}{}{}",
        shipbob_section(env.dir.path(), "east", &east.base_url(), 2000),
        shipbob_section(env.dir.path(), "factory", &factory.base_url(), 2000),
        routing(recheck_secs),
    );
    (east, factory, inbox, extra)
}

fn folder(env: &TestEnv) -> (String, PathBuf) {
    let inbox = env.inbox("shop");
    (
        common::folder_connector("shop-drop", &inbox, "shopify"),
        inbox,
    )
}

/// Waits for `order`'s state to be `state`.
async fn wait_state(store: &Store, order_id: &str, state: &str, timeout: Duration) {
    wait_until(timeout, &format!("order {order_id} {state}"), || async {
        store
            .order(order_id)
            .await
            .unwrap()
            .is_some_and(|o| o.state == state)
    })
    .await;
}

/// Polls `f` until it gives something or `timeout` passes; panics with `what` on timeout.
async fn poll<T, F, Fut>(timeout: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn only_order(store: &Store) -> String {
    poll(Duration::from_secs(30), "the order stored", || async {
        sqlx::query_scalar::<_, String>("SELECT id FROM orders LIMIT 1")
            .fetch_optional(store.pool())
            .await
            .unwrap()
    })
    .await
}

/// The reason of the first open exception of `kind` (and `department`, if given).
async fn exception_reason(store: &Store, kind: &str, department: Option<&str>) -> String {
    poll(
        Duration::from_secs(30),
        &format!("a {kind} exception"),
        || async {
            store
                .exceptions(false, 50)
                .await
                .unwrap()
                .into_iter()
                .find(|e| e.kind == kind && department.is_none_or(|d| e.department == d))
                .map(|e| e.reason)
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_shortage_backorders_then_stock_arrives_and_it_is_fulfilled_once() {
    let env = TestEnv::new(Profile::Standalone).await;
    let port = free_port();
    let (east, factory, inbox, extra) = out_of_lamps(&env, port, 1).await;
    let d = daemon(&env, port, &extra).await;
    let store = d.store.clone();
    common::drop_file(&inbox, "lamp.json", &shop_order(1, "TEST-LAMP"));
    let id = only_order(&store).await;
    wait_state(&store, &id, "backordered", Duration::from_secs(30)).await;
    // Re-checks while still short add no second exception.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let shortages: Vec<_> = store
        .exceptions(true, 50)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "stock_shortage")
        .collect();
    assert_eq!(shortages.len(), 1, "one exception, not one per re-check");
    assert_eq!(
        shortages[0].department, "production",
        "lighting's department"
    );
    assert!(shortages[0].due_at.is_some());
    assert!(
        shortages[0].reason.contains("TEST-LAMP"),
        "{}",
        shortages[0].reason
    );
    assert!(
        factory.state.created().is_empty(),
        "nothing placed while short"
    );

    factory
        .state
        .control
        .set_stock([("TEST-LAMP".to_string(), Decimal::from(5))].into());
    wait_state(&store, &id, "fulfilment_requested", Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        factory.state.created().values().sum::<u32>(),
        1,
        "fulfilled once"
    );
    assert!(east.state.created().is_empty());
    let e = store
        .exceptions(true, 50)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.kind == "stock_shortage")
        .unwrap();
    assert_eq!(e.status, "resolved");
    assert!(e.resolution.unwrap().contains("factory"));
    // The lamp carries its packing instruction.
    let remote = factory
        .state
        .ids_of(&ordergate::outbound::warehouse::fulfilment_key(
            &id, "factory",
        ));
    let body = factory.state.body_of(remote[0]).unwrap().to_string();
    assert!(body.contains("FRAGILE"), "packing instruction sent: {body}");
    d.stop().await;
    east.stop().await;
    factory.stop().await;
}

/// The stock re-check runs where the allocate stage does: a backordered order whose stock is
/// back is not sent to allocation again (no `order.reallocate` published) while only a daemon
/// without the stage runs, however often its interval passes; a daemon with the stage
/// re-checks it and it is fulfilled.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_stock_recheck_runs_only_where_the_allocate_stage_does() {
    let env = TestEnv::new(Profile::Standalone).await;
    let port = free_port();
    let (east, factory, inbox, extra) = out_of_lamps(&env, port, 0).await;
    let mut cfg = config(&env, port, &extra);
    let d = ordergate::app::Daemon::start(&cfg).await.unwrap();
    // The test's own handle: each daemon closes its own when it stops.
    let store = Store::connect(&env.store_url(), 4, "normal").await.unwrap();
    common::drop_file(&inbox, "lamp.json", &shop_order(2, "TEST-LAMP"));
    let id = only_order(&store).await;
    wait_state(&store, &id, "backordered", Duration::from_secs(30)).await;
    d.stop().await;
    factory
        .state
        .control
        .set_stock([("TEST-LAMP".to_string(), Decimal::from(5))].into());
    let reallocations = || {
        count(
            &store,
            "SELECT COUNT(*) FROM bus_messages WHERE body LIKE '%order.reallocate%'",
        )
    };

    cfg.routing.recheck_interval_secs = 1;
    cfg.pipeline.stages = vec!["normalize".into()];
    let d = ordergate::app::Daemon::start(&cfg).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        reallocations().await,
        0,
        "no re-check without the allocate stage"
    );
    assert_eq!(
        store.order(&id).await.unwrap().unwrap().state,
        "backordered"
    );
    d.stop().await;

    cfg.pipeline.stages = vec!["allocate".into(), "fulfil".into()];
    let d = ordergate::app::Daemon::start(&cfg).await.unwrap();
    wait_state(&store, &id, "fulfilment_requested", Duration::from_secs(30)).await;
    assert_eq!(factory.state.created().values().sum::<u32>(), 1);
    d.stop().await;
    east.stop().await;
    factory.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn warehouse_failures_are_retried_without_duplicates_and_bad_answers_parked() {
    let env = TestEnv::new(Profile::Standalone).await;
    let port = free_port();
    let east = shipbob_sim(port, "east", None).await;
    let factory = shipbob_sim(port, "factory", None).await;
    let (section, inbox) = folder(&env);
    let extra = format!(
        "{section}{}{}{}",
        shipbob_section(env.dir.path(), "east", &east.base_url(), 2000),
        shipbob_section(env.dir.path(), "factory", &factory.base_url(), 2000),
        routing(0),
    );
    let d = daemon(&env, port, &extra).await;
    let store = d.store.clone();
    let health = d.health.clone();
    let east_health = || {
        health
            .snapshot()
            .into_iter()
            .find(|s| s.connector == "east")
            .map(|s| s.health)
    };
    // 429s with a retry hint, 5xx, and a create carried out whose answer is lost.
    east.state.control.set_faults(FaultRequest {
        throttle_next: 3,
        retry_after_secs: 0.2,
        fail_next: 2,
        drop_next_create: 1,
        ..FaultRequest::default()
    });
    for n in 0..5 {
        common::drop_file(
            &inbox,
            &format!("o{n}.json"),
            &shop_order(100 + n, "TEST-MUG"),
        );
    }
    wait_until(
        Duration::from_secs(60),
        "5 orders requested at east",
        || async { state_count(&store, "fulfilment_requested").await == 5 },
    )
    .await;
    assert_eq!(east.state.created().len(), 5);
    assert!(
        east.state.created().values().all(|n| *n == 1),
        "no duplicate"
    );

    // An outage long enough to take the warehouse down; orders wait and go through after.
    east.state.control.set_outage(true);
    for n in 5..8 {
        common::drop_file(
            &inbox,
            &format!("o{n}.json"),
            &shop_order(100 + n, "TEST-MUG"),
        );
    }
    wait_until(Duration::from_secs(30), "east down", || async {
        east_health() == Some(ordergate::store::ConnectorHealth::Down)
    })
    .await;
    east.state.control.set_outage(false);
    wait_until(Duration::from_secs(60), "8 orders requested", || async {
        state_count(&store, "fulfilment_requested").await == 8
    })
    .await;
    assert_eq!(east_health(), Some(ordergate::store::ConnectorHealth::Up));
    assert_eq!(east.state.created().len(), 8);
    assert!(
        east.state.created().values().all(|n| *n == 1),
        "no duplicate"
    );

    // An answer that is not what the definition says: a typed partner error, parked.
    east.state.control.set_faults(FaultRequest {
        garble_next: 5,
        ..FaultRequest::default()
    });
    common::drop_file(&inbox, "bad.json", &shop_order(200, "TEST-MUG"));
    let reason = exception_reason(&store, "warehouse_error", None).await;
    assert!(reason.contains("warehouse east"), "{reason}");
    assert!(
        reason.contains("unexpected response"),
        "typed decode error: {reason}"
    );
    assert_eq!(
        ordergate::dlq::list(&store, 10).await.unwrap().len(),
        1,
        "parked"
    );
    d.stop().await;
    east.stop().await;
    factory.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cancel_the_wms_refuses_is_change_refused_with_an_exception() {
    let Rig {
        env: _env,
        port,
        east,
        factory,
        inbox,
        d,
        cfg,
    } = Rig::start(false).await;
    let store = d.store.clone();
    let mut events = common::observe(
        &d.bus,
        &cfg,
        "subscriber",
        &["order.change_refused", "order.cancelled"],
    )
    .await;
    common::drop_file(&inbox, "o.json", &shop_order(300, "TEST-MUG"));
    let id = only_order(&store).await;
    wait_state(&store, &id, "fulfilment_requested", Duration::from_secs(30)).await;
    let key = ordergate::outbound::warehouse::fulfilment_key(&id, "east");
    let remote = east.state.ids_of(&key);
    assert_eq!(remote.len(), 1);
    assert!(east.state.pick(&remote[0]), "picking starts");
    cancel_through_api(port, &id).await;
    let reason = exception_reason(&store, "change_refused", Some("sales")).await;
    assert!(reason.contains("east:"), "the WMS's words: {reason}");
    assert_eq!(
        store.order(&id).await.unwrap().unwrap().state,
        "fulfilment_requested"
    );
    let got = common::drain(&mut events, Duration::from_millis(1500)).await;
    assert!(
        got.iter().any(|e| e.kind == "order.change_refused"),
        "the subscriber got order.change_refused"
    );
    assert!(!got.iter().any(|e| e.kind == "order.cancelled"));
    d.stop().await;
    east.stop().await;
    factory.stop().await;
}

/// An operator cancels order `id` through the API ("customer changed their mind").
async fn cancel_through_api(port: u16, id: &str) {
    let answer = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/api/orders/{id}/cancel"))
        .bearer_auth("lifecycle-operator-token")
        .json(&serde_json::json!({"reason": "customer changed their mind"}))
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success(), "{}", answer.status());
}

/// The Shopify sample as order `n` with its three units split over two lines: two of
/// `first`, one of `second` (same prices, taxes and discounts in total).
fn two_line_order(n: u64, first: &str, second: &str) -> Vec<u8> {
    let mut v: serde_json::Value = serde_json::from_slice(&shop_order(n, first)).unwrap();
    let mut one = v["line_items"][0].clone();
    let two = &mut v["line_items"][0];
    two["quantity"] = serde_json::json!(2);
    two["current_quantity"] = serde_json::json!(2);
    two["fulfillable_quantity"] = serde_json::json!(2);
    two["tax_lines"][0]["price"] = serde_json::json!("5.61");
    two["discount_allocations"][0]["amount"] = serde_json::json!("4.80");
    one["id"] = serde_json::json!(15_206_730_465_391u64);
    one["sku"] = serde_json::json!(second);
    one["quantity"] = serde_json::json!(1);
    one["current_quantity"] = serde_json::json!(1);
    one["fulfillable_quantity"] = serde_json::json!(1);
    one["tax_lines"][0]["price"] = serde_json::json!("2.81");
    one["discount_allocations"][0]["amount"] = serde_json::json!("2.40");
    v["line_items"].as_array_mut().unwrap().push(one);
    serde_json::to_vec(&v).unwrap()
}

const TRACKING_SECRET: &str = "lifecycle-easypost-secret";

/// A standalone daemon with the Qimen-shaped `east` and ShipBob-shaped `factory` warehouses,
/// the folder connector `shop`, the operator token `lifecycle-operator-token`, and with
/// `tracking` an EasyPost tracking connector `trk`.
struct Rig {
    env: TestEnv,
    port: u16,
    east: QimenSandbox,
    factory: ShipbobSandbox,
    inbox: PathBuf,
    d: ordergate::app::Daemon,
    cfg: ordergate::config::Config,
}

impl Rig {
    async fn start(tracking: bool) -> Rig {
        let env = TestEnv::new(Profile::Standalone).await;
        let port = free_port();
        let east = qimen_sim(port, "east", None).await;
        let factory = shipbob_sim(port, "factory", None).await;
        let (section, inbox) = folder(&env);
        let dir = env.dir.path();
        std::fs::write(dir.join("api-token"), "lifecycle-operator-token").unwrap();
        let secret = dir.join("trk.secret");
        std::fs::write(&secret, TRACKING_SECRET).unwrap();
        let extra = if tracking {
            format!(
                "\n[[connectors]]\nkind = \"tracking\"\nname = \"trk\"\nscheme = \"easypost\"\nsecret = \"file:{}\"\n",
                secret.display()
            )
        } else {
            String::new()
        };
        let extra = format!(
            "{section}{}{}{}{extra}",
            qimen_section(dir, "east", &east.base_url(), 2000),
            shipbob_section(dir, "factory", &factory.base_url(), 2000),
            routing(0),
        );
        let text = config_text(&env, port, &extra).replace(
            &format!("listen = \"127.0.0.1:{port}\""),
            &format!(
                "listen = \"127.0.0.1:{port}\"\napi_tokens = [\"file:{}\"]",
                dir.join("api-token").display()
            ),
        );
        let mut cfg = ordergate::config::Config::from_toml(&text, "test", Vec::new()).unwrap();
        cfg.anchor_paths(dir);
        let d = ordergate::app::Daemon::start(&cfg).await.unwrap();
        Rig {
            env,
            port,
            east,
            factory,
            inbox,
            d,
            cfg,
        }
    }
}

/// The order's parcels.
async fn parcels_of(store: &Store, id: &str, n: usize) -> Vec<ordergate::store::Shipment> {
    poll(Duration::from_secs(30), &format!("{n} parcels"), || async {
        let p = store.order_shipments(id).await.unwrap();
        (p.len() == n).then_some(p)
    })
    .await
}

/// EasyPost posts `parcel`'s journey to the door (signed, until acknowledged); returns when
/// the parcel is delivered in the store.
async fn deliver(store: &Store, port: u16, parcel: &ordergate::store::Shipment) {
    use ordergate::sandbox::trackers::{callback, TrackerSim, Webhook};
    let hook = Webhook {
        url: format!("http://127.0.0.1:{port}/hooks/tracking/trk"),
        secret: TRACKING_SECRET.into(),
    };
    let scheme = ordergate::tracking::Scheme::EasyPost;
    let body = callback(
        scheme,
        &parcel.carrier,
        &parcel.tracking_number,
        &TrackerSim::journey(chrono::Utc::now()),
    );
    let sim = TrackerSim::new("k", std::collections::HashMap::new());
    assert!(sim.post_until_acknowledged(scheme, &hook, &body).await);
    let id = parcel.order_id.clone();
    let number = parcel.tracking_number.clone();
    poll(Duration::from_secs(30), "the parcel delivered", || async {
        store
            .order_shipments(&id)
            .await
            .unwrap()
            .iter()
            .any(|p| p.tracking_number == number && p.is_delivered())
            .then_some(())
    })
    .await;
}

/// How many times the order was delivered (its audit trail).
async fn deliveries(store: &Store, id: &str) -> usize {
    store
        .order_events(id)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.kind == "deliver")
        .count()
}

/// Drops order `n` ([`two_line_order`]: two of `first`, one of `second`) into the folder and
/// waits until its fulfilment is requested; returns its id.
async fn place(store: &Store, inbox: &Path, n: u64, first: &str, second: &str) -> String {
    common::drop_file(
        inbox,
        &format!("{n}.json"),
        &two_line_order(n, first, second),
    );
    let id = common::lifecycle::order_of(store, n).await;
    wait_state(store, &id, "fulfilment_requested", Duration::from_secs(30)).await;
    id
}

/// The factory ships its part of split order `id` (the lamps) and its parcel is delivered;
/// east still owes the rest, so the order is in transit.
async fn factory_part_delivered(store: &Store, port: u16, factory: &ShipbobSandbox, id: &str) {
    let lamps = factory
        .state
        .ids_of(&ordergate::outbound::warehouse::fulfilment_key(
            id, "factory",
        ));
    assert_eq!(lamps.len(), 1);
    assert!(factory.state.ship(lamps[0]));
    wait_state(store, id, "shipped", Duration::from_secs(30)).await;
    let first = parcels_of(store, id, 1).await;
    deliver(store, port, &first[0]).await;
    wait_state(store, id, "in_transit", Duration::from_secs(30)).await;
}

/// The state of `key`'s fulfilment order.
async fn fulfilment_state(store: &Store, key: &str) -> &'static str {
    store.fulfilment(key).await.unwrap().unwrap().state.as_str()
}

/// An order is delivered when all its goods are: not when the parcels of one of its two
/// warehouses are, nor when a WMS's partial shipment is (`deliveryorder.confirm` with
/// `confirmType` 1); the final confirmation's parcels join the order, and a final one that
/// adds no parcel delivers it at once when the rest already arrived.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_order_is_delivered_only_when_no_warehouse_owes_goods() {
    let Rig {
        env: _env,
        port,
        east,
        factory,
        inbox,
        d,
        ..
    } = Rig::start(true).await;
    let store = d.store.clone();
    // Order 1: the lamps from the factory (lighting), the mug from east (Canada).
    // Orders 2 and 3: mugs and a plate, both from east, shipped in two confirmations.
    let ids = [
        place(&store, &inbox, 501, "TEST-LAMP", "TEST-MUG").await,
        place(&store, &inbox, 502, "TEST-MUG", "TEST-PLATE").await,
        place(&store, &inbox, 503, "TEST-MUG", "TEST-PLATE").await,
    ];
    let wms = |id: &str| {
        let key = ordergate::outbound::warehouse::fulfilment_key(id, "east");
        let remote = east.state.ids_of(&key);
        assert_eq!(remote.len(), 1, "one WMS order for {key}");
        (key, remote[0].clone())
    };

    // 1. Split over two warehouses: the factory's parcel delivered, east's goods still owed.
    factory_part_delivered(&store, port, &factory, &ids[0]).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        deliveries(&store, &ids[0]).await,
        0,
        "east still owes the mug"
    );
    let (key, remote) = wms(&ids[0]);
    assert!(east.state.ship(&remote));
    let both = parcels_of(&store, &ids[0], 2).await;
    assert_eq!(fulfilment_state(&store, &key).await, "shipped");
    let mug = both.iter().find(|p| !p.is_delivered()).unwrap();
    deliver(&store, port, mug).await;
    wait_state(&store, &ids[0], "delivered", Duration::from_secs(30)).await;

    // 2. A partial confirmation (one of two packages), then the final one adding the other.
    let (key, remote) = wms(&ids[1]);
    assert!(east.state.ship_part(&remote, 1));
    wait_state(&store, &ids[1], "shipped", Duration::from_secs(30)).await;
    assert_eq!(fulfilment_state(&store, &key).await, "part_shipped");
    let part = parcels_of(&store, &ids[1], 1).await;
    deliver(&store, port, &part[0]).await;
    wait_state(&store, &ids[1], "in_transit", Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(deliveries(&store, &ids[1]).await, 0, "the plate is owed");
    assert!(east.state.ship(&remote));
    let all = parcels_of(&store, &ids[1], 2).await;
    poll(
        Duration::from_secs(30),
        "the final confirmation",
        || async { (fulfilment_state(&store, &key).await == "shipped").then_some(()) },
    )
    .await;
    assert_eq!(deliveries(&store, &ids[1]).await, 0);
    let rest = all.iter().find(|p| !p.is_delivered()).unwrap();
    deliver(&store, port, rest).await;
    wait_state(&store, &ids[1], "delivered", Duration::from_secs(30)).await;

    // 3. A partial confirmation with every package, all delivered; the final one (no new
    // parcel) delivers the order.
    let (key, remote) = wms(&ids[2]);
    assert!(east.state.ship_part(&remote, 2));
    for p in parcels_of(&store, &ids[2], 2).await {
        deliver(&store, port, &p).await;
    }
    wait_state(&store, &ids[2], "in_transit", Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(deliveries(&store, &ids[2]).await, 0, "not confirmed final");
    assert!(east.state.ship(&remote));
    wait_state(&store, &ids[2], "delivered", Duration::from_secs(30)).await;
    assert_eq!(fulfilment_state(&store, &key).await, "shipped");
    assert_eq!(parcels_of(&store, &ids[2], 2).await.len(), 2);

    for id in &ids {
        assert_eq!(deliveries(&store, id).await, 1, "{id} delivered once");
    }
    d.stop().await;
    east.stop().await;
    factory.stop().await;
}

/// Every parcel delivered while a warehouse still owes goods: the order stays in transit and
/// the owing warehouse's department gets one `goods_owed` exception with a due time — not one
/// more when a later parcel is delivered and the goods are still owed — closed by itself when
/// the rest is shipped and the order delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn goods_still_owed_when_every_parcel_is_delivered_raise_one_exception() {
    let Rig {
        env: _env,
        port,
        east,
        factory,
        inbox,
        d,
        cfg,
    } = Rig::start(true).await;
    let store = d.store.clone();
    // The lamps from the factory (lighting), the mug from east (Canada).
    let id = place(&store, &inbox, 504, "TEST-LAMP", "TEST-MUG").await;
    let owed = || goods_owed(&store);

    // The factory's parcel delivered; east has not shipped the mug.
    factory_part_delivered(&store, port, &factory, &id).await;
    let raised = goods_owed_raised(&store).await;
    assert_eq!(raised.len(), 1, "{raised:?}");
    let e = &raised[0];
    let east_department = &cfg.warehouses.iter().find(|w| w.name == "east").unwrap();
    assert_eq!(e.department, east_department.department, "east's owner");
    assert_eq!(e.connector.as_deref(), Some("east"));
    assert_eq!(e.order_id.as_deref(), Some(id.as_str()));
    assert_eq!(e.status, "open");
    assert!(e.due_at.is_some(), "a deadline");
    assert!(
        e.reason.contains("east") && e.reason.contains("has not shipped"),
        "{}",
        e.reason
    );
    assert_eq!(store.order(&id).await.unwrap().unwrap().state, "in_transit");

    // East ships part (the mug's package), it is delivered too: every parcel delivered again,
    // east still owes (its final confirmation has not come): still one exception.
    let key = ordergate::outbound::warehouse::fulfilment_key(&id, "east");
    let remote = east.state.ids_of(&key)[0].clone();
    assert!(east.state.ship_part(&remote, 1));
    let both = parcels_of(&store, &id, 2).await;
    assert_eq!(fulfilment_state(&store, &key).await, "part_shipped");
    let mug = both.iter().find(|p| !p.is_delivered()).unwrap();
    deliver(&store, port, mug).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let still = owed().await;
    assert_eq!(still.len(), 1, "raised once: {still:?}");
    assert_eq!(still[0].status, "open");
    assert_eq!(deliveries(&store, &id).await, 0);

    // The final confirmation (nothing new in it): the order is delivered, the exception
    // closed by itself.
    assert!(east.state.ship(&remote));
    wait_state(&store, &id, "delivered", Duration::from_secs(30)).await;
    let closed = owed().await;
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0].status, "resolved");
    assert!(
        closed[0]
            .resolution
            .as_deref()
            .unwrap()
            .contains("closed by itself"),
        "{:?}",
        closed[0].resolution
    );
    assert_eq!(deliveries(&store, &id).await, 1);
    d.stop().await;
    east.stop().await;
    factory.stop().await;
}

/// The store's exceptions of `kind`, of every status.
async fn exceptions_of(
    store: &ordergate::store::Store,
    kind: &str,
) -> Vec<ordergate::store::ExceptionRecord> {
    store
        .exceptions(true, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == kind)
        .collect()
}

/// The `goods_owed` exceptions of the store, of every status.
async fn goods_owed(store: &ordergate::store::Store) -> Vec<ordergate::store::ExceptionRecord> {
    exceptions_of(store, "goods_owed").await
}

/// Waits for the first `goods_owed` exception; all of them.
async fn goods_owed_raised(
    store: &ordergate::store::Store,
) -> Vec<ordergate::store::ExceptionRecord> {
    poll(
        Duration::from_secs(30),
        "a goods_owed exception",
        || async {
            let all = goods_owed(store).await;
            (!all.is_empty()).then_some(all)
        },
    )
    .await
}

/// Every parcel delivered while a warehouse still owes goods, then the warehouse closes its
/// order without shipping them (`CLOSED`: the stock is gone): nothing is owed any more, so
/// the order is delivered at once — it does not wait for a delivery that will never come —
/// and the `goods_owed` exception closes by itself, saying the rest was cancelled.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn goods_owed_that_the_warehouse_cancels_deliver_the_order() {
    let Rig {
        env: _env,
        port,
        east,
        factory,
        inbox,
        d,
        cfg: _,
    } = Rig::start(true).await;
    let store = d.store.clone();
    let id = place(&store, &inbox, 506, "TEST-LAMP", "TEST-MUG").await;
    factory_part_delivered(&store, port, &factory, &id).await;
    let raised = goods_owed_raised(&store).await;
    assert_eq!(raised.len(), 1, "{raised:?}");
    assert_eq!(store.order(&id).await.unwrap().unwrap().state, "in_transit");

    let key = ordergate::outbound::warehouse::fulfilment_key(&id, "east");
    let remote = east.state.ids_of(&key)[0].clone();
    assert!(east.state.close(&remote, "out of stock"));
    wait_state(&store, &id, "delivered", Duration::from_secs(30)).await;
    assert_eq!(fulfilment_state(&store, &key).await, "cancelled");
    let closed = goods_owed(&store).await;
    assert_eq!(closed.len(), 1, "{closed:?}");
    assert_eq!(closed[0].status, "resolved");
    let resolution = closed[0].resolution.as_deref().unwrap_or_default();
    assert!(
        resolution.contains("closed by itself") && resolution.contains("east cancelled the rest"),
        "{resolution}"
    );
    assert_eq!(deliveries(&store, &id).await, 1);
    // The mug never reaches the customer: a person owns that.
    let part = fulfilment_cancelled(&store, &id).await;
    assert_eq!(part.len(), 1, "{part:?}");
    assert_eq!(part[0].status, "open");
    assert_eq!(part[0].connector.as_deref(), Some("east"));
    d.stop().await;
    east.stop().await;
    factory.stop().await;
}

/// The `fulfilment_cancelled` exceptions of order `id`.
async fn fulfilment_cancelled(
    store: &ordergate::store::Store,
    id: &str,
) -> Vec<ordergate::store::ExceptionRecord> {
    let mut all = exceptions_of(store, "fulfilment_cancelled").await;
    all.retain(|e| e.order_id.as_deref() == Some(id));
    all
}

/// One of the two warehouses of a split order cancels its part before anything shipped (its
/// WMS closes the order: the stock is gone). The order is not cancelled — the other warehouse
/// still ships its part — and the lines that will not come are not dropped in silence: the
/// cancelling warehouse's department gets one `fulfilment_cancelled` exception naming them,
/// still open when the rest of the order is delivered (which nothing owed now holds up).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_warehouse_cancelling_its_part_of_a_split_order_cancels_only_that_part() {
    let Rig {
        env: _env,
        port,
        east,
        factory,
        inbox,
        d,
        cfg,
    } = Rig::start(true).await;
    let store = d.store.clone();
    let id = place(&store, &inbox, 507, "TEST-LAMP", "TEST-MUG").await;
    let key = ordergate::outbound::warehouse::fulfilment_key(&id, "east");
    let remote = east.state.ids_of(&key)[0].clone();
    assert!(east.state.close(&remote, "out of stock"));
    let part = poll(
        Duration::from_secs(30),
        "a fulfilment_cancelled exception",
        || async {
            let all = fulfilment_cancelled(&store, &id).await;
            (!all.is_empty()).then_some(all)
        },
    )
    .await;
    assert_eq!(part.len(), 1, "{part:?}");
    let east_cfg = cfg.warehouses.iter().find(|w| w.name == "east").unwrap();
    assert_eq!(part[0].department, east_cfg.department, "east's owner");
    assert!(part[0].due_at.is_some(), "a deadline");
    assert!(
        part[0].reason.contains(&key) && part[0].reason.contains("out of stock"),
        "{}",
        part[0].reason
    );
    assert_eq!(fulfilment_state(&store, &key).await, "cancelled");
    assert_eq!(
        store.order(&id).await.unwrap().unwrap().state,
        "fulfilment_requested",
        "the factory still ships the lamps"
    );

    let lamps = factory
        .state
        .ids_of(&ordergate::outbound::warehouse::fulfilment_key(
            &id, "factory",
        ));
    assert!(factory.state.ship(lamps[0]));
    let parcel = parcels_of(&store, &id, 1).await;
    deliver(&store, port, &parcel[0]).await;
    wait_state(&store, &id, "delivered", Duration::from_secs(30)).await;
    assert_eq!(deliveries(&store, &id).await, 1);
    let part = fulfilment_cancelled(&store, &id).await;
    assert_eq!(part.len(), 1, "raised once: {part:?}");
    assert_eq!(part[0].status, "open", "a person decides about the mug");
    assert!(
        goods_owed(&store).await.is_empty(),
        "nothing is owed: no goods_owed"
    );
    d.stop().await;
    east.stop().await;
    factory.stop().await;
}

/// An operator cancels a split order, and the ShipBob-shaped factory's
/// `order.shipment.cancelled` callback comes before its answer to the cancel (held until the
/// callback is applied), so before ordergate's change commits. The callback is known as the
/// answer to ordergate's own cancel: no `fulfilment_cancelled` exception (no warehouse dropped
/// its part behind anyone's back), and the order is cancelled once, by the operator's change.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cancel_confirmed_by_callback_before_its_answer_is_not_a_part_dropped() {
    let Rig {
        env: _env,
        port,
        east,
        factory,
        inbox,
        d,
        cfg: _,
    } = Rig::start(false).await;
    let store = d.store.clone();
    let id = place(&store, &inbox, 508, "TEST-LAMP", "TEST-MUG").await;
    let lamps = ordergate::outbound::warehouse::fulfilment_key(&id, "factory");
    let mug = ordergate::outbound::warehouse::fulfilment_key(&id, "east");
    factory.state.control.set_faults(FaultRequest {
        hold_next_cancel: 1,
        ..Default::default()
    });
    cancel_through_api(port, &id).await;
    // The factory cancelled and told ordergate so while its answer is held: the callback is
    // applied (the fulfilment order cancelled) before the change can commit.
    poll(
        Duration::from_secs(30),
        "the factory's callback applied",
        || async { (fulfilment_state(&store, &lamps).await == "cancelled").then_some(()) },
    )
    .await;
    assert_eq!(
        store.order(&id).await.unwrap().unwrap().state,
        "fulfilment_requested",
        "the change has not committed yet"
    );
    factory.state.control.release_held();
    wait_state(&store, &id, "cancelled", Duration::from_secs(30)).await;
    assert_eq!(fulfilment_state(&store, &mug).await, "cancelled");
    assert!(
        fulfilment_cancelled(&store, &id).await.is_empty(),
        "ordergate's own cancel is no warehouse dropping its part"
    );
    let events = store.order_events(&id).await.unwrap();
    let count = |kind: &str| events.iter().filter(|e| e.kind == kind).count();
    assert_eq!(count("cancel"), 1, "cancelled once: {events:?}");
    assert_eq!(count("fulfilment_cancel_confirmed"), 1, "{events:?}");
    let cancel = events.iter().find(|e| e.kind == "cancel").unwrap();
    assert!(
        cancel.cause.starts_with("api:") || cancel.cause.starts_with("stage:"),
        "cancelled by the operator's change, not by the warehouse: {}",
        cancel.cause
    );
    assert!(
        store.exceptions(true, 100).await.unwrap().is_empty(),
        "no exception at all"
    );
    d.stop().await;
    east.stop().await;
    factory.stop().await;
}

/// A cancel of a split order that one warehouse refuses (picking started at east) while the
/// other cancels (the factory): the order goes on, the refusal is an exception that names what
/// was cancelled meanwhile (those goods will not come), the factory's part is recorded
/// cancelled, and east's later cancel of its own (stock gone) is its own decision again: it
/// cancels what is left of the order, not taken for the echo of ordergate's withdrawn cancel.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cancel_refused_by_one_warehouse_names_what_the_other_cancelled() {
    let Rig {
        env: _env,
        port,
        east,
        factory,
        inbox,
        d,
        cfg: _,
    } = Rig::start(false).await;
    let store = d.store.clone();
    let id = place(&store, &inbox, 509, "TEST-LAMP", "TEST-MUG").await;
    let lamps = ordergate::outbound::warehouse::fulfilment_key(&id, "factory");
    let mug = ordergate::outbound::warehouse::fulfilment_key(&id, "east");
    let remote = east.state.ids_of(&mug)[0].clone();
    assert!(east.state.pick(&remote), "picking starts at east");
    cancel_through_api(port, &id).await;
    let reason = exception_reason(&store, "change_refused", Some("sales")).await;
    assert!(
        reason.contains("east:") && reason.contains(&lamps),
        "the refusal and what was cancelled meanwhile: {reason}"
    );
    assert_eq!(fulfilment_state(&store, &lamps).await, "cancelled");
    assert_eq!(
        store.order(&id).await.unwrap().unwrap().state,
        "fulfilment_requested",
        "east still ships the mug"
    );
    assert!(fulfilment_cancelled(&store, &id).await.is_empty());
    // East closes its order on its own later: with the factory's part cancelled, nothing of
    // the order is left, so the warehouse's cancel cancels the order (taken for the echo of
    // ordergate's withdrawn cancel, it would leave the order waiting for goods none owes).
    assert!(east.state.close(&remote, "out of stock"));
    wait_state(&store, &id, "cancelled", Duration::from_secs(30)).await;
    let events = store.order_events(&id).await.unwrap();
    let cancel = events.iter().find(|e| e.kind == "cancel").unwrap();
    assert!(
        cancel.cause.starts_with("stage:warehouse")
            && cancel.data.as_ref().unwrap()["reason"] == "out of stock",
        "{events:?}"
    );
    for e in events
        .iter()
        .filter(|e| e.kind == "fulfilment_cancel_confirmed")
    {
        assert_eq!(
            e.data.as_ref().unwrap()["warehouse"],
            "factory",
            "{events:?}"
        );
    }
    d.stop().await;
    east.stop().await;
    factory.stop().await;
}

/// An order split over two pick-list warehouses that pack but book no carrier, their packed
/// confirmations naming no parcels: each warehouse's label is for its own lines only — the
/// lamps' parcel carries the lamps, the mug's the mug — weighed from the catalog.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_split_order_books_each_warehouse_its_own_lines() {
    let env = TestEnv::new(Profile::Standalone).await;
    let port = free_port();
    let ep = ordergate::sandbox::easypost::start("127.0.0.1:0")
        .await
        .unwrap();
    let (section, inbox) = folder(&env);
    let dir = env.dir.path();
    let connectors = Path::new(env!("CARGO_MANIFEST_DIR")).join("connectors");
    let mut ship_out = ShipOut::new(
        &connectors,
        dir,
        "local",
        &ep.base_url(),
        &sim::secret_file(dir, "ep-key", ordergate::sandbox::easypost::API_KEY),
    );
    ship_out.poll_interval_ms = Some(50);
    let mut lamps = ShipOut::new(&connectors, dir, "lamps", "", "");
    lamps.poll_interval_ms = Some(50);
    let extra = format!(
        "{section}{}{}{}{}\n[routing]\n[[routing.rules]]\nname = \"lighting\"\ncategories = [\"lighting\"]\nwarehouses = [\"lamps\"]\n[[routing.rules]]\nname = \"rest\"\nwarehouses = [\"local\"]\n",
        ship_out.warehouse_section(),
        lamps.warehouse_section(),
        ship_out.transport_section(),
        ship_out.carrier_section(),
    );
    let d = daemon(&env, port, &extra).await;
    let store = d.store.clone();
    let id = place(&store, &inbox, 505, "TEST-LAMP", "TEST-MUG").await;
    // Each warehouse says it packed, without saying how (no parcel column).
    let pack = |w: &ShipOut, sku: &str, quantity: u32| {
        let key = ordergate::outbound::warehouse::fulfilment_key(&id, &w.warehouse);
        std::fs::create_dir_all(&w.confirm).unwrap();
        common::drop_file(
            &w.confirm,
            &format!("{key}-packed.csv"),
            format!("key,carrier,tracking_number,sku,quantity\n{key},,,{sku},{quantity}\n")
                .as_bytes(),
        );
    };
    pack(&lamps, "TEST-LAMP", 2);
    parcels_of(&store, &id, 1).await;
    pack(&ship_out, "TEST-MUG", 1);
    let parcels = parcels_of(&store, &id, 2).await;

    let weight = |sku: &str, n: i64| -> Decimal {
        let kg: Decimal = common::lifecycle::TEST_PRODUCTS
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{sku},")))
            .and_then(|l| l.trim().rsplit(',').next())
            .unwrap()
            .parse()
            .unwrap();
        ordergate::outbound::carrier::kg_to_oz(kg * Decimal::from(n))
    };
    for (warehouse, sku, n) in [("lamps", "TEST-LAMP", 2), ("local", "TEST-MUG", 1)] {
        let parcel = parcels
            .iter()
            .find(|p| p.warehouse.as_deref() == Some(warehouse))
            .unwrap();
        let items: std::collections::BTreeMap<String, Decimal> =
            serde_json::from_value(parcel.items.clone()).unwrap();
        assert_eq!(
            items,
            [(sku.to_string(), Decimal::from(n))].into(),
            "{warehouse}'s parcel carries its own lines only"
        );
        let label = ordergate::outbound::carrier::label_key(&id, &format!("{warehouse}#1"));
        assert_eq!(
            ep.state.labels().get(&label),
            Some(&1),
            "{warehouse}: one label"
        );
        let bought = ep.state.find("reference", &label).unwrap();
        let oz: Decimal = bought["parcel"]["weight"]
            .to_string()
            .trim_matches('"')
            .parse()
            .unwrap();
        assert_eq!(oz, weight(sku, n), "{warehouse}: its lines' weight");
    }
    assert_eq!(ep.state.label_count(), 2, "{:?}", ep.state.labels());
    d.stop().await;
}

/// A change after fulfilment was requested is made at the warehouse: the ShipBob-shaped
/// warehouse's order is amended once (the same key again changes nothing), the stored order
/// carries the new quantity; once picking started, an amend is refused with the warehouse's
/// words; a Qimen WMS's order is cancelled and created again, and a later cancel reaches the
/// new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_change_at_the_warehouse_amends_its_order_once() {
    let Rig {
        env: _env,
        port,
        east,
        factory,
        inbox,
        d,
        ..
    } = Rig::start(false).await;
    let store = d.store.clone();
    // Lamps: lighting, from the factory (ShipBob); a mug from east (Qimen, Canada).
    common::drop_file(&inbox, "a.json", &shop_order(601, "TEST-LAMP"));
    common::drop_file(&inbox, "b.json", &shop_order(602, "TEST-LAMP"));
    common::drop_file(&inbox, "c.json", &shop_order(603, "TEST-MUG"));
    let mut ids = Vec::new();
    for n in [601, 602, 603] {
        let id = common::lifecycle::order_of(&store, n).await;
        wait_state(&store, &id, "fulfilment_requested", Duration::from_secs(30)).await;
        ids.push(id);
    }
    let remote = |id: &str| {
        let r = factory
            .state
            .ids_of(&ordergate::outbound::warehouse::fulfilment_key(
                id, "factory",
            ));
        assert_eq!(r.len(), 1);
        r[0]
    };
    let client = reqwest::Client::new();
    let change = |id: String, key: &'static str, line_ref: String| {
        let client = client.clone();
        async move {
            let r = client
                .post(format!("http://127.0.0.1:{port}/api/orders/{id}/change"))
                .bearer_auth("lifecycle-operator-token")
                .header("idempotency-key", key)
                .json(&serde_json::json!({"lines": [{"line_ref": line_ref, "quantity": 2}]}))
                .send()
                .await
                .unwrap();
            let status = r.status();
            (status, r.json::<serde_json::Value>().await.unwrap())
        }
    };
    let line_ref = |id: &str| {
        let store = store.clone();
        let id = id.to_string();
        async move {
            store.order(&id).await.unwrap().unwrap().order.lines[0]
                .line_ref
                .clone()
        }
    };

    // Amended at the warehouse, once.
    let r0 = line_ref(&ids[0]).await;
    let (s, body) = change(ids[0].clone(), "amend-1", r0.clone()).await;
    assert_eq!(s, reqwest::StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["outcome"], "requested", "{body}");
    let at = remote(&ids[0]);
    poll(
        Duration::from_secs(30),
        "the warehouse order amended",
        || async {
            (factory.state.body_of(at).unwrap()["products"][0]["quantity"] == 2).then_some(())
        },
    )
    .await;
    poll(
        Duration::from_secs(30),
        "the stored order changed",
        || async {
            let o = store.order(&ids[0]).await.unwrap().unwrap();
            (o.order.lines[0].quantity == Decimal::from(2)).then_some(())
        },
    )
    .await;
    let (s, body) = change(ids[0].clone(), "amend-1", r0).await;
    assert!(s.is_success(), "{body}");
    assert_eq!(body["duplicate"], true, "{body}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(factory.state.amended(), 1, "one amend at the warehouse");
    assert_eq!(factory.state.order_count(), 2, "amended, not created again");
    assert_eq!(
        store.order(&ids[0]).await.unwrap().unwrap().state,
        "fulfilment_requested"
    );

    // Picking started: the warehouse refuses; the order keeps its lines.
    assert!(factory.state.pick(remote(&ids[1])));
    let r1 = line_ref(&ids[1]).await;
    let (s, body) = change(ids[1].clone(), "amend-2", r1).await;
    assert_eq!(s, reqwest::StatusCode::ACCEPTED, "{body}");
    let reason = exception_reason(&store, "change_refused", Some("sales")).await;
    assert!(
        reason.contains("factory"),
        "the warehouse's words: {reason}"
    );
    assert_eq!(factory.state.amended(), 1);
    let kept = store.order(&ids[1]).await.unwrap().unwrap().order;
    assert_eq!(kept.lines[0].quantity, Decimal::from(3));

    // A WMS that amends by cancel + create: the new WMS order holds the change, ordergate
    // keeps its new id, and a cancel afterwards cancels that one.
    let key = ordergate::outbound::warehouse::fulfilment_key(&ids[2], "east");
    let old = east.state.ids_of(&key);
    assert_eq!(old.len(), 1);
    let r2 = line_ref(&ids[2]).await;
    let (s, body) = change(ids[2].clone(), "amend-3", r2).await;
    assert_eq!(s, reqwest::StatusCode::ACCEPTED, "{body}");
    let new = poll(
        Duration::from_secs(30),
        "the WMS order replaced",
        || async {
            let all = east.state.ids_of(&key);
            (all.len() == 2).then(|| all[1].clone())
        },
    )
    .await;
    assert_eq!(east.state.status_of(&old[0]), Some("CANCELED"));
    assert_eq!(east.state.lines_of(&new)[0].1, "2");
    poll(Duration::from_secs(30), "the new id recorded", || async {
        let f = store.fulfilment(&key).await.unwrap().unwrap();
        (f.remote_id.as_deref() == Some(new.as_str())).then_some(())
    })
    .await;
    let r = client
        .post(format!(
            "http://127.0.0.1:{port}/api/orders/{}/cancel",
            ids[2]
        ))
        .bearer_auth("lifecycle-operator-token")
        .json(&serde_json::json!({"reason": "customer changed their mind"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    wait_state(&store, &ids[2], "cancelled", Duration::from_secs(30)).await;
    assert_eq!(east.state.status_of(&new), Some("CANCELED"));
    assert_eq!(east.state.ids_of(&key).len(), 2, "no third WMS order");
    d.stop().await;
    east.stop().await;
    factory.stop().await;
}
