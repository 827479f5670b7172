//! The stage framework. A stage consumes one queue; for each message its [`Handler`] does the
//! work and hands its writes ([`Effects`]) to the stage's [`UnitWriter`], which writes them with
//! the message id in the inbox and the outgoing events in the outbox, in one transaction shared
//! with the other units waiting (group commit, see `unit`). The runner then publishes those
//! events with confirms and only then acks the message.
//!
//! Failures are classified once ([`StageError::class`]): transient ones are retried with
//! exponential backoff and jitter until `max_attempts`, then parked; a partner that is down or
//! slow (`Unavailable`) is retried the same way for as long as `outage_retry_secs` since the
//! event, however many attempts that takes, so an outage of minutes parks nothing; permanent
//! ones are parked at once. Parking records an exception and keeps the message in the dead-letter store for
//! `ordergate dlq replay`.

pub mod allocate;
pub mod change;
pub mod fulfil;
pub mod normalize;
pub mod notify;
pub mod pushback;
pub mod recheck;
mod reply;
pub mod review;
pub mod ship;
mod steps;
pub mod subscribe;
pub mod sweep;
pub mod track;
mod unit;
pub mod warehouse;

pub use unit::{Committed, Effects, Unit, UnitTx, UnitWriter};

/// A stage's queue: its name (the queue is `<namespace>.<name>`) and the event types it is
/// bound to. The bus topology and `deploy/cluster/rabbitmq-definitions.json` are derived from
/// these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StageSpec {
    /// The stage's name, also its handler's [`Handler::name`].
    pub name: &'static str,
    /// Routing-key patterns its queue is bound to (AMQP topic rules).
    pub bindings: &'static [&'static str],
}

/// What building a stage may use.
pub struct Deps<'a> {
    /// The whole configuration (each stage reads its own section).
    pub config: &'a crate::config::Config,
    /// The mappings, loaded once, for the normalize stage.
    pub normalizer: Arc<crate::normalize::Normalizer>,
    /// The catalog in force (file + API), shared with the HTTP API: categories for
    /// allocation, names and packing flags for fulfilment.
    pub catalog: Arc<crate::catalog::CatalogSource>,
    /// The configured warehouses (stock queries, fulfilment orders, cancels and amends), for
    /// the allocation, fulfil and change stages.
    pub warehouses: Arc<crate::outbound::warehouse::Warehouses>,
    /// Connector health: warehouse calls feed it.
    pub health: Arc<crate::health::HealthTracker>,
}

