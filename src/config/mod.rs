//! Configuration: one TOML file, overridden by `ORDERGATE_<SECTION>__<KEY>` environment
//! variables, unknown keys rejected. Secrets are never written in the file: a secret field holds
//! a reference, `env:NAME` or `file:PATH`, resolved at start-up.
//!
//! Every default lives in this file, next to the field it belongs to.

use std::path::{Path, PathBuf};

use serde::Deserialize;

mod connectors;
pub mod kpi;
mod notices;
mod pushback;
mod routing;
mod rules;
mod secret;
mod sections;
mod tracking;
mod transport;
mod warehouses;

pub use connectors::*;
pub use notices::{
    validate_subscribers, NoticesConfig, SmtpTls, SubscriberConfig, DEPARTMENT_NOTICE, NOTICE_KINDS,
};
pub use pushback::{PushbackPolicy, PushbackSettings};
pub use routing::{CategoryOwner, RoutingConfig};
pub use rules::{CatalogConfig, ChannelRules, ReviewConfig};
pub use secret::{read_bounded, read_bounded_text, Secret, SecretError, MAX_SECRET_FILE_BYTES};
pub use sections::*;
pub use tracking::{Thresholds, TrackingSettings, TrackingThreshold};
pub use transport::{CarrierConfig, DeliveryNoteConfig, FromAddress, TransportConfig};
pub use warehouses::WarehouseConfig;

/// The SMTP relay's name in connector health; no connector, warehouse, carrier or subscriber
/// may take it.
pub const HEALTH_SMTP: &str = "smtp";

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
    #[error(transparent)]
    Secret(#[from] SecretError),
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
    /// The review checks (which run per channel, thresholds) and when an order read from free
    /// text (e-mail, fax) waits for a person.
    #[serde(default)]
    pub review: ReviewConfig,
    /// The products the company sells.
    #[serde(default)]
    pub catalog: CatalogConfig,
    /// Allocation to warehouses: routing rules, splitting, shortage owners, re-checks.
    #[serde(default)]
    pub routing: RoutingConfig,
    /// When a connector counts as degraded or down.
    #[serde(default)]
    pub health: HealthConfig,
    /// Scheduled backups of a SQLite store.
    #[serde(default)]
    pub backup: BackupConfig,
    /// The exception workflow: SLA per kind, root-cause categories, escalation.
    #[serde(default)]
    pub exceptions: ExceptionsConfig,
    /// The rulebook's KPIs (on-time processing SLA, complaint kinds) and dashboard sessions.
    #[serde(default)]
    pub kpi: kpi::KpiConfig,
    /// Carrier tracking: who owns transport exceptions, when a parcel is late or lost.
    #[serde(default)]
    pub tracking: TrackingSettings,
    /// The inbound connectors, each under its own name.
    #[serde(default)]
    pub connectors: Vec<ConnectorConfig>,
    /// The warehouses orders are fulfilled by (`[[warehouses]]`, see [`WarehouseConfig`]).
    #[serde(default)]
    pub warehouses: Vec<WarehouseConfig>,
    /// Push-back of shipments to marketplaces: claims and reconciliation (`[pushback]`).
    #[serde(default)]
    pub pushback: PushbackSettings,
    /// Customer and department e-mails, the status page and feedback links (`[notices]`).
    #[serde(default)]
    pub notices: NoticesConfig,
    /// Department webhooks (`[[subscribers]]`, see [`SubscriberConfig`]).
    #[serde(default)]
    pub subscribers: Vec<SubscriberConfig>,
    // <carrier>
    /// Transport rules (mode, service, carrier for a packed order), who owns transport
    /// exceptions, and the delivery note (see [`TransportConfig`]).
    #[serde(default)]
    pub transport: TransportConfig,
    /// The carriers labels are bought from (`[[carriers]]`, see [`CarrierConfig`]).
    #[serde(default)]
    pub carriers: Vec<CarrierConfig>,
    // </carrier>
}

/// The largest configuration file read (a regular file only, see [`read_bounded`]).
pub const MAX_CONFIG_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// The prefix of environment overrides.
pub const ENV_PREFIX: &str = "ORDERGATE_";

