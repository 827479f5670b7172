//! Marketplace pull connectors against their simulators, over real loopback HTTP, with the real
//! daemon (standalone profile: SQLite + embedded bus). Per platform:
//!
//! * a full sync of 500 orders over many pages arrives exactly once, orders updated while the
//!   connector pages are not missed, and a restarted daemon resumes from its cursor without
//!   re-importing;
//! * a 429 burst (Retry-After), a 5xx burst and an outage long enough to take the connector
//!   `down` are survived: it recovers by itself and nothing changed meanwhile is missed.
//!
//! Time is scaled: polls every 100 ms, retries from 20 ms, `Retry-After: 1`, an outage of a few
//! seconds stands for ten minutes.

mod common;

use std::time::Duration;

use common::sim;
use common::{wait_until, Profile, TestEnv};
use ordergate::app::Daemon;
use ordergate::sandbox::Platform;
use ordergate::store::ConnectorHealth;

/// Orders sorted by change time: the ids of the first `n` and the last `n`.
fn first_and_last(sim: &ordergate::sandbox::Sandbox, n: usize) -> (Vec<u64>, Vec<u64>) {
    let mut orders = sim.state.orders();
    orders.sort_by_key(|o| (o.updated_at, o.id));
    let first = orders.iter().take(n).map(|o| o.id).collect();
    let last = orders.iter().rev().take(n).map(|o| o.id).collect();
    (first, last)
}

async fn all_current_versions_stored(
    store: &ordergate::store::Store,
    sim: &ordergate::sandbox::Sandbox,
    def: &ordergate::intake::pull::Definition,
    name: &str,
) -> bool {
    let (stored, _) = sim::stored_versions(store, def, name).await;
    sim::current_versions(sim, def).is_subset(&stored)
}

async fn full_sync_then_restart(platform: Platform) {
    let started = std::time::Instant::now();
    let env = TestEnv::new(Profile::Standalone).await;
    let sim = sim::start(platform, 500, 7).await;
    let def = sim::definition(platform);
    let name = format!("{}-sim", platform.as_str());
    // Amazon pages hold at most 100, eBay's orders come newest first: 25–50 per page gives
    // 10–20 pages everywhere.
    let page_size = 50;
    // Orders change while the connector pages: some it has read already, some it has not.
    let (first, last) = first_and_last(&sim, 3);
    sim.state.update_during_list_request(3, first.clone());
    sim.state.update_during_list_request(5, last.clone());
    let mappings = common::mappings_dir();
    let cfg = env.config(
        &mappings,
        &sim::connector_section(&name, &sim, env.dir.path(), page_size),
    );
    let daemon = Daemon::start(&cfg).await.unwrap();
    let store = daemon.store.clone();

    wait_until(
        Duration::from_secs(90),
        "every current version stored",
        || all_current_versions_stored(&store, &sim, &def, &name),
    )
    .await;
    assert!(
        sim.state.list_requests() >= 10,
        "500 orders took many pages ({} list requests)",
        sim.state.list_requests()
    );
    wait_until(Duration::from_secs(60), "500 orders normalized", || async {
        store.order_count(&name).await.unwrap() == 500
    })
    .await;
    wait_until(Duration::from_secs(30), "outbox drained", || async {
        store.outbox_pending().await.unwrap() == 0
    })
    .await;
    let (versions, raw) = sim::stored_versions(&store, &def, &name).await;
    assert_eq!(raw, versions.len(), "no version of an order stored twice");
    assert!(
        raw <= 500 + first.len() + last.len(),
        "at most one extra document per update: {raw}"
    );
    assert_eq!(store.order_count(&name).await.unwrap(), 500, "exactly once");
    let parked = ordergate::dlq::list(&store, 10).await.unwrap();
    assert!(parked.is_empty(), "nothing parked: {parked:?}");
    let cursor = store
        .connector_cursor(&name)
        .await
        .unwrap()
        .expect("cursor");
    let cursor = ordergate::intake::pull::definition::parse_time(&cursor).unwrap();
    daemon.stop().await;

    // Restart: it resumes from the cursor (minus the overlap) and imports nothing again.
    let served = sim.state.requests().len();
    let daemon = Daemon::start(&cfg).await.unwrap();
    let store = daemon.store.clone();
    let requests_before = sim.state.list_requests();
    wait_until(
        Duration::from_secs(30),
        "three polls after restart",
        || async { sim.state.list_requests() >= requests_before + 3 },
    )
    .await;
    let since = sim::list_since_values(&sim, served);
    assert!(!since.is_empty(), "first-page requests after the restart");
    let overlap = chrono::Duration::milliseconds(2_000 + 1_000);
    assert!(
        since.iter().all(|s| *s >= cursor - overlap),
        "resumed from the cursor {cursor}, asked for {since:?}"
    );
    assert_eq!(
        sim::stored_versions(&store, &def, &name).await.1,
        raw,
        "nothing imported again"
    );
    assert_eq!(store.order_count(&name).await.unwrap(), 500);
    daemon.stop().await;
    sim.stop().await;
    eprintln!(
        "{} full sync + restart: {:?}",
        platform.as_str(),
        started.elapsed()
    );
}

