//! Outbound connectors: what ordergate asks of other systems once an order is in — warehouses
//! ([`warehouse`]), carriers ([`carrier`]) and the delivery note ([`delivery_note`]), the
//! marketplaces orders came from ([`pushback`]); customer mail and department webhooks live in
//! `crate::notices`. Each call that creates something in a partner's system is keyed by
//! ordergate itself and looked up before it is retried, because most partners' create calls
//! are not idempotent.

pub mod carrier;
pub mod delivery_note;
pub mod pushback;
pub mod warehouse;
