//! Warehouse connectors against their simulators over loopback: a ShipBob-shaped REST 3PL, a
//! Qimen-shaped WMS and a pick-list folder. One fulfilment order per key whatever happens to
//! the answers (a repeat, a lost answer), retry hints honoured, typed errors, cancels refused
//! once picking started; callbacks through the real daemon verified before anything is stored.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failed unwrap is a failed test.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{mappings_dir, wait_until, Profile, TestEnv};
use ordergate::app::Daemon;
use ordergate::config::{Config, WarehouseConfig};
use ordergate::outbound::warehouse::{
    build, fulfilment_key, ChangeOutcome, FulfilmentLine, FulfilmentRequest, FulfilmentStatus,
    ShipTo, Warehouse,
};
use ordergate::partner::signature::{sign_standard_webhooks, standard_webhooks_key};
use ordergate::partner::PartnerError;
use ordergate::sandbox::qimen::{self, QimenSandbox, QimenSettings};
use ordergate::sandbox::shipbob::{self, ShipbobSandbox, ShipbobSettings};
use ordergate::sandbox::warehouse::FaultRequest;
use rust_decimal::Decimal;
use tokio_util::sync::CancellationToken;

/// A `[[warehouses]]` section for the ShipBob simulator.
fn east_section(dir: &Path, base_url: &str, extra: &str) -> String {
    format!(
        r#"
[[warehouses]]
name = "east"
definition = "shipbob"
definitions = "{defs}"
base_url = "{base_url}"
department = "logistics"
request_timeout_ms = 2000
retry_base_ms = 50
retry_max_ms = 2000
params = {{ channel_id = "{channel}" }}
credentials = {{ access_token = "{token}", webhook_secret = "{whsec}" }}
{extra}
"#,
        defs = common::sim::warehouse_definitions(),
        channel = shipbob::CHANNEL_ID,
        token = common::sim::secret_file(dir, "east-token", shipbob::ACCESS_TOKEN),
        whsec = common::sim::secret_file(dir, "east-whsec", shipbob::WEBHOOK_SECRET),
    )
}

/// A `[[warehouses]]` section for the Qimen simulator.
fn asia_section(dir: &Path, base_url: &str, extra: &str) -> String {
    format!(
        r#"
[[warehouses]]
name = "asia"
definition = "qimen"
definitions = "{defs}"
base_url = "{base_url}"
request_timeout_ms = 2000
retry_base_ms = 50
retry_max_ms = 2000
params = {{ app_key = "{app_key}", customer_id = "{customer}", warehouse_code = "{code}" }}
credentials = {{ app_secret = "{secret}" }}
{extra}
"#,
        defs = common::sim::warehouse_definitions(),
        app_key = qimen::APP_KEY,
        customer = qimen::CUSTOMER_ID,
        code = qimen::WAREHOUSE_CODE,
        secret = common::sim::secret_file(dir, "asia-secret", qimen::APP_SECRET),
    )
}

fn warehouse_config(section: &str) -> WarehouseConfig {
    let cfg = Config::from_toml(section, "test", Vec::new()).unwrap();
    cfg.warehouses.into_iter().next().unwrap()
}

fn warehouse(section: &str) -> Arc<dyn Warehouse> {
    build::build(&warehouse_config(section), &CancellationToken::new()).unwrap()
}

fn request(order: &str, warehouse: &str) -> FulfilmentRequest {
    FulfilmentRequest {
        key: fulfilment_key(order, warehouse),
        order_id: order.into(),
        order_number: format!("#{order}"),
        ship_to: ShipTo {
            name: "Zoë Brontë".into(),
            lines: vec!["12 Rue de l'Église".into()],
            city: "Lyon".into(),
            postal_code: Some("69002".into()),
            country: "FR".into(),
            ..ShipTo::default()
        },
        lines: vec![
            FulfilmentLine {
                line_no: 1,
                sku: "MUG-01".into(),
                name: "Mug".into(),
                quantity: Decimal::from(2),
                packing_instruction: Some("FRAGILE: wrap each in bubble film".into()),
            },
            FulfilmentLine {
                line_no: 2,
                sku: "TEE-02".into(),
                name: "T-shirt".into(),
                quantity: Decimal::ONE,
                packing_instruction: None,
            },
        ],
        shipping_method: None,
        requested_date: None,
    }
}

