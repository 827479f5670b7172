//! Carrier tracking callbacks, the pure half: verify a callback's signature over the raw bytes
//! ([`verify`]), decode its body ([`decode()`]), map it with `mappings/<format>.tracking.jq` into
//! canonical [`TrackingUpdate`]s ([`normalize()`]), and answer the partner as it expects
//! ([`ack`]); [`sign`] signs as each partner does, for simulators. The HTTP route and the
//! tracking stage call these; nothing here does I/O besides [`normalize_files`] for
//! `ordergate normalize`.
//!
//! Where each scheme's wire facts come from (public documentation, read for this module):
//! * EasyPost — support article "Webhook HMAC Validation"
//!   (support.easypost.com/hc/en-us/articles/39826034964237): headers `x-timestamp` (RFC 2822),
//!   `x-path`, `x-hmac-signature-v2`, with a timestamp tolerance window; the construction
//!   (timestamp + method + path + body, `hmac-sha256-hex=` prefix) as EasyPost's client
//!   libraries' `validate_webhook` compute it. Legacy `X-Hmac-Signature`: HMAC of the body
//!   (docs.easypost.com/docs/webhooks). Any 2xx acknowledges.
//! * Shippo — docs.goshippo.com/docs/tracking/webhooksecurity: IP allowlist, URL token, or HMAC
//!   (opt-in through Shippo); the HMAC header `Shippo-Auth-Signature: t=…,v1=…` over
//!   `<t>.<body>` as public integrations implement it (the page's HMAC section is not in the
//!   stored copy).
//! * AfterShip — aftership.com/docs/tracking/webhook/webhook-signature: `aftership-hmac-sha256`,
//!   base64 HMAC-SHA256 of the body with the webhook secret; 2xx expected.
//! * 17TRACK — api.17track.net v2.2 docs: header `sign` = SHA-256 of `<body>/<security key>`
//!   (as public integrations describe the documented check); 200 expected.
//! * Kuaidi100 — api.kuaidi100.com/document (推送接口): form `param` + `sign`,
//!   `sign = MD5(param + salt)` in upper-case hex; reply `{"result":true,"returnCode":"200",
//!   "message":"成功"}` or it pushes again.
//! * SF Express — 丰桥 RoutePushService (mirror: showdoc.com.cn/hnqiao/9157102515696868): JSON
//!   push answered `{"return_code":"0000",…}`, or form push (`content` = URL-encoded XML)
//!   answered `<Response service="RoutePushService"><Head>OK</Head></Response>`; no signature is
//!   documented for the push, so the configured URL carries a secret `token`.

pub mod ack;
pub mod carrier;
pub mod decode;
pub mod error;
mod form;
pub mod lattice;
pub mod scheme;
pub mod sign;
pub mod verify;

pub use decode::decode;
pub use error::{DecodeError, TrackingError, VerifyError};
pub use scheme::Scheme;
pub use verify::{Callback, Verifier};

use std::io::Write;
use std::path::PathBuf;

use crate::mapping::MappingSet;
use crate::model::TrackingUpdate;

/// Decodes a (verified) callback body of `scheme`, runs its tracking mapping and reads each
/// output as a [`TrackingUpdate`] (which canonicalizes times to UTC and refuses anything else).
/// One callback may give several updates (one per parcel).
pub fn normalize(
    mappings: &MappingSet,
    scheme: Scheme,
    body: &[u8],
) -> Result<Vec<TrackingUpdate>, TrackingError> {
    let input = decode(scheme, body)?;
    let mapping = scheme.mapping();
    let outputs = mappings.run(&mapping, &input)?;
    outputs
        .into_iter()
        .enumerate()
        .map(|(index, output)| {
            serde_path_to_error::deserialize(output).map_err(|e| TrackingError::InvalidOutput {
                mapping: mapping.clone(),
                index,
                path: e.path().to_string(),
                message: e.inner().to_string(),
            })
        })
        .collect()
}

/// Decodes a callback body of the scheme named `format` (as `ordergate normalize` and the
/// mapping tests read files; see [`Scheme::for_format`]).
pub fn decode_format(format: &str, body: &[u8]) -> Result<serde_json::Value, String> {
    let scheme = Scheme::for_format(format, body)
        .ok_or_else(|| format!("{format:?} is not a tracking scheme"))?;
    decode(scheme, body).map_err(|e| e.to_string())
}

/// `ordergate normalize --format <scheme> FILE…`: each file is one callback body as received
/// (a form body is read as the callback would be); prints each update as a JSON line on `out`
/// and each failure, naming the file and the reason, on `err`. Returns whether every file
/// normalized.
pub fn normalize_files(
    mappings: &MappingSet,
    format: &str,
    files: &[PathBuf],
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> std::io::Result<bool> {
    let mut all_ok = true;
    for file in files {
        let result = std::fs::read(file)
            .map_err(|e| e.to_string())
            .and_then(|body| {
                let scheme = Scheme::for_format(format, &body)
                    .ok_or_else(|| format!("{format:?} is not a tracking scheme"))?;
                normalize(mappings, scheme, &body).map_err(|e| e.to_string())
            });
        match result {
            Ok(updates) => {
                for update in updates {
                    let line = serde_json::to_string(&update).map_err(std::io::Error::other)?;
                    writeln!(out, "{line}")?;
                }
            }
            Err(reason) => {
                writeln!(err, "ordergate: {}: {reason}", file.display())?;
                all_ok = false;
            }
        }
    }
    Ok(all_ok)
}
