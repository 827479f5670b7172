//! The warehouses of `ordergate.toml` (`[[warehouses]]`): each is an instance of a definition
//! in `connectors/warehouses/<definition>.toml`, whose `kind` (`rest`, `qimen`, `pick-list`)
//! picks the protocol. The types live here so the configuration imports nothing of
//! `outbound`.
//!
//! ```toml
//! [[warehouses]]
//! name = "east"                      # unique; callbacks arrive at /hooks/warehouse/east
//! definition = "shipbob"             # connectors/warehouses/shipbob.toml (kind = "rest")
//! base_url = "http://127.0.0.1:7301" # replaces the definition's (a sandbox)
//! department = "logistics"
//! credentials = { access_token = "env:EAST_TOKEN", webhook_secret = "env:EAST_WHSEC" }
//! params = { channel_id = "1" }
//!
//! [[warehouses]]
//! name = "local"
//! definition = "pick-list"
//! folder = "/srv/warehouse/pick-lists"        # pick lists written here
//! confirmations = "/srv/warehouse/shipped"    # shipped confirmations read from here
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::connectors::{default_department, default_true};
use super::Secret;

/// One warehouse instance.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WarehouseConfig {
    /// Unique name: the routing rules name it, callbacks arrive at
    /// `POST /hooks/warehouse/<name>`, and it is part of the fulfilment key.
    pub name: String,
    /// Whether orders are sent to it (a disabled warehouse is still checked).
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// The definition: `<definitions>/<definition>.toml` (`shipbob`, `qimen`, `pick-list`).
    pub definition: String,
    /// Directory of warehouse definitions; relative paths are taken from the config file's
    /// directory.
    #[serde(default = "WarehouseConfig::default_definitions")]
    pub definitions: PathBuf,
    /// Replaces the definition's `base_url` (a sandbox, a regional endpoint, a WMS's own host).
    #[serde(default)]
    pub base_url: Option<String>,
    /// Credentials the definition names (`access_token`, `webhook_secret`, `app_secret`), each
    /// a secret reference (`env:NAME` or `file:PATH`), never a literal.
    #[serde(default)]
    pub credentials: BTreeMap<String, Secret>,
    /// Non-secret values the definition uses (`channel_id`, `app_key`, `customer_id`,
    /// `warehouse_code`, `owner_code`).
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    /// Department that owns exceptions about this warehouse (refusals, refused callbacks,
    /// handover discrepancies, goods it still owes when every parcel is delivered).
    #[serde(default = "default_department")]
    pub department: String,
    /// Timeout of one HTTP request.
    #[serde(default = "WarehouseConfig::default_request_timeout_ms")]
    pub request_timeout_ms: u64,
    /// Retries of one call on a retriable failure before the stage gets the error (a create
    /// whose answer was lost is looked up before it is sent again).
    #[serde(default = "WarehouseConfig::default_max_retries")]
    pub max_retries: u32,
    /// First retry delay; doubles each retry (with jitter) up to `retry_max_ms`. A partner's
    /// retry hint wins when longer.
    #[serde(default = "WarehouseConfig::default_retry_base_ms")]
    pub retry_base_ms: u64,
    /// Longest retry delay (also caps a partner's retry hint).
    #[serde(default = "WarehouseConfig::default_retry_max_ms")]
    pub retry_max_ms: u64,
    /// Larger callbacks are refused (413) before they are read whole.
    #[serde(default = "WarehouseConfig::default_max_callback_bytes")]
    pub max_callback_bytes: usize,
    /// How far a signed callback timestamp (Standard Webhooks) may be from now.
    #[serde(default = "WarehouseConfig::default_tolerance_secs")]
    pub tolerance_secs: u64,
    /// `pick-list`: the folder pick lists are written to (one CSV per fulfilment order).
    #[serde(default)]
    pub folder: Option<PathBuf>,
    /// `pick-list`: the folder the warehouse drops shipped confirmations (CSV) into; each is
    /// stored and moved to `done/` (or `failed/`) inside it.
    #[serde(default)]
    pub confirmations: Option<PathBuf>,
    /// `pick-list`: a CSV `sku,quantity` with the warehouse's stock; none: stock is
    /// `unlimited_stock` for every SKU.
    #[serde(default)]
    pub stock_file: Option<PathBuf>,
    /// `pick-list` without a stock file: the quantity reported for any SKU.
    #[serde(default = "WarehouseConfig::default_unlimited_stock")]
    pub unlimited_stock: u32,
    /// `pick-list`: how often the confirmations folder is scanned.
    #[serde(default = "WarehouseConfig::default_poll_interval_ms")]
    pub poll_interval_ms: u64,
    /// Whether the warehouse books the carrier itself (its shipped callback carries the
    /// tracking numbers). `false`: ordergate books one when the warehouse reports the order
    /// packed (the ship stage, `[transport]` rules and `[[carriers]]`).
    #[serde(default = "default_true")]
    pub books_carrier: bool,
}

