//! The first real path, end to end, in both profiles: drop folder → raw document → bus →
//! normalize (jq mapping) → canonical order stored → `order.received` published.
//!
//! Standalone: SQLite + embedded bus. Cluster: PostgreSQL + RabbitMQ. Both are real.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failed unwrap is a failed test.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::{
    drain, drop_file, folder_connector, observe, shopify_order, wait_until, Profile, TestEnv,
};
use ordergate::app::Daemon;

async fn thousand_documents_become_thousand_orders(profile: Profile) {
    let env = TestEnv::new(profile).await;
    let inbox = env.inbox("shop");
    let cfg = env.config(
        &common::mappings_dir(),
        &folder_connector("shop", &inbox, "shopify"),
    );
    let daemon = Daemon::start(&cfg).await.unwrap();
    // What normalize publishes (the review stage's outcomes are not this test's business).
    let mut observer = observe(
        &daemon.bus,
        &cfg,
        "observer",
        &["order.received", "order.updated"],
    )
    .await;

    const N: u64 = 1_000;
    for n in 0..N {
        drop_file(&inbox, &format!("order-{n:04}.json"), &shopify_order(n));
    }
    let store = daemon.store.clone();
    wait_until(Duration::from_secs(240), "1000 orders", || async {
        store.order_count("shop").await.unwrap() >= N as i64
    })
    .await;
    let events = drain(&mut observer, Duration::from_secs(3)).await;
    let mut per_order: HashMap<String, usize> = HashMap::new();
    for e in &events {
        assert_eq!(
            e.kind, "order.received",
            "no order changed at the source here"
        );
        *per_order.entry(e.order_id.clone().unwrap()).or_default() += 1;
    }
    assert_eq!(
        store.order_count("shop").await.unwrap(),
        N as i64,
        "exactly one order per document"
    );
    assert_eq!(per_order.len(), N as usize, "one order.received per order");
    assert!(
        per_order.values().all(|c| *c == 1),
        "no order.received twice"
    );
    assert_eq!(
        store.raw_count("shop").await.unwrap(),
        N as i64,
        "every raw document kept"
    );
    let processed = std::fs::read_dir(inbox.join("processed")).unwrap().count();
    assert_eq!(processed, N as usize, "every file moved to processed/");
    assert_eq!(
        store.outbox_pending().await.unwrap(),
        0,
        "nothing left unpublished"
    );
    daemon.stop().await;
}

