//! The cluster profile under broker trouble: every connection is closed twice while a thousand
//! documents flow (`rabbitmqctl close_all_connections`). The daemon reconnects by itself;
//! every order arrives, once. Its own test binary, because closing every connection on the
//! broker would disturb other tests running beside it.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failed unwrap is a failed test.

mod common;

use std::collections::{HashMap, HashSet};
use std::process::Command;
use std::time::Duration;

use common::{
    drain, drop_file, folder_connector, observe, shopify_order, wait_until, Profile, TestEnv,
};
use ordergate::app::Daemon;

fn close_all_connections() {
    let out = Command::new("rabbitmqctl")
        .args(["close_all_connections", "ordergate test: broker outage"])
        .output()
        .expect("rabbitmqctl is installed with RabbitMQ");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn connections_closed_under_load_lose_and_duplicate_nothing() {
    let env = TestEnv::new(Profile::Cluster).await;
    let inbox = env.inbox("outage");
    let cfg = env.config(
        &common::mappings_dir(),
        &folder_connector("outage", &inbox, "shopify"),
    );
    let daemon = Daemon::start(&cfg).await.unwrap();
    let mut observer = observe(&daemon.bus, &cfg, "observer", &["order.received"]).await;
    let store = daemon.store.clone();

    const N: u64 = 1_000;
    let writer = {
        let inbox = inbox.clone();
        std::thread::spawn(move || {
            for n in 0..N {
                drop_file(&inbox, &format!("o-{n:04}.json"), &shopify_order(n));
                if n % 100 == 0 {
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        })
    };
    // Close everything while documents are being taken in and normalized.
    wait_until(Duration::from_secs(60), "some orders", || async {
        store.order_count("outage").await.unwrap() >= 50
    })
    .await;
    tokio::task::spawn_blocking(close_all_connections)
        .await
        .unwrap();
    wait_until(
        Duration::from_secs(60),
        "more orders after the first outage",
        || async { store.order_count("outage").await.unwrap() >= 400 },
    )
    .await;
    tokio::task::spawn_blocking(close_all_connections)
        .await
        .unwrap();
    writer.join().unwrap();

    wait_until(Duration::from_secs(240), "every order", || async {
        store.order_count("outage").await.unwrap() >= N as i64
    })
    .await;
    wait_until(Duration::from_secs(60), "the outbox to empty", || async {
        store.outbox_pending().await.unwrap() == 0
    })
    .await;
    let events = drain(&mut observer, Duration::from_secs(5)).await;

    assert_eq!(
        store.order_count("outage").await.unwrap(),
        N as i64,
        "no order lost or doubled"
    );
    assert_eq!(store.raw_count("outage").await.unwrap(), N as i64);
    // A publish cut off by the close may be sent again (same event id): consumers dedupe on the
    // id. What must hold is one order.received event per order, none missing.
    let mut per_order: HashMap<String, HashSet<uuid::Uuid>> = HashMap::new();
    for e in &events {
        assert_eq!(e.kind, "order.received");
        per_order
            .entry(e.order_id.clone().unwrap())
            .or_default()
            .insert(e.id);
    }
    assert_eq!(
        per_order.len(),
        N as usize,
        "an order.received for every order"
    );
    assert!(
        per_order.values().all(|ids| ids.len() == 1),
        "no order was received twice"
    );
    let processed = std::fs::read_dir(inbox.join("processed")).unwrap().count();
    assert_eq!(processed, N as usize);
    daemon.stop().await;
}
