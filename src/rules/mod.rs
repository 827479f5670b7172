//! The rulebook as pure functions: given an order and the data the rules need, what the rule
//! decides. No I/O here — the stages load the data, call the rules and record the outcome — so
//! every rule is table-tested.
//!
//! * [`review`] — the review checks (contact, spec, quantity, price, address, duplicates,
//!   source status), each named and versioned with reason codes.
//! * [`geo`] — ISO 3166-1 country codes and postal-code formats.
//! * [`routing`] — routing rules (category, ship-to, channel, value → candidate warehouses)
//!   and allocation against their stock.
//! * [`transport`] — transport rules (destination, weight, value, fragile/hazardous, promised
//!   date, channel → mode, service and carrier).

pub mod geo;
pub mod review;
pub mod routing;
pub mod transport;
