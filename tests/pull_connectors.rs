//! Marketplace pull connectors against their simulators, over real loopback HTTP, with the real
//! daemon (standalone profile: SQLite + embedded bus). Per platform:
//!
//! * a full sync of 500 orders over many pages arrives exactly once, orders updated while the
//!   connector pages are not missed, and a restarted daemon resumes from its cursor without
//!   re-importing;
//! * a 429 burst (Retry-After), a 5xx burst and an outage long enough to take the connector
//!   `down` are survived: it recovers by itself and nothing changed meanwhile is missed.
//!
//! And once each: Shopify's call limit and Amazon's rate header are honoured before the
//! platform throttles; an expired LWA token is refreshed once mid-sync, a refused refresh takes
//! the connector `down` without secrets in its error or hammering the token endpoint; a 200
//! with `errors[]` is a typed partner error; one connector `down` leaves another `up`; in the
//! cluster profile two daemons poll one connector one at a time (lease) and hand over.
//!
//! Time is scaled: polls every 100 ms, retries from 20 ms, `Retry-After: 1`, an outage of a few
//! seconds stands for ten minutes.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failed unwrap is a failed test.

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

/// A daemon polling `sim` as connector `name`, and a store pool of the test's own (the
/// daemon's closes when it stops, and the test reads after that).
async fn start_with_own_store(
    env: &TestEnv,
    sim: &ordergate::sandbox::Sandbox,
    name: &str,
    page_size: u32,
) -> (Daemon, ordergate::store::Store) {
    let cfg = env.config(
        &common::mappings_dir(),
        &sim::connector_section(name, sim, env.dir.path(), page_size),
    );
    let daemon = Daemon::start(&cfg).await.unwrap();
    let store = ordergate::app::connect_store(&cfg).await.unwrap();
    (daemon, store)
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
    let cursor = ordergate::partner::definition::parse_time(&cursor).unwrap();
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

/// The health of `name` as the daemon tracks it.
fn health_of(daemon: &Daemon, name: &str) -> Option<ConnectorHealth> {
    daemon
        .health
        .snapshot()
        .into_iter()
        .find(|s| s.connector == name)
        .map(|s| s.health)
}

/// The `last_error` kept in `connector_state`.
async fn last_error(store: &ordergate::store::Store, name: &str) -> String {
    store
        .connector_state(name)
        .await
        .unwrap()
        .and_then(|s| s.last_error)
        .unwrap_or_default()
}

/// Sends `n` requests at once (another client of the same credentials); returns their statuses.
async fn burst(n: usize, request: impl Fn() -> reqwest::RequestBuilder) -> Vec<u16> {
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..n {
        let req = request();
        set.spawn(async move { req.send().await.unwrap().status().as_u16() });
    }
    set.join_all().await
}

/// Shopify's leaky bucket at its documented size (40 calls, leaking 2 per second), mostly used
/// up by another client of the same app: the connector reads `X-Shopify-Shop-Api-Call-Limit`
/// and pauses (`call_limit_wait_ms`) at 80 % instead of running into 429s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shopify_call_limit_slows_down_before_429() {
    let env = TestEnv::new(Profile::Standalone).await;
    let sim = sim::start_scaled(Platform::Shopify, 60, 21, 1.0).await;
    let def = sim::definition(Platform::Shopify);
    let name = "shopify-bucket";
    let http = reqwest::Client::new();
    let url = format!("{}/admin/api/2024-10/orders.json?limit=1", sim.base_url());
    let token = Platform::Shopify.credentials()[0].1;
    let statuses = burst(32, || {
        http.get(&url).header("X-Shopify-Access-Token", token)
    })
    .await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let before = sim.state.requests().len();
    let (daemon, store) = start_with_own_store(&env, &sim, name, 10).await;
    let used = |r: &ordergate::sandbox::LoggedRequest| {
        r.rate_limit
            .as_deref()
            .and_then(|v| v.split('/').next())
            .and_then(|u| u.parse::<u32>().ok())
    };
    wait_until(Duration::from_secs(30), "every order stored", || {
        all_current_versions_stored(&store, &sim, &def, name)
    })
    .await;
    // Polls go on every 100 ms, so the connector itself keeps the bucket near its limit.
    wait_until(
        Duration::from_secs(30),
        "several answers at 80 % of the bucket",
        || async {
            let log = sim.state.requests();
            log[before..]
                .iter()
                .filter(|r| used(r).is_some_and(|u| u >= 32))
                .count()
                >= 3
        },
    )
    .await;
    wait_until(Duration::from_secs(30), "60 orders normalized", || async {
        store.order_count(name).await.unwrap() == 60
    })
    .await;
    daemon.stop().await;
    let log = sim.state.requests().split_off(before);
    let levels: Vec<_> = log.iter().map(|r| (r.status, used(r))).collect();
    assert!(
        log.iter().all(|r| r.status == 200),
        "no 429 while honouring the call limit: {levels:?}"
    );
    // After every answer at or over 32/40 the next request waited the definition's 1 s (a
    // lower bound: a loaded machine only makes the gap longer).
    for w in log.windows(2) {
        if used(&w[0]).is_some_and(|u| u >= 32) {
            let gap = w[1].at - w[0].at;
            assert!(
                gap >= Duration::from_millis(900),
                "paused after {:?}: only {gap:?}",
                w[0].rate_limit
            );
        }
    }
    sim.stop().await;
}