impl Config {
    /// Reads `path`, applies environment overrides from the process environment, validates.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text =
            read_bounded_text(path, MAX_CONFIG_FILE_BYTES).map_err(|source| ConfigError::Read {
                path: path.to_path_buf(),
                source,
            })?;
        let mut cfg = Self::parse(&text, &path.display().to_string(), std::env::vars())?;
        if let Some(dir) = path.parent() {
            cfg.anchor_paths(dir);
        }
        // After anchoring: validation reads files the configuration names (poll definitions).
        cfg.validate()?;
        Ok(cfg)
    }

    /// Makes relative paths relative to `dir` (the config file's directory): the mappings
    /// directory, drop folders, and a SQLite file given as `sqlite://relative/path`.
    pub fn anchor_paths(&mut self, dir: &Path) {
        if self.mappings.dir.is_relative() {
            self.mappings.dir = dir.join(&self.mappings.dir);
        }
        if let Some(p) = self.backup.dir.as_mut().filter(|p| p.is_relative()) {
            *p = dir.join(&*p);
        }
        if let Some(p) = self.catalog.path.as_mut().filter(|p| p.is_relative()) {
            *p = dir.join(&*p);
        }
        for c in &mut self.connectors {
            match c {
                ConnectorConfig::Folder(f) if f.path.is_relative() => f.path = dir.join(&f.path),
                ConnectorConfig::Folder(_)
                | ConnectorConfig::Webhook(_)
                | ConnectorConfig::Imap(_) => {}
                ConnectorConfig::Tracking(t) => {
                    if let Some(p) = t.poll.as_mut() {
                        p.anchor_paths(dir);
                    }
                }
                ConnectorConfig::Marketplace(m) => m.anchor_paths(dir),
            }
        }
        for w in &mut self.warehouses {
            w.anchor_paths(dir);
        }
        self.notices.anchor_paths(dir);
        self.transport.anchor_paths(dir);
        for c in &mut self.carriers {
            c.anchor_paths(dir);
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
        let cfg = Self::parse(text, origin, env)?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Parses `text` with the environment overrides applied, without validating.
    fn parse(
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
        warehouses::validate_all(&self.warehouses).map_err(ConfigError::Invalid)?;
        self.transport
            .validate(&self.carriers)
            .map_err(ConfigError::Invalid)?;
        self.review.validate().map_err(ConfigError::Invalid)?;
        self.exceptions.validate().map_err(ConfigError::Invalid)?;
        self.kpi.validate().map_err(ConfigError::Invalid)?;
        if self.backup.dir.is_some() {
            if !(self.backup.interval_hours.is_finite() && self.backup.interval_hours > 0.0) {
                return Err(ConfigError::Invalid(
                    "backup.interval_hours must be a number of hours > 0".into(),
                ));
            }
            if self.backup.keep == 0 {
                return Err(ConfigError::Invalid(
                    "backup.keep must be at least 1".into(),
                ));
            }
            let url = self.store.url.resolve().unwrap_or_default();
            if url.starts_with("postgres") {
                return Err(ConfigError::Invalid(
                    "backup.dir is for a SQLite store; back PostgreSQL up with pg_dump (README, \"Backups\")".into(),
                ));
            }
        }
        self.tracking.validate().map_err(ConfigError::Invalid)?;
        self.pushback.validate().map_err(ConfigError::Invalid)?;
        self.notices.validate().map_err(ConfigError::Invalid)?;
        validate_subscribers(&self.subscribers).map_err(ConfigError::Invalid)?;
        self.routing
            .validate(&self.warehouse_names())
            .map_err(ConfigError::Invalid)?;
        self.validate_health_names().map_err(ConfigError::Invalid)?;
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
        if self.bus.prefetch() == 0
            || self.pipeline.concurrency == 0
            || self.pipeline.partner_concurrency == 0
        {
            return Err(ConfigError::Invalid(
                "bus.prefetch, pipeline.concurrency and pipeline.partner_concurrency must be > 0"
                    .into(),
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
            if let ConnectorConfig::Tracking(t) = c {
                if crate::tracking::Scheme::parse(&t.scheme).is_none() {
                    return Err(ConfigError::Invalid(format!(
                        "connector {}: unknown tracking scheme {:?} (easypost, shippo, aftership, 17track, kuaidi100, sf-express, sf-express-form)",
                        t.name, t.scheme
                    )));
                }
                if !t.secret.is_reference() {
                    return Err(ConfigError::Invalid(format!(
                        "connector {}: secret must be a reference (env:NAME or file:PATH)",
                        t.name
                    )));
                }
                if let Some(p) = &t.poll {
                    let def = crate::intake::tracking_poll::PollDefinition::of(
                        &t.scheme,
                        p.definitions.as_deref(),
                    )
                    .map_err(|e| ConfigError::Invalid(format!("connector {}: {e}", t.name)))?;
                    for name in &def.credentials {
                        if !p.credential(name).is_some_and(|s| s.is_reference()) {
                            return Err(ConfigError::Invalid(format!(
                                "connector {}: poll.{name} must be given as a reference (env:NAME or file:PATH)",
                                t.name
                            )));
                        }
                    }
                    if p.interval_ms == 0
                        || p.tick_ms == 0
                        || p.batch == 0
                        || p.page_size == Some(0)
                    {
                        return Err(ConfigError::Invalid(format!(
                            "connector {}: poll.interval_ms, poll.tick_ms, poll.batch and poll.page_size must be > 0",
                            t.name
                        )));
                    }
                }
            }
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

    /// Connector health (`GET /readyz`, the connectors page, the store) keeps one entry per
    /// name for connectors, warehouses, carriers, subscribers and the SMTP relay
    /// ([`HEALTH_SMTP`]): two of them under one name would share an entry, so that is refused.
    fn validate_health_names(&self) -> Result<(), String> {
        let mut seen: std::collections::HashMap<&str, &str> =
            std::collections::HashMap::from([(HEALTH_SMTP, "the SMTP relay of [notices]")]);
        let named = self
            .connectors
            .iter()
            .map(|c| ("connector", c.name()))
            .chain(
                self.warehouses
                    .iter()
                    .map(|w| ("warehouse", w.name.as_str())),
            )
            .chain(self.carriers.iter().map(|c| ("carrier", c.name.as_str())))
            .chain(
                self.subscribers
                    .iter()
                    .map(|s| ("subscriber", s.name.as_str())),
            );
        for (what, name) in named {
            if let Some(before) = seen.insert(name, what) {
                return Err(format!(
                    "{what} name {name:?} is taken by {}: connectors, warehouses, carriers, \
                     subscribers and the SMTP relay (\"{HEALTH_SMTP}\") share connector health, \
                     so each needs a name of its own",
                    if before.starts_with("the ") {
                        before.to_string()
                    } else {
                        format!("a {before}")
                    }
                ));
            }
        }
        Ok(())
    }

    /// The names of the configured warehouses.
    pub fn warehouse_names(&self) -> Vec<&str> {
        self.warehouses.iter().map(|w| w.name.as_str()).collect()
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
        assert_eq!(c.bus.prefetch(), 7);
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

    /// A tracking connector's `poll.definitions` is taken from the config file's directory,
    /// and the definition in it is loaded and checked with the configuration.
    #[test]
    fn a_poll_definitions_directory_is_relative_to_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ordergate.toml");
        std::fs::write(
            &path,
            "[[connectors]]\nname = \"t17\"\nkind = \"tracking\"\nscheme = \"17track\"\nsecret = \"env:S\"\npoll = { api_key = \"env:K\", definitions = \"defs\" }\n",
        )
        .unwrap();
        let e = Config::load(&path).unwrap_err().to_string();
        assert!(e.contains("t17") && e.contains("17track.toml"), "{e}");
        std::fs::create_dir(dir.path().join("defs")).unwrap();
        std::fs::write(
            dir.path().join("defs/17track.toml"),
            include_str!("../../connectors/tracking/17track.toml"),
        )
        .unwrap();
        let c = Config::load(&path).unwrap();
        let ConnectorConfig::Tracking(t) = &c.connectors[0] else {
            panic!("a tracking connector");
        };
        let poll = t.poll.as_ref().unwrap();
        assert_eq!(
            poll.definitions.as_deref(),
            Some(dir.path().join("defs").as_path())
        );
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
    fn the_config_file_is_read_only_when_regular_and_bounded() {
        let started = std::time::Instant::now();
        for path in ["/dev/zero", "/tmp"] {
            let e = Config::load(Path::new(path)).unwrap_err().to_string();
            assert!(e.contains(path) && e.contains("not a regular file"), "{e}");
        }
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.toml");
        std::fs::write(&big, vec![b'#'; MAX_CONFIG_FILE_BYTES as usize + 1]).unwrap();
        let e = Config::load(&big).unwrap_err().to_string();
        assert!(e.contains("larger than the limit"), "{e}");
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn review_rules_per_channel_are_checked() {
        let c = Config::from_toml(
            "[review]\nprice_tolerance_pct = 2.5\n[review.channels.email]\nrules = [\"contact\", \"address\"]\n",
            "t",
            env(&[]),
        )
        .unwrap();
        assert_eq!(c.review.rules_for("email"), ["contact", "address"]);
        assert_eq!(c.review.rules_for("marketplace").len(), 7);
        let e = Config::from_toml("[review]\nrules = [\"contcat\"]\n", "t", env(&[])).unwrap_err();
        assert!(
            e.to_string()
                .contains("review.rules: unknown review rule \"contcat\""),
            "{e}"
        );
        let e =
            Config::from_toml("[review.channels.telex]\nrules = []\n", "t", env(&[])).unwrap_err();
        assert!(e.to_string().contains("unknown channel \"telex\""), "{e}");
        let e =
            Config::from_toml("[review]\nprice_tolerance_pct = 120\n", "t", env(&[])).unwrap_err();
        assert!(e.to_string().contains("price_tolerance_pct"), "{e}");
    }

    #[test]
    fn health_names_are_one_namespace() {
        let folder = |name: &str| {
            format!("[[connectors]]\nname = \"{name}\"\nkind = \"folder\"\npath = \"/a\"\nformat = \"shopify\"\n")
        };
        let subscriber = |name: &str| {
            format!("[[subscribers]]\nname = \"{name}\"\nurl = \"https://x\"\nevents = [\"order.*\"]\nsecret = \"env:S\"\n")
        };
        let warehouse = |name: &str| {
            format!("[[warehouses]]\nname = \"{name}\"\ndefinition = \"shipbob\"\ncredentials = {{ access_token = \"env:T\" }}\n")
        };
        let carrier =
            |name: &str| format!("[[carriers]]\nname = \"{name}\"\ndefinition = \"easypost\"\n");
        // Distinct names pass.
        let fine = [
            folder("shop"),
            subscriber("finance"),
            warehouse("east"),
            carrier("ep"),
        ]
        .concat();
        Config::from_toml(&fine, "t", env(&[])).unwrap();
        for (text, says) in [
            (
                folder("smtp"),
                "connector name \"smtp\" is taken by the SMTP relay of [notices]",
            ),
            (
                subscriber("smtp"),
                "subscriber name \"smtp\" is taken by the SMTP relay",
            ),
            (
                [folder("shop"), subscriber("shop")].concat(),
                "subscriber name \"shop\" is taken by a connector",
            ),
            (
                [folder("east"), warehouse("east")].concat(),
                "warehouse name \"east\" is taken by a connector",
            ),
            (
                [warehouse("ep"), carrier("ep")].concat(),
                "carrier name \"ep\" is taken by a warehouse",
            ),
            (
                [carrier("ep"), subscriber("ep")].concat(),
                "subscriber name \"ep\" is taken by a carrier",
            ),
        ] {
            let e = Config::from_toml(&text, "t", env(&[]))
                .unwrap_err()
                .to_string();
            assert!(e.contains(says), "{text}: {e}");
            assert!(e.contains("share connector health"), "{e}");
        }
    }

    #[test]
    fn duplicate_connector_names_are_rejected() {
        let one = "[[connectors]]\nname = \"d\"\nkind = \"folder\"\npath = \"/a\"\nformat = \"shopify\"\n";
        let e = Config::from_toml(&format!("{one}{one}"), "t", env(&[])).unwrap_err();
        assert!(e.to_string().contains("used twice"), "{e}");
    }
}
