//! The AMQP bus against the real RabbitMQ on 127.0.0.1:5672: the shared conformance suite, plus
//! what only a broker can do (parking a body that is not an envelope, surviving forced
//! connection closes) and the RabbitMQ definitions file staying in sync with the code.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failed unwrap is a failed test.

#[path = "common/bus_suite.rs"]
mod bus_suite;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lapin::options::BasicPublishOptions;
use lapin::types::ShortString;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use ordergate::bus::amqp::{rabbitmq_definitions, AmqpBus, AmqpSettings};
use ordergate::bus::{Bus, Topology};
use ordergate::model::Envelope;
use tokio::sync::RwLock;

const URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// Suite checks share the broker (read); the test that force-closes every connection runs
/// alone (write).
static BROKER: RwLock<()> = RwLock::const_new(());

fn settings() -> AmqpSettings {
    AmqpSettings {
        connect_timeout: Duration::from_secs(5),
        confirm_timeout: Duration::from_secs(5),
        operation_timeout: Duration::from_secs(5),
        reconnect_min_delay: Duration::from_millis(50),
        reconnect_max_delay: Duration::from_secs(1),
        reconnect_wait: Duration::from_secs(20),
        connection_name: "ordergate-test".to_string(),
    }
}

fn unique_topology() -> Topology {
    bus_suite::topology(&format!("test-{}", uuid::Uuid::new_v4()))
}

/// Deletes every exchange and queue of a test topology.
async fn cleanup(topology: &Topology) {
    ordergate::bus::amqp::delete_topology(URL, topology)
        .await
        .expect("cleanup");
}

/// Runs one check on a fresh bus and topology, then deletes them even if the check failed.
async fn run<F, Fut>(check: F)
where
    F: FnOnce(Arc<dyn Bus>, Topology) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let _shared = BROKER.read().await;
    let topology = unique_topology();
    let bus: Arc<dyn Bus> = Arc::new(
        AmqpBus::connect(URL, topology.clone(), settings())
            .await
            .expect("connect"),
    );
    let outcome = tokio::spawn(check(bus.clone(), topology.clone())).await;
    bus.close().await;
    cleanup(&topology).await;
    if let Err(error) = outcome {
        std::panic::resume_unwind(error.into_panic());
    }
}

macro_rules! suite {
    ($($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                run(bus_suite::$check).await;
            }
        )*
    };
}

suite!(
    round_trip,
    routing_by_topic,
    unroutable_is_kept,
    narrowed_bindings_take_effect,
    unacked_comes_back_redelivered,
    requeue_brings_it_back,
    retry_comes_back_after_delay,
    depth_counts_ready,
    send_to_queue_targets_one_queue,
    prefetch_bounds_in_flight,
    thousand_exactly_once,
);