/// SP-API announces each operation's rate in `x-amzn-RateLimit-Limit` and throttles with a
/// token bucket (rate × 100 here: getOrders 1.67/s, getOrderItems 50/s): the connector paces
/// each operation at the announced rate and is never throttled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amazon_paces_each_operation_at_the_announced_rate() {
    let env = TestEnv::new(Profile::Standalone).await;
    let sim = sim::start_scaled(Platform::Amazon, 40, 23, 100.0).await;
    let def = sim::definition(Platform::Amazon);
    let name = "amazon-paced";
    let (daemon, store) = start_with_own_store(&env, &sim, name, 10).await;
    wait_until(Duration::from_secs(30), "every order stored", || {
        all_current_versions_stored(&store, &sim, &def, name)
    })
    .await;
    daemon.stop().await;
    let log = sim.state.requests();
    assert!(
        log.iter().all(|r| r.status == 200),
        "never throttled: {:?}",
        log.iter().filter(|r| r.status != 200).collect::<Vec<_>>()
    );
    for (operation, is_op) in [
        (
            "getOrders",
            (|p: &str| p == "/orders/v0/orders") as fn(&str) -> bool,
        ),
        ("getOrderItems", |p: &str| p.ends_with("/orderItems")),
    ] {
        let calls: Vec<_> = log.iter().filter(|r| is_op(&r.path)).collect();
        let announced: f64 = calls[0].rate_limit.as_deref().unwrap().parse().unwrap();
        let span = (calls[calls.len() - 1].at - calls[0].at).as_secs_f64();
        let measured = (calls.len() - 1) as f64 / span;
        assert!(
            calls.len() >= 4 && measured <= announced * 1.25,
            "{operation}: {} calls at {measured:.2}/s, announced {announced}/s",
            calls.len()
        );
    }
    // A client that does not pace is throttled: the bucket is real.
    let http = reqwest::Client::new();
    let token: serde_json::Value = http
        .post(sim.token_url().unwrap())
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", Platform::Amazon.credentials()[0].1),
            ("client_secret", Platform::Amazon.credentials()[1].1),
            ("refresh_token", Platform::Amazon.credentials()[2].1),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = token["access_token"].as_str().unwrap().to_string();
    let url = format!(
        "{}/orders/v0/orders?MarketplaceIds=ATVPDKIKX0DER&LastUpdatedAfter=2000-01-01T00:00:00Z",
        sim.base_url()
    );
    let statuses = burst(30, || http.get(&url).header("x-amz-access-token", &access)).await;
    assert!(statuses.contains(&429), "{statuses:?}");
    sim.stop().await;
}

