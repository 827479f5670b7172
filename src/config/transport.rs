//! `[transport]` (transport rules, who owns transport exceptions, the delivery note) and
//! `[[carriers]]` (carrier instances, each of a definition in
//! `connectors/carriers/<definition>.toml` whose `kind` — `easypost`, `shippo`, `dispatch` —
//! picks the protocol). The types live here so the configuration imports nothing of
//! `outbound`; the rules are [`crate::rules::transport::TransportRule`]s.
//!
//! ```toml
//! [transport]
//! department = "logistics"
//!
//! [[transport.rules]]
//! name = "heavy-local-own-van"
//! countries = ["CN"]
//! min_weight_kg = "20"
//! mode = "own_vehicle"
//! carrier = "van"
//!
//! [[transport.rules]]
//! name = "everything-else"
//! mode = "express"
//! service = "Ground"
//! carrier = "easypost"
//!
//! [transport.delivery_note]
//! template = "templates/delivery-note.html"   # none: the built-in template
//! font = "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"
//!
//! [[carriers]]
//! name = "easypost"
//! definition = "easypost"
//! credentials = { api_key = "env:EASYPOST_API_KEY" }
//! pickup = true
//! from = { name = "Acme Warehouse", street1 = "1 Dock Rd", city = "Newark", postal_code = "07102", country = "US" }
//!
//! [[carriers]]
//! name = "van"
//! definition = "dispatch"
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::connectors::default_true;
use super::Secret;
use crate::rules::transport::{Mode, TransportRule};

/// `[transport]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransportConfig {
    /// The transport rules, tried in order; the first whose conditions hold decides mode,
    /// service and carrier. No rules: the ship stage books nothing (warehouses that do not
    /// book carriers leave their orders `packed`).
    #[serde(default)]
    pub rules: Vec<TransportRule>,
    /// Who owns transport exceptions (an address the carrier refuses, no rule, no rate).
    #[serde(default = "TransportConfig::default_department")]
    pub department: String,
    /// Hours until such an exception is due.
    #[serde(default = "TransportConfig::default_due_hours")]
    pub due_hours: u32,
    /// The weight of a product the catalog gives none for, in kilograms.
    #[serde(default = "TransportConfig::default_unit_weight_kg")]
    pub default_unit_weight_kg: Decimal,
    /// The delivery note (发货单) stored with every order when it ships.
    #[serde(default)]
    pub delivery_note: DeliveryNoteConfig,
}

impl TransportConfig {
    fn default_department() -> String {
        "logistics".into()
    }
    fn default_due_hours() -> u32 {
        8
    }
    fn default_unit_weight_kg() -> Decimal {
        Decimal::new(5, 1)
    }
}

impl Default for TransportConfig {
    fn default() -> Self {
        Self {
            rules: Vec::new(),
            department: Self::default_department(),
            due_hours: Self::default_due_hours(),
            default_unit_weight_kg: Self::default_unit_weight_kg(),
            delivery_note: DeliveryNoteConfig::default(),
        }
    }
}

/// `[transport.delivery_note]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryNoteConfig {
    /// Whether a delivery note is rendered and stored when an order ships.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// The HTML template (minijinja), a file the operator can edit; none: the built-in one
    /// (`templates/delivery-note.html` in the source tree). `ordergate check` compiles it.
    #[serde(default)]
    pub template: Option<PathBuf>,
    /// A TrueType/OpenType font (or collection) with Latin and CJK glyphs for the PDF; the
    /// default is WenQuanYi Zen Hei as Debian's `fonts-wqy-zenhei` installs it.
    #[serde(default = "DeliveryNoteConfig::default_font")]
    pub font: PathBuf,
    /// The face in a font collection (`.ttc`).
    #[serde(default)]
    pub font_index: usize,
    /// The sender printed on the note (company name).
    #[serde(default)]
    pub company: Option<String>,
}

impl DeliveryNoteConfig {
    fn default_font() -> PathBuf {
        PathBuf::from("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")
    }
}

