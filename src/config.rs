//! Configuration: one TOML file, overridden by `ORDERGATE_<SECTION>__<KEY>` environment
//! variables, unknown keys rejected. Secrets are never written in the file: a secret field holds
//! a reference, `env:NAME` or `file:PATH`, resolved at start-up.
//!
//! Every default lives in this file, next to the field it belongs to.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// Why the configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: String, message: String },
    #[error("environment override {var}: {message}")]
    Env { var: String, message: String },
    #[error("secret reference {reference:?}: {message}")]
    Secret { reference: String, message: String },
    #[error("config: {0}")]
    Invalid(String),
}

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where orders, raw documents, the audit log and (standalone) the queue live.
    #[serde(default)]
    pub store: StoreConfig,
    /// How stages talk to each other.
    #[serde(default)]
    pub bus: BusConfig,
    /// Retry, parking and concurrency of the stages.
    #[serde(default)]
    pub pipeline: PipelineConfig,
    /// The HTTP server (health, metrics, API, callbacks).
    #[serde(default)]
    pub http: HttpConfig,
    /// Where the jq mappings are.
    #[serde(default)]
    pub mappings: MappingsConfig,
    /// Logging.
    #[serde(default)]
    pub log: LogConfig,
    /// When an order read from free text (e-mail, fax) waits for a person.
    #[serde(default)]
    pub review: ReviewConfig,
    /// When a connector counts as degraded or down.
    #[serde(default)]
    pub health: HealthConfig,
    /// The inbound connectors, each under its own name.
    #[serde(default)]
    pub connectors: Vec<ConnectorConfig>,
}

/// Store settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// `sqlite://PATH` (created if missing) or `postgres://…`; may be `env:NAME` / `file:PATH`
    /// since a PostgreSQL URL can carry a password.
    #[serde(default = "StoreConfig::default_url")]
    pub url: Secret,
    /// Connection pool size (SQLite: writers are serialized by the database anyway).
    #[serde(default = "StoreConfig::default_max_connections")]
    pub max_connections: u32,
    /// SQLite `synchronous` setting: `full` (every commit survives power loss) or `normal`
    /// (survives a crash of the process, not of the machine).
    #[serde(default = "StoreConfig::default_sqlite_synchronous")]
    pub sqlite_synchronous: String,
}

impl StoreConfig {
    fn default_url() -> Secret {
        Secret::literal("sqlite://ordergate.sqlite")
    }
    fn default_max_connections() -> u32 {
        8
    }
    fn default_sqlite_synchronous() -> String {
        "full".into()
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            url: Self::default_url(),
            max_connections: Self::default_max_connections(),
            sqlite_synchronous: Self::default_sqlite_synchronous(),
        }
    }
}

/// Which bus.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BusKind {
    /// A durable queue inside the store: one binary and one file, no broker.
    Embedded,
    /// RabbitMQ.
    Amqp,
}

/// Bus settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BusConfig {
    /// `embedded` (default) or `amqp`.
    #[serde(default = "BusConfig::default_kind")]
    pub kind: BusKind,
    /// Prefix of the exchange and every queue name, so several environments can share one
    /// broker (`ordergate-staging`).
    #[serde(default = "BusConfig::default_namespace")]
    pub namespace: String,
    /// AMQP URL (`amqp://user:pass@host:5672/%2f`), usually `env:ORDERGATE_AMQP_URL`.
    #[serde(default)]
    pub url: Option<Secret>,
    /// Unacknowledged deliveries a stage holds at once.
    #[serde(default = "BusConfig::default_prefetch")]
    pub prefetch: u16,
    /// Retry delay tiers in milliseconds; a retry waits in the smallest tier at least as long as
    /// its backoff.
    #[serde(default = "BusConfig::default_retry_tiers_ms")]
    pub retry_tiers_ms: Vec<u64>,
    /// Deliveries of one message (a consumer dying on it each time) before the bus parks it.
    #[serde(default = "BusConfig::default_delivery_limit")]
    pub delivery_limit: u32,
    /// Embedded bus: how often an idle consumer looks for work another process queued.
    #[serde(default = "BusConfig::default_poll_interval_ms")]
    pub poll_interval_ms: u64,
    /// Embedded bus: how long a delivery stays owned by a consumer that does not settle it
    /// (a crashed process) before it is delivered again.
    #[serde(default = "BusConfig::default_lease_ms")]
    pub lease_ms: u64,
    /// Timeout of one broker operation (connect, declare, publish confirm).
    #[serde(default = "BusConfig::default_timeout_ms")]
    pub timeout_ms: u64,
}

