//! Operations (issue 15): the KPIs from the event log on a hand-computed scenario (both
//! profiles), the reports on the command line and over the API, the dashboard in a real
//! Chromium, and the mapping shadow run.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failed unwrap is a failed test.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::web::{cookie_of, csrf_of, no_redirects, sign_in};
use common::{Profile, TestEnv};
use ordergate::config::kpi::KpiConfig;
use ordergate::kpi::{self, Dimension, Kpi, KpiQuery, Period};
use ordergate::model::Trigger;
use ordergate::store::{NewException, NewRawDocument, Severity, Store};
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------------
// The scenario: 16 orders received on 2, 3 and 4 November 2026 (08:00 UTC), each with a known
// outcome. SLA: fulfilment requested within 24 h.

/// One order of the scenario: hours after receipt of each step, the promised date, and what
/// went wrong.
struct Case {
    ext: &'static str,
    channel: &'static str,
    connector: &'static str,
    day: i64,
    total: &'static str,
    currency: &'static str,
    /// Final state when it never got to fulfilment.
    stopped: Option<&'static str>,
    requested_h: Option<i64>,
    shipped_h: Option<i64>,
    delivered_h: Option<i64>,
    promised: Option<&'static str>,
    corrected: bool,
    /// Changed after approval (`Some(true)`) or before it (`Some(false)`).
    changed_after_approval: Option<bool>,
    returned: bool,
    /// An exception of this kind on the order.
    exception: Option<&'static str>,
    rating: Option<i64>,
}

const fn case(ext: &'static str, channel: &'static str, connector: &'static str, day: i64) -> Case {
    Case {
        ext,
        channel,
        connector,
        day,
        total: "100.00",
        currency: "EUR",
        stopped: None,
        requested_h: None,
        shipped_h: None,
        delivered_h: None,
        promised: None,
        corrected: false,
        changed_after_approval: None,
        returned: false,
        exception: None,
        rating: None,
    }
}

fn scenario() -> Vec<Case> {
    let web = |ext, day| case(ext, "web", "shop", day);
    let mkt = |ext, day| Case {
        total: "50.50",
        ..case(ext, "marketplace", "amz", day)
    };
    let mail = |ext, day| Case {
        total: "20.00",
        ..case(ext, "email", "mail", day)
    };
    vec![
        // All on time, rated 5.
        Case {
            requested_h: Some(2),
            shipped_h: Some(20),
            delivered_h: Some(50),
            promised: Some("2026-11-05"),
            rating: Some(5),
            ..web("w1", 0)
        },
        // Processing late (30 h); rated 4.
        Case {
            requested_h: Some(30),
            shipped_h: Some(40),
            delivered_h: Some(60),
            promised: Some("2026-11-05"),
            rating: Some(4),
            ..web("w2", 0)
        },
        // Shipped (5 Nov 16:00) and delivered after the promised 4 Nov; rated 2.
        Case {
            requested_h: Some(3),
            shipped_h: Some(80),
            delivered_h: Some(100),
            promised: Some("2026-11-04"),
            rating: Some(2),
            ..web("w3", 0)
        },
        // Never delivered though promised by 10 Nov; corrected in review.
        Case {
            requested_h: Some(1),
            shipped_h: Some(10),
            promised: Some("2026-11-10"),
            corrected: true,
            ..web("w4", 1)
        },
        // No promised date; changed after approval; rated 3.
        Case {
            requested_h: Some(5),
            shipped_h: Some(12),
            delivered_h: Some(30),
            changed_after_approval: Some(true),
            rating: Some(3),
            ..web("w5", 1)
        },
        // Rejected in review.
        Case {
            stopped: Some("rejected"),
            ..web("w6", 1)
        },
        // On time; returned; rated 1.
        Case {
            requested_h: Some(1),
            shipped_h: Some(5),
            delivered_h: Some(24),
            promised: Some("2026-11-03"),
            returned: true,
            rating: Some(1),
            ..mkt("m1", 0)
        },
        // Processing late (25 h); delivered 4 Nov 08:00, promised 3 Nov.
        Case {
            requested_h: Some(25),
            shipped_h: Some(26),
            delivered_h: Some(48),
            promised: Some("2026-11-03"),
            ..mkt("m2", 0)
        },
        // Stuck in approved since 3 Nov (SLA passed), promised 5 Nov: fails processing, shipping,
        // delivery; a customer's complaint.
        Case {
            stopped: Some("approved"),
            promised: Some("2026-11-05"),
            exception: Some("complaint"),
            ..mkt("m3", 1)
        },
        // All on time; rated 5.
        Case {
            requested_h: Some(4),
            shipped_h: Some(6),
            delivered_h: Some(20),
            promised: Some("2026-11-06"),
            rating: Some(5),
            ..mkt("m4", 2)
        },
        // Requested at 23 h (on time) but never shipped, promised 30 Nov.
        Case {
            requested_h: Some(23),
            promised: Some("2026-11-30"),
            ..mkt("m5", 2)
        },
        // Corrected in review; on time; rated 4.
        Case {
            requested_h: Some(10),
            shipped_h: Some(30),
            delivered_h: Some(70),
            promised: Some("2026-11-06"),
            corrected: true,
            rating: Some(4),
            ..mail("e1", 0)
        },
        // Cancelled before fulfilment (promised 4 Nov: not counted against shipping).
        Case {
            stopped: Some("cancelled"),
            promised: Some("2026-11-04"),
            ..mail("e2", 1)
        },
        // Processing late (48 h); shipped and delivered by 7 Nov; changed before approval.
        Case {
            requested_h: Some(48),
            shipped_h: Some(50),
            delivered_h: Some(72),
            promised: Some("2026-11-07"),
            changed_after_approval: Some(false),
            ..mail("e3", 2)
        },
        // On time; a stock shortage (not a complaint); rated 5.
        Case {
            requested_h: Some(2),
            shipped_h: Some(3),
            delivered_h: Some(4),
            promised: Some("2026-11-04"),
            exception: Some("stock_shortage"),
            rating: Some(5),
            ..mail("e4", 2)
        },
        // Promised far ahead, not shipped yet: not counted for shipping or delivery. In USD.
        Case {
            requested_h: Some(1),
            promised: Some("2099-01-01"),
            total: "99.99",
            currency: "USD",
            ..mail("e5", 2)
        },
    ]
}

const HOUR: i64 = 3_600_000;

fn received_ms(day: i64) -> i64 {
    DateTime::parse_from_rfc3339("2026-11-02T08:00:00Z")
        .unwrap()
        .timestamp_millis()
        + day * 24 * HOUR
}

fn canonical(c: &Case) -> Value {
    json!({
        "source": {"connector": c.connector, "format": "manual", "channel": c.channel,
                   "external_id": c.ext, "status": "open"},
        "placed_at": "2026-11-02T07:00:00Z",
        "currency": c.currency,
        "customer": {"name": "Test Buyer", "email": null, "phone": null},
        "ship_to": null,
        "lines": [{"line_ref": "1", "sku": "SKU-1", "name": "Thing", "quantity": 1, "unit_price": c.total}],
        "total": c.total,
        "requested_delivery": c.promised,
    })
}