/// One entry of [`ALL`]: a stage's queue and how its handler is built.
pub struct Registration {
    /// What it consumes.
    pub spec: StageSpec,
    /// Builds its handler.
    pub build: fn(&Deps<'_>) -> Arc<dyn Handler>,
    /// The bindings (within `spec.bindings`) a configuration needs, for a stage that acts on
    /// only some of the events it could take, as configured; `None`: all of them. See
    /// [`crate::bus::Topology::narrow`].
    pub wants: Option<fn(&crate::config::Config) -> Vec<String>>,
}

/// **The one list of stages.** Adding a stage is its file and one entry here: the topology,
/// the RabbitMQ definitions and the daemon's runners all follow from this list.
pub const ALL: &[Registration] = &[
    Registration {
        spec: StageSpec {
            name: "normalize",
            bindings: &[crate::model::EventType::RAW_ANY],
        },
        build: |d| {
            Arc::new(normalize::NormalizeStage::new(
                d.normalizer.clone(),
                d.config.pipeline.default_department.clone(),
                d.config.pipeline.exception_due_hours,
                d.config.review.confidence_threshold,
            ))
        },
        wants: None,
    },
    Registration {
        spec: StageSpec {
            name: "review",
            bindings: &[crate::model::EventType::ORDER_RECEIVED],
        },
        build: |d| {
            Arc::new(review::ReviewStage::new(
                d.catalog.clone(),
                d.config.review.clone(),
            ))
        },
        wants: None,
    },
    Registration {
        spec: StageSpec {
            name: "change",
            bindings: &[crate::model::EventType::ORDER_UPDATED],
        },
        build: |d| {
            Arc::new(change::ChangeStage::new(
                d.config.pipeline.default_department.clone(),
                d.config.pipeline.exception_due_hours,
            ))
        },
        wants: None,
    },
    Registration {
        spec: StageSpec {
            name: track::NAME,
            bindings: &[
                crate::model::EventType::TRACKING_ANY,
                crate::model::EventType::SHIPMENT_CREATED,
            ],
        },
        build: |d| {
            Arc::new(track::TrackStage::new(
                d.normalizer.clone(),
                d.config.tracking.clone(),
                warehouse::WarehouseOwners::from_config(d.config),
            ))
        },
        wants: None,
    },
    Registration {
        spec: StageSpec {
            name: subscribe::NAME,
            bindings: &[crate::model::EventType::SHIPMENT_CREATED],
        },
        build: |d| Arc::new(subscribe::SubscribeStage::new(&d.config.connectors)),
        wants: None,
    },
    Registration {
        spec: StageSpec {
            name: allocate::NAME,
            bindings: allocate::BINDINGS,
        },
        build: |d| {
            Arc::new(allocate::AllocateStage::new(
                d.config.routing.clone(),
                d.catalog.clone(),
                (*d.warehouses).clone(),
                d.health.clone(),
            ))
        },
        wants: None,
    },
    Registration {
        spec: StageSpec {
            name: fulfil::NAME,
            bindings: fulfil::BINDINGS,
        },
        build: |d| {
            Arc::new(fulfil::FulfilStage::new(
                d.catalog.clone(),
                (*d.warehouses).clone(),
                d.health.clone(),
                d.config.routing.change_department.clone(),
                d.config.pipeline.exception_due_hours,
            ))
        },
        wants: None,
    },
    Registration {
        spec: StageSpec {
            name: warehouse::NAME,
            bindings: warehouse::BINDINGS,
        },
        build: |d| {
            Arc::new(warehouse::WarehouseStage::new(
                warehouse::WarehouseOwners::from_config(d.config),
            ))
        },
        wants: None,
    },
    Registration {
        spec: StageSpec {
            name: pushback::NAME,
            bindings: pushback::BINDINGS,
        },
        build: |d| {
            let pushers = crate::outbound::pushback::Pushers::from_config(&d.config.connectors);
            pushers.watch_health(&d.health);
            Arc::new(pushback::PushbackStage::new(
                pushers,
                d.config.pushback.claim_ms,
                d.config.pipeline.exception_due_hours,
            ))
        },
        wants: Some(pushback::bindings_for),
    },
    Registration {
        spec: StageSpec {
            name: notify::NAME,
            bindings: notify::BINDINGS,
        },
        build: |d| {
            Arc::new(notify::NotifyStage::new(
                &d.config.notices,
                &d.config.subscribers,
            ))
        },
        wants: Some(notify::bindings_for),
    },
    // <carrier>
    Registration {
        spec: StageSpec {
            name: ship::NAME,
            bindings: ship::BINDINGS,
        },
        build: |d| {
            Arc::new(ship::ShipStage::new(
                d.config,
                d.catalog.clone(),
                d.health.clone(),
            ))
        },
        wants: None,
    },
    // </carrier>
];

/// The queues of every stage, in list order.
pub fn specs() -> impl Iterator<Item = &'static StageSpec> {
    ALL.iter().map(|r| &r.spec)
}

/// Narrows `topology`'s stage queues to the events `config` has them act on (each stage of
/// [`ALL`] with a [`Registration::wants`]).
pub fn narrow(topology: &mut crate::bus::Topology, config: &crate::config::Config) {
    for r in ALL {
        if let Some(wants) = r.wants {
            topology.narrow(r.spec.name, &wants(config));
        }
    }
}