impl BusConfig {
    fn default_kind() -> BusKind {
        BusKind::Embedded
    }
    fn default_namespace() -> String {
        crate::bus::topology::DEFAULT_PREFIX.to_string()
    }
    fn default_prefetch() -> u16 {
        32
    }
    fn default_retry_tiers_ms() -> Vec<u64> {
        vec![1_000, 5_000, 30_000, 120_000, 600_000]
    }
    fn default_delivery_limit() -> u32 {
        20
    }
    fn default_poll_interval_ms() -> u64 {
        250
    }
    fn default_lease_ms() -> u64 {
        60_000
    }
    fn default_timeout_ms() -> u64 {
        10_000
    }

    /// The retry tiers as durations.
    pub fn retry_tiers(&self) -> Vec<Duration> {
        self.retry_tiers_ms
            .iter()
            .map(|ms| Duration::from_millis(*ms))
            .collect()
    }
}

impl Default for BusConfig {
    fn default() -> Self {
        Self {
            kind: Self::default_kind(),
            namespace: Self::default_namespace(),
            url: None,
            prefetch: Self::default_prefetch(),
            retry_tiers_ms: Self::default_retry_tiers_ms(),
            delivery_limit: Self::default_delivery_limit(),
            poll_interval_ms: Self::default_poll_interval_ms(),
            lease_ms: Self::default_lease_ms(),
            timeout_ms: Self::default_timeout_ms(),
        }
    }
}

/// Stage behaviour.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    /// Attempts at a message with a transient error before it is parked.
    #[serde(default = "PipelineConfig::default_max_attempts")]
    pub max_attempts: u32,
    /// First retry delay; doubles each attempt (with jitter) up to `retry_max_ms`.
    #[serde(default = "PipelineConfig::default_retry_base_ms")]
    pub retry_base_ms: u64,
    /// Longest retry delay.
    #[serde(default = "PipelineConfig::default_retry_max_ms")]
    pub retry_max_ms: u64,
    /// Messages one stage works on at once in this process. Each waits mostly on commits and
    /// confirms (disk flushes), so more in flight means more of them share one flush; the
    /// default equals the default `bus.prefetch`.
    #[serde(default = "PipelineConfig::default_concurrency")]
    pub concurrency: usize,
    /// How long shutdown waits for in-flight work before handing it back to the queue.
    #[serde(default = "PipelineConfig::default_shutdown_grace_ms")]
    pub shutdown_grace_ms: u64,
    /// Department that owns exceptions no rule assigns elsewhere.
    #[serde(default = "PipelineConfig::default_department")]
    pub default_department: String,
    /// Hours until a new exception is due.
    #[serde(default = "PipelineConfig::default_exception_due_hours")]
    pub exception_due_hours: u32,
}

impl PipelineConfig {
    fn default_max_attempts() -> u32 {
        5
    }
    fn default_retry_base_ms() -> u64 {
        1_000
    }
    fn default_retry_max_ms() -> u64 {
        600_000
    }
    fn default_concurrency() -> usize {
        32
    }
    fn default_shutdown_grace_ms() -> u64 {
        10_000
    }
    fn default_department() -> String {
        "operations".into()
    }
    fn default_exception_due_hours() -> u32 {
        24
    }
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            max_attempts: Self::default_max_attempts(),
            retry_base_ms: Self::default_retry_base_ms(),
            retry_max_ms: Self::default_retry_max_ms(),
            concurrency: Self::default_concurrency(),
            shutdown_grace_ms: Self::default_shutdown_grace_ms(),
            default_department: Self::default_department(),
            exception_due_hours: Self::default_exception_due_hours(),
        }
    }
}

/// HTTP server.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Address to listen on; empty string disables the server.
    #[serde(default = "HttpConfig::default_listen")]
    pub listen: String,
    /// Bearer tokens that may call `/api/…`: a table `{ name, token, role }` each (the token a
    /// secret reference; role `viewer` reads, `operator` also corrects orders), or just the
    /// reference (then named `token-<n>`, role `operator`).
    #[serde(default)]
    pub api_tokens: Vec<ApiToken>,
}

