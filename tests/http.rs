//! The HTTP surface: health, readiness, metrics, and the token-guarded order API.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failed unwrap is a failed test.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use ordergate::http::{app, AppState};
use tower::ServiceExt;

async fn get(router: &axum::Router, path: &str, token: Option<&str>) -> (StatusCode, String) {
    let mut req = Request::get(path);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let resp = router
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_metrics_and_order_api() {
    ordergate::telemetry::prometheus();
    let env = common::TestEnv::new(common::Profile::Standalone).await;
    let inbox = env.inbox("web");
    let cfg = env.config(
        &common::mappings_dir(),
        &common::folder_connector("web", &inbox, "shopify"),
    );
    let daemon = ordergate::app::Daemon::start(&cfg).await.unwrap();
    let store = daemon.store.clone();
    common::drop_file(&inbox, "o.json", &common::shopify_order(9));
    common::wait_until(Duration::from_secs(30), "the order", || async {
        store.order_count("web").await.unwrap() == 1
    })
    .await;
    let order_id = store
        .order_id_by_source("web", "7000000000009")
        .await
        .unwrap()
        .unwrap();

    let router = app(AppState {
        store: store.clone(),
        bus: daemon.bus.clone(),
        health: daemon.health.clone(),
        api_tokens: Arc::new(vec![
            ordergate::http::ApiKey {
                token: "good-token".into(),
                name: "ops".into(),
                role: ordergate::config::ApiRole::Operator,
            },
            ordergate::http::ApiKey {
                token: "viewer-token".into(),
                name: "anna".into(),
                role: ordergate::config::ApiRole::Viewer,
            },
        ]),
        hooks: Arc::new(Default::default()),
        tracking: Arc::new(Default::default()),
        documents: Arc::new(ordergate::intake::DocumentWriter::new(store.clone())),
        catalog: Arc::new(ordergate::catalog::CatalogSource::new(None, store.clone())),
    });

    let (s, body) = get(&router, "/healthz", None).await;
    assert_eq!((s, body.trim()), (StatusCode::OK, "ok"));

    let (s, body) = get(&router, "/readyz", None).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let ready: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ready["store"], "up");
    assert_eq!(ready["bus"]["kind"], "embedded");
    assert_eq!(ready["connectors"][0]["connector"], "web");
    assert_eq!(ready["connectors"][0]["health"], "up");

    let (s, body) = get(&router, "/metrics", None).await;
    assert_eq!(s, StatusCode::OK);
    for name in [
        "ordergate_messages_in_total",
        "ordergate_documents_ingested_total",
        "ordergate_connector_health",
    ] {
        assert!(body.contains(name), "/metrics has {name}:\n{body}");
    }

    let path = format!("/api/orders/{order_id}");
    let (s, _) = get(&router, &path, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, body) = get(&router, &path, Some("bad-token")).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(!body.contains("Bergeron"), "nothing leaks without a token");
    let (s, body) = get(&router, &path, Some("good-token")).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["order"]["source"]["external_id"], "7000000000009");
    assert_eq!(v["order"]["order_id"], order_id.as_str());
    assert_eq!(v["history"][0]["kind"], "received");
    assert_eq!(v["history"][0]["to_state"], "received");
    assert!(v["history"][0]["cause"]
        .as_str()
        .unwrap()
        .starts_with("stage:normalize"));
    let (s, body) = get(&router, "/api/orders/og_nope", Some("good-token")).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{body}");

    // A store that is gone makes the daemon not ready.
    store.close().await;
    let (s, body) = get(&router, "/readyz", None).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    daemon.stop().await;
}

/// A drop folder that cannot be read turns the connector degraded, then down, and back up
/// when it can be read again; /readyz shows it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connector_health_goes_down_and_recovers() {
    let env = common::TestEnv::new(common::Profile::Standalone).await;
    let inbox = env.inbox("flaky");
    // Replace the folder with a file: scanning fails until it is a folder again.
    std::fs::remove_dir_all(&inbox).unwrap();
    std::fs::write(&inbox, b"not a folder").unwrap();
    let mut cfg = env.config(
        &common::mappings_dir(),
        &common::folder_connector("flaky", &inbox, "shopify"),
    );
    cfg.health.down_after = 3;
    let daemon = ordergate::app::Daemon::start(&cfg).await.unwrap();
    let health = daemon.health.clone();
    common::wait_until(Duration::from_secs(10), "down", || async {
        health
            .snapshot()
            .iter()
            .any(|c| c.connector == "flaky" && c.health == ordergate::store::ConnectorHealth::Down)
    })
    .await;
    // The tracker saves the state after it changes in memory: wait for that write.
    let store = daemon.store.clone();
    common::wait_until(Duration::from_secs(10), "down saved", || async {
        store
            .connector_state("flaky")
            .await
            .unwrap()
            .is_some_and(|s| s.health == ordergate::store::ConnectorHealth::Down)
    })
    .await;
    let saved = daemon
        .store
        .connector_state("flaky")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(saved.health, ordergate::store::ConnectorHealth::Down);
    assert!(saved.consecutive_failures >= 3);
    assert!(saved.last_error.unwrap().contains("drop folder"));
    std::fs::remove_file(&inbox).unwrap();
    std::fs::create_dir_all(&inbox).unwrap();
    common::wait_until(Duration::from_secs(10), "up again", || async {
        health
            .snapshot()
            .iter()
            .any(|c| c.connector == "flaky" && c.health == ordergate::store::ConnectorHealth::Up)
    })
    .await;
    daemon.stop().await;
}