/// A body that is not an envelope is parked and the consumer keeps going.
/// Tests that open their own raw connection, and the test that closes every connection on the
/// broker, take turns: a forced close would cut the raw connection mid-test.
static RAW_CONNECTIONS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_envelope_is_parked() {
    let _turn = RAW_CONNECTIONS.lock().await;
    run(|bus, t| async move {
        let queue = bus_suite::orders(&t);
        // Published with confirms, and again on a fresh connection if one was cut (a forced
        // close by the previous test may still be reaching connections as this one opens its
        // own): once confirmed, the junk is in the durable queue whatever happens next.
        let mut raw = None;
        for _ in 0..5 {
            let Ok(conn) = Connection::connect(URL, ConnectionProperties::default()).await else {
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            };
            let published = async {
                let channel = conn.create_channel().await?;
                channel
                    .confirm_select(lapin::options::ConfirmSelectOptions::default())
                    .await?;
                channel
                    .basic_publish(
                        ShortString::from(""),
                        ShortString::from(queue.as_str()),
                        BasicPublishOptions::default(),
                        b"this is not json",
                        BasicProperties::default().with_message_id(ShortString::from("junk-1")),
                    )
                    .await?
                    .await
            }
            .await;
            if matches!(published, Ok(lapin::Confirmation::Ack(_))) {
                raw = Some(conn);
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let conn = raw.expect("the broker confirmed the junk message");
        let good = bus_suite::envelope("order.received");
        bus.send_to_queue(&queue, &good).await.expect("send");
        let mut consumer = bus.consume(&queue, 10).await.expect("consume");
        let got = bus_suite::must_next(&mut consumer).await;
        assert_eq!(got.envelope, good);
        got.ack().await.expect("ack");
        bus_suite::wait_depth(&bus, &t.parking_queue, 1).await;
        bus_suite::wait_depth(&bus, &queue, 0).await;
        conn.close(200, ShortString::from("OK")).await.ok();

        // The parked body is handed over for safekeeping, with where and why; a refusal
        // leaves it in the queue, an acceptance removes it.
        let seen = std::sync::Mutex::new(Vec::new());
        let refuse = |l: ordergate::bus::DeadLetter| -> futures_util::future::BoxFuture<'_, bool> {
            seen.lock().unwrap().push(l);
            Box::pin(async { false })
        };
        assert_eq!(bus.drain_dead_letters(10, &refuse).await.expect("drain"), 0);
        bus_suite::wait_depth(&bus, &t.parking_queue, 1).await;
        let accept = |l: ordergate::bus::DeadLetter| -> futures_util::future::BoxFuture<'_, bool> {
            seen.lock().unwrap().push(l);
            Box::pin(async { true })
        };
        assert_eq!(bus.drain_dead_letters(10, &accept).await.expect("drain"), 1);
        bus_suite::wait_depth(&bus, &t.parking_queue, 0).await;
        let seen = seen.into_inner().unwrap();
        let letter = seen.last().unwrap();
        assert_eq!(letter.envelope.kind, "dead_letter.unreadable");
        assert_eq!(letter.queue.as_deref(), Some(queue.as_str()));
        assert!(letter.reason.contains("rejected"), "{}", letter.reason);
        use base64::Engine;
        let body = base64::engine::general_purpose::STANDARD
            .decode(letter.envelope.payload["body_base64"].as_str().unwrap())
            .unwrap();
        assert_eq!(body, b"this is not json");
    })
    .await;
}

async fn close_all_connections() {
    let status = tokio::process::Command::new("rabbitmqctl")
        .args(["close_all_connections", "test"])
        .stdout(std::process::Stdio::null())
        .status()
        .await
        .expect("rabbitmqctl");
    assert!(status.success(), "rabbitmqctl close_all_connections failed");
}

