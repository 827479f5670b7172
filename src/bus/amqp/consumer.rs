//! Consuming a queue: a subscription on a channel of its own that is made again whenever the
//! connection or channel is lost, and the [`Acker`] that settles its deliveries.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions, BasicRejectOptions,
};
use lapin::types::{FieldTable, ShortString};
use lapin::Channel;
use tracing::{info, warn};
use uuid::Uuid;

use super::connection::{bounded, Link, Manager};
use crate::bus::{Acker, BusError, Consumer, Delivery, Topology};
use crate::model::Envelope;

/// How often a waiting consumer checks that its channel is still open, in case the broker's
/// close never reaches the delivery stream.
const HEALTH_CHECK: Duration = Duration::from_secs(1);

struct Subscription {
    /// Kept so the connection the channel lives on is not closed under it.
    _link: Arc<Link>,
    channel: Channel,
    stream: lapin::Consumer,
}

/// A [`Consumer`] of one RabbitMQ queue that resubscribes after a lost connection.
pub(crate) struct AmqpConsumer {
    manager: Arc<Manager>,
    queue: String,
    prefetch: u16,
    current: Option<Subscription>,
}

impl AmqpConsumer {
    /// Subscribes to `queue`; fails if the first subscription fails (no such queue).
    pub async fn start(
        manager: Arc<Manager>,
        queue: &str,
        prefetch: u16,
    ) -> Result<Self, BusError> {
        let mut consumer = Self {
            manager,
            queue: queue.to_string(),
            prefetch,
            current: None,
        };
        consumer.current = Some(consumer.subscribe().await?);
        Ok(consumer)
    }

    async fn subscribe(&self) -> Result<Subscription, BusError> {
        let link = self.manager.link().await?;
        let limit = self.manager.settings.operation_timeout;
        let channel = bounded(limit, link.conn.create_channel()).await?;
        bounded(
            limit,
            channel.basic_qos(self.prefetch, BasicQosOptions::default()),
        )
        .await?;
        let tag = format!("ordergate-{}", Uuid::new_v4());
        let stream = bounded(
            limit,
            channel.basic_consume(
                ShortString::from(self.queue.as_str()),
                ShortString::from(tag),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            ),
        )
        .await?;
        Ok(Subscription {
            _link: link,
            channel,
            stream,
        })
    }

    /// Waits before subscribing again, or returns false if the bus closed meanwhile.
    async fn pause(&self, failures: u32) -> bool {
        let settings = &self.manager.settings;
        let delay = settings
            .reconnect_min_delay
            .saturating_mul(2u32.saturating_pow(failures.min(16)))
            .min(settings.reconnect_max_delay);
        let mut closed = self.manager.closed.subscribe();
        tokio::select! {
            _ = tokio::time::sleep(delay) => true,
            _ = closed.wait_for(|c| *c) => false,
        }
    }

    /// Rejects a body that is not an envelope without requeue, so the broker parks it.
    async fn park(&self, delivery: lapin::message::Delivery, error: serde_json::Error) {
        let message_id = delivery
            .properties
            .message_id()
            .as_ref()
            .map(|id| id.to_string());
        warn!(error = %error, queue = %self.queue, ?message_id, "Message is not an envelope, parking it.");
        let limit = self.manager.settings.operation_timeout;
        let rejected = bounded(
            limit,
            delivery.acker.reject(BasicRejectOptions { requeue: false }),
        )
        .await;
        if let Err(error) = rejected {
            // The channel is gone, so the broker redelivers it and it is rejected next time.
            warn!(error = %error, queue = %self.queue, "Could not reject a malformed message.");
        }
    }
}

#[async_trait]
impl Consumer for AmqpConsumer {
    async fn next(&mut self) -> Option<Delivery> {
        let mut closed = self.manager.closed.subscribe();
        let mut failures = 0u32;
        loop {
            if *closed.borrow_and_update() {
                self.current = None;
                return None;
            }
            let Some(subscription) = self.current.as_mut() else {
                match self.subscribe().await {
                    Ok(subscription) => {
                        info!(queue = %self.queue, "Consumer subscribed again.");
                        self.current = Some(subscription);
                        failures = 0;
                    }
                    Err(error) => {
                        warn!(error = %error, queue = %self.queue, "Consumer could not subscribe, retrying.");
                        if !self.pause(failures).await {
                            return None;
                        }
                        failures = failures.saturating_add(1);
                    }
                }
                continue;
            };
            let item = tokio::select! {
                item = subscription.stream.next() => Some(item),
                _ = closed.changed() => continue,
                _ = tokio::time::sleep(HEALTH_CHECK) => None,
            };
            match item {
                // Health check tick.
                None => {
                    if !subscription.channel.status().connected() {
                        warn!(queue = %self.queue, "Consumer channel closed, subscribing again.");
                        self.current = None;
                    }
                }
                Some(Some(Ok(delivery))) => match Envelope::from_bytes(&delivery.data) {
                    Ok(envelope) => {
                        return Some(Delivery {
                            envelope,
                            redelivered: delivery.redelivered,
                            acker: Box::new(AmqpAcker {
                                manager: self.manager.clone(),
                                acker: delivery.acker,
                                queue: self.queue.clone(),
                            }),
                        });
                    }
                    Err(error) => self.park(delivery, error).await,
                },
                Some(Some(Err(error))) => {
                    warn!(error = %error, queue = %self.queue, "Consumer lost its channel, subscribing again.");
                    self.current = None;
                }
                Some(None) => {
                    warn!(queue = %self.queue, "Consumer was cancelled by the broker, subscribing again.");
                    self.current = None;
                }
            }
        }
    }
}

/// Settles one delivery on the channel it came from.
struct AmqpAcker {
    manager: Arc<Manager>,
    acker: lapin::Acker,
    queue: String,
}

impl AmqpAcker {
    fn settled(&self, done: bool) -> Result<(), BusError> {
        if done {
            Ok(())
        } else {
            Err(BusError::Unavailable(format!(
                "the channel of this delivery from {} is closed; the broker will redeliver it",
                self.queue
            )))
        }
    }
}

#[async_trait]
impl Acker for AmqpAcker {
    async fn ack(self: Box<Self>) -> Result<(), BusError> {
        let limit = self.manager.settings.operation_timeout;
        let done = bounded(limit, self.acker.ack(BasicAckOptions::default())).await?;
        self.settled(done)
    }

    async fn requeue(self: Box<Self>) -> Result<(), BusError> {
        let limit = self.manager.settings.operation_timeout;
        let options = BasicNackOptions {
            requeue: true,
            ..BasicNackOptions::default()
        };
        let done = bounded(limit, self.acker.nack(options)).await?;
        self.settled(done)
    }

    async fn retry(self: Box<Self>, next: Envelope, delay: Duration) -> Result<(), BusError> {
        let topology = self
            .manager
            .topology_for(&self.queue)
            .ok_or_else(|| BusError::Other("no topology declared".to_string()))?;
        let retry_queue = Topology::retry_queue(&self.queue, topology.tier_for(delay));
        // Durable copy first, then forget the original: a crash in between duplicates.
        self.manager
            .publish("", Some(&retry_queue), std::slice::from_ref(&next))
            .await?;
        self.ack().await
    }
}
