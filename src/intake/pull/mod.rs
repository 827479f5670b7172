//! Marketplace pull connectors. Each platform is data — a definition in `connectors/` — and
//! this module implements each *kind* once:
//!
//! * [`definition`] — the definition model and loader (also read by the webhook intake for
//!   its [`definition::WebhookVerification`]).
//! * [`auth`] — auth schemes (header, HTTP Basic, OAuth2 refresh token).
//! * [`paging`] — pagination styles (Link header, next token, page number, offset).
//! * [`client`] — one request: timeout, rate-limit pacing, retries with backoff and jitter,
//!   partner error bodies as typed errors.
//! * [`error`] — the errors and the one function that decides what is retriable.
//! * [`connector`] — the polling task: lease, cursor and window, pages stored as one raw
//!   document per order, health.
//! * [`config`] — the instance configuration (`kind = "marketplace"`).

pub mod auth;
pub mod client;
pub mod config;
pub mod connector;
pub mod definition;
pub mod error;
pub mod paging;

pub use config::MarketplaceConfig;
pub use connector::{PollReport, PullConnector};
pub use definition::{Definition, WebhookVerification};
pub use error::PullError;