/// Standalone, the queues are rows of the store: a stage's unit inserts its events into their
/// queues and deletes its delivery's row in its own commit. Nothing a stage emits passes
/// through the outbox (a trigger records every outbox row), and every queue is empty after.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn standalone_a_stage_publishes_and_acks_in_its_units_commit() {
    use ordergate::store::Store;
    let env = TestEnv::new(Profile::Standalone).await;
    let store = Store::connect(&env.store_url(), 2, "full").await.unwrap();
    for sql in [
        "CREATE TABLE outbox_seen (envelope TEXT NOT NULL)",
        "CREATE TRIGGER outbox_seen AFTER INSERT ON outbox \
         BEGIN INSERT INTO outbox_seen VALUES (NEW.envelope); END",
    ] {
        sqlx::query(sql).execute(store.pool()).await.unwrap();
    }
    store.close().await;
    let inbox = env.inbox("shop");
    let cfg = env.config(
        &common::mappings_dir(),
        &folder_connector("shop", &inbox, "shopify"),
    );
    let daemon = Daemon::start(&cfg).await.unwrap();
    const N: u64 = 20;
    for n in 0..N {
        drop_file(&inbox, &format!("order-{n:04}.json"), &shopify_order(n));
    }
    let store = daemon.store.clone();
    let count = |sql: &'static str| {
        let store = store.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(store.pool())
                .await
                .unwrap()
        }
    };
    wait_until(Duration::from_secs(60), "20 orders reviewed", || async {
        count("SELECT COUNT(*) FROM inbox WHERE consumer LIKE '%review'").await >= N as i64
    })
    .await;
    wait_until(Duration::from_secs(30), "queues drained", || async {
        count("SELECT COUNT(*) FROM bus_messages").await == 0
    })
    .await;
    assert_eq!(store.order_count("shop").await.unwrap(), N as i64);
    assert_eq!(
        count("SELECT COUNT(*) FROM outbox_seen WHERE envelope LIKE '%\"order.received\"%'").await,
        0,
        "normalize's events went straight into their queues, not through the outbox"
    );
    assert_eq!(store.outbox_pending().await.unwrap(), 0);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn standalone_thousand_documents_exactly_once() {
    thousand_documents_become_thousand_orders(Profile::Standalone).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cluster_thousand_documents_exactly_once() {
    thousand_documents_become_thousand_orders(Profile::Cluster).await;
}

/// The same source order through two different documents (a re-sent webhook with a new
/// timestamp, the same bytes in another file), and the same bus message delivered twice: one
/// order, one `order.received`.
async fn duplicates_have_no_second_effect(profile: Profile) {
    let env = TestEnv::new(profile).await;
    let inbox = env.inbox("dup");
    let cfg = env.config(
        &common::mappings_dir(),
        &folder_connector("dup", &inbox, "shopify"),
    );
    let daemon = Daemon::start(&cfg).await.unwrap();
    let mut observer = observe(
        &daemon.bus,
        &cfg,
        "observer",
        &["order.received", "order.updated"],
    )
    .await;
    let store = daemon.store.clone();

    let doc = shopify_order(1);
    drop_file(&inbox, "a.json", &doc);
    wait_until(Duration::from_secs(30), "first order", || async {
        store.order_count("dup").await.unwrap() == 1
    })
    .await;
    // Same bytes again under another name: the same raw document, not announced again.
    drop_file(&inbox, "b.json", &doc);
    // Same source order, different bytes (pretty vs compact JSON): a second raw document whose
    // canonical order is identical, so nothing changes.
    let compact =
        serde_json::to_vec(&serde_json::from_slice::<serde_json::Value>(&doc).unwrap()).unwrap();
    drop_file(&inbox, "c.json", &compact);
    wait_until(Duration::from_secs(30), "files processed", || async {
        std::fs::read_dir(inbox.join("processed")).unwrap().count() == 3
    })
    .await;
    assert_eq!(store.raw_count("dup").await.unwrap(), 2);

    // The same raw-document message delivered twice more (what a broker does when a consumer
    // dies after committing but before acking).
    let raw_id = store
        .order(
            &store
                .order_id_by_source("dup", "7000000000001")
                .await
                .unwrap()
                .unwrap(),
        )
        .await
        .unwrap()
        .unwrap()
        .raw_id
        .unwrap();
    let event = ordergate::stage::normalize::RawRef {
        raw_id: raw_id.clone(),
        format: "shopify".into(),
        source_name: None,
    }
    .event("dup");
    let queue = ordergate::app::topology(&cfg).stage_queue("normalize");
    daemon.bus.send_to_queue(&queue, &event).await.unwrap();
    daemon.bus.send_to_queue(&queue, &event).await.unwrap();
    wait_until(Duration::from_secs(30), "redeliveries consumed", || async {
        daemon.bus.depth(&queue).await.unwrap() == 0
    })
    .await;

    let events = drain(&mut observer, Duration::from_secs(3)).await;
    assert_eq!(store.order_count("dup").await.unwrap(), 1);
    assert_eq!(events.len(), 1, "one order.received, got {events:?}");
    assert_eq!(events[0].kind, "order.received");
    let id = events[0].order_id.clone().unwrap();
    // Reviewed once (no catalog here: the SKU is unknown, so it waits for information).
    wait_until(Duration::from_secs(30), "the review", || async {
        store.order(&id).await.unwrap().unwrap().state == "needs_info"
    })
    .await;
    let history = store.order_events(&id).await.unwrap();
    let kinds: Vec<&str> = history.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        vec!["received", "request_info"],
        "one received event in the audit trail, one review: {history:?}"
    );
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_duplicates_have_no_second_effect() {
    duplicates_have_no_second_effect(Profile::Standalone).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_duplicates_have_no_second_effect() {
    duplicates_have_no_second_effect(Profile::Cluster).await;
}

/// A document the mapping fails on is retried with backoff, parked after the configured
/// attempts with an exception, its raw document kept, while other documents keep flowing;
/// after the mapping is fixed, `dlq replay` processes it.
async fn poison_is_parked_then_replayed(profile: Profile) {
    let env = TestEnv::new(profile).await;
    // A private copy of the mappings whose shopify mapping has a bug for one order.
    let mappings = env.dir.path().join("mappings");
    std::fs::create_dir_all(&mappings).unwrap();
    let good = std::fs::read_to_string(common::mappings_dir().join("shopify.order.jq")).unwrap();
    let buggy = format!(
        "if .id == 7000000000666 then error(\"unsupported order layout\") else . end |\n{good}"
    );
    std::fs::write(mappings.join("shopify.order.jq"), &buggy).unwrap();
    let inbox = env.inbox("poison");
    let cfg = env.config(&mappings, &folder_connector("poison", &inbox, "shopify"));
    let daemon = Daemon::start(&cfg).await.unwrap();
    let store = daemon.store.clone();

    let started = Instant::now();
    drop_file(&inbox, "poison.json", &shopify_order(666));
    for n in 0..20 {
        drop_file(&inbox, &format!("ok-{n}.json"), &shopify_order(n));
    }
    wait_until(
        Duration::from_secs(60),
        "the poison document parked",
        || async { !store.parked(10).await.unwrap().is_empty() },
    )
    .await;
    let parked_after = started.elapsed();
    wait_until(Duration::from_secs(60), "the other orders", || async {
        store.order_count("poison").await.unwrap() == 20
    })
    .await;

    let parked = store.parked(10).await.unwrap();
    assert_eq!(parked.len(), 1);
    let p = &parked[0];
    assert_eq!(p.attempts, 3, "parked after max_attempts = 3");
    assert!(p.error.contains("unsupported order layout"), "{}", p.error);
    assert!(
        p.error.contains("poison.json"),
        "the reason names the input: {}",
        p.error
    );
    // Two retries with backoff from 100 ms (jittered, doubling): at least 100 + 200 ms.
    assert!(
        parked_after >= Duration::from_millis(300),
        "parked too fast: {parked_after:?}"
    );
    let exceptions = store.exceptions(false, 10).await.unwrap();
    let exc = exceptions
        .iter()
        .find(|e| e.id == p.exception_id)
        .expect("exception recorded");
    assert_eq!(exc.kind, "mapping_failed");
    assert_eq!(exc.status, "open");
    assert_eq!(exc.department, "operations");
    assert!(exc.due_at.is_some());
    let raw = store
        .raw(exc.raw_id.as_deref().unwrap())
        .await
        .unwrap()
        .expect("raw kept");
    assert_eq!(raw.content, shopify_order(666));

    // Fix the mapping (hot-reloaded) and replay.
    std::fs::write(mappings.join("shopify.order.jq"), &good).unwrap();
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let replayed = ordergate::dlq::replay(&store, daemon.bus.as_ref(), &[])
        .await
        .unwrap();
    assert_eq!(replayed, vec![p.id.clone()]);
    wait_until(Duration::from_secs(30), "the replayed order", || async {
        store.order_count("poison").await.unwrap() == 21
    })
    .await;
    assert!(store.parked(10).await.unwrap().is_empty());
    let exc = store.exceptions(true, 10).await.unwrap();
    assert!(exc
        .iter()
        .any(|e| e.id == p.exception_id && e.status == "resolved"));
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_poison_is_parked_then_replayed() {
    poison_is_parked_then_replayed(Profile::Standalone).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_poison_is_parked_then_replayed() {
    poison_is_parked_then_replayed(Profile::Cluster).await;
}

/// Undecodable input is permanent: parked at the first attempt, with a reason naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_parked_at_once() {
    let env = TestEnv::new(Profile::Standalone).await;
    let inbox = env.inbox("bad");
    let cfg = env.config(
        &common::mappings_dir(),
        &folder_connector("bad", &inbox, "shopify"),
    );
    let daemon = Daemon::start(&cfg).await.unwrap();
    let store = daemon.store.clone();
    drop_file(&inbox, "broken.json", b"{\"id\": 1, \"line_items\": [");
    drop_file(&inbox, "fine.json", &shopify_order(5));
    wait_until(Duration::from_secs(30), "parked", || async {
        !store.parked(10).await.unwrap().is_empty()
    })
    .await;
    wait_until(Duration::from_secs(30), "the good order", || async {
        store.order_count("bad").await.unwrap() == 1
    })
    .await;
    let p = &store.parked(10).await.unwrap()[0];
    assert_eq!(p.attempts, 1, "permanent errors are not retried");
    assert!(p.error.contains("broken.json"), "{}", p.error);
    assert!(p.error.starts_with("bad_input"), "{}", p.error);
    daemon.stop().await;
}

/// A file too big for the connector goes to failed/ with a reason file; nothing is stored; the
/// refusal is an exception for the connector's department and counts in the refusals metric.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_file_goes_to_failed_with_reason() {
    ordergate::telemetry::prometheus();
    let env = TestEnv::new(Profile::Standalone).await;
    let inbox = env.inbox("big");
    let extra = format!(
        "{}max_file_bytes = 100\n",
        folder_connector("big", &inbox, "shopify")
    );
    let cfg = env.config(&common::mappings_dir(), &extra);
    let daemon = Daemon::start(&cfg).await.unwrap();
    drop_file(&inbox, "huge.json", &shopify_order(1));
    let reason = inbox.join("failed/huge.json.reason.txt");
    wait_until(Duration::from_secs(10), "reason file", || async {
        reason.exists()
    })
    .await;
    let text = std::fs::read_to_string(&reason).unwrap();
    assert!(text.contains("max_file_bytes"), "{text}");
    assert!(inbox.join("failed/huge.json").exists());
    assert_eq!(daemon.store.raw_count("big").await.unwrap(), 0);
    wait_until(Duration::from_secs(10), "the exception", || async {
        daemon
            .store
            .exceptions(false, 100)
            .await
            .unwrap()
            .iter()
            .any(|e| e.kind == "document_too_large" && e.connector.as_deref() == Some("big"))
    })
    .await;
    let exceptions = daemon.store.exceptions(false, 100).await.unwrap();
    let e = exceptions
        .iter()
        .find(|e| e.kind == "document_too_large")
        .unwrap();
    assert_eq!(e.department, "operations");
    assert!(e.reason.contains("huge.json") && e.reason.contains("max_file_bytes"));
    assert!(e.due_at.is_some());
    let metrics = ordergate::telemetry::prometheus().render();
    assert!(
        metrics
            .contains(r#"ordergate_documents_refused_total{connector="big",reason="too_large"} 1"#),
        "{metrics}"
    );
    daemon.stop().await;
}

/// B2B documents come through the drop folder like any other format.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ubl_and_cxml_files_through_the_drop_folder() {
    let env = TestEnv::new(Profile::Standalone).await;
    let (ubl, cxml) = (env.inbox("ubl"), env.inbox("cxml"));
    let extra = format!(
        "{}{}",
        folder_connector("ubl", &ubl, "ubl"),
        folder_connector("cxml", &cxml, "cxml")
    );
    let cfg = env.config(&common::mappings_dir(), &extra);
    let daemon = Daemon::start(&cfg).await.unwrap();
    let samples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/samples");
    drop_file(
        &ubl,
        "order.xml",
        &std::fs::read(samples.join("ubl-order-basic-eur/order.xml")).unwrap(),
    );
    drop_file(
        &cxml,
        "po.xml",
        &std::fs::read(samples.join("cxml-orderrequest-basic-usd/order-request.xml")).unwrap(),
    );
    let store = daemon.store.clone();
    wait_until(Duration::from_secs(30), "both B2B orders", || async {
        store.order_count("ubl").await.unwrap() == 1
            && store.order_count("cxml").await.unwrap() == 1
    })
    .await;
    assert!(store.parked(10).await.unwrap().is_empty());
    daemon.stop().await;
}

/// Hostile XML in the pipeline: parked at once with the reason, and the next document flows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_xml_is_parked_and_the_rest_flows() {
    let env = TestEnv::new(Profile::Standalone).await;
    let inbox = env.inbox("b2b");
    let cfg = env.config(
        &common::mappings_dir(),
        &folder_connector("b2b", &inbox, "cxml"),
    );
    let daemon = Daemon::start(&cfg).await.unwrap();
    let laughs = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<cXML><Request><OrderRequest>&lol3;</OrderRequest></Request></cXML>"#;
    let xxe = r#"<?xml version="1.0"?><!DOCTYPE cXML [<!ENTITY x SYSTEM "file:///etc/passwd">]><cXML>&x;</cXML>"#;
    drop_file(&inbox, "a-laughs.xml", laughs.as_bytes());
    drop_file(&inbox, "b-xxe.xml", xxe.as_bytes());
    let samples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/samples");
    drop_file(
        &inbox,
        "c-good.xml",
        &std::fs::read(samples.join("cxml-orderrequest-basic-usd/order-request.xml")).unwrap(),
    );
    let store = daemon.store.clone();
    wait_until(Duration::from_secs(30), "two parked, one order", || async {
        store.parked(10).await.unwrap().len() == 2 && store.order_count("b2b").await.unwrap() == 1
    })
    .await;
    for p in store.parked(10).await.unwrap() {
        assert_eq!(p.attempts, 1, "hostile input is not retried");
        assert!(p.error.contains("entity"), "names the reason: {}", p.error);
    }
    daemon.stop().await;
}

/// What the broker dead-letters (here: a body that is not an envelope, published by someone
/// else onto the stage queue) is moved into the dead-letter store with an exception, so it is
/// owned and replayable like anything a stage parked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_dead_letters_become_exceptions() {
    use lapin::options::BasicPublishOptions;
    let env = TestEnv::new(Profile::Cluster).await;
    let cfg = env.config(&common::mappings_dir(), "");
    let daemon = Daemon::start(&cfg).await.unwrap();
    let conn =
        lapin::Connection::connect(&common::amqp_url(), lapin::ConnectionProperties::default())
            .await
            .unwrap();
    let channel = conn.create_channel().await.unwrap();
    let queue = ordergate::app::topology(&cfg).stage_queue("normalize");
    channel
        .basic_publish(
            "".into(),
            queue.as_str().into(),
            BasicPublishOptions::default(),
            b"garbage from a misconfigured publisher",
            lapin::BasicProperties::default(),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    let store = daemon.store.clone();
    wait_until(
        Duration::from_secs(30),
        "the dead letter in the store",
        || async { !store.parked(10).await.unwrap().is_empty() },
    )
    .await;
    let p = &store.parked(10).await.unwrap()[0];
    assert_eq!(p.queue, queue, "replay goes back where it came from");
    assert_eq!(p.envelope.kind, "dead_letter.unreadable");
    let exc = store.exceptions(false, 10).await.unwrap();
    let e = exc.iter().find(|e| e.id == p.exception_id).unwrap();
    assert_eq!(e.kind, "dead_lettered");
    assert!(e.reason.contains("rejected"), "{}", e.reason);
    let _ = conn.close(200, "OK".into()).await;
    daemon.stop().await;
}

/// E-mail orders: a clean one goes on to the review; one missing facts waits for a person with
/// the reason and a link to its original message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_orders_go_on_or_wait_for_review() {
    let env = TestEnv::new(Profile::Standalone).await;
    let inbox = env.inbox("mail");
    let cfg = env.config(
        &common::mappings_dir(),
        &folder_connector("mail", &inbox, "email"),
    );
    let daemon = Daemon::start(&cfg).await.unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    drop_file(
        &inbox,
        "clean.eml",
        &std::fs::read(root.join("tests/fixtures/samples/email-plain-order-en/message.eml"))
            .unwrap(),
    );
    drop_file(
        &inbox,
        "doubtful.eml",
        &std::fs::read(root.join("mappings/testdata/email/missing-facts.eml")).unwrap(),
    );
    let store = daemon.store.clone();
    wait_until(Duration::from_secs(30), "both e-mail orders", || async {
        store.order_count("mail").await.unwrap() == 2
    })
    .await;
    // The clean one went on and was reviewed (no catalog here: its SKU is unknown, so it waits
    // for information); the doubtful one waits for a person and is not reviewed.
    wait_until(
        Duration::from_secs(30),
        "the clean order reviewed",
        || async {
            store
                .orders_list(Some("needs_info"), 10, 0)
                .await
                .unwrap()
                .len()
                == 1
        },
    )
    .await;
    let received = store.orders_list(Some("needs_info"), 10, 0).await.unwrap();
    let waiting = store
        .orders_list(Some("needs_review"), 10, 0)
        .await
        .unwrap();
    assert_eq!(
        (received.len(), waiting.len()),
        (1, 1),
        "{received:?} {waiting:?}"
    );
    let held = store.order(&waiting[0].order_id).await.unwrap().unwrap();
    let extraction = held.order.extraction.clone().unwrap();
    assert_eq!(
        extraction.document, held.raw_id,
        "the original message is linked"
    );
    let origin = held.order.origin.clone().expect("where to reply");
    assert_eq!(origin.mailbox.as_deref(), Some("mail"));
    assert_eq!(
        origin.message_id.as_deref(),
        Some("missing-1@unknown.example.com")
    );
    assert_eq!(
        origin.reply_to.as_deref(),
        Some("buyer@unknown.example.com")
    );
    assert!(
        extraction.missing.contains(&"lines".to_string()),
        "{extraction:?}"
    );
    let history = store.order_events(&held.order_id).await.unwrap();
    let reason = history.last().unwrap().data.as_ref().unwrap()["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(reason.contains("lines"), "{reason}");
    assert!(store.parked(10).await.unwrap().is_empty());
    daemon.stop().await;
}

/// A unit's effect for the group-commit tests: writes a probe row, and when `fail` writes it
/// twice, which the store refuses (on PostgreSQL that error aborts the whole transaction unless
/// the batch is rolled back and written again without the unit).
struct Probe {
    key: String,
    fail: bool,
    /// Starts an urgent (intake) write on this store and waits until it queues for the writer.
    urgent: Option<ordergate::store::Store>,
}

impl Probe {
    fn new(key: impl Into<String>, fail: bool) -> Self {
        Self {
            key: key.into(),
            fail,
            urgent: None,
        }
    }
}

#[async_trait::async_trait]
impl ordergate::stage::Effects for Probe {
    async fn write(
        &mut self,
        tx: &mut ordergate::stage::UnitTx<'_>,
    ) -> Result<(), ordergate::stage::StageError> {
        let times = if self.fail { 2 } else { 1 };
        for _ in 0..times {
            sqlx::query(
                "INSERT INTO inbox (consumer, message_id, processed_at) VALUES ('probe', $1, 0)",
            )
            .bind(&self.key)
            .execute(&mut *tx.conn())
            .await
            .map_err(|e| ordergate::stage::StageError::transient("store", e.to_string()))?;
        }
        if let Some(store) = self.urgent.take() {
            let waiter = store.clone();
            tokio::spawn(async move {
                let mut tx = waiter.begin_urgent().await.unwrap();
                sqlx::query(
                    "INSERT INTO inbox (consumer, message_id, processed_at) VALUES ('urgent', 'u', 0)",
                )
                .execute(&mut *tx)
                .await
                .unwrap();
                tx.commit().await.unwrap();
            });
            while !store.urgent_writers_waiting() {
                tokio::task::yield_now().await;
            }
        }
        tx.emit(ordergate::model::Envelope::new(
            "probe.done",
            "probe",
            serde_json::json!({ "key": self.key }),
        ));
        Ok(())
    }
}

async fn waiting_units_share_one_commit_and_a_failure_undoes_only_its_own(profile: Profile) {
    use ordergate::stage::UnitWriter;
    use ordergate::store::Store;
    let env = TestEnv::new(profile).await;
    let store = Store::connect(&env.store_url(), 4, "full").await.unwrap();
    let count = |sql: &'static str| {
        let store = store.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(store.pool())
                .await
                .unwrap()
        }
    };
    let writer = UnitWriter::with_lanes(&store, 1);
    // Twenty units queued before the writer runs (this test's runtime has one thread): one
    // batch, one commit. Unit 7 fails inside the batch.
    let results = futures_util::future::join_all((0..20).map(|i| {
        let probe = Probe::new(format!("k{i}"), i == 7);
        let (writer, id) = (&writer, format!("m{i}"));
        async move { writer.commit("q", &id, "test", probe).await }
    }))
    .await;
    assert_eq!(writer.commits(), 1, "twenty waiting units, one commit");
    for (i, r) in results.iter().enumerate() {
        match r {
            Ok(c) if i != 7 => assert!(!c.duplicate() && c.events().len() == 1, "unit {i}"),
            Err(e) if i == 7 => assert_eq!(e.kind, "store", "{e}"),
            other => panic!("unit {i}: {other:?}"),
        }
    }
    assert_eq!(
        count("SELECT COUNT(*) FROM inbox WHERE consumer = 'probe'").await,
        19
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM inbox WHERE consumer = 'probe' AND message_id = 'k7'").await,
        0,
        "the failed unit's own writes are undone"
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM inbox WHERE consumer = 'q' AND message_id = 'm7'").await,
        0,
        "the failed unit is not in the inbox, so its retry will apply it"
    );
    assert_eq!(count("SELECT COUNT(*) FROM outbox").await, 19);

    // The retry applies it; a redelivery of an applied message writes nothing.
    let retried = writer
        .commit("q", "m7", "test", Probe::new("k7", false))
        .await
        .unwrap();
    assert!(!retried.duplicate());
    let again = writer
        .commit("q", "m3", "test", Probe::new("other", false))
        .await
        .unwrap();
    assert!(again.duplicate() && again.events().is_empty());
    assert_eq!(
        count("SELECT COUNT(*) FROM inbox WHERE consumer = 'probe'").await,
        20
    );

    // The same message twice in one batch (a redelivery racing the first delivery): one
    // applies, the other is a duplicate whose effects do not stay.
    let before = writer.commits();
    let twice = futures_util::future::join_all(["d1a", "d1b"].map(|key| {
        let probe = Probe::new(key, false);
        let writer = &writer;
        async move { writer.commit("q", "d1", "test", probe).await.unwrap() }
    }))
    .await;
    assert_eq!(
        twice.iter().filter(|c| c.duplicate()).count(),
        1,
        "{twice:?}"
    );
    assert_eq!(writer.commits(), before + 1);
    assert_eq!(
        count(
            "SELECT COUNT(*) FROM inbox WHERE consumer = 'probe' AND message_id IN ('d1a', 'd1b')"
        )
        .await,
        1
    );
    assert_eq!(count("SELECT COUNT(*) FROM outbox").await, 21);

    // A unit alone that fails rolls its transaction back.
    let alone = writer
        .commit("q", "m99", "test", Probe::new("k99", true))
        .await;
    assert!(alone.is_err());
    assert_eq!(
        count("SELECT COUNT(*) FROM inbox WHERE message_id IN ('k99', 'm99')").await,
        0
    );
    assert_eq!(count("SELECT COUNT(*) FROM outbox").await, 21);
    store.close().await;
}