async fn send(
    router: &axum::Router,
    method: &str,
    path: &str,
    token: &str,
    body: serde_json::Value,
) -> (StatusCode, String) {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let resp = router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// The catalog in force is the file's products overlaid with those put through the API, in
/// both profiles: an operator puts a product (viewers may not), a product put over the file's
/// replaces it, bad products are refused naming the field, never the value.
async fn catalog_api(profile: common::Profile) {
    let env = common::TestEnv::new(profile).await;
    let store = ordergate::store::Store::connect(&env.store_url(), 4, "full")
        .await
        .unwrap();
    let file = env.dir.path().join("catalog.csv");
    std::fs::write(
        &file,
        "sku,name,category,price_USD,max_quantity\nMUG-01,Stoneware Mug,kitchen,19.99,50\nCABLE-M,Copper Cable,electrical,2.10,\n",
    )
    .unwrap();
    let catalog = Arc::new(ordergate::catalog::CatalogSource::new(
        Some(file),
        store.clone(),
    ));
    let bus: Arc<dyn ordergate::bus::Bus> = Arc::new(ordergate::bus::embedded::EmbeddedBus::new(
        store.clone(),
        ordergate::bus::Topology::standard("t", vec![Duration::from_secs(1)]),
        Default::default(),
    ));
    let router = app(AppState {
        store: store.clone(),
        bus,
        health: Arc::new(ordergate::health::HealthTracker::new(
            store.clone(),
            Default::default(),
        )),
        api_tokens: Arc::new(vec![
            ordergate::http::ApiKey {
                token: "op".into(),
                name: "maria".into(),
                role: ordergate::config::ApiRole::Operator,
            },
            ordergate::http::ApiKey {
                token: "view".into(),
                name: "anna".into(),
                role: ordergate::config::ApiRole::Viewer,
            },
        ]),
        hooks: Arc::new(Default::default()),
        tracking: Arc::new(Default::default()),
        documents: Arc::new(ordergate::intake::DocumentWriter::new(store.clone())),
        catalog: catalog.clone(),
    });

    let (s, body) = get(&router, "/api/catalog", Some("view")).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["products"].as_array().unwrap().len(), 2);

    let glass = serde_json::json!({"name": "Wine Glass Set", "category": "kitchen",
        "prices": {"USD": "24.00"}, "fragile": true});
    let (s, _) = send(
        &router,
        "PUT",
        "/api/catalog/GLASS-2",
        "view",
        glass.clone(),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, body) = send(&router, "PUT", "/api/catalog/GLASS-2", "op", glass).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    // Over the file's product of the same SKU.
    let mug =
        serde_json::json!({"sku": "MUG-01", "name": "Stoneware Mug", "prices": {"USD": "21.50"}});
    let (s, body) = send(&router, "PUT", "/api/catalog/MUG-01", "op", mug).await;
    assert_eq!(s, StatusCode::OK, "{body}");

    let (s, body) = get(&router, "/api/catalog/MUG-01", Some("view")).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["prices"]["USD"], "21.50");
    assert_eq!(
        v["max_quantity"],
        serde_json::Value::Null,
        "the put product replaces the file's"
    );
    let (s, body) = get(&router, "/api/catalog/GLASS-2", Some("view")).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert!(body.contains("\"fragile\":true"), "{body}");
    let (s, _) = get(&router, "/api/catalog/NOPE", Some("view")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Refusals name the field, never the value.
    let (s, body) = send(
        &router,
        "PUT",
        "/api/catalog/X-1",
        "op",
        serde_json::json!({"name": "X", "prices": {"USD": "cheap-ish 4711"}}),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.contains("prices") && !body.contains("4711"), "{body}");
    let (s, body) = send(
        &router,
        "PUT",
        "/api/catalog/X-1",
        "op",
        serde_json::json!({"sku": "Y-2", "name": "X"}),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (s, body) = send(
        &router,
        "PUT",
        "/api/catalog/X-1",
        "op",
        serde_json::json!({"name": " "}),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    // What was put is stored: a fresh source (another daemon, a restart) serves it too.
    let again = ordergate::catalog::CatalogSource::new(None, store.clone());
    let c = again.current().await.unwrap();
    assert_eq!(c.len(), 2);
    assert!(c.get("GLASS-2").unwrap().fragile);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_catalog_api() {
    catalog_api(common::Profile::Standalone).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_catalog_api() {
    catalog_api(common::Profile::Cluster).await;
}
