//! T1: signed tracking callbacks through the whole way (`POST /hooks/tracking/{connector}`,
//! AfterShip's `aftership-hmac-sha256` verified over the raw bytes, the body stored durably,
//! the `tracking.*` event through the track stage: mapping, the parcel's history, the status
//! lattice, the order moved `shipped` → `in_transit`), standalone profile, against W1's trivial
//! axum handler (reads the body, 202) in the same run, same bodies, same load tool.
//!
//! The rate is end to end: callbacks per second from the first request until the last order
//! is `in_transit` (a callback answered but not yet applied does not count). Then an open loop
//! at half that rate (new parcels) gives the answer's p99, measured from each request's
//! scheduled time; those callbacks must be applied too. Every parcel is checked: one raw
//! document per callback, one history event per parcel, every order `in_transit` once.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ordergate::model::{TrackingStatus, Trigger};
use ordergate::normalize::Normalizer;
use ordergate::sandbox::trackers::{callback, Scan};
use ordergate::store::{NewShipment, Store};
use ordergate::tracking::{sign, Scheme};

use crate::daemon::{Env, Profile};
use crate::docs;
use crate::report::{Row, Verdict};
use crate::webhook::{baseline_server, closed_loop, open_loop, Signed};

const SECRET: &str = "bench-tracking-secret";
const CONNECTOR: &str = "bench-track";
const PATH: &str = "/hooks/tracking/bench-track";

fn number(n: usize) -> String {
    format!("1ZT1{n:010}")
}

/// AfterShip callbacks (the pickup scan) for parcels `range`, signed as AfterShip signs.
fn callbacks(range: std::ops::Range<usize>) -> Vec<Signed> {
    let scan = Scan::new(
        chrono::Utc::now() - chrono::Duration::hours(2),
        TrackingStatus::InTransit,
        "Memphis, TN",
        "Picked up",
    );
    range
        .map(|n| {
            let body = callback(
                Scheme::AfterShip,
                "ups",
                &number(n),
                std::slice::from_ref(&scan),
            );
            let signed = sign::sign(
                Scheme::AfterShip,
                SECRET,
                PATH,
                &body,
                chrono::Utc::now().timestamp(),
            );
            let mut headers = vec![("Content-Type".to_string(), "application/json".to_string())];
            headers.extend(signed.headers.into_iter().map(|(k, v)| (k.to_string(), v)));
            Signed {
                path: PATH.into(),
                headers,
                body: signed.body,
            }
        })
        .collect()
}

/// `n` orders of the Shopify sample, each `shipped` with one UPS parcel `number(i)`.
async fn shipped_orders(store: &Store, normalizer: &Normalizer, n: usize) -> Result<(), String> {
    let sample = docs::load("shopify")?;
    let mut tx = store.begin().await.map_err(|e| e.to_string())?;
    for i in 0..n {
        let doc = sample.variant(i as u64).remove(0);
        let mut order = normalizer
            .normalize("shopify", &[doc.as_slice()])
            .map_err(|e| e.to_string())?
            .remove(0);
        order.source.connector = "shop".into();
        let id = Store::upsert_order(&mut tx, &mut order, None)
            .await
            .map_err(|e| e.to_string())?
            .order_id()
            .to_string();
        for t in [
            Trigger::Approve,
            Trigger::Allocate,
            Trigger::RequestFulfilment,
            Trigger::Ship,
        ] {
            Store::transition(&mut tx, &id, t, "bench", None)
                .await
                .map_err(|e| e.to_string())?;
        }
        let number = number(i);
        let parcel = NewShipment {
            order_id: &id,
            warehouse: Some("bench"),
            carrier: "UPS",
            carrier_name: None,
            tracking_number: &number,
            service: None,
            promised_at: None,
            eta: None,
            items: serde_json::json!([]),
        };
        Store::record_shipment(&mut tx, &parcel)
            .await
            .map_err(|e| e.to_string())?;
    }
    tx.commit().await.map_err(|e| e.to_string())
}

async fn in_transit(store: &Store) -> Result<i64, String> {
    sqlx::query_scalar("SELECT COUNT(*) FROM orders WHERE state = 'in_transit'")
        .fetch_one(store.pool())
        .await
        .map_err(|e| e.to_string())
}