/// The LWA access token is revoked while the connector pages: the next request is refused
/// (403), the connector fetches a new token once and carries on; nothing is missed and the
/// connector never counts a failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amazon_token_revoked_mid_sync_is_refreshed_once() {
    let env = TestEnv::new(Profile::Standalone).await;
    let sim = sim::start(Platform::Amazon, 60, 25).await;
    sim.state.revoke_tokens_during_list_request(3);
    let def = sim::definition(Platform::Amazon);
    let name = "amazon-refresh";
    let (daemon, store) = start_with_own_store(&env, &sim, name, 10).await;
    wait_until(Duration::from_secs(30), "every order stored", || {
        all_current_versions_stored(&store, &sim, &def, name)
    })
    .await;
    wait_until(Duration::from_secs(30), "60 orders normalized", || async {
        store.order_count(name).await.unwrap() == 60
    })
    .await;
    daemon.stop().await;
    let log = sim.state.requests();
    let token_path = sim.token_url().unwrap();
    let is_token = |r: &ordergate::sandbox::LoggedRequest| token_path.ends_with(&r.path);
    assert_eq!(log.iter().filter(|r| is_token(r)).count(), 2, "one refresh");
    let refused: Vec<usize> = (0..log.len()).filter(|&i| log[i].status == 403).collect();
    assert_eq!(refused.len(), 1, "one refused request");
    let i = refused[0];
    assert!(is_token(&log[i + 1]) && log[i + 1].status == 200);
    assert_eq!(
        (&log[i + 2].path, &log[i + 2].query, log[i + 2].status),
        (&log[i].path, &log[i].query, 200),
        "the refused request again, with the new token"
    );
    let state = store.connector_state(name).await.unwrap().unwrap();
    assert_eq!(state.health, ConnectorHealth::Up);
    assert_eq!(state.last_error, None, "no poll failed");
    let (versions, raw) = sim::stored_versions(&store, &def, name).await;
    assert_eq!((versions.len(), raw), (60, 60));
    sim.stop().await;
}

/// A refresh the token endpoint refuses (a wrong client secret; a revoked refresh token) makes
/// the connector `down` with the endpoint's OAuth2 error code in `last_error` and no secret in
/// it, and failed polls back off instead of asking the token endpoint every poll interval.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amazon_refused_refresh_goes_down_without_secrets_or_hammering() {
    let env = TestEnv::new(Profile::Standalone).await;
    let dir = env.dir.path();
    let bad_secret = sim::start(Platform::Amazon, 10, 27).await;
    let bad_grant = sim::start(Platform::Amazon, 10, 28).await;
    let mut extra = sim::HEALTH.to_string();
    extra += &sim::marketplace_section("amazon-bad-secret", &bad_secret, dir, 10);
    extra += &sim::marketplace_section("amazon-bad-grant", &bad_grant, dir, 10);
    let wrong_secret = "amzn1.oa2-cs.v1.rotated-0b5e9f";
    let wrong_grant = "Atzr|revoked-refresh-token-77c1";
    sim::write_credential(dir, "amazon-bad-secret", "client_secret", wrong_secret);
    sim::write_credential(dir, "amazon-bad-grant", "refresh_token", wrong_grant);
    let cfg = env.config(&common::mappings_dir(), &extra);
    let started = std::time::Instant::now();
    let daemon = Daemon::start(&cfg).await.unwrap();
    // Its own pool: the daemon's closes when it stops.
    let store = ordergate::app::connect_store(&cfg).await.unwrap();
    for name in ["amazon-bad-secret", "amazon-bad-grant"] {
        wait_until(Duration::from_secs(20), "connector down", || async {
            health_of(&daemon, name) == Some(ConnectorHealth::Down)
        })
        .await;
    }
    // Five seconds of failing: every 100 ms that would be ~50 token requests.
    tokio::time::sleep(Duration::from_secs(5).saturating_sub(started.elapsed())).await;
    let elapsed = started.elapsed();
    daemon.stop().await;
    let secrets: Vec<&str> = Platform::Amazon
        .credentials()
        .iter()
        .map(|(_, v)| *v)
        .chain([wrong_secret, wrong_grant])
        .collect();
    for (name, sim, code) in [
        ("amazon-bad-secret", &bad_secret, "401 invalid_client"),
        ("amazon-bad-grant", &bad_grant, "400 invalid_grant"),
    ] {
        let state = store.connector_state(name).await.unwrap().unwrap();
        assert_eq!(state.health, ConnectorHealth::Down);
        let error = state.last_error.unwrap_or_default();
        assert!(
            error.contains("access token refresh failed") && error.contains(code),
            "{name}: {error}"
        );
        for s in &secrets {
            assert!(!error.contains(s), "{name}: a secret in {error:?}");
        }
        let log = sim.state.requests();
        assert!(
            log.iter()
                .all(|r| sim.token_url().unwrap().ends_with(&r.path)),
            "nothing but the token endpoint asked"
        );
        assert!(
            (3..=15).contains(&log.len()),
            "{name}: {} token requests in {elapsed:?}",
            log.len()
        );
        let gaps: Vec<_> = log.windows(2).map(|w| w[1].at - w[0].at).collect();
        assert!(
            gaps.iter()
                .max()
                .is_some_and(|g| *g >= Duration::from_millis(500)),
            "{name}: failed polls back off: {gaps:?}"
        );
    }
    bad_secret.stop().await;
    bad_grant.stop().await;
}

