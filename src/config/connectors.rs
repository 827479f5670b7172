//! The connector sections of `ordergate.toml` (`[[connectors]]`, tagged by `kind`): drop folders,
//! webhooks, marketplace pull connectors and IMAP mailboxes. The types live here, not beside the
//! code that runs them, so the configuration imports nothing of `intake`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::Secret;
use crate::partner::signature::SignatureEncoding;

/// One inbound connector, tagged by `kind`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ConnectorConfig {
    /// Watches a directory; every new file is one raw document of `format`.
    Folder(FolderConfig),
    /// Accepts documents at `POST /hooks/orders/<name>`, authenticated by the partner's scheme.
    Webhook(WebhookConfig),
    /// Polls a marketplace API described by a definition in `connectors/` (Shopify, …).
    Marketplace(MarketplaceConfig),
    /// Polls an IMAP mailbox; every message is one raw document of `format` (`email`, `fax`).
    Imap(ImapConfig),
    /// Accepts carrier tracking callbacks at `POST /hooks/tracking/<name>`, verified with the
    /// partner's own signature scheme.
    Tracking(TrackingConfig),
}

impl ConnectorConfig {
    /// Unique name; part of the dedupe key and of the routing key `raw.<name>`.
    pub fn name(&self) -> &str {
        match self {
            ConnectorConfig::Folder(f) => &f.name,
            ConnectorConfig::Webhook(w) => &w.name,
            ConnectorConfig::Marketplace(m) => &m.name,
            ConnectorConfig::Imap(i) => &i.name,
            ConnectorConfig::Tracking(t) => &t.name,
        }
    }

    /// Whether it runs (a disabled connector is still checked).
    pub fn enabled(&self) -> bool {
        match self {
            ConnectorConfig::Folder(f) => f.enabled,
            ConnectorConfig::Webhook(w) => w.enabled,
            ConnectorConfig::Marketplace(m) => m.enabled,
            ConnectorConfig::Imap(i) => i.enabled,
            ConnectorConfig::Tracking(t) => t.enabled,
        }
    }
}

pub(crate) fn default_true() -> bool {
    true
}

/// The department owning refusals of a connector that names none.
pub(crate) fn default_department() -> String {
    "operations".into()
}

/// A drop folder.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FolderConfig {
    /// Unique connector name.
    pub name: String,
    /// Whether it runs.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// The directory to watch. `processed/` and `failed/` are made inside it.
    pub path: PathBuf,
    /// The format of every file (`shopify`, …): picks the mapping `<format>.order.jq`.
    pub format: String,
    /// How often the folder is scanned.
    #[serde(default = "FolderConfig::default_poll_interval_ms")]
    pub poll_interval_ms: u64,
    /// A file is taken only once it has not changed for this long (still being written).
    #[serde(default = "FolderConfig::default_settle_ms")]
    pub settle_ms: u64,
    /// Larger files go to `failed/`.
    #[serde(default = "FolderConfig::default_max_file_bytes")]
    pub max_file_bytes: u64,
    /// Department that owns exceptions about input this connector refuses.
    #[serde(default = "default_department")]
    pub department: String,
}

impl FolderConfig {
    fn default_poll_interval_ms() -> u64 {
        1_000
    }
    fn default_settle_ms() -> u64 {
        500
    }
    fn default_max_file_bytes() -> u64 {
        16 * 1024 * 1024
    }
}

/// A marketplace connector: polls a platform's order API as its definition file describes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarketplaceConfig {
    /// Unique connector name; part of the dedupe key and of the routing key `raw.<name>`.
    pub name: String,
    /// Whether it runs (a disabled connector is still checked).
    #[serde(default = "default_true")]
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
    /// Department that owns exceptions about input this connector refuses (and its refused
    /// push-backs).
    #[serde(default = "default_department")]
    pub department: String,
    /// When shipments are pushed back to the platform: `on_label`, `on_first_scan` or
    /// `never` (the default). The definition's `[pushback]` says how.
    #[serde(default)]
    pub pushback: super::PushbackPolicy,
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