/// Checks `pipeline.stages`: every name is a stage of [`ALL`].
pub fn check_selection(names: &[String]) -> Result<(), String> {
    for name in names {
        if !ALL.iter().any(|r| r.spec.name == name) {
            let known: Vec<&str> = ALL.iter().map(|r| r.spec.name).collect();
            return Err(format!(
                "pipeline.stages names {name:?}, which is not a stage (stages: {})",
                known.join(", ")
            ));
        }
    }
    Ok(())
}

/// Builds the handler of every stage `pipeline.stages` selects (all when it is empty). Fails
/// on an unknown stage name, or if a handler's name is not its registration's (the runner
/// would consume the wrong queue).
pub fn all(deps: &Deps<'_>) -> Result<Vec<Arc<dyn Handler>>, String> {
    let selected = &deps.config.pipeline.stages;
    check_selection(selected)?;
    ALL.iter()
        .filter(|r| deps.config.pipeline.runs(r.spec.name))
        .map(|r| {
            let h = (r.build)(deps);
            if h.name() == r.spec.name {
                Ok(h)
            } else {
                Err(format!(
                    "stage {:?} is registered as {:?}",
                    h.name(),
                    r.spec.name
                ))
            }
        })
        .collect()
}

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use backon::BackoffBuilder;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::bus::{Bus, Delivery, Topology};
use crate::config::PipelineConfig;
use crate::model::Envelope;
use crate::store::{now_ms, NewException, Severity, Store, StoreError};
use crate::telemetry::metric;

/// Whether trying again can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// A dependency is down or slow, or something may be fixed meanwhile: retry with backoff.
    Transient,
    /// A partner (warehouse, carrier, platform, subscriber) is down, slow or throttling:
    /// retried with backoff past `max_attempts` until the event is `outage_retry_secs` old.
    Unavailable,
    /// The input itself is wrong: retrying gives the same answer, park at once.
    Permanent,
}

/// Why a stage could not handle a message.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct StageError {
    /// Retry or not.
    pub class: ErrorClass,
    /// A stable code, also the exception kind (`bad_input`, `mapping_failed`, `store`).
    pub kind: &'static str,
    /// What happened, naming the input and the reason.
    pub message: String,
    /// The raw document concerned, if any.
    pub raw_id: Option<String>,
    /// The order concerned, if any.
    pub order_id: Option<String>,
}

impl StageError {
    /// A transient error.
    pub fn transient(kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            class: ErrorClass::Transient,
            kind,
            message: message.into(),
            raw_id: None,
            order_id: None,
        }
    }

    /// A permanent error.
    pub fn permanent(kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            class: ErrorClass::Permanent,
            ..Self::transient(kind, message)
        }
    }

    /// A partner is down, slow or throttling ([`ErrorClass::Unavailable`]).
    pub fn unavailable(kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            class: ErrorClass::Unavailable,
            ..Self::transient(kind, message)
        }
    }

    /// Names the raw document concerned.
    pub fn with_raw(mut self, raw_id: impl Into<String>) -> Self {
        self.raw_id = Some(raw_id.into());
        self
    }
}

impl From<StoreError> for StageError {
    fn from(e: StoreError) -> Self {
        if e.is_disk_full() {
            // Like a partner outage: waits for space through the outage window.
            return StageError::unavailable("store_full", e.to_string());
        }
        StageError::transient("store", e.to_string())
    }
}

impl From<crate::store::TransitionError> for StageError {
    fn from(e: crate::store::TransitionError) -> Self {
        use crate::store::TransitionError as T;
        match e {
            T::Store(e) => e.into(),
            // Another writer is moving the order: trying again decides again.
            T::Busy(_) => StageError::transient("order_busy", e.to_string()),
            // One of the two reports of the parcel is wrong: a person must look.
            T::ParcelTaken { .. } => StageError::permanent("parcel_taken", e.to_string()),
            // The order is not where this stage expects it: a person must look.
            T::Illegal(_) | T::NotFound(_) => {
                StageError::permanent("illegal_transition", e.to_string())
            }
        }
    }
}