async fn shipbob_sim(settings: ShipbobSettings) -> ShipbobSandbox {
    ShipbobSandbox::start("127.0.0.1:0", settings)
        .await
        .unwrap()
}

#[tokio::test]
async fn rest_creates_once_even_when_repeated_or_its_answer_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let sim = shipbob_sim(ShipbobSettings::default()).await;
    let east = warehouse(&east_section(dir.path(), &sim.base_url(), ""));

    let first = request("o-1", "east");
    let created = east.create(&first).await.unwrap();
    // The same create again (a redelivered message): ShipBob refuses the reference, the
    // existing order is answered.
    let again = east.create(&first).await.unwrap();
    assert_eq!(created, again);
    assert_eq!(
        sim.state
            .control
            .duplicates_refused
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    // The packing instruction travels with the order.
    let id: u64 = created.remote_id.parse().unwrap();
    let body = sim.state.body_of(id).unwrap();
    assert!(body["gift_message"].as_str().unwrap().contains("FRAGILE"));
    assert_eq!(body["reference_id"], first.key.as_str());

    // The answer of a create is lost after ShipBob committed it: the retry finds the order.
    sim.state.control.set_faults(FaultRequest {
        drop_next_create: 1,
        ..Default::default()
    });
    let second = request("o-2", "east");
    let found = east.create(&second).await.unwrap();
    assert_eq!(
        sim.state.ids_of(&second.key),
        vec![found.remote_id.parse::<u64>().unwrap()]
    );
    assert_eq!(east.find(&second.key).await.unwrap(), Some(found));
    assert_eq!(east.find("og-unknown").await.unwrap(), None);

    let created = sim.state.created();
    assert_eq!(created.get(&first.key), Some(&1));
    assert_eq!(created.get(&second.key), Some(&1));
    assert_eq!(sim.state.order_count(), 2);
    sim.stop().await;
}

#[tokio::test]
async fn rest_retry_hints_server_errors_outages_and_bad_bodies() {
    let dir = tempfile::tempdir().unwrap();
    let sim = shipbob_sim(ShipbobSettings::default()).await;
    let east = warehouse(&east_section(
        dir.path(),
        &sim.base_url(),
        "max_retries = 2",
    ));
    let skus = vec!["MUG-01".to_string()];
    let mut stock = std::collections::BTreeMap::new();
    stock.insert("MUG-01".to_string(), Decimal::from(7));
    sim.state.control.set_stock(stock);

    // A 429 with x-retry-after: 1 is waited out (longer than the 50 ms backoff), then served.
    sim.state.control.set_faults(FaultRequest {
        throttle_next: 1,
        retry_after_secs: 1.0,
        ..Default::default()
    });
    let started = Instant::now();
    let got = east.stock(&skus).await.unwrap();
    assert_eq!(got["MUG-01"], Decimal::from(7));
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "{:?}",
        started.elapsed()
    );

    // Without retries the caller gets the hint and a retriable error.
    let once = warehouse(&east_section(
        dir.path(),
        &sim.base_url(),
        "max_retries = 0",
    ));
    sim.state.control.set_faults(FaultRequest {
        throttle_next: 1,
        retry_after_secs: 3.0,
        ..Default::default()
    });
    let e = once.stock(&skus).await.unwrap_err();
    assert!(e.is_retriable(), "{e}");
    assert_eq!(e.retry_after(), Some(Duration::from_secs(3)));
    sim.state.control.set_faults(FaultRequest {
        fail_next: 1,
        ..Default::default()
    });
    let e = once.stock(&skus).await.unwrap_err();
    assert!(
        matches!(e, PartnerError::Partner { status: 500, .. }) && e.is_retriable(),
        "{e}"
    );

    // Down, then up again.
    sim.state.control.set_outage(true);
    let e = once.stock(&skus).await.unwrap_err();
    assert!(
        matches!(e, PartnerError::Partner { status: 503, .. }) && e.is_retriable(),
        "{e}"
    );
    sim.state.control.set_outage(false);
    assert!(once.stock(&skus).await.is_ok());

    // A 200 whose body is not what the definition says: a typed decode error, not retried.
    sim.state.control.set_faults(FaultRequest {
        garble_next: 1,
        ..Default::default()
    });
    let e = east.stock(&skus).await.unwrap_err();
    assert!(
        matches!(e, PartnerError::Decode { .. }) && !e.is_retriable(),
        "{e}"
    );

    // A create refused with 429 is sent again (it was not carried out): one order.
    sim.state.control.set_faults(FaultRequest {
        throttle_next: 1,
        retry_after_secs: 0.1,
        ..Default::default()
    });
    let r = request("o-9", "east");
    east.create(&r).await.unwrap();
    assert_eq!(sim.state.created().get(&r.key), Some(&1));
    sim.stop().await;
}

