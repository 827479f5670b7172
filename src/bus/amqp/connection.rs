//! The connection manager: one broker connection shared by publishers and consumers, replaced
//! with backoff when it is lost, with the topology declared again on every new connection.
//! lapin does not recover by itself here (its auto-recovery is off): a lost connection is noticed
//! from its status or from a failing operation, and the next caller reconnects.

use std::future::Future;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{
    BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, ExchangeKind,
};
use tokio::sync::{watch, Mutex};
use tracing::{info, warn};

use super::plan::{plan, Arg};
use super::AmqpSettings;
use crate::bus::{BusError, Topology};
use crate::model::Envelope;

/// A live connection and its publishing channel (publisher confirms on).
pub(crate) struct Link {
    pub conn: Connection,
    pub publisher: Channel,
    /// Which connection this is; a failing caller invalidates only the one it used.
    pub generation: u64,
}

impl Link {
    fn healthy(&self) -> bool {
        self.conn.status().connected() && self.publisher.status().connected()
    }
}

struct Slot {
    current: Option<Arc<Link>>,
    generation: u64,
}

/// Shared state of one [`super::AmqpBus`].
pub(crate) struct Manager {
    url: String,
    pub settings: AmqpSettings,
    /// Every topology declared on this bus; all are declared again after a reconnect.
    topologies: StdMutex<Vec<Topology>>,
    slot: Mutex<Slot>,
    /// Flips to true when the bus is closed for good.
    pub closed: watch::Sender<bool>,
}

/// Maps a lapin error: what the broker said is `Other`, everything else means it is unreachable.
pub(crate) fn from_lapin(error: lapin::Error) -> BusError {
    // A hard (connection-level) protocol error such as CONNECTION_FORCED means the connection
    // is gone; a soft one is the broker refusing one operation.
    match error.kind() {
        lapin::ErrorKind::ProtocolError(_) if !error.is_amqp_hard_error() => {
            BusError::Other(error.to_string())
        }
        _ => BusError::Unavailable(error.to_string()),
    }
}

/// Runs one network operation under a timeout.
pub(crate) async fn bounded<T>(
    limit: Duration,
    op: impl Future<Output = Result<T, lapin::Error>>,
) -> Result<T, BusError> {
    match tokio::time::timeout(limit, op).await {
        Ok(result) => result.map_err(from_lapin),
        Err(_) => Err(BusError::Timeout(limit)),
    }
}