impl WarehouseConfig {
    fn default_definitions() -> PathBuf {
        PathBuf::from("connectors/warehouses")
    }
    fn default_request_timeout_ms() -> u64 {
        15_000
    }
    fn default_max_retries() -> u32 {
        3
    }
    fn default_retry_base_ms() -> u64 {
        500
    }
    fn default_retry_max_ms() -> u64 {
        30_000
    }
    fn default_max_callback_bytes() -> usize {
        1024 * 1024
    }
    fn default_tolerance_secs() -> u64 {
        300
    }
    fn default_unlimited_stock() -> u32 {
        1_000_000
    }
    fn default_poll_interval_ms() -> u64 {
        5_000
    }

    /// Makes relative paths relative to `dir` (the config file's directory), `file:`
    /// credential references included.
    pub fn anchor_paths(&mut self, dir: &Path) {
        for p in [
            Some(&mut self.definitions),
            self.folder.as_mut(),
            self.confirmations.as_mut(),
            self.stock_file.as_mut(),
        ]
        .into_iter()
        .flatten()
        {
            if p.is_relative() {
                *p = dir.join(&*p);
            }
        }
        for secret in self.credentials.values_mut() {
            if let Some(path) = secret.0.strip_prefix("file:") {
                if Path::new(path).is_relative() {
                    secret.0 = format!("file:{}", dir.join(path).display());
                }
            }
        }
    }

    /// Checks what serde cannot: the name, credentials are references, numbers are sensible.
    pub fn validate(&self) -> Result<(), String> {
        let name = &self.name;
        let plain = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        if !plain(name) {
            return Err(format!(
                "warehouse name {name:?} must be non-empty ASCII letters, digits, '-' or '_'"
            ));
        }
        if !plain(&self.definition) {
            return Err(format!(
                "warehouse {name}: definition {:?} must be ASCII letters, digits, '-' or '_'",
                self.definition
            ));
        }
        for (key, secret) in &self.credentials {
            if !secret.is_reference() {
                return Err(format!(
                    "warehouse {name}: credentials.{key} must be a reference (env:NAME or file:PATH), never a literal"
                ));
            }
        }
        if self.request_timeout_ms == 0 || self.poll_interval_ms == 0 {
            return Err(format!(
                "warehouse {name}: request_timeout_ms and poll_interval_ms must be > 0"
            ));
        }
        if self.max_callback_bytes == 0 {
            return Err(format!("warehouse {name}: max_callback_bytes must be > 0"));
        }
        Ok(())
    }
}

/// Checks every warehouse and that no name is used twice.
pub fn validate_all(warehouses: &[WarehouseConfig]) -> Result<(), String> {
    let mut seen = std::collections::HashSet::new();
    for w in warehouses {
        w.validate()?;
        if !seen.insert(w.name.as_str()) {
            return Err(format!("warehouse name {:?} is used twice", w.name));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::Config;

    #[test]
    fn warehouses_parse_and_are_checked() {
        let one = "[[warehouses]]\nname = \"east\"\ndefinition = \"shipbob\"\ncredentials = { access_token = \"env:T\" }\n";
        let c = Config::from_toml(one, "t", Vec::new()).unwrap();
        assert_eq!(c.warehouses[0].name, "east");
        assert_eq!(c.warehouses[0].max_retries, 3);
        let e = Config::from_toml(&format!("{one}{one}"), "t", Vec::new()).unwrap_err();
        assert!(e.to_string().contains("used twice"), "{e}");
        let literal = one.replace("env:T", "hunter2");
        let e = Config::from_toml(&literal, "t", Vec::new()).unwrap_err();
        assert!(
            e.to_string()
                .contains("credentials.access_token must be a reference"),
            "{e}"
        );
        assert!(!e.to_string().contains("hunter2"));
        let e = Config::from_toml(
            "[[warehouses]]\nname = \"a b\"\ndefinition = \"x\"\n",
            "t",
            Vec::new(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("warehouse name"), "{e}");
        let e = Config::from_toml(
            "[[warehouses]]\nname = \"a\"\ndefinition = \"x\"\nfolderr = \"/x\"\n",
            "t",
            Vec::new(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("folderr"), "{e}");
    }
}
