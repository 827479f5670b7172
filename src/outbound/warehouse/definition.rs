//! Warehouse definitions: one TOML file per warehouse system in `connectors/warehouses/`,
//! describing it as data — its kind (the protocol Rust implements once), base URL, auth,
//! extra headers, rate-limit and error-body shape, paths or method names, and how its
//! callbacks are signed. `connectors/README.md` ("Warehouses") documents every key.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::partner::definition::{AuthScheme, DefinitionError, ErrorSpec, RateLimitPolicy};

/// The protocol of a warehouse system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WarehouseKind {
    /// A REST/JSON 3PL shaped like ShipBob's Orders API.
    Rest,
    /// An RPC WMS shaped like the Qimen contract (signed query, XML bodies).
    Qimen,
    /// No API: a CSV pick list per order written to a folder, shipped confirmations read back.
    PickList,
}

impl WarehouseKind {
    /// The kind's name as written in definitions.
    pub fn as_str(self) -> &'static str {
        match self {
            WarehouseKind::Rest => "rest",
            WarehouseKind::Qimen => "qimen",
            WarehouseKind::PickList => "pick-list",
        }
    }
}

/// A warehouse definition (`connectors/warehouses/<name>.toml`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WarehouseDefinition {
    /// The definition's name; must equal the file name without `.toml`.
    pub name: String,
    /// The protocol.
    pub kind: WarehouseKind,
    /// What people call it.
    #[serde(default)]
    pub title: Option<String>,
    /// The API's base URL (`rest`, `qimen`); the instance's `base_url` replaces it.
    #[serde(default)]
    pub base_url: String,
    /// How requests are authenticated (`rest`); Qimen signs every request instead.
    #[serde(default = "WarehouseDefinition::no_auth")]
    pub auth: AuthScheme,
    /// Extra headers on every request, templates over the instance's credentials and params
    /// (`shipbob_channel_id = "{channel_id}"`).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// How the partner limits request rates.
    #[serde(default)]
    pub rate_limit: RateLimitPolicy,
    /// Where the partner puts error codes and messages in a JSON error body.
    #[serde(default)]
    pub errors: ErrorSpec,
    /// `rest`: the paths.
    #[serde(default)]
    pub rest: RestPaths,
    /// `qimen`: the router path and method names.
    #[serde(default)]
    pub qimen: QimenMethods,
    /// How the partner signs its callbacks.
    #[serde(default)]
    pub callback: CallbackSpec,
}

impl WarehouseDefinition {
    fn no_auth() -> AuthScheme {
        AuthScheme::None
    }
}

/// The paths of a ShipBob-shaped REST API, below the base URL.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RestPaths {
    /// Orders: `POST` creates, `GET ?ReferenceIds=` finds, `GET /{id}` reads,
    /// `POST /{id}/cancel` cancels.
    pub order: String,
    /// Inventory levels: `GET ?SearchBy=<sku>`.
    pub inventory: String,
}

impl Default for RestPaths {
    fn default() -> Self {
        Self {
            order: "/order".into(),
            inventory: "/inventory-level".into(),
        }
    }
}

/// The Qimen router and the method names it is called with.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QimenMethods {
    /// The router path below the base URL.
    pub path: String,
    /// The protocol version sent as `v`.
    pub version: String,
    /// Creates a delivery order.
    pub create: String,
    /// Reads delivery orders by `deliveryOrderCode` (the lookup before a retried create).
    pub query: String,
    /// Cancels an order.
    pub cancel: String,
    /// Reads stock.
    pub inventory: String,
}

impl Default for QimenMethods {
    fn default() -> Self {
        Self {
            path: "/router/qimen/service".into(),
            version: "2.0".into(),
            create: "taobao.qimen.deliveryorder.create".into(),
            query: "taobao.qimen.deliveryorder.query".into(),
            cancel: "taobao.qimen.order.cancel".into(),
            inventory: "taobao.qimen.inventory.query".into(),
        }
    }
}

/// How callbacks are verified.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallbackSpec {
    /// The name of the instance credential with the signing secret (`webhook_secret` for
    /// Standard Webhooks, `app_secret` for Qimen). Pick lists have no callbacks.
    #[serde(default)]
    pub secret: Option<String>,
}

/// Loads and checks `<dir>/<name>.toml`.
pub fn load(dir: &Path, name: &str) -> Result<WarehouseDefinition, DefinitionError> {
    let path = dir.join(format!("{name}.toml"));
    let text = std::fs::read_to_string(&path).map_err(|e| DefinitionError::Read {
        path: path.clone(),
        message: e.to_string(),
    })?;
    let invalid = |message: String| DefinitionError::Invalid {
        path: path.clone(),
        message,
    };
    let def: WarehouseDefinition = toml::from_str(&text).map_err(|e| invalid(e.to_string()))?;
    if def.name != name {
        return Err(invalid(format!(
            "name {:?} does not match the file name {name:?}",
            def.name
        )));
    }
    let api = matches!(def.kind, WarehouseKind::Rest | WarehouseKind::Qimen);
    if api && def.callback.secret.is_none() {
        return Err(invalid(format!(
            "kind {:?} needs callback.secret (callbacks are verified before they are read)",
            def.kind.as_str()
        )));
    }
    for (header, value) in &def.headers {
        crate::partner::definition::placeholders(value)
            .map_err(|m| invalid(format!("headers.{header}: {m}")))?;
    }
    Ok(def)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_warehouse_definition_loads() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("connectors/warehouses");
        for (name, kind) in [
            ("shipbob", WarehouseKind::Rest),
            ("qimen", WarehouseKind::Qimen),
            ("pick-list", WarehouseKind::PickList),
        ] {
            let def = load(&dir, name).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(def.kind, kind, "{name}");
        }
        let e = load(&dir, "nope").unwrap_err();
        assert!(e.to_string().contains("nope.toml"), "{e}");
    }
}