/// One API token.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ApiToken {
    /// Only the reference: role `operator`.
    Bare(Secret),
    /// Named, with a role.
    Named {
        /// Who holds it; audit entries name it (`api:<name>`).
        name: String,
        /// The token, as a reference.
        token: Secret,
        /// What it may do.
        #[serde(default = "ApiRole::operator")]
        role: ApiRole,
    },
}

/// What an API token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApiRole {
    /// Read orders, exceptions, documents.
    Viewer,
    /// Also complete and correct orders.
    Operator,
}

impl ApiRole {
    fn operator() -> Self {
        ApiRole::Operator
    }
}

impl ApiToken {
    /// The secret reference.
    pub fn secret(&self) -> &Secret {
        match self {
            ApiToken::Bare(s) => s,
            ApiToken::Named { token, .. } => token,
        }
    }

    /// (name, role) of the `index`-th token.
    pub fn identity(&self, index: usize) -> (String, ApiRole) {
        match self {
            ApiToken::Bare(_) => (format!("token-{}", index + 1), ApiRole::Operator),
            ApiToken::Named { name, role, .. } => (name.clone(), *role),
        }
    }
}

impl HttpConfig {
    fn default_listen() -> String {
        "127.0.0.1:8080".into()
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: Self::default_listen(),
            api_tokens: Vec::new(),
        }
    }
}

/// Mappings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingsConfig {
    /// Directory of `*.jq` mappings and their sibling `*.test.json` files. Relative paths are
    /// taken from the config file's directory.
    #[serde(default = "MappingsConfig::default_dir")]
    pub dir: PathBuf,
}

impl MappingsConfig {
    fn default_dir() -> PathBuf {
        PathBuf::from("mappings")
    }
}

impl Default for MappingsConfig {
    fn default() -> Self {
        Self {
            dir: Self::default_dir(),
        }
    }
}

/// Log output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Logging.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `text` or `json`; `--log-format` wins.
    #[serde(default = "LogConfig::default_format")]
    pub format: LogFormat,
    /// A `tracing` filter (`info`, `ordergate=debug,lapin=warn`); `RUST_LOG` wins.
    #[serde(default = "LogConfig::default_level")]
    pub level: String,
}

impl LogConfig {
    fn default_format() -> LogFormat {
        LogFormat::Text
    }
    fn default_level() -> String {
        "info".into()
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: Self::default_format(),
            level: Self::default_level(),
        }
    }
}

/// The review queue for orders extracted from free text.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewConfig {
    /// An extracted order below this confidence (0 to 1) waits in `needs_review`.
    #[serde(default = "ReviewConfig::default_threshold")]
    pub confidence_threshold: f64,
}

impl ReviewConfig {
    fn default_threshold() -> f64 {
        // Clean order e-mails score about 0.75–0.85 with the built-in extractor (a country
        // implied by the address, a currency from a symbol); doubtful ones far lower.
        0.7
    }
}

impl Default for ReviewConfig {
    fn default() -> Self {
        Self {
            confidence_threshold: Self::default_threshold(),
        }
    }
}

/// Connector health thresholds.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthConfig {
    /// Consecutive failures after which a connector is `degraded`.
    #[serde(default = "HealthConfig::default_degraded_after")]
    pub degraded_after: u32,
    /// Consecutive failures after which a connector is `down`.
    #[serde(default = "HealthConfig::default_down_after")]
    pub down_after: u32,
}

impl HealthConfig {
    fn default_degraded_after() -> u32 {
        1
    }
    fn default_down_after() -> u32 {
        5
    }
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            degraded_after: Self::default_degraded_after(),
            down_after: Self::default_down_after(),
        }
    }
}

/// One inbound connector, tagged by `kind`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ConnectorConfig {
    /// Watches a directory; every new file is one raw document of `format`.
    Folder(FolderConfig),
    /// Accepts documents at `POST /hooks/orders/<name>`, authenticated by the partner's scheme.
    Webhook(crate::intake::webhook::WebhookConfig),
    /// Polls a marketplace API described by a definition in `connectors/` (Shopify, …).
    Marketplace(MarketplaceConfig),
    /// Polls an IMAP mailbox; every message is one raw document of `format` (`email`, `fax`).
    Imap(crate::intake::imap::ImapConfig),
}

