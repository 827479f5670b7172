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

use common::lifecycle::hook;
use common::{sim, wait_until, Profile, TestEnv};
use ordergate::sandbox::qimen::{self, QimenSandbox, QimenSettings};
use ordergate::sandbox::shipbob::{self, ShipbobSandbox, ShipbobSettings};
use ordergate::sandbox::warehouse::FaultRequest;
use ordergate::sandbox::Platform;
use ordergate::store::Store;
use rust_decimal::Decimal;

/// A `[[warehouses]]` section for a ShipBob simulator.
fn shipbob_section(dir: &Path, name: &str, base_url: &str) -> String {
    format!(
        r#"
[[warehouses]]
name = "{name}"
definition = "shipbob"
definitions = "{defs}"
base_url = "{base_url}"
department = "logistics"
request_timeout_ms = 2000
max_retries = 1
retry_base_ms = 50
retry_max_ms = 500
params = {{ channel_id = "{channel}" }}
credentials = {{ access_token = "{token}", webhook_secret = "{whsec}" }}
"#,
        defs = common::sim::warehouse_definitions(),
        channel = shipbob::CHANNEL_ID,
        token = common::sim::secret_file(dir, &format!("{name}-token"), shipbob::ACCESS_TOKEN),
        whsec = common::sim::secret_file(dir, &format!("{name}-whsec"), shipbob::WEBHOOK_SECRET),
    )
}

/// A `[[warehouses]]` section for a Qimen simulator.
fn qimen_section(dir: &Path, name: &str, base_url: &str) -> String {
    format!(
        r#"
[[warehouses]]
name = "{name}"
definition = "qimen"
definitions = "{defs}"
base_url = "{base_url}"
request_timeout_ms = 2000
max_retries = 1
retry_base_ms = 50
retry_max_ms = 500
params = {{ app_key = "{app_key}", customer_id = "{customer}", warehouse_code = "{code}" }}
credentials = {{ app_secret = "{secret}" }}
"#,
        defs = common::sim::warehouse_definitions(),
        app_key = qimen::APP_KEY,
        customer = qimen::CUSTOMER_ID,
        code = qimen::WAREHOUSE_CODE,
        secret = common::sim::secret_file(dir, &format!("{name}-secret"), qimen::APP_SECRET),
    )
}

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

/// A free loopback port.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The whole configuration text of a test daemon (tests/common/lifecycle.rs) with fast
/// retries.
fn config_text(env: &TestEnv, port: u16, extra: &str) -> String {
    common::lifecycle::config_text(env, port, common::lifecycle::FAST_RETRIES, extra)
}

