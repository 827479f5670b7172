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
        warehouses: Arc::new(Default::default()),
        documents: Arc::new(ordergate::intake::DocumentWriter::new(
            store.clone(),
            daemon.bus.as_ref(),
        )),
        catalog: Arc::new(ordergate::catalog::CatalogSource::new(None, store.clone())),
        root_causes: Arc::new(vec![]),
        notices: Arc::new(ordergate::notices::public::PublicPages::new(
            &Default::default(),
            &[],
        )),
        ops: Default::default(),
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
    let router = common::api_router(
        &store,
        bus,
        Some(catalog),
        &[
            ("op", "maria", ordergate::config::ApiRole::Operator),
            ("view", "anna", ordergate::config::ApiRole::Viewer),
        ],
    );

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

async fn next_within(
    consumer: &mut Box<dyn ordergate::bus::Consumer>,
    within: Duration,
) -> Option<ordergate::bus::Delivery> {
    tokio::time::timeout(within, consumer.next())
        .await
        .ok()
        .flatten()
}

/// The exception workflow through the API of a running daemon: a bad document's exception
/// takes its due time from the kind's SLA, is escalated once when overdue (severity up, one
/// `exception.overdue` event, a history entry) — not once per sweep — is assigned,
/// acknowledged, given a root cause (only a configured category), resolved, refused a second
/// resolve, reopened, and escalated again for a new deadline. Viewers may read, not change.
async fn exception_workflow(profile: common::Profile) {
    let env = common::TestEnv::new(profile).await;
    let inbox = env.inbox("web");
    let cfg = env.config(
        &common::mappings_dir(),
        &format!(
            "[exceptions]\nsla_hours = {{ bad_input = 0.0003 }}\nescalate_every_secs = 0.2\n{}",
            common::folder_connector("web", &inbox, "shopify")
        ),
    );
    let daemon = ordergate::app::Daemon::start(&cfg).await.unwrap();
    let store = daemon.store.clone();
    let mut overdue =
        common::observe(&daemon.bus, &cfg, "overdue-watch", &["exception.overdue"]).await;
    common::drop_file(&inbox, "broken.json", b"{\"id\": 5, \"line_items\": [");
    let router = common::api_router(
        &store,
        daemon.bus.clone(),
        None,
        &[
            ("op", "maria", ordergate::config::ApiRole::Operator),
            ("view", "anna", ordergate::config::ApiRole::Viewer),
        ],
    );
    // Escalated once its SLA (about a second) passed.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let id = loop {
        let list = store
            .exceptions_matching(&ordergate::store::ExceptionFilter {
                kind: Some("bad_input".into()),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        if let Some(e) = list.first().filter(|e| e.severity == "critical") {
            break e.id.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no escalated exception: {list:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let e = store.exception(&id).await.unwrap().unwrap();
    let age = e.due_at.unwrap() - e.created_at;
    assert!(age.num_milliseconds() < 2_000, "SLA of the kind: {age:?}");
    let event = next_within(&mut overdue, Duration::from_secs(10))
        .await
        .expect("exception.overdue published");
    assert_eq!(event.envelope.payload["exception_id"], id.as_str());
    assert_eq!(event.envelope.payload["department"], "operations");
    event.ack().await.unwrap();
    // Not again for the same deadline, however many sweeps run.
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert!(next_within(&mut overdue, Duration::from_millis(300))
        .await
        .is_none());

    let (st, body) = get(
        &router,
        "/api/exceptions?kind=bad_input&overdue=true",
        Some("view"),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert!(body.contains(&id), "{body}");
    let (st, _) = get(&router, "/api/exceptions?status=nonsense", Some("view")).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    let path = format!("/api/exceptions/{id}");
    let (st, _) = send(
        &router,
        "PATCH",
        &path,
        "view",
        serde_json::json!({"owner": "anna"}),
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, body) = send(
        &router,
        "PATCH",
        &path,
        "op",
        serde_json::json!({"owner": "maria", "acknowledge": true}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert!(body.contains("\"status\":\"acknowledged\""), "{body}");
    let (st, body) = send(
        &router,
        "PATCH",
        &path,
        "op",
        serde_json::json!({"root_cause_category": "gremlins"}),
    )
    .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body.contains("partner_system"),
        "names the categories: {body}"
    );
    let (st, body) = send(
        &router,
        "PATCH",
        &path,
        "op",
        serde_json::json!({
        "root_cause_category": "partner_system", "root_cause": "the shop sent a truncated body",
        "resolve": "asked the shop to resend; replayed"}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert!(body.contains("\"status\":\"resolved\""), "{body}");
    let (st, _) = send(
        &router,
        "PATCH",
        &path,
        "op",
        serde_json::json!({"resolve": "again"}),
    )
    .await;
    assert_eq!(st, StatusCode::CONFLICT);
    let (st, _) = send(
        &router,
        "PATCH",
        &path,
        "op",
        serde_json::json!({"resolve": "x", "reopen": true}),
    )
    .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    // Reopened with a new deadline that has passed: escalated once more, for that deadline.
    let (st, body) = send(
        &router,
        "PATCH",
        &path,
        "op",
        serde_json::json!({"reopen": true}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let past = chrono::Utc::now() - chrono::Duration::seconds(5);
    let (st, body) = send(
        &router,
        "PATCH",
        &path,
        "op",
        serde_json::json!({"due_at": past}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let again = next_within(&mut overdue, Duration::from_secs(10))
        .await
        .expect("escalated for the new deadline");
    again.ack().await.unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(next_within(&mut overdue, Duration::from_millis(300))
        .await
        .is_none());

    let (st, body) = get(&router, &path, Some("view")).await;
    assert_eq!(st, StatusCode::OK);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let actions: Vec<(&str, &str)> = v["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["action"].as_str().unwrap(), h["actor"].as_str().unwrap()))
        .collect();
    assert_eq!(
        actions,
        vec![
            ("opened", "stage:normalize"),
            ("escalated", "system"),
            ("assigned", "api:maria"),
            ("acknowledged", "api:maria"),
            ("root_cause", "api:maria"),
            ("resolved", "api:maria"),
            ("reopened", "api:maria"),
            ("due_changed", "api:maria"),
            ("escalated", "system"),
        ]
    );
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_exception_workflow() {
    exception_workflow(common::Profile::Standalone).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_exception_workflow() {
    exception_workflow(common::Profile::Cluster).await;
}
