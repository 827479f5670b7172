//! The sections of `ordergate.toml` other than the connectors: store, bus, pipeline, HTTP,
//! mappings, logging, review, health. Every default lives next to its field.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::Secret;

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
    /// Unacknowledged deliveries a stage holds at once (a stage that calls partners holds no
    /// more than `pipeline.partner_concurrency`); unset, [`BusConfig::prefetch`] gives the
    /// bus kind's default.
    #[serde(default)]
    pub prefetch: Option<u16>,
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
    /// Whether each stage's queue is bound only to the events this configuration has it act
    /// on (the notify stage to the events of enabled e-mails and subscribers, the push-back
    /// stage to those of the connectors' policies), and an event no queue wants is not
    /// published at all (it stays in the order's history). `false` binds every stage to all
    /// it could take and publishes every event: for systems that bind queues of their own to
    /// the RabbitMQ exchange to watch ordergate's events.
    #[serde(default = "BusConfig::default_only_wanted")]
    pub only_wanted: bool,
}

impl BusConfig {
    fn default_kind() -> BusKind {
        BusKind::Embedded
    }
    fn default_namespace() -> String {
        crate::bus::topology::DEFAULT_PREFIX.to_string()
    }
    /// Deliveries a stage holds at once: `bus.prefetch` when set, else the kind's default.
    ///
    /// On RabbitMQ 128: each delivery waits mostly on the broker's confirms and the
    /// database's commits, and more in flight share them (P1 rose from 0.20–0.23 at 32 to
    /// 0.24–0.35). On the embedded bus 32: its stages write through SQLite's one writer and
    /// share the runtime with the HTTP intake, and 128 deliveries in flight per stage put a
    /// webhook's or a tracking callback's answer behind that much pipeline work (p99 51–173 ms
    /// at half of W1's and T1's rate, against 6–25 ms at 32); the standalone throughput it
    /// gives up (P2 about a fifth, L2 under a tenth) leaves both well above their goals.
    pub fn prefetch(&self) -> u16 {
        self.prefetch.unwrap_or(match self.kind {
            BusKind::Amqp => 128,
            BusKind::Embedded => 32,
        })
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
    fn default_only_wanted() -> bool {
        true
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
            prefetch: None,
            retry_tiers_ms: Self::default_retry_tiers_ms(),
            delivery_limit: Self::default_delivery_limit(),
            poll_interval_ms: Self::default_poll_interval_ms(),
            lease_ms: Self::default_lease_ms(),
            timeout_ms: Self::default_timeout_ms(),
            only_wanted: Self::default_only_wanted(),
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
    /// A message failing because a partner (warehouse, carrier, platform) is down, slow or
    /// throttling is retried past `max_attempts` until its event is this old, so a partner
    /// outage shorter than this parks nothing (default one hour). The same window holds for a
    /// customer e-mail while the SMTP relay is out and a webhook delivery while its subscriber
    /// is (past `notices.max_attempts` and the subscriber's `max_attempts`), counted from when
    /// the e-mail or delivery was recorded.
    #[serde(default = "PipelineConfig::default_outage_retry_secs")]
    pub outage_retry_secs: u64,
    /// Messages one stage works on at once in this process. Each waits mostly on commits and
    /// confirms (disk flushes), so more in flight means more of them share one flush; the
    /// default equals RabbitMQ's default `bus.prefetch` (on the embedded bus its prefetch, 32,
    /// holds a stage to fewer). A stage that calls a partner is held to
    /// `partner_concurrency` as well.
    #[serde(default = "PipelineConfig::default_concurrency")]
    pub concurrency: usize,
    /// At most this many messages at once in a stage that calls a partner for each (`allocate`
    /// asks for stock, `fulfil` places warehouse orders, `ship` buys labels, `pushback` tells
    /// the marketplace, `subscribe` registers trackers): a stage's concurrency is also the burst
    /// of calls a rate-limited partner sees, and the memory of the answers held at once.
    #[serde(default = "PipelineConfig::default_partner_concurrency")]
    pub partner_concurrency: usize,
    /// How long shutdown waits for in-flight work before handing it back to the queue.
    #[serde(default = "PipelineConfig::default_shutdown_grace_ms")]
    pub shutdown_grace_ms: u64,
    /// Department that owns exceptions no rule assigns elsewhere.
    #[serde(default = "PipelineConfig::default_department")]
    pub default_department: String,
    /// Hours until a new exception is due.
    #[serde(default = "PipelineConfig::default_exception_due_hours")]
    pub exception_due_hours: u32,
    /// The stages this daemon runs, by name (`normalize`, `review`, …; `ordergate check`
    /// lists them); empty runs every stage. On the cluster profile daemons may split the
    /// stages between them (each queue is consumed by whichever daemons run its stage); a
    /// stage nobody runs leaves its queue growing. A stage's periodic work runs with it:
    /// `track` the delay/loss sweep, `allocate` the stock re-check, `pushback` the
    /// reconciliation, `notify` the e-mail and subscriber sender.
    #[serde(default)]
    pub stages: Vec<String>,
}

impl PipelineConfig {
    /// Whether this daemon runs `stage` (every stage when `stages` is empty). A stage's
    /// periodic work (the tracking sweep, the stock re-check, push-back reconciliation, the
    /// notice sender) runs where the stage does.
    pub fn runs(&self, stage: &str) -> bool {
        self.stages.is_empty() || self.stages.iter().any(|s| s == stage)
    }

    fn default_max_attempts() -> u32 {
        5
    }
    fn default_retry_base_ms() -> u64 {
        1_000
    }
    fn default_retry_max_ms() -> u64 {
        600_000
    }
    fn default_outage_retry_secs() -> u64 {
        3_600
    }
    fn default_concurrency() -> usize {
        128
    }
    fn default_partner_concurrency() -> usize {
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
            outage_retry_secs: Self::default_outage_retry_secs(),
            concurrency: Self::default_concurrency(),
            partner_concurrency: Self::default_partner_concurrency(),
            shutdown_grace_ms: Self::default_shutdown_grace_ms(),
            default_department: Self::default_department(),
            exception_due_hours: Self::default_exception_due_hours(),
            stages: Vec::new(),
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
    /// Seconds a request's body has to arrive in full (default 30); a client still sending
    /// then is answered 408 and its connection closed (slow-body attacks hold no task).
    #[serde(default = "HttpConfig::default_body_timeout_secs")]
    pub body_timeout_secs: u64,
    /// Seconds a request's head (request line and headers) has to arrive in full (default
    /// 30), counted from the first byte of the request or from when a kept-alive connection
    /// waits for its next one; a client still sending then has its connection closed
    /// (slow-header attacks hold no connection).
    #[serde(default = "HttpConfig::default_header_timeout_secs")]
    pub header_timeout_secs: u64,
    /// Failed dashboard sign-ins a client may make per minute (default 10); past them every
    /// sign-in of that client is answered 429 with `Retry-After` until the minute is over.
    /// Clients are told apart as for the customer pages (`notices.trust_forwarded_for`).
    #[serde(default = "HttpConfig::default_signin_failures_per_minute")]
    pub signin_failures_per_minute: u32,
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

    fn default_body_timeout_secs() -> u64 {
        30
    }

    fn default_header_timeout_secs() -> u64 {
        30
    }

    /// The default of `signin_failures_per_minute`.
    pub fn default_signin_failures_per_minute() -> u32 {
        10
    }

    /// The default of `body_timeout_secs`.
    pub fn default_body_timeout() -> std::time::Duration {
        std::time::Duration::from_secs(Self::default_body_timeout_secs())
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: Self::default_listen(),
            api_tokens: Vec::new(),
            body_timeout_secs: Self::default_body_timeout_secs(),
            header_timeout_secs: Self::default_header_timeout_secs(),
            signin_failures_per_minute: Self::default_signin_failures_per_minute(),
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

/// `[backup]`: scheduled backups of a SQLite store (standalone profile). A PostgreSQL store is
/// backed up with the server's own tools (`pg_dump`), see the README.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupConfig {
    /// Folder the backups go to (relative to the config file); none: no scheduled backups.
    #[serde(default)]
    pub dir: Option<PathBuf>,
    /// Hours between two backups.
    #[serde(default = "BackupConfig::default_interval_hours")]
    pub interval_hours: f64,
    /// How many backups to keep; older ones are removed after a new one is verified.
    #[serde(default = "BackupConfig::default_keep")]
    pub keep: usize,
}

impl BackupConfig {
    fn default_interval_hours() -> f64 {
        24.0
    }
    fn default_keep() -> usize {
        7
    }
}

impl Default for BackupConfig {
    fn default() -> Self {
        Self {
            dir: None,
            interval_hours: Self::default_interval_hours(),
            keep: Self::default_keep(),
        }
    }
}

/// `[exceptions]`: the workflow's deadlines and vocabulary.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExceptionsConfig {
    /// Hours to resolve, per exception kind (`stock_shortage = 24`, `bad_input = 4`); kinds
    /// not listed take the due time their stage sets (`pipeline.exception_due_hours`).
    #[serde(default)]
    pub sla_hours: std::collections::BTreeMap<String, f64>,
    /// The root-cause categories people choose from.
    #[serde(default = "ExceptionsConfig::default_root_causes")]
    pub root_causes: Vec<String>,
    /// Seconds between two looks for overdue exceptions.
    #[serde(default = "ExceptionsConfig::default_escalate_every_secs")]
    pub escalate_every_secs: f64,
}

impl ExceptionsConfig {
    fn default_root_causes() -> Vec<String> {
        [
            "customer_data",
            "data_entry",
            "catalog",
            "stock",
            "warehouse",
            "carrier",
            "partner_system",
            "our_system",
            "other",
        ]
        .map(String::from)
        .to_vec()
    }
    fn default_escalate_every_secs() -> f64 {
        60.0
    }

    /// The SLA table in milliseconds, as the store keeps it.
    pub fn sla_ms(&self) -> std::collections::BTreeMap<String, i64> {
        self.sla_hours
            .iter()
            .map(|(k, h)| (k.clone(), (h * 3_600_000.0) as i64))
            .collect()
    }

    /// Checks the numbers and names.
    pub fn validate(&self) -> Result<(), String> {
        for (kind, h) in &self.sla_hours {
            if !(h.is_finite() && *h > 0.0) {
                return Err(format!("exceptions.sla_hours.{kind} must be hours > 0"));
            }
        }
        if self.root_causes.is_empty() || self.root_causes.iter().any(|c| c.trim().is_empty()) {
            return Err("exceptions.root_causes needs at least one non-empty category".into());
        }
        if !(self.escalate_every_secs.is_finite() && self.escalate_every_secs > 0.0) {
            return Err("exceptions.escalate_every_secs must be seconds > 0".into());
        }
        Ok(())
    }
}

impl Default for ExceptionsConfig {
    fn default() -> Self {
        Self {
            sla_hours: Default::default(),
            root_causes: Self::default_root_causes(),
            escalate_every_secs: Self::default_escalate_every_secs(),
        }
    }
}
