//! L1 (cluster) and L2 (standalone): the order lifecycle from raw document to
//! `fulfilment_requested`: normalize → review (catalog, prices, address, duplicates) →
//! allocate (routing rule, stock query at the warehouse) → fulfil (the fulfilment order created
//! at a ShipBob-shaped warehouse simulator on loopback) → `order.fulfilment_requested`, through
//! a real `ordergate run` child process. Baselines: bare lapin carrying the same number of
//! messages per order, and bare SQLite doing the same number of transactions per order.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use ordergate::bus::amqp::{AmqpBus, AmqpSettings};
use ordergate::bus::embedded::{EmbeddedBus, EmbeddedSettings};
use ordergate::bus::Bus;
use ordergate::sandbox::shipbob::{self, ShipbobSandbox};
use ordergate::store::Store;
use std::sync::Arc;

use crate::daemon::{self, amqp_url, Env, Profile};
use crate::docs;
use crate::pipeline::{self, publish_all, store_raw_with};

/// Messages one order puts through the broker on this path: `raw.*`, `order.received`,
/// `order.approved`, `order.allocated` (`order.fulfilment_requested` is wanted by no queue of
/// the bench's configuration, no e-mail or subscriber, so it is not published:
/// `bus.only_wanted`).
pub const MESSAGES_PER_ORDER: u64 = 4;
/// Stage units (transactions) one order takes: normalize, review, allocate, fulfil.
pub const UNITS_PER_ORDER: u64 = 4;
/// The stages on the path: their queues must be empty after the run.
const STAGES: [&str; 4] = ["normalize", "review", "allocate", "fulfil"];

/// What one lifecycle run measured.
#[derive(Debug, Clone)]
pub struct LifecycleRun {
    /// Orders per second in the timed part.
    pub rate: f64,
    pub orders: u64,
    pub seconds: f64,
    /// The daemon's CPU time (user + system) per timed order, ms.
    pub cpu_ms_per_order: Option<f64>,
    /// What was verified.
    pub verified: String,
}

/// The catalog the sample's lines need (SKU, price list), so review approves them.
fn catalog_csv(
    normalizer: &ordergate::normalize::Normalizer,
    sample: &docs::Sample,
) -> Result<String, String> {
    let doc = sample.variant(1).remove(0);
    let order = normalizer
        .normalize(sample.format, &[&doc])
        .map_err(|e| e.to_string())?
        .remove(0);
    let currency = order.currency.clone().ok_or("the sample has no currency")?;
    let mut csv = format!("sku,name,category,price_{currency}\n");
    for line in &order.lines {
        let sku = line.sku.clone().ok_or("a sample line without SKU")?;
        let price = line.unit_price.ok_or("a sample line without price")?;
        csv.push_str(&format!("{sku},{sku},bench,{price}\n"));
    }
    Ok(csv)
}

/// The lifecycle configuration: catalog, review defaults, one warehouse, one routing rule.
fn extra_config(dir: &Path, warehouse: &ShipbobSandbox) -> Result<String, String> {
    let secret = |name: &str, value: &str| -> Result<String, String> {
        let file = dir.join(name);
        std::fs::write(&file, value).map_err(|e| e.to_string())?;
        Ok(format!("file:{}", file.display()))
    };
    Ok(format!(
        "[catalog]\npath = \"{catalog}\"\n\n\
         [[warehouses]]\nname = \"east\"\ndefinition = \"shipbob\"\ndefinitions = \"{defs}\"\n\
         base_url = \"{url}\"\nparams = {{ channel_id = \"{channel}\" }}\n\
         credentials = {{ access_token = \"{token}\", webhook_secret = \"{hook}\" }}\n\n\
         [routing]\n\n[[routing.rules]]\nname = \"all\"\nwarehouses = [\"east\"]\n",
        catalog = dir.join("catalog.csv").display(),
        defs = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("connectors/warehouses")
            .display(),
        url = warehouse.base_url(),
        channel = shipbob::CHANNEL_ID,
        token = secret("east-token", shipbob::ACCESS_TOKEN)?,
        hook = secret("east-webhook-secret", shipbob::WEBHOOK_SECRET)?,
    ))
}

async fn requested(store: &Store) -> Result<i64, String> {
    sqlx::query_scalar("SELECT COUNT(*) FROM orders WHERE state = 'fulfilment_requested'")
        .fetch_one(store.pool())
        .await
        .map_err(|e| e.to_string())
}

