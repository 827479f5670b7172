//! P1 (cluster) and P2 (standalone): raw document published → normalized → canonical order
//! committed → `order.received` confirmed, through a real `ordergate run` child process; and
//! their baselines (bare lapin; bare SQLite inserts). M1's memory is sampled from the child.
//!
//! The daemon runs only the normalize stage (`pipeline.stages`), so the path carries the two
//! messages per order the baselines carry; the `order.received` events wait in the review
//! stage's queue, where the observer counts them. The whole lifecycle is L1/L2
//! (`lifecycle.rs`).

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use ordergate::bus::amqp::{AmqpBus, AmqpSettings};
use ordergate::bus::embedded::{EmbeddedBus, EmbeddedSettings};
use ordergate::bus::{Bus, Consumer};
use ordergate::model::{Envelope, EventType};
use ordergate::stage::normalize::RawRef;
use ordergate::store::{NewRawDocument, Store};
use sqlx::Row;

use crate::daemon::{self, amqp_url, Env, Profile};
use crate::docs;
use crate::large::{self, LargeRun};

/// The connector the documents come through.
pub const CONNECTOR: &str = "bench-shop";
/// Raw-document events per publish call (one confirm window).
pub const PUBLISH_BATCH: usize = 100;

/// What one pipeline run measured.
#[derive(Debug, Clone)]
pub struct PipelineRun {
    /// Orders per second in the timed part.
    pub rate: f64,
    /// Orders timed (after the warm-up).
    pub orders: u64,
    pub seconds: f64,
    /// RSS of the daemon idle after start, and its peak during the run (MiB).
    pub rss_idle: Option<f64>,
    pub rss_peak: Option<f64>,
    /// Bytes: raw document, `raw.*` event, `order.received` event.
    pub sizes: (usize, usize, usize),
    /// The daemon's prefetch and concurrency.
    pub prefetch: u16,
    pub concurrency: usize,
    /// What was verified.
    pub verified: String,
    /// M1's large-document case, when asked for.
    pub large: Option<Result<LargeRun, String>>,
}

/// The stages the P1/P2 daemon runs.
const P_STAGES: &str = "[pipeline]\nstages = [\"normalize\"]\n";
/// The stage whose queue receives `order.received` (not run in P1/P2: the observer reads it).
const NEXT_STAGE: &str = "review";

/// Watches how the `order.received` events arrive and counts each order's.
enum Observer {
    /// The review stage's queue on the broker, consumed by the observer.
    Queue(Box<dyn Consumer>),
    /// The review stage's queue in the embedded bus's table: read in SQL.
    Table { store: Store, queue: String },
}

impl Observer {
    /// Waits until `target` distinct orders have a review outcome; returns per-order counts.
    async fn until(
        &mut self,
        counts: &mut HashMap<String, u32>,
        target: usize,
        timeout: Duration,
    ) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + timeout;
        match self {
            Observer::Queue(consumer) => {
                while counts.len() < target {
                    let d = tokio::time::timeout_at(deadline, consumer.next())
                        .await
                        .map_err(|_| {
                            format!("{} of {target} received after {timeout:?}", counts.len())
                        })?
                        .ok_or("observer consumer closed")?;
                    count(counts, &d.envelope)?;
                    d.ack().await.map_err(|e| e.to_string())?;
                }
                Ok(())
            }
            Observer::Table { store, queue } => loop {
                let n: i64 =
                    sqlx::query_scalar("SELECT COUNT(*) FROM bus_messages WHERE queue = $1")
                        .bind(queue.as_str())
                        .fetch_one(store.pool())
                        .await
                        .map_err(|e| e.to_string())?;
                if n as usize >= target {
                    counts.clear();
                    let rows = sqlx::query("SELECT body FROM bus_messages WHERE queue = $1")
                        .bind(queue.as_str())
                        .fetch_all(store.pool())
                        .await
                        .map_err(|e| e.to_string())?;
                    for r in rows {
                        let body: String = r.try_get("body").map_err(|e| e.to_string())?;
                        let env =
                            Envelope::from_bytes(body.as_bytes()).map_err(|e| e.to_string())?;
                        count(counts, &env)?;
                    }
                    return Ok(());
                }
                if tokio::time::Instant::now() > deadline {
                    return Err(format!("{n} of {target} received after {timeout:?}"));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            },
        }
    }

