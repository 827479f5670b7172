//! Wiring: builds the store, the bus, the stages, the connectors and the HTTP server from the
//! configuration, runs them until shutdown, and stops them in order (intake first, then stages,
//! then the relay and the server, then the bus and the store).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::bus::amqp::{AmqpBus, AmqpSettings};
use crate::bus::embedded::{EmbeddedBus, EmbeddedSettings};
use crate::bus::{Bus, Topology};
use crate::config::{BusKind, Config};
use crate::health::HealthTracker;
use crate::mapping::MappingSet;
use crate::normalize::Normalizer;
use crate::outbox::{self as relay, RelaySettings};
use crate::stage::{run_stage, StageCtx};
use crate::store::Store;
use crate::telemetry::metric;

/// The topology for a configuration.
pub fn topology(cfg: &Config) -> Topology {
    let mut t = Topology::standard(&cfg.bus.namespace, cfg.bus.retry_tiers());
    t.delivery_limit = cfg.bus.delivery_limit;
    if cfg.bus.only_wanted {
        crate::stage::narrow(&mut t, cfg);
    }
    t
}

/// Connects the store named in the configuration (migrating it).
pub async fn connect_store(cfg: &Config) -> anyhow::Result<Store> {
    let url = cfg.store.url.resolve()?;
    Store::connect(
        &url,
        cfg.store.max_connections,
        &cfg.store.sqlite_synchronous,
    )
    .await
    .with_context(|| format!("store {}", crate::store::redact_url(&url)))
}

/// Connects the configured bus and declares the topology.
pub async fn connect_bus(cfg: &Config, store: &Store) -> anyhow::Result<Arc<dyn Bus>> {
    let topology = topology(cfg);
    let bus: Arc<dyn Bus> = match cfg.bus.kind {
        BusKind::Embedded => Arc::new(EmbeddedBus::new(
            store.clone(),
            topology.clone(),
            EmbeddedSettings {
                poll_interval: Duration::from_millis(cfg.bus.poll_interval_ms),
                lease: Duration::from_millis(cfg.bus.lease_ms),
            },
        )),
        BusKind::Amqp => {
            let url = cfg
                .bus
                .url
                .as_ref()
                .context("bus.url is required for the amqp bus")?
                .resolve()?;
            let timeout = Duration::from_millis(cfg.bus.timeout_ms);
            let settings = AmqpSettings {
                connect_timeout: timeout,
                confirm_timeout: timeout,
                operation_timeout: timeout,
                ..AmqpSettings::default()
            };
            Arc::new(
                AmqpBus::connect(&url, topology.clone(), settings)
                    .await
                    .with_context(|| format!("broker {}", crate::store::redact_url(&url)))?,
            )
        }
    };
    bus.declare(&topology)
        .await
        .context("declaring the bus topology")?;
    Ok(bus)
}

/// A running daemon.
pub struct Daemon {
    pub store: Store,
    pub bus: Arc<dyn Bus>,
    pub health: Arc<HealthTracker>,
    /// Address the HTTP server listens on, if enabled.
    pub http_addr: Option<std::net::SocketAddr>,
    shutdown: CancellationToken,
    intake: tokio::task::JoinSet<()>,
    stages: tokio::task::JoinSet<()>,
    background: tokio::task::JoinSet<()>,
}