/// Waits until `want` orders are `in_transit`; false after `timeout`.
async fn applied(store: &Store, want: i64, timeout: Duration) -> Result<bool, String> {
    let deadline = Instant::now() + timeout;
    loop {
        if in_transit(store).await? >= want {
            return Ok(true);
        }
        if Instant::now() > deadline {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// T1.
pub async fn t1(tmp_root: &Path, normalizer: &Normalizer, requests: usize, conns: usize) -> Row {
    let id = "T1";
    let measure_text = "tracking callbacks: signature verified, stored durably, track stage, order in_transit; callbacks/s end to end";
    let goal = "≥ 0.1, p99 ≤ 50 ms";
    let closed = Arc::new(callbacks(0..requests));
    let baseline = match baseline_server() {
        Ok((addr, stop)) => {
            let r = closed_loop(addr, closed.clone(), conns).await;
            let _ = stop.send(());
            r
        }
        Err(e) => Err(e),
    };
    let base_rate = match baseline {
        Ok(b) => b,
        Err(e) => return Row::invalid(id, measure_text, format!("baseline: {e}")),
    };
    let base_text = "trivial axum handler, read body, 202 (W1's)".to_string();

    let env = match Env::new(Profile::Standalone, tmp_root).await {
        Ok(env) => env,
        Err(e) => return Row::invalid(id, measure_text, e),
    };
    // Every parcel of both loops shipped before the daemon starts.
    let open_max = 4_000usize;
    let setup = async {
        let store = Store::connect(&env.store_url(), 1, "normal")
            .await
            .map_err(|e| e.to_string())?;
        store.migrate().await.map_err(|e| e.to_string())?;
        shipped_orders(&store, normalizer, requests + open_max).await?;
        store.close().await;
        Ok::<_, String>(())
    };
    if let Err(e) = setup.await {
        return Row::invalid(id, measure_text, format!("set-up: {e}"));
    }
    let connector = format!(
        "[tracking]\nsweep_interval_ms = 0\n\n[[connectors]]\nkind = \"tracking\"\nname = \"{CONNECTOR}\"\nscheme = \"aftership\"\nsecret = \"env:ORDERGATE_BENCH_TRACKING_SECRET\"\n"
    );
    let mut child = match env.spawn(&connector, &[("ORDERGATE_BENCH_TRACKING_SECRET", SECRET)]) {
        Ok(c) => c,
        Err(e) => return Row::invalid(id, measure_text, e),
    };
    if let Err(e) = child.ready(Duration::from_secs(30)).await {
        return Row::invalid(id, measure_text, format!("daemon: {e}"));
    }
    let store = match Store::connect(&env.store_url(), 2, "normal").await {
        Ok(s) => s,
        Err(e) => return Row::invalid(id, measure_text, e.to_string()),
    };
    let started = Instant::now();
    if let Err(e) = closed_loop(child.http, closed, conns).await {
        return Row::invalid(id, measure_text, e);
    }
    let answered = started.elapsed().as_secs_f64();
    match applied(&store, requests as i64, Duration::from_secs(300)).await {
        Ok(true) => {}
        Ok(false) => {
            return Row::invalid(
                id,
                measure_text,
                format!(
                    "not every callback applied: {:?} in_transit",
                    in_transit(&store).await
                ),
            )
        }
        Err(e) => return Row::invalid(id, measure_text, e),
    }
    let seconds = started.elapsed().as_secs_f64();
    let rate = requests as f64 / seconds;
    // Half that rate, new parcels: the answer's latency while the stage keeps up.
    let open_n = ((rate / 2.0 * 4.0) as usize).clamp(200, open_max);
    let open = Arc::new(callbacks(requests..requests + open_n));
    let (_, p99) = match open_loop(child.http, open, rate / 2.0).await {
        Ok(x) => x,
        Err(e) => return Row::invalid(id, measure_text, e),
    };
    let want = (requests + open_n) as i64;
    let checked = async {
        if !applied(&store, want, Duration::from_secs(120)).await? {
            return Err(format!(
                "{} of {want} orders in_transit",
                in_transit(&store).await?
            ));
        }
        let docs = store
            .raw_count(CONNECTOR)
            .await
            .map_err(|e| e.to_string())?;
        let events: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM shipment_events")
            .fetch_one(store.pool())
            .await
            .map_err(|e| e.to_string())?;
        let scans: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM order_events WHERE kind = 'scan'")
                .fetch_one(store.pool())
                .await
                .map_err(|e| e.to_string())?;
        if docs != want || events != want || scans != want {
            return Err(format!(
                "{docs} documents, {events} parcel events, {scans} scans for {want} callbacks"
            ));
        }
        Ok(())
    };
    let verified = checked.await;
    let problems = child.log_problems();
    store.close().await;
    let _ = child.stop();
    if let Err(e) = verified {
        return Row::invalid(id, measure_text, e);
    }
    let mut row = Row::ratio(
        id,
        measure_text,
        "callbacks/s",
        rate,
        base_text,
        base_rate,
        0.1,
        format!(
            "{requests} callbacks answered in {answered:.1} s, applied in {seconds:.1} s; p99 {p99:.1} ms at half rate ({open_n} more); \
             {want} documents, parcel events, scans once each; {conns} connections{}",
            match problems.first() {
                None => String::new(),
                Some(first) => format!(
                    "; {} warnings in the daemon log, first: {}",
                    problems.len(),
                    first.chars().take(200).collect::<String>()
                ),
            }
        ),
    );
    row.goal = goal.into();
    if p99 > 50.0 && row.verdict == Verdict::Pass {
        row.verdict = Verdict::Miss;
    }
    row
}