/// A webhook connector in `ordergate.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Unique connector name; the URL is `/hooks/orders/<name>`.
    pub name: String,
    /// Whether requests are accepted.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// The format of every body (`shopify`, `woocommerce`, `cxml`, …): picks the mapping.
    pub format: String,
    /// Larger bodies are refused with 413 before they are read whole.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// How requests are authenticated.
    pub auth: WebhookAuth,
    /// Department that owns exceptions about input this connector refuses.
    #[serde(default = "default_department")]
    pub department: String,
}

pub(crate) fn default_max_body() -> usize {
    5 * 1024 * 1024
}

/// How a webhook request is authenticated. Secrets are references (`env:`/`file:`).
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "scheme", rename_all = "kebab-case", deny_unknown_fields)]
pub enum WebhookAuth {
    /// Shopify: `X-Shopify-Hmac-Sha256`, base64 HMAC-SHA256 of the body.
    Shopify { secret: Secret },
    /// WooCommerce: `X-WC-Webhook-Signature`, base64 HMAC-SHA256 of the body.
    Woocommerce { secret: Secret },
    /// A generic HMAC-SHA256 signature of the body in a header.
    HmacSha256 {
        secret: Secret,
        /// The header carrying the signature.
        header: String,
        /// `base64` or `hex`.
        #[serde(default = "default_encoding")]
        encoding: SignatureEncoding,
        /// Text before the signature in the header (`sha256=`).
        #[serde(default)]
        prefix: String,
    },
    /// The company's own website: timestamped signature, see the module docs.
    Ordergate {
        secret: Secret,
        /// How far the signed time may be from now.
        #[serde(default = "default_tolerance")]
        tolerance_secs: u64,
    },
    /// HTTP Basic authentication.
    Basic { username: String, password: Secret },
    /// cXML Sender shared secret.
    CxmlSharedSecret {
        /// The `Sender/Credential/Identity` expected.
        identity: String,
        secret: Secret,
    },
}

fn default_encoding() -> SignatureEncoding {
    SignatureEncoding::Base64
}

fn default_tolerance() -> u64 {
    300
}

/// An IMAP mailbox (`kind = "imap"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImapConfig {
    /// Unique connector name.
    pub name: String,
    /// Whether it runs.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Server host name (also the TLS server name).
    pub host: String,
    /// Server port; 993 with TLS, 143 without, when not given.
    #[serde(default)]
    pub port: Option<u16>,
    /// Implicit TLS (rustls, web PKI roots). Plain connections are only for loopback tests.
    #[serde(default = "default_true")]
    pub tls: bool,
    /// A PEM file of extra trust roots for TLS (a company's private CA), trusted besides the
    /// web PKI roots; read at each connect, so a renewed CA needs no restart.
    #[serde(default)]
    pub ca_file: Option<std::path::PathBuf>,
    /// Login name.
    pub username: String,
    /// Password: a secret reference, `env:NAME` or `file:PATH`.
    pub password: Secret,
    /// The folder orders arrive in.
    #[serde(default = "ImapConfig::default_mailbox")]
    pub mailbox: String,
    /// Where a message goes once stored and announced; created when missing.
    #[serde(default = "ImapConfig::default_processed")]
    pub processed_folder: String,
    /// Where a message that cannot be taken goes (the reason is an exception); created when
    /// missing.
    #[serde(default = "ImapConfig::default_failed")]
    pub failed_folder: String,
    /// Format of every message: `email`, or `fax` for a fax-to-email mailbox.
    #[serde(default = "ImapConfig::default_format")]
    pub format: String,
    /// Time between polls (the longest an IDLE wait lasts).
    #[serde(default = "ImapConfig::default_poll_interval_ms")]
    pub poll_interval_ms: u64,
    /// Wait with IDLE between polls when the server offers it.
    #[serde(default = "default_true")]
    pub idle: bool,
    /// Larger messages go to the Failed folder unread.
    #[serde(default = "ImapConfig::default_max_message_bytes")]
    pub max_message_bytes: u64,
    /// Deadline of each network operation.
    #[serde(default = "ImapConfig::default_timeout_ms")]
    pub timeout_ms: u64,
    /// Department that owns exceptions about refused messages.
    #[serde(default = "ImapConfig::default_department")]
    pub department: String,
}

