//! The order lifecycle's review, change and cancel, end to end through the real daemon (issue
//! 12 points 3, 6, 7): each review rule passing and failing with its reason code in the audit
//! trail; `needs_info` resumed by the API and by the customer's reply in a real IMAP mailbox;
//! manual entry reviewed; change and cancel in every state before fulfilment, at the warehouse
//! and after shipment, with the events reaching a subscriber; bad input as findings.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failed unwrap is a failed test.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use ordergate::app::Daemon;
use ordergate::config::ApiRole;
use ordergate::model::{Envelope, Trigger};
use ordergate::store::Store;
use serde_json::{json, Value};
use tower::ServiceExt;

use common::{drop_file, wait_until, Profile, TestEnv};

const CONNECTOR: &str = "desk";

/// The catalog every test reviews against.
fn write_catalog(dir: &Path) -> PathBuf {
    let path = dir.join("catalog.csv");
    std::fs::write(
        &path,
        "sku,name,category,price_USD,price_EUR,whole_units,max_quantity\n\
         MUG-01,Stoneware Mug,kitchen,19.99,18.50,true,50\n\
         MUG-02,Stoneware Mug Large,kitchen,24.00,,true,\n\
         CABLE-M,Copper Cable,electrical,2.10,,false,\n\
         HB-1KG,House blend 1 kg,coffee,20.00,,true,10\n",
    )
    .unwrap();
    path
}

/// A daemon config: the catalog, the review settings, a drop folder of canonical orders
/// (`manual` format) and `extra`.
fn config(env: &TestEnv, review: &str, extra: &str) -> (ordergate::config::Config, PathBuf) {
    let inbox = env.inbox(CONNECTOR);
    let catalog = write_catalog(env.dir.path());
    let cfg = env.config(
        &common::mappings_dir(),
        &format!(
            "[catalog]\npath = \"{}\"\n\n[review]\n{review}\n\n{}\n{extra}",
            catalog.display(),
            common::folder_connector(CONNECTOR, &inbox, "manual"),
        ),
    );
    (cfg, inbox)
}

/// A good order: every rule passes.
fn order(ext: &str) -> Value {
    json!({
        "source": {"format": "manual", "channel": "web", "external_id": ext, "status": "open"},
        "placed_at": "2026-11-02T09:30:00Z", "currency": "USD",
        "customer": {"name": "Ana Ruiz", "email": format!("ana.{ext}@example.com"), "phone": null},
        "ship_to": {"name": "Ana Ruiz", "line1": "1 Main St", "city": "Austin", "region": "TX",
                    "postal_code": "78701", "country": "US"},
        "lines": [{"line_ref": "1", "sku": "MUG-01", "name": "Stoneware Mug", "quantity": 2,
                   "unit_price": "19.99"}],
        "shipping_fee": "5.00", "total": "44.98"
    })
}

fn send(inbox: &Path, doc: &Value) {
    let ext = doc["source"]["external_id"].as_str().unwrap();
    let name = format!("{ext}-{}.json", uuid::Uuid::new_v4().simple());
    drop_file(inbox, &name, &serde_json::to_vec_pretty(doc).unwrap());
}

async fn id_of(store: &Store, ext: &str) -> String {
    id_by(store, CONNECTOR, ext).await
}

