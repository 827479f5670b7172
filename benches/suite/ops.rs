//! R1 and U1 (issue 15): the KPI report and the dashboard over many orders in PostgreSQL.
//!
//! The orders and their event logs are generated in the database (`generate_series`), in time
//! order over 2025: each order received, approved, fulfilment requested (one in ten late), shipped, delivered (one in seven
//! after its promised date), one in four rated. `BENCH_KPI_ORDERS` sets the size (default
//! 1,000,000; `BENCH_QUICK`: 20,000); R1's growth figure compares a tenth of it with all of it.
//!
//! * **R1**: the monthly KPI report (rollup brought up to date first, as every report does)
//!   against a plain `GROUP BY` month and kind over the same `order_events` table, same run;
//!   and the report's time at the full size over its time at a tenth (≤ 10: no worse than linear).
//! * **U1**: dashboard pages (pipeline, order page, order search, exceptions, connectors, a
//!   month of KPIs) served by the daemon's router at that size, pages/s in a closed loop against
//!   `/healthz` of the same server; then p99 in an open loop at half that rate (≤ 100 ms).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ordergate::kpi::{KpiQuery, Period};
use ordergate::store::Store;
use sqlx::Connection;

use crate::daemon::{Env, Profile};
use crate::http::Conn;
use crate::report::Row;

/// 2025-01-01T00:00:00Z.
const BASE_MS: i64 = 1_735_689_600_000;
const DAY_MS: i64 = 86_400_000;
/// Orders per generating statement.
const CHUNK: i64 = 100_000;
const SESSION: &str = "bench-session-cookie-value";

fn size() -> i64 {
    let quick = std::env::var("BENCH_QUICK").is_ok_and(|v| v != "0");
    std::env::var("BENCH_KPI_ORDERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 20_000 } else { 1_000_000 })
        .max(100)
}

/// Orders `first..=last` with their events, generated in the database.
async fn generate(url: &str, first: i64, last: i64, n: i64) -> Result<(), String> {
    // Orders arrive in time order over a year, as they do (the table's order follows time).
    let step = 365 * DAY_MS / n;
    let mut c = sqlx::PgConnection::connect(url)
        .await
        .map_err(|e| e.to_string())?;
    let mut from = first;
    while from <= last {
        let to = (from + CHUNK - 1).min(last);
        let orders = format!(
            "INSERT INTO orders (id, connector, external_id, state, source_status, content_hash, canonical, \
             raw_id, created_at, updated_at) \
             SELECT 'og_b' || g, (ARRAY['shop','amz','mail'])[g % 3 + 1], 'ext' || g, \
             CASE WHEN g % 50 = 0 THEN 'shipped' ELSE 'delivered' END, 'open', 'h', \
             '{{\"source\":{{\"format\":\"manual\",\"channel\":\"' || (ARRAY['web','marketplace','email'])[g % 3 + 1] || \
             '\",\"external_id\":\"ext' || g || '\",\"status\":\"open\"}},\"placed_at\":\"2025-01-01T00:00:00Z\",\
             \"currency\":\"EUR\",\"customer\":{{}},\"ship_to\":null,\"lines\":[],\"total\":\"' || (10 + g % 90) || '.50\",\
             \"requested_delivery\":\"' || to_char(to_timestamp(({BASE_MS} + g * {step}) / 1000.0) AT TIME ZONE 'UTC' + interval '4 days', 'YYYY-MM-DD') || '\"}}', \
             NULL, {BASE_MS} + g * {step}, {BASE_MS} + g * {step} \
             FROM generate_series({from}::bigint, {to}::bigint) g"
        );
        let events = format!(
            "INSERT INTO order_events (order_id, at, kind, from_state, to_state, cause, data) \
             SELECT 'og_b' || g, {BASE_MS} + g * {step} + v.off, v.kind, NULL, NULL, 'bench', v.data \
             FROM generate_series({from}::bigint, {to}::bigint) g CROSS JOIN LATERAL (VALUES \
               ('received', 0::bigint, NULL::text), ('approve', 1800000::bigint, NULL), \
               ('request_fulfilment', CASE WHEN g % 10 = 0 THEN 108000000::bigint ELSE 7200000::bigint END, NULL), \
               ('ship', 86400000::bigint, NULL), \
               ('deliver', CASE WHEN g % 7 = 0 THEN 604800000::bigint ELSE 259200000::bigint END, NULL), \
               ('feedback_received', 691200000::bigint, CASE WHEN g % 4 = 0 THEN '{{\"rating\": ' || (1 + g % 5) || '}}' END) \
             ) v(kind, off, data) WHERE v.kind <> 'feedback_received' OR g % 4 = 0 \
             ORDER BY g"
        );
        for sql in [orders, events] {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut c)
                .await
                .map_err(|e| format!("generating orders {from}..{to}: {e}"))?;
        }
        from = to + 1;
    }
    sqlx::query("ANALYZE")
        .execute(&mut c)
        .await
        .map_err(|e| e.to_string())?;
    let _ = c.close().await;
    Ok(())
}

