//! The one `match` on the carrier kind: an instance's definition is loaded, its credentials
//! resolved, and the kind's implementation built over the partner client.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::definition::{self, CarrierKind};
use super::{easypost, shippo, Carrier};
use crate::config::CarrierConfig;
use crate::partner::auth::{Authenticator, Values};
use crate::partner::client::{ApiClient, RetryPolicy};
use crate::partner::definition::render;
use crate::partner::PartnerError;

/// Largest label file fetched.
pub const MAX_LABEL_BYTES: usize = 4 * 1024 * 1024;

/// What every carrier kind with an API needs.
pub struct Connection {
    /// The instance's name.
    pub name: String,
    /// Sends requests (auth, pacing, typed errors).
    pub client: ApiClient,
    /// Fetches label files: without the API's credentials, which must not go to the storage
    /// host a label URL points at.
    pub files: reqwest::Client,
    /// The base URL (the instance's, or the definition's rendered).
    pub base_url: String,
    /// Credentials and params.
    pub values: Values,
    /// Whether the API takes pickup requests.
    pub pickups: bool,
    /// Ends retry waits when the daemon stops.
    pub shutdown: CancellationToken,
}

impl Connection {
    /// `base_url` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// An answer that is not what the kind expects.
    pub fn decode_error(&self, message: String) -> PartnerError {
        PartnerError::Decode {
            platform: self.name.clone(),
            message,
        }
    }

    /// One JSON call (retried by the client as [`ApiClient::request`] says).
    pub async fn send(
        &self,
        endpoint: &str,
        method: reqwest::Method,
        url: &str,
        query: &[(String, String)],
        body: Option<&serde_json::Value>,
        idempotent: bool,
    ) -> Result<serde_json::Value, PartnerError> {
        let call = crate::partner::client::Call {
            method,
            url,
            query,
            headers: &[],
            body: body.map(|b| ("application/json", b.to_string().into_bytes())),
            idempotent,
        };
        self.client
            .request(endpoint, &call, &self.shutdown, |raw| {
                serde_json::from_slice(&raw.bytes)
                    .map_err(|e| self.decode_error(format!("body is not JSON: {e}")))
            })
            .await
    }

    /// The label's file, fetched from its URL (none: the label has no URL).
    pub async fn label_file(
        &self,
        label: &super::Label,
    ) -> Result<Option<(String, Vec<u8>)>, PartnerError> {
        match &label.label_url {
            Some(url) => self.fetch_file(url).await.map(Some),
            None => Ok(None),
        }
    }

    /// Fetches a label file (bounded).
    pub async fn fetch_file(&self, url: &str) -> Result<(String, Vec<u8>), PartnerError> {
        let transport = |message: String| PartnerError::Transport {
            platform: self.name.clone(),
            message,
        };
        let resp = self
            .files
            .get(url)
            .send()
            .await
            .map_err(|e| transport(crate::partner::auth::without_url(&e)))?;
        let status = resp.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(PartnerError::Partner {
                platform: self.name.clone(),
                status,
                code: None,
                message: "label file not served".into(),
                retry_after: None,
                retriable_code: false,
            });
        }
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/pdf")
            .to_string();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| transport(crate::partner::auth::without_url(&e)))?;
        if bytes.len() > MAX_LABEL_BYTES {
            return Err(PartnerError::Decode {
                platform: self.name.clone(),
                message: format!("label file larger than {MAX_LABEL_BYTES} bytes"),
            });
        }
        Ok((content_type, bytes.to_vec()))
    }
}

/// How a carrier instance books.
#[derive(Clone)]
pub enum Booking {
    /// Through its API.
    Api(Arc<dyn Carrier>),
    /// No API: a dispatch document, tracking entered later.
    Dispatch,
}

fn connection(
    cfg: &CarrierConfig,
    def: &definition::CarrierDefinition,
    shutdown: &CancellationToken,
) -> Result<Connection, PartnerError> {
    let values = Values::resolve(&cfg.params, &cfg.credentials)?;
    let base_url = match &cfg.base_url {
        Some(u) => u.trim_end_matches('/').to_string(),
        None => render(&def.base_url, |n| cfg.params.get(n).cloned())?,
    };
    let auth = Authenticator::new(&cfg.name, &def.auth, &values, None)?;
    let timeout = Duration::from_millis(cfg.request_timeout_ms);
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
        timeout,
    )?;
    let files = reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| PartnerError::Transport {
            platform: cfg.name.clone(),
            message: e.to_string(),
        })?;
    Ok(Connection {
        name: cfg.name.clone(),
        client,
        files,
        base_url,
        values,
        pickups: def.pickups,
        shutdown: shutdown.clone(),
    })
}

/// Builds one carrier from its instance config; also answers its kind.
pub fn build(
    cfg: &CarrierConfig,
    shutdown: &CancellationToken,
) -> Result<(CarrierKind, Booking), PartnerError> {
    let def = definition::load(&cfg.definitions, &cfg.definition)?;
    let booking = match def.kind {
        CarrierKind::Easypost => Booking::Api(Arc::new(easypost::EasyPost::new(connection(
            cfg, &def, shutdown,
        )?))),
        CarrierKind::Shippo => {
            if cfg.pickup && def.pickups && !cfg.params.contains_key("carrier_account") {
                return Err(PartnerError::Credential {
                    name: "params.carrier_account".into(),
                    message: format!(
                        "carrier {} has pickup = true, which needs the Shippo object id of the USPS or DHL Express account that picks up",
                        cfg.name
                    ),
                });
            }
            Booking::Api(Arc::new(shippo::Shippo::new(connection(
                cfg, &def, shutdown,
            )?)))
        }
        CarrierKind::Dispatch => Booking::Dispatch,
    };
    Ok((def.kind, booking))
}

/// The configured carriers by name, each built or with the reason it could not be (the ship
/// stage raises that reason as an exception when a rule picks it; `ordergate check` reports it
/// before the daemon starts).
#[derive(Clone, Default)]
pub struct Carriers {
    by_name: BTreeMap<String, Result<(CarrierKind, Booking), String>>,
}

impl Carriers {
    /// Every carrier of the configuration.
    pub fn from_config(carriers: &[CarrierConfig], shutdown: &CancellationToken) -> Self {
        let by_name = carriers
            .iter()
            .map(|c| {
                (
                    c.name.clone(),
                    build(c, shutdown).map_err(|e| format!("carrier {}: {e}", c.name)),
                )
            })
            .collect();
        Self { by_name }
    }

    /// The carrier named `name`: `None` when not configured, `Some(Err)` when it could not be
    /// built.
    pub fn get(&self, name: &str) -> Option<Result<&(CarrierKind, Booking), &String>> {
        self.by_name.get(name).map(Result::as_ref)
    }
}