async fn wait_requested(store: &Store, target: u64, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    loop {
        let n = requested(store).await?;
        if n as u64 >= target {
            return Ok(());
        }
        if Instant::now() > deadline {
            let states: Vec<(String, i64)> =
                sqlx::query_as("SELECT state, COUNT(*) FROM orders GROUP BY state")
                    .fetch_all(store.pool())
                    .await
                    .map_err(|e| e.to_string())?;
            return Err(format!(
                "{n} of {target} orders fulfilment_requested after {timeout:?} (orders by state: {states:?})"
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs the lifecycle in `profile`: `warm` orders first, then `n` timed.
pub async fn run(
    profile: Profile,
    tmp_root: &Path,
    normalizer: &ordergate::normalize::Normalizer,
    n: u64,
    warm: u64,
) -> Result<LifecycleRun, String> {
    let env = Env::new(profile, tmp_root).await?;
    // Stock for every order of the run: a shortage would backorder them (another path).
    let settings = ordergate::sandbox::warehouse::SimSettings {
        default_stock: rust_decimal::Decimal::from(1_000_000_000u64),
        ..Default::default()
    };
    let warehouse = ShipbobSandbox::start("127.0.0.1:0", settings)
        .await
        .map_err(|e| format!("warehouse simulator: {e}"))?;
    let result = run_in(&env, &warehouse, normalizer, n, warm).await;
    warehouse.stop().await;
    env.cleanup_broker(&[]).await;
    result
}

async fn run_in(
    env: &Env,
    warehouse: &ShipbobSandbox,
    normalizer: &ordergate::normalize::Normalizer,
    n: u64,
    warm: u64,
) -> Result<LifecycleRun, String> {
    let sample = docs::load("shopify")?;
    std::fs::write(
        env.dir.path().join("catalog.csv"),
        catalog_csv(normalizer, &sample)?,
    )
    .map_err(|e| e.to_string())?;
    let extra = extra_config(env.dir.path(), warehouse)?;
    let cfg = env.config(&extra)?;
    let mut child = env.spawn(&extra, &[])?;
    child.ready(Duration::from_secs(60)).await?;

    let store = Store::connect(&env.store_url(), 4, &cfg.store.sqlite_synchronous)
        .await
        .map_err(|e| e.to_string())?;
    let topology = ordergate::app::topology(&cfg);
    let bus: Arc<dyn Bus> = match env.profile {
        Profile::Cluster => {
            let bus = AmqpBus::connect(&amqp_url(), topology.clone(), AmqpSettings::default())
                .await
                .map_err(|e| e.to_string())?;
            bus.declare(&topology).await.map_err(|e| e.to_string())?;
            Arc::new(bus)
        }
        Profile::Standalone => Arc::new(EmbeddedBus::new(
            store.clone(),
            topology.clone(),
            EmbeddedSettings::default(),
        )),
    };
    let variant = docs::Sample::customer_variant;
    let warm_events = store_raw_with(&store, &sample, 0..warm, variant).await?;
    let events = store_raw_with(&store, &sample, warm..warm + n, variant).await?;
    let timeout = Duration::from_secs(90 + n / 10);

    publish_all(bus.clone(), warm_events).await?;
    wait_requested(&store, warm, timeout).await?;
    let cpu_before = daemon::cpu_ms(child.pid());
    let started = Instant::now();
    let publisher = tokio::spawn(publish_all(bus.clone(), events));
    wait_requested(&store, warm + n, timeout).await?;
    let seconds = started.elapsed().as_secs_f64();
    let cpu_after = daemon::cpu_ms(child.pid());
    publisher.await.map_err(|e| e.to_string())??;

    // Every order once: one fulfilment order at the warehouse each, one transition each.
    let total = warm + n;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let created: BTreeMap<String, u32> = warehouse.state.created();
    let twice = created.values().filter(|c| **c != 1).count();
    if created.len() as u64 != total || twice != 0 {
        return Err(format!(
            "the warehouse received {} distinct fulfilment orders for {total} orders, {twice} more than once",
            created.len()
        ));
    }
    let stored = store
        .order_count(pipeline::CONNECTOR)
        .await
        .map_err(|e| e.to_string())?;
    let transitions: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM order_events WHERE kind = 'request_fulfilment'")
            .fetch_one(store.pool())
            .await
            .map_err(|e| e.to_string())?;
    let in_state = requested(&store).await?;
    if stored != total as i64 || transitions != total as i64 || in_state != total as i64 {
        return Err(format!(
            "{stored} orders stored, {transitions} fulfilment requests recorded, {in_state} in fulfilment_requested, of {total}"
        ));
    }
    // The baseline carries MESSAGES_PER_ORDER: the daemon published no more (the raw
    // event is published by this harness).
    let out =
        crate::shipout::metric_sum(&child, &[ordergate::telemetry::metric::MESSAGES_OUT]).await?;
    if out > ((MESSAGES_PER_ORDER - 1) * total) as f64 {
        return Err(format!(
            "the daemon published {out} events for {total} orders, more than the {} per order \
             the baseline carries",
            MESSAGES_PER_ORDER - 1
        ));
    }
    let queues: Vec<String> = STAGES.iter().map(|s| topology.stage_queue(s)).collect();
    pipeline::settled(&store, &bus, &queues).await?;
    let problems = pipeline::finish(child, bus, store).await?;
    Ok(LifecycleRun {
        rate: n as f64 / seconds,
        orders: n,
        seconds,
        cpu_ms_per_order: cpu_before
            .zip(cpu_after)
            .map(|(a, b)| (b - a) / n as f64),
        verified: format!(
            "{total} orders reviewed, allocated and requested once each (one fulfilment order each at the simulator, one request_fulfilment event each), outbox and stage queues empty, nothing parked{problems}"
        ),
    })
}

/// L2's baseline: bare SQLite (sqlx, one connection, WAL, `synchronous` as configured) doing
/// [`UNITS_PER_ORDER`] transactions per order, each the writes of one stage unit: the order's
/// row (inserted, then its state updated), an audit event, the inbox entry, the outbox row, and
/// the next queue's message inserted and the consumed one deleted.
pub async fn sqlite_baseline(
    tmp_root: &Path,
    n: u64,
    synchronous: &str,
    order_json: &str,
    event_json: &str,
) -> Result<f64, String> {
    use sqlx::Connection;
    let (_dir, mut conn) = pipeline::baseline_sqlite(tmp_root, synchronous).await?;
    let e = |e: sqlx::Error| e.to_string();
    let ids: Vec<String> = (0..n)
        .map(|_| format!("og_{}", uuid::Uuid::now_v7().simple()))
        .collect();
    let started = Instant::now();
    for (i, id) in ids.iter().enumerate() {
        for unit in 0..UNITS_PER_ORDER {
            let now = ordergate::store::now_ms();
            let msg = uuid::Uuid::now_v7().to_string();
            let mut tx = conn.begin().await.map_err(e)?;
            if unit == 0 {
                sqlx::query("INSERT INTO orders (id, connector, external_id, state, source_status, content_hash, canonical, raw_id, created_at, updated_at) VALUES (?, ?, ?, 'received', 'open', ?, ?, ?, ?, ?)")
                    .bind(id).bind(pipeline::CONNECTOR).bind(format!("ext-{i}")).bind(&msg).bind(order_json).bind(&msg).bind(now).bind(now)
                    .execute(&mut *tx).await.map_err(e)?;
            } else {
                sqlx::query("UPDATE orders SET state = ?, updated_at = ? WHERE id = ?")
                    .bind(format!("state-{unit}"))
                    .bind(now)
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(e)?;
            }
            sqlx::query("INSERT INTO order_events (order_id, at, kind, from_state, to_state, cause, data) VALUES (?, ?, ?, NULL, 'x', ?, ?)")
                .bind(id).bind(now).bind(format!("unit-{unit}")).bind(&msg).bind(&msg)
                .execute(&mut *tx).await.map_err(e)?;
            sqlx::query("INSERT INTO inbox (consumer, message_id, processed_at) VALUES (?, ?, ?)")
                .bind(format!("stage-{unit}"))
                .bind(&msg)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(e)?;
            sqlx::query("INSERT INTO outbox (envelope_id, envelope, created_at) VALUES (?, ?, ?)")
                .bind(&msg)
                .bind(event_json)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(e)?;
            sqlx::query("INSERT INTO bus_messages (queue, message_id, body, visible_at, enqueued_at) VALUES (?, ?, ?, ?, ?)")
                .bind(format!("q-{}", unit + 1)).bind(&msg).bind(event_json).bind(now).bind(now)
                .execute(&mut *tx).await.map_err(e)?;
            sqlx::query("DELETE FROM bus_messages WHERE seq = (SELECT MIN(seq) FROM bus_messages WHERE queue = ?)")
                .bind(format!("q-{unit}"))
                .execute(&mut *tx)
                .await
                .map_err(e)?;
            tx.commit().await.map_err(e)?;
        }
    }
    let elapsed = started.elapsed();
    let events: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM order_events")
        .fetch_one(&mut conn)
        .await
        .map_err(e)?;
    if events != (n * UNITS_PER_ORDER) as i64 {
        return Err(format!(
            "baseline wrote {events} events of {}",
            n * UNITS_PER_ORDER
        ));
    }
    let _ = conn.close().await;
    Ok(n as f64 / elapsed.as_secs_f64())
}
