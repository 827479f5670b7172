//! The bus topology: one topic exchange, one durable queue per stage of `stage::ALL` bound to
//! the event types it handles, per-stage retry delay queues, and a parking queue. Declared at start-up by either bus;
//! `deploy/cluster/rabbitmq-definitions.json` is the same topology for RabbitMQ and a test keeps
//! the two in sync.

use std::time::Duration;

/// One consumer queue.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueSpec {
    /// Queue name (`ordergate.normalize`).
    pub name: String,
    /// Topic patterns it is bound to (`raw.*`).
    pub bindings: Vec<String>,
    /// Patterns of its stage's standard bindings that the configuration in force needs none
    /// of (no e-mail, subscriber or push-back acts on those events): RabbitMQ unbinds them
    /// at declaration, and an event only they would route is not published at all (see
    /// [`Topology::wanted`]).
    pub unbound: Vec<String>,
}

/// What the bus declares.
#[derive(Debug, Clone, PartialEq)]
pub struct Topology {
    /// The topic exchange every event is published to.
    pub exchange: String,
    /// Where unroutable events go (an event no stage consumes yet is kept, not dropped).
    pub unrouted_queue: String,
    /// Where the broker dead-letters what a consumer could not settle (delivery limit reached).
    pub parking_queue: String,
    /// The consumer queues.
    pub queues: Vec<QueueSpec>,
    /// Retry delay tiers: a retry waits in the smallest tier at least as long as its backoff.
    pub retry_tiers: Vec<Duration>,
    /// How often RabbitMQ redelivers a message whose consumer keeps dying before it dead-letters
    /// it to the parking queue.
    pub delivery_limit: u32,
}

/// The default prefix of every name ordergate declares.
pub const DEFAULT_PREFIX: &str = "ordergate";

impl Topology {
    /// The standard topology: one queue per stage of [`crate::stage::ALL`] (the one list of
    /// stages), every name starting with `prefix` (several environments can share one
    /// broker), with the configured retry tiers.
    pub fn standard(prefix: &str, retry_tiers: Vec<Duration>) -> Self {
        Self {
            exchange: prefix.to_string(),
            unrouted_queue: format!("{prefix}.unrouted"),
            parking_queue: format!("{prefix}.parked"),
            queues: crate::stage::specs()
                .map(|s| QueueSpec {
                    name: format!("{prefix}.{}", s.name),
                    bindings: s.bindings.iter().map(|b| b.to_string()).collect(),
                    unbound: Vec::new(),
                })
                .collect(),
            retry_tiers,
            delivery_limit: 20,
        }
    }

    /// The queue a stage consumes.
    pub fn stage_queue(&self, stage: &str) -> String {
        format!("{}.{stage}", self.exchange)
    }

    /// Name of a stage queue's retry tier queue.
    pub fn retry_queue(queue: &str, tier: Duration) -> String {
        format!("{queue}.retry.{}ms", tier.as_millis().max(1))
    }

    /// The tier a retry with this delay waits in: the smallest at least as long, else the longest.
    pub fn tier_for(&self, delay: Duration) -> Duration {
        self.retry_tiers
            .iter()
            .copied()
            .find(|t| *t >= delay)
            .or_else(|| self.retry_tiers.last().copied())
            .unwrap_or(Duration::from_secs(1))
    }

    /// Adds a queue (used by tests and observers).
    pub fn with_queue(mut self, name: impl Into<String>, bindings: &[&str]) -> Self {
        self.queues.push(QueueSpec {
            name: name.into(),
            bindings: bindings.iter().map(|b| b.to_string()).collect(),
            unbound: Vec::new(),
        });
        self
    }