impl Default for DeliveryNoteConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            template: None,
            font: Self::default_font(),
            font_index: 0,
            company: None,
        }
    }
}

/// The address parcels are picked up from (a carrier instance's `from`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FromAddress {
    pub name: String,
    #[serde(default)]
    pub company: Option<String>,
    pub street1: String,
    #[serde(default)]
    pub street2: Option<String>,
    pub city: String,
    #[serde(default)]
    pub state: Option<String>,
    pub postal_code: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
}

/// One carrier instance (`[[carriers]]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CarrierConfig {
    /// Unique name: transport rules name it; part of the label key.
    pub name: String,
    /// The definition: `<definitions>/<definition>.toml` (`easypost`, `shippo`, `dispatch`).
    pub definition: String,
    /// Directory of carrier definitions; relative paths are taken from the config file's
    /// directory.
    #[serde(default = "CarrierConfig::default_definitions")]
    pub definitions: PathBuf,
    /// Replaces the definition's `base_url` (a sandbox).
    #[serde(default)]
    pub base_url: Option<String>,
    /// Credentials the definition names (`api_key`), each a secret reference.
    #[serde(default)]
    pub credentials: BTreeMap<String, Secret>,
    /// Non-secret values the definition uses (`carrier_account`).
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    /// Where parcels are picked up (the sender on the label).
    #[serde(default)]
    pub from: FromAddress,
    /// Whether a pickup is requested after the label is bought (kinds that have pickups).
    #[serde(default)]
    pub pickup: bool,
    /// The pickup window starts this many hours after the label is bought …
    #[serde(default = "CarrierConfig::default_pickup_after_hours")]
    pub pickup_after_hours: u32,
    /// … and lasts this many hours.
    #[serde(default = "CarrierConfig::default_pickup_window_hours")]
    pub pickup_window_hours: u32,
    /// Heaviest parcel this carrier takes (kg): an order packed as one parcel that weighs more
    /// is split into parcels of at most this weight, one label each (a warehouse that says how
    /// it packed — a pick-list confirmation's `parcel` column — decides instead). None: no
    /// split.
    #[serde(default)]
    pub max_parcel_kg: Option<Decimal>,
    /// Parcel dimensions in centimetres (length, width, height) sent for rating.
    #[serde(default = "CarrierConfig::default_parcel_cm")]
    pub parcel_cm: [Decimal; 3],
    /// Timeout of one HTTP request.
    #[serde(default = "CarrierConfig::default_request_timeout_ms")]
    pub request_timeout_ms: u64,
    /// Retries of one call on a retriable failure (429, 5xx, timeouts) before the stage gets
    /// the error; a purchase whose answer was lost is looked up before it is sent again.
    #[serde(default = "CarrierConfig::default_max_retries")]
    pub max_retries: u32,
    /// First retry delay; doubles each retry (with jitter). A carrier's `Retry-After` wins
    /// when longer.
    #[serde(default = "CarrierConfig::default_retry_base_ms")]
    pub retry_base_ms: u64,
    /// Longest retry delay (also caps `Retry-After`).
    #[serde(default = "CarrierConfig::default_retry_max_ms")]
    pub retry_max_ms: u64,
}