/// Writes an event as the pipeline would have, at a chosen time.
async fn event(
    store: &Store,
    order: &str,
    at: i64,
    kind: &str,
    to: Option<&str>,
    data: Option<Value>,
) {
    sqlx::query(
        "INSERT INTO order_events (order_id, at, kind, from_state, to_state, cause, data) \
         VALUES ($1, $2, $3, NULL, $4, 'test', $5)",
    )
    .bind(order)
    .bind(at)
    .bind(kind)
    .bind(to)
    .bind(data.map(|d| d.to_string()))
    .execute(store.pool())
    .await
    .unwrap();
}

/// Records a customer's rating of an order, as the notices helper does.
async fn rated(tx: &mut ordergate::store::Tx, order: &str, rating: i64) {
    Store::append_event(
        tx,
        order,
        kpi::FEEDBACK_RECEIVED,
        None,
        "feedback:test",
        Some(&json!({ "rating": rating })),
    )
    .await
    .unwrap();
}

/// Stores the scenario's orders with their event logs; returns external id → order id.
async fn load_scenario(store: &Store) -> std::collections::HashMap<String, String> {
    let mut ids = std::collections::HashMap::new();
    for c in scenario() {
        let mut order: ordergate::model::CanonicalOrder =
            serde_json::from_value(canonical(&c)).unwrap();
        let mut tx = store.begin().await.unwrap();
        let id = Store::upsert_order(&mut tx, &mut order, None)
            .await
            .unwrap()
            .order_id()
            .to_string();
        tx.commit().await.unwrap();
        let r = received_ms(c.day);
        event(store, &id, r, "received", Some("received"), None).await;
        match c.stopped {
            Some("rejected") => event(store, &id, r + HOUR, "reject", Some("rejected"), None).await,
            Some("cancelled") => {
                event(store, &id, r + HOUR, "approve", Some("approved"), None).await;
                event(store, &id, r + 2 * HOUR, "cancel", Some("cancelled"), None).await;
            }
            _ => {
                if c.changed_after_approval == Some(false) {
                    event(
                        store,
                        &id,
                        r + HOUR / 10,
                        "changed",
                        None,
                        Some(json!({"fields": ["quantity"]})),
                    )
                    .await;
                }
                event(store, &id, r + HOUR / 2, "approve", Some("approved"), None).await;
                if c.changed_after_approval == Some(true) {
                    event(
                        store,
                        &id,
                        r + HOUR,
                        "changed",
                        None,
                        Some(json!({"fields": ["quantity"]})),
                    )
                    .await;
                }
            }
        }
        let mut state = c.stopped.unwrap_or("approved").to_string();
        if c.corrected {
            event(
                store,
                &id,
                r + HOUR / 4,
                "corrected",
                None,
                Some(json!({"fields": ["ship_to"]})),
            )
            .await;
        }
        if let Some(h) = c.requested_h {
            event(
                store,
                &id,
                r + h * HOUR,
                "request_fulfilment",
                Some("fulfilment_requested"),
                None,
            )
            .await;
            state = "fulfilment_requested".into();
        }
        if let Some(h) = c.shipped_h {
            event(store, &id, r + h * HOUR, "ship", Some("shipped"), None).await;
            state = "shipped".into();
        }
        if let Some(h) = c.delivered_h {
            event(store, &id, r + h * HOUR, "deliver", Some("delivered"), None).await;
            state = "delivered".into();
        }
        if c.returned {
            event(
                store,
                &id,
                r + 200 * HOUR,
                "request_return",
                Some("return_requested"),
                None,
            )
            .await;
            state = "return_requested".into();
        }
        sqlx::query("UPDATE orders SET state = $1 WHERE id = $2")
            .bind(&state)
            .bind(&id)
            .execute(store.pool())
            .await
            .unwrap();
        let mut tx = store.begin().await.unwrap();
        if let Some(kind) = c.exception {
            Store::insert_exception(
                &mut tx,
                &NewException {
                    kind,
                    severity: Severity::parse("medium"),
                    order_id: Some(&id),
                    raw_id: None,
                    message_id: None,
                    stage: None,
                    connector: None,
                    department: "customer_service",
                    due_at: None,
                    reason: "test exception",
                },
            )
            .await
            .unwrap();
        }
        if let Some(rating) = c.rating {
            // As the notices helper records a customer's rating.
            rated(&mut tx, &id, rating).await;
        }
        tx.commit().await.unwrap();
        ids.insert(c.ext.to_string(), id);
    }
    // Two fulfilments, for the warehouse cut.
    for (ext, wh) in [("w1", "east"), ("e1", "west")] {
        sqlx::query(
            "INSERT INTO fulfilments (fkey, order_id, warehouse, remote_id, status, lines, created_at, updated_at) \
             VALUES ($1, $2, $3, NULL, 'requested', '[1]', 1, 1)",
        )
        .bind(format!("f-{ext}"))
        .bind(&ids[ext])
        .bind(wh)
        .execute(store.pool())
        .await
        .unwrap();
    }
    ids
}

fn november(period: Period, by: Option<Dimension>) -> KpiQuery {
    KpiQuery {
        from: kpi::parse_time("2026-11-01").unwrap(),
        to: kpi::parse_time("2026-12-01").unwrap(),
        period,
        by,
        now: Utc::now(),
    }
}

/// (met, counted) of each rate: processing, shipping, delivery, accuracy, satisfaction.
type Rates = [(i64, i64); 5];

fn rates(row: &kpi::KpiRow) -> Rates {
    Kpi::ALL.map(|k| (row.rate(k).met, row.rate(k).counted))
}

async fn failing(
    store: &Store,
    cfg: &KpiConfig,
    ids: &std::collections::HashMap<String, String>,
    rate: Kpi,
    q: &KpiQuery,
    group: Option<&str>,
) -> Vec<String> {
    let back: std::collections::HashMap<&String, &String> =
        ids.iter().map(|(k, v)| (v, k)).collect();
    let mut got: Vec<String> = kpi::failing_orders(store, cfg, q, rate, group, 100)
        .await
        .unwrap()
        .iter()
        .map(|o| back[&o.order_id].to_string())
        .collect();
    got.sort();
    got
}