#[tokio::test]
async fn rest_cancel_and_amend_are_refused_once_picking_started() {
    let dir = tempfile::tempdir().unwrap();
    let sim = shipbob_sim(ShipbobSettings::default()).await;
    let east = warehouse(&east_section(dir.path(), &sim.base_url(), ""));
    let picked = east.create(&request("o-1", "east")).await.unwrap();
    let free = east.create(&request("o-2", "east")).await.unwrap();
    assert_eq!(
        east.status(&picked).await.unwrap(),
        FulfilmentStatus::Accepted
    );
    assert!(sim.state.pick(picked.remote_id.parse().unwrap()));
    assert_eq!(
        east.status(&picked).await.unwrap(),
        FulfilmentStatus::InProgress
    );

    let mut changed = request("o-1", "east");
    changed.lines.pop();
    assert!(matches!(
        east.amend(&picked, &changed).await.unwrap(),
        ChangeOutcome::Refused { .. }
    ));
    match east.cancel(&picked, "customer cancelled").await.unwrap() {
        ChangeOutcome::Refused { reason } => {
            assert!(reason.contains("already being processed"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    let mut changed = request("o-2", "east");
    changed.lines.pop();
    assert_eq!(
        east.amend(&free, &changed).await.unwrap(),
        ChangeOutcome::Done
    );
    assert_eq!(
        east.cancel(&free, "customer cancelled").await.unwrap(),
        ChangeOutcome::Done
    );
    assert_eq!(
        east.status(&free).await.unwrap(),
        FulfilmentStatus::Cancelled
    );
    sim.stop().await;
}

#[tokio::test]
async fn qimen_create_is_looked_up_so_the_wms_never_gets_two() {
    let dir = tempfile::tempdir().unwrap();
    let sim = QimenSandbox::start("127.0.0.1:0", QimenSettings::default())
        .await
        .unwrap();
    let asia = warehouse(&asia_section(dir.path(), &sim.base_url(), ""));
    let first = request("o-1", "asia");
    let created = asia.create(&first).await.unwrap();
    // The WMS makes a second order for a repeated create; the connector asks first.
    assert_eq!(asia.create(&first).await.unwrap(), created);
    // A lost answer: the WMS created it, the retry finds it.
    sim.state.control.set_faults(FaultRequest {
        drop_next_create: 1,
        ..Default::default()
    });
    let second = request("o-2", "asia");
    let found = asia.create(&second).await.unwrap();
    assert_eq!(sim.state.ids_of(&second.key), vec![found.remote_id.clone()]);
    let counts = sim.state.created();
    assert_eq!(counts.get(&first.key), Some(&1));
    assert_eq!(counts.get(&second.key), Some(&1));
    assert_eq!(sim.state.order_count(), 2);

    // Stock through the inventory method; a garbled answer is a typed decode error.
    let mut stock = std::collections::BTreeMap::new();
    stock.insert("MUG-01".to_string(), Decimal::from(3));
    sim.state.control.set_stock(stock);
    let got = asia.stock(&["MUG-01".into(), "NONE".into()]).await.unwrap();
    assert_eq!(got["MUG-01"], Decimal::from(3));
    assert_eq!(got.len(), 2);
    sim.state.control.set_faults(FaultRequest {
        garble_next: 1,
        ..Default::default()
    });
    let e = asia.stock(&["MUG-01".into()]).await.unwrap_err();
    assert!(matches!(e, PartnerError::Decode { .. }), "{e}");
    sim.stop().await;
}

#[tokio::test]
async fn qimen_cancel_fails_once_picking_started() {
    let dir = tempfile::tempdir().unwrap();
    let sim = QimenSandbox::start("127.0.0.1:0", QimenSettings::default())
        .await
        .unwrap();
    let asia = warehouse(&asia_section(dir.path(), &sim.base_url(), ""));
    let picked = asia.create(&request("o-1", "asia")).await.unwrap();
    let free = asia.create(&request("o-2", "asia")).await.unwrap();
    assert!(sim.state.pick(&picked.remote_id));
    assert_eq!(
        asia.status(&picked).await.unwrap(),
        FulfilmentStatus::InProgress
    );
    match asia.cancel(&picked, "changed mind").await.unwrap() {
        ChangeOutcome::Refused { reason } => assert!(reason.starts_with("CANCEL_FAIL"), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        asia.cancel(&free, "changed mind").await.unwrap(),
        ChangeOutcome::Done
    );
    assert_eq!(
        asia.status(&free).await.unwrap(),
        FulfilmentStatus::Cancelled
    );
    // A cancelled order is not found by its key any more; a new create makes a new one.
    assert_eq!(asia.find(&free.key).await.unwrap(), None);
    sim.stop().await;
}

#[tokio::test]
async fn pick_list_written_once_on_retry() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("pick");
    let section = format!(
        "[[warehouses]]\nname = \"local\"\ndefinition = \"pick-list\"\ndefinitions = \"{}\"\nfolder = \"{}\"\n",
        common::sim::warehouse_definitions(),
        folder.display()
    );
    let local = warehouse(&section);
    let r = request("o-1", "local");
    let a = local.create(&r).await.unwrap();
    let b = local.create(&r).await.unwrap();
    assert_eq!(a, b);
    // What the warehouse sees: one pick list (dot files and folders are ordergate's).
    let files: Vec<_> = std::fs::read_dir(&folder)
        .unwrap()
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.file_name())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let path = folder.join(format!("{}.csv", r.key));
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("FRAGILE: wrap each in bubble film"));
    assert_eq!(text.lines().count(), 3);
    // The warehouse takes it; a retry after a crash (the answer never recorded) looks it up
    // first and finds it: no second pick list.
    std::fs::rename(&path, dir.path().join("taken.csv")).unwrap();
    assert_eq!(local.find(&r.key).await.unwrap(), Some(a.clone()));
    std::fs::rename(dir.path().join("taken.csv"), &path).unwrap();
    assert_eq!(
        local.stock(&["X".into()]).await.unwrap()["X"],
        Decimal::from(1_000_000)
    );
    assert_eq!(local.cancel(&a, "x").await.unwrap(), ChangeOutcome::Done);
    assert!(matches!(
        local.cancel(&a, "x").await.unwrap(),
        ChangeOutcome::Refused { .. }
    ));
}

/// A minimal HTTP/1.1 POST: status and body.
async fn post(url: &str, headers: &[(&str, String)], body: &[u8]) -> (u16, String) {
    let client = reqwest::Client::new();
    let mut req = client.post(url).body(body.to_vec());
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

async fn callbacks_through_the_daemon(profile: Profile) {
    let env = TestEnv::new(profile).await;
    // The simulators need the daemon's address and the daemon theirs: take a port first.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let hooks = format!("http://127.0.0.1:{port}/hooks/warehouse");
    let sb = shipbob_sim(ShipbobSettings {
        callback_url: Some(format!("{hooks}/east")),
        ..Default::default()
    })
    .await;
    let qm = QimenSandbox::start(
        "127.0.0.1:0",
        QimenSettings {
            callback_url: Some(format!("{hooks}/asia")),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let confirmations = env.dir.path().join("shipped");
    std::fs::create_dir_all(&confirmations).unwrap();
    let extra = format!(
        "{}{}\n[[warehouses]]\nname = \"local\"\ndefinition = \"pick-list\"\ndefinitions = \"{}\"\nfolder = \"{}\"\nconfirmations = \"{}\"\npoll_interval_ms = 50\n",
        east_section(env.dir.path(), &sb.base_url(), ""),
        asia_section(env.dir.path(), &qm.base_url(), ""),
        common::sim::warehouse_definitions(),
        env.dir.path().join("pick").display(),
        confirmations.display(),
    );
    let mut cfg = env.config(&mappings_dir(), &extra);
    cfg.http.listen = format!("127.0.0.1:{port}");
    let daemon = Daemon::start(&cfg).await.unwrap();
    let store = daemon.store.clone();
    let mut events = common::observe(&daemon.bus, &cfg, "wh", &["warehouse.*"]).await;

    // Forged ShipBob callbacks: wrong key, no signature, stale timestamp → 401, nothing stored.
    let body = br#"{"topic":"order.shipped","data":{"id":1,"reference_id":"og-x","status":"Fulfilled","shipments":[]}}"#;
    let now = chrono::Utc::now().timestamp();
    let forged_key = standard_webhooks_key("whsec_Zm9yZ2VkLWtleQ==").unwrap();
    let good_key = standard_webhooks_key(shipbob::WEBHOOK_SECRET).unwrap();
    for (key, ts) in [(&forged_key, now), (&good_key, now - 3600)] {
        let headers = [
            ("webhook-id", "msg_forged".to_string()),
            ("webhook-timestamp", ts.to_string()),
            (
                "webhook-signature",
                sign_standard_webhooks(key, "msg_forged", ts, body),
            ),
        ];
        let (status, _) = post(&format!("{hooks}/east"), &headers, body).await;
        assert_eq!(status, 401);
    }
    let (status, _) = post(&format!("{hooks}/east"), &[], body).await;
    assert_eq!(status, 401);
    // A forged Qimen confirm: the answer is Qimen's failure shape.
    let (status, answer) = post(
        &format!("{hooks}/asia?method=taobao.qimen.deliveryorder.confirm&app_key=k&sign=00"),
        &[],
        b"<request/>",
    )
    .await;
    assert_eq!(status, 401);
    assert!(answer.contains("<flag>failure</flag>"), "{answer}");
    assert_eq!(store.raw_count("east").await.unwrap(), 0);
    assert_eq!(store.raw_count("asia").await.unwrap(), 0);

    // Valid callbacks: the simulators ship, their signed callbacks are stored once each.
    let east = build::build(&cfg.warehouses[0], &CancellationToken::new()).unwrap();
    let asia = build::build(&cfg.warehouses[1], &CancellationToken::new()).unwrap();
    let e = east.create(&request("o-1", "east")).await.unwrap();
    let a = asia.create(&request("o-1", "asia")).await.unwrap();
    assert!(sb.state.ship(e.remote_id.parse().unwrap()));
    assert!(qm.state.ship(&a.remote_id));
    wait_until(Duration::from_secs(20), "both callbacks stored", || {
        let store = store.clone();
        async move {
            store.raw_count("east").await.unwrap() == 1
                && store.raw_count("asia").await.unwrap() == 1
        }
    })
    .await;
    // The same callback again (a resend): still one document.
    let resend = br#"{"topic":"order.shipped","data":{"id":5,"reference_id":"og-y","status":"Fulfilled","shipments":[{"tracking":{"carrier":"UPS","tracking_number":"1Z"}}]}}"#;
    for _ in 0..2 {
        let ts = chrono::Utc::now().timestamp();
        let headers = [
            ("webhook-id", "msg_again".to_string()),
            ("webhook-timestamp", ts.to_string()),
            (
                "webhook-signature",
                sign_standard_webhooks(&good_key, "msg_again", ts, resend),
            ),
        ];
        let (status, _) = post(&format!("{hooks}/east"), &headers, resend).await;
        assert_eq!(status, 200);
    }
    assert_eq!(store.raw_count("east").await.unwrap(), 2);

    // A pick-list confirmation file is read back as a warehouse document.
    let local = build::build(&cfg.warehouses[2], &CancellationToken::new()).unwrap();
    let r = request("o-1", "local");
    local.create(&r).await.unwrap();
    common::drop_file(
        &confirmations,
        "shipped-1.csv",
        format!(
            "key,carrier,tracking_number,sku,quantity\n{},DHL,JD0001,MUG-01,2\n",
            r.key
        )
        .as_bytes(),
    );
    wait_until(Duration::from_secs(20), "the confirmation stored", || {
        let store = store.clone();
        async move { store.raw_count("local").await.unwrap() == 1 }
    })
    .await;
    wait_until(Duration::from_secs(10), "the confirmation moved", || {
        let done = confirmations.join("processed/shipped-1.csv");
        async move { done.exists() }
    })
    .await;

    // Every stored callback was announced (a resend under the same event id, which consumers
    // drop), and decodes as its kind says.
    let seen = common::drain(&mut events, Duration::from_millis(1500)).await;
    let distinct: std::collections::BTreeMap<uuid::Uuid, &ordergate::model::Envelope> =
        seen.iter().map(|e| (e.id, e)).collect();
    let mut kinds: Vec<&str> = distinct.values().map(|e| e.kind.as_str()).collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "warehouse.asia",
            "warehouse.east",
            "warehouse.east",
            "warehouse.local"
        ]
    );
    let mut tracking = Vec::new();
    for e in distinct.values() {
        let raw: ordergate::model::RawRef = serde_json::from_value(e.payload.clone()).unwrap();
        let doc = store.raw(&raw.raw_id).await.unwrap().unwrap();
        let kind = match raw.format.as_str() {
            "rest" => ordergate::outbound::warehouse::WarehouseKind::Rest,
            "qimen" => ordergate::outbound::warehouse::WarehouseKind::Qimen,
            other => {
                assert_eq!(other, "pick-list");
                ordergate::outbound::warehouse::WarehouseKind::PickList
            }
        };
        for event in ordergate::outbound::warehouse::decode(kind, &doc.content).unwrap() {
            if let ordergate::outbound::warehouse::WarehouseEvent::Shipped { parcels, .. } = event {
                tracking.extend(parcels.into_iter().map(|p| p.tracking_number));
            }
        }
    }
    tracking.sort();
    assert!(tracking.contains(&"JD0001".to_string()), "{tracking:?}");
    assert!(
        tracking.iter().any(|t| t.starts_with("1ZSB")),
        "{tracking:?}"
    );
    assert!(tracking.iter().any(|t| t.starts_with("SF")), "{tracking:?}");
    assert_eq!(
        sb.state
            .control
            .callbacks_delivered
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    assert_eq!(
        qm.state
            .control
            .callbacks_delivered
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );

    daemon.stop().await;
    sb.stop().await;
    qm.stop().await;
}

#[tokio::test]
async fn callbacks_are_verified_before_they_are_stored_standalone() {
    callbacks_through_the_daemon(Profile::Standalone).await;
}

#[tokio::test]
async fn callbacks_are_verified_before_they_are_stored_cluster() {
    callbacks_through_the_daemon(Profile::Cluster).await;
}

#[test]
fn check_validates_warehouses() {
    // A literal credential is refused by the configuration itself.
    let e = Config::from_toml(
        "[[warehouses]]\nname = \"east\"\ndefinition = \"shipbob\"\ncredentials = { access_token = \"shpat\" }\n",
        "t",
        Vec::new(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("must be a reference"), "{e}");
}