/// The order's id once it is stored (within a minute).
async fn id_by(store: &Store, connector: &str, ext: &str) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(id) = store.order_id_by_source(connector, ext).await.unwrap() {
            return id;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "order {connector}/{ext} not stored"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn wait_state(store: &Store, id: &str, want: &str) {
    wait_until(Duration::from_secs(60), &format!("{id} {want}"), || async {
        store.order(id).await.unwrap().unwrap().state == want
    })
    .await;
}

/// The reason codes (with paths) of the order's newest audit entry of `kind`.
async fn codes(store: &Store, id: &str, kind: &str) -> Vec<(String, String)> {
    let history = store.order_events(id).await.unwrap();
    let e = history
        .iter()
        .rev()
        .find(|e| e.kind == kind)
        .unwrap_or_else(|| panic!("no {kind} in {history:?}"));
    e.data.as_ref().unwrap()["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["code"].as_str().unwrap().to_string(),
                f["path"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn kinds(history: &[ordergate::store::OrderEvent]) -> Vec<&str> {
    history.iter().map(|e| e.kind.as_str()).collect()
}

/// The API of a running daemon with an operator token `op` and a viewer token `view`.
fn api(daemon: &Daemon, cfg: &ordergate::config::Config) -> axum::Router {
    common::api_router(
        &daemon.store,
        daemon.bus.clone(),
        Some(Arc::new(ordergate::catalog::CatalogSource::new(
            cfg.catalog.path.clone(),
            daemon.store.clone(),
        ))),
        &[
            ("op", "desk-li", ApiRole::Operator),
            ("view", "viewer", ApiRole::Viewer),
        ],
    )
}

async fn call(
    router: &axum::Router,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", "Bearer op")
        .header("content-type", "application/json");
    if let Some(k) = key {
        req = req.header("idempotency-key", k);
    }
    let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
    let resp = router
        .clone()
        .oneshot(req.body(body).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| json!(String::from_utf8_lossy(&bytes).to_string())),
    )
}

/// Moves an order along as the stages after review would (allocation, fulfilment, carrier).
async fn drive(store: &Store, id: &str, triggers: &[Trigger]) {
    for t in triggers {
        let mut tx = store.begin().await.unwrap();
        Store::transition(&mut tx, id, *t, "test:setup", None)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
}

/// Each review rule: a passing order and failing ones, through the real daemon, each failure
/// with its reason code and path in the audit trail; bad input (unknown SKU, zero, negative,
/// half and absurd quantities, a price off the list, an address in the wrong country) is a
/// finding, never a crash.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_rule_passes_and_fails_with_its_reason() {
    let env = TestEnv::new(Profile::Standalone).await;
    let (cfg, inbox) = config(&env, "price_tolerance_pct = 1.0", "");
    let daemon = Daemon::start(&cfg).await.unwrap();
    let store = daemon.store.clone();

    type Edit = fn(&mut Value);
    let failing: Vec<(&str, Edit, &str, &str)> = vec![
        (
            "no-contact",
            |o| o["customer"]["email"] = Value::Null,
            "contact_missing",
            "customer.email",
        ),
        (
            "bad-email",
            |o| o["customer"]["email"] = json!("ana at example"),
            "contact_invalid",
            "customer.email",
        ),
        (
            "unknown-sku",
            |o| o["lines"][0]["sku"] = json!("NOPE-9"),
            "spec_unknown_sku",
            "lines[0].sku",
        ),
        (
            "ambiguous",
            |o| {
                o["lines"][0]["sku"] = Value::Null;
                o["lines"][0]["name"] = json!("mug")
            },
            "spec_ambiguous",
            "lines[0].name",
        ),
        (
            "zero-qty",
            |o| {
                o["lines"][0]["quantity"] = json!(0);
                o["total"] = Value::Null
            },
            "quantity_not_positive",
            "lines[0].quantity",
        ),
        (
            "half-mug",
            |o| {
                o["lines"][0]["quantity"] = json!(1.5);
                o["total"] = Value::Null
            },
            "quantity_not_whole",
            "lines[0].quantity",
        ),
        (
            "absurd-qty",
            |o| {
                o["lines"][0]["quantity"] = json!(1_000_000_000);
                o["total"] = Value::Null
            },
            "quantity_over_maximum",
            "lines[0].quantity",
        ),
        (
            "cheap",
            |o| {
                o["lines"][0]["unit_price"] = json!("9.99");
                o["total"] = Value::Null
            },
            "price_off_list",
            "lines[0].unit_price",
        ),
        (
            "bad-total",
            |o| o["total"] = json!("99.99"),
            "totals_mismatch",
            "total",
        ),
        (
            "wrong-country",
            |o| o["ship_to"]["postal_code"] = json!("SW1A 1AA"),
            "address_postal_code_invalid",
            "ship_to.postal_code",
        ),
        (
            "no-country",
            |o| o["ship_to"]["country"] = json!("UK"),
            "address_country_unknown",
            "ship_to.country",
        ),
        (
            "no-street",
            |o| o["ship_to"]["line1"] = Value::Null,
            "address_field_missing",
            "ship_to.line1",
        ),
        // Values their field cannot hold: the order is still created and waits with the
        // reason, instead of the whole document being refused.
        (
            "negative-qty",
            |o| {
                o["lines"][0]["quantity"] = json!(-2);
                o["total"] = Value::Null
            },
            "quantity_unreadable",
            "lines[0].quantity",
        ),
        (
            "qty-as-text",
            |o| {
                o["lines"][0]["quantity"] = json!("two");
                o["total"] = Value::Null
            },
            "quantity_unreadable",
            "lines[0].quantity",
        ),
        (
            "price-as-text",
            |o| o["lines"][0]["unit_price"] = json!("twelve fifty"),
            "amount_unreadable",
            "lines[0].unit_price",
        ),
        (
            "total-as-text",
            |o| o["total"] = json!("about 40"),
            "amount_unreadable",
            "total",
        ),
    ];
    send(&inbox, &order("good"));
    // A good order in euros, with a cable sold by the metre: passes too.
    let mut cable = order("cable");
    cable["currency"] = json!("EUR");
    cable["lines"] = json!([{"line_ref": "1", "sku": "MUG-01", "name": null, "quantity": 2, "unit_price": "18.50"}]);
    cable["total"] = json!("42.00");
    send(&inbox, &cable);
    let mut metre = order("metre");
    metre["lines"] = json!([{"line_ref": "1", "sku": "CABLE-M", "name": null, "quantity": 2.5, "unit_price": "2.10"}]);
    metre["total"] = json!("10.25");
    send(&inbox, &metre);
    for (ext, edit, _, _) in &failing {
        let mut o = order(ext);
        edit(&mut o);
        send(&inbox, &o);
    }
    let mut cancelled = order("src-cancelled");
    cancelled["source"]["status"] = json!("cancelled");
    send(&inbox, &cancelled);

    for ext in ["good", "cable", "metre"] {
        let id = id_of(&store, ext).await;
        wait_state(&store, &id, "approved").await;
        assert!(codes(&store, &id, "approve").await.is_empty());
    }
    for (ext, _, code, path) in &failing {
        let id = id_of(&store, ext).await;
        wait_state(&store, &id, "needs_info").await;
        let found = codes(&store, &id, "request_info").await;
        assert!(
            found.contains(&(code.to_string(), path.to_string())),
            "{ext}: expected {code} at {path}, got {found:?}"
        );
    }
    // Rejection keeps its reason.
    let id = id_of(&store, "src-cancelled").await;
    wait_state(&store, &id, "rejected").await;
    assert_eq!(
        codes(&store, &id, "reject").await,
        vec![("source_cancelled".to_string(), "source.status".to_string())]
    );

    // Duplicates: the same customer and lines again within the window is asked about; the
    // first stays approved.
    let mut again = order("good");
    again["source"]["external_id"] = json!("good-again");
    send(&inbox, &again);
    let id = id_of(&store, "good-again").await;
    wait_state(&store, &id, "needs_info").await;
    assert_eq!(
        codes(&store, &id, "request_info").await,
        vec![("duplicate_suspected".to_string(), "lines".to_string())]
    );
    let first = id_of(&store, "good").await;
    let history = store.order_events(&id).await.unwrap();
    let data = history
        .iter()
        .rev()
        .find(|e| e.kind == "request_info")
        .unwrap();
    assert_eq!(data.data.as_ref().unwrap()["duplicates_of"], json!([first]));

    // Pending payment waits in received, then the source's update (paid) reviews it again.
    let mut pending = order("pending");
    pending["source"]["status"] = json!("pending_payment");
    send(&inbox, &pending);
    let id = id_of(&store, "pending").await;
    wait_until(Duration::from_secs(30), "the wait", || async {
        kinds(&store.order_events(&id).await.unwrap()).contains(&"review_wait")
    })
    .await;
    assert_eq!(store.order(&id).await.unwrap().unwrap().state, "received");
    assert_eq!(
        codes(&store, &id, "review_wait").await,
        vec![(
            "source_pending_payment".to_string(),
            "source.status".to_string()
        )]
    );
    pending["source"]["status"] = json!("open");
    send(&inbox, &pending);
    wait_state(&store, &id, "approved").await;

    assert!(store.parked(10).await.unwrap().is_empty(), "nothing parked");
    daemon.stop().await;
}

/// `needs_info` resumed through the API: the operator supplies the fact, the order is reviewed
/// again and approved; a rule change afterwards never re-reviews it, and a stale
/// `order.received` for it is recorded and dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn needs_info_resumed_by_the_api_and_never_reviewed_again_silently() {
    let env = TestEnv::new(Profile::Standalone).await;
    let (cfg, inbox) = config(&env, "", "");
    let daemon = Daemon::start(&cfg).await.unwrap();
    let store = daemon.store.clone();
    let router = api(&daemon, &cfg);

    let mut o = order("asks");
    o["ship_to"]["postal_code"] = Value::Null;
    send(&inbox, &o);
    let id = id_of(&store, "asks").await;
    wait_state(&store, &id, "needs_info").await;
    assert_eq!(
        codes(&store, &id, "request_info").await,
        vec![(
            "address_field_missing".to_string(),
            "ship_to.postal_code".to_string()
        )]
    );
    let (s, body) = call(
        &router,
        "PATCH",
        &format!("/api/orders/{id}"),
        None,
        Some(json!({"order": {"ship_to": {"postal_code": "78701"}}, "resume": true, "note": "phoned"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    wait_state(&store, &id, "approved").await;
    let history = store.order_events(&id).await.unwrap();
    assert_eq!(
        kinds(&history),
        vec![
            "received",
            "request_info",
            "corrected",
            "resubmit",
            "approve"
        ]
    );
    assert_eq!(history[2].cause, "api:desk-li");
    daemon.stop().await;

    // Stricter rules and prices now: the approved order stays approved, with no new entry.
    std::fs::write(
        cfg.catalog.path.as_ref().unwrap(),
        "sku,name,price_USD\nMUG-01,Stoneware Mug,29.99\n",
    )
    .unwrap();
    let (cfg2, _) = config(&env, "price_tolerance_pct = 0.0", "");
    std::fs::write(
        cfg2.catalog.path.as_ref().unwrap(),
        "sku,name,price_USD\nMUG-01,Stoneware Mug,29.99\n",
    )
    .unwrap();
    let daemon = Daemon::start(&cfg2).await.unwrap();
    let store = daemon.store.clone();
    // The old order.received delivered again (a broker redelivery): recorded, not applied.
    let stale = Envelope::new(
        "order.received",
        CONNECTOR,
        serde_json::to_value(&store.order(&id).await.unwrap().unwrap().order).unwrap(),
    )
    .with_order(&id);
    let queue = ordergate::app::topology(&cfg2).stage_queue("review");
    daemon.bus.send_to_queue(&queue, &stale).await.unwrap();
    wait_until(
        Duration::from_secs(30),
        "the stale review skipped",
        || async { kinds(&store.order_events(&id).await.unwrap()).contains(&"review_skipped") },
    )
    .await;
    let after = store.order_events(&id).await.unwrap();
    assert_eq!(after.len(), history.len() + 1, "{after:?}");
    assert_eq!(store.order(&id).await.unwrap().unwrap().state, "approved");
    daemon.stop().await;
}

/// Manual entry with the review: a valid order is reviewed and approved; each bad field of an
/// invalid one is named (a price as text among them); the same Idempotency-Key twice is one
/// order, reviewed once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_entry_is_reviewed() {
    let env = TestEnv::new(Profile::Standalone).await;
    let (cfg, _) = config(&env, "", "");
    let daemon = Daemon::start(&cfg).await.unwrap();
    let store = daemon.store.clone();
    let router = api(&daemon, &cfg);
    let entry = json!({
        "channel": "phone", "currency": "EUR",
        "customer": {"name": "Jan de Vries", "email": "jan@bakkerij.example.nl", "phone": "+31 20 555 0110"},
        "ship_to": {"name": "Bakkerij De Vries", "line1": "Prinsengracht 12", "city": "Amsterdam",
                    "postal_code": "1015 DX", "country": "NL"},
        "lines": [{"sku": "MUG-01", "name": "Stoneware Mug", "quantity": 12, "unit_price": "18.50"}],
        "shipping_fee": "6.00", "total": "228.00"
    });
    let (s, body) = call(
        &router,
        "POST",
        "/api/orders",
        Some("call-1"),
        Some(entry.clone()),
    )
    .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{body}");
    let (s, body) = call(
        &router,
        "POST",
        "/api/orders",
        Some("call-1"),
        Some(entry.clone()),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["duplicate"], true);
    let id = id_by(&store, "manual", "call-1").await;
    wait_state(&store, &id, "approved").await;
    assert_eq!(store.order_count("manual").await.unwrap(), 1);

    // A negative quantity is refused by the canonical schema itself, naming the line.
    let mut negative = entry.clone();
    negative["lines"][0]["quantity"] = json!(-3);
    let (s, body) = call(
        &router,
        "POST",
        "/api/orders",
        Some("call-neg"),
        Some(negative),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.to_string().contains("lines[0]"), "{body}");
    let mut bad = entry.clone();
    bad["lines"][0]["unit_price"] = json!("eighteen fifty");
    bad["lines"][0]["quantity"] = json!("a dozen");
    bad["ship_to"]["postal_code"] = json!(1015);
    bad["channel"] = json!("carrier pigeon");
    let (s, body) = call(&router, "POST", "/api/orders", Some("call-2"), Some(bad)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let text = body.to_string();
    for field in ["channel", "lines[0]", "ship_to"] {
        assert!(text.contains(field), "{field} named in {text}");
    }
    for value in ["eighteen", "dozen", "pigeon"] {
        assert!(!text.contains(value), "{value} repeated in {text}");
    }

    // A walk-in order to an address in the wrong country: entered, then a review finding.
    let mut walk_in = entry.clone();
    walk_in["channel"] = json!("walk_in");
    walk_in["ship_to"]["postal_code"] = json!("90210");
    walk_in["lines"][0]["quantity"] = json!(6);
    walk_in["total"] = json!("117.00");
    let (s, _) = call(
        &router,
        "POST",
        "/api/orders",
        Some("call-3"),
        Some(walk_in),
    )
    .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let id3 = id_by(&store, "manual", "call-3").await;
    wait_state(&store, &id3, "needs_info").await;
    assert_eq!(
        codes(&store, &id3, "request_info").await,
        vec![(
            "address_postal_code_invalid".to_string(),
            "ship_to.postal_code".to_string()
        )]
    );
    let approvals = store
        .order_events(&id)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.kind == "approve")
        .count();
    assert_eq!(approvals, 1, "reviewed once");
    daemon.stop().await;
}

/// Change and cancel in every state before fulfilment, at the warehouse and after shipment,
/// through the API and from the source, with the events reaching a subscriber of `order.#`.
async fn change_and_cancel(profile: Profile) {
    let env = TestEnv::new(profile).await;
    let (cfg, inbox) = config(&env, "", "");
    let daemon = Daemon::start(&cfg).await.unwrap();
    let mut observer = common::observe(&daemon.bus, &cfg, "observer", &["order.#"]).await;
    let store = daemon.store.clone();
    let router = api(&daemon, &cfg);

    let names = [
        "received",
        "needs-info",
        "approved",
        "allocated",
        "backordered",
        "fulfilment",
        "packed",
        "shipped",
        "source-change",
        "source-cancel",
    ];
    for n in names {
        let mut o = order(n);
        match n {
            "received" => o["source"]["status"] = json!("pending_payment"),
            "needs-info" => o["customer"]["email"] = Value::Null,
            _ => {}
        }
        send(&inbox, &o);
    }
    let mut ids = std::collections::HashMap::new();
    for n in names {
        let id = id_of(&store, n).await;
        let want = match n {
            "received" => "received",
            "needs-info" => "needs_info",
            _ => "approved",
        };
        if n == "received" {
            wait_until(Duration::from_secs(30), "the wait", || async {
                kinds(&store.order_events(&id).await.unwrap()).contains(&"review_wait")
            })
            .await;
        }
        wait_state(&store, &id, want).await;
        ids.insert(n, id);
    }
    use Trigger as T;
    drive(&store, &ids["allocated"], &[T::Allocate]).await;
    drive(&store, &ids["backordered"], &[T::Allocate, T::Backorder]).await;
    drive(
        &store,
        &ids["fulfilment"],
        &[T::Allocate, T::RequestFulfilment],
    )
    .await;
    drive(
        &store,
        &ids["packed"],
        &[T::Allocate, T::RequestFulfilment, T::Pack],
    )
    .await;
    drive(
        &store,
        &ids["shipped"],
        &[T::Allocate, T::RequestFulfilment, T::Ship],
    )
    .await;
    common::drain(&mut observer, Duration::from_secs(2)).await;

    let cancel = |n: &str, key: &'static str| {
        let path = format!("/api/orders/{}/cancel", ids[n]);
        let router = router.clone();
        async move {
            call(
                &router,
                "POST",
                &path,
                Some(key),
                Some(json!({"reason": "customer called"})),
            )
            .await
        }
    };
    let change = |n: &str, key: &'static str, body: Value| {
        let path = format!("/api/orders/{}/change", ids[n]);
        let router = router.clone();
        async move { call(&router, "POST", &path, Some(key), Some(body)).await }
    };

    // Before fulfilment: cancelled at once.
    for n in ["received", "approved", "backordered"] {
        let (s, body) = cancel(n, "c-1").await;
        assert_eq!(s, StatusCode::OK, "{n}: {body}");
        assert_eq!(body["outcome"], "cancelled", "{n}");
        assert_eq!(
            store.order(&ids[n]).await.unwrap().unwrap().state,
            "cancelled"
        );
    }
    // The same key again: the first answer, nothing new.
    let (s, body) = cancel("approved", "c-1").await;
    assert_eq!(
        (s, body["duplicate"].clone()),
        (StatusCode::OK, json!(true)),
        "{body}"
    );
    // Cancelled already: nothing to cancel.
    let (s, _) = cancel("approved", "c-2").await;
    assert_eq!(s, StatusCode::CONFLICT);

    // Before fulfilment: a change is applied and reviewed again.
    let (s, body) = change(
        "allocated",
        "ch-1",
        json!({"lines": [{"line_ref": "1", "quantity": 3}], "requested_delivery": "2026-12-24"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["outcome"], "changed");
    let (s, body) = change(
        "allocated",
        "ch-1",
        json!({"lines": [{"line_ref": "1", "quantity": 3}], "requested_delivery": "2026-12-24"}),
    )
    .await;
    assert_eq!(
        (s, body["duplicate"].clone()),
        (StatusCode::OK, json!(true))
    );
    let (s, _) = change(
        "allocated",
        "ch-1",
        json!({"lines": [{"line_ref": "1", "quantity": 4}]}),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "the key with another change");
    wait_state(&store, &ids["allocated"], "approved").await;
    let stored = store.order(&ids["allocated"]).await.unwrap().unwrap().order;
    assert_eq!(stored.lines[0].quantity, 3.into());
    assert_eq!(stored.total, Some("64.97".parse().unwrap()));
    let history = kinds(&store.order_events(&ids["allocated"]).await.unwrap()).join(",");
    assert!(
        history.ends_with("allocate,changed,resubmit,approve"),
        "{history}"
    );

    // needs_info: the change supplies the contact; reviewed again and approved.
    let (s, body) = change(
        "needs-info",
        "ch-2",
        json!({"ship_to": {"phone": "+1 512 555 0100"}}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    wait_state(&store, &ids["needs-info"], "approved").await;

    // Bad input names each field.
    let (s, body) = change(
        "packed",
        "ch-3",
        json!({"lines": [{"line_ref": "1", "quantity": "lots", "unit_price": "cheap"}]}),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.to_string().contains("lines[0].quantity"), "{body}");

    // At the warehouse: asked of it (202), decided by the fulfil stage.
    let (s, body) = cancel("fulfilment", "c-3").await;
    assert_eq!(
        (s, body["outcome"].clone()),
        (StatusCode::ACCEPTED, json!("requested")),
        "{body}"
    );
    let (s, body) = change("packed", "ch-4", json!({"ship_to": {"line2": "Suite 5"}})).await;
    assert_eq!(
        (s, body["outcome"].clone()),
        (StatusCode::ACCEPTED, json!("requested")),
        "{body}"
    );
    // The fulfil stage takes the request to the order's warehouses; these orders were put
    // in their states by hand and have no warehouse order, so nothing refuses: the cancel
    // and the change are applied.
    wait_state(&store, &ids["fulfilment"], "cancelled").await;
    wait_until(Duration::from_secs(30), "the change applied", || async {
        store
            .order(&ids["packed"])
            .await
            .unwrap()
            .unwrap()
            .order
            .ship_to
            .and_then(|a| a.line2)
            .as_deref()
            == Some("Suite 5")
    })
    .await;

    // After shipment: a cancel is a return; a change is refused.
    let (s, _) = change(
        "shipped",
        "ch-5",
        json!({"requested_delivery": "2026-12-31"}),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, body) = cancel("shipped", "c-4").await;
    assert_eq!(
        (s, body["outcome"].clone()),
        (StatusCode::OK, json!("return_requested")),
        "{body}"
    );
    assert_eq!(
        store.order(&ids["shipped"]).await.unwrap().unwrap().state,
        "return_requested"
    );

    // From the source: changed lines re-reviewed; cancelled at the source cancels.
    let mut changed = order("source-change");
    changed["lines"][0]["quantity"] = json!(1);
    changed["total"] = json!("24.99");
    send(&inbox, &changed);
    let mut gone = order("source-cancel");
    gone["source"]["status"] = json!("cancelled");
    send(&inbox, &gone);
    wait_state(&store, &ids["source-cancel"], "cancelled").await;
    wait_until(
        Duration::from_secs(30),
        "the source change reviewed",
        || async {
            kinds(&store.order_events(&ids["source-change"]).await.unwrap())
                .join(",")
                .ends_with("changed,resubmit,approve")
        },
    )
    .await;

    // Every outcome reached the subscriber, once.
    let events = common::drain(&mut observer, Duration::from_secs(3)).await;
    let seen: Vec<(String, String)> = events
        .iter()
        .map(|e| (e.kind.clone(), e.order_id.clone().unwrap_or_default()))
        .collect();
    let expect = [
        ("order.cancelled", "received"),
        ("order.cancelled", "approved"),
        ("order.cancelled", "backordered"),
        ("order.changed", "allocated"),
        ("order.approved", "allocated"),
        ("order.changed", "needs-info"),
        ("order.approved", "needs-info"),
        ("order.change_requested", "fulfilment"),
        ("order.change_requested", "packed"),
        ("order.cancelled", "shipped"),
        ("order.changed", "source-change"),
        ("order.cancelled", "source-cancel"),
    ];
    for (kind, n) in expect {
        let count = seen
            .iter()
            .filter(|(k, id)| k == kind && *id == ids[n])
            .count();
        assert_eq!(count, 1, "{kind} for {n} once in {seen:?}");
    }
    let returned = events
        .iter()
        .find(|e| {
            e.kind == "order.cancelled" && e.order_id.as_deref() == Some(ids["shipped"].as_str())
        })
        .unwrap();
    assert_eq!(returned.payload["return_requested"], true);
    assert_eq!(returned.payload["state"], "shipped");
    let requested = events
        .iter()
        .find(|e| {
            e.kind == "order.change_requested"
                && e.order_id.as_deref() == Some(ids["packed"].as_str())
        })
        .unwrap();
    assert_eq!(requested.payload["kind"], "change");
    assert_eq!(requested.payload["fields"]["ship_to.line2"], "Suite 5");
    assert_eq!(requested.payload["requested_by"], "api:desk-li");
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_change_and_cancel() {
    change_and_cancel(Profile::Standalone).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_change_and_cancel() {
    change_and_cancel(Profile::Cluster).await;
}

/// Review through RabbitMQ and PostgreSQL: a passing and a failing order, the outcomes with
/// their findings reaching a subscriber.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_review_outcomes_reach_a_subscriber() {
    let env = TestEnv::new(Profile::Cluster).await;
    let (cfg, inbox) = config(&env, "", "");
    let daemon = Daemon::start(&cfg).await.unwrap();
    let mut observer = common::observe(&daemon.bus, &cfg, "observer", &["order.#"]).await;
    let store = daemon.store.clone();
    send(&inbox, &order("pass"));
    let mut fail = order("fail");
    fail["lines"][0]["sku"] = json!("NOPE-9");
    send(&inbox, &fail);
    let mut rejected = order("reject");
    rejected["source"]["status"] = json!("refunded");
    send(&inbox, &rejected);
    let pass = id_of(&store, "pass").await;
    let fail = id_of(&store, "fail").await;
    let reject = id_of(&store, "reject").await;
    wait_state(&store, &pass, "approved").await;
    wait_state(&store, &fail, "needs_info").await;
    wait_state(&store, &reject, "rejected").await;
    let events = common::drain(&mut observer, Duration::from_secs(3)).await;
    let of = |kind: &str, id: &str| {
        events
            .iter()
            .filter(|e| e.kind == kind && e.order_id.as_deref() == Some(id))
            .collect::<Vec<_>>()
    };
    assert_eq!(of("order.approved", &pass).len(), 1);
    let asked = of("order.needs_info", &fail);
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].payload["findings"][0]["code"], "spec_unknown_sku");
    assert_eq!(asked[0].payload["external_id"], "fail");
    let refused = of("order.rejected", &reject);
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].payload["findings"][0]["code"], "source_refunded");
    assert_eq!(of("order.received", &pass).len(), 1);
    daemon.stop().await;
}

mod mail {
    //! The customer's reply in a real IMAP mailbox (Dovecot from deploy/dev/services.sh on
    //! 127.0.0.1:10143; any user, password "ogtest").
    use async_imap::Session;
    use tokio::net::TcpStream;

    pub const PASSWORD_ENV: &str = "ORDERGATE_TEST_IMAP_PASSWORD";

    pub fn port() -> u16 {
        std::env::var("ORDERGATE_TEST_IMAP_PORT")
            .ok()
            .and_then(|p| p.parse().ok())
            .unwrap_or(10143)
    }

    pub async fn login(user: &str) -> Session<TcpStream> {
        let tcp = TcpStream::connect(("127.0.0.1", port()))
            .await
            .expect("Dovecot must run on 127.0.0.1:10143 (deploy/dev/services.sh starts it)");
        let mut client = async_imap::Client::new(tcp);
        client.read_response().await.unwrap();
        client
            .login(user, "ogtest")
            .await
            .map_err(|(e, _)| e)
            .unwrap()
    }

    pub fn connector(user: &str) -> String {
        format!(
            "[[connectors]]\nkind = \"imap\"\nname = \"mailbox\"\nhost = \"127.0.0.1\"\nport = {}\n\
             tls = false\nusername = \"{user}\"\npassword = \"env:{PASSWORD_ENV}\"\n\
             poll_interval_ms = 300\nidle = true\ntimeout_ms = 10000\n",
            port()
        )
    }

    /// An order e-mail asking for more than one order may (the catalog's maximum is 10).
    pub fn order(po: &str, quantity: u32) -> Vec<u8> {
        format!(
            "From: Lucia Fernandez <lucia@cafe.example.com>\r\nTo: orders@example.com\r\n\
             Subject: Order PO #{po}\r\nDate: Tue, 14 Oct 2025 08:12:45 -0400\r\n\
             Message-ID: <order-{po}@cafe.example.com>\r\nMIME-Version: 1.0\r\n\
             Content-Type: text/plain; charset=utf-8\r\n\r\n\
             Please send (PO #{po}):\r\n\r\n- {quantity} x House blend, 1 kg (HB-1KG) @ $20.00\r\n\r\n\
             Please deliver to:\r\n\r\nCafe Test\r\n1 Main St\r\nBoston, MA 02136\r\n\r\nLucia\r\n(617) 555-0173\r\n"
        )
        .into_bytes()
    }

    /// The customer's answer in the order's thread, from `from`.
    pub fn reply(po: &str, from: &str, quantity: u32) -> Vec<u8> {
        format!(
            "From: {from}\r\nTo: orders@example.com\r\n\
             Subject: Re: Order PO #{po}\r\nDate: Wed, 15 Oct 2025 09:00:00 -0400\r\n\
             Message-ID: <reply-{po}-{quantity}@cafe.example.com>\r\n\
             In-Reply-To: <order-{po}@cafe.example.com>\r\n\
             References: <order-{po}@cafe.example.com>\r\nMIME-Version: 1.0\r\n\
             Content-Type: text/plain; charset=utf-8\r\n\r\n\
             Sorry, we may only order {quantity} at once. Please make it:\r\n\r\n\
             - {quantity} x House blend, 1 kg (HB-1KG) @ $20.00\r\n\r\nLucia\r\n"
        )
        .into_bytes()
    }
}

/// `needs_info` resumed by the customer's reply in the same e-mail thread, through a real IMAP
/// mailbox: the reply is kept, is not a new order, fills what review doubted, and the order is
/// reviewed again and approved. A reply in the thread from someone else changes nothing and
/// is kept for a person.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn needs_info_resumed_by_an_email_reply() {
    std::env::set_var(mail::PASSWORD_ENV, "ogtest");
    let user = format!("u{}", uuid::Uuid::new_v4().simple());
    let mut s = mail::login(&user).await;
    s.append("INBOX", None, None, mail::order("5501", 12))
        .await
        .unwrap();
    let env = TestEnv::new(Profile::Standalone).await;
    let (cfg, _) = config(&env, "", &mail::connector(&user));
    let daemon = Daemon::start(&cfg).await.unwrap();
    let store = daemon.store.clone();
    let id = id_by(&store, "mailbox", "5501").await;
    wait_state(&store, &id, "needs_info").await;
    assert_eq!(
        codes(&store, &id, "request_info").await,
        vec![(
            "quantity_over_maximum".to_string(),
            "lines[0].quantity".to_string()
        )]
    );

    // Someone else answers in the thread: kept for a person, nothing changes.
    s.append(
        "INBOX",
        None,
        None,
        mail::reply("5501", "Mallory <m@evil.example>", 1),
    )
    .await
    .unwrap();
    wait_until(
        Duration::from_secs(30),
        "the stranger's reply kept",
        || async {
            store
                .exceptions(false, 100)
                .await
                .unwrap()
                .iter()
                .any(|e| e.kind == "customer_reply" && e.order_id.as_deref() == Some(id.as_str()))
        },
    )
    .await;
    assert_eq!(store.order(&id).await.unwrap().unwrap().state, "needs_info");

    // The customer answers: the order is completed and reviewed again.
    s.append(
        "INBOX",
        None,
        None,
        mail::reply("5501", "Lucia Fernandez <lucia@cafe.example.com>", 10),
    )
    .await
    .unwrap();
    wait_state(&store, &id, "approved").await;
    let stored = store.order(&id).await.unwrap().unwrap();
    assert_eq!(stored.order.lines.len(), 1);
    assert_eq!(stored.order.lines[0].quantity, 10.into());
    let history = store.order_events(&id).await.unwrap();
    let reply = history
        .iter()
        .rev()
        .find(|e| e.kind == "customer_reply")
        .unwrap();
    assert_eq!(reply.data.as_ref().unwrap()["filled"], json!(["lines"]));
    let raw_id = reply.data.as_ref().unwrap()["raw_id"]
        .as_str()
        .unwrap()
        .to_string();
    let raw = store.raw(&raw_id).await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&raw.content).contains("In-Reply-To: <order-5501@"));
    assert!(
        kinds(&history)
            .join(",")
            .ends_with("customer_reply,resubmit,approve"),
        "{history:?}"
    );
    // Neither reply became an order; every message is kept.
    assert_eq!(store.order_count("mailbox").await.unwrap(), 1);
    assert_eq!(store.raw_count("mailbox").await.unwrap(), 3);
    daemon.stop().await;
}