#[tokio::test]
async fn standalone_waiting_units_share_one_commit() {
    waiting_units_share_one_commit_and_a_failure_undoes_only_its_own(Profile::Standalone).await;
}

#[tokio::test]
async fn cluster_waiting_units_share_one_commit() {
    waiting_units_share_one_commit_and_a_failure_undoes_only_its_own(Profile::Cluster).await;
}

/// An event no queue of the bus's topology wants (its only binding narrowed away) is dropped
/// when the unit emits it: it is not among the unit's committed events (which the stage
/// counts as published) and writes no queue row; the same unit on the full topology
/// publishes it.
#[tokio::test]
async fn standalone_a_unit_does_not_publish_what_no_queue_wants() {
    use ordergate::bus::embedded::{EmbeddedBus, EmbeddedSettings};
    use ordergate::bus::{Bus, Topology};
    use ordergate::stage::UnitWriter;
    use ordergate::store::Store;
    use std::sync::Arc;
    let env = TestEnv::new(Profile::Standalone).await;
    let store = Store::connect(&env.store_url(), 4, "full").await.unwrap();
    let full =
        Topology::standard("t", vec![Duration::from_secs(1)]).with_queue("t.probes", &["probe.*"]);
    let mut narrowed = full.clone();
    narrowed.narrow("probes", &[]);
    let settings = || EmbeddedSettings {
        poll_interval: Duration::from_millis(50),
        lease: Duration::from_secs(30),
    };
    let rows = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM bus_messages WHERE queue IN ('t.probes', 't.unrouted')",
        )
        .fetch_one(store.pool())
        .await
        .unwrap()
    };
    for (topology, published) in [(narrowed, 0), (full, 1)] {
        let bus: Arc<dyn Bus> = Arc::new(EmbeddedBus::new(store.clone(), topology, settings()));
        let writer = UnitWriter::start(&store, bus);
        let before = rows().await;
        let committed = writer
            .commit(
                "q",
                &format!("m{published}"),
                "test",
                Probe::new(format!("k{published}"), false),
            )
            .await
            .unwrap();
        assert_eq!(committed.events().len(), published, "{committed:?}");
        assert_eq!(rows().await - before, published as i64);
    }
    store.close().await;
}

