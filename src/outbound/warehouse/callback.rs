//! Warehouse callbacks (`POST /hooks/warehouse/<name>`): who may send them and what they are
//! answered. Each kind's signature is checked over the raw bytes, in constant time, before
//! anything reads them — Standard Webhooks for `rest` (ShipBob), the MD5 `sign` over query
//! and body for `qimen` (its `timestamp` within 10 minutes) — and the answer is in the partner's shape (Qimen wants
//! `<response><flag>success</flag><code>0</code>…`, ShipBob any 2xx).

use std::collections::HashMap;

use axum::http::HeaderMap;

use super::build::values;
use super::definition::{self, WarehouseKind};
pub use crate::b2b::cxml::escape as xml_escape;
use crate::config::WarehouseConfig;
use crate::partner::signature::{self, AuthError};

/// How callbacks of one warehouse are verified.
enum Verifier {
    /// Standard Webhooks with this key (the base64-decoded `whsec_` secret).
    StandardWebhooks { key: Vec<u8>, tolerance_secs: u64 },
    /// Qimen's MD5 sign with the app secret.
    Qimen { secret: String },
}

/// How far a Qimen request's `timestamp` may be from now: TOP allows 10 minutes.
const QIMEN_TOLERANCE_SECS: u64 = 600;

/// A signed Qimen request's `timestamp` (Beijing time, `yyyy-MM-dd HH:mm:ss`, covered by the
/// sign) within [`QIMEN_TOLERANCE_SECS`] of `now`: an old request replayed is refused.
fn qimen_fresh(pairs: &[(String, String)], now: i64) -> Result<(), AuthError> {
    let given = pairs
        .iter()
        .find(|(k, _)| k == "timestamp")
        .map(|(_, v)| v.trim())
        .ok_or_else(|| AuthError::Missing("timestamp".into()))?;
    let at = chrono::NaiveDateTime::parse_from_str(given, "%Y-%m-%d %H:%M:%S")
        .map_err(|_| AuthError::Malformed("timestamp".into()))?;
    let skew = now.saturating_sub(at.and_utc().timestamp() - 8 * 3600);
    if skew.unsigned_abs() > QIMEN_TOLERANCE_SECS {
        return Err(AuthError::Stale(skew));
    }
    Ok(())
}

/// One warehouse's callback endpoint.
pub struct CallbackEndpoint {
    /// The warehouse's name.
    pub name: String,
    /// Its kind (decides the verifier, the answer and the decoder).
    pub kind: WarehouseKind,
    /// Department owning refused callbacks.
    pub department: String,
    /// Larger bodies are refused before they are read whole.
    pub max_body_bytes: usize,
    verifier: Verifier,
}

impl std::fmt::Debug for CallbackEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackEndpoint")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// An answer to a callback.
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// Content type.
    pub content_type: &'static str,
    /// Body.
    pub body: String,
}

impl CallbackEndpoint {
    /// The endpoint of a configured warehouse; `None` for kinds without callbacks (pick
    /// lists come back as files).
    pub fn new(cfg: &WarehouseConfig) -> Result<Option<Self>, String> {
        let def = definition::load(&cfg.definitions, &cfg.definition).map_err(|e| e.to_string())?;
        let Some(secret_name) = def.callback.secret.as_deref() else {
            return Ok(None);
        };
        let values = values(cfg).map_err(|e| format!("warehouse {}: {e}", cfg.name))?;
        let secret = values.credentials.get(secret_name).ok_or_else(|| {
            format!(
                "warehouse {}: credentials.{secret_name} is needed to verify its callbacks",
                cfg.name
            )
        })?;
        let verifier = match def.kind {
            WarehouseKind::Rest => Verifier::StandardWebhooks {
                key: signature::standard_webhooks_key(secret).ok_or_else(|| {
                    format!(
                        "warehouse {}: credentials.{secret_name} is not a whsec_<base64> secret",
                        cfg.name
                    )
                })?,
                tolerance_secs: cfg.tolerance_secs,
            },
            WarehouseKind::Qimen => Verifier::Qimen {
                secret: secret.clone(),
            },
            WarehouseKind::PickList => return Ok(None),
        };
        Ok(Some(Self {
            name: cfg.name.clone(),
            kind: def.kind,
            department: cfg.department.clone(),
            max_body_bytes: cfg.max_callback_bytes,
            verifier,
        }))
    }

    /// Checks the signature over the raw request (never parsing the body first).
    pub fn verify(
        &self,
        query: Option<&str>,
        headers: &HeaderMap,
        body: &[u8],
        now: i64,
    ) -> Result<(), AuthError> {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| AuthError::Missing(name.to_string()))
        };
        match &self.verifier {
            Verifier::StandardWebhooks {
                key,
                tolerance_secs,
            } => signature::verify_standard_webhooks(
                key,
                header("webhook-id")?,
                header("webhook-timestamp")?,
                header("webhook-signature")?,
                body,
                now,
                *tolerance_secs,
            ),
            Verifier::Qimen { secret } => {
                let pairs: Vec<(String, String)> =
                    form_urlencoded::parse(query.unwrap_or("").as_bytes())
                        .into_owned()
                        .collect();
                signature::verify_qimen(
                    secret,
                    pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                    body,
                )?;
                qimen_fresh(&pairs, now)
            }
        }
    }

    /// The delivery's id, kept as the stored document's source name (`webhook-id`).
    pub fn delivery_id(&self, headers: &HeaderMap) -> Option<String> {
        headers
            .get("webhook-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }

    /// The answer to a callback stored (or already stored).
    pub fn accepted(&self) -> Answer {
        self.answer(200, true, "ok")
    }

    /// The answer to a refused callback, in the partner's shape.
    pub fn refused(&self, status: u16, message: &str) -> Answer {
        self.answer(status, false, message)
    }

    fn answer(&self, status: u16, ok: bool, message: &str) -> Answer {
        match self.kind {
            WarehouseKind::Qimen => Answer {
                status,
                content_type: "text/xml; charset=utf-8",
                body: qimen_response(ok, if ok { "0" } else { "failure" }, message, ""),
            },
            WarehouseKind::Rest | WarehouseKind::PickList => Answer {
                status,
                content_type: "application/json",
                body: if ok {
                    serde_json::json!({"accepted": true}).to_string()
                } else {
                    serde_json::json!({"error": message}).to_string()
                },
            },
        }
    }
}

/// A Qimen `<response>`: `flag` success/failure, `code`, `message`, and `extra` XML inside.
pub fn qimen_response(ok: bool, code: &str, message: &str, extra: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><response><flag>{}</flag><code>{}</code><message>{}</message>{extra}</response>",
        if ok { "success" } else { "failure" },
        xml_escape(code),
        xml_escape(message)
    )
}

/// The callback endpoints of every configured warehouse that has callbacks, by name.
pub fn endpoints(
    warehouses: &[WarehouseConfig],
) -> Result<HashMap<String, CallbackEndpoint>, String> {
    let mut out = HashMap::new();
    for w in warehouses.iter().filter(|w| w.enabled) {
        if let Some(ep) = CallbackEndpoint::new(w)? {
            out.insert(w.name.clone(), ep);
        }
    }
    Ok(out)
}