/// What the runner does with a failed message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Try again after this delay.
    Retry(Duration),
    /// Give up: exception + dead-letter store.
    Park,
}

/// THE rule for trying a failed piece of work again, shared by the stages ([`decide`]) and the
/// notice sender (e-mails, webhook deliveries): `tries` failed tries so far, this one counted;
/// `age` how long ago the work was asked for (the event, the e-mail or delivery recorded).
/// A permanent failure: never. A transient one: while tries are left (`max_attempts`). A
/// partner that is down, slow or throttling ([`ErrorClass::Unavailable`]): while tries are
/// left or the work is younger than `outage_retry_secs`, so an outage shorter than that parks
/// nothing however many tries it takes.
pub fn should_retry(
    class: ErrorClass,
    tries: u64,
    max_attempts: u32,
    age: Duration,
    outage_retry_secs: u64,
) -> bool {
    let attempts_left = tries < u64::from(max_attempts);
    match class {
        ErrorClass::Permanent => false,
        ErrorClass::Transient => attempts_left,
        ErrorClass::Unavailable => attempts_left || age < Duration::from_secs(outage_retry_secs),
    }
}

/// The one place that decides between retrying and parking a stage's message. `attempt` is
/// the number of tries made before this one (the envelope's `attempt`), `age` how long ago the
/// event happened.
pub fn decide(err: &StageError, attempt: u32, age: Duration, cfg: &PipelineConfig) -> Decision {
    let tries = u64::from(attempt) + 1;
    let retry = should_retry(
        err.class,
        tries,
        cfg.max_attempts,
        age,
        cfg.outage_retry_secs,
    );
    if retry {
        Decision::Retry(backoff_delay(attempt, cfg))
    } else {
        Decision::Park
    }
}

/// Exponential backoff with jitter for the `attempt`-th retry (0-based), from backon.
pub fn backoff_delay(attempt: u32, cfg: &PipelineConfig) -> Duration {
    backon::ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(cfg.retry_base_ms))
        .with_max_delay(Duration::from_millis(cfg.retry_max_ms))
        .with_factor(2.0)
        .with_jitter()
        .without_max_times()
        .build()
        .nth(attempt as usize)
        .unwrap_or(Duration::from_millis(cfg.retry_max_ms))
}

/// What a stage needs around it.
#[derive(Clone)]
pub struct StageCtx {
    pub store: Store,
    pub bus: Arc<dyn Bus>,
    pub pipeline: PipelineConfig,
    pub prefetch: u16,
    /// Names of the queues.
    pub topology: Topology,
}

/// The work of one stage for one message.
#[async_trait]
pub trait Handler: Send + Sync + 'static {
    /// The stage's name; it consumes `topology.stage_queue(name)`.
    fn name(&self) -> &'static str;

    /// Does the reads and the work, then hands the writes to `unit.commit(effects)`.
    async fn handle(&self, envelope: &Envelope, unit: Unit<'_>) -> Result<Committed, StageError>;

    /// Whether the runner looks the message up in the inbox before `handle`. A handler whose
    /// only effects are its [`Effects`] may say no: the inbox record written with them still
    /// catches a duplicate at commit (it then costs one `handle` run), and every message saves
    /// a read. A handler that calls out (an API) before committing must keep the check for
    /// the messages whose handling would call out again.
    fn check_inbox_first(&self, envelope: &Envelope) -> bool {
        let _ = envelope;
        true
    }

    /// Whether handling a message calls a partner (a warehouse, carrier, marketplace or
    /// tracking API): such a stage works on at most `pipeline.partner_concurrency` at once.
    fn calls_partners(&self) -> bool {
        false
    }
}

