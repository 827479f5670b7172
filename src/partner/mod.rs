//! Partners: HTTP to any partner system, both ways — marketplaces today, warehouses and carriers
//! next. One model for every partner of a known kind, so a new platform is a definition file,
//! not code:
//!
//! * [`definition`] — the definition model and loader (`connectors/<platform>.toml`).
//! * [`auth`] — auth schemes (header, HTTP Basic, OAuth2 refresh token).
//! * [`client`] — one request: timeout, rate-limit pacing, retries with backoff and jitter,
//!   partner error bodies as typed errors.
//! * [`error`] — the typed partner errors and the one function that decides what is retriable.
//! * [`signature`] — signature algorithms, encodings and constant-time verification.

pub mod auth;
pub mod client;
pub mod definition;
pub mod error;
pub mod signature;

pub use error::PartnerError;