fn year() -> KpiQuery {
    KpiQuery {
        from: ordergate::store::ms_to_time(BASE_MS),
        to: ordergate::store::ms_to_time(BASE_MS + 400 * DAY_MS),
        period: Period::Month,
        by: None,
        now: chrono::Utc::now(),
    }
}

/// The median of three timed runs of `f`, in seconds, and its last result.
async fn median3<T, F, Fut>(mut f: F) -> Result<(f64, T), String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..3 {
        let t = Instant::now();
        last = Some(f().await?);
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    Ok((times[1], last.ok_or("no run")?))
}

async fn report_time(
    store: &Store,
    cfg: &ordergate::config::kpi::KpiConfig,
    n: i64,
) -> Result<f64, String> {
    let (t, r) = median3(|| async {
        ordergate::kpi::report(store, cfg, &year())
            .await
            .map_err(|e| e.to_string())
    })
    .await?;
    if r.total.orders != n {
        return Err(format!(
            "the report counts {} orders of {n}",
            r.total.orders
        ));
    }
    Ok(t)
}

async fn group_by_time(store: &Store, n: i64) -> Result<f64, String> {
    let (t, rows) = median3(|| async {
        sqlx::query_as::<_, (i64, String, i64)>(
            "SELECT at / 2592000000 AS month, kind, COUNT(*) FROM order_events GROUP BY 1, 2",
        )
        .fetch_all(store.pool())
        .await
        .map_err(|e| e.to_string())
    })
    .await?;
    let received: i64 = rows.iter().filter(|r| r.1 == "received").map(|r| r.2).sum();
    if received != n {
        return Err(format!("the GROUP BY counts {received} receipts of {n}"));
    }
    Ok(t)
}

/// R1 and U1 over one generated database.
pub async fn run(tmp_root: &Path, r1: bool, u1: bool) -> Vec<Row> {
    let n = size();
    let small = (n / 10).max(10);
    let measure = "monthly KPI report (rollup up to date, 5 rates, sales), reports/s";
    let env = match Env::new(Profile::Cluster, tmp_root).await {
        Ok(e) => e,
        Err(e) => return vec![Row::invalid("R1", measure, e)],
    };
    let url = env.store_url();
    let store = match Store::connect(&url, 8, "full").await {
        Ok(s) => s,
        Err(e) => return vec![Row::invalid("R1", measure, e.to_string())],
    };
    let result = async {
        let cfg = ordergate::config::kpi::KpiConfig::default();
        let t = Instant::now();
        generate(&url, 1, small, n).await?;
        let gen_small = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let rebuilt = ordergate::kpi::rebuild(&store).await.map_err(|e| e.to_string())?;
        let rebuild_small = t.elapsed().as_secs_f64();
        if rebuilt.orders as i64 != small {
            return Err(format!("rebuilt {} orders of {small}", rebuilt.orders));
        }
        let t_small = report_time(&store, &cfg, small).await?;
        let t = Instant::now();
        generate(&url, small + 1, n, n).await?;
        let gen_rest = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let refreshed = ordergate::kpi::refresh(&store).await.map_err(|e| e.to_string())?;
        let refresh_rest = t.elapsed().as_secs_f64();
        let t_big = report_time(&store, &cfg, n).await?;
        let t_base = group_by_time(&store, n).await?;
        let events: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM order_events")
            .fetch_one(store.pool())
            .await
            .map_err(|e| e.to_string())?;
        Ok::<_, String>((t_small, t_big, t_base, events, format!(
            "generated {small} orders in {gen_small:.0} s, rollup rebuilt in {rebuild_small:.1} s; {} more in {gen_rest:.0} s, \
             rollup refreshed ({} orders) in {refresh_rest:.1} s",
            n - small, refreshed.orders
        )))
    }
    .await;
    let mut rows = Vec::new();
    match result {
        Ok((t_small, t_big, t_base, events, cost)) => {
            if r1 {
                rows.push(Row::ratio(
                    "R1",
                    measure,
                    "reports/s",
                    1.0 / t_big,
                    format!("plain SELECT month, kind, COUNT(*) FROM order_events GROUP BY 1, 2 ({events} events)"),
                    1.0 / t_base,
                    0.3,
                    format!("{n} orders, {events} events in PostgreSQL; report {:.0} ms, GROUP BY {:.0} ms (medians of 3); every order counted once; {cost}", t_big * 1000.0, t_base * 1000.0),
                ));
                rows.push(Row::at_most(
                    "R1/growth",
                    format!("report time at {n} orders over its time at {small} (10× the orders)"),
                    "×",
                    t_big / t_small,
                    10.0,
                    format!(
                        "{:.0} ms at {small}, {:.0} ms at {n}",
                        t_small * 1000.0,
                        t_big * 1000.0
                    ),
                ));
            }
            if u1 {
                rows.extend(dashboard(&store, n).await);
            }
        }
        Err(e) => {
            rows.push(Row::invalid("R1", measure, e.clone()));
            if u1 {
                rows.push(Row::invalid("U1", "dashboard pages/s", e));
            }
        }
    }
    store.close().await;
    drop(env);
    rows
}

