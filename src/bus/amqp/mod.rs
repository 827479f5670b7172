//! The RabbitMQ bus for the cluster profile, on lapin: quorum stage queues with a delivery limit
//! and dead-lettering to a parking queue, per-tier retry delay queues, an alternate exchange
//! that keeps unroutable events, publisher confirms on every publish, and a connection manager
//! that reconnects with backoff and declares the topology again.
//!
//! Files: [`connection`] (connection manager, declaring, confirmed publishing), `consumer`
//! (resubscribing consumer and acker), `plan` (what is declared, shared with the definitions
//! file).

mod connection;
mod consumer;
mod dead_letters;
mod plan;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use lapin::options::QueueDeclareOptions;
use lapin::types::{FieldTable, ShortString};

use crate::bus::{Bus, BusError, Consumer, KeepDeadLetter, Topology};
use crate::model::Envelope;
use connection::{bounded, Manager};
use consumer::AmqpConsumer;
pub use plan::rabbitmq_definitions;

/// Timeouts and reconnect bounds of an [`AmqpBus`].
#[derive(Debug, Clone)]
pub struct AmqpSettings {
    /// Longest wait for the TCP + AMQP handshake of one connection attempt.
    pub connect_timeout: Duration,
    /// Longest wait for the broker to confirm one published message.
    pub confirm_timeout: Duration,
    /// Longest wait for any other broker operation (declare, consume, ack, publish frame).
    pub operation_timeout: Duration,
    /// First delay between reconnect attempts (doubles, with jitter).
    pub reconnect_min_delay: Duration,
    /// Longest delay between reconnect attempts.
    pub reconnect_max_delay: Duration,
    /// How long a publish, `depth` or a new consumer waits for a lost connection to come back
    /// before failing with [`BusError::Unavailable`]. Running consumers keep trying forever.
    pub reconnect_wait: Duration,
    /// Connection name shown in the RabbitMQ management UI and `rabbitmqctl list_connections`.
    pub connection_name: String,
}

impl Default for AmqpSettings {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            confirm_timeout: Duration::from_secs(15),
            operation_timeout: Duration::from_secs(10),
            reconnect_min_delay: Duration::from_millis(100),
            reconnect_max_delay: Duration::from_secs(10),
            reconnect_wait: Duration::from_secs(60),
            connection_name: "ordergate".to_string(),
        }
    }
}

/// The [`Bus`] on RabbitMQ. Cheap to share behind an `Arc`; one connection carries every
/// publisher and consumer of the process.
pub struct AmqpBus {
    manager: Arc<Manager>,
}

impl AmqpBus {
    /// Connects to the broker at `url` (`amqp://user:pass@host:5672/%2f`) and declares
    /// `topology`, which is declared again after every reconnect. Fails if the broker cannot be
    /// reached within `settings.reconnect_wait`.
    pub async fn connect(
        url: &str,
        topology: Topology,
        settings: AmqpSettings,
    ) -> Result<AmqpBus, BusError> {
        let manager = Arc::new(Manager::new(url, topology, settings));
        manager.link().await?;
        Ok(AmqpBus { manager })
    }
}

#[async_trait]
impl Bus for AmqpBus {
    fn kind(&self) -> &'static str {
        "amqp"
    }

    async fn declare(&self, topology: &Topology) -> Result<(), BusError> {
        self.manager.remember(topology);
        let link = self.manager.link().await?;
        self.manager.declare_on(&link.conn, topology).await
    }

    fn wanted(&self, kind: &str) -> bool {
        self.manager.wanted(kind)
    }

    async fn publish(&self, messages: &[Envelope]) -> Result<(), BusError> {
        let topology = self
            .manager
            .primary_topology()
            .ok_or_else(|| BusError::Other("no topology declared".to_string()))?;
        // An event the configuration wants nowhere would only reach the unrouted queue
        // through the alternate exchange.
        if messages.iter().all(|m| topology.wanted(&m.kind)) {
            return self
                .manager
                .publish(&topology.exchange, None, messages)
                .await;
        }
        let wanted: Vec<Envelope> = messages
            .iter()
            .filter(|m| topology.wanted(&m.kind))
            .cloned()
            .collect();
        if wanted.is_empty() {
            return Ok(());
        }
        self.manager
            .publish(&topology.exchange, None, &wanted)
            .await
    }

    async fn send_to_queue(&self, queue: &str, message: &Envelope) -> Result<(), BusError> {
        self.manager
            .publish("", Some(queue), std::slice::from_ref(message))
            .await
    }

    async fn consume(&self, queue: &str, prefetch: u16) -> Result<Box<dyn Consumer>, BusError> {
        let consumer = AmqpConsumer::start(self.manager.clone(), queue, prefetch).await?;
        Ok(Box::new(consumer))
    }

    async fn depth(&self, queue: &str) -> Result<u64, BusError> {
        let link = self.manager.link().await?;
        let limit = self.manager.settings.operation_timeout;
        // A channel of its own: a passive declare of a missing queue closes its channel.
        let channel = bounded(limit, link.conn.create_channel()).await?;
        let declared = bounded(
            limit,
            channel.queue_declare(
                ShortString::from(queue),
                QueueDeclareOptions::default().passive(),
                FieldTable::default(),
            ),
        )
        .await?;
        let _ = bounded(limit, channel.close(200, ShortString::from("OK"))).await;
        Ok(u64::from(declared.message_count()))
    }

    async fn ping(&self) -> Result<(), BusError> {
        // Bounded by one connect attempt, not the full reconnect wait: readiness must answer fast.
        let limit = self.manager.settings.connect_timeout;
        match tokio::time::timeout(limit, self.manager.link()).await {
            Ok(Ok(link)) if link.conn.status().connected() => Ok(()),
            Ok(Ok(_)) => Err(BusError::Unavailable(
                "broker connection is not open".to_string(),
            )),
            Ok(Err(error)) => Err(error),
            Err(_) => Err(BusError::Timeout(limit)),
        }
    }

    async fn drain_dead_letters(
        &self,
        max: usize,
        keep: KeepDeadLetter<'_>,
    ) -> Result<usize, BusError> {
        let Some(topology) = self.manager.primary_topology() else {
            return Ok(0);
        };
        dead_letters::drain(&self.manager, &topology.parking_queue, max, keep).await
    }

    async fn close(&self) {
        self.manager.close().await;
    }
}

/// Deletes every exchange and queue of `topology` from the broker at `url` (what
/// [`rabbitmq_definitions`] lists), with whatever messages they hold: for retiring a namespace,
/// and for tests and benchmarks that declare throwaway ones.
pub async fn delete_topology(url: &str, topology: &Topology) -> Result<(), BusError> {
    use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
    let limit = Duration::from_secs(10);
    let conn = bounded(
        limit,
        lapin::Connection::connect(url, lapin::ConnectionProperties::default()),
    )
    .await?;
    let channel = bounded(limit, conn.create_channel()).await?;
    let definitions = rabbitmq_definitions(topology);
    let names = |kind: &str| -> Vec<String> {
        definitions[kind]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d["name"].as_str().map(str::to_string))
            .collect()
    };
    for queue in names("queues") {
        bounded(
            limit,
            channel.queue_delete(
                ShortString::from(queue.as_str()),
                QueueDeleteOptions::default(),
            ),
        )
        .await?;
    }
    for exchange in names("exchanges") {
        bounded(
            limit,
            channel.exchange_delete(
                ShortString::from(exchange.as_str()),
                ExchangeDeleteOptions::default(),
            ),
        )
        .await?;
    }
    let _ = bounded(limit, conn.close(200, ShortString::from("OK"))).await;
    Ok(())
}