async fn shipbob_sim(port: u16, name: &str, ship_after: Option<Duration>) -> ShipbobSandbox {
    ShipbobSandbox::start(
        "127.0.0.1:0",
        ShipbobSettings {
            callback_url: Some(hook(port, name)),
            ship_after,
            ..ShipbobSettings::default()
        },
    )
    .await
    .unwrap()
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

async fn count(store: &Store, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_one(store.pool())
        .await
        .unwrap()
}

async fn state_count(store: &Store, state: &str) -> i64 {
    count(
        store,
        &format!("SELECT COUNT(*) FROM orders WHERE state = '{state}'"),
    )
    .await
}

/// Every fulfilment order ordergate recorded for `warehouse`, and whether each reference
/// was created exactly once at the simulator.
async fn once_each(
    store: &Store,
    warehouse: &str,
    created: &std::collections::BTreeMap<String, u32>,
) {
    let keys: Vec<String> = sqlx::query_scalar("SELECT fkey FROM fulfilments WHERE warehouse = $1")
        .bind(warehouse)
        .fetch_all(store.pool())
        .await
        .unwrap();
    assert!(!keys.is_empty(), "{warehouse} got fulfilment orders");
    let dupes: Vec<_> = created.iter().filter(|(_, n)| **n != 1).collect();
    assert!(
        dupes.is_empty(),
        "{warehouse}: created more than once: {dupes:?}"
    );
    let mut ours = keys.clone();
    ours.sort();
    let theirs: Vec<String> = created.keys().cloned().collect();
    assert_eq!(
        ours, theirs,
        "{warehouse}: one fulfilment order per order allocated to it"
    );
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
        shipbob_section(env.dir.path(), "east", &east.base_url()),
        shipbob_section(env.dir.path(), "factory", &factory.base_url()),
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

/// An in-process daemon on `env` with `extra`, and the test's own store handle.
async fn daemon(env: &TestEnv, port: u16, extra: &str) -> ordergate::app::Daemon {
    let text = config_text(env, port, extra);
    let mut cfg = ordergate::config::Config::from_toml(&text, "test", Vec::new()).unwrap();
    cfg.anchor_paths(env.dir.path());
    ordergate::app::Daemon::start(&cfg).await.unwrap()
}

/// The shared Shopify sample (shipping to Canada, three units at 24.00) as order `n`, its
/// line's SKU replaced by `sku` (one of [`common::lifecycle::TEST_PRODUCTS`]), bought by a customer of its own.
fn shop_order(n: u64, sku: &str) -> Vec<u8> {
    let mut v: serde_json::Value = serde_json::from_slice(&common::shopify_order(n)).unwrap();
    v["line_items"][0]["sku"] = serde_json::json!(sku);
    // A customer of its own: the same customer with the same lines is a duplicate to review.
    let email = serde_json::json!(format!("buyer{n}@example.com"));
    v["email"] = email.clone();
    v["contact_email"] = email.clone();
    if v["customer"].is_object() {
        v["customer"]["email"] = email;
    }
    serde_json::to_vec(&v).unwrap()
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
    let east = shipbob_sim(port, "east", None).await;
    let factory = shipbob_sim(port, "factory", None).await;
    factory
        .state
        .control
        .set_stock([("TEST-LAMP".to_string(), Decimal::ZERO)].into());
    let (section, inbox) = folder(&env);
    let extra = format!(
        "{section}{}{}{}",
        shipbob_section(env.dir.path(), "east", &east.base_url()),
        shipbob_section(env.dir.path(), "factory", &factory.base_url()),
        routing(1),
    );
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn warehouse_failures_are_retried_without_duplicates_and_bad_answers_parked() {
    let env = TestEnv::new(Profile::Standalone).await;
    let port = free_port();
    let east = shipbob_sim(port, "east", None).await;
    let factory = shipbob_sim(port, "factory", None).await;
    let (section, inbox) = folder(&env);
    let extra = format!(
        "{section}{}{}{}",
        shipbob_section(env.dir.path(), "east", &east.base_url()),
        shipbob_section(env.dir.path(), "factory", &factory.base_url()),
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
    let env = TestEnv::new(Profile::Standalone).await;
    let port = free_port();
    let east = qimen_sandbox(port).await;
    let factory = shipbob_sim(port, "factory", None).await;
    let (section, inbox) = folder(&env);
    let token_file = env.dir.path().join("api-token");
    std::fs::write(&token_file, "lifecycle-operator-token").unwrap();
    let extra = format!(
        "{section}{}{}{}",
        qimen_section(env.dir.path(), "east", &east.base_url()),
        shipbob_section(env.dir.path(), "factory", &factory.base_url()),
        routing(0),
    );
    let text = config_text(&env, port, &extra).replace(
        &format!("listen = \"127.0.0.1:{port}\""),
        &format!(
            "listen = \"127.0.0.1:{port}\"\napi_tokens = [\"file:{}\"]",
            token_file.display()
        ),
    );
    let mut cfg = ordergate::config::Config::from_toml(&text, "test", Vec::new()).unwrap();
    cfg.anchor_paths(env.dir.path());
    let d = ordergate::app::Daemon::start(&cfg).await.unwrap();
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
    let answer = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/api/orders/{id}/cancel"))
        .bearer_auth("lifecycle-operator-token")
        .json(&serde_json::json!({"reason": "customer changed their mind"}))
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success(), "{}", answer.status());
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

async fn qimen_sandbox(port: u16) -> QimenSandbox {
    QimenSandbox::start(
        "127.0.0.1:0",
        QimenSettings {
            callback_url: Some(hook(port, "east")),
            ..QimenSettings::default()
        },
    )
    .await
    .unwrap()
}