/// SP-API can answer HTTP 200 with `errors[]`: that is a typed error with Amazon's code and
/// message, in `last_error`; `InvalidInput` is not retried (one such answer fails the poll),
/// `QuotaExceeded` is (the definition's `retriable_codes`: the same request three times).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amazon_200_with_errors_is_a_partner_error() {
    let env = TestEnv::new(Profile::Standalone).await;
    let sim = sim::start(Platform::Amazon, 20, 29).await;
    let def = sim::definition(Platform::Amazon);
    let name = "amazon-200-errors";
    let (daemon, store) = start_with_own_store(&env, &sim, name, 10).await;
    wait_until(Duration::from_secs(30), "every order stored", || {
        all_current_versions_stored(&store, &sim, &def, name)
    })
    .await;

    // One answer only: had it been retried, the retry would have worked and no poll failed.
    sim.state.faults(|f| {
        f.errors_in_ok = vec![(
            "InvalidInput".into(),
            "Invalid Input: CreatedAfter is in the future".into(),
        )]
    });
    wait_until(
        Duration::from_secs(10),
        "InvalidInput in last_error",
        || async { last_error(&store, name).await.contains("InvalidInput") },
    )
    .await;
    assert_eq!(
        last_error(&store, name).await,
        "amazon answered 200 (InvalidInput): Invalid Input: CreatedAfter is in the future"
    );
    wait_until(Duration::from_secs(10), "up again", || async {
        health_of(&daemon, name) == Some(ConnectorHealth::Up)
    })
    .await;

    // As many answers as one request's attempts (max_retries = 2): retried, then the poll fails.
    let before = sim.state.requests().len();
    sim.state.faults(|f| {
        f.errors_in_ok = vec![
            (
                "QuotaExceeded".into(),
                "You exceeded your quota for the requested resource.".into()
            );
            3
        ]
    });
    wait_until(
        Duration::from_secs(10),
        "QuotaExceeded in last_error",
        || async { last_error(&store, name).await.contains("QuotaExceeded") },
    )
    .await;
    assert_eq!(
        last_error(&store, name).await,
        "amazon answered 200 (QuotaExceeded): You exceeded your quota for the requested resource."
    );
    let injected: Vec<_> = sim.state.requests()[before..]
        .iter()
        .filter(|r| r.injected)
        .map(|r| (r.path.clone(), r.query.clone(), r.status))
        .collect();
    assert_eq!(injected.len(), 3);
    assert!(
        injected.iter().all(|r| *r == injected[0]) && injected[0].2 == 200,
        "one request, retried: {injected:?}"
    );
    wait_until(Duration::from_secs(10), "up again", || async {
        health_of(&daemon, name) == Some(ConnectorHealth::Up)
    })
    .await;
    daemon.stop().await;
    sim.stop().await;
}

