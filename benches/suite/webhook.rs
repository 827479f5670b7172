//! W1: webhook intake (`POST /hooks/orders/{connector}`, `X-Shopify-Hmac-Sha256` verified, raw
//! stored durably, enqueued, 202) against a trivial axum handler that reads the body and returns
//! 202. Same load tool, same bodies: a closed loop at fixed concurrency for the maximum rate,
//! then an open loop at half that rate for the p99 latency (measured from each request's
//! scheduled time, so a stall is not hidden).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::daemon::{Env, Profile};
use crate::docs;
use crate::http::{base64, hmac_sha256, Conn};
use crate::report::{Row, Verdict};

const SECRET: &str = "bench-webhook-secret";
const CONNECTOR: &str = "bench-hook";
const PATH: &str = "/hooks/orders/bench-hook";
/// Requests in the open-loop run, at most.
const OPEN_LOOP_MAX: usize = 4_000;
/// Connections of the open-loop run (enough that none waits for a free one at half the rate).
const OPEN_LOOP_CONNS: usize = 64;

/// A signed request: where it goes, its headers (signature included), its body.
pub struct Signed {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

fn bodies(range: std::ops::Range<u64>) -> Result<Vec<Signed>, String> {
    let sample = docs::load("shopify")?;
    Ok(range
        .map(|n| {
            let body = sample.variant(n).remove(0);
            let signature = base64(&hmac_sha256(SECRET.as_bytes(), &body));
            Signed {
                path: PATH.into(),
                headers: vec![
                    ("Content-Type".into(), "application/json".into()),
                    ("X-Shopify-Topic".into(), "orders/create".into()),
                    ("X-Shopify-Hmac-Sha256".into(), signature),
                ],
                body,
            }
        })
        .collect())
}

/// Sends one request; anything but a 2xx answer is an error.
async fn post(conn: &mut Conn, s: &Signed) -> Result<u16, String> {
    let headers: Vec<(&str, &str)> = s
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let r = conn
        .request("POST", &s.path, &headers, &s.body)
        .await
        .map_err(|e| e.to_string())?;
    if !(200..300).contains(&r.status) {
        return Err(format!(
            "status {} ({})",
            r.status,
            String::from_utf8_lossy(&r.body[..r.body.len().min(200)])
        ));
    }
    Ok(r.status)
}

/// Closed loop: `conns` connections send every body once; returns requests per second.
pub async fn closed_loop(
    addr: SocketAddr,
    reqs: Arc<Vec<Signed>>,
    conns: usize,
) -> Result<f64, String> {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..conns {
        let (reqs, next) = (reqs.clone(), next.clone());
        tasks.spawn(async move {
            let mut conn = Conn::open(addr).await.map_err(|e| e.to_string())?;
            let mut done = 0usize;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(s) = reqs.get(i) else { break };
                post(&mut conn, s).await?;
                done += 1;
            }
            Ok::<_, String>(done)
        });
    }
    let mut accepted = 0;
    while let Some(r) = tasks.join_next().await {
        accepted += r.map_err(|e| e.to_string())??;
    }
    if accepted != reqs.len() {
        return Err(format!("{accepted} of {} requests accepted", reqs.len()));
    }
    Ok(accepted as f64 / started.elapsed().as_secs_f64())
}

/// Open loop at `rate` per second over every body; returns (p50, p99) latency in ms.
pub async fn open_loop(
    addr: SocketAddr,
    reqs: Arc<Vec<Signed>>,
    rate: f64,
) -> Result<(f64, f64), String> {
    let next = Arc::new(AtomicUsize::new(0));
    let t0 = tokio::time::Instant::now() + Duration::from_millis(50);
    let interval = Duration::from_secs_f64(1.0 / rate.max(1.0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..OPEN_LOOP_CONNS {
        let (reqs, next) = (reqs.clone(), next.clone());
        tasks.spawn(async move {
            let mut conn = Conn::open(addr).await.map_err(|e| e.to_string())?;
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(s) = reqs.get(i) else { break };
                let scheduled = t0 + interval * i as u32;
                tokio::time::sleep_until(scheduled).await;
                post(&mut conn, s).await?;
                lat.push((tokio::time::Instant::now() - scheduled).as_secs_f64() * 1000.0);
            }
            Ok::<_, String>(lat)
        });
    }
    let mut all = Vec::new();
    while let Some(r) = tasks.join_next().await {
        all.extend(r.map_err(|e| e.to_string())??);
    }
    if all.len() != reqs.len() {
        return Err(format!("{} of {} requests answered", all.len(), reqs.len()));
    }
    all.sort_by(f64::total_cmp);
    let p = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)];
    Ok((p(0.5), p(0.99)))
}

/// The trivial baseline server, on a runtime of its own (2 workers, like the daemon): reads
/// the body and answers 202, for order webhooks (W1) and tracking callbacks (T1).
pub fn baseline_server() -> Result<(SocketAddr, tokio::sync::oneshot::Sender<()>), String> {
    use axum::routing::post;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async move {
            let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                return;
            };
            let trivial = post(|body: axum::body::Bytes| async move {
                std::hint::black_box(body.len());
                axum::http::StatusCode::ACCEPTED
            });
            let app = axum::Router::new()
                .route("/hooks/orders/{connector}", trivial.clone())
                .route("/hooks/tracking/{connector}", trivial);
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
        });
    });
    Ok((addr, tx))
}

