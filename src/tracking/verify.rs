//! Signature checks of tracking callbacks, over the raw bytes as received, before anything
//! parses the body as JSON or XML. Comparisons are constant time (`hmac`'s `verify_slice`,
//! `subtle`); header values are bounded before they are read.
//!
//! Per scheme (sources in the module doc of [`super`]):
//! * **easypost** — `x-hmac-signature-v2: hmac-sha256-hex=<hex>` of HMAC-SHA256(secret,
//!   `x-timestamp` + method + `x-path` + body), `x-timestamp` in RFC 2822 within the window.
//!   The legacy `x-hmac-signature` (HMAC of the body alone, no timestamp) is accepted only when
//!   the verifier allows unstamped signatures.
//! * **shippo** — `shippo-auth-signature: t=<unix>,v1=<hex>` of HMAC-SHA256(secret,
//!   `<t>.<body>`), `t` within the window.
//! * **aftership** — `aftership-hmac-sha256`: base64 HMAC-SHA256(secret, body).
//! * **17track** — `sign`: hex SHA-256 of `<body>/<security key>` (a plain hash, not an HMAC).
//! * **kuaidi100** — form field `sign`: upper-case hex MD5 of `<param><salt>`, `param` being the
//!   form field's decoded value.
//! * **sf-express**, **sf-express-form** — SF Express documents no signature on its route push;
//!   the push URL configured in SF's console carries a secret `token` query parameter, compared
//!   in constant time.

use base64::Engine;

use crate::partner::signature::Timestamped;
use hmac::{Hmac, Mac};
use md5::Md5;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::VerifyError;
use super::Scheme;
use crate::config::ConfigError;

/// Largest callback body accepted, in bytes (the biggest genuine push, a Kuaidi100 history of
/// a long-travelled parcel, is tens of kilobytes).
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// Longest value of a signature, timestamp or path header accepted, in bytes.
pub const MAX_HEADER_BYTES: usize = 512;

/// Default window either side of now for signed timestamps.
pub const DEFAULT_TOLERANCE_SECS: u64 = 300;

/// A callback as received: what the signature covers.
#[derive(Debug, Clone, Copy)]
pub struct Callback<'a> {
    /// The HTTP method (`POST`); EasyPost signs it.
    pub method: &'a str,
    /// The raw query string without `?`, if any; SF Express's URL token is read from it.
    pub query: Option<&'a str>,
    /// The request headers.
    pub headers: &'a axum::http::HeaderMap,
    /// The body, byte for byte.
    pub body: &'a [u8],
}

/// Checks callbacks of one scheme with one connector's secret.
#[derive(Clone)]
pub struct Verifier {
    /// Whose callbacks these are.
    scheme: Scheme,
    /// The shared secret: webhook secret, security key, salt or URL token.
    secret: Vec<u8>,
    /// Window either side of now for signed timestamps.
    tolerance_secs: u64,
    /// Whether EasyPost's legacy, timestamp-less signature is accepted.
    allow_unstamped: bool,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("scheme", &self.scheme)
            .field("tolerance_secs", &self.tolerance_secs)
            .field("allow_unstamped", &self.allow_unstamped)
            .finish_non_exhaustive()
    }
}

type HmacSha256 = Hmac<Sha256>;

impl Verifier {
    /// A verifier with the default timestamp window. An empty secret is refused. EasyPost
    /// normalises the webhook secret to Unicode NFKD before keying; ASCII is unchanged by that,
    /// so a non-ASCII EasyPost secret is refused rather than keyed differently from EasyPost.
    pub fn new(scheme: Scheme, secret: &str) -> Result<Self, ConfigError> {
        if secret.is_empty() {
            return Err(ConfigError::Invalid(format!(
                "tracking scheme {scheme}: the secret is empty"
            )));
        }
        if scheme == Scheme::EasyPost && !secret.is_ascii() {
            return Err(ConfigError::Invalid(
                "tracking scheme easypost: the webhook secret must be ASCII".into(),
            ));
        }
        Ok(Self {
            scheme,
            secret: secret.as_bytes().to_vec(),
            tolerance_secs: DEFAULT_TOLERANCE_SECS,
            allow_unstamped: false,
        })
    }

