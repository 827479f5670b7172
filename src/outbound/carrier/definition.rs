//! Carrier definitions: one TOML file per carrier system in `connectors/carriers/`, describing
//! it as data — its kind (the protocol Rust implements once), base URL, auth, rate-limit and
//! error-body shape, and whether it takes pickup requests. `connectors/README.md` ("Carriers")
//! documents every key.

use std::path::Path;

use serde::Deserialize;

use crate::partner::definition::{AuthScheme, DefinitionError, ErrorSpec, RateLimitPolicy};

/// The protocol of a carrier system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CarrierKind {
    /// EasyPost-shaped: `POST /shipments` (rates) → `POST /shipments/{id}/buy`; pickups.
    Easypost,
    /// Shippo-shaped: `POST /shipments` (rates) → `POST /transactions` (the label).
    Shippo,
    /// No API: own vehicle or a freight forwarder; a dispatch document is stored and the
    /// tracking is entered later (`POST /api/orders/{id}/shipments`).
    Dispatch,
}

impl CarrierKind {
    /// The kind's name as written in definitions.
    pub fn as_str(self) -> &'static str {
        match self {
            CarrierKind::Easypost => "easypost",
            CarrierKind::Shippo => "shippo",
            CarrierKind::Dispatch => "dispatch",
        }
    }
}

/// A carrier definition (`connectors/carriers/<name>.toml`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CarrierDefinition {
    /// The definition's name; must equal the file name without `.toml`.
    pub name: String,
    /// The protocol.
    pub kind: CarrierKind,
    /// What people call it.
    #[serde(default)]
    pub title: Option<String>,
    /// The API's base URL; the instance's `base_url` replaces it.
    #[serde(default)]
    pub base_url: String,
    /// How requests are authenticated.
    #[serde(default = "CarrierDefinition::no_auth")]
    pub auth: AuthScheme,
    /// How the partner limits request rates.
    #[serde(default)]
    pub rate_limit: RateLimitPolicy,
    /// Where the partner puts error codes and messages in a JSON error body.
    #[serde(default)]
    pub errors: ErrorSpec,
    /// Whether the API takes pickup requests (EasyPost `POST /pickups`).
    #[serde(default)]
    pub pickups: bool,
}

impl CarrierDefinition {
    fn no_auth() -> AuthScheme {
        AuthScheme::None
    }
}

/// Loads and checks `<dir>/<name>.toml`.
pub fn load(dir: &Path, name: &str) -> Result<CarrierDefinition, DefinitionError> {
    let path = dir.join(format!("{name}.toml"));
    let text = std::fs::read_to_string(&path).map_err(|e| DefinitionError::Read {
        path: path.clone(),
        message: e.to_string(),
    })?;
    let invalid = |message: String| DefinitionError::Invalid {
        path: path.clone(),
        message,
    };
    let def: CarrierDefinition = toml::from_str(&text).map_err(|e| invalid(e.to_string()))?;
    if def.name != name {
        return Err(invalid(format!(
            "name {:?} does not match the file name {name:?}",
            def.name
        )));
    }
    if def.kind != CarrierKind::Dispatch && def.base_url.is_empty() {
        return Err(invalid(format!(
            "kind {:?} needs base_url",
            def.kind.as_str()
        )));
    }
    Ok(def)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_carrier_definition_loads() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("connectors/carriers");
        for (name, kind) in [
            ("easypost", CarrierKind::Easypost),
            ("shippo", CarrierKind::Shippo),
            ("dispatch", CarrierKind::Dispatch),
        ] {
            let def = load(&dir, name).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(def.kind, kind, "{name}");
        }
        assert!(load(&dir, "easypost").unwrap().pickups);
        let e = load(&dir, "nope").unwrap_err();
        assert!(e.to_string().contains("nope.toml"), "{e}");
    }
}