/// Two marketplace connectors in one daemon: Shopify in an outage goes `down`, WooCommerce
/// keeps syncing, never fails and stays `up`; Shopify recovers when its outage ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connector_down_leaves_the_others_unaffected() {
    let env = TestEnv::new(Profile::Standalone).await;
    let dir = env.dir.path();
    let shop = sim::start(Platform::Shopify, 20, 31).await;
    let woo = sim::start(Platform::Woocommerce, 30, 32).await;
    shop.state
        .faults(|f| f.outage_until = Some(std::time::Instant::now() + Duration::from_secs(60)));
    let extra = format!(
        "{}{}{}",
        sim::HEALTH,
        sim::marketplace_section("shop-out", &shop, dir, 10),
        sim::marketplace_section("woo-ok", &woo, dir, 10)
    );
    let cfg = env.config(&common::mappings_dir(), &extra);
    let daemon = Daemon::start(&cfg).await.unwrap();
    // Its own pool: the daemon's closes when it stops.
    let store = ordergate::app::connect_store(&cfg).await.unwrap();
    let (shop_def, woo_def) = (
        sim::definition(Platform::Shopify),
        sim::definition(Platform::Woocommerce),
    );
    wait_until(Duration::from_secs(20), "Shopify down", || async {
        health_of(&daemon, "shop-out") == Some(ConnectorHealth::Down)
    })
    .await;
    wait_until(Duration::from_secs(30), "WooCommerce synced", || {
        all_current_versions_stored(&store, &woo, &woo_def, "woo-ok")
    })
    .await;
    // WooCommerce orders keep coming while Shopify is down.
    woo.state.create(5);
    let first = woo.state.orders()[0].id;
    woo.state.update(&[first]);
    wait_until(Duration::from_secs(30), "new WooCommerce orders", || {
        all_current_versions_stored(&store, &woo, &woo_def, "woo-ok")
    })
    .await;
    wait_until(Duration::from_secs(30), "35 orders normalized", || async {
        store.order_count("woo-ok").await.unwrap() == 35
    })
    .await;
    assert_eq!(health_of(&daemon, "shop-out"), Some(ConnectorHealth::Down));
    assert_eq!(health_of(&daemon, "woo-ok"), Some(ConnectorHealth::Up));
    let woo_state = store.connector_state("woo-ok").await.unwrap().unwrap();
    assert_eq!(
        (woo_state.consecutive_failures, woo_state.last_error),
        (0, None),
        "WooCommerce never failed a poll"
    );
    assert!(last_error(&store, "shop-out").await.contains("503"));
    shop.state.faults(|f| f.outage_until = None);
    wait_until(
        Duration::from_secs(30),
        "Shopify synced after the outage",
        || all_current_versions_stored(&store, &shop, &shop_def, "shop-out"),
    )
    .await;
    wait_until(Duration::from_secs(10), "Shopify up", || async {
        health_of(&daemon, "shop-out") == Some(ConnectorHealth::Up)
    })
    .await;
    daemon.stop().await;
    shop.stop().await;
    woo.stop().await;
}