/// The dashboard's pages, one after another.
fn pages(n: i64, i: usize) -> String {
    let g = (i as i64 * 7919) % n + 1;
    match i % 6 {
        0 => "/ui/pipeline".into(),
        1 => format!("/ui/orders/og_b{g}"),
        2 => format!("/ui/orders?q=ext{g}"),
        3 => "/ui/exceptions".into(),
        4 => "/ui/connectors".into(),
        _ => format!(
            "/ui/kpi?from=2025-{:02}-01&to=2025-{:02}-01&period=week",
            1 + g % 11,
            2 + g % 11
        ),
    }
}

async fn get_ok(conn: &mut Conn, path: &str, cookie: &str) -> Result<(), String> {
    let r = conn
        .request("GET", path, &[("Cookie", cookie)], b"")
        .await
        .map_err(|e| e.to_string())?;
    if r.status != 200 {
        return Err(format!("{path}: status {}", r.status));
    }
    Ok(())
}

/// Closed loop over `total` requests on `conns` connections; requests/s.
async fn closed(addr: SocketAddr, paths: Arc<Vec<String>>, conns: usize) -> Result<f64, String> {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..conns {
        let (paths, next) = (paths.clone(), next.clone());
        tasks.spawn(async move {
            let mut conn = Conn::open(addr).await.map_err(|e| e.to_string())?;
            let cookie = format!("og_session={SESSION}");
            let mut done = 0usize;
            while let Some(p) = paths.get(next.fetch_add(1, Ordering::Relaxed)) {
                get_ok(&mut conn, p, &cookie).await?;
                done += 1;
            }
            Ok::<_, String>(done)
        });
    }
    let mut served = 0;
    while let Some(r) = tasks.join_next().await {
        served += r.map_err(|e| e.to_string())??;
    }
    if served != paths.len() {
        return Err(format!("{served} of {} pages served", paths.len()));
    }
    Ok(served as f64 / started.elapsed().as_secs_f64())
}

/// Open loop at `rate`/s; p50 and p99 in ms from each request's scheduled time.
async fn open(addr: SocketAddr, paths: Arc<Vec<String>>, rate: f64) -> Result<(f64, f64), String> {
    let next = Arc::new(AtomicUsize::new(0));
    let t0 = tokio::time::Instant::now() + Duration::from_millis(50);
    let interval = Duration::from_secs_f64(1.0 / rate.max(1.0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let (paths, next) = (paths.clone(), next.clone());
        tasks.spawn(async move {
            let mut conn = Conn::open(addr).await.map_err(|e| e.to_string())?;
            let cookie = format!("og_session={SESSION}");
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(p) = paths.get(i) else { break };
                let scheduled = t0 + interval * i as u32;
                tokio::time::sleep_until(scheduled).await;
                get_ok(&mut conn, p, &cookie).await?;
                lat.push((tokio::time::Instant::now() - scheduled).as_secs_f64() * 1000.0);
            }
            Ok::<_, String>(lat)
        });
    }
    let mut all = Vec::new();
    while let Some(r) = tasks.join_next().await {
        all.extend(r.map_err(|e| e.to_string())??);
    }
    all.sort_by(f64::total_cmp);
    let p = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)];
    Ok((p(0.5), p(0.99)))
}

