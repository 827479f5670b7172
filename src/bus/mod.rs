//! The message bus the stages talk through. Two implementations pass one conformance suite
//! (`tests/common/bus_suite.rs`, run by `tests/bus_amqp.rs` and `tests/bus_embedded.rs`): [`amqp::AmqpBus`] on RabbitMQ for the cluster profile and
//! [`embedded::EmbeddedBus`], a durable queue inside the store, for the standalone profile.
//!
//! Semantics both keep: a publish returns only once the message is durable (publisher confirm or
//! committed row); a delivery stays owned by its consumer until acked, and comes back if the
//! consumer dies; a retried delivery comes back after its delay with `attempt + 1`.

pub mod amqp;
pub mod embedded;
pub mod topology;

use std::time::Duration;

use async_trait::async_trait;

use crate::model::Envelope;
pub use embedded::InStore;
pub use topology::{QueueSpec, Topology};

/// Why a bus operation failed. Every variant is transient from a stage's point of view: the
/// broker or store may come back.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The broker connection is down or could not be made.
    #[error("broker unavailable: {0}")]
    Unavailable(String),
    /// The broker refused a publish (negative confirm).
    #[error("broker did not confirm the publish of {0}")]
    Nacked(String),
    /// The operation did not finish within its timeout.
    #[error("bus operation timed out after {0:?}")]
    Timeout(Duration),
    /// The embedded queue's store failed.
    #[error("embedded queue store: {0}")]
    Store(#[from] sqlx::Error),
    /// A message on the queue is not an envelope.
    #[error("message {message_id:?} on {queue} is not a valid envelope: {reason}")]
    Malformed {
        queue: String,
        message_id: Option<String>,
        reason: String,
    },
    /// Anything else the broker said.
    #[error("broker: {0}")]
    Other(String),
}

/// A message handed to a consumer. It stays unacknowledged (and will be redelivered to someone if
/// this process dies) until one of the settling methods is called.
pub struct Delivery {
    /// The message.
    pub envelope: Envelope,
    /// True when the bus knows this copy was delivered before (a consumer died holding it).
    pub redelivered: bool,
    /// Settles the delivery with the bus it came from.
    pub(crate) acker: Box<dyn Acker>,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("envelope", &self.envelope)
            .field("redelivered", &self.redelivered)
            .finish()
    }
}

impl Delivery {
    /// Done with it: the bus forgets the message.
    pub async fn ack(self) -> Result<(), BusError> {
        self.acker.ack().await
    }

    /// Gives it back now, unchanged, for another consumer (used at shutdown).
    pub async fn requeue(self) -> Result<(), BusError> {
        self.acker.requeue().await
    }

    /// The delivery's `(seq, lease token)` when its queue is a row of the store
    /// ([`Bus::in_store`]), for a unit transaction that settles it ([`InStore::write`]).
    pub(crate) fn lease(&self) -> Option<(i64, String)> {
        self.acker.lease()
    }

    /// Done with a delivery whose row a committed unit transaction already deleted: gives its
    /// prefetch slot back without writing anything.
    pub(crate) fn settled_in_store(self) {
        drop(self);
    }

    /// Comes back after `delay` with `attempt + 1`. The retry copy is made durable before the
    /// original is acked, so a crash in between duplicates (deduped downstream), never loses.
    pub async fn retry(self, delay: Duration) -> Result<(), BusError> {
        let mut next = self.envelope.clone();
        next.attempt = next.attempt.saturating_add(1);
        self.acker.retry(next, delay).await
    }
}

/// Settles one delivery; each bus implements it for its own handle.
#[async_trait]
pub(crate) trait Acker: Send + Sync {
    /// `(seq, lease token)` of a delivery whose queue is a row of the store; `None` elsewhere.
    fn lease(&self) -> Option<(i64, String)> {
        None
    }
    async fn ack(self: Box<Self>) -> Result<(), BusError>;
    async fn requeue(self: Box<Self>) -> Result<(), BusError>;
    async fn retry(self: Box<Self>, next: Envelope, delay: Duration) -> Result<(), BusError>;
}

/// A message the bus itself set aside in the parking queue: a consumer kept dying on it
/// (`delivery_limit` reached) or it was not an envelope at all.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    /// The message; a body that was not an envelope is wrapped in one of type
    /// `dead_letter.unreadable` whose payload keeps the body (base64).
    pub envelope: Envelope,
    /// The queue it was dead-lettered from, when the bus knows.
    pub queue: Option<String>,
    /// Why the bus set it aside.
    pub reason: String,
}

/// Receives a dead letter and returns true once it is stored durably (then the bus forgets it).
pub type KeepDeadLetter<'a> =
    &'a (dyn Fn(DeadLetter) -> futures_util::future::BoxFuture<'a, bool> + Send + Sync);

/// The envelope that carries a body that was not an envelope.
pub fn unreadable_envelope(body: &[u8]) -> Envelope {
    use base64::Engine;
    Envelope::new(
        "dead_letter.unreadable",
        "",
        serde_json::json!({"body_base64": base64::engine::general_purpose::STANDARD.encode(body)}),
    )
}

/// A stream of deliveries from one queue. It survives broker restarts: on a lost connection it
/// reconnects (with backoff) and resumes.
#[async_trait]
pub trait Consumer: Send {
    /// The next delivery; `None` once the bus is closed for good.
    async fn next(&mut self) -> Option<Delivery>;
}

/// The bus as the stages see it.
#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Which implementation this is, for logs and `/readyz`.
    fn kind(&self) -> &'static str;

    /// Declares the exchange, queues, bindings, retry and parking queues. Idempotent; also run
    /// again by the implementation after a reconnect.
    async fn declare(&self, topology: &Topology) -> Result<(), BusError>;

    /// Publishes every envelope to the exchange with its `kind` as routing key, and returns only
    /// when all of them are durable.
    async fn publish(&self, messages: &[Envelope]) -> Result<(), BusError>;

    /// Puts an envelope straight onto one queue (replay from the dead-letter store).
    async fn send_to_queue(&self, queue: &str, message: &Envelope) -> Result<(), BusError>;

    /// Starts consuming `queue` with at most `prefetch` unacknowledged deliveries in flight.
    async fn consume(&self, queue: &str, prefetch: u16) -> Result<Box<dyn Consumer>, BusError>;

    /// Messages waiting in `queue` (ready, not yet delivered): the queue lag metric.
    async fn depth(&self, queue: &str) -> Result<u64, BusError>;

    /// Cheap reachability check for `/readyz`.
    async fn ping(&self) -> Result<(), BusError>;

    /// Hands up to `max` messages from the parking queue to `keep`, oldest first, and forgets
    /// each one `keep` accepted; stops at the first it refused. Returns how many were kept.
    async fn drain_dead_letters(
        &self,
        max: usize,
        keep: KeepDeadLetter<'_>,
    ) -> Result<usize, BusError>;

    /// Whether an event of type `kind` is published under the topology in force
    /// ([`Topology::wanted`]): events no queue wants are dropped before they cost an outbox
    /// row or a publish.
    fn wanted(&self, kind: &str) -> bool {
        let _ = kind;
        true
    }

    /// When the queues are rows of the store the stages write to (the embedded bus), the handle
    /// a stage's unit transaction publishes and acks with; `None` for a broker.
    fn in_store(&self) -> Option<InStore> {
        None
    }

    /// Stops consumers and closes connections; in-flight unacked deliveries go back to the queue.
    async fn close(&self);
}
