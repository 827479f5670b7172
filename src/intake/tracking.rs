//! Carrier tracking callbacks: `POST /hooks/tracking/{connector}`. A request is verified with
//! the partner's own scheme over the raw bytes, in constant time, before anything parses it
//! (`crate::tracking::verify`); then the body is stored byte for byte with its
//! `tracking.<connector>` event queued (one transaction) and the partner gets the answer it
//! expects (`crate::tracking::ack`). A resent callback is the same bytes: the same document.

use crate::config::{ConfigError, TrackingConfig};
use crate::tracking::{Scheme, Verifier};

/// A tracking connector ready to verify callbacks: its secret resolved once at start-up.
#[derive(Debug, Clone)]
pub struct TrackingEndpoint {
    /// The connector's name (`/hooks/tracking/<name>`).
    pub name: String,
    /// Checks the partner's signature.
    pub verifier: Verifier,
    /// Larger bodies are refused.
    pub max_body_bytes: usize,
    /// Who owns exceptions about refused callbacks.
    pub department: String,
}

impl TrackingEndpoint {
    /// Resolves the connector's secret.
    pub fn new(cfg: &TrackingConfig) -> Result<Self, ConfigError> {
        let scheme = Scheme::parse(&cfg.scheme).ok_or_else(|| {
            ConfigError::Invalid(format!(
                "connector {}: unknown tracking scheme {:?}",
                cfg.name, cfg.scheme
            ))
        })?;
        let verifier = Verifier::new(scheme, &cfg.secret.resolve()?)?
            .with_tolerance(cfg.tolerance_secs)
            .allow_unstamped(cfg.allow_unstamped);
        Ok(Self {
            name: cfg.name.clone(),
            verifier,
            max_body_bytes: cfg.max_body_bytes,
            department: cfg.department.clone(),
        })
    }

    /// The partner's scheme.
    pub fn scheme(&self) -> Scheme {
        self.verifier.scheme()
    }
}
