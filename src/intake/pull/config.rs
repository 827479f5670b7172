//! The instance configuration of a marketplace pull connector (`kind = "marketplace"` in
//! `ordergate.toml`): which platform definition, under which name, with which credentials.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::config::Secret;

/// A marketplace connector: polls a platform's order API as its definition file describes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarketplaceConfig {
    /// Unique connector name; part of the dedupe key and of the routing key `raw.<name>`.
    pub name: String,
    /// Whether it runs (a disabled connector is still checked).
    #[serde(default = "crate::config::default_true")]
    pub enabled: bool,
    /// The platform: picks the definition `<definitions>/<platform>.toml` (`shopify`,
    /// `woocommerce`, `amazon`, `ebay`, `magento`, …).
    pub platform: String,
    /// Directory of connector definitions. Relative paths are taken from the config file's
    /// directory.
    #[serde(default = "MarketplaceConfig::default_definitions")]
    pub definitions: PathBuf,
    /// Credentials the definition names (`access_token`, `client_secret`, …), each a secret
    /// reference (`env:NAME` or `file:PATH`), never a literal.
    #[serde(default)]
    pub credentials: BTreeMap<String, Secret>,
    /// Non-secret values the definition's URL templates use (`shop`, `marketplace_id`, …).
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    /// Replaces the definition's `base_url` (a sandbox, a regional endpoint, a self-hosted
    /// store such as WooCommerce or Magento).
    #[serde(default)]
    pub base_url: Option<String>,
    /// Replaces the definition's OAuth2 `token_url` (a sandbox).
    #[serde(default)]
    pub token_url: Option<String>,
    /// Pause between two polls of the API.
    #[serde(default = "MarketplaceConfig::default_poll_interval_ms")]
    pub poll_interval_ms: u64,
    /// Orders per page; default: the definition's `page_size`, capped at its `max_page_size`.
    #[serde(default)]
    pub page_size: Option<u32>,
    /// How far before the cursor each poll starts again, so an order written at the source
    /// just before the cursor moved is not missed (re-read orders are deduplicated).
    #[serde(default = "MarketplaceConfig::default_overlap_ms")]
    pub overlap_ms: u64,
    /// Where the very first poll starts (RFC 3339); default: 30 days before the first start.
    #[serde(default)]
    pub start_from: Option<String>,
    /// Timeout of one HTTP request (connect, send, read the whole body).
    #[serde(default = "MarketplaceConfig::default_request_timeout_ms")]
    pub request_timeout_ms: u64,
    /// Retries of one request on a retriable failure (429, 5xx, timeout) before the poll fails.
    #[serde(default = "MarketplaceConfig::default_max_retries")]
    pub max_retries: u32,
    /// First retry delay; doubles each retry (with jitter) up to `retry_max_ms`. A
    /// `Retry-After` from the platform wins when longer.
    #[serde(default = "MarketplaceConfig::default_retry_base_ms")]
    pub retry_base_ms: u64,
    /// Longest retry delay (also caps a platform's `Retry-After`). After failed polls the
    /// next poll waits the same backoff (never less than `poll_interval_ms`).
    #[serde(default = "MarketplaceConfig::default_retry_max_ms")]
    pub retry_max_ms: u64,
    /// How long this daemon's claim to poll the connector lasts without renewal (cluster: one
    /// daemon polls a connector at a time).
    #[serde(default = "MarketplaceConfig::default_lease_ms")]
    pub lease_ms: u64,
}

impl MarketplaceConfig {
    fn default_definitions() -> PathBuf {
        PathBuf::from("connectors")
    }
    fn default_poll_interval_ms() -> u64 {
        60_000
    }
    fn default_overlap_ms() -> u64 {
        600_000
    }
    fn default_request_timeout_ms() -> u64 {
        30_000
    }
    fn default_max_retries() -> u32 {
        5
    }
    fn default_retry_base_ms() -> u64 {
        1_000
    }
    fn default_retry_max_ms() -> u64 {
        60_000
    }
    fn default_lease_ms() -> u64 {
        60_000
    }

    /// Makes a relative `definitions` directory relative to `dir` (the config file's).
    pub fn anchor_paths(&mut self, dir: &Path) {
        if self.definitions.is_relative() {
            self.definitions = dir.join(&self.definitions);
        }
    }

    /// Checks what serde cannot: credentials are references, numbers are sensible, the start
    /// time parses.
    pub fn validate(&self) -> Result<(), String> {
        let name = &self.name;
        if self.platform.is_empty()
            || !self
                .platform
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(format!(
                "connector {name}: platform {:?} must be ASCII letters, digits, '-' or '_'",
                self.platform
            ));
        }
        for (key, secret) in &self.credentials {
            if !secret.is_reference() {
                return Err(format!(
                    "connector {name}: credentials.{key} must be a reference (env:NAME or file:PATH), never a literal"
                ));
            }
        }
        if self.poll_interval_ms == 0 || self.request_timeout_ms == 0 || self.lease_ms == 0 {
            return Err(format!(
                "connector {name}: poll_interval_ms, request_timeout_ms and lease_ms must be > 0"
            ));
        }
        if self.page_size == Some(0) {
            return Err(format!("connector {name}: page_size must be > 0"));
        }
        if let Some(s) = &self.start_from {
            chrono::DateTime::parse_from_rfc3339(s).map_err(|e| {
                format!("connector {name}: start_from {s:?} is not an RFC 3339 time: {e}")
            })?;
        }
        Ok(())
    }

    /// Where the first poll starts.
    pub fn start(&self) -> chrono::DateTime<chrono::Utc> {
        self.start_from
            .as_deref()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.with_timezone(&chrono::Utc))
            .unwrap_or_else(|| chrono::Utc::now() - chrono::Duration::days(30))
    }
}
