//! Intake hardening (issue 18) through the real daemon: a document without its identity is
//! refused, never merged; malformed documents carrying personal data leave none of it in the
//! logs, the parked messages' reasons or the exception records; money keeps its scale.
//!
//! This binary installs one process-wide `tracing` subscriber that writes every event (JSON,
//! as `--log-format json` does) into a buffer the tests read: a subscriber is global, so these
//! tests live apart from the other pipeline tests.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failed unwrap is a failed test.

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use common::{drop_file, folder_connector, shopify_order, wait_until, Profile, TestEnv};
use ordergate::app::Daemon;

/// Every log line the process wrote since the subscriber was installed.
#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        // security: the suite's log scan reads these lines too (ORDERGATE_TEST_LOG_DIR).
        if let Some(file) = ordergate::telemetry::test_log_file() {
            let _ = (&*file).write_all(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogBuffer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }
}

/// The process's log buffer; installs the subscriber on first use. Everything of ordergate
/// down to TRACE, everything else down to DEBUG.
fn logs() -> &'static LogBuffer {
    static LOGS: OnceLock<LogBuffer> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = LogBuffer::default();
        let writer = buffer.clone();
        tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_env_filter(tracing_subscriber::EnvFilter::new("debug,ordergate=trace"))
            .with_writer(move || writer.clone())
            .try_init()
            .expect("the only subscriber of this test binary");
        buffer
    })
}

/// The sample Shopify webhook body with id `n`, changed by `edit`.
fn shopify_with(n: u64, edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let mut v: serde_json::Value = serde_json::from_slice(&shopify_order(n)).unwrap();
    edit(&mut v);
    serde_json::to_vec_pretty(&v).unwrap()
}

/// A standalone daemon with two drop folders: `shop` (shopify) and `b2b` (cxml).
async fn shop_and_b2b(env: &TestEnv) -> (Daemon, PathBuf, PathBuf) {
    let shop = env.inbox("shop");
    let b2b = env.inbox("b2b");
    let cfg = env.config(
        &common::mappings_dir(),
        &format!(
            "{}{}",
            folder_connector("shop", &shop, "shopify"),
            folder_connector("b2b", &b2b, "cxml")
        ),
    );
    (Daemon::start(&cfg).await.unwrap(), shop, b2b)
}

