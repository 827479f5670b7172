//! The embedded bus (a queue in the store) passes the same conformance suite as RabbitMQ, on
//! SQLite (the standalone profile) and on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failed unwrap is a failed test.

#[path = "common/bus_suite.rs"]
mod bus_suite;
mod common;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use ordergate::bus::embedded::{EmbeddedBus, EmbeddedSettings};
use ordergate::bus::{Bus, Topology};
use ordergate::store::Store;

enum Backend {
    Sqlite,
    Postgres,
}

async fn run<F, Fut>(backend: Backend, check: F)
where
    F: FnOnce(Arc<dyn Bus>, Topology) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let dir = tempfile::tempdir().unwrap();
    let pg;
    let url = match backend {
        Backend::Sqlite => format!("sqlite://{}", dir.path().join("bus.sqlite").display()),
        Backend::Postgres => {
            pg = common::PgDatabase::create().await;
            pg.url.clone()
        }
    };
    let store = Store::connect(&url, 8, "full").await.unwrap();
    let topology = bus_suite::topology("embedded");
    let bus: Arc<dyn Bus> = Arc::new(EmbeddedBus::new(
        store.clone(),
        topology.clone(),
        EmbeddedSettings {
            poll_interval: Duration::from_millis(50),
            lease: Duration::from_secs(30),
        },
    ));
    bus.declare(&topology).await.unwrap();
    check(bus.clone(), topology).await;
    bus.close().await;
    store.close().await;
}

macro_rules! suite {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    run(Backend::Sqlite, bus_suite::$name).await;
                }
            )*
        }
        mod postgres {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    run(Backend::Postgres, bus_suite::$name).await;
                }
            )*
        }
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

/// A bus on a fresh SQLite file whose leases run out after 300 ms.
async fn short_lease_bus(name: &str) -> (tempfile::TempDir, Store, Topology, Arc<dyn Bus>) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bus.sqlite").display());
    let store = Store::connect(&url, 4, "full").await.unwrap();
    let topology = bus_suite::topology(name);
    let settings = EmbeddedSettings {
        poll_interval: Duration::from_millis(50),
        lease: Duration::from_millis(300),
    };
    let bus: Arc<dyn Bus> = Arc::new(EmbeddedBus::new(store.clone(), topology.clone(), settings));
    (dir, store, topology, bus)
}

/// A consumer that dies (its process gone, so nothing hands its deliveries back) holds them
/// only until the lease runs out; then they are delivered again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_lease_is_redelivered() {
    let (_dir, _store, topology, bus) = short_lease_bus("lease").await;
    bus.publish(&[bus_suite::envelope("raw.shop")])
        .await
        .unwrap();
    let mut first = bus.consume(&bus_suite::raw(&topology), 1).await.unwrap();
    let held = bus_suite::must_next(&mut first).await;
    // Simulate a crash: forget the delivery and the consumer without running their Drop.
    std::mem::forget(held);
    std::mem::forget(first);
    let mut second = bus.consume(&bus_suite::raw(&topology), 1).await.unwrap();
    let again = bus_suite::must_next(&mut second).await;
    assert!(again.redelivered);
    again.ack().await.unwrap();
}

/// An ack from a consumer whose lease ran out (the message went to another) is refused and
/// leaves the message to its new holder, also when it shares a grouped delete with other acks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ack_after_the_lease_moved_on_is_refused() {
    let (_dir, store, topology, bus) = short_lease_bus("moved").await;
    bus.publish(&[bus_suite::envelope("raw.shop")])
        .await
        .unwrap();
    let mut first = bus.consume(&bus_suite::raw(&topology), 1).await.unwrap();
    let stale = bus_suite::must_next(&mut first).await;
    let mut second = bus.consume(&bus_suite::raw(&topology), 1).await.unwrap();
    let current = bus_suite::must_next(&mut second).await;
    assert!(current.redelivered);
    // Both acks at once: they may share one grouped delete; only the lease holder's counts.
    let (stale_ack, current_ack) = tokio::join!(stale.ack(), current.ack());
    assert!(stale_ack.is_err(), "{stale_ack:?}");
    current_ack.unwrap();
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM bus_messages")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(left, 0);
    drop(first);
}

/// A message its consumers keep dying on is set aside after the delivery limit, and handed
/// over by `drain_dead_letters` with the queue it came from.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_limit_sets_messages_aside_for_draining() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bus.sqlite").display());
    let store = Store::connect(&url, 4, "full").await.unwrap();
    let mut topology = bus_suite::topology("limit");
    topology.delivery_limit = 2;
    let settings = EmbeddedSettings {
        poll_interval: Duration::from_millis(50),
        lease: Duration::from_secs(30),
    };
    let bus: Arc<dyn Bus> = Arc::new(EmbeddedBus::new(store.clone(), topology.clone(), settings));
    let env = bus_suite::envelope("raw.shop");
    bus.publish(std::slice::from_ref(&env)).await.unwrap();
    let queue = bus_suite::raw(&topology);
    let mut deliveries = 0;
    for _ in 0..4 {
        let mut c = bus.consume(&queue, 1).await.unwrap();
        if bus_suite::next_within(&mut c, Duration::from_millis(500))
            .await
            .is_some()
        {
            deliveries += 1;
        }
        drop(c); // the consumer dies holding it
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(deliveries, 2, "delivered up to the limit, then set aside");
    bus_suite::wait_depth(&bus, &topology.parking_queue, 1).await;
    let seen = std::sync::Mutex::new(Vec::new());
    let keep = |l: ordergate::bus::DeadLetter| -> futures_util::future::BoxFuture<'_, bool> {
        seen.lock().unwrap().push(l);
        Box::pin(async { true })
    };
    assert_eq!(bus.drain_dead_letters(10, &keep).await.unwrap(), 1);
    let seen = seen.into_inner().unwrap();
    assert_eq!(seen[0].envelope, env);
    assert_eq!(seen[0].queue.as_deref(), Some(queue.as_str()));
    assert!(
        seen[0].reason.contains("delivery limit"),
        "{}",
        seen[0].reason
    );
    assert_eq!(bus.depth(&topology.parking_queue).await.unwrap(), 0);
}

/// A consumer with deliveries in flight claims its free slots together, once a quarter of its
/// prefetch is free: a claim is a write transaction, and one per settled delivery would cost a
/// commit per message. With none in flight it claims at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn free_slots_are_claimed_together() {
    run(Backend::Sqlite, |bus, t| async move {
        let batch: Vec<_> = (0..12)
            .map(|_| bus_suite::envelope("order.received"))
            .collect();
        bus.publish(&batch).await.unwrap();
        let mut consumer = bus.consume(&bus_suite::orders(&t), 8).await.unwrap();
        let mut held = Vec::new();
        for _ in 0..8 {
            held.push(bus_suite::must_next(&mut consumer).await);
        }
        held.pop().unwrap().ack().await.unwrap();
        assert!(
            bus_suite::next_within(&mut consumer, Duration::from_millis(400))
                .await
                .is_none(),
            "one free slot of 8 with 7 in flight: no claim yet"
        );
        held.pop().unwrap().ack().await.unwrap();
        for _ in 0..2 {
            held.push(bus_suite::must_next(&mut consumer).await);
        }
        for d in held {
            d.ack().await.unwrap();
        }
        // None in flight: the rest at once.
        for _ in 0..2 {
            bus_suite::must_next(&mut consumer)
                .await
                .ack()
                .await
                .unwrap();
        }
    })
    .await;
}