impl ImapConfig {
    fn default_mailbox() -> String {
        "INBOX".into()
    }
    fn default_processed() -> String {
        "Processed".into()
    }
    fn default_failed() -> String {
        "Failed".into()
    }
    fn default_format() -> String {
        "email".into()
    }
    fn default_poll_interval_ms() -> u64 {
        30_000
    }
    fn default_max_message_bytes() -> u64 {
        16 * 1024 * 1024
    }
    fn default_timeout_ms() -> u64 {
        30_000
    }
    fn default_department() -> String {
        "customer_service".into()
    }

    /// The port to connect to.
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(if self.tls { 993 } else { 143 })
    }
}

/// A tracking callback connector (`kind = "tracking"`): one carrier or aggregator account
/// posting to `POST /hooks/tracking/<name>`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackingConfig {
    /// Unique connector name; the URL is `/hooks/tracking/<name>`.
    pub name: String,
    /// Whether callbacks are accepted.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// The partner's scheme: `easypost`, `shippo`, `aftership`, `17track`, `kuaidi100`,
    /// `sf-express` (JSON push) or `sf-express-form` (form push with XML `content`).
    pub scheme: String,
    /// The shared secret as a reference (`env:NAME` / `file:PATH`): webhook secret (EasyPost,
    /// Shippo, AfterShip), security key (17TRACK), salt (Kuaidi100) or the URL `token`
    /// (SF Express, which signs nothing).
    pub secret: Secret,
    /// How far a signed timestamp (EasyPost, Shippo) may be from now.
    #[serde(default = "TrackingConfig::default_tolerance_secs")]
    pub tolerance_secs: u64,
    /// Accept EasyPost's legacy body-only signature (`X-Hmac-Signature`, no timestamp).
    #[serde(default)]
    pub allow_unstamped: bool,
    /// Larger bodies are refused before they are read whole.
    #[serde(default = "TrackingConfig::default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// Department that owns exceptions about refused callbacks.
    #[serde(default = "default_department")]
    pub department: String,
    /// Register every new parcel with this aggregator (EasyPost, Shippo, AfterShip, 17TRACK,
    /// Kuaidi100), so it pushes the parcel's news here; none = parcels are not registered
    /// (SF Express pushes the waybills it booked; a label bought through Shippo is tracked
    /// already).
    #[serde(default)]
    pub subscribe: Option<TrackingSubscribe>,
    /// Query each open parcel on a schedule instead of (or besides) waiting for pushes, as the
    /// scheme's poll definition (`connectors/tracking/<scheme>.toml`) describes: Kuaidi100's
    /// real-time query `poll/query.do`, 17TRACK `gettrackinfo`, AfterShip `GET /trackings`.
    /// Every record is stored like a callback and read by the same tracking stage; an
    /// unchanged record is the same document.
    #[serde(default)]
    pub poll: Option<TrackingPoll>,
}