pub use crate::intake::pull::MarketplaceConfig;

impl ConnectorConfig {
    /// Unique name; part of the dedupe key and of the routing key `raw.<name>`.
    pub fn name(&self) -> &str {
        match self {
            ConnectorConfig::Folder(f) => &f.name,
            ConnectorConfig::Webhook(w) => &w.name,
            ConnectorConfig::Marketplace(m) => &m.name,
            ConnectorConfig::Imap(i) => &i.name,
        }
    }

    /// Whether it runs (a disabled connector is still checked).
    pub fn enabled(&self) -> bool {
        match self {
            ConnectorConfig::Folder(f) => f.enabled,
            ConnectorConfig::Webhook(w) => w.enabled,
            ConnectorConfig::Marketplace(m) => m.enabled,
            ConnectorConfig::Imap(i) => i.enabled,
        }
    }
}

pub(crate) fn default_true() -> bool {
    true
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

/// A value that may be given literally or by reference: `env:NAME` (an environment variable) or
/// `file:PATH` (a file's contents, trailing newline trimmed). Never printed.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_reference() {
            write!(f, "Secret({:?})", self.0)
        } else {
            f.write_str("Secret(***)")
        }
    }
}

impl Secret {
    /// A literal value (defaults, tests).
    pub fn literal(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// True for `env:`/`file:` references.
    pub fn is_reference(&self) -> bool {
        self.0.starts_with("env:") || self.0.starts_with("file:")
    }

    /// The value: the variable's or file's contents for a reference, else the literal.
    pub fn resolve(&self) -> Result<String, ConfigError> {
        if let Some(name) = self.0.strip_prefix("env:") {
            std::env::var(name).map_err(|_| ConfigError::Secret {
                reference: self.0.clone(),
                message: format!("environment variable {name} is not set"),
            })
        } else if let Some(path) = self.0.strip_prefix("file:") {
            std::fs::read_to_string(path)
                .map(|s| s.trim_end_matches(['\r', '\n']).to_string())
                .map_err(|e| ConfigError::Secret {
                    reference: self.0.clone(),
                    message: e.to_string(),
                })
        } else {
            Ok(self.0.clone())
        }
    }
}

/// The prefix of environment overrides.
pub const ENV_PREFIX: &str = "ORDERGATE_";

impl Config {
    /// Reads `path`, applies environment overrides from the process environment, validates.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut cfg = Self::from_toml(&text, &path.display().to_string(), std::env::vars())?;
        if let Some(dir) = path.parent() {
            cfg.anchor_paths(dir);
        }
        Ok(cfg)
    }

    /// Makes relative paths relative to `dir` (the config file's directory): the mappings
    /// directory, drop folders, and a SQLite file given as `sqlite://relative/path`.
    pub fn anchor_paths(&mut self, dir: &Path) {
        if self.mappings.dir.is_relative() {
            self.mappings.dir = dir.join(&self.mappings.dir);
        }
        for c in &mut self.connectors {
            match c {
                ConnectorConfig::Folder(f) if f.path.is_relative() => f.path = dir.join(&f.path),
                ConnectorConfig::Folder(_)
                | ConnectorConfig::Webhook(_)
                | ConnectorConfig::Imap(_) => {}
                ConnectorConfig::Marketplace(m) => m.anchor_paths(dir),
            }
        }
        if !self.store.url.is_reference() {
            if let Some(rest) = self.store.url.0.strip_prefix("sqlite://") {
                if !rest.starts_with('/') && !rest.starts_with(':') {
                    self.store.url = Secret(format!("sqlite://{}", dir.join(rest).display()));
                }
            }
        }
    }

    /// The built-in defaults with environment overrides (no file given).
    pub fn from_env_only() -> Result<Self, ConfigError> {
        Self::from_toml("", "<defaults>", std::env::vars())
    }