    /// The same verifier with another timestamp window.
    pub fn with_tolerance(mut self, tolerance_secs: u64) -> Self {
        self.tolerance_secs = tolerance_secs;
        self
    }

    /// The same verifier accepting (or not) EasyPost's legacy `x-hmac-signature`, which signs
    /// the body alone, so a captured request can be replayed at any time (as a duplicate).
    pub fn allow_unstamped(mut self, allow: bool) -> Self {
        self.allow_unstamped = allow;
        self
    }

    /// The scheme this verifier checks.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// Checks `callback` as its scheme signs it; `now_unix` is the current time in seconds.
    pub fn verify(&self, callback: &Callback<'_>, now_unix: i64) -> Result<(), VerifyError> {
        if callback.body.len() > MAX_BODY_BYTES {
            return Err(VerifyError::BodyTooLarge {
                size: callback.body.len(),
                limit: MAX_BODY_BYTES,
            });
        }
        match self.scheme {
            Scheme::EasyPost => self.easypost(callback, now_unix),
            Scheme::Shippo => self.shippo(callback, now_unix),
            Scheme::AfterShip => {
                const HEADER: &str = "aftership-hmac-sha256";
                let value = header(callback, HEADER)?
                    .ok_or(VerifyError::MissingHeader { header: HEADER })?;
                let given = base64::engine::general_purpose::STANDARD
                    .decode(value.trim())
                    .map_err(|_| malformed(HEADER, "not base64"))?;
                let mut mac = self.mac()?;
                mac.update(callback.body);
                mac.verify_slice(&given).map_err(|_| VerifyError::Mismatch)
            }
            Scheme::SeventeenTrack => {
                const HEADER: &str = "sign";
                let value = header(callback, HEADER)?
                    .ok_or(VerifyError::MissingHeader { header: HEADER })?;
                let given = hex::decode(value.trim()).map_err(|_| malformed(HEADER, "not hex"))?;
                let mut hash = Sha256::new();
                hash.update(callback.body);
                hash.update(b"/");
                hash.update(&self.secret);
                equal(&hash.finalize(), &given)
            }
            Scheme::Kuaidi100 => {
                let [param, sign] = super::form::fields(callback.body, ["param", "sign"])
                    .map_err(|reason| VerifyError::MalformedForm { reason })?;
                let param = param.ok_or(VerifyError::MissingField { field: "param" })?;
                let sign = sign.ok_or(VerifyError::MissingField { field: "sign" })?;
                if sign.len() > MAX_HEADER_BYTES {
                    return Err(VerifyError::MalformedField {
                        field: "sign",
                        reason: "too long",
                    });
                }
                let given = hex::decode(sign.trim()).map_err(|_| VerifyError::MalformedField {
                    field: "sign",
                    reason: "not hex",
                })?;
                let mut hash = <Md5 as md5::Digest>::new();
                md5::Digest::update(&mut hash, param.as_bytes());
                md5::Digest::update(&mut hash, &self.secret);
                equal(&md5::Digest::finalize(hash), &given)
            }
            Scheme::SfExpress | Scheme::SfExpressForm => {
                let query = callback.query.unwrap_or("");
                if query.len() > MAX_HEADER_BYTES {
                    return Err(VerifyError::MalformedForm {
                        reason: "the query string is too long".into(),
                    });
                }
                let [token] = super::form::fields(query.as_bytes(), ["token"])
                    .map_err(|reason| VerifyError::MalformedForm { reason })?;
                let token = token.ok_or(VerifyError::MissingField { field: "token" })?;
                equal(token.as_bytes(), &self.secret)
            }
        }
    }