    /// Collects anything more that arrives within `idle` (duplicates would show here).
    async fn settle(
        &mut self,
        counts: &mut HashMap<String, u32>,
        idle: Duration,
    ) -> Result<(), String> {
        match self {
            Observer::Queue(consumer) => {
                while let Ok(Some(d)) = tokio::time::timeout(idle, consumer.next()).await {
                    count(counts, &d.envelope)?;
                    let _ = d.ack().await;
                }
                Ok(())
            }
            Observer::Table { .. } => {
                tokio::time::sleep(idle).await;
                let target = counts.len();
                self.until(counts, target, idle).await
            }
        }
    }
}

fn count(counts: &mut HashMap<String, u32>, env: &Envelope) -> Result<(), String> {
    if env.kind != EventType::ORDER_RECEIVED {
        return Err(format!("unexpected event {} ({})", env.kind, env.id));
    }
    let id = env
        .order_id
        .clone()
        .ok_or("order.received without order_id")?;
    *counts.entry(id).or_default() += 1;
    Ok(())
}

/// Stores `range` variants of the Shopify sample as raw documents (what intake does before it
/// publishes) and returns their `raw.*` events. Not timed.
pub async fn store_raw(
    store: &Store,
    sample: &docs::Sample,
    range: std::ops::Range<u64>,
) -> Result<Vec<Envelope>, String> {
    store_raw_with(store, sample, range, docs::Sample::variant).await
}

/// [`store_raw`] with the variants `variant` makes.
pub async fn store_raw_with(
    store: &Store,
    sample: &docs::Sample,
    range: std::ops::Range<u64>,
    variant: fn(&docs::Sample, u64) -> Vec<Vec<u8>>,
) -> Result<Vec<Envelope>, String> {
    let mut events = Vec::new();
    let ids: Vec<u64> = range.collect();
    for chunk in ids.chunks(200) {
        let mut tx = store.begin().await.map_err(|e| e.to_string())?;
        for n in chunk {
            let doc = variant(sample, *n).remove(0);
            let name = format!("order-{n}.json");
            let raw = Store::insert_raw(
                &mut tx,
                &NewRawDocument {
                    connector: CONNECTOR,
                    format: "shopify",
                    source_name: Some(&name),
                    content: &doc,
                },
            )
            .await
            .map_err(|e| e.to_string())?;
            if !raw.inserted {
                return Err(format!("variant {n} was not a new raw document"));
            }
            events.push(
                RawRef {
                    raw_id: raw.id,
                    format: "shopify".into(),
                    source_name: Some(name),
                }
                .event(CONNECTOR),
            );
        }
        tx.commit().await.map_err(|e| e.to_string())?;
    }
    Ok(events)
}