/// `poll` of a tracking connector: how open parcels are queried.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackingPoll {
    /// The query API's base URL (`https://poll.kuaidi100.com`, `https://api.17track.net`,
    /// `https://api.aftership.com`); default: the definition's.
    #[serde(default)]
    pub api_url: Option<String>,
    /// Directory of poll definitions: `<definitions>/<scheme>.toml` replaces the definition
    /// built into ordergate (a copy of `connectors/tracking/`, edited when the partner's API
    /// changes); relative paths are taken from the config file's directory. None = built in.
    #[serde(default)]
    pub definitions: Option<PathBuf>,
    /// Kuaidi100's `customer` (授权码 company id) as a reference (`env:NAME` / `file:PATH`).
    #[serde(default)]
    pub customer: Option<Secret>,
    /// Kuaidi100's key the query is signed with (`sign` = upper-case MD5 of
    /// `param + key + customer`), as a reference.
    #[serde(default)]
    pub key: Option<Secret>,
    /// The API key (17TRACK `17token`, AfterShip `as-api-key`), as a reference.
    #[serde(default)]
    pub api_key: Option<Secret>,
    /// Records per page where the poll pages (AfterShip `limit`); default: the definition's.
    #[serde(default)]
    pub page_size: Option<u32>,
    /// Only parcels of these carriers (codes or names); empty = every parcel.
    #[serde(default)]
    pub carriers: Vec<String>,
    /// One parcel is queried at most this often (Kuaidi100 asks for half an hour or more, or
    /// it locks the number).
    #[serde(default = "TrackingPoll::default_interval_ms")]
    pub interval_ms: u64,
    /// How often the connector looks for parcels due a query.
    #[serde(default = "TrackingPoll::default_tick_ms")]
    pub tick_ms: u64,
    /// Most parcels queried in one tick (requests carry up to the definition's `batch` each).
    #[serde(default = "TrackingPoll::default_batch")]
    pub batch: u32,
    /// Pause between two queries at the least.
    #[serde(default)]
    pub min_interval_ms: u64,
    /// Timeout of one query.
    #[serde(default = "TrackingPoll::default_timeout_ms")]
    pub timeout_ms: u64,
    /// Retries of one query after 429 (its `Retry-After` honoured), 5xx or no answer.
    #[serde(default = "TrackingPoll::default_max_retries")]
    pub max_retries: u32,
    /// Longest pause between two retries (also caps `Retry-After`).
    #[serde(default = "TrackingPoll::default_retry_max_ms")]
    pub retry_max_ms: u64,
}

impl TrackingPoll {
    /// Makes a relative `definitions` directory relative to `dir` (the config file's).
    pub fn anchor_paths(&mut self, dir: &Path) {
        if let Some(p) = self.definitions.as_mut().filter(|p| p.is_relative()) {
            *p = dir.join(&*p);
        }
    }

    /// The credential a poll definition names (`customer`, `key`, `api_key`).
    pub fn credential(&self, name: &str) -> Option<&Secret> {
        match name {
            "customer" => self.customer.as_ref(),
            "key" => self.key.as_ref(),
            "api_key" => self.api_key.as_ref(),
            _ => None,
        }
    }

    fn default_interval_ms() -> u64 {
        30 * 60 * 1000
    }
    fn default_tick_ms() -> u64 {
        10_000
    }
    fn default_batch() -> u32 {
        50
    }
    fn default_timeout_ms() -> u64 {
        10_000
    }
    fn default_max_retries() -> u32 {
        3
    }
    fn default_retry_max_ms() -> u64 {
        60_000
    }
}

/// `subscribe` of a tracking connector: where and how parcels are registered.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackingSubscribe {
    /// The aggregator's API base URL (`https://api.easypost.com`, `https://api.goshippo.com`,
    /// `https://api.aftership.com`, `https://api.17track.net`, `https://poll.kuaidi100.com`).
    pub api_url: String,
    /// The API key as a reference (`env:NAME` / `file:PATH`): EasyPost API key, Shippo API
    /// token (`Authorization: ShippoToken …`), AfterShip `as-api-key`, 17TRACK `17token`,
    /// Kuaidi100 授权 key.
    pub api_key: Secret,
    /// The URL the aggregator posts to (Kuaidi100 takes it with each subscription, salted
    /// with the connector's `secret`; the others have it in their dashboard).
    #[serde(default)]
    pub callback_url: Option<String>,
    /// Only parcels of these carriers (codes or names); empty = every parcel.
    #[serde(default)]
    pub carriers: Vec<String>,
    /// Timeout of one registration call.
    #[serde(default = "TrackingSubscribe::default_timeout_ms")]
    pub timeout_ms: u64,
}

impl TrackingSubscribe {
    fn default_timeout_ms() -> u64 {
        10_000
    }
}

impl TrackingConfig {
    fn default_tolerance_secs() -> u64 {
        300
    }
    fn default_max_body_bytes() -> usize {
        1024 * 1024
    }
}