async fn throttling_and_outage(platform: Platform) {
    let started = std::time::Instant::now();
    let env = TestEnv::new(Profile::Standalone).await;
    let sim = sim::start(platform, 150, 11).await;
    let def = sim::definition(platform);
    let name = format!("{}-sim", platform.as_str());
    // A 429 burst longer than one request's retries, then a 5xx burst.
    sim.state.faults(|f| {
        f.throttle_next = 4;
        f.fail_next = 2;
    });
    let mappings = common::mappings_dir();
    let cfg = env.config(
        &mappings,
        &sim::connector_section(&name, &sim, env.dir.path(), 25),
    );
    let daemon = Daemon::start(&cfg).await.unwrap();
    let store = daemon.store.clone();
    let health = daemon.health.clone();
    wait_until(Duration::from_secs(60), "first sync despite 429s", || {
        all_current_versions_stored(&store, &sim, &def, &name)
    })
    .await;
    let throttled = sim
        .state
        .requests()
        .iter()
        .filter(|r| r.status == 429)
        .count();
    assert_eq!(throttled, 4, "the 429 burst was served");

    // An outage long enough to take the connector down; orders change meanwhile.
    sim.state
        .faults(|f| f.outage_until = Some(std::time::Instant::now() + Duration::from_secs(60)));
    let new = sim.state.create(5);
    let (first, _) = first_and_last(&sim, 4);
    sim.state.update(&first);
    let state = |h: &std::sync::Arc<ordergate::health::HealthTracker>| {
        h.snapshot()
            .into_iter()
            .find(|s| s.connector == name)
            .map(|s| s.health)
    };
    wait_until(Duration::from_secs(30), "connector down", || async {
        state(&health) == Some(ConnectorHealth::Down)
    })
    .await;
    // The store is written right after the in-memory state changes.
    wait_until(
        Duration::from_secs(5),
        "health kept in the store",
        || async {
            store
                .connector_state(&name)
                .await
                .unwrap()
                .map(|s| s.health)
                == Some(ConnectorHealth::Down)
        },
    )
    .await;
    let stored = store.connector_state(&name).await.unwrap().unwrap();
    assert!(stored.last_error.as_deref().unwrap_or("").contains("503"));
    sim.state.faults(|f| f.outage_until = None);
    wait_until(Duration::from_secs(30), "connector up again", || async {
        state(&health) == Some(ConnectorHealth::Up)
    })
    .await;
    wait_until(
        Duration::from_secs(30),
        "changes made during the outage",
        || all_current_versions_stored(&store, &sim, &def, &name),
    )
    .await;
    let total = 150 + new.len() as i64;
    wait_until(
        Duration::from_secs(60),
        "every order normalized",
        || async { store.order_count(&name).await.unwrap() == total },
    )
    .await;
    let (versions, raw) = sim::stored_versions(&store, &def, &name).await;
    assert_eq!(raw, versions.len(), "no version stored twice");
    assert!(raw <= 150 + new.len() + first.len(), "{raw} documents");
    daemon.stop().await;
    sim.stop().await;
    eprintln!(
        "{} throttling + outage: {:?}",
        platform.as_str(),
        started.elapsed()
    );
}

macro_rules! platform_tests {
    ($($module:ident => $platform:expr),* $(,)?) => {$(
        mod $module {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn full_sync_exactly_once_then_restart_resumes() {
                full_sync_then_restart($platform).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn survives_429_burst_and_outage() {
                throttling_and_outage($platform).await;
            }
        }
    )*};
}

platform_tests! {
    shopify => Platform::Shopify,
    woocommerce => Platform::Woocommerce,
    amazon => Platform::Amazon,
    ebay => Platform::Ebay,
    magento => Platform::Magento,
}

/// A marketplace connector with a webhook secret also takes the platform's order webhooks at
/// `/hooks/orders/<name>`, under its own name: an order both polled and pushed is one order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_and_poll_of_the_same_order_are_one_order() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let env = TestEnv::new(Profile::Standalone).await;
    let sim = sim::start(Platform::Shopify, 20, 11).await;
    let name = "shop-both";
    let section = sim::connector_section(name, &sim, env.dir.path(), 50);
    let secret = Platform::Shopify
        .credentials()
        .iter()
        .find(|(k, _)| *k == "webhook_secret")
        .map(|(_, v)| v.to_string())
        .expect("the Shopify sandbox has a webhook secret");
    let mut cfg = env.config(&common::mappings_dir(), &section);
    cfg.http.listen = "127.0.0.1:0".into();
    let daemon = Daemon::start(&cfg).await.unwrap();
    let store = daemon.store.clone();
    wait_until(Duration::from_secs(30), "the polled orders", || async {
        store.order_count(name).await.unwrap() == 20
    })
    .await;
    let secret = &secret;
    let post = |body: Vec<u8>| async move {
        let sig = ordergate::intake::webhook::sign_base64(secret.as_bytes(), &body);
        let mut s = tokio::net::TcpStream::connect(daemon.http_addr.unwrap())
            .await
            .unwrap();
        let head = format!(
            "POST /hooks/orders/{name} HTTP/1.1\r\nHost: t\r\nConnection: close\r\nX-Shopify-Hmac-Sha256: {sig}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        s.write_all(head.as_bytes()).await.unwrap();
        s.write_all(&body).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    };
    // A polled order pushed again by webhook (the same order, other bytes).
    let known = sim.state.orders()[0].clone();
    let pushed = serde_json::to_vec_pretty(&ordergate::sandbox::shopify::render(&known)).unwrap();
    assert!(post(pushed).await.starts_with("HTTP/1.1 202"));
    // A new order that only arrives by webhook.
    let mut fresh = ordergate::sandbox::shopify::render(&known);
    fresh["id"] = serde_json::json!(999_000_001u64);
    assert!(post(serde_json::to_vec(&fresh).unwrap())
        .await
        .starts_with("HTTP/1.1 202"));
    wait_until(
        Duration::from_secs(30),
        "the webhook-only order",
        || async { store.order_count(name).await.unwrap() == 21 },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        store.order_count(name).await.unwrap(),
        21,
        "the pushed known order is not a second order"
    );
    daemon.stop().await;
}