/// How many messages a stage works on at once: `pipeline.concurrency`, and no more than
/// `pipeline.partner_concurrency` for a stage that calls a partner.
pub fn slots_for(calls_partners: bool, pipeline: &PipelineConfig) -> usize {
    let n = if calls_partners {
        pipeline.concurrency.min(pipeline.partner_concurrency)
    } else {
        pipeline.concurrency
    };
    n.max(1)
}

/// The deliveries a stage holds unacknowledged: `bus.prefetch`; a stage that calls partners
/// holds no more than the `slots` it works on at once, since a delivery waiting behind slow
/// partner calls could outlive its lease (embedded bus) and be handed out again while held.
pub fn prefetch_for(prefetch: u16, calls_partners: bool, slots: usize) -> u16 {
    if calls_partners {
        prefetch
            .min(u16::try_from(slots).unwrap_or(u16::MAX))
            .max(1)
    } else {
        prefetch
    }
}

/// Runs a stage until `shutdown`: consumes, handles up to `concurrency` messages at once, and
/// on shutdown stops taking messages, lets in-flight ones finish within the grace period and
/// hands the rest back to the queue.
pub async fn run_stage(handler: Arc<dyn Handler>, ctx: StageCtx, shutdown: CancellationToken) {
    let name = handler.name();
    let queue = ctx.topology.stage_queue(name);
    let partners = handler.calls_partners();
    let slots = slots_for(partners, &ctx.pipeline);
    let prefetch = prefetch_for(ctx.prefetch, partners, slots);
    let mut consumer = loop {
        match ctx.bus.consume(&queue, prefetch).await {
            Ok(c) => break c,
            Err(error) => {
                tracing::warn!(stage = name, error = %error, "Cannot start consuming, retrying.");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = shutdown.cancelled() => return,
                }
            }
        }
    };
    tracing::info!(stage = name, queue = %queue, "Stage started.");
    let writer = Arc::new(UnitWriter::start(&ctx.store, ctx.bus.clone()));
    let slots = Arc::new(tokio::sync::Semaphore::new(slots));
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = shutdown.cancelled() => break,
        };
        let delivery = tokio::select! {
            d = consumer.next() => d,
            _ = shutdown.cancelled() => break,
        };
        let Some(delivery) = delivery else { break };
        let (handler, ctx, queue, writer) =
            (handler.clone(), ctx.clone(), queue.clone(), writer.clone());
        tasks.spawn(async move {
            process(handler.as_ref(), &ctx, &writer, &queue, delivery).await;
            drop(permit);
        });
        while tasks.try_join_next().is_some() {}
    }
    let grace = Duration::from_millis(ctx.pipeline.shutdown_grace_ms);
    let drained =
        tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!(
            stage = name,
            "Shutdown grace period over; unfinished messages go back to the queue."
        );
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
    }
    // Dropping the consumer hands any unsettled delivery back to the queue.
    drop(consumer);
    tracing::info!(stage = name, "Stage stopped.");
}