/// On SQLite a batch gives way to intake: when an urgent write queues for the writer during a
/// batch, the batch commits at the next unit boundary, the urgent write goes next, and the rest
/// of the units follow in the next batch.
#[tokio::test]
async fn standalone_a_unit_batch_gives_way_to_an_urgent_write() {
    use ordergate::stage::UnitWriter;
    use ordergate::store::Store;
    let env = TestEnv::new(Profile::Standalone).await;
    let store = Store::connect(&env.store_url(), 4, "full").await.unwrap();
    let writer = UnitWriter::with_lanes(&store, 1);
    let results = futures_util::future::join_all((0..10).map(|i| {
        let probe = Probe {
            urgent: (i == 0).then(|| store.clone()),
            ..Probe::new(format!("k{i}"), false)
        };
        let (writer, id) = (&writer, format!("m{i}"));
        async move { writer.commit("q", &id, "test", probe).await }
    }))
    .await;
    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
    assert_eq!(writer.commits(), 2, "the batch ended after its first unit");
    // The urgent write committed between the two batches: it holds the seq after unit 0's.
    let order: Vec<String> = sqlx::query_scalar(
        "SELECT message_id FROM inbox WHERE consumer IN ('probe', 'urgent') ORDER BY rowid",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    assert_eq!(order.len(), 11);
    assert_eq!(&order[..2], ["k0", "u"], "{order:?}");
    store.close().await;
}

/// A unit's effect that panics.
struct Panics;

#[async_trait::async_trait]
impl ordergate::stage::Effects for Panics {
    async fn write(
        &mut self,
        _tx: &mut ordergate::stage::UnitTx<'_>,
    ) -> Result<(), ordergate::stage::StageError> {
        panic!("a bug in a unit's effects");
    }
}

/// A unit whose effects panic gets an error (its stage retries it, then parks it); the writer
/// goes on writing the next units.
#[tokio::test]
async fn standalone_a_panicking_unit_does_not_stop_the_writer() {
    use ordergate::stage::UnitWriter;
    use ordergate::store::Store;
    let env = TestEnv::new(Profile::Standalone).await;
    let store = Store::connect(&env.store_url(), 4, "full").await.unwrap();
    let writer = UnitWriter::with_lanes(&store, 1);
    let err = writer.commit("q", "p1", "test", Panics).await.unwrap_err();
    assert_eq!(err.kind, "store", "{err}");
    let after = writer
        .commit("q", "p2", "test", Probe::new("after", false))
        .await
        .unwrap();
    assert!(!after.duplicate() && after.events().len() == 1);
    let applied: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM inbox WHERE consumer = 'q' AND message_id = 'p1'")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(applied, 0, "the panicked unit is not applied");
    store.close().await;
}

/// A review moves an order only on the version of its content it read (the check is in the
/// move's one statement, in both dialects): not after the content changed, then on the new
/// version; the move and its audit event happen once.
async fn a_move_at_a_version_needs_that_version(profile: Profile) {
    use ordergate::model::state::{OrderState, Trigger};
    use ordergate::store::Store;
    let env = TestEnv::new(profile).await;
    let store = Store::connect(&env.store_url(), 2, "full").await.unwrap();
    let mut order: ordergate::model::CanonicalOrder = serde_json::from_value(serde_json::json!({
        "source": {"connector": "shop", "format": "shopify", "channel": "web",
                   "external_id": "9001", "status": "open"},
        "placed_at": "2026-12-01T08:00:00Z",
        "currency": "USD",
        "customer": {"name": "Ann Lee", "email": "ann@example.com", "phone": null},
        "ship_to": {"name": "Ann Lee", "line1": "1 Main Street", "city": "Springfield",
                    "region": null, "postal_code": "12345", "country": "US"},
        "lines": [{"line_ref": "1", "sku": "W-1", "name": "Widget", "quantity": 2,
                   "unit_price": "19.99"}],
        "total": "39.98"
    }))
    .unwrap();
    let mut tx = store.begin().await.unwrap();
    let id = Store::upsert_order(&mut tx, &mut order, None)
        .await
        .unwrap()
        .order_id()
        .to_string();
    tx.commit().await.unwrap();
    let (_, read) = store.order_with_hash(&id).await.unwrap().unwrap();
    // The content changes after the review read it.
    order.lines[0].quantity = rust_decimal::Decimal::from(3);
    let mut tx = store.begin().await.unwrap();
    Store::upsert_order(&mut tx, &mut order, None)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let (_, now) = store.order_with_hash(&id).await.unwrap().unwrap();
    assert_ne!(read, now);
    let approve = |hash: String| {
        let store = store.clone();
        let id = id.clone();
        async move {
            let mut tx = store.begin().await.unwrap();
            let moved = Store::transition_at_version(
                &mut tx,
                &id,
                OrderState::Received,
                Trigger::Approve,
                &hash,
                "test",
                None,
            )
            .await
            .unwrap();
            tx.commit().await.unwrap();
            moved
        }
    };
    assert!(
        !approve(read).await,
        "not on the version read before the change"
    );
    assert_eq!(store.order(&id).await.unwrap().unwrap().state, "received");
    assert!(approve(now.clone()).await, "on the version it holds");
    assert!(!approve(now).await, "once");
    let events = store.order_events(&id).await.unwrap();
    assert_eq!(events.iter().filter(|e| e.kind == "approve").count(), 1);
    assert_eq!(store.order(&id).await.unwrap().unwrap().state, "approved");
    store.close().await;
}

#[tokio::test]
async fn standalone_a_move_at_a_version_needs_that_version() {
    a_move_at_a_version_needs_that_version(Profile::Standalone).await;
}

#[tokio::test]
async fn cluster_a_move_at_a_version_needs_that_version() {
    a_move_at_a_version_needs_that_version(Profile::Cluster).await;
}

/// Documents a group commit stores together go in one multi-row statement (both dialects):
/// each new one is stored once and answered with its own id, a copy of a stored document
/// answers the stored one's id, and two copies in the same batch are one document.
async fn documents_of_a_batch_are_stored_once_each(profile: Profile) {
    use ordergate::store::{NewRawDocument, Store};
    let env = TestEnv::new(profile).await;
    let store = Store::connect(&env.store_url(), 2, "full").await.unwrap();
    let doc = |content: &'static [u8]| NewRawDocument {
        connector: "hook",
        format: "shopify",
        source_name: Some("webhook:1"),
        content,
    };
    let mut tx = store.begin().await.unwrap();
    let first = Store::insert_raws(&mut tx, &[doc(b"one")]).await.unwrap();
    tx.commit().await.unwrap();
    assert!(first[0].inserted);
    let mut tx = store.begin().await.unwrap();
    let batch = Store::insert_raws(
        &mut tx,
        &[doc(b"two"), doc(b"one"), doc(b"three"), doc(b"two")],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let inserted: Vec<bool> = batch.iter().map(|r| r.inserted).collect();
    assert_eq!(inserted, [true, false, true, false]);
    assert_eq!(
        batch[1].id, first[0].id,
        "a copy answers the stored document's id"
    );
    assert_eq!(
        batch[3].id, batch[0].id,
        "two copies in one batch are one document"
    );
    assert_ne!(batch[0].id, batch[2].id);
    assert_eq!(store.raw_count("hook").await.unwrap(), 3);
    for (r, content) in [(&batch[0], b"two".as_slice()), (&batch[2], b"three")] {
        assert_eq!(store.raw(&r.id).await.unwrap().unwrap().content, content);
    }
    // A text document is kept deflated, and read back byte for byte with its own size and hash.
    let order =
        serde_json::json!({"line_items": [{"sku": "W-1", "title": "Widget", "quantity": 2}]})
            .to_string()
            .repeat(200);
    let mut tx = store.begin().await.unwrap();
    let big = Store::insert_raws(
        &mut tx,
        &[NewRawDocument {
            content: order.as_bytes(),
            ..doc(b"")
        }],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let (kept, size, encoding): (i64, i64, Option<String>) = sqlx::query_as(
        "SELECT LENGTH(content), size, content_encoding FROM raw_documents WHERE id = $1",
    )
    .bind(&big[0].id)
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!(
        (size, encoding.as_deref()),
        (order.len() as i64, Some("deflate"))
    );
    assert!(kept * 4 < size, "kept {kept} bytes of {size}");
    let read = store.raw(&big[0].id).await.unwrap().unwrap();
    assert_eq!(read.content, order.as_bytes());
    assert_eq!(read.sha256, {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(order.as_bytes()))
    });
    store.close().await;
}

#[tokio::test]
async fn standalone_documents_of_a_batch_are_stored_once_each() {
    documents_of_a_batch_are_stored_once_each(Profile::Standalone).await;
}

#[tokio::test]
async fn cluster_documents_of_a_batch_are_stored_once_each() {
    documents_of_a_batch_are_stored_once_each(Profile::Cluster).await;
}

/// On the embedded bus a received document's event goes into its queue in the transaction
/// that stores the document: when storing returns, the normalize stage's queue holds it, the
/// outbox never did, and nothing is left to announce.
#[tokio::test]
async fn standalone_a_stored_document_is_in_its_queue_when_stored() {
    use ordergate::bus::embedded::EmbeddedBus;
    use ordergate::bus::{Bus, Topology};
    use ordergate::store::Store;
    let env = TestEnv::new(Profile::Standalone).await;
    let store = Store::connect(&env.store_url(), 2, "full").await.unwrap();
    let topology = Topology::standard("t", vec![Duration::from_secs(1)]);
    let normalize = topology.stage_queue("normalize");
    let bus = EmbeddedBus::new(store.clone(), topology, Default::default());
    let stored = ordergate::intake::store_document(
        &store,
        &bus,
        "hook",
        "shopify",
        Some("webhook:1"),
        br#"{"id": 1}"#,
    )
    .await
    .unwrap();
    assert!(stored.inserted);
    assert!(!stored.pending, "nothing is left to announce");
    assert_eq!(bus.depth(&normalize).await.unwrap(), 1);
    let outbox: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(outbox, 0);
    // The same bytes again: the same document, no second message.
    let again = ordergate::intake::store_document(
        &store,
        &bus,
        "hook",
        "shopify",
        Some("webhook:2"),
        br#"{"id": 1}"#,
    )
    .await
    .unwrap();
    assert_eq!(
        (again.raw_id, again.inserted, again.pending),
        (stored.raw_id, false, false)
    );
    assert_eq!(bus.depth(&normalize).await.unwrap(), 1);
    store.close().await;
}

/// On SQLite every write transaction runs on the one connection kept for writes (with its
/// larger page cache), never on a reading connection of the pool: what one write transaction
/// left on its connection (a temporary table) is there in the next, however many readers the
/// pool opened in between.
#[tokio::test]
async fn standalone_writes_run_on_one_connection_of_their_own() {
    use ordergate::store::Store;
    let env = TestEnv::new(Profile::Standalone).await;
    let store = Store::connect(&env.store_url(), 4, "full").await.unwrap();
    let readers = || async {
        let mut held = Vec::new();
        for _ in 0..4 {
            held.push(store.pool().acquire().await.unwrap());
        }
        drop(held);
    };
    readers().await;
    let mut tx = store.begin().await.unwrap();
    let cache: i64 = sqlx::query_scalar("PRAGMA cache_size")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert!(cache <= -(32 << 10), "the writer's page cache is {cache}");
    sqlx::query("CREATE TEMP TABLE mark (n INTEGER)")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    for _ in 0..3 {
        readers().await;
    }
    let mut tx = store.begin_urgent().await.unwrap();
    sqlx::query("INSERT INTO mark (n) VALUES (1)")
        .execute(&mut *tx)
        .await
        .expect("the next write transaction is on the same connection");
    tx.commit().await.unwrap();
    store.close().await;
}