    /// Parses TOML text, applies `ORDERGATE_A__B=value` overrides from `env`, validates.
    pub fn from_toml(
        text: &str,
        origin: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut value: toml::Table = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.to_string(),
            message: e.to_string(),
        })?;
        for (var, val) in env {
            let Some(rest) = var.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            // Only `SECTION__KEY` names are overrides; plain ORDERGATE_X names are left for
            // secrets referenced with `env:`.
            if !rest.contains("__") {
                continue;
            }
            let path: Vec<String> = rest.split("__").map(|p| p.to_ascii_lowercase()).collect();
            apply_override(&mut value, &path, &val).map_err(|message| ConfigError::Env {
                var: var.clone(),
                message,
            })?;
        }
        let cfg: Config = toml::Value::Table(value)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Parse {
                path: origin.to_string(),
                message: e.to_string(),
            })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks what serde cannot: unique connector names, sensible numbers, known settings.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut seen = std::collections::HashSet::new();
        for c in &self.connectors {
            let name = c.name();
            if name.is_empty()
                || !name
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
            {
                return Err(ConfigError::Invalid(format!(
                    "connector name {name:?} must be non-empty ASCII letters, digits, '-' or '_'"
                )));
            }
            if !seen.insert(name) {
                return Err(ConfigError::Invalid(format!(
                    "connector name {name:?} is used twice"
                )));
            }
            if let ConnectorConfig::Marketplace(m) = c {
                m.validate().map_err(ConfigError::Invalid)?;
            }
        }
        if self.bus.kind == BusKind::Amqp && self.bus.url.is_none() {
            return Err(ConfigError::Invalid(
                "bus.kind = \"amqp\" needs bus.url (e.g. \"env:ORDERGATE_AMQP_URL\")".into(),
            ));
        }
        if self.bus.retry_tiers_ms.is_empty() || self.bus.retry_tiers_ms.contains(&0) {
            return Err(ConfigError::Invalid(
                "bus.retry_tiers_ms needs at least one tier, each > 0".into(),
            ));
        }
        if self.bus.prefetch == 0 || self.pipeline.concurrency == 0 {
            return Err(ConfigError::Invalid(
                "bus.prefetch and pipeline.concurrency must be > 0".into(),
            ));
        }
        if self.pipeline.max_attempts == 0 {
            return Err(ConfigError::Invalid(
                "pipeline.max_attempts must be > 0".into(),
            ));
        }
        if !matches!(self.store.sqlite_synchronous.as_str(), "full" | "normal") {
            return Err(ConfigError::Invalid(format!(
                "store.sqlite_synchronous must be \"full\" or \"normal\", not {:?}",
                self.store.sqlite_synchronous
            )));
        }
        for t in &self.http.api_tokens {
            if !t.secret().is_reference() {
                return Err(ConfigError::Invalid(
                    "http.api_tokens entries must be references (env:NAME or file:PATH), never literal tokens"
                        .into(),
                ));
            }
        }
        for c in &self.connectors {
            if let ConnectorConfig::Imap(i) = c {
                if !i.password.is_reference() {
                    return Err(ConfigError::Invalid(format!(
                        "connector {}: password must be a reference (env:NAME or file:PATH)",
                        i.name
                    )));
                }
            }
        }
        Ok(())
    }

    /// The connector of that name.
    pub fn connector(&self, name: &str) -> Option<&ConnectorConfig> {
        self.connectors.iter().find(|c| c.name() == name)
    }
}

/// Sets `path` in `table` to `raw`, read as a TOML value when it parses as one (numbers,
/// booleans, arrays) and as a string otherwise. Numeric path parts index arrays.
fn apply_override(table: &mut toml::Table, path: &[String], raw: &str) -> Result<(), String> {
    let parsed: toml::Value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()));
    let Some((last, parents)) = path.split_last() else {
        return Err("empty key".into());
    };
    let mut cur: &mut toml::Value = {
        let Some(first) = parents.first() else {
            table.insert(last.clone(), parsed);
            return Ok(());
        };
        table
            .entry(first.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
    };
    for part in parents.iter().skip(1) {
        cur = step(cur, part)?;
    }
    match cur {
        toml::Value::Table(t) => {
            t.insert(last.clone(), parsed);
            Ok(())
        }
        toml::Value::Array(a) => {
            let i: usize = last
                .parse()
                .map_err(|_| format!("{last:?} is not an array index"))?;
            let slot = a
                .get_mut(i)
                .ok_or_else(|| format!("index {i} is past the end of the array"))?;
            *slot = parsed;
            Ok(())
        }
        _ => Err(format!("cannot set {last:?} inside a plain value")),
    }
}

