//! The bus conformance suite: every [`Bus`] implementation runs these exact checks (include this
//! file with `#[path = "common/bus_suite.rs"] mod bus_suite;`). Each check gets a fresh bus
//! declared with [`topology`] and leaves cleanup to its caller. `Consumer::next` is called under
//! a timeout, so it must be cancel-safe.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ordergate::bus::{Bus, Consumer, Delivery, Topology};
use ordergate::model::Envelope;
use serde_json::json;

/// Retry tiers of the test topology: small so retries come back fast.
pub const TIERS: [Duration; 2] = [Duration::from_millis(200), Duration::from_millis(1000)];

/// The topology every check runs against; `prefix` makes names unique per test.
/// Queues: `{prefix}.orders` bound to `order.*`, `{prefix}.raw` bound to `raw.#`.
pub fn topology(prefix: &str) -> Topology {
    Topology {
        exchange: prefix.to_string(),
        unrouted_queue: format!("{prefix}.unrouted"),
        parking_queue: format!("{prefix}.parked"),
        queues: vec![],
        retry_tiers: TIERS.to_vec(),
        delivery_limit: 20,
    }
    .with_queue(format!("{prefix}.orders"), &["order.*"])
    .with_queue(format!("{prefix}.raw"), &["raw.#"])
}

/// The queue bound to `order.*`.
pub fn orders(t: &Topology) -> String {
    t.queues[0].name.clone()
}

/// The queue bound to `raw.#`.
pub fn raw(t: &Topology) -> String {
    t.queues[1].name.clone()
}

/// A test envelope of the given type.
pub fn envelope(kind: &str) -> Envelope {
    Envelope::new(kind, "suite", json!({"n": 1}))
}

/// The next delivery, or `None` if none comes within `within`.
pub async fn next_within(consumer: &mut Box<dyn Consumer>, within: Duration) -> Option<Delivery> {
    tokio::time::timeout(within, consumer.next())
        .await
        .ok()
        .flatten()
}

/// The next delivery, failing the check if none comes within 5 s.
pub async fn must_next(consumer: &mut Box<dyn Consumer>) -> Delivery {
    next_within(consumer, Duration::from_secs(5))
        .await
        .expect("a delivery within 5 s")
}

