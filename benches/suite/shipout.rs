//! S1 (cluster): shipping out, from `fulfilment_requested` to the customer's e-mail accepted by
//! an SMTP server and the push-back accepted by the marketplace simulator, through a real
//! `ordergate run` child process on PostgreSQL and RabbitMQ.
//!
//! Untimed, the orders come the whole L1 way: the Shopify-shaped sandbox store is pulled by the
//! marketplace connector (so the store simulator knows every order it is later told about),
//! reviewed, allocated to a pick-list warehouse that books no carrier, and its pick list written
//! (`fulfilment_requested`). Nothing packs them until every order has settled there. Timed: the
//! sandbox packer packs every waiting pick list at once (one parcel each) → the confirmation is
//! read back (`warehouse.local`) → `packed` → the ship stage buys one label from the EasyPost
//! simulator → `shipped` → the push-back to the store simulator (`on_label`) and the shipped
//! e-mail (recorded by the notify stage, sent by the notices sender to the demo's SMTP sink).
//! The clock stops when the store simulator holds a push-back and the store a sent shipped
//! e-mail for every order. Baseline: bare lapin carrying the messages per order the daemon
//! published on that path (read from its `/metrics`), in the same run.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ordergate::bus::amqp::{AmqpBus, AmqpSettings};
use ordergate::bus::Bus;
use ordergate::demo::smtp::SmtpSink;
use ordergate::sandbox::carrier::CarrierSandbox;
use ordergate::sandbox::shipout::ShipOut;
use ordergate::sandbox::{easypost, Platform, Sandbox};
use ordergate::store::Store;
use tokio_util::sync::CancellationToken;

use crate::daemon::{self, amqp_url, Env, Profile};
use crate::pipeline;

#[path = "../../tests/common/sim.rs"]
#[allow(dead_code)] // The pull tests' helpers; S1 uses the simulator start and the sections.
mod sim;

/// The warehouse's name in the configuration.
const WAREHOUSE: &str = "local";
/// The marketplace connector's name.
const SHOP: &str = "shop";
/// The stages on the timed path (and the ones the untimed part passes): empty queues after.
const STAGES: [&str; 8] = [
    "normalize",
    "review",
    "allocate",
    "fulfil",
    "warehouse",
    "ship",
    "pushback",
    "notify",
];

/// What one S1 run measured.
#[derive(Debug, Clone)]
pub struct ShipoutRun {
    /// Orders per second in the timed part.
    pub rate: f64,
    /// Orders timed (those the review approved: the sandbox mixes in orders that wait for
    /// payment, need information or are refunded).
    pub orders: u64,
    /// Orders the store simulator held.
    pub pulled: u64,
    pub seconds: f64,
    /// The daemon's CPU time (user + system) per timed order, ms.
    pub cpu_ms_per_order: Option<f64>,
    /// Broker messages the daemon published per timed order (stage events and the warehouse
    /// confirmations it read), from its `/metrics`.
    pub messages_per_order: f64,
    /// What was verified.
    pub verified: String,
}

/// The S1 configuration besides the store and bus: the marketplace connector with push-back
/// on label, the pick-list warehouse, routing, one transport rule, the EasyPost carrier and
/// the notices to the SMTP sink.
fn extra_config(
    dir: &Path,
    shop: &Sandbox,
    carrier: &CarrierSandbox,
    smtp_port: u16,
) -> Result<String, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let catalog = dir.join("catalog.csv");
    std::fs::write(&catalog, ordergate::sandbox::data::catalog_csv()).map_err(|e| e.to_string())?;
    let shop_section = sim::marketplace_section(SHOP, shop, dir, 250)
        .replace("poll_interval_ms = 100\n", "poll_interval_ms = 1000\n")
        .replace(
            "lease_ms = 3000\n",
            "lease_ms = 3000\npushback = \"on_label\"\n",
        );
    if !shop_section.contains("pushback = \"on_label\"") {
        return Err("the marketplace section changed shape: no push-back policy set".into());
    }
    let mut ship_out = ShipOut::new(
        &root.join("connectors"),
        dir,
        WAREHOUSE,
        &carrier.base_url(),
        &sim::secret_file(dir, "ep-key", easypost::API_KEY),
    );
    (ship_out.pick, ship_out.confirm) = (dir.join("pick"), dir.join("confirm"));
    ship_out.sender = "Ordergate Bench Warehouse".into();
    Ok(format!(
        r#"
[catalog]
path = "{catalog}"

{shop_section}
{ship_out}
[notices]
smtp_host = "127.0.0.1"
smtp_port = {smtp_port}
tls = "none"
from = "Shop <shop@example.com>"
templates_dir = "{templates}"
"#,
        catalog = catalog.display(),
        ship_out = ship_out.toml(),
        templates = root.join("templates/notices").display(),
    ))
}

async fn count(store: &Store, sql: &str) -> Result<i64, String> {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_one(store.pool())
        .await
        .map_err(|e| e.to_string())
}

/// Pick lists waiting in the warehouse's folder.
fn pick_lists(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("pick"))
        .map(|d| {
            d.flatten()
                .filter(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    !name.starts_with('.') && name.ends_with(".csv")
                })
                .count()
        })
        .unwrap_or(0)
}