/// U1: the daemon's router over the generated store, in this process.
async fn dashboard(store: &Store, n: i64) -> Vec<Row> {
    let measure = format!("dashboard pages at {n} orders (pipeline, order, search, exceptions, connectors, KPIs), pages/s");
    let result = async {
        use sha2::Digest;
        let digest = hex::encode(sha2::Sha256::digest(SESSION.as_bytes()));
        sqlx::query(
            "INSERT INTO ui_sessions (id_hash, holder, role, csrf, created_at, expires_at) VALUES ($1, 'bench', 'operator', 'x', 0, $2)",
        )
        .bind(digest)
        .bind(i64::MAX / 2)
        .execute(store.pool())
        .await
        .map_err(|e| e.to_string())?;
        let bus: Arc<dyn ordergate::bus::Bus> = Arc::new(ordergate::bus::embedded::EmbeddedBus::new(
            store.clone(),
            ordergate::bus::Topology::standard("bench", vec![Duration::from_secs(1)]),
            Default::default(),
        ));
        let documents = Arc::new(ordergate::intake::DocumentWriter::new(store.clone(), bus.as_ref()));
        let state = ordergate::http::AppState {
            store: store.clone(),
            bus,
            health: Arc::new(ordergate::health::HealthTracker::new(store.clone(), Default::default())),
            api_tokens: Arc::new(vec![ordergate::http::ApiKey {
                token: "bench-token".into(),
                name: "bench".into(),
                role: ordergate::config::ApiRole::Operator,
            }]),
            hooks: Arc::new(Default::default()),
            tracking: Arc::new(Default::default()),
            warehouses: Arc::new(Default::default()),
            documents,
            catalog: Arc::new(ordergate::catalog::CatalogSource::new(None, store.clone())),
            root_causes: Arc::new(vec!["other".into()]),
            ops: Arc::new(ordergate::ui::Ops::default()),
            notices: Arc::new(ordergate::notices::public::PublicPages::new(&Default::default(), &[])),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, ordergate::http::app(state)).await;
        });
        let quick = std::env::var("BENCH_QUICK").is_ok_and(|v| v != "0");
        let count = if quick { 300 } else { 3_000 };
        let page_paths: Arc<Vec<String>> = Arc::new((0..count).map(|i| pages(n, i)).collect());
        // Warm the caches and the rollup.
        closed(addr, Arc::new(page_paths[..60].to_vec()), 4).await?;
        let rate = closed(addr, page_paths.clone(), 8).await?;
        let health: Arc<Vec<String>> = Arc::new(vec!["/healthz".to_string(); count * 4]);
        let base = closed(addr, health, 8).await?;
        let open_n = ((rate / 2.0 * 10.0) as usize).clamp(100, count);
        let (p50, p99) = open(addr, Arc::new(page_paths[..open_n].to_vec()), rate / 2.0).await?;
        server.abort();
        Ok::<_, String>((rate, base, p50, p99, open_n))
    }
    .await;
    match result {
        Ok((rate, base, p50, p99, open_n)) => vec![
            Row::ratio(
                "U1",
                measure,
                "pages/s",
                rate,
                "GET /healthz of the same server, same client and connections",
                base,
                0.0,
                "closed loop, 8 connections, every page 200 for a signed-in session; the issue sets no ratio for it: its goal is the p99 row below",
            ),
            Row::at_most(
                "U1/p99",
                format!("dashboard page latency p99 at half the max rate ({:.0}/s)", rate / 2.0),
                "ms",
                p99,
                100.0,
                format!("open loop, {open_n} pages, p50 {p50:.1} ms, latency from each request's scheduled time"),
            ),
        ],
        Err(e) => vec![Row::invalid("U1", measure, e)],
    }
}