/// Waits until `depth(queue) == expected` (a broker may count a just-confirmed, requeued or
/// dead-lettered message a moment later — much longer on a loaded machine), failing after 30 s.
pub async fn wait_depth(bus: &Arc<dyn Bus>, queue: &str, expected: u64) {
    let start = Instant::now();
    loop {
        let depth = bus.depth(queue).await.expect("depth");
        if depth == expected {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "depth of {queue} is {depth}, expected {expected}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Publish → consume keeps every envelope field.
pub async fn round_trip(bus: Arc<dyn Bus>, t: Topology) {
    let mut consumer = bus.consume(&orders(&t), 10).await.expect("consume");
    let mut sent = Envelope::new(
        "order.received",
        "shop-eu",
        json!({"total": "44.98", "qty": 2.5, "name": "Zoë 東京", "lines": [{"sku": "MUG-01"}], "none": null}),
    )
    .with_order("og_123");
    sent.attempt = 3;
    bus.publish(std::slice::from_ref(&sent))
        .await
        .expect("publish");
    let got = must_next(&mut consumer).await;
    assert_eq!(got.envelope, sent);
    assert!(!got.redelivered);
    got.ack().await.expect("ack");
}

/// A message reaches only the queues whose bindings match its type.
pub async fn routing_by_topic(bus: Arc<dyn Bus>, t: Topology) {
    let order = envelope("order.received");
    let raw_doc = envelope("raw.shop.eu");
    bus.publish(&[order.clone(), raw_doc.clone()])
        .await
        .expect("publish");
    let mut orders_c = bus.consume(&orders(&t), 10).await.expect("consume");
    let mut raw_c = bus.consume(&raw(&t), 10).await.expect("consume");
    let got = must_next(&mut orders_c).await;
    assert_eq!(got.envelope.id, order.id);
    got.ack().await.expect("ack");
    let got = must_next(&mut raw_c).await;
    assert_eq!(got.envelope.id, raw_doc.id);
    got.ack().await.expect("ack");
    assert!(next_within(&mut orders_c, Duration::from_millis(300))
        .await
        .is_none());
    assert!(next_within(&mut raw_c, Duration::from_millis(300))
        .await
        .is_none());
    wait_depth(&bus, &t.unrouted_queue, 0).await;
}

/// A message no queue is bound for is kept in the unrouted queue.
pub async fn unroutable_is_kept(bus: Arc<dyn Bus>, t: Topology) {
    let lost = envelope("nobody.listens.here");
    bus.publish(std::slice::from_ref(&lost))
        .await
        .expect("publish");
    wait_depth(&bus, &t.unrouted_queue, 1).await;
    let mut consumer = bus.consume(&t.unrouted_queue, 10).await.expect("consume");
    let got = must_next(&mut consumer).await;
    assert_eq!(got.envelope, lost);
    got.ack().await.expect("ack");
    assert_eq!(bus.depth(&orders(&t)).await.expect("depth"), 0);
    assert_eq!(bus.depth(&raw(&t)).await.expect("depth"), 0);
}

/// A queue narrowed to what its configuration wants (`Topology::narrow`) after it was
/// declared with all its bindings: declaring again removes the bindings left out (a broker
/// would keep them), an event only they routed is not published at all (not even to the
/// unrouted queue), and an event no queue ever took is still kept there.
pub async fn narrowed_bindings_take_effect(bus: Arc<dyn Bus>, t: Topology) {
    let mut narrowed = t.clone();
    let stage = orders(&t)
        .strip_prefix(&format!("{}.", t.exchange))
        .expect("a stage queue")
        .to_string();
    narrowed.narrow(&stage, &["order.shipped".to_string()]);
    assert_eq!(narrowed.queues[0].unbound, vec!["order.*".to_string()]);
    bus.declare(&narrowed).await.expect("declare narrowed");
    let sent = [
        envelope("order.approved"),
        envelope("order.shipped"),
        envelope("nobody.knows"),
    ];
    bus.publish(&sent).await.expect("publish");
    wait_depth(&bus, &orders(&t), 1).await;
    wait_depth(&bus, &t.unrouted_queue, 1).await;
    let mut consumer = bus.consume(&orders(&t), 10).await.expect("consume");
    let got = must_next(&mut consumer).await;
    assert_eq!(got.envelope.kind, "order.shipped");
    got.ack().await.expect("ack");
    let mut unrouted = bus.consume(&t.unrouted_queue, 10).await.expect("consume");
    let got = must_next(&mut unrouted).await;
    assert_eq!(got.envelope.kind, "nobody.knows");
    got.ack().await.expect("ack");
    // order.approved would have shown by now (it was published with the others).
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(bus.depth(&orders(&t)).await.expect("depth"), 0);
    assert_eq!(bus.depth(&t.unrouted_queue).await.expect("depth"), 0);
}

/// A delivery not acked when its consumer is dropped comes back, marked redelivered.
pub async fn unacked_comes_back_redelivered(bus: Arc<dyn Bus>, t: Topology) {
    let sent = envelope("order.received");
    bus.publish(std::slice::from_ref(&sent))
        .await
        .expect("publish");
    let mut first = bus.consume(&orders(&t), 1).await.expect("consume");
    let held = must_next(&mut first).await;
    assert_eq!(held.envelope.id, sent.id);
    drop(held);
    drop(first);
    let mut second = bus.consume(&orders(&t), 1).await.expect("consume");
    let again = must_next(&mut second).await;
    assert_eq!(again.envelope.id, sent.id);
    assert!(again.redelivered, "a redelivered copy must say so");
    again.ack().await.expect("ack");
}

/// `requeue` gives the delivery back at once.
pub async fn requeue_brings_it_back(bus: Arc<dyn Bus>, t: Topology) {
    let sent = envelope("order.received");
    bus.publish(std::slice::from_ref(&sent))
        .await
        .expect("publish");
    let mut consumer = bus.consume(&orders(&t), 1).await.expect("consume");
    let got = must_next(&mut consumer).await;
    got.requeue().await.expect("requeue");
    let again = must_next(&mut consumer).await;
    assert_eq!(again.envelope, sent);
    again.ack().await.expect("ack");
    assert!(next_within(&mut consumer, Duration::from_millis(300))
        .await
        .is_none());
}

/// `retry(delay)` brings it back after at least `delay`, with `attempt + 1`, once.
pub async fn retry_comes_back_after_delay(bus: Arc<dyn Bus>, t: Topology) {
    let sent = envelope("order.received");
    bus.publish(std::slice::from_ref(&sent))
        .await
        .expect("publish");
    let mut consumer = bus.consume(&orders(&t), 1).await.expect("consume");
    let got = must_next(&mut consumer).await;
    let delay = Duration::from_millis(150);
    let start = Instant::now();
    got.retry(delay).await.expect("retry");
    let again = must_next(&mut consumer).await;
    let waited = start.elapsed();
    assert!(
        waited >= delay,
        "came back after {waited:?}, before {delay:?}"
    );
    assert_eq!(again.envelope.id, sent.id);
    assert_eq!(again.envelope.attempt, sent.attempt + 1);
    assert_eq!(again.envelope.payload, sent.payload);
    again.ack().await.expect("ack");
    assert!(next_within(&mut consumer, Duration::from_millis(400))
        .await
        .is_none());
}

/// `depth` counts ready messages.
pub async fn depth_counts_ready(bus: Arc<dyn Bus>, t: Topology) {
    assert_eq!(bus.depth(&orders(&t)).await.expect("depth"), 0);
    let batch: Vec<Envelope> = (0..3).map(|_| envelope("order.received")).collect();
    bus.publish(&batch).await.expect("publish");
    wait_depth(&bus, &orders(&t), 3).await;
    assert_eq!(bus.depth(&raw(&t)).await.expect("depth"), 0);
    let mut consumer = bus.consume(&orders(&t), 10).await.expect("consume");
    for _ in 0..3 {
        must_next(&mut consumer).await.ack().await.expect("ack");
    }
    wait_depth(&bus, &orders(&t), 0).await;
}

/// `send_to_queue` puts the envelope on exactly that queue, whatever its type routes to.
pub async fn send_to_queue_targets_one_queue(bus: Arc<dyn Bus>, t: Topology) {
    let sent = envelope("order.received");
    bus.send_to_queue(&raw(&t), &sent)
        .await
        .expect("send_to_queue");
    let mut consumer = bus.consume(&raw(&t), 10).await.expect("consume");
    let got = must_next(&mut consumer).await;
    assert_eq!(got.envelope, sent);
    got.ack().await.expect("ack");
    assert_eq!(bus.depth(&orders(&t)).await.expect("depth"), 0);
    assert_eq!(bus.depth(&t.unrouted_queue).await.expect("depth"), 0);
}

/// At most `prefetch` deliveries are in flight unacked.
pub async fn prefetch_bounds_in_flight(bus: Arc<dyn Bus>, t: Topology) {
    let batch: Vec<Envelope> = (0..5).map(|_| envelope("order.received")).collect();
    bus.publish(&batch).await.expect("publish");
    let mut consumer = bus.consume(&orders(&t), 2).await.expect("consume");
    let first = must_next(&mut consumer).await;
    let second = must_next(&mut consumer).await;
    assert!(
        next_within(&mut consumer, Duration::from_millis(500))
            .await
            .is_none(),
        "a third delivery while two are unacked with prefetch 2"
    );
    first.ack().await.expect("ack");
    let third = must_next(&mut consumer).await;
    second.ack().await.expect("ack");
    third.ack().await.expect("ack");
    for _ in 0..2 {
        must_next(&mut consumer).await.ack().await.expect("ack");
    }
}

/// 1 000 published messages are all consumed exactly once.
pub async fn thousand_exactly_once(bus: Arc<dyn Bus>, t: Topology) {
    let batch: Vec<Envelope> = (0..1000).map(|_| envelope("order.received")).collect();
    for chunk in batch.chunks(100) {
        bus.publish(chunk).await.expect("publish");
    }
    let mut consumer = bus.consume(&orders(&t), 100).await.expect("consume");
    let mut seen: HashMap<uuid::Uuid, u32> = HashMap::new();
    while seen.len() < batch.len() {
        let got = must_next(&mut consumer).await;
        *seen.entry(got.envelope.id).or_default() += 1;
        got.ack().await.expect("ack");
    }
    assert!(next_within(&mut consumer, Duration::from_millis(500))
        .await
        .is_none());
    for sent in &batch {
        assert_eq!(seen.get(&sent.id), Some(&1), "message {} count", sent.id);
    }
}
