//! B2B protocols around the inbound documents: what a trading partner expects back.
//!
//! * [`cxml`] — the synchronous cXML `Response` to a posted cXML request (OrderRequest), and the
//!   request's `payloadID`.

pub mod cxml;