/// Cluster profile: two daemons (PostgreSQL + RabbitMQ, one store and one bus namespace) run
/// the same connector against one simulator. Only the lease holder polls; stopped mid-sync, the
/// other takes over within the lease time and finishes; every order arrives exactly once. The
/// daemons differ only in page size, so the simulator's log (`limit=`) tells them apart.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cluster_one_daemon_polls_at_a_time_and_the_other_takes_over() {
    let env = TestEnv::new(Profile::Cluster).await;
    let sim = sim::start(Platform::Shopify, 400, 33).await;
    let def = sim::definition(Platform::Shopify);
    let name = "shopify-cluster";
    let dir = env.dir.path();
    let mappings = common::mappings_dir();
    let cfg_a = env.config(&mappings, &sim::connector_section(name, &sim, dir, 10));
    let cfg_b = env.config(&mappings, &sim::connector_section(name, &sim, dir, 11));
    let a = Daemon::start(&cfg_a).await.unwrap();
    let b = Daemon::start(&cfg_b).await.unwrap();
    let store = ordergate::app::connect_store(&cfg_a).await.unwrap();
    let daemon_of = |r: &ordergate::sandbox::LoggedRequest| {
        reqwest::Url::parse(&format!("http://x/?{}", r.query))
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "limit")
            .map(|(_, v)| v.into_owned())
            .unwrap()
    };
    wait_until(Duration::from_secs(30), "five pages read", || async {
        sim.state.list_requests() >= 5
    })
    .await;
    let holder = daemon_of(&sim.state.requests()[0]);
    let (holder_daemon, other_daemon) = if holder == "10" { (a, b) } else { (b, a) };
    holder_daemon.stop().await;
    let (_, stored_by_holder) = sim::stored_versions(&store, &def, name).await;
    assert!(stored_by_holder < 400, "stopped mid-sync");
    wait_until(Duration::from_secs(60), "every order stored", || {
        all_current_versions_stored(&store, &sim, &def, name)
    })
    .await;
    wait_until(Duration::from_secs(60), "400 orders normalized", || async {
        store.order_count(name).await.unwrap() == 400
    })
    .await;
    other_daemon.stop().await;

    let log = sim.state.requests();
    let who: Vec<String> = log.iter().map(daemon_of).collect();
    let switch = who
        .windows(2)
        .position(|w| w[0] != w[1])
        .expect("the other daemon polled");
    assert!(
        who[..=switch].iter().all(|w| *w == holder)
            && who[switch + 1..].iter().all(|w| *w != holder),
        "one daemon at a time: {who:?}"
    );
    let takeover = log[switch + 1].at - log[switch].at;
    assert!(
        takeover < Duration::from_millis(3_000),
        "took over within the lease time: {takeover:?}"
    );
    let (versions, raw) = sim::stored_versions(&store, &def, name).await;
    assert_eq!(raw, versions.len(), "no version stored twice");
    assert_eq!(raw, 400);
    assert_eq!(store.order_count(name).await.unwrap(), 400, "exactly once");
    store.close().await;
    sim.stop().await;
}

/// The holder keeps its lease through the pauses between polls, even when a pause is longer
/// than the lease, so the connector does not hop between daemons.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_holder_keeps_the_lease_between_polls() {
    let env = TestEnv::new(Profile::Cluster).await;
    let sim = sim::start(Platform::Shopify, 30, 35).await;
    let name = "shopify-sticky";
    let dir = env.dir.path();
    let section = |page: u32| {
        sim::connector_section(name, &sim, dir, page)
            .replace("poll_interval_ms = 100", "poll_interval_ms = 700")
            .replace("lease_ms = 3000", "lease_ms = 300")
    };
    let mappings = common::mappings_dir();
    let a = Daemon::start(&env.config(&mappings, &section(10)))
        .await
        .unwrap();
    let b = Daemon::start(&env.config(&mappings, &section(11)))
        .await
        .unwrap();
    // Several poll cycles, each pause longer than the lease.
    wait_until(Duration::from_secs(30), "several polls", || async {
        sim.state.list_requests() >= 12
    })
    .await;
    let who: std::collections::BTreeSet<String> = sim
        .state
        .requests()
        .iter()
        .filter_map(|r| {
            reqwest::Url::parse(&format!("http://x/?{}", r.query))
                .ok()?
                .query_pairs()
                .find(|(k, _)| k == "limit")
                .map(|(_, v)| v.into_owned())
        })
        .collect();
    assert_eq!(who.len(), 1, "one daemon polled throughout: {who:?}");
    a.stop().await;
    b.stop().await;
    sim.stop().await;
}