/// The sum over every label set of the counters named `names` in the daemon's `/metrics`.
pub(crate) async fn metric_sum(child: &daemon::ChildDaemon, names: &[&str]) -> Result<f64, String> {
    let r = crate::http::get(child.http, "/metrics")
        .await
        .map_err(|e| format!("/metrics: {e}"))?;
    if r.status != 200 {
        return Err(format!("/metrics answered {}", r.status));
    }
    let text = String::from_utf8_lossy(&r.body);
    Ok(text
        .lines()
        .filter(|l| {
            names.iter().any(|n| {
                l.strip_prefix(n)
                    .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
            })
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum())
}

/// What the daemon published to the broker so far: its stages' events and the documents its
/// intake stored (each announced by one event).
async fn published(child: &daemon::ChildDaemon) -> Result<f64, String> {
    metric_sum(
        child,
        &[
            ordergate::telemetry::metric::MESSAGES_OUT,
            ordergate::telemetry::metric::DOCUMENTS,
        ],
    )
    .await
}

/// Waits until the untimed part has settled: every order of the store simulator pulled and
/// stored, every approved order's pick list written, no notice pending, queues and outbox
/// empty. Returns (orders stored, orders at `fulfilment_requested`).
async fn settle_untimed(
    env: &Env,
    store: &Store,
    bus: &Arc<dyn Bus>,
    queues: &[String],
    total: u64,
    timeout: Duration,
) -> Result<(u64, u64), String> {
    let deadline = Instant::now() + timeout;
    let mut last = (0, 0, 0);
    let mut stable_since = Instant::now();
    loop {
        let stored = count(store, "SELECT COUNT(*) FROM orders").await?;
        let requested = count(
            store,
            "SELECT COUNT(*) FROM orders WHERE state = 'fulfilment_requested'",
        )
        .await?;
        let moving = count(
            store,
            "SELECT COUNT(*) FROM orders WHERE state IN ('approved', 'allocated')",
        )
        .await?;
        let pending = count(
            store,
            "SELECT COUNT(*) FROM notices WHERE status IN ('pending', 'sending', 'data')",
        )
        .await?;
        let lists = pick_lists(env.dir.path()) as i64;
        let mut depth = 0;
        for q in queues {
            depth += bus.depth(q).await.map_err(|e| e.to_string())?;
        }
        let now = (stored, requested, lists);
        if now != last {
            last = now;
            stable_since = Instant::now();
        }
        if stored as u64 == total
            && moving == 0
            && pending == 0
            && depth == 0
            && lists == requested
            && stable_since.elapsed() > Duration::from_secs(2)
        {
            return Ok((stored as u64, requested as u64));
        }
        if Instant::now() > deadline {
            return Err(format!(
                "the untimed part did not settle in {timeout:?}: {stored} of {total} orders stored, {requested} fulfilment_requested, {moving} approved or allocated, {lists} pick lists, {pending} notices pending, {depth} messages queued"
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Runs S1 with a store simulator of `n` orders.
pub async fn run(tmp_root: &Path, n: u64) -> Result<ShipoutRun, String> {
    let env = Env::new(Profile::Cluster, tmp_root).await?;
    let shop = sim::start(Platform::Shopify, n as usize, 14).await;
    let carrier = easypost::start("127.0.0.1:0")
        .await
        .map_err(|e| format!("carrier simulator: {e}"))?;
    let sink = SmtpSink::start()
        .await
        .map_err(|e| format!("SMTP sink: {e}"))?;
    let result = run_in(&env, &shop, &carrier, &sink, n).await;
    sink.stop();
    carrier.stop().await;
    shop.stop().await;
    env.cleanup_broker(&[]).await;
    result
}

async fn run_in(
    env: &Env,
    shop: &Sandbox,
    carrier: &CarrierSandbox,
    sink: &SmtpSink,
    n: u64,
) -> Result<ShipoutRun, String> {
    let dir = env.dir.path();
    let extra = extra_config(dir, shop, carrier, sink.port)?;
    let cfg = env.config(&extra)?;
    let mut child = env.spawn(&extra, &[])?;
    child.ready(Duration::from_secs(60)).await?;
    let store = Store::connect(&env.store_url(), 4, &cfg.store.sqlite_synchronous)
        .await
        .map_err(|e| e.to_string())?;
    let topology = ordergate::app::topology(&cfg);
    let amqp = AmqpBus::connect(&amqp_url(), topology.clone(), AmqpSettings::default())
        .await
        .map_err(|e| e.to_string())?;
    let bus: Arc<dyn Bus> = Arc::new(amqp);
    let queues: Vec<String> = STAGES.iter().map(|s| topology.stage_queue(s)).collect();

    // Untimed: pulled, reviewed, allocated, pick list written.
    let timeout = Duration::from_secs(120 + n / 10);
    let (pulled, m) = settle_untimed(env, &store, &bus, &queues, n, timeout).await?;
    if m == 0 {
        return Err(format!(
            "none of {pulled} orders reached fulfilment_requested"
        ));
    }
    let mails_before = sink.caught().len();
    let sent = "SELECT COUNT(*) FROM notices WHERE notice = 'shipped' AND status = 'sent'";
    let published_before = published(&child).await?;
    let cpu_before = daemon::cpu_ms(child.pid());

    // Timed: the warehouse packs every waiting pick list at once.
    let stop = CancellationToken::new();
    let started = Instant::now();
    let packer = ordergate::sandbox::packer::spawn(
        dir.join("pick"),
        dir.join("confirm"),
        Duration::ZERO,
        stop.clone(),
    );
    let deadline = started + Duration::from_secs(120 + m / 10);
    loop {
        let pushed = shop.state.push.creates_per_order().len() as u64;
        let mailed = count(&store, sent).await? as u64;
        if pushed >= m && mailed >= m {
            break;
        }
        if Instant::now() > deadline {
            let states: Vec<(String, i64)> =
                sqlx::query_as("SELECT state, COUNT(*) FROM orders GROUP BY state")
                    .fetch_all(store.pool())
                    .await
                    .map_err(|e| e.to_string())?;
            stop.cancel();
            return Err(format!(
                "{pushed} push-backs and {mailed} shipped e-mails of {m} orders after {:?} (orders by state: {states:?}): {}",
                started.elapsed(),
                child.log_tail()
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    let cpu_after = daemon::cpu_ms(child.pid());
    stop.cancel();
    let _ = packer.await;

    // Every order once: a label per parcel, a push-back per order, an e-mail per notice.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let published_after = published(&child).await?;
    let labels = carrier.state.labels();
    let parcels = count(&store, "SELECT COUNT(*) FROM shipments").await?;
    if labels.len() as i64 != parcels || parcels as u64 != m || labels.values().any(|c| *c != 1) {
        return Err(format!(
            "{} labels bought ({} keys, {} more than once) for {parcels} parcels of {m} orders",
            carrier.state.label_count(),
            labels.len(),
            labels.values().filter(|c| **c != 1).count()
        ));
    }
    let pushes = shop.state.push.creates_per_order();
    if pushes.len() as u64 != m || pushes.values().any(|c| *c != 1) {
        return Err(format!(
            "{} orders pushed back ({} more than once) of {m}",
            pushes.len(),
            pushes.values().filter(|c| **c != 1).count()
        ));
    }
    let proofs = count(
        &store,
        "SELECT COUNT(*) FROM pushbacks WHERE status = 'pushed'",
    )
    .await?;
    let shipped = count(
        &store,
        "SELECT COUNT(*) FROM orders WHERE state = 'shipped'",
    )
    .await?;
    let caught = sink.caught();
    let timed_mail: Vec<_> = caught[mails_before..]
        .iter()
        .filter_map(|c| c.id_and_subject().0)
        .collect();
    let distinct: BTreeSet<&String> = timed_mail.iter().collect();
    let recorded = count(&store, "SELECT COUNT(*) FROM notices").await?;
    let sent_all = count(&store, "SELECT COUNT(*) FROM notices WHERE status = 'sent'").await?;
    let mailed = count(&store, sent).await?;
    let mut per_order: BTreeMap<String, i64> = BTreeMap::new();
    for (order, k) in sqlx::query_as::<_, (String, i64)>(
        "SELECT order_id, COUNT(*) FROM notices WHERE notice = 'shipped' GROUP BY order_id",
    )
    .fetch_all(store.pool())
    .await
    .map_err(|e| e.to_string())?
    {
        per_order.insert(order, k);
    }
    if shipped as u64 != m
        || proofs as u64 != m
        || mailed as u64 != m
        || per_order.len() as u64 != m
        || per_order.values().any(|k| *k != 1)
        || timed_mail.len() as u64 != m
        || distinct.len() != timed_mail.len()
        || caught.len() as i64 != recorded
        || sent_all != recorded
    {
        return Err(format!(
            "of {m} orders: {shipped} shipped, {proofs} push-back proofs stored, {mailed} shipped e-mails sent for {} orders; the SMTP server got {} messages in the timed part ({} distinct Message-IDs) and {} in all for {recorded} notices recorded ({sent_all} sent)",
            per_order.len(),
            timed_mail.len(),
            distinct.len(),
            caught.len()
        ));
    }
    pipeline::settled(&store, &bus, &queues).await?;
    let messages_per_order = (published_after - published_before) / m as f64;
    let problems = pipeline::finish(child, bus, store).await?;
    Ok(ShipoutRun {
        rate: m as f64 / seconds,
        orders: m,
        pulled,
        seconds,
        cpu_ms_per_order: cpu_before
            .zip(cpu_after)
            .map(|(a, b)| (b - a) / m as f64),
        messages_per_order,
        verified: format!(
            "{m} orders packed, labelled, shipped, pushed back and e-mailed once each (one label per parcel at the carrier simulator, one push-back per order at the store simulator with its proof stored, one shipped e-mail per order and one message per recorded notice at the SMTP server, distinct Message-IDs), outbox and stage queues empty, nothing parked{problems}"
        ),
    })
}