    /// EasyPost: the timestamped v2 signature, or the legacy one where allowed.
    fn easypost(&self, callback: &Callback<'_>, now_unix: i64) -> Result<(), VerifyError> {
        const V2: &str = "x-hmac-signature-v2";
        const LEGACY: &str = "x-hmac-signature";
        const TIMESTAMP: &str = "x-timestamp";
        const PATH: &str = "x-path";
        const PREFIX: &str = "hmac-sha256-hex=";
        let hex_after_prefix = |value: &str, name: &'static str| {
            let value = value.trim();
            let digits = value
                .get(..PREFIX.len())
                .filter(|p| p.eq_ignore_ascii_case(PREFIX))
                .map(|_| &value[PREFIX.len()..])
                .ok_or_else(|| malformed(name, "no hmac-sha256-hex= prefix"))?;
            hex::decode(digits).map_err(|_| malformed(name, "not hex"))
        };
        if let Some(value) = header(callback, V2)? {
            let given = hex_after_prefix(value, V2)?;
            let timestamp = header(callback, TIMESTAMP)?
                .ok_or(VerifyError::MissingHeader { header: TIMESTAMP })?;
            let path =
                header(callback, PATH)?.ok_or(VerifyError::MissingHeader { header: PATH })?;
            let at = chrono::DateTime::parse_from_rfc2822(timestamp.trim())
                .map_err(|_| malformed(TIMESTAMP, "not an RFC 2822 date"))?;
            self.fresh(at.timestamp(), now_unix)?;
            let mut mac = self.mac()?;
            mac.update(timestamp.as_bytes());
            mac.update(callback.method.to_ascii_uppercase().as_bytes());
            mac.update(path.as_bytes());
            mac.update(callback.body);
            return mac.verify_slice(&given).map_err(|_| VerifyError::Mismatch);
        }
        match header(callback, LEGACY)? {
            Some(value) if self.allow_unstamped => {
                let given = hex_after_prefix(value, LEGACY)?;
                let mut mac = self.mac()?;
                mac.update(callback.body);
                mac.verify_slice(&given).map_err(|_| VerifyError::Mismatch)
            }
            _ => Err(VerifyError::MissingHeader { header: V2 }),
        }
    }

    /// Shippo: `t=<unix seconds>,v1=<hex>` (several `v1` while a secret rolls over).
    fn shippo(&self, callback: &Callback<'_>, now_unix: i64) -> Result<(), VerifyError> {
        const HEADER: &str = "shippo-auth-signature";
        let value =
            header(callback, HEADER)?.ok_or(VerifyError::MissingHeader { header: HEADER })?;
        let signed = Timestamped::parse(value).map_err(|reason| malformed(HEADER, reason))?;
        self.fresh(signed.at, now_unix)?;
        if signed.matches(&self.secret, callback.body) {
            Ok(())
        } else {
            Err(VerifyError::Mismatch)
        }
    }

    /// Refuses a timestamp outside the window either side of now.
    fn fresh(&self, at_unix: i64, now_unix: i64) -> Result<(), VerifyError> {
        let skew = now_unix.saturating_sub(at_unix);
        if skew.unsigned_abs() > self.tolerance_secs {
            return Err(VerifyError::Stale {
                skew_secs: skew,
                tolerance_secs: self.tolerance_secs,
            });
        }
        Ok(())
    }

    /// An HMAC-SHA256 keyed with the secret (HMAC takes keys of any length, so this fails
    /// only in theory; a failure verifies nothing).
    fn mac(&self) -> Result<HmacSha256, VerifyError> {
        <HmacSha256 as Mac>::new_from_slice(&self.secret).map_err(|_| VerifyError::Mismatch)
    }
}

/// The one value of header `name`, bounded: absent → `None`; repeated, oversized or not
/// visible ASCII → refused before it is read.
fn header<'a>(callback: &Callback<'a>, name: &'static str) -> Result<Option<&'a str>, VerifyError> {
    let mut values = callback.headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if value.len() > MAX_HEADER_BYTES {
        return Err(VerifyError::OversizedHeader {
            header: name,
            limit: MAX_HEADER_BYTES,
        });
    }
    if values.next().is_some() {
        return Err(VerifyError::RepeatedHeader { header: name });
    }
    value
        .to_str()
        .map(Some)
        .map_err(|_| malformed(name, "not visible ASCII"))
}

fn malformed(header: &'static str, reason: &'static str) -> VerifyError {
    VerifyError::MalformedHeader { header, reason }
}

/// Constant-time equality of a computed digest and the one given.
fn equal(computed: &[u8], given: &[u8]) -> Result<(), VerifyError> {
    if bool::from(computed.ct_eq(given)) {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

#[cfg(test)]
mod tests;