/// Publishers and a consumer recover by themselves from forced connection closes, and every
/// message id is consumed at least once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn survives_forced_connection_closes() {
    let _turn = RAW_CONNECTIONS.lock().await;
    const TOTAL: usize = 4000;
    let _ = tracing_subscriber::fmt()
        .with_env_filter("ordergate=info")
        .with_test_writer()
        .try_init();
    let _alone = BROKER.write().await;
    let topology = unique_topology();
    let queue = bus_suite::orders(&topology);
    let bus: Arc<dyn Bus> = Arc::new(
        AmqpBus::connect(URL, topology.clone(), settings())
            .await
            .expect("connect"),
    );
    let started = Instant::now();

    let mut consumer = bus.consume(&queue, 100).await.expect("consume");
    let consuming = tokio::spawn(async move {
        let mut seen: HashMap<uuid::Uuid, u32> = HashMap::new();
        let mut failed_acks = 0u32;
        let deadline = Instant::now() + Duration::from_secs(25);
        while seen.len() < TOTAL && Instant::now() < deadline {
            let Some(got) = bus_suite::next_within(&mut consumer, Duration::from_secs(1)).await
            else {
                continue;
            };
            *seen.entry(got.envelope.id).or_default() += 1;
            if got.ack().await.is_err() {
                failed_acks += 1;
            }
        }
        (seen, failed_acks)
    });

    let messages: Vec<Envelope> = (0..TOTAL)
        .map(|_| bus_suite::envelope("order.received"))
        .collect();
    let publishers: Vec<_> = messages
        .chunks(TOTAL / 2)
        .map(|half| {
            let bus = bus.clone();
            let half = half.to_vec();
            tokio::spawn(async move {
                for batch in half.chunks(25) {
                    bus.publish(batch)
                        .await
                        .expect("publish recovers by itself");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_millis(500)).await;
    close_all_connections().await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    close_all_connections().await;
    let closed_by = started.elapsed();

    for publisher in publishers {
        publisher.await.expect("publisher");
    }
    let published_by = started.elapsed();
    let (seen, failed_acks) = consuming.await.expect("consumer");
    let expected: HashSet<uuid::Uuid> = messages.iter().map(|m| m.id).collect();
    let missing = expected.iter().filter(|id| !seen.contains_key(id)).count();
    let duplicates: u32 = seen.values().map(|n| n - 1).sum();
    eprintln!(
        "closes done by {closed_by:?}, published {TOTAL} by {published_by:?}, consumed all by {:?}: {duplicates} duplicates, {failed_acks} failed acks",
        started.elapsed()
    );
    bus.close().await;
    cleanup(&topology).await;
    assert_eq!(missing, 0, "{missing} message ids never consumed");
    assert!(
        closed_by < published_by,
        "both closes must hit while publishing"
    );
    assert!(seen.keys().all(|id| expected.contains(id)));
}

/// `deploy/cluster/rabbitmq-definitions.json` is the standard topology. Regenerate with
/// `UPDATE_DEFINITIONS=1 cargo test --test bus_amqp definitions_file_is_current`.
#[test]
fn definitions_file_is_current() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/cluster/rabbitmq-definitions.json"
    );
    let tiers = [1, 5, 30, 120, 600].map(Duration::from_secs).to_vec();
    let generated = rabbitmq_definitions(&Topology::standard(
        ordergate::bus::topology::DEFAULT_PREFIX,
        tiers,
    ));
    if std::env::var_os("UPDATE_DEFINITIONS").is_some() {
        let text = serde_json::to_string_pretty(&generated).expect("json") + "\n";
        std::fs::create_dir_all(std::path::Path::new(path).parent().expect("parent"))
            .expect("mkdir");
        std::fs::write(path, text).expect("write definitions");
    }
    let text = std::fs::read_to_string(path).expect(
        "deploy/cluster/rabbitmq-definitions.json missing; run UPDATE_DEFINITIONS=1 cargo test --test bus_amqp definitions_file_is_current",
    );
    let on_disk: serde_json::Value = serde_json::from_str(&text).expect("valid json");
    assert_eq!(
        on_disk, generated,
        "definitions file is stale; run UPDATE_DEFINITIONS=1 cargo test --test bus_amqp definitions_file_is_current"
    );
}

/// Waits for an (asynchronous) definitions import to have created `exchange`.
async fn wait_until_declared(exchange: &str) {
    let conn = Connection::connect(URL, ConnectionProperties::default())
        .await
        .expect("connection");
    let start = Instant::now();
    loop {
        // A passive declare of a missing exchange closes its channel: a fresh one each time.
        let channel = conn.create_channel().await.expect("channel");
        let passive = lapin::options::ExchangeDeclareOptions {
            passive: true,
            ..Default::default()
        };
        let found = channel
            .exchange_declare(
                ShortString::from(exchange),
                lapin::ExchangeKind::Topic,
                passive,
                Default::default(),
            )
            .await;
        if found.is_ok() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "import did not finish"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    conn.close(200, ShortString::from("OK")).await.ok();
}

/// The definitions file format imports into RabbitMQ, and what it creates is exactly what the
/// bus declares (a differing argument would make the bus's declaration fail).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn definitions_import_matches_live_declaration() {
    let _shared = BROKER.read().await;
    let topology = unique_topology();
    // rabbitmqctl picks the format from the extension.
    let file = tempfile::Builder::new()
        .suffix(".json")
        .tempfile()
        .expect("temp file");
    std::fs::write(
        file.path(),
        serde_json::to_vec(&rabbitmq_definitions(&topology)).expect("json"),
    )
    .expect("write");
    // The broker (another user) reads the file itself.
    std::fs::set_permissions(
        file.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .expect("chmod");
    let status = tokio::process::Command::new("rabbitmqctl")
        .arg("import_definitions")
        .arg(file.path())
        .stdout(std::process::Stdio::null())
        .status()
        .await
        .expect("rabbitmqctl");
    assert!(status.success(), "rabbitmqctl import_definitions failed");
    wait_until_declared(&topology.exchange).await;
    let bus: Arc<dyn Bus> = Arc::new(
        AmqpBus::connect(URL, topology.clone(), settings())
            .await
            .expect("declaring over imported definitions"),
    );
    let outcome = tokio::spawn(bus_suite::round_trip(bus.clone(), topology.clone())).await;
    bus.close().await;
    cleanup(&topology).await;
    if let Err(error) = outcome {
        std::panic::resume_unwind(error.into_panic());
    }
}
