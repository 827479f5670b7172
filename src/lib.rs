//! ordergate — an order integration gateway.
//!
//! Orders come in from marketplaces, B2B partners, mailboxes, fax-to-email and drop folders;
//! each is kept as a raw document, normalized by a jq mapping into one canonical order, and
//! carried through the pipeline over a bus (RabbitMQ, or an embedded queue in the store).
//!
//! Map of the modules — which room to walk into:
//!
//! * [`cli`] — the `ordergate` command line (`run`, `check`, `normalize`, `orders`, `dlq`,
//!   `sandbox`).
//! * [`demo`] — `ordergate demo`: the daemon on the embedded default with simulators and a
//!   scenario, in a data folder of its own.
//! * [`app`] — wiring only: connects store and bus, then [`intake::start`], [`stage::all`],
//!   [`http::serve`] and the periodic tasks; shutdown in order.
//! * [`config`] — the TOML configuration (sections, connectors), environment overrides, and
//!   [`config::Secret`] references (its leaf).
//! * [`model`] — the contracts: canonical order, tracking update, message envelope, the events
//!   with their typed payloads ([`model::events`]) and the order states with their one
//!   transition table ([`model::state`]).
//! * [`outbox`] — publish after commit and the relay; intake, HTTP and stages all use it.
//! * [`stage`] — the stage framework (inbox, outbox, group commit of units, retry, park) and
//!   **the one list of stages**, [`stage::ALL`]: a new stage is a file in `stage/` and one
//!   entry there (topology and RabbitMQ definitions follow). Today: `normalize`, `review`
//!   (the rulebook's checks on every `order.received`), `change` (what an `order.updated` from
//!   the source means: cancel, change, review again).
//! * [`review`] — the review rules (today: when an order read from free text waits for a
//!   person, `needs_review`); new rules of the rulebook go here, as pure functions.
//! * [`rules`] — the rulebook as pure functions, table-tested: review checks with reason
//!   codes ([`rules::review`]), countries and postal codes ([`rules::geo`]), routing
//!   ([`rules::routing`]) and transport ([`rules::transport`]) rules.
//! * [`catalog`] — the products the company sells (SKU, spec, category, price list, unit of
//!   sale, limits, flags), loaded from CSV or TOML.
//! * [`actions`] — operator actions as domain functions (correct, resume, …), called by the
//!   API and the dashboard alike.
//! * [`partner`] — HTTP to any partner, both ways: definitions, auth, the client, typed
//!   partner errors, signatures. A new **platform, warehouse or carrier of a known kind** is a
//!   definition file in `connectors/` (and a mapping in `mappings/`), not Rust; Rust goes here
//!   only for a new kind of protocol (an auth scheme, a pagination style, a signature).
//! * [`intake`] — inbound connectors: drop folder ([`intake::folder`]), order webhooks
//!   ([`intake::webhook`]), tracking callbacks ([`intake::tracking`]) and polling
//!   ([`intake::tracking_poll`], driven by `connectors/tracking/*.toml`), IMAP mailboxes
//!   ([`intake::imap`]), marketplace pull ([`intake::pull`]); [`intake::start`] starts those
//!   configured; every refused input is counted and recorded ([`intake::refusal`]).
//! * [`outbound`] — what ordergate asks of other systems: warehouses
//!   ([`outbound::warehouse`], one trait, a kind per protocol); carriers
//!   ([`outbound::carrier`]: EasyPost- and Shippo-shaped APIs, dispatch without one) and the
//!   delivery note ([`outbound::delivery_note`]); the marketplace an order came from
//!   ([`outbound::pushback`], declared in each marketplace definition's `[pushback]`). A new
//!   warehouse or carrier of a known kind is a file in `connectors/warehouses/` or
//!   `connectors/carriers/`.
//! * [`mapping`] — the jq mapping engine (jaq, and a fast engine checked against it) and the
//!   mappings' sibling tests.
//! * [`normalize`] — decode a document (JSON, XML in [`normalize::xml`], e-mail and fax in
//!   [`normalize::email`]), run its mapping, produce canonical orders.
//! * [`notices`] — telling people: customer e-mails (lettre, minijinja templates in
//!   `templates/notices/`, English and Chinese), department e-mails and webhooks
//!   (`[[subscribers]]`), the customer status page and feedback links; recorded by the
//!   `notify` stage, sent once by [`notices::sender`].
//! * [`b2b`] — B2B protocol replies (the cXML `Response`).
//! * [`store`] — sqlx store (SQLite or PostgreSQL): raw documents, orders, audit log,
//!   exceptions, outbox/inbox, dead-letter store, connector state.
//! * [`bus`] — the `Bus` trait, its RabbitMQ and embedded implementations, the topology
//!   (derived from [`stage::ALL`]).
//! * [`tracking`] — carrier tracking callbacks: signatures, decoding, mapping, partner acks.
//! * [`backup`] — online, verified backups of a SQLite store, restore, and the schedule.
//! * [`exceptions`] — the exception workflow (assign, acknowledge, root cause, resolve,
//!   reopen; per-kind SLA; escalation once per deadline) as domain functions.
//! * [`dlq`] — list and replay parked messages.
//! * [`health`] — connector health (up / degraded / down).
//! * [`http`] — health, readiness, metrics, order webhooks and the API; [`http::serve`] on
//!   its own accept loop (request heads and bodies read with time limits).
//! * [`telemetry`] — logging and Prometheus metrics.
//! * [`sandbox`] — partner API simulators (Shopify, WooCommerce, Amazon, eBay, Magento; the
//!   warehouses ShipBob and Qimen; the carriers EasyPost and Shippo) for tests, demos and
//!   `ordergate sandbox`.
//! * [`mem`] — the global allocator's process-wide settings.
//! * [`kpi`] — the rulebook's KPIs from the event log (rollup rebuilt from the log), drill-down
//!   to failing orders, the exceptions report; `ordergate report`, `/api/reports/…`.
//! * [`ui`] — the operations dashboard at `/ui` (sessions from API tokens, CSRF-protected
//!   forms, minijinja templates), calling the same domain functions as the API.
//! * [`shadow`] — `ordergate mappings diff`: a changed mapping run over stored documents.

pub mod actions;
pub mod app;
pub mod b2b;
pub mod backup;
pub mod bus;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod demo;
pub mod dlq;
pub mod exceptions;
pub mod health;
pub mod http;
pub mod intake;
pub mod kpi;
pub mod mapping;
pub mod mem;
pub mod model;
pub mod normalize;
pub mod notices;
pub mod outbound;
pub mod outbox;
pub mod partner;
pub mod review;
pub mod rules;
pub mod sandbox;
pub mod shadow;
pub mod stage;
pub mod store;
pub mod telemetry;
pub mod tracking;
pub mod ui;
