//! The review queue: an order read with low confidence (or missing facts) waits in
//! `needs_review`; people see it through the API, fetch the original document, complete it with
//! an audited PATCH, and it goes on as received.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failed unwrap is a failed test.

mod common;

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use ordergate::config::ApiRole;
use serde_json::{json, Value};
use tower::ServiceExt;

async fn call(
    router: &axum::Router,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Vec<u8>) {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {token}"));
    let body = match body {
        Some(b) => {
            req = req.header("content-type", "application/json");
            Body::from(serde_json::to_vec(&b).unwrap())
        }
        None => Body::empty(),
    };
    let resp = router
        .clone()
        .oneshot(req.body(body).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    (
        status,
        resp.into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
}

fn extracted_order(id: &str, confidence: f64, city: Option<&str>) -> Vec<u8> {
    serde_json::to_vec_pretty(&json!({
        "source": {"format": "manual", "channel": "phone", "external_id": id, "status": "open"},
        "placed_at": "2026-11-02T09:30:00+01:00", "currency": "EUR",
        "customer": {"name": "Jorge Peña", "email": null, "phone": "+34 600 000 000"},
        "ship_to": {"name": "Jorge Peña", "line1": "Calle Mayor 1", "city": city, "region": null,
                    "postal_code": "28013", "country": "ES"},
        "lines": [{"line_ref": "1", "sku": "MUG-01", "name": "Mug", "quantity": 4, "unit_price": "7.50"}],
        "total": "30.00",
        "extraction": {"confidence": confidence, "missing": if city.is_none() { json!(["ship_to.city"]) } else { json!([]) }, "document": null}
    }))
    .unwrap()
}

/// The API of a running daemon with an operator token `op` (held by `operator`) and a viewer
/// token `view`.
fn api_router(daemon: &ordergate::app::Daemon, operator: &str) -> axum::Router {
    common::api_router(
        &daemon.store,
        daemon.bus.clone(),
        None,
        &[
            ("op", operator, ApiRole::Operator),
            ("view", "viewer", ApiRole::Viewer),
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn low_confidence_orders_wait_for_a_person() {
    let env = common::TestEnv::new(common::Profile::Standalone).await;
    // A format whose documents already are canonical orders (as a manual-entry tool sends).
    let mappings = env.dir.path().join("mappings");
    std::fs::create_dir_all(&mappings).unwrap();
    std::fs::write(mappings.join("manual.order.jq"), ".").unwrap();
    let inbox = env.inbox("phone");
    // No catalog here: the review checks that need none decide.
    let cfg = env.config(
        &mappings,
        &format!(
            "[review]\nrules = [\"source_status\", \"contact\", \"address\"]\n\n{}",
            common::folder_connector("phone", &inbox, "manual")
        ),
    );
    let daemon = ordergate::app::Daemon::start(&cfg).await.unwrap();
    // What normalize and the correction publish (the review's outcomes are checked below).
    let mut observer = common::observe(
        &daemon.bus,
        &cfg,
        "observer",
        &["order.received", "order.needs_review"],
    )
    .await;
    let store = daemon.store.clone();
    let router = api_router(&daemon, "ops-maria");

    let doubtful = extracted_order("T-1", 0.55, None);
    common::drop_file(&inbox, "t1.json", &doubtful);
    common::drop_file(
        &inbox,
        "t2.json",
        &extracted_order("T-2", 0.97, Some("Madrid")),
    );
    common::wait_until(Duration::from_secs(30), "both orders", || async {
        store.order_count("phone").await.unwrap() == 2
    })
    .await;
    let events = common::drain(&mut observer, Duration::from_secs(2)).await;
    let kinds: Vec<(&str, String)> = events
        .iter()
        .map(|e| {
            (
                e.kind.as_str(),
                e.payload["source"]["external_id"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect();
    assert!(
        kinds.contains(&("order.needs_review", "T-1".into())),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&("order.received", "T-2".into())),
        "{kinds:?}"
    );
    assert_eq!(kinds.len(), 2, "{kinds:?}");

    // The queue, as a viewer sees it.
    let (s, body) = call(
        &router,
        "GET",
        "/api/orders?status=needs_review",
        "view",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let list: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(list["orders"].as_array().unwrap().len(), 1);
    assert_eq!(list["orders"][0]["external_id"], "T-1");
    let id = list["orders"][0]["order_id"].as_str().unwrap().to_string();

    // The original document, byte for byte; the extraction points at it.
    let (s, doc) = call(
        &router,
        "GET",
        &format!("/api/orders/{id}/document"),
        "view",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(doc, doubtful);
    let stored = store.order(&id).await.unwrap().unwrap();
    assert_eq!(
        stored.order.extraction.as_ref().unwrap().document,
        stored.raw_id
    );
    let history = store.order_events(&id).await.unwrap();
    assert_eq!(history.last().unwrap().kind, "hold_for_review");
    assert!(history.last().unwrap().data.as_ref().unwrap()["reason"]
        .as_str()
        .unwrap()
        .contains("0.55"));

    // Viewers may not correct; resuming with facts still missing is refused.
    let (s, _) = call(
        &router,
        "PATCH",
        &format!("/api/orders/{id}"),
        "view",
        Some(json!({"resume": true})),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, body) = call(
        &router,
        "PATCH",
        &format!("/api/orders/{id}"),
        "op",
        Some(json!({"resume": true})),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(String::from_utf8_lossy(&body).contains("ship_to.city"));
    let (s, _) = call(
        &router,
        "PATCH",
        &format!("/api/orders/{id}"),
        "op",
        Some(json!({"order": {"source": {"external_id": "X"}}})),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::UNPROCESSABLE_ENTITY,
        "the identity cannot change"
    );

    // A person completes it: audited, and it goes on as received.
    let patch = json!({"order": {"ship_to": {"city": "Madrid"}}, "resume": true, "note": "called the customer"});
    let (s, body) = call(
        &router,
        "PATCH",
        &format!("/api/orders/{id}"),
        "op",
        Some(patch),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    // It went on as received, and the review stage approved it.
    common::wait_until(Duration::from_secs(30), "the review", || async {
        store.order(&id).await.unwrap().unwrap().state == "approved"
    })
    .await;
    let stored = store.order(&id).await.unwrap().unwrap();
    assert_eq!(
        stored.order.ship_to.as_ref().unwrap().city.as_deref(),
        Some("Madrid")
    );
    assert_eq!(stored.order.extraction.as_ref().unwrap().confidence, 1.0);
    let history = store.order_events(&id).await.unwrap();
    let tail: Vec<(&str, &str)> = history
        .iter()
        .rev()
        .skip(1)
        .take(2)
        .map(|e| (e.kind.as_str(), e.cause.as_str()))
        .collect();
    assert_eq!(
        tail,
        vec![
            ("resubmit", "api:ops-maria"),
            ("corrected", "api:ops-maria")
        ]
    );
    assert_eq!(history.last().unwrap().kind, "approve");
    assert_eq!(
        history[history.len() - 2].data.as_ref().unwrap()["note"],
        "called the customer"
    );
    let events = common::drain(&mut observer, Duration::from_secs(2)).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, "order.received");
    assert_eq!(events[0].payload["ship_to"]["city"], "Madrid");

    let (s, _) = call(
        &router,
        "PATCH",
        &format!("/api/orders/{id}"),
        "op",
        Some(json!({"resume": true})),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::CONFLICT,
        "only waiting orders are corrected here"
    );
    daemon.stop().await;
}

/// `Store::transition` is the one way an order changes state: it follows the table, writes the
/// audit event with its cause, and refuses an illegal move with nothing written.
async fn transitions_follow_the_table(profile: common::Profile) {
    use ordergate::model::{OrderState, Trigger};
    use ordergate::store::{Store, TransitionError};
    let env = common::TestEnv::new(profile).await;
    let store = Store::connect(&env.store_url(), 4, "full").await.unwrap();
    let mut order: ordergate::model::CanonicalOrder =
        serde_json::from_slice(&extracted_order("TR-1", 0.9, Some("Madrid"))).unwrap();
    order.source.connector = "phone".into();
    let mut tx = store.begin().await.unwrap();
    let ordergate::store::UpsertOutcome::Created(id) =
        Store::upsert_order(&mut tx, &mut order, None)
            .await
            .unwrap()
    else {
        panic!("a new order");
    };
    tx.commit().await.unwrap();

    // Allowed: received → needs_review, audited with its cause and data.
    let mut tx = store.begin().await.unwrap();
    let moved = Store::transition(
        &mut tx,
        &id,
        Trigger::HoldForReview,
        "stage:test",
        Some(&json!({"reason": "why"})),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(moved, (OrderState::Received, OrderState::NeedsReview));

    // Illegal: shipping an order held for review. Refused, naming order, state and event.
    let mut tx = store.begin().await.unwrap();
    let err = Store::transition(&mut tx, &id, Trigger::Ship, "api:someone", None)
        .await
        .unwrap_err();
    tx.commit().await.unwrap();
    assert!(matches!(err, TransitionError::Illegal(_)), "{err}");
    assert_eq!(
        err.to_string(),
        format!("order {id} is needs_review: ship is not allowed from that state")
    );
    let stored = store.order(&id).await.unwrap().unwrap();
    assert_eq!(stored.state, "needs_review");
    let history = store.order_events(&id).await.unwrap();
    let kinds: Vec<(&str, Option<&str>, Option<&str>, &str)> = history
        .iter()
        .map(|e| {
            (
                e.kind.as_str(),
                e.from_state.as_deref(),
                e.to_state.as_deref(),
                e.cause.as_str(),
            )
        })
        .collect();
    assert_eq!(
        kinds.len(),
        1,
        "only the allowed move is audited: {kinds:?}"
    );
    assert_eq!(
        kinds[0],
        (
            "hold_for_review",
            Some("received"),
            Some("needs_review"),
            "stage:test"
        )
    );

    // An unknown order is not found, not created.
    let mut tx = store.begin().await.unwrap();
    let err = Store::transition(&mut tx, "og_nope", Trigger::Approve, "x", None)
        .await
        .unwrap_err();
    assert!(matches!(err, TransitionError::NotFound(_)), "{err}");
    drop(tx);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_transitions_follow_the_table() {
    transitions_follow_the_table(common::Profile::Standalone).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_transitions_follow_the_table() {
    transitions_follow_the_table(common::Profile::Cluster).await;
}

/// Manual entry (`POST /api/orders`) for phone, walk-in and faxes keyed by staff: a valid order
/// becomes an order through the same pipeline; the same idempotency key twice is one order;
/// the key reused for another order is refused; an invalid order names each bad field and no
/// value; viewers may not enter orders.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_keyed_by_staff() {
    let env = common::TestEnv::new(common::Profile::Standalone).await;
    let cfg = env.config(&common::mappings_dir(), "");
    let daemon = ordergate::app::Daemon::start(&cfg).await.unwrap();
    let store = daemon.store.clone();
    let router = api_router(&daemon, "desk-li");
    let post = |token: &'static str, key: Option<&'static str>, body: Value| {
        let router = router.clone();
        async move {
            let mut req = Request::post("/api/orders")
                .header("authorization", format!("Bearer {token}"))
                .header("content-type", "application/json");
            if let Some(k) = key {
                req = req.header("idempotency-key", k);
            }
            let resp = router
                .oneshot(req.body(Body::from(body.to_string())).unwrap())
                .await
                .unwrap();
            let status = resp.status();
            let bytes = resp.into_body().collect().await.unwrap().to_bytes();
            (status, String::from_utf8_lossy(&bytes).into_owned())
        }
    };
    let order = json!({
        "channel": "phone", "currency": "EUR",
        "customer": {"name": "Jan de Vries", "email": "jan@bakkerij.example.nl", "phone": "+31 20 555 0110"},
        "ship_to": {"name": "Bakkerij De Vries", "line1": "Prinsengracht 12", "city": "Amsterdam",
                    "postal_code": "1015 DX", "country": "NL"},
        "lines": [{"sku": "MUG-01", "name": "Stoneware Mug", "quantity": 12, "unit_price": "18.50"}],
        "shipping_fee": "6.00", "total": "228.00", "notes": "called at 10:05"
    });

    let (s, _) = post("view", Some("call-0001"), order.clone()).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, body) = post("op", None, order.clone()).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.contains("Idempotency-Key"), "{body}");

    let (s, body) = post("op", Some("call-0001"), order.clone()).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["duplicate"], false);
    common::wait_until(Duration::from_secs(30), "the entered order", || async {
        store.order_count("manual").await.unwrap() == 1
    })
    .await;
    let (s, body) = post("op", Some("call-0001"), order.clone()).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["duplicate"],
        true
    );
    let mut other = order.clone();
    other["lines"][0]["quantity"] = json!(13);
    let (s, body) = post("op", Some("call-0001"), other).await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");

    let id = store
        .order_id_by_source("manual", "call-0001")
        .await
        .unwrap()
        .unwrap();
    // Reviewed like any order (no catalog here: the SKU is unknown, so it waits for
    // information).
    common::wait_until(Duration::from_secs(30), "the review", || async {
        store.order(&id).await.unwrap().unwrap().state == "needs_info"
    })
    .await;
    let stored = store.order(&id).await.unwrap().unwrap();
    assert_eq!(
        serde_json::to_value(stored.order.source.channel).unwrap(),
        "phone"
    );
    assert_eq!(
        stored.order.lines[0].quantity,
        rust_decimal::Decimal::from(12)
    );

    // Each bad field named, no value repeated.
    let bad = json!({
        "channel": "telex", "currency": "euro", "colour": "red",
        "customer": "Jan de Vries",
        "ship_to": {"line1": 12},
        "lines": [{"sku": "MUG-01", "quantity": "twelve pieces"}, {"name": "Cup", "quantity": 2, "unit_price": "abc"}],
        "total": "lots"
    });
    let (s, body) = post("op", Some("call-0002"), bad).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    let fields: Vec<String> = v["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_string())
        .collect();
    for path in [
        "colour:",
        "channel:",
        "currency:",
        "customer:",
        "ship_to.line1:",
        "lines[0]",
        "lines[1]",
        "total:",
    ] {
        assert!(
            fields.iter().any(|f| f.starts_with(path)),
            "{path} in {fields:?}"
        );
    }
    for value in [
        "telex",
        "euro",
        "red",
        "Jan de Vries",
        "twelve",
        "abc",
        "lots",
    ] {
        assert!(!body.contains(value), "{value} repeated in {body}");
    }
    assert_eq!(store.order_count("manual").await.unwrap(), 1);
    daemon.stop().await;
}