/// Two different Shopify orders without an id (null, and the text "null") and a cXML order
/// with an empty orderID are each refused at once as bad input: parked with an exception, the
/// raw document kept, and no order stored, so the second is never taken as a change of the
/// first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_without_identity_are_refused_not_merged() {
    // This binary's own subscriber first (TestEnv would install the suite's log capture).
    logs();
    let env = TestEnv::new(Profile::Standalone).await;
    let (daemon, shop, b2b) = shop_and_b2b(&env).await;
    let store = daemon.store.clone();

    let first = shopify_with(1, |v| v["id"] = serde_json::Value::Null);
    let second = shopify_with(2, |v| {
        v["id"] = "null".into();
        v["email"] = "someone.else@example.org".into();
    });
    drop_file(&shop, "first.json", &first);
    drop_file(&shop, "second.json", &second);
    drop_file(&shop, "fine.json", &shopify_order(3));
    let cxml = std::fs::read_to_string(
        common::mappings_dir().join("testdata/cxml/orderrequest-basic-usd.xml"),
    )
    .unwrap();
    let no_id = regex_free_replace(&cxml, "orderID=\"", "\"", "");
    drop_file(&b2b, "no-id.xml", no_id.as_bytes());

    wait_until(Duration::from_secs(30), "three refusals", || async {
        store.parked(10).await.unwrap().len() >= 3
    })
    .await;
    wait_until(Duration::from_secs(30), "the good order", || async {
        store.order_count("shop").await.unwrap() == 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    assert_eq!(
        store.order_count("shop").await.unwrap(),
        1,
        "only the order with an id"
    );
    assert_eq!(store.order_count("b2b").await.unwrap(), 0);
    let parked = store.parked(10).await.unwrap();
    assert_eq!(parked.len(), 3, "{parked:?}");
    let exceptions = store.exceptions(false, 10).await.unwrap();
    for p in &parked {
        assert_eq!(p.attempts, 1, "bad input is not retried: {}", p.error);
        assert!(p.error.starts_with("bad_input"), "{}", p.error);
        assert!(p.error.contains("has no identity"), "{}", p.error);
        let exc = exceptions
            .iter()
            .find(|e| e.id == p.exception_id)
            .expect("an exception per refusal");
        let raw = store
            .raw(exc.raw_id.as_deref().expect("the raw document named"))
            .await
            .unwrap()
            .expect("raw kept");
        assert!([&first, &second, &no_id.clone().into_bytes()].contains(&&raw.content));
    }
    daemon.stop().await;
}

/// `text` with the part between the first `start` and the next `end` replaced by `with`.
fn regex_free_replace(text: &str, start: &str, end: &str, with: &str) -> String {
    let from = text.find(start).unwrap() + start.len();
    let to = from + text[from..].find(end).unwrap();
    format!("{}{with}{}", &text[..from], &text[to..])
}

/// Personal data carried by the malformed documents below; none may appear anywhere but in
/// the raw documents.
const PERSONAL: &[&str] = &[
    "Quintero",
    "ana.quintero@example.net",
    "+1 555 0199 4321",
    "4915112345678",
    "Larkspur",
    "Zdenka",
];

/// Malformed orders carrying personal data in fields of the wrong type go through the real
/// daemon (standalone) until parked — or, where only a quantity or an amount could not be read,
/// until review holds the order with the reason; every log line, parked reason, exception text,
/// review finding and `dlq list` line is scanned for that data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn personal_data_of_malformed_orders_stays_out_of_logs_and_exceptions() {
    let logs = logs();
    let env = TestEnv::new(Profile::Standalone).await;
    let (daemon, shop, b2b) = shop_and_b2b(&env).await;
    let store = daemon.store.clone();

    let malformed: Vec<(&str, Vec<u8>)> = vec![
        // The billing address (customer) as one string: the mapping cannot index it.
        (
            "customer-string.json",
            shopify_with(101, |v| {
                v["billing_address"] =
                    "Ana Quintero-Vasquez, 77 Larkspur Lane, +1 555 0199 4321".into()
            }),
        ),
        // A quantity given as text, a quantity as an object.
        (
            "quantity-text.json",
            shopify_with(102, |v| {
                v["line_items"][0]["quantity"] = "Ana Quintero-Vasquez".into()
            }),
        ),
        (
            "quantity-object.json",
            shopify_with(103, |v| {
                v["line_items"][0]["quantity"] =
                    serde_json::json!({"name": "Ana Quintero", "phone": "+1 555 0199 4321"})
            }),
        ),
        // The e-mail as a number (a phone number in the wrong field).
        (
            "email-number.json",
            shopify_with(104, |v| {
                v["email"] = serde_json::json!(4915112345678u64)
            }),
        ),
        // Money fields holding a street and a name.
        (
            "price-street.json",
            shopify_with(105, |v| {
                v["line_items"][0]["price"] = "77 Larkspur Lane".into()
            }),
        ),
        (
            "shipping-name.json",
            shopify_with(106, |v| {
                v["shipping_lines"][0]["price"] = "Zdenka Quintero".into()
            }),
        ),
        // The lines as one text.
        (
            "lines-text.json",
            shopify_with(107, |v| {
                v["line_items"] = "2 x mug for Ana Quintero, ana.quintero@example.net".into()
            }),
        ),
        // Broken JSON right after personal data.
        (
            "truncated.json",
            br#"{"id": 108, "email": "ana.quintero@example.net", "billing_address": {"name": "Ana Quintero"#
                .to_vec(),
        ),
    ];
    for (name, doc) in &malformed {
        drop_file(&shop, name, doc);
    }
    // XML whose text names an entity after the person ("&Quintero;" is not declared).
    let cxml = std::fs::read_to_string(
        common::mappings_dir().join("testdata/cxml/orderrequest-basic-usd.xml"),
    )
    .unwrap();
    let hostile = cxml.replacen("<Street>", "<Street>&Quintero;", 1);
    assert_ne!(hostile, cxml);
    drop_file(&b2b, "entity.xml", hostile.as_bytes());
    drop_file(&shop, "fine.json", &shopify_order(109));

    // Text where a line's quantity or price belongs is set aside: the order is created and held
    // by review with the reason (this shop has no catalog, so review holds every order, the
    // good one too); the other documents (and the XML) are refused and parked — the shipping
    // name among them, because the mapping itself adds up the shipping lines.
    let set_aside = ["quantity-text.json", "price-street.json"];
    let expected = malformed.len() - set_aside.len() + 1;
    wait_until(
        Duration::from_secs(90),
        "every malformed document parked",
        || async { store.parked(100).await.unwrap().len() >= expected },
    )
    .await;
    wait_until(
        Duration::from_secs(30),
        "the good order and the held ones",
        || async {
            let orders = store.orders_list(None, 100, 0).await.unwrap();
            orders.len() == 1 + set_aside.len() && orders.iter().all(|o| o.state == "needs_info")
        },
    )
    .await;
    let mut findings = String::new();
    for o in store.orders_list(None, 100, 0).await.unwrap() {
        for e in store.order_events(&o.order_id).await.unwrap() {
            findings.push_str(&e.data.map(|d| d.to_string()).unwrap_or_default());
            findings.push('\n');
        }
    }
    let parked = ordergate::dlq::list(&store, 100).await.unwrap();
    let exceptions = store.exceptions(true, 100).await.unwrap();
    daemon.stop().await;

    let mut texts: Vec<(String, String)> = Vec::new();
    for p in &parked {
        // What `ordergate dlq list` prints for it.
        let line = serde_json::json!({
            "id": p.id, "queue": p.queue, "message_id": p.envelope.id,
            "type": p.envelope.kind, "connector": p.envelope.connector,
            "attempts": p.attempts, "parked_at": p.parked_at,
            "exception_id": p.exception_id, "error": p.error,
        });
        texts.push((format!("dlq list {}", p.id), line.to_string()));
    }
    for e in &exceptions {
        let text = [
            Some(e.reason.as_str()),
            e.root_cause.as_deref(),
            e.resolution.as_deref(),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" | ");
        texts.push((format!("exception {}", e.id), text));
    }
    let log = logs.text();
    assert!(
        log.lines().count() > 20,
        "the daemon's logs were captured: {log}"
    );
    texts.extend(
        log.lines()
            .enumerate()
            .map(|(i, l)| (format!("log line {i}"), l.to_string())),
    );
    // Each refusal says where and what kind, so the operator can still act.
    assert!(
        parked.len() >= expected,
        "{} parked of {expected}",
        parked.len()
    );
    let reasons: String = parked
        .iter()
        .map(|p| p.error.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    for place in ["quantity", "customer.email", "\"name\""] {
        assert!(
            reasons.contains(place),
            "no reason names {place}:\n{reasons}"
        );
    }
    // The held orders' findings name the place and the kind of value.
    for place in [
        "quantity_unreadable",
        "amount_unreadable",
        "lines[0].unit_price",
        "text that is not a number",
    ] {
        assert!(
            findings.contains(place),
            "no finding names {place}:\n{findings}"
        );
    }
    texts.push(("review findings".into(), findings));
    let leaks: Vec<String> = texts
        .iter()
        .flat_map(|(where_, text)| {
            PERSONAL
                .iter()
                .filter(|p| text.contains(*p))
                .map(move |p| format!("{p:?} in {where_}: {text}"))
        })
        .collect();
    assert!(
        leaks.is_empty(),
        "personal data leaked:\n{}",
        leaks.join("\n")
    );
}

/// `"24.00"` at the source stays `"24.00"` in the stored canonical order, and a whole amount of
/// a currency with minor units gets them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn money_keeps_the_currency_scale_in_the_stored_order() {
    // This binary's own subscriber first (TestEnv would install the suite's log capture).
    logs();
    let env = TestEnv::new(Profile::Standalone).await;
    let shop = env.inbox("shop");
    let cfg = env.config(
        &common::mappings_dir(),
        &folder_connector("shop", &shop, "shopify"),
    );
    let daemon = Daemon::start(&cfg).await.unwrap();
    let store = daemon.store.clone();
    let doc = shopify_with(201, |v| {
        v["currency"] = "USD".into();
        v["line_items"][0]["price"] = "24.00".into();
        v["total_price"] = "80".into();
        v["total_discounts"] = "0.0".into();
    });
    drop_file(&shop, "order.json", &doc);
    wait_until(Duration::from_secs(30), "the order", || async {
        store.order_count("shop").await.unwrap() == 1
    })
    .await;
    let id = store
        .order_id_by_source("shop", "7000000000201")
        .await
        .unwrap()
        .unwrap();
    let stored = store.order(&id).await.unwrap().unwrap();
    // As `ordergate orders show` prints it.
    let shown = serde_json::to_value(&stored).unwrap();
    let order = &shown["order"];
    assert_eq!(order["lines"][0]["unit_price"], "24.00", "{order}");
    assert_eq!(order["total"], "80.00", "{order}");
    assert_eq!(order["discount_total"], "0.00", "{order}");
    daemon.stop().await;
}
