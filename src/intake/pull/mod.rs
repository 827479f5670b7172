//! Marketplace pull connectors. Each platform is data — a definition in `connectors/` — and
//! this module implements each *kind* once:
//!
//! * [`paging`] — pagination styles (Link header, next token, page number, offset).
//! * [`connector`] — the polling task: lease, cursor and window, pages stored as one raw
//!   document per order, health.
//!
//! The HTTP side every partner shares (definitions, auth, the client, typed partner errors,
//! signatures) is in [`crate::partner`]; the instance configuration (`kind = "marketplace"`)
//! in [`crate::config`].

pub mod connector;
pub mod paging;

pub use crate::partner::{auth, client, definition, error};

pub use crate::config::MarketplaceConfig;
pub use connector::{PollReport, PullConnector};
pub use definition::{Definition, WebhookVerification};
pub use error::PartnerError;