async fn kpi_scenario(profile: Profile) {
    let env = TestEnv::new(profile).await;
    let store = Store::connect(&env.store_url(), 4, "normal").await.unwrap();
    let ids = load_scenario(&store).await;
    let cfg = KpiConfig::default();
    assert_eq!(cfg.processing_sla_hours, 24.0);

    // The month, whole: figures counted by hand from the scenario's comments.
    let r = kpi::report(&store, &cfg, &november(Period::Month, None))
        .await
        .unwrap();
    assert_eq!(r.rows.len(), 1);
    let nov = &r.rows[0];
    assert_eq!(nov.period, "2026-11");
    assert_eq!(nov.orders, 16);
    assert_eq!(rates(nov), [(10, 14), (9, 12), (7, 12), (11, 16), (5, 8)]);
    assert_eq!(nov.processing.rate, Some(10.0 / 14.0));
    let sales: Vec<(Option<&str>, String)> = nov
        .sales
        .iter()
        .map(|s| (s.currency.as_deref(), s.amount.to_string()))
        .collect();
    assert_eq!(
        sales,
        [
            (Some("EUR"), "932.50".to_string()),
            (Some("USD"), "99.99".to_string())
        ]
    );
    assert_eq!(r.total.orders, 16);

    // Each rate's drill-down lists exactly the orders that failed it.
    let q = november(Period::Month, None);
    assert_eq!(
        failing(&store, &cfg, &ids, Kpi::Processing, &q, None).await,
        ["e3", "m2", "m3", "w2"]
    );
    assert_eq!(
        failing(&store, &cfg, &ids, Kpi::Shipping, &q, None).await,
        ["m3", "m5", "w3"]
    );
    assert_eq!(
        failing(&store, &cfg, &ids, Kpi::Delivery, &q, None).await,
        ["m2", "m3", "m5", "w3", "w4"]
    );
    assert_eq!(
        failing(&store, &cfg, &ids, Kpi::Accuracy, &q, None).await,
        ["e1", "m1", "m3", "w4", "w5"]
    );
    assert_eq!(
        failing(&store, &cfg, &ids, Kpi::Satisfaction, &q, None).await,
        ["m1", "w3", "w5"]
    );

    // By channel.
    let r = kpi::report(
        &store,
        &cfg,
        &november(Period::Month, Some(Dimension::Channel)),
    )
    .await
    .unwrap();
    let by: Vec<(&str, i64, Rates)> = r
        .rows
        .iter()
        .map(|x| (x.group.as_deref().unwrap(), x.orders, rates(x)))
        .collect();
    assert_eq!(
        by,
        [
            ("email", 5, [(3, 4), (3, 3), (3, 3), (4, 5), (2, 2)]),
            ("marketplace", 5, [(3, 5), (3, 5), (2, 5), (3, 5), (1, 2)]),
            ("web", 6, [(4, 5), (3, 4), (2, 4), (4, 6), (2, 4)]),
        ]
    );
    assert_eq!(
        rates(&r.total),
        [(10, 14), (9, 12), (7, 12), (11, 16), (5, 8)]
    );
    let q = november(Period::Month, Some(Dimension::Channel));
    assert_eq!(
        failing(&store, &cfg, &ids, Kpi::Delivery, &q, Some("web")).await,
        ["w3", "w4"]
    );

    // By day: 2 Nov has w1-w3, m1, m2, e1; 3 Nov w4-w6, m3, e2; 4 Nov m4, m5, e3-e5.
    let r = kpi::report(&store, &cfg, &november(Period::Day, None))
        .await
        .unwrap();
    let days: Vec<(&str, i64)> = r
        .rows
        .iter()
        .map(|x| (x.period.as_str(), x.orders))
        .collect();
    assert_eq!(
        days,
        [("2026-11-02", 6), ("2026-11-03", 5), ("2026-11-04", 5)]
    );
    assert_eq!(
        (r.rows[2].processing.met, r.rows[2].processing.counted),
        (4, 5)
    );
    // By week: all in the week of Monday 2 Nov.
    let r = kpi::report(&store, &cfg, &november(Period::Week, None))
        .await
        .unwrap();
    assert_eq!(
        r.rows
            .iter()
            .map(|x| (x.period.as_str(), x.orders))
            .collect::<Vec<_>>(),
        [("2026-11-02", 16)]
    );
    // By warehouse: two orders have one.
    let r = kpi::report(
        &store,
        &cfg,
        &november(Period::Month, Some(Dimension::Warehouse)),
    )
    .await
    .unwrap();
    let wh: Vec<(&str, i64)> = r
        .rows
        .iter()
        .map(|x| (x.group.as_deref().unwrap(), x.orders))
        .collect();
    assert_eq!(wh, [("", 14), ("east", 1), ("west", 1)]);

    // A new rating in the log is in the next report (the rollup follows the log).
    let mut tx = store.begin().await.unwrap();
    rated(&mut tx, &ids["m2"], 4).await;
    // Out of range: ignored.
    rated(&mut tx, &ids["m5"], 9).await;
    tx.commit().await.unwrap();
    let r = kpi::report(&store, &cfg, &november(Period::Month, None))
        .await
        .unwrap();
    assert_eq!(rates(&r.rows[0])[4], (6, 9));
    // Rebuilt from the whole log, the figures are the same.
    let done = kpi::rebuild(&store).await.unwrap();
    assert_eq!(done.orders, 16);
    let again = kpi::report(&store, &cfg, &november(Period::Month, None))
        .await
        .unwrap();
    assert_eq!(again.rows, r.rows);

    // A shorter SLA fails more orders: 23 h and 10 h and 5 h are now late (m5, e1, w5).
    let strict = KpiConfig {
        processing_sla_hours: 4.5,
        ..KpiConfig::default()
    };
    let r = kpi::report(&store, &strict, &november(Period::Month, None))
        .await
        .unwrap();
    assert_eq!(rates(&r.rows[0])[0], (7, 14));

    // The exceptions report, by kind and root cause.
    let lines = kpi::exceptions_report(
        &store,
        kpi::parse_time("2020-01-01").unwrap(),
        Utc::now() + chrono::Duration::hours(1),
        Utc::now(),
    )
    .await
    .unwrap();
    let kinds: Vec<(&str, i64, i64)> = lines
        .iter()
        .map(|l| (l.kind.as_str(), l.total, l.active))
        .collect();
    assert_eq!(kinds, [("complaint", 1, 1), ("stock_shortage", 1, 1)]);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kpis_on_a_hand_computed_scenario_standalone() {
    kpi_scenario(Profile::Standalone).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kpis_on_a_hand_computed_scenario_cluster() {
    kpi_scenario(Profile::Cluster).await;
}

// ---------------------------------------------------------------------------------------------
// The reports on the command line and over the API.

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ordergate"));
    c.env_remove("ORDERGATE_CONFIG").env_remove("RUST_LOG");
    c
}

/// A configuration file for the command line pointing at `env`'s store.
fn cli_config(env: &TestEnv) -> std::path::PathBuf {
    let file = env.dir.path().join("ordergate.toml");
    std::fs::write(
        &file,
        format!(
            "[store]\nurl = \"{}\"\n\n[mappings]\ndir = \"{}\"\n\n[kpi]\nprocessing_sla_hours = 24\n",
            env.store_url(),
            common::mappings_dir().display()
        ),
    )
    .unwrap();
    file
}

fn run_ok(config: &Path, args: &[&str]) -> String {
    let out = bin()
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_command_writes_table_csv_and_json() {
    let env = TestEnv::new(Profile::Standalone).await;
    let store = Store::connect(&env.store_url(), 4, "normal").await.unwrap();
    let ids = load_scenario(&store).await;
    store.close().await;
    let config = cli_config(&env);
    let month = [
        "report",
        "kpi",
        "--from",
        "2026-11-01",
        "--to",
        "2026-12-01",
    ];

    let csv = run_ok(
        &config,
        &[&month[..], &["--by", "channel", "--format", "csv"]].concat(),
    );
    assert_eq!(
        csv,
        "period,channel,orders,sales,processing,shipping,delivery,accuracy,satisfaction\n\
         2026-11,email,5,80.00 EUR + 99.99 USD,0.7500,1.0000,1.0000,0.8000,1.0000\n\
         2026-11,marketplace,5,252.50 EUR,0.6000,0.6000,0.4000,0.6000,0.5000\n\
         2026-11,web,6,600.00 EUR,0.8000,0.7500,0.5000,0.6667,0.5000\n\
         total,,16,932.50 EUR + 99.99 USD,0.7143,0.7500,0.5833,0.6875,0.6250\n"
    );

    let table = run_ok(&config, &month);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(
        lines[0].starts_with("period") && lines[0].contains("satisfaction"),
        "{table}"
    );
    assert!(
        lines[1].starts_with("2026-11") && lines[1].contains("71.4% (10/14)"),
        "{table}"
    );
    assert!(lines[2].starts_with("total"), "{table}");

    let json: Value = serde_json::from_str(&run_ok(
        &config,
        &[&month[..], &["--period", "day", "--format", "json"]].concat(),
    ))
    .unwrap();
    assert_eq!(json["total"]["orders"], 16);
    assert_eq!(json["rows"].as_array().unwrap().len(), 3);
    assert_eq!(json["total"]["accuracy"]["met"], 11);
    assert_eq!(json["processing_sla_hours"], 24.0);

    let failed = run_ok(
        &config,
        &[&month[..], &["--failed", "satisfaction", "--format", "csv"]].concat(),
    );
    let mut got: Vec<&str> = failed
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    got.sort();
    let mut want = vec![ids["m1"].as_str(), ids["w3"].as_str(), ids["w5"].as_str()];
    want.sort();
    assert_eq!(got, want, "{failed}");

    let exc = run_ok(
        &config,
        &[
            "report",
            "exceptions",
            "--from",
            "2020-01-01",
            "--format",
            "csv",
        ],
    );
    assert_eq!(
        exc,
        "kind,root_cause,total,active,resolved,wont_fix,overdue\n\
         complaint,-,1,1,0,0,0\nstock_shortage,-,1,1,0,0,0\n"
    );
    let rebuilt = run_ok(&config, &["report", "rebuild"]);
    assert!(
        rebuilt.starts_with("KPI rollup rebuilt: 16 orders"),
        "{rebuilt}"
    );

    let bad = bin()
        .arg("--config")
        .arg(&config)
        .args(["report", "kpi", "--from", "November"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("\"November\" is neither a date"));
}

async fn api_get(
    router: &axum::Router,
    path: &str,
    token: Option<&str>,
) -> (axum::http::StatusCode, Value) {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let mut req = axum::http::Request::get(path);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let resp = router
        .clone()
        .oneshot(req.body(axum::body::Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_api_needs_a_token_and_a_viewer_may_read() {
    let env = TestEnv::new(Profile::Standalone).await;
    let store = Store::connect(&env.store_url(), 4, "normal").await.unwrap();
    let ids = load_scenario(&store).await;
    let bus: std::sync::Arc<dyn ordergate::bus::Bus> =
        std::sync::Arc::new(ordergate::bus::embedded::EmbeddedBus::new(
            store.clone(),
            ordergate::bus::Topology::standard("t", vec![Duration::from_secs(1)]),
            Default::default(),
        ));
    let router = common::api_router(
        &store,
        bus,
        None,
        &[("view", "anna", ordergate::config::ApiRole::Viewer)],
    );
    let path = "/api/reports/kpi?from=2026-11-01&to=2026-12-01&period=month&by=channel";
    let (s, _) = api_get(&router, path, None).await;
    assert_eq!(s, 401);
    let (s, _) = api_get(&router, path, Some("wrong")).await;
    assert_eq!(s, 401);
    let (s, v) = api_get(&router, path, Some("view")).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["total"]["orders"], 16);
    assert_eq!(v["rows"][2]["group"], "web");
    assert_eq!(v["rows"][2]["delivery"]["met"], 2);
    let (s, v) = api_get(&router, "/api/reports/kpi?from=2026-11-01&to=2026-12-01&period=month&by=channel&failed=delivery&group=web", Some("view")).await;
    assert_eq!(s, 200, "{v}");
    let mut got: Vec<&str> = v["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["order_id"].as_str().unwrap())
        .collect();
    got.sort();
    let mut want = vec![ids["w3"].as_str(), ids["w4"].as_str()];
    want.sort();
    assert_eq!(got, want);
    let (s, v) = api_get(
        &router,
        "/api/reports/kpi?from=2026-12-01&to=2026-11-01",
        Some("view"),
    )
    .await;
    assert_eq!(s, 422, "{v}");
    let (s, _) = api_get(&router, "/api/reports/exceptions?from=2020-01-01", None).await;
    assert_eq!(s, 401);
    let (s, v) = api_get(
        &router,
        "/api/reports/exceptions?from=2020-01-01",
        Some("view"),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["lines"][0]["kind"], "complaint");
    assert_eq!(v["lines"].as_array().unwrap().len(), 2);
}

// ---------------------------------------------------------------------------------------------
// The dashboard.

const OPERATOR: &str = "ui-operator-token-0123456789";
const VIEWER: &str = "ui-viewer-token-0123456789";

struct Dashboard {
    env: TestEnv,
    daemon: ordergate::app::Daemon,
    base: String,
    /// An order held for review (from a document), one approved, and an open exception on it.
    review_id: String,
    approved_id: String,
    exception_id: String,
}

/// Stores `order` as received (from document `raw_id`) and moves it on by `trigger`; its id.
async fn received(
    tx: &mut ordergate::store::Tx,
    mut order: ordergate::model::CanonicalOrder,
    raw_id: Option<&str>,
    trigger: Trigger,
) -> String {
    let id = Store::upsert_order(tx, &mut order, raw_id)
        .await
        .unwrap()
        .order_id()
        .to_string();
    Store::append_event(tx, &id, "received", Some((None, "received")), "test", None)
        .await
        .unwrap();
    Store::transition(tx, &id, trigger, "test", None)
        .await
        .unwrap();
    id
}

async fn dashboard() -> Dashboard {
    ordergate::telemetry::prometheus();
    let env = TestEnv::new(Profile::Standalone).await;
    let mut cfg = env.config(&common::mappings_dir(), "");
    for (name, token) in [("operator", OPERATOR), ("viewer", VIEWER)] {
        std::fs::write(env.dir.path().join(name), token).unwrap();
    }
    cfg.http = toml::from_str(&format!(
        "listen = \"127.0.0.1:0\"\napi_tokens = [{{ name = \"ops\", token = \"file:{}\", role = \"operator\" }}, {{ name = \"anna\", token = \"file:{}\", role = \"viewer\" }}]",
        env.dir.path().join("operator").display(),
        env.dir.path().join("viewer").display()
    ))
    .unwrap();
    let daemon = ordergate::app::Daemon::start(&cfg).await.unwrap();
    let base = format!("http://{}", daemon.http_addr.unwrap());
    let store = daemon.store.clone();

    // A faxed order read with a missing postal code, held for a person.
    let mut tx = store.begin().await.unwrap();
    let raw = Store::insert_raw(
        &mut tx,
        &NewRawDocument {
            connector: "fax-in",
            format: "fax",
            source_name: Some("fax-0001.txt"),
            content: b"ORDER by fax\nDeliver to: Hauptstrasse 5, Berlin (postcode illegible)\n2 x Desk lamp TEST-LAMP\n",
        },
    )
    .await
    .unwrap();
    let order: ordergate::model::CanonicalOrder = serde_json::from_value(json!({
        "source": {"connector": "fax-in", "format": "fax", "channel": "fax", "external_id": "FAX-1", "status": "open"},
        "placed_at": "2026-12-01T09:00:00Z",
        "currency": "EUR",
        "customer": {"name": "Werkstatt Berlin", "email": null, "phone": null},
        "ship_to": {"name": "Werkstatt Berlin", "line1": "Hauptstrasse 5", "city": "Berlin", "region": null, "postal_code": null, "country": "DE"},
        "lines": [{"line_ref": "1", "sku": "TEST-LAMP", "name": "Desk lamp", "quantity": 2, "unit_price": "24.00"}],
        "total": "48.00",
        "extraction": {"confidence": 0.6, "missing": ["ship_to.postal_code"], "document": raw.id.clone()},
    }))
    .unwrap();
    let review_id = received(&mut tx, order, Some(&raw.id), Trigger::HoldForReview).await;

    // An approved web order with an exception on it, past its due time.
    let order = serde_json::from_value(canonical(&case("WEB-1", "web", "shop", 0))).unwrap();
    let approved_id = received(&mut tx, order, None, Trigger::Approve).await;
    let exception_id = Store::insert_exception(
        &mut tx,
        &NewException {
            kind: "stock_shortage",
            severity: Severity::parse("medium"),
            order_id: Some(&approved_id),
            raw_id: None,
            message_id: None,
            stage: Some("allocate"),
            connector: None,
            department: "warehouse",
            due_at: Some(ordergate::store::now_ms() - 60_000),
            reason: "TEST-LAMP short by 2 at every warehouse",
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    Dashboard {
        env,
        daemon,
        base,
        review_id,
        approved_id,
        exception_id,
    }
}

async fn post_form(
    base: &str,
    path: &str,
    cookie: Option<&str>,
    body: &str,
) -> reqwest::StatusCode {
    let mut req = no_redirects()
        .post(format!("{base}{path}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_string());
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    req.send().await.unwrap().status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dashboard_pages_refuse_strangers_and_viewers_writes() {
    let d = dashboard().await;
    let base = &d.base;
    let pages = [
        "/ui/pipeline".to_string(),
        "/ui/connectors".into(),
        "/ui/exceptions?status=all".into(),
        "/ui/review".into(),
        "/ui/orders".into(),
        format!("/ui/orders?q={}", d.approved_id),
        format!("/ui/orders/{}", d.review_id),
        format!("/ui/orders/{}/document", d.review_id),
        "/ui/kpi?period=week&by=channel".into(),
        "/ui/kpi?failed=accuracy".into(),
    ];
    // Not signed in: every page sends the browser to the sign-in.
    for p in &pages {
        let resp = no_redirects()
            .get(format!("{base}{p}"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 303, "{p}");
        assert_eq!(resp.headers()["location"], "/ui/login", "{p}");
    }
    // A viewer reads every page.
    let (viewer, viewer_csrf) = sign_in(base, VIEWER).await;
    for p in &pages {
        let resp = no_redirects()
            .get(format!("{base}{p}"))
            .header("cookie", &viewer)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{p}");
        assert_eq!(resp.headers()["cache-control"], "no-store", "{p}");
    }
    let page = no_redirects()
        .get(format!("{base}/ui/exceptions"))
        .header("cookie", &viewer)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("TEST-LAMP short by 2") && !page.contains(">Resolve<"),
        "a viewer sees no action buttons"
    );

    let exc = format!("/ui/exceptions/{}", d.exception_id);
    let correct = format!("/ui/orders/{}/correct", d.review_id);
    let resolve = |csrf: &str| format!("csrf={csrf}&action=resolve&resolution=restocked");
    let fix = |csrf: &str| format!("csrf={csrf}&field%3Aship_to.postal_code=10115&resume=on");
    // Not signed in: 401. A viewer, with the right CSRF token: 403.
    assert_eq!(post_form(base, &exc, None, &resolve("x")).await, 401);
    assert_eq!(post_form(base, &correct, None, &fix("x")).await, 401);
    assert_eq!(
        post_form(base, &exc, Some(&viewer), &resolve(&viewer_csrf)).await,
        403
    );
    assert_eq!(
        post_form(base, &correct, Some(&viewer), &fix(&viewer_csrf)).await,
        403
    );
    // An operator without the CSRF token, or with another session's: 403.
    let (operator, operator_csrf) = sign_in(base, OPERATOR).await;
    assert_eq!(
        post_form(
            base,
            &exc,
            Some(&operator),
            "action=resolve&resolution=restocked"
        )
        .await,
        403
    );
    assert_eq!(
        post_form(base, &exc, Some(&operator), &resolve(&viewer_csrf)).await,
        403
    );
    assert_eq!(
        post_form(
            base,
            &correct,
            Some(&operator),
            "field%3Aship_to.postal_code=10115"
        )
        .await,
        403
    );
    let store = d.daemon.store.clone();
    assert_eq!(
        store
            .exception(&d.exception_id)
            .await
            .unwrap()
            .unwrap()
            .status,
        "open"
    );
    assert_eq!(
        store.order(&d.review_id).await.unwrap().unwrap().state,
        "needs_review"
    );
    // The sign-in form needs its own CSRF token, and a wrong token is refused.
    assert_eq!(
        post_form(base, "/ui/login", None, &format!("token={OPERATOR}")).await,
        403
    );
    let page = no_redirects()
        .get(format!("{base}/ui/login"))
        .send()
        .await
        .unwrap();
    let (login_cookie, _) = cookie_of(&page, "og_login").unwrap();
    let csrf = csrf_of(&page.text().await.unwrap());
    assert_eq!(
        post_form(
            base,
            "/ui/login",
            Some(&login_cookie),
            &format!("csrf={csrf}&token=guess")
        )
        .await,
        401
    );
    // With everything right, the operator acts.
    assert_eq!(
        post_form(base, &exc, Some(&operator), &resolve(&operator_csrf)).await,
        303
    );
    assert_eq!(
        store
            .exception(&d.exception_id)
            .await
            .unwrap()
            .unwrap()
            .status,
        "resolved"
    );
    // Signing out ends the session.
    assert_eq!(
        post_form(
            base,
            "/ui/logout",
            Some(&operator),
            &format!("csrf={operator_csrf}")
        )
        .await,
        303
    );
    let resp = no_redirects()
        .get(format!("{base}/ui/pipeline"))
        .header("cookie", &operator)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    d.daemon.stop().await;
    drop(d.env);
}

async fn text_of(b: &common::browser::Browser, css: &str) -> String {
    on_fresh(b, css, |element| async move { element.text().await }).await
}

async fn browser_sign_in(b: &common::browser::Browser, base: &str) {
    b.client.goto(&format!("{base}/ui/pipeline")).await.unwrap();
    assert!(
        b.client
            .current_url()
            .await
            .unwrap()
            .path()
            .ends_with("/ui/login"),
        "strangers are sent to the sign-in"
    );
    b.client
        .find(fantoccini::Locator::Css("#token"))
        .await
        .unwrap()
        .send_keys(OPERATOR)
        .await
        .unwrap();
    b.client
        .find(fantoccini::Locator::Css("#sign-in"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    signed_in(b).await;
    assert_eq!(text_of(b, "#who").await, "ops (operator)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dashboard_in_chromium_moves_resolves_and_corrects() {
    let d = dashboard().await;
    let store = d.daemon.store.clone();
    let base = &d.base;
    let mut b = common::browser::Browser::start("ops-dashboard", false).await;
    browser_sign_in(&b, base).await;
    assert_eq!(text_of(&b, "td[data-state=\"needs_review\"]").await, "1");
    b.screenshot("pipeline").await;

    // Watch an order move: the page refreshes itself and shows the new state.
    b.client
        .goto(&format!("{base}/ui/orders/{}", d.approved_id))
        .await
        .unwrap();
    assert_eq!(text_of(&b, "#order-state").await, "approved");
    let mut tx = store.begin().await.unwrap();
    Store::transition(&mut tx, &d.approved_id, Trigger::Allocate, "test", None)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut state = String::new();
    for _ in 0..60 {
        if let Ok(e) = b
            .client
            .find(fantoccini::Locator::Css("#order-state"))
            .await
        {
            state = e.text().await.unwrap_or_default();
            if state == "allocated" {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(state, "allocated", "the order page refreshed itself");
    b.screenshot("order-moved").await;

    // Resolve the exception on the board.
    b.client
        .goto(&format!("{base}/ui/exceptions"))
        .await
        .unwrap();
    let card = format!("#exc-{}", d.exception_id);
    b.client
        .find(fantoccini::Locator::Css(&format!(
            "{card} input.resolution"
        )))
        .await
        .unwrap()
        .send_keys("restocked from the east warehouse")
        .await
        .unwrap();
    b.screenshot("exceptions").await;
    b.client
        .find(fantoccini::Locator::Css(&format!("{card} button.resolve")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // The form's POST may still be under way when the click returns.
    let e = common::poll(
        Duration::from_secs(10),
        "the exception resolved",
        || async {
            let e = store.exception(&d.exception_id).await.unwrap().unwrap();
            (e.status == "resolved").then_some(e)
        },
    )
    .await;
    b.client
        .goto(&format!("{base}/ui/exceptions"))
        .await
        .unwrap();
    assert!(
        b.client
            .find(fantoccini::Locator::Css("#no-exceptions"))
            .await
            .is_ok(),
        "the board is empty now"
    );
    assert_eq!(
        (e.status.as_str(), e.resolution.as_deref()),
        ("resolved", Some("restocked from the east warehouse"))
    );
    let history = store.exception_history(&d.exception_id).await.unwrap();
    assert!(
        history
            .iter()
            .any(|h| h.action == "resolved" && h.actor == "ui:ops"),
        "{history:?}"
    );

    // Correct the review-queue order beside its document, and resume it.
    b.client.goto(&format!("{base}/ui/review")).await.unwrap();
    b.client
        .find(fantoccini::Locator::Css(&format!(
            "a[href=\"/ui/orders/{}\"]",
            d.review_id
        )))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert!(text_of(&b, "#document")
        .await
        .contains("postcode illegible"));
    b.client
        .find(fantoccini::Locator::Css(
            "input[data-path=\"ship_to.postal_code\"]",
        ))
        .await
        .unwrap()
        .send_keys("10115")
        .await
        .unwrap();
    b.client
        .find(fantoccini::Locator::Css("#note"))
        .await
        .unwrap()
        .send_keys("postcode from the customer's letterhead")
        .await
        .unwrap();
    b.screenshot("review").await;
    b.client
        .find(fantoccini::Locator::Css("#save"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // The form's POST and its redirect may still be under way when the click returns: wait
    // for the correction in the store, then read the order's page afresh.
    let events = common::poll(
        Duration::from_secs(10),
        "the correction recorded",
        || async {
            let events = store.order_events(&d.review_id).await.unwrap();
            events
                .iter()
                .any(|e| e.kind == "corrected" && e.cause == "ui:ops")
                .then_some(events)
        },
    )
    .await;
    assert!(!events.is_empty());
    let o = store.order(&d.review_id).await.unwrap().unwrap();
    assert_eq!(
        o.order.ship_to.unwrap().postal_code.as_deref(),
        Some("10115")
    );
    b.client
        .goto(&format!("{base}/ui/orders/{}", d.review_id))
        .await
        .unwrap();
    assert_ne!(text_of(&b, "#order-state").await, "needs_review");
    b.screenshot("corrected").await;

    for page in ["connectors", "kpi", "orders"] {
        b.client.goto(&format!("{base}/ui/{page}")).await.unwrap();
        b.screenshot(page).await;
    }
    assert_eq!(b.console_errors().await, Vec::<String>::new());

    // The same on a phone.
    let mut phone = common::browser::Browser::start("ops-dashboard-phone", true).await;
    browser_sign_in(&phone, base).await;
    phone.screenshot("pipeline-phone").await;
    phone
        .client
        .goto(&format!("{base}/ui/exceptions?status=all"))
        .await
        .unwrap();
    phone.screenshot("exceptions-phone").await;
    phone.client.goto(&format!("{base}/ui/kpi")).await.unwrap();
    phone.screenshot("kpi-phone").await;
    // Headless Chromium's narrowest window is 500 px: the page must not be wider than it.
    let fits = phone
        .client
        .execute(
            "return [document.documentElement.scrollWidth, window.innerWidth]",
            vec![],
        )
        .await
        .unwrap();
    let (width, window) = (fits[0].as_i64().unwrap(), fits[1].as_i64().unwrap());
    assert!(
        width <= window && window <= 500,
        "the page fits a phone's width: {width} in {window}"
    );
    assert_eq!(phone.console_errors().await, Vec::<String>::new());
    drop(phone);
    drop(b);
    d.daemon.stop().await;
}

// ---------------------------------------------------------------------------------------------
// `ordergate demo --keep` in a real browser.

/// The running demo: its child process and what it printed.
struct KeptDemo {
    child: std::process::Child,
    /// Everything printed so far (the reader thread keeps appending).
    said: std::sync::Arc<std::sync::Mutex<String>>,
    base: String,
    token: String,
    _dir: tempfile::TempDir,
}

/// Starts `ordergate demo --keep` and waits until it serves (its summary printed).
fn keep_demo() -> KeptDemo {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let mut child = bin()
        .current_dir(dir.path())
        .args([
            "demo",
            "--keep",
            "--orders",
            "12",
            "--timeout",
            "150",
            "--data",
        ])
        .arg(&data)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let said = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let out = child.stdout.take().unwrap();
    let keep = said.clone();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            let still = line.starts_with("Still running (--keep)");
            keep.lock().unwrap().push_str(&format!("{line}\n"));
            if still {
                let _ = tx.send(());
            }
        }
    });
    if rx.recv_timeout(Duration::from_secs(170)).is_err() {
        let _ = child.kill();
        panic!("the demo did not get to serving:\n{}", said.lock().unwrap());
    }
    let text = said.lock().unwrap().clone();
    assert!(
        text.contains("Every order reached the state the scenario expects"),
        "{text}"
    );
    let line = text
        .lines()
        .find(|l| l.starts_with("Still running (--keep)"))
        .unwrap()
        .to_string();
    let base = line
        .split("the dashboard at ")
        .nth(1)
        .and_then(|r| r.split("/ui").next())
        .unwrap()
        .to_string();
    let token_file = line
        .split("(token in ")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .unwrap();
    let token = std::fs::read_to_string(token_file)
        .unwrap()
        .trim()
        .to_string();
    KeptDemo {
        child,
        said,
        base,
        token,
        _dir: dir,
    }
}

async fn exception_json(base: &str, token: &str, id: &str) -> Value {
    reqwest::Client::new()
        .get(format!("{base}/api/exceptions/{id}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The id of the first exception card of `kind` on the exceptions page shown.
async fn exception_card(b: &common::browser::Browser, kind: &str) -> String {
    b.client
        .find(fantoccini::Locator::XPath(&format!(
            "//article[contains(@class,'exception')][.//h3[contains(.,'{kind}')]]"
        )))
        .await
        .unwrap()
        .attr("id")
        .await
        .unwrap()
        .unwrap()
        .trim_start_matches("exc-")
        .to_string()
}

/// Waits (up to ten seconds) until exception `id`'s `field` is `want`: a form's POST and its
/// redirect may still be under way when `click` returns, so a check right after a click could
/// see the exception before the action.
async fn exception_when(base: &str, token: &str, id: &str, field: &str, want: &str) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let e = exception_json(base, token, id).await;
        if e["exception"][field] == want {
            return e;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "exception {id}'s {field} is not {want}: {e}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits (up to ten seconds) for a submitted sign-in to land on the pipeline page: the sign-in
/// writes its session in its turn at the store, which a busy pipeline (the demo's first
/// minutes) may make the browser wait for after the click returned.
async fn signed_in(b: &common::browser::Browser) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let path = b.client.current_url().await.unwrap().path().to_string();
        if path.ends_with("/ui/pipeline") {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the sign-in did not reach the pipeline page (at {path})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn click(b: &common::browser::Browser, css: &str) {
    on_fresh(b, css, |element| async move { element.click().await }).await
}

async fn type_into(b: &common::browser::Browser, css: &str, text: &str) {
    on_fresh(
        b,
        css,
        |element| async move { element.send_keys(text).await },
    )
    .await
}

/// Finds `css` and acts on it. The pages refresh themselves: an element found just before a
/// refresh (or a form's redirect) is stale when used, so it is found again; one not there yet
/// (the next page still loading) is looked for again for up to three seconds.
async fn on_fresh<T, F, Fut>(b: &common::browser::Browser, css: &str, act: F) -> T
where
    F: Fn(fantoccini::elements::Element) -> Fut,
    Fut: std::future::Future<Output = Result<T, fantoccini::error::CmdError>>,
{
    for attempt in 0.. {
        // A page mid-navigation (a link or a form's redirect) may not hold the element yet.
        let element = match b.client.find(fantoccini::Locator::Css(css)).await {
            Ok(element) => element,
            Err(fantoccini::error::CmdError::Standard(e))
                if e.error == fantoccini::error::ErrorStatus::NoSuchElement && attempt < 15 =>
            {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            Err(e) => panic!("{css}: {e}"),
        };
        match act(element).await {
            Ok(value) => return value,
            Err(fantoccini::error::CmdError::Standard(e))
                if e.error == fantoccini::error::ErrorStatus::StaleElementReference
                    && attempt < 10 =>
            {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("{css}: {e}"),
        }
    }
    unreachable!("the loop returns or panics")
}

/// `ordergate demo --keep` serves the dashboard with every screen populated: signed in with
/// the token file the demo prints, every page visited in headless Chromium (the connectors
/// page shows the shop's rate-limit headroom from its call-limit header; the board shows the
/// demo's delayed, damaged and overdue parcels), an exception assigned, acknowledged,
/// resolved and reopened through the forms (its history says so, under the person's name), no
/// console errors, screenshots kept; SIGTERM ends the demo cleanly (exit 0).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn demo_keep_serves_every_screen_populated_in_chromium() {
    let mut demo = keep_demo();
    let base = demo.base.clone();
    let mut b = common::browser::Browser::start("demo-keep", false).await;
    b.client.goto(&format!("{base}/ui/pipeline")).await.unwrap();
    assert!(b
        .client
        .current_url()
        .await
        .unwrap()
        .path()
        .ends_with("/ui/login"));
    type_into(&b, "#token", &demo.token).await;
    click(&b, "#sign-in").await;
    signed_in(&b).await;
    assert!(text_of(&b, "#who").await.contains("operator"));
    let delivered: u32 = text_of(&b, "td[data-state=\"delivered\"]")
        .await
        .parse()
        .unwrap();
    assert!(delivered > 0);
    b.screenshot("pipeline").await;

    // Connectors: health and the shop's budget from X-Shopify-Shop-Api-Call-Limit.
    b.client
        .goto(&format!("{base}/ui/connectors"))
        .await
        .unwrap();
    let headroom = text_of(&b, "tr[data-connector=\"shop\"] td.headroom").await;
    assert!(
        headroom.contains("of 40 calls left") && headroom.contains("X-Shopify-Shop-Api-Call-Limit"),
        "{headroom}"
    );
    for connector in ["shop", "drop", "east", "local", "easypost"] {
        let row = b
            .client
            .find(fantoccini::Locator::Css(&format!(
                "tr[data-connector=\"{connector}\"]"
            )))
            .await;
        assert!(row.is_ok(), "connector {connector} listed");
    }
    b.screenshot("connectors").await;

    // The exceptions board: the delayed parcel, the damaged one (overdue), the rest.
    b.client
        .goto(&format!("{base}/ui/exceptions"))
        .await
        .unwrap();
    let board = text_of(&b, "main").await;
    for kind in ["shipment_late", "shipment_exception", "bad_input"] {
        assert!(board.contains(kind), "{kind} on the board:\n{board}");
    }
    // The stock shortage closed itself when the stock arrived: on the board of every status.
    b.client
        .goto(&format!("{base}/ui/exceptions?status=all"))
        .await
        .unwrap();
    let all = text_of(&b, "main").await;
    assert!(
        all.contains("stock_shortage"),
        "stock_shortage, resolved:\n{all}"
    );
    b.client
        .goto(&format!("{base}/ui/exceptions"))
        .await
        .unwrap();
    assert!(
        board.contains("Package damaged in transit"),
        "the carrier's words"
    );
    assert!(
        b.client
            .find(fantoccini::Locator::Css("article.exception.overdue"))
            .await
            .is_ok(),
        "an overdue exception is shown as such"
    );
    b.screenshot("exceptions").await;

    // The delayed parcel's exception through the workflow: assign, acknowledge, resolve, reopen.
    let id = exception_card(&b, "shipment_late").await;
    let card = format!("#exc-{id}");
    type_into(&b, &format!("{card} input.owner"), "mia").await;
    click(&b, &format!("{card} button.assign")).await;
    exception_when(&base, &demo.token, &id, "owner", "mia").await;
    b.client
        .goto(&format!("{base}/ui/exceptions"))
        .await
        .unwrap();
    click(&b, &format!("{card} button.acknowledge")).await;
    exception_when(&base, &demo.token, &id, "status", "acknowledged").await;
    b.client
        .goto(&format!("{base}/ui/exceptions"))
        .await
        .unwrap();
    assert_eq!(
        text_of(&b, &format!("{card} .status")).await,
        "acknowledged"
    );
    type_into(
        &b,
        &format!("{card} input.resolution"),
        "carrier re-routed the parcel",
    )
    .await;
    b.screenshot("exception-before-resolve").await;
    click(&b, &format!("{card} button.resolve")).await;
    exception_when(&base, &demo.token, &id, "status", "resolved").await;
    b.client
        .goto(&format!("{base}/ui/exceptions?status=all"))
        .await
        .unwrap();
    assert_eq!(text_of(&b, &format!("{card} .status")).await, "resolved");
    click(&b, &format!("{card} button.reopen")).await;
    let e = exception_when(&base, &demo.token, &id, "status", "open").await;
    assert_eq!(e["exception"]["owner"], "mia", "{e}");
    let steps: Vec<(String, String)> = e["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["action"].as_str().unwrap_or_default().to_string(),
                h["actor"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    for action in ["assigned", "acknowledged", "resolved", "reopened"] {
        assert!(
            steps
                .iter()
                .any(|(a, who)| a == action && who.starts_with("ui:")),
            "{action} by a person in {steps:?}"
        );
    }
    b.screenshot("exception-reopened").await;

    // Every other page, with content.
    b.client.goto(&format!("{base}/ui/orders")).await.unwrap();
    let orders = text_of(&b, "main").await;
    assert!(
        orders.contains("delivered") && orders.contains("in_transit"),
        "{orders}"
    );
    b.screenshot("orders").await;
    // The delayed parcel's order: still in transit, its USPS parcel listed.
    let order = e["exception"]["order_id"].as_str().unwrap().to_string();
    b.client
        .goto(&format!("{base}/ui/orders/{order}"))
        .await
        .unwrap();
    assert_eq!(text_of(&b, "#order-state").await, "in_transit");
    let page = text_of(&b, "main").await;
    assert!(
        page.contains("9400") && page.contains("shipment_late"),
        "the late parcel and its exception on the order page:\n{page}"
    );
    b.screenshot("order").await;
    // The damaged parcel's order (the first two USPS parcels registered take the two held-up
    // journeys, on one order or on two): the carrier's words on its page.
    b.client
        .goto(&format!("{base}/ui/exceptions"))
        .await
        .unwrap();
    let damaged = exception_card(&b, "shipment_exception").await;
    let damaged = exception_json(&base, &demo.token, &damaged).await;
    let damaged = damaged["exception"]["order_id"]
        .as_str()
        .unwrap()
        .to_string();
    b.client
        .goto(&format!("{base}/ui/orders/{damaged}"))
        .await
        .unwrap();
    let page = text_of(&b, "main").await;
    assert!(
        page.contains("9400") && page.contains("Package damaged in transit"),
        "the damaged parcel and the carrier's words on its order page:\n{page}"
    );
    for page in ["review", "kpi"] {
        b.client.goto(&format!("{base}/ui/{page}")).await.unwrap();
        b.screenshot(page).await;
    }
    assert!(
        text_of(&b, "main").await.contains("%"),
        "the run's KPI rates"
    );
    assert_eq!(b.console_errors().await, Vec::<String>::new());
    drop(b);

    // SIGTERM: the demo stops its daemon and simulators and exits 0.
    // SAFETY: kill only sends a signal to our own child.
    unsafe {
        libc::kill(demo.child.id() as i32, libc::SIGTERM);
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = demo.child.try_wait().unwrap() {
            break s;
        }
        if std::time::Instant::now() > deadline {
            let _ = demo.child.kill();
            panic!(
                "the demo did not stop on SIGTERM:\n{}",
                demo.said.lock().unwrap()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        status.success(),
        "{status:?}\n{}",
        demo.said.lock().unwrap()
    );
}

// ---------------------------------------------------------------------------------------------
// The mapping shadow run.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mappings_diff_shows_what_a_changed_mapping_would_change() {
    let env = TestEnv::new(Profile::Standalone).await;
    let store = Store::connect(&env.store_url(), 4, "normal").await.unwrap();
    let mut tx = store.begin().await.unwrap();
    for n in 1..=3 {
        Store::insert_raw(
            &mut tx,
            &NewRawDocument {
                connector: "web",
                format: "shopify",
                source_name: None,
                content: &common::shopify_order(n),
            },
        )
        .await
        .unwrap();
    }
    // Another format's document is not read.
    Store::insert_raw(
        &mut tx,
        &NewRawDocument {
            connector: "woo",
            format: "woocommerce",
            source_name: None,
            content: b"{}",
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let changed_dir = env.dir.path().join("changed");
    std::fs::create_dir_all(&changed_dir).unwrap();
    let original =
        std::fs::read_to_string(common::mappings_dir().join("shopify.order.jq")).unwrap();
    assert!(
        original.contains("requested_delivery: null,")
            && original.contains("notes: ($o.note | nz),")
    );
    let changed = original
        .replace(
            "requested_delivery: null,",
            "requested_delivery: \"2026-12-24\",",
        )
        .replace("notes: ($o.note | nz),", "notes: \"leave at the door\",");
    let file = changed_dir.join("shopify.order.jq");
    std::fs::write(&file, changed).unwrap();

    // The library: per order, the fields that would change; personal values hidden.
    let current = ordergate::normalize::Normalizer::new(
        ordergate::mapping::MappingSet::load(&common::mappings_dir()).unwrap(),
    );
    let scratch = env.dir.path().join("scratch");
    let candidate = ordergate::shadow::candidate(&common::mappings_dir(), &file, &scratch).unwrap();
    let report = ordergate::shadow::diff(&store, &current, &candidate, "shopify", 0, 100, false)
        .await
        .unwrap();
    assert_eq!(report.documents, 3);
    assert_eq!(report.changed.len(), 3);
    for d in &report.changed {
        let paths: Vec<&str> = d.changes.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(paths, ["notes", "requested_delivery"], "{d:?}");
        assert_eq!(d.changes[0].after, None, "a personal value is not shown");
        assert_eq!(d.changes[1].before, Some(Value::Null));
        assert_eq!(d.changes[1].after, Some(json!("2026-12-24")));
    }
    store.close().await;

    // The command line: exit 1 and a line per field when orders would change.
    let config = cli_config(&env);
    let out = bin()
        .arg("--config")
        .arg(&config)
        .args(["mappings", "diff", "--mapping"])
        .arg(&file)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        text.matches("  requested_delivery: (absent) -> \"2026-12-24\"")
            .count(),
        3,
        "{text}"
    );
    assert_eq!(
        text.matches("  notes: (personal data, changed)").count(),
        3,
        "{text}"
    );
    assert!(text.contains("web 7000000000001 (document raw_"), "{text}");
    assert!(
        text.ends_with("3 document(s) of format shopify: 3 order(s) would change, 0 would not.\n"),
        "{text}"
    );
    // The mapping in force, unchanged: nothing would change.
    let same = changed_dir.join("same").join("shopify.order.jq");
    std::fs::create_dir_all(same.parent().unwrap()).unwrap();
    std::fs::write(&same, &original).unwrap();
    let out = bin()
        .arg("--config")
        .arg(&config)
        .args(["mappings", "diff", "--mapping"])
        .arg(&same)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout)
        .ends_with("3 document(s) of format shopify: 0 order(s) would change, 3 would not.\n"));
    // Only documents since a time.
    let out = bin()
        .arg("--config")
        .arg(&config)
        .args(["mappings", "diff", "--since", "2099-01-01", "--mapping"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("0 document(s)"));
    // A file not named like an order mapping is refused.
    let out = bin()
        .arg("--config")
        .arg(&config)
        .args(["mappings", "diff", "--mapping"])
        .arg(changed_dir.join("x.jq"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("<format>.order.jq"));
}
