//! Outbound connectors: what ordergate asks of other systems once an order is in — warehouses
//! ([`warehouse`]), the marketplaces orders came from ([`pushback`]); carriers, mail and
//! subscribers join them. Each call
//! that creates something in a partner's system is keyed by ordergate itself and looked up
//! before it is retried, because most partners' create calls are not idempotent.

pub mod pushback;
pub mod warehouse;