impl Daemon {
    /// Starts everything the configuration enables.
    pub async fn start(cfg: &Config) -> anyhow::Result<Self> {
        let store = connect_store(cfg).await?;
        let bus = connect_bus(cfg, &store).await?;
        let mappings = MappingSet::load(&cfg.mappings.dir)
            .with_context(|| format!("mappings in {}", cfg.mappings.dir.display()))?;
        let normalizer = Arc::new(Normalizer::new(mappings));
        let health = Arc::new(HealthTracker::new(store.clone(), cfg.health.clone()));
        let shutdown = CancellationToken::new();
        let ctx = StageCtx {
            store: store.clone(),
            bus: bus.clone(),
            pipeline: cfg.pipeline.clone(),
            prefetch: cfg.bus.prefetch(),
            topology: topology(cfg),
        };

        let catalog = Arc::new(crate::catalog::CatalogSource::new(
            cfg.catalog.path.clone(),
            store.clone(),
        ));
        let warehouses = Arc::new(crate::outbound::warehouse::Warehouses::from_config(
            &cfg.warehouses,
            &shutdown,
        )?);
        let warehouse_callbacks = crate::outbound::warehouse::callback::endpoints(&cfg.warehouses)
            .map_err(anyhow::Error::msg)?;
        if !warehouse_callbacks.is_empty() && cfg.http.listen.is_empty() {
            anyhow::bail!("warehouse callbacks need the HTTP server: set http.listen");
        }

        let mut stages = tokio::task::JoinSet::new();
        let handlers = crate::stage::all(&crate::stage::Deps {
            config: cfg,
            normalizer,
            catalog: catalog.clone(),
            warehouses,
            health: health.clone(),
        })
        .map_err(anyhow::Error::msg)?;
        for h in handlers {
            stages.spawn(run_stage(h, ctx.clone(), shutdown.child_token()));
        }

        let started = crate::intake::start(cfg, &store, &bus, &health, &shutdown)?;

        let mut background = tokio::task::JoinSet::new();
        background.spawn(relay::run(
            store.clone(),
            bus.clone(),
            RelaySettings::default(),
            shutdown.child_token(),
        ));
        store
            .set_exception_sla(&cfg.exceptions.sla_ms())
            .await
            .context("storing the exception SLAs")?;
        background.spawn(crate::exceptions::run_escalation(
            store.clone(),
            bus.clone(),
            std::time::Duration::from_secs_f64(cfg.exceptions.escalate_every_secs),
            shutdown.child_token(),
        ));
        if let Some(dir) = cfg.backup.dir.clone() {
            background.spawn(crate::backup::run_schedule(
                store.clone(),
                dir,
                std::time::Duration::from_secs_f64(cfg.backup.interval_hours * 3600.0),
                cfg.backup.keep,
                shutdown.child_token(),
            ));
        }
        background.spawn(crate::kpi::run_refresh(
            store.clone(),
            Duration::from_secs_f64(cfg.kpi.refresh_every_secs),
            shutdown.child_token(),
        ));
        // Each stage's periodic work runs where the stage does (`pipeline.stages`).
        let runs = |stage: &str| cfg.pipeline.runs(stage);
        if runs(crate::stage::track::NAME) {
            background.spawn(crate::stage::sweep::run(
                store.clone(),
                bus.clone(),
                cfg.tracking.clone(),
                crate::stage::warehouse::WarehouseOwners::from_config(cfg),
                shutdown.child_token(),
            ));
        }
        if runs(crate::stage::allocate::NAME) {
            background.spawn(crate::stage::recheck::run(
                store.clone(),
                bus.clone(),
                Duration::from_secs(cfg.routing.recheck_interval_secs),
                shutdown.child_token(),
            ));
        }
        if runs(crate::stage::pushback::NAME) {
            background.spawn(crate::outbound::pushback::reconcile::run(
                store.clone(),
                crate::outbound::pushback::Pushers::from_config(&cfg.connectors),
                cfg.pushback.clone(),
                cfg.pipeline.exception_due_hours,
                shutdown.child_token(),
            ));
        }
        if runs(crate::stage::notify::NAME) {
            crate::notices::sender::spawn(
                cfg,
                &store,
                &health,
                &mut background,
                shutdown.child_token(),
            )?;
        }
        background.spawn(watch_queues(
            store.clone(),
            bus.clone(),
            topology(cfg),
            cfg.pipeline.clone(),
            shutdown.child_token(),
        ));

        // Tracking connectors that poll open parcels (carriers without push).
        for c in &cfg.connectors {
            if let crate::config::ConnectorConfig::Tracking(t) = c {
                if let Some(poller) = crate::intake::tracking_poll::TrackingPoller::new(
                    t,
                    store.clone(),
                    bus.clone(),
                    health.clone(),
                )? {
                    background.spawn(poller.run(shutdown.child_token()));
                }
            }
        }

        // Pick-list warehouses' shipped confirmations, read back from their folders.
        for w in cfg.warehouses.iter().filter(|w| w.enabled) {
            if let Some(conn) = crate::outbound::warehouse::picklist::confirmations_connector(
                w,
                store.clone(),
                bus.clone(),
                health.clone(),
            ) {
                background.spawn(conn.run(shutdown.child_token()));
            }
        }

        let http_addr = crate::http::serve(
            &cfg.http,
            crate::http::Parts {
                store: store.clone(),
                bus: bus.clone(),
                health: health.clone(),
                hooks: started.hooks,
                tracking: started.tracking,
                warehouses: warehouse_callbacks,
                catalog,
                root_causes: cfg.exceptions.root_causes.clone(),
                notices: crate::notices::public::PublicPages::new(&cfg.notices, &cfg.subscribers)
                    .with_signin_limit(cfg.http.signin_failures_per_minute),
                ops: crate::ui::Ops {
                    kpi: cfg.kpi.clone(),
                    queues: {
                        let t = topology(cfg);
                        t.queues
                            .iter()
                            .map(|q| q.name.clone())
                            .chain([t.unrouted_queue.clone(), t.parking_queue.clone()])
                            .collect()
                    },
                    ..Default::default()
                },
                local_token_dir: cfg
                    .store
                    .url
                    .resolve()
                    .ok()
                    .and_then(|url| crate::store::sqlite_file(&url))
                    .and_then(|f| f.parent().map(std::path::Path::to_path_buf)),
            },
            &mut background,
            shutdown.child_token(),
        )
        .await?;
        tracing::info!(bus = bus.kind(), store = ?store.dialect(), "ordergate started.");
        Ok(Self {
            store,
            bus,
            health,
            http_addr,
            shutdown,
            intake: started.tasks,
            stages,
            background,
        })
    }