/// Max rate, then p99 at half of it.
async fn measure(
    addr: SocketAddr,
    closed: Arc<Vec<Signed>>,
    open: impl FnOnce(usize) -> Result<Vec<Signed>, String>,
    conns: usize,
) -> Result<(f64, f64, f64, usize), String> {
    let max = closed_loop(addr, closed, conns).await?;
    let n = ((max / 2.0 * 4.0) as usize).clamp(200, OPEN_LOOP_MAX);
    let open = Arc::new(open(n)?);
    let (p50, p99) = open_loop(addr, open, max / 2.0).await?;
    Ok((max, p50, p99, n))
}

/// W1.
pub async fn w1(tmp_root: &Path, requests: usize, conns: usize) -> Row {
    let id = "W1";
    let measure_text =
        "webhook intake: HMAC verified, raw stored durably, enqueued, 202; requests/s";
    let goal = "≥ 0.1, p99 ≤ 50 ms";
    let closed = match bodies(0..requests as u64) {
        Ok(b) => Arc::new(b),
        Err(e) => return Row::invalid(id, measure_text, e),
    };
    let baseline = match baseline_server() {
        Ok((addr, stop)) => {
            let r = measure(addr, closed.clone(), |n| bodies(0..n as u64), conns).await;
            let _ = stop.send(());
            r
        }
        Err(e) => Err(e),
    };
    let (base_rate, _, base_p99, _) = match baseline {
        Ok(b) => b,
        Err(e) => return Row::invalid(id, measure_text, format!("baseline: {e}")),
    };
    let base_text =
        format!("trivial axum handler, read body, 202 (p99 {base_p99:.1} ms at half rate)");

    let env = match Env::new(Profile::Standalone, tmp_root).await {
        Ok(env) => env,
        Err(e) => return Row::invalid(id, measure_text, e),
    };
    let connector = format!(
        "[[connectors]]\nkind = \"webhook\"\nname = \"{CONNECTOR}\"\nformat = \"shopify\"\nauth = {{ scheme = \"shopify\", secret = \"env:ORDERGATE_BENCH_WEBHOOK_SECRET\" }}\n"
    );
    let mut child = match env.spawn(&connector, &[("ORDERGATE_BENCH_WEBHOOK_SECRET", SECRET)]) {
        Ok(c) => c,
        Err(e) => return Row::invalid(id, measure_text, e),
    };
    let not_yet = |why: String| {
        Row::not_yet(
            id,
            measure_text,
            goal,
            Some((base_text.clone(), base_rate, "req/s")),
            why,
        )
    };
    if let Err(e) = child.ready(Duration::from_secs(30)).await {
        return not_yet(format!(
            "the daemon does not accept a webhook connector on this branch yet ({})",
            e.lines()
                .last()
                .unwrap_or_default()
                .chars()
                .take(160)
                .collect::<String>()
        ));
    }
    // Probe: a route that does not exist answers 404.
    match Conn::open(child.http).await {
        Ok(mut conn) => match conn.request("POST", PATH, &[], b"{}").await {
            Ok(r) if r.status == 404 => {
                let _ = child.stop();
                return not_yet(format!(
                    "POST {PATH} answers 404: no webhook route on this branch yet"
                ));
            }
            Ok(_) => {}
            Err(e) => return Row::invalid(id, measure_text, e.to_string()),
        },
        Err(e) => return Row::invalid(id, measure_text, e.to_string()),
    }
    let ours = measure(
        child.http,
        closed.clone(),
        |n| bodies(requests as u64..(requests + n) as u64),
        conns,
    )
    .await;
    let (rate, _, p99, open_n) = match ours {
        Ok(o) => o,
        Err(e) => return Row::invalid(id, measure_text, e),
    };
    // Every accepted request is a raw document stored once.
    let stored = match ordergate::store::Store::connect(&env.store_url(), 1, "full").await {
        Ok(store) => store.raw_count(CONNECTOR).await.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    let _ = child.stop();
    let want = (requests + open_n) as i64;
    match stored {
        Ok(n) if n == want => {}
        Ok(n) => {
            return Row::invalid(
                id,
                measure_text,
                format!("{n} raw documents stored of {want} accepted"),
            )
        }
        Err(e) => return Row::invalid(id, measure_text, e),
    }
    let mut row = Row::ratio(
        id,
        measure_text,
        "req/s",
        rate,
        base_text,
        base_rate,
        0.1,
        format!(
            "p99 {p99:.1} ms at half rate; {want} raw documents stored once; {conns} connections"
        ),
    );
    row.goal = goal.into();
    if p99 > 50.0 && row.verdict == Verdict::Pass {
        row.verdict = Verdict::Miss;
    }
    row
}