/// Handles one delivery start to finish.
async fn process(
    handler: &dyn Handler,
    ctx: &StageCtx,
    writer: &UnitWriter,
    queue: &str,
    delivery: Delivery,
) {
    let env = delivery.envelope.clone();
    let stage = handler.name();
    let span = tracing::info_span!(
        "unit",
        stage,
        message_id = %env.id,
        connector = %env.connector,
        order_id = env.order_id.as_deref().unwrap_or(""),
        attempt = env.attempt,
    );
    async move {
        metrics::counter!(metric::MESSAGES_IN, "stage" => stage).increment(1);
        let id = env.id.to_string();
        let seen = if handler.check_inbox_first(&env) {
            ctx.store.inbox_contains(queue, &id).await
        } else {
            Ok(false)
        };
        match seen {
            Ok(true) => {
                tracing::debug!("Message already applied, acknowledging the duplicate.");
                metrics::counter!(metric::DUPLICATES, "stage" => stage).increment(1);
                settle(delivery.ack().await);
                return;
            }
            Ok(false) => {}
            Err(error) => {
                tracing::warn!(error = %error, "Inbox check failed; the message will be retried.");
                retry_or_drop(delivery, Duration::from_millis(ctx.pipeline.retry_base_ms)).await;
                return;
            }
        }
        let unit = Unit {
            store: &ctx.store,
            writer,
            consumer: queue,
            message_id: id,
            cause: format!("stage:{stage} message:{}", env.id),
            lease: delivery.lease(),
        };
        match handler.handle(&env, unit).await {
            Ok(committed) => {
                if committed.duplicate() {
                    metrics::counter!(metric::DUPLICATES, "stage" => stage).increment(1);
                }
                if !committed.published {
                    crate::outbox::publish_committed(&ctx.store, ctx.bus.as_ref(), &committed.events).await;
                }
                metrics::counter!(metric::MESSAGES_OUT, "stage" => stage)
                    .increment(committed.events.len() as u64);
                if committed.settled {
                    delivery.settled_in_store();
                } else {
                    settle(delivery.ack().await);
                }
            }
            Err(err) => match decide(&err, env.attempt, age(&env), &ctx.pipeline) {
                Decision::Retry(delay) => {
                    tracing::warn!(error = %err, delay_ms = delay.as_millis() as u64, "Unit failed, retrying later.");
                    metrics::counter!(metric::RETRIED, "stage" => stage).increment(1);
                    retry_or_drop(delivery, delay).await;
                }
                Decision::Park => {
                    tracing::error!(error = %err, "Unit failed, parking the message.");
                    match park(&ctx.store, &ctx.pipeline, Some(stage), queue, &env, &err).await {
                        Ok(exception_id) => {
                            metrics::counter!(metric::PARKED, "stage" => stage).increment(1);
                            tracing::info!(exception_id = %exception_id, "Message parked.");
                            settle(delivery.ack().await);
                        }
                        Err(error) => {
                            tracing::error!(error = %error, "Cannot park the message; it stays on the queue.");
                            retry_or_drop(delivery, Duration::from_millis(ctx.pipeline.retry_base_ms))
                                .await;
                        }
                    }
                }
            },
        }
    }
    .instrument(span)
    .await
}

/// How long ago `env`'s event happened (zero for a clock that went back).
fn age(env: &Envelope) -> Duration {
    (chrono::Utc::now() - env.occurred_at)
        .to_std()
        .unwrap_or_default()
}

/// Records the exception and the parked message in one transaction; returns the exception id.
/// `stage` is the stage that gave up, if any (the bus's own dead letters have none).
pub async fn park(
    store: &Store,
    pipeline: &PipelineConfig,
    stage: Option<&str>,
    queue: &str,
    env: &Envelope,
    err: &StageError,
) -> Result<String, StoreError> {
    let reason = format!(
        "{} after {} attempt(s) at message {} ({}): {}",
        err.kind,
        env.attempt + 1,
        env.id,
        env.kind,
        err.message
    );
    let due = now_ms() + i64::from(pipeline.exception_due_hours) * 3_600_000;
    let message_id = env.id.to_string();
    let mut tx = store.begin().await?;
    let exception_id = Store::insert_exception(
        &mut tx,
        &NewException {
            kind: err.kind,
            severity: Severity::Error,
            order_id: err.order_id.as_deref().or(env.order_id.as_deref()),
            raw_id: err.raw_id.as_deref(),
            message_id: Some(&message_id),
            stage,
            connector: Some(env.connector.as_str()).filter(|c| !c.is_empty()),
            department: &pipeline.default_department,
            due_at: Some(due),
            reason: &reason,
        },
    )
    .await?;
    Store::park(&mut tx, queue, env, &reason, &exception_id).await?;
    tx.commit().await?;
    Ok(exception_id)
}

