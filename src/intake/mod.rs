//! Inbound connectors: where raw documents come from. Each stores what it receives as a raw
//! document and announces it as a `raw.<connector>` event; the normalize stage does the rest.

pub mod folder;
pub mod imap;