fn field_table(arguments: &[(&'static str, Arg)]) -> FieldTable {
    let mut table = FieldTable::default();
    for (key, value) in arguments {
        let value = match value {
            Arg::Str(s) => AMQPValue::LongString(LongString::from(s.as_str())),
            Arg::Int(i) => AMQPValue::LongLongInt(*i),
        };
        table.insert(ShortString::from(*key), value);
    }
    table
}

/// Whether an operation failed because the connection (not the request) failed, so trying
/// again on a new connection can succeed.
pub(crate) fn connection_lost(link: &Link, error: &BusError) -> bool {
    matches!(error, BusError::Unavailable(_) | BusError::Timeout(_))
        || !link.conn.status().connected()
}

/// The AMQP properties of an envelope: persistent JSON with the envelope id as message id.
fn properties(envelope: &Envelope) -> BasicProperties {
    BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type(ShortString::from("application/json"))
        .with_message_id(ShortString::from(envelope.id.to_string()))
}

impl Manager {
    pub fn new(url: &str, topology: Topology, settings: AmqpSettings) -> Self {
        let (closed, _) = watch::channel(false);
        Self {
            url: url.to_string(),
            settings,
            topologies: StdMutex::new(vec![topology]),
            slot: Mutex::new(Slot {
                current: None,
                generation: 0,
            }),
            closed,
        }
    }

    pub fn is_closed(&self) -> bool {
        *self.closed.borrow()
    }

    /// The topology that holds `queue` (for its retry tiers), else the one given at connect.
    pub fn topology_for(&self, queue: &str) -> Option<Topology> {
        let topologies = self.topologies.lock().ok()?;
        topologies
            .iter()
            .find(|t| t.queues.iter().any(|q| q.name == queue))
            .or_else(|| topologies.first())
            .cloned()
    }

    /// The topology given at connect: its exchange is where [`Manager::publish`] callers send.
    pub fn primary_topology(&self) -> Option<Topology> {
        self.topologies.lock().ok()?.first().cloned()
    }

    /// Whether the primary topology publishes events of type `kind` ([`Topology::wanted`]).
    pub fn wanted(&self, kind: &str) -> bool {
        self.topologies
            .lock()
            .ok()
            .and_then(|t| t.first().map(|t| t.wanted(kind)))
            .unwrap_or(true)
    }

    /// Remembers a topology so it is declared again after every reconnect; one declared
    /// again for the same exchange (its bindings narrowed, say) takes the earlier one's place.
    pub fn remember(&self, topology: &Topology) {
        if let Ok(mut topologies) = self.topologies.lock() {
            match topologies
                .iter_mut()
                .find(|t| t.exchange == topology.exchange)
            {
                Some(known) => *known = topology.clone(),
                None => topologies.push(topology.clone()),
            }
        }
    }

    /// The live connection, reconnecting (with backoff) if it is gone. Waits at most
    /// `settings.reconnect_wait`.
    pub async fn link(&self) -> Result<Arc<Link>, BusError> {
        let limit = self.settings.reconnect_wait;
        match tokio::time::timeout(limit, self.link_unbounded()).await {
            Ok(result) => result,
            Err(_) => Err(BusError::Unavailable(format!(
                "no broker connection after waiting {limit:?}"
            ))),
        }
    }

    async fn link_unbounded(&self) -> Result<Arc<Link>, BusError> {
        let mut slot = self.slot.lock().await;
        if self.is_closed() {
            return Err(BusError::Unavailable("the bus is closed".to_string()));
        }
        if let Some(link) = &slot.current {
            if link.healthy() {
                return Ok(link.clone());
            }
            warn!(
                generation = link.generation,
                "Broker connection lost, reconnecting."
            );
            slot.current = None;
        }
        let settings = &self.settings;
        let backoff = ExponentialBuilder::default()
            .with_min_delay(settings.reconnect_min_delay)
            .with_max_delay(settings.reconnect_max_delay)
            .with_jitter()
            .without_max_times();
        let generation = slot.generation + 1;
        let link = (|| self.connect_once(generation))
            .retry(backoff)
            .when(|_| !self.is_closed())
            .notify(|error: &BusError, delay: Duration| {
                warn!(error = %error, ?delay, "Broker connection attempt failed, retrying.");
            })
            .await?;
        info!(generation, "Broker connection established.");
        let link = Arc::new(link);
        slot.generation = generation;
        slot.current = Some(link.clone());
        Ok(link)
    }

    /// Forgets the connection a caller saw fail, so the next caller reconnects.
    pub async fn invalidate(&self, generation: u64, error: &BusError) {
        let mut slot = self.slot.lock().await;
        if slot
            .current
            .as_ref()
            .is_some_and(|l| l.generation == generation)
        {
            warn!(error = %error, generation, "Broker connection lost, reconnecting.");
            slot.current = None;
        }
    }

    async fn connect_once(&self, generation: u64) -> Result<Link, BusError> {
        let settings = &self.settings;
        let properties = ConnectionProperties::default()
            .with_connection_name(LongString::from(settings.connection_name.as_str()));
        let conn = bounded(
            settings.connect_timeout,
            Connection::connect(&self.url, properties),
        )
        .await?;
        let publisher = bounded(settings.operation_timeout, conn.create_channel()).await?;
        bounded(
            settings.operation_timeout,
            publisher.confirm_select(ConfirmSelectOptions::default()),
        )
        .await?;
        let topologies = self
            .topologies
            .lock()
            .map(|t| t.clone())
            .unwrap_or_default();
        for topology in &topologies {
            self.declare_on(&conn, topology).await?;
        }
        Ok(Link {
            conn,
            publisher,
            generation,
        })
    }

    /// Declares a topology on a channel of its own (a refused declaration closes its channel).
    pub async fn declare_on(&self, conn: &Connection, topology: &Topology) -> Result<(), BusError> {
        let limit = self.settings.operation_timeout;
        let channel = bounded(limit, conn.create_channel()).await?;
        let plan = plan(topology);
        let durable = ExchangeDeclareOptions {
            durable: true,
            ..ExchangeDeclareOptions::default()
        };
        for exchange in &plan.exchanges {
            let kind = match exchange.kind {
                "fanout" => ExchangeKind::Fanout,
                _ => ExchangeKind::Topic,
            };
            bounded(
                limit,
                channel.exchange_declare(
                    ShortString::from(exchange.name.as_str()),
                    kind,
                    durable,
                    field_table(&exchange.arguments),
                ),
            )
            .await?;
        }
        for queue in &plan.queues {
            bounded(
                limit,
                channel.queue_declare(
                    ShortString::from(queue.name.as_str()),
                    QueueDeclareOptions::durable(),
                    field_table(&queue.arguments),
                ),
            )
            .await?;
        }
        for binding in &plan.bindings {
            bounded(
                limit,
                channel.queue_bind(
                    ShortString::from(binding.queue.as_str()),
                    ShortString::from(binding.exchange.as_str()),
                    ShortString::from(binding.routing_key.as_str()),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                ),
            )
            .await?;
        }
        for binding in &plan.unbindings {
            bounded(
                limit,
                channel.queue_unbind(
                    ShortString::from(binding.queue.as_str()),
                    ShortString::from(binding.exchange.as_str()),
                    ShortString::from(binding.routing_key.as_str()),
                    FieldTable::default(),
                ),
            )
            .await?;
        }
        let _ = bounded(limit, channel.close(200, ShortString::from("OK"))).await;
        Ok(())
    }

    /// Publishes envelopes to `exchange` (routing key = their kind, or `routing_key` when given)
    /// and returns once every one is confirmed. A lost connection is waited out (bounded by
    /// `settings.reconnect_wait`) and the whole batch is published again: duplicates are
    /// possible, losses are not.
    pub async fn publish(
        &self,
        exchange: &str,
        routing_key: Option<&str>,
        messages: &[Envelope],
    ) -> Result<(), BusError> {
        if messages.is_empty() {
            return Ok(());
        }
        let deadline = tokio::time::Instant::now() + self.settings.reconnect_wait;
        loop {
            let link = self.link().await?;
            match self
                .publish_on(&link, exchange, routing_key, messages)
                .await
            {
                Ok(()) => return Ok(()),
                Err(error) if !connection_lost(&link, &error) => return Err(error),
                Err(error) => {
                    self.invalidate(link.generation, &error).await;
                    if tokio::time::Instant::now() >= deadline || self.is_closed() {
                        return Err(error);
                    }
                    // Give the broker a moment before trying again on a new connection.
                    tokio::time::sleep(self.settings.reconnect_min_delay).await;
                }
            }
        }
    }

    async fn publish_on(
        &self,
        link: &Link,
        exchange: &str,
        routing_key: Option<&str>,
        messages: &[Envelope],
    ) -> Result<(), BusError> {
        let settings = &self.settings;
        let mut confirms = Vec::with_capacity(messages.len());
        for envelope in messages {
            let key = routing_key.unwrap_or(envelope.kind.as_str());
            let confirm = bounded(
                settings.operation_timeout,
                link.publisher.basic_publish(
                    ShortString::from(exchange),
                    ShortString::from(key),
                    // Mandatory: a message nothing would store comes back instead of vanishing.
                    BasicPublishOptions {
                        mandatory: true,
                        ..BasicPublishOptions::default()
                    },
                    &envelope.to_bytes(),
                    properties(envelope),
                ),
            )
            .await?;
            confirms.push((envelope.id, confirm));
        }
        for (id, confirm) in confirms {
            match bounded(settings.confirm_timeout, confirm).await? {
                Confirmation::Ack(None) => {}
                Confirmation::Ack(Some(returned)) => {
                    return Err(BusError::Other(format!(
                        "message {id} was returned unroutable: {}",
                        returned.reply_text
                    )))
                }
                Confirmation::Nack(_) => return Err(BusError::Nacked(id.to_string())),
                Confirmation::NotRequested => {
                    return Err(BusError::Other(
                        "publisher confirms are not enabled on the channel".to_string(),
                    ))
                }
            }
        }
        Ok(())
    }

    /// Closes the connection; unacknowledged deliveries go back to their queues.
    pub async fn close(&self) {
        self.closed.send_replace(true);
        let mut slot = self.slot.lock().await;
        if let Some(link) = slot.current.take().filter(|l| l.conn.status().connected()) {
            let limit = self.settings.operation_timeout;
            let _ = bounded(limit, link.publisher.close(200, ShortString::from("OK"))).await;
            if let Err(error) = bounded(limit, link.conn.close(200, ShortString::from("OK"))).await
            {
                warn!(error = %error, "Broker connection did not close cleanly.");
            }
            info!("Broker connection closed.");
        }
    }
}