impl CarrierConfig {
    fn default_definitions() -> PathBuf {
        PathBuf::from("connectors/carriers")
    }
    fn default_pickup_after_hours() -> u32 {
        2
    }
    fn default_pickup_window_hours() -> u32 {
        6
    }
    fn default_parcel_cm() -> [Decimal; 3] {
        [Decimal::from(30), Decimal::from(20), Decimal::from(15)]
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

    /// Makes relative paths relative to `dir`, `file:` credential references included.
    pub fn anchor_paths(&mut self, dir: &Path) {
        if self.definitions.is_relative() {
            self.definitions = dir.join(&self.definitions);
        }
        for secret in self.credentials.values_mut() {
            if let Some(path) = secret.0.strip_prefix("file:") {
                if Path::new(path).is_relative() {
                    secret.0 = format!("file:{}", dir.join(path).display());
                }
            }
        }
    }

    /// Checks what serde cannot.
    pub fn validate(&self) -> Result<(), String> {
        let plain = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        let name = &self.name;
        if !plain(name) || !plain(&self.definition) {
            return Err(format!(
                "carrier {name:?}: name and definition must be non-empty ASCII letters, digits, '-' or '_'"
            ));
        }
        for (key, secret) in &self.credentials {
            if !secret.is_reference() {
                return Err(format!(
                    "carrier {name}: credentials.{key} must be a reference (env:NAME or file:PATH), never a literal"
                ));
            }
        }
        if self.request_timeout_ms == 0 {
            return Err(format!("carrier {name}: request_timeout_ms must be > 0"));
        }
        if self.parcel_cm.iter().any(|d| *d <= Decimal::ZERO) {
            return Err(format!(
                "carrier {name}: parcel_cm must be three lengths > 0"
            ));
        }
        Ok(())
    }
}

impl TransportConfig {
    /// Makes the template path relative to `dir`.
    pub fn anchor_paths(&mut self, dir: &Path) {
        if let Some(t) = self
            .delivery_note
            .template
            .as_mut()
            .filter(|t| t.is_relative())
        {
            *t = dir.join(&*t);
        }
        if self.delivery_note.font.is_relative() {
            self.delivery_note.font = dir.join(&self.delivery_note.font);
        }
    }

    /// Checks the rules against the carriers (each names a configured one; rule names are
    /// unique) and the carriers themselves. Whether a carrier's kind fits its mode is checked
    /// with the definitions (`ordergate check`).
    pub fn validate(&self, carriers: &[CarrierConfig]) -> Result<(), String> {
        let mut seen = std::collections::HashSet::new();
        for c in carriers {
            c.validate()?;
            if !seen.insert(c.name.as_str()) {
                return Err(format!("carrier name {:?} is used twice", c.name));
            }
        }
        let mut rules = std::collections::HashSet::new();
        for r in &self.rules {
            if !rules.insert(r.name.as_str()) {
                return Err(format!("transport rule name {:?} is used twice", r.name));
            }
            if !seen.contains(r.carrier.as_str()) {
                return Err(format!(
                    "transport rule {}: carrier {:?} is not in [[carriers]]",
                    r.name, r.carrier
                ));
            }
            if r.mode != Mode::Express && r.service.is_some() {
                return Err(format!(
                    "transport rule {}: a service is for mode express, not {}",
                    r.name,
                    r.mode.as_str()
                ));
            }
        }
        if self.department.trim().is_empty() {
            return Err("transport.department must not be empty".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::Config;

    #[test]
    fn rules_name_configured_carriers() {
        let ok = "[[carriers]]\nname = \"ep\"\ndefinition = \"easypost\"\ncredentials = { api_key = \"env:K\" }\n\n[[transport.rules]]\nname = \"all\"\nmode = \"express\"\ncarrier = \"ep\"\n";
        let c = Config::from_toml(ok, "t", Vec::new()).unwrap();
        assert_eq!(c.transport.rules.len(), 1);
        assert_eq!(c.carriers[0].max_retries, 3);
        let e = Config::from_toml(
            &ok.replace("carrier = \"ep\"", "carrier = \"nope\""),
            "t",
            Vec::new(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("not in [[carriers]]"), "{e}");
        let e = Config::from_toml(&ok.replace("env:K", "sk_live"), "t", Vec::new()).unwrap_err();
        assert!(e.to_string().contains("must be a reference"), "{e}");
        assert!(!e.to_string().contains("sk_live"));
        let e = Config::from_toml(
            &ok.replace(
                "mode = \"express\"",
                "mode = \"own_vehicle\"\nservice = \"x\"",
            ),
            "t",
            Vec::new(),
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("a service is for mode express"),
            "{e}"
        );
    }
}