/// Moves what the bus set aside in its parking queue (a consumer kept dying on a message, or
/// it was not an envelope) into the dead-letter store with an exception, so it is owned by
/// someone and can be replayed like anything a stage parked. Returns how many were moved.
pub async fn adopt_dead_letters(
    store: &Store,
    bus: &dyn Bus,
    topology: &crate::bus::Topology,
    pipeline: &crate::config::PipelineConfig,
) -> Result<usize, crate::bus::BusError> {
    let keep = |letter: crate::bus::DeadLetter| -> futures_util::future::BoxFuture<'_, bool> {
        Box::pin(async move {
            // Replay goes back to the queue it came from, else to the first stage queue that
            // takes its type.
            let queue = letter
                .queue
                .clone()
                .or_else(|| {
                    topology
                        .route(&letter.envelope.kind)
                        .next()
                        .map(|q| q.name.clone())
                })
                .unwrap_or_else(|| topology.unrouted_queue.clone());
            let err = StageError::permanent("dead_lettered", letter.reason.clone());
            match park(store, pipeline, None, &queue, &letter.envelope, &err).await {
                Ok(exception_id) => {
                    tracing::warn!(message_id = %letter.envelope.id, queue = %queue, exception_id = %exception_id, "Dead-lettered message moved to the dead-letter store.");
                    true
                }
                Err(error) => {
                    tracing::warn!(error = %error, "Cannot store a dead-lettered message; it stays in the parking queue.");
                    false
                }
            }
        })
    };
    bus.drain_dead_letters(100, &keep).await
}

async fn retry_or_drop(delivery: Delivery, delay: Duration) {
    if let Err(error) = delivery.retry(delay).await {
        // The delivery is unsettled; the bus gives it back when the channel or lease ends.
        tracing::warn!(error = %error, "Could not schedule the retry; the bus will redeliver.");
    }
}