pub async fn publish_all(bus: Arc<dyn Bus>, events: Vec<Envelope>) -> Result<(), String> {
    for batch in events.chunks(PUBLISH_BATCH) {
        bus.publish(batch).await.map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Samples the child's RSS every 100 ms until stopped; returns the peak.
pub fn sample_rss(pid: u32, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<f64> {
    tokio::spawn(async move {
        let mut peak = 0f64;
        while !stop.load(Ordering::Relaxed) {
            if let Some(m) = daemon::rss_mib(pid) {
                peak = peak.max(m);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        peak
    })
}

/// After a run: the outbox and `queues` empty, nothing parked — or why not.
pub async fn settled(store: &Store, bus: &Arc<dyn Bus>, queues: &[String]) -> Result<(), String> {
    let s = store.clone();
    eventually(Duration::from_secs(10), "empty outbox", || {
        let s = s.clone();
        async move {
            s.outbox_pending()
                .await
                .map(|p| p == 0)
                .map_err(|e| e.to_string())
        }
    })
    .await?;
    for queue in queues {
        let b = bus.clone();
        eventually(Duration::from_secs(10), "empty stage queues", || {
            let (b, q) = (b.clone(), queue.clone());
            async move { b.depth(&q).await.map(|d| d == 0).map_err(|e| e.to_string()) }
        })
        .await?;
    }
    let parked = store.parked(10).await.map_err(|e| e.to_string())?;
    if let Some(first) = parked.first() {
        return Err(format!("{} messages parked: {}", parked.len(), first.error));
    }
    Ok(())
}

/// Closes the run's bus and store, stops the daemon, and says what its log warned of (empty
/// when nothing), for the row's "verified" text.
pub async fn finish(
    child: daemon::ChildDaemon,
    bus: Arc<dyn Bus>,
    store: Store,
) -> Result<String, String> {
    let problems = child.log_problems();
    bus.close().await;
    store.close().await;
    child.stop()?;
    Ok(match problems.first() {
        None => String::new(),
        Some(first) => format!(
            "; {} warnings in the daemon log, first: {}",
            problems.len(),
            first.chars().take(300).collect::<String>()
        ),
    })
}

/// Polls `f` until it returns true, or fails with `what` after `timeout`.
pub async fn eventually<F, Fut>(timeout: Duration, what: &str, mut f: F) -> Result<(), String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool, String>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if f().await? {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("{what} not reached after {timeout:?}"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The canonical order JSON and the `order.received` envelope the daemon writes for the sample.
pub fn order_event(
    normalizer: &ordergate::normalize::Normalizer,
) -> Result<(String, String), String> {
    let sample = docs::load("shopify")?;
    let doc = sample.variant(1).remove(0);
    let mut order = normalizer
        .normalize("shopify", &[&doc])
        .map_err(|e| e.to_string())?
        .remove(0);
    order.source.connector = CONNECTOR.into();
    order.order_id = Some(format!("og_{}", uuid::Uuid::now_v7().simple()));
    let canonical = serde_json::to_string(&order).map_err(|e| e.to_string())?;
    let payload = serde_json::to_value(&order).map_err(|e| e.to_string())?;
    let event = Envelope::new(EventType::ORDER_RECEIVED, CONNECTOR, payload)
        .with_order(order.order_id.unwrap_or_default())
        .to_bytes();
    Ok((canonical, String::from_utf8_lossy(&event).into_owned()))
}

/// Runs the pipeline in `profile` through a child daemon: `warm` orders first, then `n` timed;
/// then, with `with_large`, M1's large document (see [`large`]).
pub async fn run(
    profile: Profile,
    tmp_root: &Path,
    n: u64,
    warm: u64,
    event_size: usize,
    with_large: bool,
) -> Result<PipelineRun, String> {
    let env = Env::new(profile, tmp_root).await?;
    let result = run_in(&env, n, warm, event_size, with_large).await;
    env.cleanup_broker(&[]).await;
    result
}

async fn run_in(
    env: &Env,
    n: u64,
    warm: u64,
    event_size: usize,
    with_large: bool,
) -> Result<PipelineRun, String> {
    let cfg = env.config(P_STAGES)?;
    let mut child = env.spawn(P_STAGES, &[])?;
    child.ready(Duration::from_secs(60)).await?;
    // Idle: started, connected, nothing to do.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_idle = daemon::rss_mib(child.pid());

    let store = Store::connect(&env.store_url(), 4, &cfg.store.sqlite_synchronous)
        .await
        .map_err(|e| e.to_string())?;
    let topology = ordergate::app::topology(&cfg);
    let next_queue = topology.stage_queue(NEXT_STAGE);
    let (bus, mut observer): (Arc<dyn Bus>, Observer) = match env.profile {
        Profile::Cluster => {
            let bus = AmqpBus::connect(&amqp_url(), topology.clone(), AmqpSettings::default())
                .await
                .map_err(|e| e.to_string())?;
            bus.declare(&topology).await.map_err(|e| e.to_string())?;
            let consumer = bus
                .consume(&next_queue, 512)
                .await
                .map_err(|e| e.to_string())?;
            (Arc::new(bus), Observer::Queue(consumer))
        }
        Profile::Standalone => {
            let bus = EmbeddedBus::new(store.clone(), topology, EmbeddedSettings::default());
            (
                Arc::new(bus),
                Observer::Table {
                    store: store.clone(),
                    queue: next_queue,
                },
            )
        }
    };
    let sample = docs::load("shopify")?;
    let warm_events = store_raw(&store, &sample, 0..warm).await?;
    let events = store_raw(&store, &sample, warm..warm + n).await?;
    let raw_event_size = events.first().map_or(0, |e| e.to_bytes().len());
    let timeout = Duration::from_secs(60 + n / 10);

    let stop = Arc::new(AtomicBool::new(false));
    let sampler = sample_rss(child.pid(), stop.clone());
    let mut counts = HashMap::new();
    publish_all(bus.clone(), warm_events).await?;
    observer.until(&mut counts, warm as usize, timeout).await?;

    let started = Instant::now();
    let publisher = tokio::spawn(publish_all(bus.clone(), events));
    observer
        .until(&mut counts, (warm + n) as usize, timeout)
        .await?;
    let seconds = started.elapsed().as_secs_f64();
    publisher.await.map_err(|e| e.to_string())??;
    stop.store(true, Ordering::Relaxed);
    let rss_peak = sampler.await.ok();

    // Every order arrived, once: in the store and on the bus.
    let total = (warm + n) as usize;
    observer.settle(&mut counts, Duration::from_secs(1)).await?;
    let dups = counts.values().filter(|c| **c != 1).count();
    if counts.len() != total || dups != 0 {
        return Err(format!(
            "{} distinct orders announced of {total}, {dups} announced more than once",
            counts.len()
        ));
    }
    let stored = store
        .order_count(CONNECTOR)
        .await
        .map_err(|e| e.to_string())?;
    if stored != total as i64 {
        return Err(format!("{stored} orders stored of {total}"));
    }
    let stored_ids: Vec<String> = sqlx::query_scalar("SELECT id FROM orders WHERE connector = $1")
        .bind(CONNECTOR)
        .fetch_all(store.pool())
        .await
        .map_err(|e| e.to_string())?;
    if let Some(missing) = stored_ids.iter().find(|id| !counts.contains_key(*id)) {
        return Err(format!("stored order {missing} was never announced"));
    }
    let normalize = ordergate::app::topology(&cfg).stage_queue("normalize");
    settled(&store, &bus, &[normalize]).await?;
    // After the counts above, so the large document's order is not among them.
    let large = match with_large {
        true => Some(large::run(&store, &bus, child.pid()).await),
        false => None,
    };
    let problems = finish(child, bus, store).await?;
    Ok(PipelineRun {
        rate: n as f64 / seconds,
        orders: n,
        seconds,
        rss_idle,
        rss_peak,
        sizes: (sample.size(), raw_event_size, event_size),
        prefetch: cfg.bus.prefetch(),
        concurrency: cfg.pipeline.concurrency,
        verified: format!(
            "{total} orders stored once and announced once each (one order.received), outbox and normalize queue empty, nothing parked{problems}"
        ),
        large,
    })
}

/// Messages the P1 path carries per order: the raw event in, `order.received` out.
pub const MESSAGES_PER_ORDER: u64 = 2;

/// P1's baseline: bare lapin on the same broker. A quorum queue, persistent messages of
/// `size` bytes, published in windows of [`PUBLISH_BATCH`] with confirms, consumed with
/// `prefetch` and a manual ack each; every message must arrive once.
pub async fn lapin_baseline(n: u64, size: usize, prefetch: u16) -> Result<f64, String> {
    use lapin::options::*;
    use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
    use lapin::{BasicProperties, Confirmation, Connection, ConnectionProperties};
    let e = |e: lapin::Error| e.to_string();
    let queue = format!("ogbench-baseline-{}", uuid::Uuid::new_v4().simple());
    let publisher = Connection::connect(&amqp_url(), ConnectionProperties::default())
        .await
        .map_err(e)?;
    let consumer_conn = Connection::connect(&amqp_url(), ConnectionProperties::default())
        .await
        .map_err(e)?;
    let pch = publisher.create_channel().await.map_err(e)?;
    pch.confirm_select(ConfirmSelectOptions::default())
        .await
        .map_err(e)?;
    let mut args = FieldTable::default();
    args.insert(
        ShortString::from("x-queue-type"),
        AMQPValue::LongString(LongString::from("quorum")),
    );
    pch.queue_declare(
        ShortString::from(queue.as_str()),
        QueueDeclareOptions::durable(),
        args,
    )
    .await
    .map_err(e)?;
    let cch = consumer_conn.create_channel().await.map_err(e)?;
    cch.basic_qos(prefetch, BasicQosOptions::default())
        .await
        .map_err(e)?;
    let mut stream = cch
        .basic_consume(
            ShortString::from(queue.as_str()),
            ShortString::from("bench"),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(e)?;
    let body = vec![b'x'; size];
    let started = Instant::now();
    let consume = tokio::spawn(async move {
        let mut seen = vec![0u8; n as usize];
        let mut distinct = 0u64;
        while distinct < n {
            let d = tokio::time::timeout(Duration::from_secs(60), stream.next())
                .await
                .map_err(|_| format!("baseline consumer saw {distinct} of {n}"))?
                .ok_or("baseline consumer ended")?
                .map_err(|e| e.to_string())?;
            let i: usize = d
                .properties
                .message_id()
                .as_ref()
                .and_then(|m| m.as_str().parse().ok())
                .ok_or("baseline message without id")?;
            if seen[i] == 0 {
                distinct += 1;
            }
            seen[i] = seen[i].saturating_add(1);
            d.acker
                .ack(BasicAckOptions::default())
                .await
                .map_err(|e| e.to_string())?;
        }
        let elapsed = started.elapsed();
        // More than one copy of any message would make the figure a lie.
        if seen.iter().any(|c| *c != 1) {
            return Err("a baseline message arrived twice".to_string());
        }
        Ok::<_, String>(elapsed)
    });
    let ids: Vec<u64> = (0..n).collect();
    for batch in ids.chunks(PUBLISH_BATCH) {
        let mut confirms = Vec::with_capacity(batch.len());
        for i in batch {
            let props = BasicProperties::default()
                .with_delivery_mode(2)
                .with_content_type(ShortString::from("application/json"))
                .with_message_id(ShortString::from(i.to_string()));
            confirms.push(
                pch.basic_publish(
                    ShortString::from(""),
                    ShortString::from(queue.as_str()),
                    BasicPublishOptions::default(),
                    &body,
                    props,
                )
                .await
                .map_err(e)?,
            );
        }
        for c in confirms {
            match c.await.map_err(e)? {
                Confirmation::Ack(_) => {}
                other => return Err(format!("baseline publish not confirmed: {other:?}")),
            }
        }
    }
    let elapsed = consume.await.map_err(|e| e.to_string())??;
    let left = pch
        .queue_declare(
            ShortString::from(queue.as_str()),
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .map_err(e)?
        .message_count();
    let _ = pch
        .queue_delete(
            ShortString::from(queue.as_str()),
            QueueDeleteOptions::default(),
        )
        .await;
    let _ = publisher.close(200, "OK".into()).await;
    let _ = consumer_conn.close(200, "OK".into()).await;
    if left != 0 {
        return Err(format!("{left} baseline messages left on the queue"));
    }
    Ok(n as f64 / elapsed.as_secs_f64())
}

/// A bare SQLite connection for a baseline, on a new file with the daemon's schema, WAL, and
/// `synchronous` as configured; the folder is removed when the guard is dropped.
pub async fn baseline_sqlite(
    tmp_root: &Path,
    synchronous: &str,
) -> Result<(tempfile::TempDir, sqlx::SqliteConnection), String> {
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
    use sqlx::ConnectOptions;
    let dir = tempfile::tempdir_in(tmp_root).map_err(|e| e.to_string())?;
    let path = dir.path().join("baseline.sqlite");
    // The same schema as the daemon's store.
    Store::connect(&format!("sqlite://{}", path.display()), 1, synchronous)
        .await
        .map_err(|e| e.to_string())?
        .close()
        .await;
    let conn = SqliteConnectOptions::new()
        .filename(&path)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(if synchronous == "normal" {
            SqliteSynchronous::Normal
        } else {
            SqliteSynchronous::Full
        })
        .connect()
        .await
        .map_err(|e| e.to_string())?;
    Ok((dir, conn))
}

/// P2's baseline: bare SQLite (sqlx, one connection) writing the rows the pipeline writes for
/// one order — the order, its audit event, the inbox entry, the outbox row and the
/// `order.received` queue row — one transaction per order, WAL, `synchronous` as configured.
pub async fn sqlite_baseline(
    tmp_root: &Path,
    n: u64,
    synchronous: &str,
    order_json: &str,
    event_json: &str,
) -> Result<f64, String> {
    use sqlx::Connection;
    let (_dir, mut conn) = baseline_sqlite(tmp_root, synchronous).await?;
    let rows: Vec<(String, String, String)> = (0..n)
        .map(|i| {
            (
                format!("og_{}", uuid::Uuid::now_v7().simple()),
                format!("ext-{i}"),
                uuid::Uuid::now_v7().to_string(),
            )
        })
        .collect();
    let e = |e: sqlx::Error| e.to_string();
    let started = Instant::now();
    for (id, ext, msg) in &rows {
        let now = ordergate::store::now_ms();
        let mut tx = conn.begin().await.map_err(e)?;
        sqlx::query("INSERT INTO orders (id, connector, external_id, state, source_status, content_hash, canonical, raw_id, created_at, updated_at) VALUES (?, ?, ?, 'received', 'open', ?, ?, ?, ?, ?)")
            .bind(id).bind(CONNECTOR).bind(ext).bind(msg).bind(order_json).bind(msg).bind(now).bind(now)
            .execute(&mut *tx).await.map_err(e)?;
        sqlx::query("INSERT INTO order_events (order_id, at, kind, from_state, to_state, cause, data) VALUES (?, ?, 'received', NULL, 'received', ?, ?)")
            .bind(id).bind(now).bind(msg).bind(msg)
            .execute(&mut *tx).await.map_err(e)?;
        sqlx::query(
            "INSERT INTO inbox (consumer, message_id, processed_at) VALUES ('normalize', ?, ?)",
        )
        .bind(msg)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(e)?;
        sqlx::query("INSERT INTO outbox (envelope_id, envelope, created_at) VALUES (?, ?, ?)")
            .bind(id)
            .bind(event_json)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(e)?;
        sqlx::query("INSERT INTO bus_messages (queue, message_id, body, visible_at, enqueued_at) VALUES ('unrouted', ?, ?, ?, ?)")
            .bind(id).bind(event_json).bind(now).bind(now)
            .execute(&mut *tx).await.map_err(e)?;
        tx.commit().await.map_err(e)?;
    }
    let elapsed = started.elapsed();
    for table in ["orders", "order_events", "inbox", "outbox", "bus_messages"] {
        let c: i64 =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
                .fetch_one(&mut conn)
                .await
                .map_err(e)?;
        if c != n as i64 {
            return Err(format!("baseline wrote {c} {table} rows of {n}"));
        }
    }
    let _ = conn.close().await;
    Ok(n as f64 / elapsed.as_secs_f64())
}