fn step<'a>(cur: &'a mut toml::Value, part: &str) -> Result<&'a mut toml::Value, String> {
    match cur {
        toml::Value::Table(t) => Ok(t
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))),
        toml::Value::Array(a) => {
            let i: usize = part
                .parse()
                .map_err(|_| format!("{part:?} is not an array index"))?;
            a.get_mut(i)
                .ok_or_else(|| format!("index {i} is past the end of the array"))
        }
        _ => Err(format!("cannot descend into {part:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn defaults_are_standalone() {
        let c = Config::from_toml("", "t", env(&[])).unwrap();
        assert_eq!(c.bus.kind, BusKind::Embedded);
        assert!(c.store.url.resolve().unwrap().starts_with("sqlite://"));
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let e = Config::from_toml("[store]\nurll = \"x\"", "t", env(&[])).unwrap_err();
        assert!(e.to_string().contains("urll"), "{e}");
        let e = Config::from_toml("", "t", env(&[("ORDERGATE_BUS__PREFECH", "3")])).unwrap_err();
        assert!(e.to_string().contains("prefech"), "{e}");
    }

    #[test]
    fn env_overrides_nested_and_array_values() {
        let text = "[[connectors]]\nname = \"drop\"\nkind = \"folder\"\npath = \"/a\"\nformat = \"shopify\"\n";
        let c = Config::from_toml(
            text,
            "t",
            env(&[
                ("ORDERGATE_BUS__PREFETCH", "7"),
                ("ORDERGATE_BUS__KIND", "amqp"),
                ("ORDERGATE_BUS__URL", "env:AMQP"),
                ("ORDERGATE_CONNECTORS__0__PATH", "/b"),
                ("ORDERGATE_API_TOKEN", "not an override"),
            ]),
        )
        .unwrap();
        assert_eq!(c.bus.prefetch, 7);
        assert_eq!(c.bus.kind, BusKind::Amqp);
        let ConnectorConfig::Folder(f) = &c.connectors[0] else {
            panic!("a folder connector");
        };
        assert_eq!(f.path, PathBuf::from("/b"));
    }

    #[test]
    fn api_tokens_are_named_with_roles_or_bare() {
        let c = Config::from_toml(
            "[http]\napi_tokens = [\"env:A\", { name = \"anna\", token = \"env:B\", role = \"viewer\" }]",
            "t",
            env(&[]),
        )
        .unwrap();
        assert_eq!(
            c.http.api_tokens[0].identity(0),
            ("token-1".into(), ApiRole::Operator)
        );
        assert_eq!(
            c.http.api_tokens[1].identity(1),
            ("anna".into(), ApiRole::Viewer)
        );
        let e = Config::from_toml(
            "[http]\napi_tokens = [{ name = \"x\", token = \"literal\" }]",
            "t",
            env(&[]),
        )
        .unwrap_err();
        assert!(e.to_string().contains("references"), "{e}");
    }

    #[test]
    fn api_tokens_must_be_references() {
        let e = Config::from_toml("[http]\napi_tokens = [\"hunter2\"]", "t", env(&[])).unwrap_err();
        assert!(e.to_string().contains("references"), "{e}");
        let s = Secret::literal("hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn secret_references_resolve() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("tok");
        std::fs::write(&p, "s3cret\n").unwrap();
        let s = Secret::literal(format!("file:{}", p.display()));
        assert_eq!(s.resolve().unwrap(), "s3cret");
        let e = Secret::literal("env:ORDERGATE_TEST_SURELY_UNSET")
            .resolve()
            .unwrap_err();
        assert!(e.to_string().contains("ORDERGATE_TEST_SURELY_UNSET"));
    }

    #[test]
    fn duplicate_connector_names_are_rejected() {
        let one = "[[connectors]]\nname = \"d\"\nkind = \"folder\"\npath = \"/a\"\nformat = \"shopify\"\n";
        let e = Config::from_toml(&format!("{one}{one}"), "t", env(&[])).unwrap_err();
        assert!(e.to_string().contains("used twice"), "{e}");
    }
}