    /// A token that stops the daemon when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Waits for the shutdown token, then stops in order: intake, stages (in-flight work
    /// finishes or goes back to the queue), background tasks, bus, store.
    pub async fn wait(mut self) {
        self.shutdown.cancelled().await;
        tracing::info!("Shutting down.");
        while self.intake.join_next().await.is_some() {}
        while self.stages.join_next().await.is_some() {}
        while self.background.join_next().await.is_some() {}
        self.bus.close().await;
        self.store.close().await;
        tracing::info!("ordergate stopped.");
    }

    /// Stops and waits.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.wait().await;
    }
}

/// How long the inbox remembers applied messages: far longer than any retry or redelivery.
const INBOX_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);

/// Every few seconds: updates the queue-depth and outbox gauges and moves the bus's dead
/// letters into the dead-letter store; hourly: prunes the inbox.
async fn watch_queues(
    store: Store,
    bus: Arc<dyn Bus>,
    topology: Topology,
    pipeline: crate::config::PipelineConfig,
    shutdown: CancellationToken,
) {
    let mut last_prune: Option<tokio::time::Instant> = None;
    loop {
        match crate::stage::adopt_dead_letters(&store, bus.as_ref(), &topology, &pipeline).await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(
                messages = n,
                "Dead-lettered messages recorded as exceptions."
            ),
            Err(error) => tracing::warn!(error = %error, "Cannot read the parking queue."),
        }
        if last_prune.is_none_or(|t| t.elapsed() > Duration::from_secs(3600)) {
            match store.inbox_prune(INBOX_RETENTION.as_millis() as i64).await {
                Ok(n) if n > 0 => tracing::info!(entries = n, "Pruned old inbox entries."),
                Ok(_) => {}
                Err(error) => tracing::warn!(error = %error, "Inbox pruning failed."),
            }
            last_prune = Some(tokio::time::Instant::now());
        }
        for q in topology.queues.iter().map(|q| q.name.as_str()).chain([
            topology.unrouted_queue.as_str(),
            topology.parking_queue.as_str(),
        ]) {
            if let Ok(n) = bus.depth(q).await {
                metrics::gauge!(metric::QUEUE_DEPTH, "queue" => q.to_string()).set(n as f64);
            }
        }
        if let Ok(n) = store.outbox_pending().await {
            metrics::gauge!(metric::OUTBOX_PENDING).set(n as f64);
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
