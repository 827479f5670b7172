//! The one `match` on the warehouse kind: an instance's definition is loaded, its credentials
//! resolved, and the kind's implementation built over the partner client
//! ([`crate::partner::client::ApiClient`]).

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::definition::{self, WarehouseDefinition, WarehouseKind};
use super::{picklist, qimen, rest, Warehouse, Warehouses};
use crate::config::WarehouseConfig;
use crate::partner::auth::{Authenticator, Values};
use crate::partner::client::{ApiClient, RetryPolicy};
use crate::partner::definition::render;
use crate::partner::PartnerError;

/// What every HTTP warehouse kind needs: the client, the base URL, the rendered extra
/// headers, the resolved values and the shutdown token its waits end on.
pub struct Connection {
    /// The instance's name.
    pub name: String,
    /// Sends requests (auth, pacing, typed errors).
    pub client: ApiClient,
    /// The base URL (the instance's, or the definition's rendered).
    pub base_url: String,
    /// Extra headers on every request.
    pub headers: Vec<(String, String)>,
    /// Credentials and params.
    pub values: Values,
    /// Ends retry waits when the daemon stops.
    pub shutdown: CancellationToken,
}

impl Connection {
    /// A credential or param by name, or a typed error naming it.
    pub fn value(&self, name: &str) -> Result<&str, PartnerError> {
        self.values
            .credentials
            .get(name)
            .or_else(|| self.values.params.get(name))
            .map(String::as_str)
            .ok_or_else(|| PartnerError::Credential {
                name: name.to_string(),
                message: format!(
                    "warehouse {} has no credential or param of that name",
                    self.name
                ),
            })
    }

    /// The retry policy of the instance.
    pub fn retry(&self) -> RetryPolicy {
        self.client.retry_policy()
    }
}

/// The instance's credentials (resolved) and params.
pub fn values(cfg: &WarehouseConfig) -> Result<Values, PartnerError> {
    Values::resolve(&cfg.params, &cfg.credentials)
}

fn connection(
    cfg: &WarehouseConfig,
    def: &WarehouseDefinition,
    shutdown: &CancellationToken,
) -> Result<Connection, PartnerError> {
    let values = values(cfg)?;
    let lookup = |n: &str| {
        values
            .credentials
            .get(n)
            .or_else(|| values.params.get(n))
            .cloned()
    };
    let base_url = match &cfg.base_url {
        Some(u) => u.trim_end_matches('/').to_string(),
        None => render(&def.base_url, |n| cfg.params.get(n).cloned())?,
    };
    let headers = def
        .headers
        .iter()
        .map(|(h, v)| Ok((h.clone(), render(v, lookup)?)))
        .collect::<Result<Vec<_>, PartnerError>>()?;
    let auth = Authenticator::new(&cfg.name, &def.auth, &values, None)?;
    let client = ApiClient::new(
        &cfg.name,
        auth,
        def.errors.clone(),
        def.rate_limit.clone(),
        RetryPolicy {
            max_retries: cfg.max_retries,
            base: Duration::from_millis(cfg.retry_base_ms.max(1)),
            max: Duration::from_millis(cfg.retry_max_ms.max(1)),
        },
        Duration::from_millis(cfg.request_timeout_ms),
    )?;
    Ok(Connection {
        name: cfg.name.clone(),
        client,
        base_url,
        headers,
        values,
        shutdown: shutdown.clone(),
    })
}

/// Builds one warehouse from its instance config.
pub fn build(
    cfg: &WarehouseConfig,
    shutdown: &CancellationToken,
) -> Result<Arc<dyn Warehouse>, PartnerError> {
    let def = definition::load(&cfg.definitions, &cfg.definition)?;
    Ok(match def.kind {
        WarehouseKind::Rest => Arc::new(rest::RestWarehouse::new(
            connection(cfg, &def, shutdown)?,
            def.rest.clone(),
        )),
        WarehouseKind::Qimen => Arc::new(qimen::QimenWarehouse::new(
            connection(cfg, &def, shutdown)?,
            def.qimen.clone(),
            def.errors.retriable_codes.clone(),
        )?),
        WarehouseKind::PickList => Arc::new(picklist::PickListWarehouse::new(cfg)?),
    })
}

impl Warehouses {
    /// Every enabled warehouse of the configuration, built; the first that cannot be built
    /// fails the whole (the daemon does not start with a warehouse it cannot reach).
    pub fn from_config(
        warehouses: &[WarehouseConfig],
        shutdown: &CancellationToken,
    ) -> Result<Self, BuildError> {
        let mut out = Warehouses::default();
        for w in warehouses.iter().filter(|w| w.enabled) {
            let built = build(w, shutdown).map_err(|error| BuildError {
                warehouse: w.name.clone(),
                error,
            })?;
            out.insert(built);
        }
        Ok(out)
    }
}

/// A warehouse that could not be built.
#[derive(Debug, thiserror::Error)]
#[error("warehouse {warehouse}: {error}")]
pub struct BuildError {
    /// Its name.
    pub warehouse: String,
    /// Why.
    pub error: PartnerError,
}
