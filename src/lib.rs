//! ordergate — an order integration gateway.
//!
//! Orders come in from marketplaces, B2B partners, mailboxes, fax-to-email and drop folders;
//! each is kept as a raw document, normalized by a jq mapping into one canonical order, and
//! carried through the pipeline over a bus (RabbitMQ, or an embedded queue in the store).
//!
//! Map of the modules:
//!
//! * [`cli`] — the `ordergate` command line (`run`, `check`, `normalize`, `orders`, `dlq`).
//! * [`app`] — wiring: builds store, bus, stages, connectors and HTTP from the config; shutdown.
//! * [`config`] — the TOML configuration, environment overrides, secret references.
//! * [`model`] — the contracts: canonical order, tracking update, message envelope.
//! * [`store`] — sqlx store (SQLite or PostgreSQL): raw documents, orders, audit log,
//!   exceptions, outbox/inbox, dead-letter store, connector state.
//! * [`bus`] — the `Bus` trait, its RabbitMQ and embedded implementations, the topology.
//! * [`stage`] — the stage framework (inbox, outbox, group commit of units, retry, park) and the
//!   stages.
//! * [`intake`] — inbound connectors: drop folder, marketplace pull ([`intake::pull`]).
//! * [`mapping`] — the jq mapping engine (jaq) and the mappings' sibling tests.
//! * [`normalize`] — decode a document (JSON, or XML in [`normalize::xml`]), run its mapping,
//!   produce canonical orders.
//! * [`b2b`] — B2B protocol replies (the cXML `Response`).
//! * [`tracking`] — carrier tracking callbacks: signatures, decoding, mapping, partner acks.
//! * [`dlq`] — list and replay parked messages.
//! * [`review`] — when an order read from free text waits for a person (`needs_review`).
//! * [`health`] — connector health (up / degraded / down).
//! * [`http`] — health, readiness, metrics and the API.
//! * [`telemetry`] — logging and Prometheus metrics.
//! * [`sandbox`] — partner API simulators (Shopify, WooCommerce, Amazon, eBay, Magento) for
//!   tests, demos and `ordergate sandbox`.

pub mod allocator;
pub mod app;
pub mod b2b;
pub mod bus;
pub mod cli;
pub mod config;
pub mod dlq;
pub mod health;
pub mod http;
pub mod intake;
pub mod mapping;
pub mod model;
pub mod normalize;
pub mod review;
pub mod sandbox;
pub mod stage;
pub mod store;
pub mod telemetry;
pub mod tracking;