    /// Binds stage queue `stage` to `wanted` only (patterns within its standard bindings, as
    /// its configuration needs them); the standard bindings left out become its `unbound`
    /// patterns. A stage that is told of every event its configuration might act on and of
    /// nothing else costs the bus one delivery, one claim and one acknowledgement less per
    /// event it would only have read and dropped.
    pub fn narrow(&mut self, stage: &str, wanted: &[String]) {
        let name = self.stage_queue(stage);
        let Some(queue) = self.queues.iter_mut().find(|q| q.name == name) else {
            return;
        };
        let standard = std::mem::take(&mut queue.bindings);
        queue.unbound = standard
            .iter()
            .filter(|b| !wanted.contains(b))
            .cloned()
            .collect();
        queue.bindings = wanted.to_vec();
    }

    /// Whether an event of type `kind` is to be published: some queue is bound to it, or no
    /// queue left it out on purpose (an event no stage knows is kept in the unrouted queue,
    /// never dropped). An event that only a narrowed-away binding would have routed is one
    /// no stage acts on under this configuration: publishing it would only fill the
    /// unrouted queue, so it is not published (it stays in the order's history).
    pub fn wanted(&self, kind: &str) -> bool {
        self.route(kind).next().is_some()
            || !self
                .queues
                .iter()
                .any(|q| q.unbound.iter().any(|b| topic_matches(b, kind)))
    }

    /// The queues whose bindings match a routing key (AMQP topic rules: `*` one word, `#` zero
    /// or more words).
    pub fn route<'a>(&'a self, routing_key: &'a str) -> impl Iterator<Item = &'a QueueSpec> + 'a {
        self.queues
            .iter()
            .filter(move |q| q.bindings.iter().any(|b| topic_matches(b, routing_key)))
    }
}

/// AMQP topic matching.
pub fn topic_matches(pattern: &str, key: &str) -> bool {
    fn go(p: &[&str], k: &[&str]) -> bool {
        match (p.first(), k.first()) {
            (None, None) => true,
            (Some(&"#"), _) => go(&p[1..], k) || (!k.is_empty() && go(p, &k[1..])),
            (Some(&"*"), Some(_)) => go(&p[1..], &k[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &k[1..]),
            _ => false,
        }
    }
    let p: Vec<&str> = pattern.split('.').collect();
    let k: Vec<&str> = key.split('.').collect();
    go(&p, &k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_rules() {
        assert!(topic_matches("raw.*", "raw.shop-eu"));
        assert!(!topic_matches("raw.*", "raw.a.b"));
        assert!(topic_matches("raw.#", "raw.a.b"));
        assert!(topic_matches("#", "order.received"));
        assert!(!topic_matches("order.received", "order.updated"));
    }

    #[test]
    fn a_narrowed_queue_routes_what_it_wants_and_its_unwanted_events_are_not_published() {
        let mut t = Topology::standard(DEFAULT_PREFIX, vec![Duration::from_secs(1)]);
        let notify = t.stage_queue("notify");
        let routes_to_notify =
            |t: &Topology, kind: &str| t.route(kind).any(|q| q.name == notify.as_str());
        assert!(routes_to_notify(&t, "order.approved"));
        t.narrow("notify", &["order.shipped".to_string()]);
        assert!(routes_to_notify(&t, "order.shipped"));
        assert!(!routes_to_notify(&t, "order.approved"));
        // order.approved still goes to allocate; order.fulfilment_requested went only to
        // notify, and nobody wants it now; an event no stage ever took stays routable to
        // the unrouted queue.
        assert!(t.wanted("order.approved"));
        assert!(!t.wanted("order.fulfilment_requested"));
        assert!(t.wanted("order.shipped"));
        assert!(t.wanted("nobody.knows"));
        assert!(t.route("nobody.knows").next().is_none());
    }

    #[test]
    fn tiers() {
        let t = Topology::standard(
            DEFAULT_PREFIX,
            [1u64, 5, 30, 120, 600].map(Duration::from_secs).to_vec(),
        );
        assert_eq!(
            t.tier_for(Duration::from_millis(300)),
            Duration::from_secs(1)
        );
        assert_eq!(t.tier_for(Duration::from_secs(6)), Duration::from_secs(30));
        assert_eq!(
            t.tier_for(Duration::from_secs(9999)),
            Duration::from_secs(600)
        );
    }
}