fn settle(r: Result<(), crate::bus::BusError>) {
    if let Err(error) = r {
        // Effects are committed and deduped by the inbox, so a redelivery is harmless.
        tracing::warn!(error = %error, "Acknowledgement failed; a redelivery will be recognised as a duplicate.");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stage_that_calls_partners_is_held_to_partner_concurrency() {
        let cfg = crate::config::Config::from_toml("", "t", Vec::new()).unwrap();
        // Defaults: the store's stages take 128 at once (more units share a commit), the
        // partners' stages 32; RabbitMQ hands each up to 128, the embedded bus 32.
        assert_eq!(slots_for(false, &cfg.pipeline), 128);
        assert_eq!(slots_for(true, &cfg.pipeline), 32);
        assert_eq!(cfg.bus.prefetch(), 32);
        let mut amqp = cfg.bus.clone();
        amqp.kind = crate::config::BusKind::Amqp;
        assert_eq!(amqp.prefetch(), 128);
        // A partner's stage holds no more deliveries than it works on; the others hold
        // what the bus is told.
        assert_eq!(prefetch_for(amqp.prefetch(), true, 32), 32);
        assert_eq!(prefetch_for(64, true, 128), 64);
        assert_eq!(prefetch_for(amqp.prefetch(), false, 32), 128);
        assert_eq!(prefetch_for(cfg.bus.prefetch(), false, 128), 32);
        // Set, it holds on either bus.
        let set =
            crate::config::Config::from_toml("[bus]\nprefetch = 64\n", "t", Vec::new()).unwrap();
        assert_eq!(set.bus.prefetch(), 64);
        // Set lower than the partner limit, concurrency holds for every stage.
        let cfg = crate::config::Config::from_toml(
            "[pipeline]\nconcurrency = 8\npartner_concurrency = 20\n",
            "t",
            Vec::new(),
        )
        .unwrap();
        assert_eq!(slots_for(false, &cfg.pipeline), 8);
        assert_eq!(slots_for(true, &cfg.pipeline), 8);
        let zero = crate::config::Config::from_toml(
            "[pipeline]\npartner_concurrency = 0\n",
            "t",
            Vec::new(),
        );
        assert!(zero.is_err());
    }

    #[test]
    fn the_configuration_narrows_notify_and_pushback_unless_told_not_to() {
        let bindings = |t: &crate::bus::Topology, stage: &str| {
            let name = t.stage_queue(stage);
            t.queues
                .iter()
                .find(|q| q.name == name)
                .map(|q| q.bindings.clone())
                .unwrap()
        };
        // Defaults: no e-mail, no subscriber, no push-back: neither stage takes anything,
        // and an event only they took is not published.
        let cfg = crate::config::Config::from_toml("", "t", Vec::new()).unwrap();
        let t = crate::app::topology(&cfg);
        assert!(bindings(&t, notify::NAME).is_empty());
        assert!(bindings(&t, pushback::NAME).is_empty());
        assert_eq!(bindings(&t, "review"), ["order.received"]);
        assert!(!t.wanted("order.fulfilment_requested"));
        assert!(!t.wanted("shipment.in_transit"));
        assert!(t.wanted("order.approved"));
        assert!(t.wanted("shipment.created"));
        // `only_wanted = false`: every stage bound to all it can take, every event published.
        let all = crate::config::Config::from_toml("[bus]\nonly_wanted = false\n", "t", Vec::new())
            .unwrap();
        let t = crate::app::topology(&all);
        assert_eq!(bindings(&t, notify::NAME), notify::BINDINGS);
        assert_eq!(bindings(&t, pushback::NAME), pushback::BINDINGS);
        assert!(t.wanted("order.fulfilment_requested"));
    }

    #[test]
    fn permanent_errors_park_at_once_transient_ones_retry_then_park() {
        let cfg = PipelineConfig {
            max_attempts: 3,
            retry_base_ms: 100,
            retry_max_ms: 1_000,
            ..PipelineConfig::default()
        };
        let now = Duration::ZERO;
        let perm = StageError::permanent("bad_input", "x");
        assert_eq!(decide(&perm, 0, now, &cfg), Decision::Park);
        let tr = StageError::transient("store", "x");
        assert!(matches!(decide(&tr, 0, now, &cfg), Decision::Retry(_)));
        assert!(matches!(decide(&tr, 1, now, &cfg), Decision::Retry(_)));
        assert_eq!(decide(&tr, 2, now, &cfg), Decision::Park);
    }

    #[test]
    fn a_partner_outage_is_retried_past_max_attempts_until_the_window_closes() {
        let cfg = PipelineConfig {
            max_attempts: 3,
            outage_retry_secs: 600,
            ..PipelineConfig::default()
        };
        let down = StageError::unavailable("warehouse_unavailable", "x");
        let minutes = |m: u64| Duration::from_secs(m * 60);
        assert!(matches!(
            decide(&down, 2, minutes(1), &cfg),
            Decision::Retry(_)
        ));
        assert!(matches!(
            decide(&down, 40, minutes(9), &cfg),
            Decision::Retry(_)
        ));
        assert_eq!(decide(&down, 40, minutes(10), &cfg), Decision::Park);
        // Attempts still left: retried even when the event is old (a replayed message).
        assert!(matches!(
            decide(&down, 0, minutes(60), &cfg),
            Decision::Retry(_)
        ));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let cfg = PipelineConfig {
            retry_base_ms: 100,
            retry_max_ms: 1_000,
            ..PipelineConfig::default()
        };
        let d0 = backoff_delay(0, &cfg);
        let d3 = backoff_delay(3, &cfg);
        assert!(
            d0 >= Duration::from_millis(100) && d0 <= Duration::from_millis(200),
            "{d0:?}"
        );
        assert!(d3 >= Duration::from_millis(800), "{d3:?}");
        assert!(backoff_delay(30, &cfg) <= Duration::from_millis(2_000));
    }
}
