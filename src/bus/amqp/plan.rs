//! What the AMQP bus declares for a [`Topology`], as plain data. The live declaration
//! ([`super::connection`]) and the RabbitMQ definitions file ([`rabbitmq_definitions`]) are both
//! made from this one plan, so they cannot drift apart.

use serde_json::{json, Value};

use crate::bus::Topology;

/// An argument value in a declaration.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Arg {
    /// A string argument (`x-queue-type`, `x-dead-letter-exchange`).
    Str(String),
    /// An integer argument (`x-message-ttl`, `x-delivery-limit`).
    Int(i64),
}

/// One exchange to declare (always durable).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ExchangeDecl {
    pub name: String,
    /// `topic` or `fanout`.
    pub kind: &'static str,
    pub arguments: Vec<(&'static str, Arg)>,
}

/// One queue to declare (always durable).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct QueueDecl {
    pub name: String,
    pub arguments: Vec<(&'static str, Arg)>,
}

/// One exchange → queue binding.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BindingDecl {
    pub exchange: String,
    pub queue: String,
    pub routing_key: String,
}

/// Everything declared for a topology, in declaration order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Plan {
    pub exchanges: Vec<ExchangeDecl>,
    pub queues: Vec<QueueDecl>,
    pub bindings: Vec<BindingDecl>,
    /// Bindings of the standard topology the configuration does not need: removed (an
    /// unbind of a binding that is not there is a no-op), so that a broker that kept them
    /// from an earlier configuration or loaded them from the definitions file stops
    /// delivering those events.
    pub unbindings: Vec<BindingDecl>,
}

/// Name of the fanout exchange that receives what the topic exchange cannot route.
pub(crate) fn unrouted_exchange(topology: &Topology) -> String {
    format!("{}.unrouted", topology.exchange)
}

/// Name of the fanout exchange stage queues dead-letter to.
pub(crate) fn parking_exchange(topology: &Topology) -> String {
    format!("{}.parked", topology.exchange)
}

fn quorum(extra: Vec<(&'static str, Arg)>) -> Vec<(&'static str, Arg)> {
    let mut args = vec![("x-queue-type", Arg::Str("quorum".to_string()))];
    args.extend(extra);
    args
}

/// The declaration plan for a topology.
pub(crate) fn plan(topology: &Topology) -> Plan {
    let unrouted = unrouted_exchange(topology);
    let parking = parking_exchange(topology);
    let exchanges = vec![
        ExchangeDecl {
            name: unrouted.clone(),
            kind: "fanout",
            arguments: vec![],
        },
        ExchangeDecl {
            name: parking.clone(),
            kind: "fanout",
            arguments: vec![],
        },
        ExchangeDecl {
            name: topology.exchange.clone(),
            kind: "topic",
            arguments: vec![("alternate-exchange", Arg::Str(unrouted.clone()))],
        },
    ];

    let mut queues = vec![
        QueueDecl {
            name: topology.unrouted_queue.clone(),
            arguments: quorum(vec![]),
        },
        QueueDecl {
            name: topology.parking_queue.clone(),
            arguments: quorum(vec![]),
        },
    ];
    let mut unbindings = Vec::new();
    let mut bindings = vec![
        BindingDecl {
            exchange: unrouted,
            queue: topology.unrouted_queue.clone(),
            routing_key: String::new(),
        },
        BindingDecl {
            exchange: parking.clone(),
            queue: topology.parking_queue.clone(),
            routing_key: String::new(),
        },
    ];

    for queue in &topology.queues {
        queues.push(QueueDecl {
            name: queue.name.clone(),
            arguments: quorum(vec![
                (
                    "x-delivery-limit",
                    Arg::Int(i64::from(topology.delivery_limit)),
                ),
                ("x-dead-letter-exchange", Arg::Str(parking.clone())),
            ]),
        });
        for tier in &topology.retry_tiers {
            let ttl = i64::try_from(tier.as_millis().max(1)).unwrap_or(i64::MAX);
            // Classic queues: a retry copy only waits here for its TTL, then the broker
            // dead-letters it back onto the stage queue through the default exchange.
            queues.push(QueueDecl {
                name: Topology::retry_queue(&queue.name, *tier),
                arguments: vec![
                    ("x-message-ttl", Arg::Int(ttl)),
                    ("x-dead-letter-exchange", Arg::Str(String::new())),
                    ("x-dead-letter-routing-key", Arg::Str(queue.name.clone())),
                ],
            });
        }
        for pattern in &queue.bindings {
            bindings.push(BindingDecl {
                exchange: topology.exchange.clone(),
                queue: queue.name.clone(),
                routing_key: pattern.clone(),
            });
        }
        for pattern in &queue.unbound {
            unbindings.push(BindingDecl {
                exchange: topology.exchange.clone(),
                queue: queue.name.clone(),
                routing_key: pattern.clone(),
            });
        }
    }

    Plan {
        exchanges,
        queues,
        bindings,
        unbindings,
    }
}

fn args_json(arguments: &[(&'static str, Arg)]) -> Value {
    let map = arguments
        .iter()
        .map(|(k, v)| {
            let v = match v {
                Arg::Str(s) => Value::from(s.as_str()),
                Arg::Int(i) => Value::from(*i),
            };
            (k.to_string(), v)
        })
        .collect::<serde_json::Map<_, _>>();
    Value::Object(map)
}

/// The topology in RabbitMQ's definitions-import format (vhost `/`): what
/// `deploy/cluster/rabbitmq-definitions.json` holds for the standard topology, so a cluster can
/// be provisioned before any daemon starts.
pub fn rabbitmq_definitions(topology: &Topology) -> Value {
    let plan = plan(topology);
    let exchanges: Vec<Value> = plan
        .exchanges
        .iter()
        .map(|e| {
            json!({
                "name": e.name,
                "vhost": "/",
                "type": e.kind,
                "durable": true,
                "auto_delete": false,
                "internal": false,
                "arguments": args_json(&e.arguments),
            })
        })
        .collect();
    let queues: Vec<Value> = plan
        .queues
        .iter()
        .map(|q| {
            json!({
                "name": q.name,
                "vhost": "/",
                "durable": true,
                "auto_delete": false,
                "arguments": args_json(&q.arguments),
            })
        })
        .collect();
    let bindings: Vec<Value> = plan
        .bindings
        .iter()
        .map(|b| {
            json!({
                "source": b.exchange,
                "vhost": "/",
                "destination": b.queue,
                "destination_type": "queue",
                "routing_key": b.routing_key,
                "arguments": {},
            })
        })
        .collect();
    json!({
        "exchanges": exchanges,
        "queues": queues,
        "bindings": bindings,
    })
}
